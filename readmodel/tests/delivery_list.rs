//! The delivery list: sequence-guarded projections and filtered listing.

mod common;

use chrono::{DateTime, Duration, Utc};
use common::{TestDb, on_both_backends};
use domain::{Call, Cost};
use readmodel::{Applied, DeliveryRow, DeliveryStatus, ListFilter, Projection};

on_both_backends!(
    a_first_projection_is_written_and_a_newer_one_replaces_it,
    an_older_projection_is_stale_and_leaves_the_newer_row,
    a_repeated_sequence_number_is_stale_even_with_other_content,
    projections_in_any_order_end_at_the_newest_state,
    concurrent_projections_from_several_tasks_end_at_the_newest_state,
    an_unknown_delivery_is_none,
    the_list_filters_by_status_restaurant_and_rider,
    the_list_is_newest_first_and_honours_the_limit,
);

fn at(minute: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap() + Duration::minutes(minute)
}

fn row(
    delivery_id: &str,
    restaurant_id: &str,
    status: DeliveryStatus,
    rider_id: Option<&str>,
    minute: i64,
) -> DeliveryRow {
    DeliveryRow {
        call: Call {
            delivery_id: delivery_id.parse().unwrap(),
            restaurant_id: restaurant_id.parse().unwrap(),
            destination: "12 harbour road".parse().unwrap(),
            cost: Cost::new(1500).unwrap(),
        },
        status,
        rider_id: rider_id.map(|r| r.parse().unwrap()),
        settled: None,
        failure_reason: None,
        updated_at: at(minute),
    }
}

/// Step `seq` of a delivery's life; every step differs from every other in
/// several fields, so a wrong winner always shows.
fn step(delivery_id: &str, seq: i64) -> Projection {
    let status = match seq {
        1 => DeliveryStatus::Called,
        2 | 3 => DeliveryStatus::Picked,
        _ => DeliveryStatus::Completed,
    };
    let rider = (seq >= 2).then_some("rider-7");
    let mut row = row(delivery_id, "resto-1", status, rider, seq);
    row.call.cost = Cost::new(1000 + seq).unwrap();
    row.settled = (seq >= 5).then_some(900);
    Projection::new(row, seq)
}

async fn a_first_projection_is_written_and_a_newer_one_replaces_it(
    db: &TestDb,
) -> anyhow::Result<()> {
    let rm = db.connect().await?;
    assert_eq!(rm.project(&step("d-1", 1)).await?, Applied::Written);
    assert_eq!(
        rm.delivery(&"d-1".parse()?).await?,
        Some(step("d-1", 1).row)
    );
    assert_eq!(rm.project(&step("d-1", 2)).await?, Applied::Written);
    assert_eq!(
        rm.delivery(&"d-1".parse()?).await?,
        Some(step("d-1", 2).row)
    );
    Ok(())
}

async fn an_older_projection_is_stale_and_leaves_the_newer_row(db: &TestDb) -> anyhow::Result<()> {
    let rm = db.connect().await?;
    rm.project(&step("d-1", 3)).await?;
    assert_eq!(rm.project(&step("d-1", 2)).await?, Applied::Stale);
    assert_eq!(rm.project(&step("d-1", 1)).await?, Applied::Stale);
    assert_eq!(
        rm.delivery(&"d-1".parse()?).await?,
        Some(step("d-1", 3).row)
    );
    Ok(())
}

async fn a_repeated_sequence_number_is_stale_even_with_other_content(
    db: &TestDb,
) -> anyhow::Result<()> {
    let rm = db.connect().await?;
    rm.project(&step("d-1", 3)).await?;
    assert_eq!(rm.project(&step("d-1", 3)).await?, Applied::Stale);
    let impostor = Projection::new(step("d-1", 4).row, 3);
    assert_eq!(rm.project(&impostor).await?, Applied::Stale);
    assert_eq!(
        rm.delivery(&"d-1".parse()?).await?,
        Some(step("d-1", 3).row)
    );
    Ok(())
}

async fn projections_in_any_order_end_at_the_newest_state(db: &TestDb) -> anyhow::Result<()> {
    let rm = db.connect().await?;
    let orders: [&[i64]; 5] = [
        &[1, 2, 3, 4, 5],
        &[5, 4, 3, 2, 1],
        &[3, 1, 5, 2, 4],
        &[2, 5, 5, 1, 4, 3, 3],
        &[4, 4, 1, 5, 2, 3, 1, 5],
    ];
    for (n, order) in orders.iter().enumerate() {
        let id = format!("d-{n}");
        let mut newest = 0;
        for &seq in *order {
            let expected = if seq > newest {
                Applied::Written
            } else {
                Applied::Stale
            };
            newest = newest.max(seq);
            assert_eq!(
                rm.project(&step(&id, seq)).await?,
                expected,
                "seq {seq} of order {order:?}"
            );
        }
        assert_eq!(
            rm.delivery(&id.parse()?).await?,
            Some(step(&id, 5).row),
            "{order:?}"
        );
    }
    Ok(())
}

async fn concurrent_projections_from_several_tasks_end_at_the_newest_state(
    db: &TestDb,
) -> anyhow::Result<()> {
    let rm = db.connect().await?;
    let orders: [&'static [i64]; 6] = [
        &[1, 2, 3, 4, 5],
        &[5, 4, 3, 2, 1],
        &[3, 1, 5, 2, 4],
        &[2, 5, 1, 4, 3],
        &[4, 1, 2, 5, 3],
        &[1, 3, 5, 4, 2],
    ];
    for round in 0..4 {
        let id = format!("d-{round}");
        let tasks: Vec<_> = orders
            .iter()
            .map(|&order| {
                let (rm, id) = (rm.clone(), id.clone());
                tokio::spawn(async move {
                    let mut newest_written = 0;
                    for &seq in order {
                        if rm.project(&step(&id, seq)).await? == Applied::Written && seq == 5 {
                            newest_written += 1;
                        }
                    }
                    anyhow::Ok(newest_written)
                })
            })
            .collect();
        let mut newest_written = 0;
        for task in tasks {
            newest_written += task.await??;
        }
        // Every task wrote seq 5 once; exactly one of them can have won.
        assert_eq!(newest_written, 1, "round {round}");
        assert_eq!(
            rm.delivery(&id.parse()?).await?,
            Some(step(&id, 5).row),
            "round {round}"
        );
    }
    Ok(())
}

async fn an_unknown_delivery_is_none(db: &TestDb) -> anyhow::Result<()> {
    let rm = db.connect().await?;
    rm.project(&step("d-1", 1)).await?;
    assert_eq!(rm.delivery(&"d-2".parse()?).await?, None);
    Ok(())
}

fn ids(rows: &[DeliveryRow]) -> Vec<&str> {
    rows.iter().map(|r| r.call.delivery_id.as_str()).collect()
}

async fn the_list_filters_by_status_restaurant_and_rider(db: &TestDb) -> anyhow::Result<()> {
    use DeliveryStatus::{Called, Completed, Picked};
    let rm = db.connect().await?;
    for row in [
        row("a", "r1", Called, None, 1),
        row("b", "r1", Picked, Some("x"), 2),
        row("c", "r2", Picked, Some("y"), 3),
        row("d", "r2", Completed, Some("x"), 4),
    ] {
        rm.project(&Projection::new(row, 1)).await?;
    }
    let list = async |f: ListFilter| anyhow::Ok(ids(&rm.list(&f).await?).join(","));

    let by_status = ListFilter {
        status: Some(Picked),
        ..ListFilter::default()
    };
    assert_eq!(list(by_status.clone()).await?, "c,b");
    let by_restaurant = ListFilter {
        restaurant_id: Some("r1".parse().unwrap()),
        ..ListFilter::default()
    };
    assert_eq!(list(by_restaurant).await?, "b,a");
    let by_rider = ListFilter {
        rider_id: Some("x".parse().unwrap()),
        ..ListFilter::default()
    };
    assert_eq!(list(by_rider).await?, "d,b");
    let by_status_and_rider = ListFilter {
        rider_id: Some("x".parse().unwrap()),
        ..by_status
    };
    assert_eq!(list(by_status_and_rider).await?, "b");
    let nothing = ListFilter {
        status: Some(Called),
        restaurant_id: Some("r2".parse().unwrap()),
        ..ListFilter::default()
    };
    assert_eq!(list(nothing).await?, "");
    Ok(())
}

async fn the_list_is_newest_first_and_honours_the_limit(db: &TestDb) -> anyhow::Result<()> {
    let rm = db.connect().await?;
    for (id, minute) in [("a", 30), ("b", 10), ("c", 50), ("d", 20), ("e", 40)] {
        let row = row(id, "r1", DeliveryStatus::Called, None, minute);
        rm.project(&Projection::new(row, 1)).await?;
    }
    let all = rm.list(&ListFilter::default()).await?;
    assert_eq!(ids(&all), ["c", "e", "a", "d", "b"]);
    let two = ListFilter {
        limit: 2,
        ..ListFilter::default()
    };
    assert_eq!(ids(&rm.list(&two).await?), ["c", "e"]);

    // An update moves the oldest delivery to the top.
    let row = row("b", "r1", DeliveryStatus::Picked, Some("x"), 60);
    rm.project(&Projection::new(row, 2)).await?;
    assert_eq!(ids(&rm.list(&two).await?), ["b", "c"]);
    Ok(())
}
