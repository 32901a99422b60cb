//! The dispatch store: idempotent offers, and withdrawals that always win.

mod common;

use chrono::{DateTime, Duration, Utc};
use common::{TestDb, on_both_backends};
use domain::{Call, Cost};
use readmodel::{OpenCall, ReadModel};

on_both_backends!(
    offering_a_call_twice_leaves_one_open_call,
    withdrawing_a_call_removes_it_from_the_open_calls,
    withdrawing_twice_is_harmless,
    an_offer_after_withdrawal_does_not_reopen_the_call,
    a_withdrawal_before_any_offer_keeps_the_later_offer_closed,
    racing_offers_and_withdrawals_leave_the_call_withdrawn,
    open_calls_are_newest_first_and_honour_the_limit,
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
    }
}

async fn open_ids(rm: &ReadModel) -> anyhow::Result<Vec<String>> {
    let calls = rm.open_calls(100).await?;
    Ok(calls
        .into_iter()
        .map(|c| c.call.delivery_id.to_string())
        .collect())
}

async fn offering_a_call_twice_leaves_one_open_call(db: &TestDb) -> anyhow::Result<()> {
    let rm = db.connect().await?;
    rm.offer_call(&call("a", 1)).await?;
    rm.offer_call(&call("a", 1)).await?;
    assert_eq!(rm.open_calls(100).await?, [call("a", 1)]);
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
    assert_eq!(rm.open_calls(2).await?, [call("d", 4), call("c", 3)]);
    Ok(())
}
