//! The dispatch store: idempotent offers, and withdrawals that always win.

mod common;

use chrono::{DateTime, Duration, Utc};
use common::{TestDb, on_both_backends};
use domain::{Call, CallReach, Cost, RiderId};
use readmodel::{OpenCall, ReadModel};

on_both_backends!(
    offering_a_call_twice_leaves_one_open_call,
    withdrawing_a_call_removes_it_from_the_open_calls,
    withdrawing_twice_is_harmless,
    an_offer_after_withdrawal_does_not_reopen_the_call,
    a_withdrawal_before_any_offer_keeps_the_later_offer_closed,
    racing_offers_and_withdrawals_leave_the_call_withdrawn,
    open_calls_are_newest_first_and_honour_the_limit,
    an_offer_is_seen_by_its_rider_alone_until_it_lapses,
    a_late_offer_round_never_overwrites_a_newer_one,
    offers_that_ran_out_open_the_call_to_everyone_and_are_listed_for_operators,
);

fn call(delivery_id: &str, minute: i64) -> OpenCall {
    OpenCall {
        call: Call {
            delivery_id: delivery_id.parse().unwrap(),
            restaurant_id: "resto-1".parse().unwrap(),
            destination: "12 harbour road".parse().unwrap(),
            cost: Cost::new(1500).unwrap(),
        },
        called_at: DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap()
            + Duration::minutes(minute),
        reach: CallReach::Broadcast,
    }
}

fn offered(delivery_id: &str, rider: &str, round: u32, expires_minute: i64) -> OpenCall {
    OpenCall {
        reach: CallReach::Offer {
            rider_id: rider.parse().unwrap(),
            expires_at: at(expires_minute),
            round,
        },
        ..call(delivery_id, 1)
    }
}

fn at(minute: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap() + Duration::minutes(minute)
}

async fn ids_for(rm: &ReadModel, rider: &str, minute: i64) -> anyhow::Result<Vec<String>> {
    let rider: RiderId = rider.parse()?;
    let calls = rm.open_calls(100, Some((&rider, at(minute)))).await?;
    Ok(calls
        .into_iter()
        .map(|c| c.call.delivery_id.to_string())
        .collect())
}

async fn open_ids(rm: &ReadModel) -> anyhow::Result<Vec<String>> {
    let calls = rm.open_calls(100, None).await?;
    Ok(calls
        .into_iter()
        .map(|c| c.call.delivery_id.to_string())
        .collect())
}

async fn offering_a_call_twice_leaves_one_open_call(db: &TestDb) -> anyhow::Result<()> {
    let rm = db.connect().await?;
    rm.offer_call(&call("a", 1)).await?;
    rm.offer_call(&call("a", 1)).await?;
    assert_eq!(rm.open_calls(100, None).await?, [call("a", 1)]);
    Ok(())
}

async fn withdrawing_a_call_removes_it_from_the_open_calls(db: &TestDb) -> anyhow::Result<()> {
    let rm = db.connect().await?;
    rm.offer_call(&call("a", 1)).await?;
    rm.offer_call(&call("b", 2)).await?;
    rm.withdraw_call(&"a".parse()?).await?;
    assert_eq!(open_ids(&rm).await?, ["b"]);
    Ok(())
}

async fn withdrawing_twice_is_harmless(db: &TestDb) -> anyhow::Result<()> {
    let rm = db.connect().await?;
    rm.offer_call(&call("a", 1)).await?;
    rm.offer_call(&call("b", 2)).await?;
    rm.withdraw_call(&"a".parse()?).await?;
    rm.withdraw_call(&"a".parse()?).await?;
    assert_eq!(open_ids(&rm).await?, ["b"]);
    Ok(())
}

async fn an_offer_after_withdrawal_does_not_reopen_the_call(db: &TestDb) -> anyhow::Result<()> {
    let rm = db.connect().await?;
    rm.offer_call(&call("a", 1)).await?;
    rm.withdraw_call(&"a".parse()?).await?;
    rm.offer_call(&call("a", 1)).await?;
    // A control call shows offers still work.
    rm.offer_call(&call("b", 2)).await?;
    assert_eq!(open_ids(&rm).await?, ["b"]);
    Ok(())
}

async fn a_withdrawal_before_any_offer_keeps_the_later_offer_closed(
    db: &TestDb,
) -> anyhow::Result<()> {
    let rm = db.connect().await?;
    rm.withdraw_call(&"a".parse()?).await?;
    assert_eq!(open_ids(&rm).await?, Vec::<String>::new());
    rm.offer_call(&call("a", 1)).await?;
    rm.offer_call(&call("b", 2)).await?;
    assert_eq!(open_ids(&rm).await?, ["b"]);
    Ok(())
}

async fn racing_offers_and_withdrawals_leave_the_call_withdrawn(db: &TestDb) -> anyhow::Result<()> {
    let rm = db.connect().await?;
    let mut tasks = Vec::new();
    for n in 0..10 {
        let id = format!("w-{n}");
        // Offer, withdraw and a retried offer, all at once.
        for withdraw in [false, true, false] {
            let (rm, id) = (rm.clone(), id.clone());
            tasks.push(tokio::spawn(async move {
                if withdraw {
                    rm.withdraw_call(&id.parse().unwrap()).await
                } else {
                    rm.offer_call(&call(&id, n)).await
                }
            }));
        }
    }
    rm.offer_call(&call("kept", 99)).await?;
    for task in tasks {
        task.await??;
    }
    assert_eq!(open_ids(&rm).await?, ["kept"]);
    Ok(())
}

async fn open_calls_are_newest_first_and_honour_the_limit(db: &TestDb) -> anyhow::Result<()> {
    let rm = db.connect().await?;
    for (id, minute) in [("c", 3), ("a", 1), ("d", 4), ("b", 2)] {
        rm.offer_call(&call(id, minute)).await?;
    }
    assert_eq!(open_ids(&rm).await?, ["d", "c", "b", "a"]);
    assert_eq!(rm.open_calls(2, None).await?, [call("d", 4), call("c", 3)]);
    Ok(())
}

async fn an_offer_is_seen_by_its_rider_alone_until_it_lapses(db: &TestDb) -> anyhow::Result<()> {
    let rm = db.connect().await?;
    rm.offer_call(&call("open", 2)).await?;
    rm.offer_call(&offered("o", "rider-7", 1, 10)).await?;
    assert_eq!(ids_for(&rm, "rider-7", 5).await?, ["open", "o"]);
    assert_eq!(ids_for(&rm, "rider-8", 5).await?, ["open"]);
    // Lapsed: nobody's until the next round.
    assert_eq!(ids_for(&rm, "rider-7", 10).await?, ["open"]);
    // Operators see every open call; the offers out are counted per rider, but for the one
    // being offered.
    assert_eq!(open_ids(&rm).await?, ["open", "o"]);
    let out = rm.offers_out(at(5), &"other".parse()?).await?;
    assert_eq!(out.get("rider-7"), Some(&1));
    assert!(rm.offers_out(at(5), &"o".parse()?).await?.is_empty());
    assert!(rm.offers_out(at(10), &"other".parse()?).await?.is_empty());
    Ok(())
}

async fn a_late_offer_round_never_overwrites_a_newer_one(db: &TestDb) -> anyhow::Result<()> {
    let rm = db.connect().await?;
    rm.offer_call(&offered("o", "rider-7", 1, 10)).await?;
    rm.offer_call(&offered("o", "rider-8", 2, 10)).await?;
    // A retry of round 1 arriving late changes nothing; one of round 2 may (re-ranked).
    rm.offer_call(&offered("o", "rider-7", 1, 10)).await?;
    assert_eq!(ids_for(&rm, "rider-7", 5).await?, Vec::<String>::new());
    rm.offer_call(&offered("o", "rider-9", 2, 10)).await?;
    assert_eq!(ids_for(&rm, "rider-9", 5).await?, ["o"]);
    // A broadcast write (round 0) never reopens or changes an offered call.
    rm.offer_call(&call("o", 1)).await?;
    assert_eq!(ids_for(&rm, "rider-8", 5).await?, Vec::<String>::new());
    // Nor does any offer reopen a withdrawn call.
    rm.withdraw_call(&"o".parse()?).await?;
    rm.offer_call(&offered("o", "rider-7", 3, 10)).await?;
    assert_eq!(ids_for(&rm, "rider-7", 5).await?, Vec::<String>::new());
    Ok(())
}

async fn offers_that_ran_out_open_the_call_to_everyone_and_are_listed_for_operators(
    db: &TestDb,
) -> anyhow::Result<()> {
    let rm = db.connect().await?;
    rm.offer_call(&offered("o", "rider-7", 3, 10)).await?;
    let fallback = OpenCall {
        reach: CallReach::Unassigned { round: 4 },
        ..call("o", 1)
    };
    rm.offer_call(&fallback).await?;
    assert_eq!(ids_for(&rm, "rider-8", 5).await?, ["o"]);
    assert_eq!(rm.unassigned_calls(10).await?, [fallback]);
    rm.withdraw_call(&"o".parse()?).await?;
    assert!(rm.unassigned_calls(10).await?.is_empty());
    Ok(())
}
