//! The API's idempotency keys: the first claim holds for good, racing claims agree, a started
//! key is never released, and a delivery id belongs to one key only.

mod common;

use common::{TestDb, on_both_backends};
use domain::{DeliveryId, RestaurantId};

on_both_backends!(
    the_first_claim_holds_and_later_claims_read_it,
    racing_claims_of_one_key_all_read_the_same_claim,
    a_key_starts_once_and_a_started_key_is_never_released,
    an_unstarted_key_is_released_only_by_the_request_that_claimed_it,
    keys_are_per_restaurant,
    a_delivery_id_belongs_to_one_key_only,
);

fn restaurant(id: &str) -> RestaurantId {
    id.parse().expect("restaurant id")
}

fn delivery(id: &str) -> DeliveryId {
    id.parse().expect("delivery id")
}

async fn the_first_claim_holds_and_later_claims_read_it(db: &TestDb) -> anyhow::Result<()> {
    let rm = db.connect().await?;
    let r1 = restaurant("r-1");
    let first = rm
        .claim_idempotency_key(&r1, "order-1", "hash-a", &delivery("d-1"))
        .await?;
    assert_eq!(first.delivery_id, delivery("d-1"));
    assert_eq!(first.request_hash, "hash-a");
    assert!(!first.started);
    // Another body (another hash) reads the first claim; the caller refuses it.
    let again = rm
        .claim_idempotency_key(&r1, "order-1", "hash-b", &delivery("d-2"))
        .await?;
    assert_eq!(again, first);
    Ok(())
}

async fn racing_claims_of_one_key_all_read_the_same_claim(db: &TestDb) -> anyhow::Result<()> {
    let rm = db.connect().await?;
    let claims: Vec<_> = (0..16)
        .map(|i| {
            let rm = rm.clone();
            tokio::spawn(async move {
                rm.claim_idempotency_key(
                    &restaurant("r-1"),
                    "lunch-42",
                    &format!("hash-{}", i % 2),
                    &delivery(&format!("d-{i}")),
                )
                .await
            })
        })
        .collect();
    let mut seen = Vec::new();
    for claim in claims {
        seen.push(claim.await??);
    }
    assert!(seen.iter().all(|c| *c == seen[0]), "{seen:?}");
    Ok(())
}

async fn a_key_starts_once_and_a_started_key_is_never_released(db: &TestDb) -> anyhow::Result<()> {
    let rm = db.connect().await?;
    let r1 = restaurant("r-1");
    rm.claim_idempotency_key(&r1, "k", "h", &delivery("d-1"))
        .await?;
    rm.idempotency_key_started(&r1, "k").await?;
    rm.idempotency_key_started(&r1, "k").await?;
    assert!(!rm.release_idempotency_key(&r1, "k", "h").await?);
    let kept = rm
        .claim_idempotency_key(&r1, "k", "h", &delivery("d-9"))
        .await?;
    assert!(kept.started);
    assert_eq!(kept.delivery_id, delivery("d-1"));
    Ok(())
}

async fn an_unstarted_key_is_released_only_by_the_request_that_claimed_it(
    db: &TestDb,
) -> anyhow::Result<()> {
    let rm = db.connect().await?;
    let r1 = restaurant("r-1");
    rm.claim_idempotency_key(&r1, "k", "h", &delivery("d-1"))
        .await?;
    assert!(!rm.release_idempotency_key(&r1, "k", "other").await?);
    assert!(rm.release_idempotency_key(&r1, "k", "h").await?);
    let next = rm
        .claim_idempotency_key(&r1, "k", "h2", &delivery("d-1"))
        .await?;
    assert_eq!(next.request_hash, "h2");
    Ok(())
}

async fn keys_are_per_restaurant(db: &TestDb) -> anyhow::Result<()> {
    let rm = db.connect().await?;
    let a = rm
        .claim_idempotency_key(&restaurant("r-1"), "k", "h", &delivery("d-1"))
        .await?;
    let b = rm
        .claim_idempotency_key(&restaurant("r-2"), "k", "h", &delivery("d-2"))
        .await?;
    assert_eq!(
        (a.delivery_id, b.delivery_id),
        (delivery("d-1"), delivery("d-2"))
    );
    Ok(())
}

async fn a_delivery_id_belongs_to_one_key_only(db: &TestDb) -> anyhow::Result<()> {
    let rm = db.connect().await?;
    let r1 = restaurant("r-1");
    rm.claim_idempotency_key(&r1, "k1", "h", &delivery("d-1"))
        .await?;
    let refused = rm
        .claim_idempotency_key(&r1, "k2", "h", &delivery("d-1"))
        .await;
    assert!(refused.is_err(), "{refused:?}");
    Ok(())
}
