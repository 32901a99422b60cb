//! Each delivery's stored view: written with its row, the newest write wins, a write without
//! a view removes it, and an awaited decision shows until the next write.

mod common;

use chrono::{DateTime, Duration, Utc};
use common::{TestDb, on_both_backends};
use domain::{Call, Cost, DeliveryView, StoredView};
use readmodel::{Applied, DeliveryRow, DeliveryStatus, Projection};

on_both_backends!(
    a_projection_stores_its_view_and_a_newer_one_replaces_it,
    a_stale_projection_leaves_the_newer_view,
    a_projection_without_a_view_removes_the_older_view,
    an_awaited_decision_shows_until_the_next_write,
    a_delivery_never_projected_has_no_view,
);

fn at(minute: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap() + Duration::minutes(minute)
}

fn call() -> Call {
    Call {
        delivery_id: "d-1".parse().unwrap(),
        restaurant_id: "resto-1".parse().unwrap(),
        destination: "12 harbour road".parse().unwrap(),
        cost: Cost::new(1500).unwrap(),
    }
}

/// Step `seq` of d-1 (Called, then Picked by rider-7, then Completed), with its view.
fn step(seq: i64) -> Projection {
    let status = match seq {
        1 => DeliveryStatus::Called,
        2 => DeliveryStatus::Picked,
        _ => DeliveryStatus::Completed,
    };
    let rider_id = (seq >= 2).then(|| "rider-7".parse().unwrap());
    let row = DeliveryRow {
        call: call(),
        status,
        rider_id: rider_id.clone(),
        settled: None,
        failure_reason: None,
        updated_at: at(seq),
    };
    let mut view = DeliveryView::pending(call());
    view.status = status;
    view.rider_id = rider_id;
    view.timeline.picked_at = (seq >= 2).then(|| at(2));
    let overdue_at = (status == DeliveryStatus::Picked).then(|| at(120));
    Projection {
        view: Some(Box::new(StoredView { view, overdue_at })),
        ..Projection::new(row, seq)
    }
}

fn stored(seq: i64) -> Option<StoredView> {
    step(seq).view.map(|v| *v)
}

async fn a_projection_stores_its_view_and_a_newer_one_replaces_it(
    db: &TestDb,
) -> anyhow::Result<()> {
    let rm = db.connect().await?;
    rm.project(&step(1)).await?;
    assert_eq!(rm.stored_view(&"d-1".parse()?).await?, stored(1));
    rm.project(&step(2)).await?;
    let view = rm.stored_view(&"d-1".parse()?).await?;
    assert_eq!(view, stored(2));
    assert_eq!(view.and_then(|v| v.overdue_at), Some(at(120)));
    Ok(())
}

async fn a_stale_projection_leaves_the_newer_view(db: &TestDb) -> anyhow::Result<()> {
    let rm = db.connect().await?;
    rm.project(&step(3)).await?;
    assert_eq!(rm.project(&step(2)).await?, Applied::Stale);
    assert_eq!(rm.stored_view(&"d-1".parse()?).await?, stored(3));
    Ok(())
}

async fn a_projection_without_a_view_removes_the_older_view(db: &TestDb) -> anyhow::Result<()> {
    let rm = db.connect().await?;
    rm.project(&step(1)).await?;
    // A worker from before views were kept writes the newer row: the stored view is older
    // than the row now, so it must not be served.
    rm.project(&Projection::new(step(2).row, 2)).await?;
    assert_eq!(rm.stored_view(&"d-1".parse()?).await?, None);
    rm.project(&step(3)).await?;
    assert_eq!(rm.stored_view(&"d-1".parse()?).await?, stored(3));
    Ok(())
}

async fn an_awaited_decision_shows_until_the_next_write(db: &TestDb) -> anyhow::Result<()> {
    let rm = db.connect().await?;
    let id = "d-1".parse()?;
    rm.project(&step(2)).await?;
    rm.flag_attention(&id, "settle payment: refused", at(30))
        .await?;
    let attention = rm
        .stored_view(&id)
        .await?
        .and_then(|v| v.view.attention)
        .expect("the decision awaited");
    assert_eq!(attention.reason, "settle payment: refused");
    assert_eq!(attention.since, at(30));
    // Reported again (the step ran twice): the same.
    rm.flag_attention(&id, "settle payment: refused", at(30))
        .await?;
    assert!(
        rm.stored_view(&id)
            .await?
            .and_then(|v| v.view.attention)
            .is_some()
    );
    // Decided: the workflow's next write clears it.
    rm.project(&step(3)).await?;
    assert_eq!(rm.stored_view(&id).await?, stored(3));
    Ok(())
}

async fn a_delivery_never_projected_has_no_view(db: &TestDb) -> anyhow::Result<()> {
    let rm = db.connect().await?;
    let id = "d-unknown".parse()?;
    assert_eq!(rm.stored_view(&id).await?, None);
    // Reporting a decision for it writes nothing.
    rm.flag_attention(&id, "register the fee: refused", at(1))
        .await?;
    assert_eq!(rm.stored_view(&id).await?, None);
    Ok(())
}
