//! The riders' dispatch state: availability, and capacity reserved atomically.

mod common;

use chrono::{DateTime, Utc};
use common::{TestDb, on_both_backends};
use domain::{Call, Cost, DeliveryId, RiderId};
use readmodel::{DeliveryRow, DeliveryStatus, Projection, Reservation};

on_both_backends!(
    a_rider_who_never_went_offline_is_online_and_holds_nothing,
    going_offline_keeps_what_the_rider_holds_and_refuses_new_reservations,
    a_rider_never_holds_more_than_its_capacity_under_concurrency,
    reserving_again_what_one_holds_is_reserved_and_releasing_frees_the_place,
    the_delivery_list_decides_who_holds_a_delivery,
);

fn rider(id: &str) -> RiderId {
    id.parse().unwrap()
}

fn delivery(id: &str) -> DeliveryId {
    id.parse().unwrap()
}

fn projection(id: &str, status: DeliveryStatus, rider_id: Option<&str>, seq: i64) -> Projection {
    let row = DeliveryRow {
        call: Call {
            delivery_id: delivery(id),
            restaurant_id: "r-1".parse().unwrap(),
            destination: "12 harbour road".parse().unwrap(),
            cost: Cost::new(1500).unwrap(),
        },
        status,
        rider_id: rider_id.map(rider),
        settled: None,
        failure_reason: None,
        updated_at: DateTime::<Utc>::from_timestamp(1_800_000_000 + seq, 0).unwrap(),
    };
    Projection::new(row, seq)
}

async fn a_rider_who_never_went_offline_is_online_and_holds_nothing(
    db: &TestDb,
) -> anyhow::Result<()> {
    let rm = db.connect().await?;
    let state = rm.rider_dispatch(&rider("rider-1")).await?;
    assert!(state.online);
    assert!(state.active.is_empty());
    assert_eq!(state.last_assigned_at, None);
    Ok(())
}

async fn going_offline_keeps_what_the_rider_holds_and_refuses_new_reservations(
    db: &TestDb,
) -> anyhow::Result<()> {
    let rm = db.connect().await?;
    let r = rider("rider-1");
    assert_eq!(
        rm.reserve(&delivery("d-1"), &r, 2, true).await?,
        Reservation::Reserved
    );
    let offline = rm.set_online(&r, false).await?;
    assert!(!offline.online);
    assert_eq!(offline.active, [delivery("d-1")]);
    assert_eq!(
        rm.reserve(&delivery("d-2"), &r, 2, true).await?,
        Reservation::Offline
    );
    // What it holds it still takes (an assigned rider picks up while offline).
    assert_eq!(
        rm.reserve(&delivery("d-1"), &r, 2, true).await?,
        Reservation::Reserved
    );
    // An operator's assignment does not need the rider online.
    assert_eq!(
        rm.reserve(&delivery("d-2"), &r, 2, false).await?,
        Reservation::Reserved
    );
    assert!(rm.set_online(&r, true).await?.online);
    Ok(())
}

async fn a_rider_never_holds_more_than_its_capacity_under_concurrency(
    db: &TestDb,
) -> anyhow::Result<()> {
    let rm = db.connect().await?;
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let rm = rm.clone();
            tokio::spawn(async move {
                rm.reserve(&delivery(&format!("d-{i}")), &rider("rider-1"), 2, true)
                    .await
            })
        })
        .collect();
    let mut reserved = 0;
    for task in tasks {
        if task.await?? == Reservation::Reserved {
            reserved += 1;
        }
    }
    assert_eq!(reserved, 2);
    assert_eq!(rm.rider_dispatch(&rider("rider-1")).await?.active.len(), 2);
    Ok(())
}

async fn reserving_again_what_one_holds_is_reserved_and_releasing_frees_the_place(
    db: &TestDb,
) -> anyhow::Result<()> {
    let rm = db.connect().await?;
    let r = rider("rider-1");
    assert_eq!(
        rm.reserve(&delivery("d-1"), &r, 1, true).await?,
        Reservation::Reserved
    );
    assert_eq!(
        rm.reserve(&delivery("d-1"), &r, 1, true).await?,
        Reservation::Reserved
    );
    assert_eq!(
        rm.reserve(&delivery("d-2"), &r, 1, true).await?,
        Reservation::AtCapacity
    );
    rm.release(&delivery("d-1"), &r).await?;
    assert_eq!(
        rm.reserve(&delivery("d-2"), &r, 1, true).await?,
        Reservation::Reserved
    );
    Ok(())
}

async fn the_delivery_list_decides_who_holds_a_delivery(db: &TestDb) -> anyhow::Result<()> {
    let rm = db.connect().await?;
    let (a, b) = (rider("rider-a"), rider("rider-b"));
    // Both raced for the call; a won.
    rm.reserve(&delivery("d-1"), &a, 3, true).await?;
    rm.reserve(&delivery("d-1"), &b, 3, true).await?;
    rm.project(&projection(
        "d-1",
        DeliveryStatus::Picked,
        Some("rider-a"),
        2,
    ))
    .await?;
    assert_eq!(rm.rider_dispatch(&a).await?.active, [delivery("d-1")]);
    assert!(rm.rider_dispatch(&b).await?.active.is_empty());
    assert!(rm.rider_dispatch(&a).await?.last_assigned_at.is_some());
    // The winner's place is not given back by a late release.
    rm.release(&delivery("d-1"), &a).await?;
    assert_eq!(rm.rider_dispatch(&a).await?.active, [delivery("d-1")]);
    // Reassigned to b, then completed: nobody holds it; a stale write changes nothing.
    rm.project(&projection(
        "d-1",
        DeliveryStatus::Picked,
        Some("rider-b"),
        3,
    ))
    .await?;
    assert!(rm.rider_dispatch(&a).await?.active.is_empty());
    assert_eq!(rm.rider_dispatch(&b).await?.active, [delivery("d-1")]);
    rm.project(&projection(
        "d-1",
        DeliveryStatus::Failed,
        Some("rider-b"),
        4,
    ))
    .await?;
    rm.project(&projection(
        "d-1",
        DeliveryStatus::Picked,
        Some("rider-b"),
        3,
    ))
    .await?;
    assert!(rm.rider_dispatch(&b).await?.active.is_empty());
    Ok(())
}
