//! The delivery list: sequence-guarded projections and filtered listing.

mod common;

use chrono::{DateTime, Duration, Utc};
use common::{TestDb, on_both_backends};
use domain::{Call, Cost};
use readmodel::{Applied, DeliveryRow, DeliveryStatus, ListCursor, ListFilter, Projection};

on_both_backends!(
    a_first_projection_is_written_and_a_newer_one_replaces_it,
    an_older_projection_is_stale_and_leaves_the_newer_row,
    a_repeated_sequence_number_is_stale_even_with_other_content,
    projections_in_any_order_end_at_the_newest_state,
    concurrent_projections_from_several_tasks_end_at_the_newest_state,
    an_unknown_delivery_is_none,
    the_list_filters_by_status_restaurant_and_rider,
    the_list_is_newest_first_and_honours_the_limit,
    pages_show_every_row_once_in_the_list_order,
    a_full_last_page_has_no_next_cursor,
    rows_written_while_paging_are_not_shown_twice,
    the_list_filters_by_updated_at,
    from_and_before_page_like_any_filter,
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
    let list = async |f: ListFilter| anyhow::Ok(ids(&rm.list(&f).await?.items).join(","));

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
    assert_eq!(ids(&all.items), ["c", "e", "a", "d", "b"]);
    assert_eq!(all.next_cursor, None);
    let two = ListFilter {
        limit: 2,
        ..ListFilter::default()
    };
    assert_eq!(ids(&rm.list(&two).await?.items), ["c", "e"]);

    // An update moves the oldest delivery to the top.
    let row = row("b", "r1", DeliveryStatus::Picked, Some("x"), 60);
    rm.project(&Projection::new(row, 2)).await?;
    assert_eq!(ids(&rm.list(&two).await?.items), ["b", "c"]);
    Ok(())
}

/// Every page of `f` from its cursor on, with `limit`: the rows of each page.
async fn pages(
    rm: &readmodel::ReadModel,
    f: &ListFilter,
    limit: u64,
) -> anyhow::Result<Vec<Vec<String>>> {
    let mut pages = Vec::new();
    let mut cursor = f.cursor.clone();
    loop {
        let page = rm
            .list(&ListFilter {
                cursor,
                limit,
                ..f.clone()
            })
            .await?;
        anyhow::ensure!(page.items.len() as u64 <= limit, "{page:?}");
        pages.push(ids(&page.items).into_iter().map(str::to_owned).collect());
        match page.next_cursor {
            // What the API hands out and reads back: the cursor as text.
            Some(next) => cursor = Some(next.to_string().parse::<ListCursor>()?),
            None => return Ok(pages),
        }
        anyhow::ensure!(pages.len() < 100, "paging does not end");
    }
}

/// `at(minute)` plus `micros` microseconds (both backends keep microseconds).
fn at_micros(minute: i64, micros: i64) -> DateTime<Utc> {
    at(minute) + Duration::microseconds(micros)
}

async fn pages_show_every_row_once_in_the_list_order(db: &TestDb) -> anyhow::Result<()> {
    let rm = db.connect().await?;
    // Ties on updated_at (ordered by id), ids holding '.', and instants apart by less than a
    // second, which must order as instants, not as text of different lengths.
    let rows = [
        ("a", 0, 0),
        ("b.1", 5, 0),
        ("b.2", 5, 0),
        ("b", 5, 0),
        ("c", 5, 500_000),
        ("d", 5, 123_456),
        ("e", 5, 500_001),
        ("f", 9, 0),
        ("g", 9, 0),
        ("h", 3, 999_999),
        ("i", 3, 1),
    ];
    for (id, minute, micros) in rows {
        let mut row = row(id, "r1", DeliveryStatus::Called, None, minute);
        row.updated_at = at_micros(minute, micros);
        rm.project(&Projection::new(row, 1)).await?;
    }
    let everything = ListFilter {
        limit: 100,
        ..ListFilter::default()
    };
    let all = rm.list(&everything).await?;
    assert_eq!(
        ids(&all.items),
        ["f", "g", "e", "c", "d", "b", "b.1", "b.2", "h", "i", "a"]
    );
    assert_eq!(all.next_cursor, None);
    for limit in 1..=12 {
        let pages = pages(&rm, &everything, limit).await?;
        let flat: Vec<_> = pages.concat();
        assert_eq!(flat, ids(&all.items), "limit {limit}: {pages:?}");
        assert_eq!(
            pages.len(),
            all.items.len().div_ceil(limit as usize),
            "limit {limit}"
        );
    }
    // Other filters page alike.
    rm.project(&Projection::new(
        row("z", "r2", DeliveryStatus::Picked, Some("x"), 7),
        1,
    ))
    .await?;
    let of_r1 = ListFilter {
        restaurant_id: Some("r1".parse()?),
        ..everything.clone()
    };
    assert_eq!(pages(&rm, &of_r1, 4).await?.concat(), ids(&all.items));
    Ok(())
}

async fn a_full_last_page_has_no_next_cursor(db: &TestDb) -> anyhow::Result<()> {
    let rm = db.connect().await?;
    for (id, minute) in [("a", 1), ("b", 2), ("c", 3), ("d", 4)] {
        let row = row(id, "r1", DeliveryStatus::Called, None, minute);
        rm.project(&Projection::new(row, 1)).await?;
    }
    let two = ListFilter {
        limit: 2,
        ..ListFilter::default()
    };
    let first = rm.list(&two).await?;
    assert_eq!(ids(&first.items), ["d", "c"]);
    let next = first.next_cursor.expect("a second page");
    assert_eq!(next.delivery_id().as_str(), "c");
    assert_eq!(next.updated_at(), at(3));
    let second = rm
        .list(&ListFilter {
            cursor: Some(next),
            ..two.clone()
        })
        .await?;
    assert_eq!(ids(&second.items), ["b", "a"]);
    assert_eq!(second.next_cursor, None, "nothing after the fourth row");
    // A cursor past every row reads an empty last page.
    let past = rm
        .list(&ListFilter {
            cursor: Some(format!("{}.a", at(1).timestamp_nanos_opt().unwrap()).parse()?),
            ..two
        })
        .await?;
    assert_eq!((past.items, past.next_cursor), (vec![], None));
    Ok(())
}

async fn rows_written_while_paging_are_not_shown_twice(db: &TestDb) -> anyhow::Result<()> {
    let rm = db.connect().await?;
    for (id, minute) in [("a", 1), ("b", 2), ("c", 3), ("d", 4), ("e", 5)] {
        let row = row(id, "r1", DeliveryStatus::Called, None, minute);
        rm.project(&Projection::new(row, 1)).await?;
    }
    let two = ListFilter {
        limit: 2,
        ..ListFilter::default()
    };
    let first = rm.list(&two).await?;
    assert_eq!(ids(&first.items), ["e", "d"]);
    // Meanwhile a new delivery, and one already shown changes: both move to the top.
    rm.project(&Projection::new(
        row("f", "r1", DeliveryStatus::Called, None, 6),
        1,
    ))
    .await?;
    rm.project(&Projection::new(
        row("e", "r1", DeliveryStatus::Picked, Some("x"), 7),
        2,
    ))
    .await?;
    let rest = pages(
        &rm,
        &ListFilter {
            cursor: first.next_cursor,
            ..two.clone()
        },
        2,
    )
    .await?;
    assert_eq!(rest.concat(), ["c", "b", "a"]);
    assert_eq!(
        pages(&rm, &two, 2).await?.concat(),
        ["e", "f", "d", "c", "b", "a"]
    );
    Ok(())
}

async fn the_list_filters_by_updated_at(db: &TestDb) -> anyhow::Result<()> {
    let rm = db.connect().await?;
    for (id, minute) in [("a", 10), ("b", 20), ("c", 30), ("d", 40), ("e", 50)] {
        let row = row(id, "r1", DeliveryStatus::Called, None, minute);
        rm.project(&Projection::new(row, 1)).await?;
    }
    let list = async |from: Option<DateTime<Utc>>, before: Option<DateTime<Utc>>| {
        let f = ListFilter {
            updated_from: from,
            updated_before: before,
            ..ListFilter::default()
        };
        anyhow::Ok(ids(&rm.list(&f).await?.items).join(","))
    };
    assert_eq!(
        list(Some(at(20)), None).await?,
        "e,d,c,b",
        "from is inclusive"
    );
    assert_eq!(
        list(None, Some(at(40))).await?,
        "c,b,a",
        "before is exclusive"
    );
    assert_eq!(list(Some(at(20)), Some(at(40))).await?, "c,b");
    assert_eq!(
        list(Some(at_micros(20, 1)), Some(at_micros(40, 1))).await?,
        "d,c"
    );
    assert_eq!(list(Some(at(30)), Some(at(30))).await?, "");
    assert_eq!(list(Some(at(40)), Some(at(20))).await?, "");
    assert_eq!(list(Some(at(51)), None).await?, "");
    assert_eq!(list(None, Some(at(10))).await?, "");
    // Combined with the other filters.
    let f = ListFilter {
        status: Some(DeliveryStatus::Called),
        restaurant_id: Some("r1".parse()?),
        updated_from: Some(at(25)),
        updated_before: Some(at(45)),
        ..ListFilter::default()
    };
    assert_eq!(ids(&rm.list(&f).await?.items), ["d", "c"]);
    let elsewhere = ListFilter {
        restaurant_id: Some("r2".parse()?),
        ..f
    };
    assert!(rm.list(&elsewhere).await?.items.is_empty());
    Ok(())
}

async fn from_and_before_page_like_any_filter(db: &TestDb) -> anyhow::Result<()> {
    let rm = db.connect().await?;
    for minute in 0..20 {
        let id = format!("d-{minute:02}");
        let row = row(&id, "r1", DeliveryStatus::Called, None, minute / 2);
        rm.project(&Projection::new(row, 1)).await?;
    }
    // Minutes 2 to 6, two deliveries each: d-04 to d-13.
    let window = ListFilter {
        updated_from: Some(at(2)),
        updated_before: Some(at(7)),
        ..ListFilter::default()
    };
    let expected = [
        "d-12", "d-13", "d-10", "d-11", "d-08", "d-09", "d-06", "d-07", "d-04", "d-05",
    ];
    assert_eq!(ids(&rm.list(&window).await?.items), expected);
    let pages = pages(&rm, &window, 3).await?;
    assert_eq!(pages.len(), 4, "{pages:?}");
    assert_eq!(pages.concat(), expected);
    Ok(())
}
