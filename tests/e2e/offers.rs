//! Offer dispatch through the public API: a restaurant in offer mode has each call offered to
//! one rider at a time, with a durable timer per offer; accept, decline and lapse move it on,
//! and once the offers run out the call goes to every rider, flagged for operators.

use std::time::Duration;

use e2e::{
    ApiClient, Dice, assert_invariants, eventually, fleet,
    stack::{Stack, StackOptions},
    view_when,
};
use identity::Role;
use serde_json::{Value, json};
use temporalio_client::WorkflowCountOptions;

fn code(body: &Value) -> &str {
    body["code"].as_str().unwrap_or_default()
}

fn offering(timeout_secs: u64) -> StackOptions {
    StackOptions {
        offer_timeout_secs: Some(timeout_secs),
        offer_rounds: Some(3),
        ..StackOptions::default()
    }
}

/// The offers `rider` sees now (`kind: "offer"` cards), by delivery id.
async fn offers_of(rider: &ApiClient) -> Vec<String> {
    let (status, calls) = rider.get("/rider/calls").await;
    assert_eq!(status, 200, "{calls}");
    calls
        .as_array()
        .expect("cards")
        .iter()
        .filter(|card| card["kind"] == "offer")
        .map(|card| card["deliveryId"].as_str().expect("id").to_owned())
        .collect()
}

/// Waits until delivery `id` is offered to `rider` and returns its card.
async fn offered_to(rider: &ApiClient, id: &str, within: Duration) -> Value {
    eventually("the offer", within, || async {
        let (_, calls) = rider.get("/rider/calls").await;
        calls
            .as_array()?
            .iter()
            .find(|card| card["deliveryId"] == id && card["kind"] == "offer")
            .cloned()
    })
    .await
}

/// How many delivery workflows of this stack match `filter` in Temporal's visibility.
async fn temporal_count(stack: &Stack, id: &str, filter: &str) -> u64 {
    let query = format!(
        "WorkflowId = '{}' AND {filter}",
        workflows::names::workflow_id(id)
    );
    stack
        .temporal
        .count_workflows(query, WorkflowCountOptions::default())
        .await
        .expect("count workflows")
        .count() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offer_moves_on_through_a_decline_and_a_lapse_to_the_rider_who_accepts() {
    let stack = Stack::start(offering(3)).await;
    let restaurant = stack.restaurant_in_offer_mode("r-1").await;
    let operator = stack.signed_in(Role::Operator, "op-1").await;
    // Nobody has held anything yet: the ranking falls to the ids.
    let rider_1 = stack.signed_in(Role::Rider, "rider-1").await;
    let rider_2 = stack.signed_in(Role::Rider, "rider-2").await;
    let rider_3 = stack.signed_in(Role::Rider, "rider-3").await;
    let elsewhere = stack.signed_in(Role::Rider, "rider-4").await;
    let (status, _) = elsewhere
        .put(
            "/rider/availability",
            json!({"online": true, "zones": ["mapo"]}),
        )
        .await;
    assert_eq!(status, 200);

    let id = restaurant.call_rider(15000).await;
    let card = offered_to(&rider_1, &id, Duration::from_secs(20)).await;
    assert_eq!(card["restaurant"]["id"], "r-1");
    assert!(card["expiresAt"].is_string(), "{card}");
    // The offer is rider-1's alone: the others neither see it nor may act on it.
    for other in [&rider_2, &rider_3, &elsewhere] {
        assert_eq!(other.get("/rider/calls").await.1, json!([]));
        assert_eq!(other.get(&format!("/deliveries/{id}")).await.0, 404);
        let (status, body) = other
            .post(&format!("/deliveries/{id}/accept"), json!({}))
            .await;
        assert_eq!((status, code(&body)), (403, "not_your_delivery"), "{body}");
        let (status, body) = other
            .post(&format!("/deliveries/{id}/pickup"), json!({}))
            .await;
        assert_eq!(status, 403, "pickup of an offered call: {body}");
    }
    let (status, view) = rider_1.get(&format!("/deliveries/{id}")).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["dispatch"]["mode"], "offer");
    assert_eq!(view["dispatch"]["round"], 1);
    assert_eq!(view["dispatch"]["offer"]["riderId"], "rider-1");

    // rider-1 passes: rider-2 is next.
    let (status, declined) = rider_1
        .post(
            &format!("/deliveries/{id}/decline"),
            json!({"reason": "too far"}),
        )
        .await;
    assert_eq!(status, 200, "{declined}");
    assert_eq!(declined["dispatch"]["declines"], 1);
    offered_to(&rider_2, &id, Duration::from_secs(20)).await;
    assert!(offers_of(&rider_1).await.is_empty());
    // Declining again changes nothing; accepting now is refused.
    let (status, _) = rider_1
        .post(&format!("/deliveries/{id}/decline"), json!({}))
        .await;
    assert_eq!(status, 200);
    let (status, _) = rider_1
        .post(&format!("/deliveries/{id}/accept"), json!({}))
        .await;
    assert_eq!(status, 403);

    // rider-2 lets it lapse: rider-3 is next (rider-4 works elsewhere).
    offered_to(&rider_3, &id, Duration::from_secs(20)).await;
    assert!(offers_of(&rider_2).await.is_empty());
    assert!(offers_of(&elsewhere).await.is_empty());
    let (status, accepted) = rider_3
        .post(&format!("/deliveries/{id}/accept"), json!({}))
        .await;
    assert_eq!(status, 200, "{accepted}");
    assert_eq!(accepted["status"], "Assigned");
    assert_eq!(accepted["riderId"], "rider-3");
    assert_eq!(
        accepted["dispatch"],
        json!({"mode": "offer", "round": 3, "declines": 2, "unassigned": false})
    );
    assert_eq!(accepted["assignments"][0]["by"], "rider-3");
    // Accepted twice is the same acceptance; the call is off every list.
    let (status, again) = rider_3
        .post(&format!("/deliveries/{id}/accept"), json!({}))
        .await;
    assert_eq!((status, &again["riderId"]), (200, &json!("rider-3")));
    eventually(
        "the call off the lists",
        Duration::from_secs(20),
        || async {
            let (_, calls) = operator.get("/rider/calls").await;
            (calls == json!([])).then_some(())
        },
    )
    .await;
    let (_, fleet) = operator.get("/ops/riders").await;
    let holder = fleet
        .as_array()
        .expect("fleet")
        .iter()
        .find(|r| r["id"] == "rider-3")
        .expect("rider-3")
        .clone();
    assert_eq!(holder["active"], json!([id]));

    for step in ["pickup", "complete"] {
        let (status, body) = rider_3
            .post(&format!("/deliveries/{id}/{step}"), json!({}))
            .await;
        assert_eq!(status, 200, "{step}: {body}");
    }
    let done = view_when(&restaurant, &id, "the settlement", |v| {
        v["payment"]["status"] == "Settled"
    })
    .await;
    assert_eq!(done["status"], "Completed");
    // Operators find it by its declines in the Temporal UI.
    eventually(
        "OfferDeclines in Temporal",
        Duration::from_secs(20),
        || async { (temporal_count(&stack, &id, "OfferDeclines = 2").await == 1).then_some(()) },
    )
    .await;
    assert_eq!(temporal_count(&stack, &id, "Unassigned = true").await, 0);
    stack.workflow_completed(&id).await;
    assert_invariants(&stack.checker_settings()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_nobody_to_offer_it_to_the_call_goes_to_every_rider_and_is_flagged_unassigned() {
    let stack = Stack::start(offering(30)).await;
    let restaurant = stack.restaurant_in_offer_mode("r-1").await;
    let operator = stack.signed_in(Role::Operator, "op-1").await;
    let resting = stack.signed_in(Role::Rider, "rider-1").await;
    let (status, _) = resting
        .put("/rider/availability", json!({"online": false}))
        .await;
    assert_eq!(status, 200);

    let id = restaurant.call_rider(9000).await;
    let view = view_when(&operator, &id, "the fallback", |v| {
        v["dispatch"]["unassigned"] == true
    })
    .await;
    assert_eq!(view["dispatch"]["round"], 0, "{view}");
    // Flagged for operators: the summary and the Temporal UI's query.
    let (status, summary) = operator.get("/ops/summary").await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(
        summary["unassigned"][0]["deliveryId"],
        id.as_str(),
        "{summary}"
    );
    assert_eq!(summary["unassigned"][0]["rounds"], 0);
    eventually(
        "Unassigned in Temporal",
        Duration::from_secs(20),
        || async { (temporal_count(&stack, &id, "Unassigned = true").await == 1).then_some(()) },
    )
    .await;

    // A rider who starts later sees it like any broadcast call, and takes it.
    let late = stack.signed_in(Role::Rider, "rider-2").await;
    let calls = eventually(
        "the call on the late rider's list",
        Duration::from_secs(20),
        || async {
            let (_, calls) = late.get("/rider/calls").await;
            (calls.as_array()?.len() == 1).then_some(calls)
        },
    )
    .await;
    assert_eq!(calls[0]["kind"], "broadcast");
    assert!(calls[0]["expiresAt"].is_null());
    let (status, picked) = late
        .post(&format!("/deliveries/{id}/pickup"), json!({}))
        .await;
    assert_eq!(status, 200, "{picked}");
    assert_eq!(picked["dispatch"]["unassigned"], false);
    eventually("the flag cleared", Duration::from_secs(20), || async {
        let (_, summary) = operator.get("/ops/summary").await;
        let cleared = summary["unassigned"] == json!([])
            && temporal_count(&stack, &id, "Unassigned = false").await == 1;
        cleared.then_some(())
    })
    .await;
    let (status, body) = late
        .post(&format!("/deliveries/{id}/complete"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    stack.workflow_completed(&id).await;
    assert_invariants(&stack.checker_settings()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rider_that_filled_up_meanwhile_cannot_accept_and_that_counts_as_declining() {
    let stack = Stack::start(offering(30)).await;
    let broadcasting = stack.signed_in(Role::Restaurant, "r-b").await;
    let restaurant = stack.restaurant_in_offer_mode("r-1").await;
    let rider_1 = stack.signed_in(Role::Rider, "rider-1").await;
    let rider_2 = stack.signed_in(Role::Rider, "rider-2").await;
    rider_1
        .put(
            "/rider/availability",
            json!({"online": true, "capacity": 1}),
        )
        .await;

    let other = broadcasting.call_rider(8000).await;
    let id = restaurant.call_rider(12000).await;
    offered_to(&rider_1, &id, Duration::from_secs(20)).await;
    // rider-1 takes a broadcast call first, which fills it.
    let (status, body) = rider_1
        .post(&format!("/deliveries/{other}/pickup"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = rider_1
        .post(&format!("/deliveries/{id}/accept"), json!({}))
        .await;
    assert_eq!((status, code(&body)), (409, "rider_at_capacity"), "{body}");
    // Counted as a decline: rider-2 gets it at once, not after the 30 s timer.
    offered_to(&rider_2, &id, Duration::from_secs(10)).await;
    let (status, accepted) = rider_2
        .post(&format!("/deliveries/{id}/accept"), json!({}))
        .await;
    assert_eq!(status, 200, "{accepted}");
    assert_eq!(accepted["dispatch"]["declines"], 1);
    let (_, availability) = rider_1.get("/rider/availability").await;
    assert_eq!(availability["active"], json!([other]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offer_lapses_on_time_across_a_worker_restart() {
    let mut stack = Stack::start(offering(4)).await;
    let restaurant = stack.restaurant_in_offer_mode("r-1").await;
    let rider_1 = stack.signed_in(Role::Rider, "rider-1").await;
    let rider_2 = stack.signed_in(Role::Rider, "rider-2").await;

    let id = restaurant.call_rider(11000).await;
    offered_to(&rider_1, &id, Duration::from_secs(20)).await;
    // The worker goes away while the offer waits; the timer is Temporal's, so it still fires.
    stack.stop_worker();
    tokio::time::sleep(Duration::from_secs(5)).await;
    // Lapsed by its time: no longer on rider-1's list, even with no worker to move it on.
    assert!(offers_of(&rider_1).await.is_empty());
    stack.start_worker(worker::Role::ALL.to_vec());
    offered_to(&rider_2, &id, Duration::from_secs(30)).await;
    let (status, accepted) = rider_2
        .post(&format!("/deliveries/{id}/accept"), json!({}))
        .await;
    assert_eq!(status, 200, "{accepted}");
    assert_eq!(accepted["dispatch"]["round"], 2);
    let (status, _) = rider_1
        .post(&format!("/deliveries/{id}/accept"), json!({}))
        .await;
    assert_eq!(status, 403);
    for step in ["pickup", "complete"] {
        let (status, body) = rider_2
            .post(&format!("/deliveries/{id}/{step}"), json!({}))
            .await;
        assert_eq!(status, 200, "{step}: {body}");
    }
    stack.workflow_completed(&id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_offered_calls_against_ten_riders_of_capacity_two_all_end_and_never_overfill() {
    const CALLS: usize = 50;
    const RIDERS: usize = 10;
    const CAPACITY: usize = 2;
    let stack = Stack::start(offering(2)).await;
    let restaurant = stack.restaurant_in_offer_mode("r-1").await;
    let operator = stack.signed_in(Role::Operator, "op-1").await;
    let riders = fleet::riders_online(&stack, RIDERS, CAPACITY).await;
    let mut ids = Vec::new();
    for i in 0..CALLS {
        ids.push(restaurant.call_rider(1000 + i as i64).await);
    }
    // Every rider answers its offers at random (accept, decline, or let it lapse), takes
    // calls that went to everyone, and delivers what it holds after a random while.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let tasks: Vec<_> = riders
        .into_iter()
        .enumerate()
        .map(|(i, rider)| {
            let done = done.clone();
            tokio::spawn(async move {
                let mut dice = Dice(0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1));
                let mut held: Vec<String> = Vec::new();
                let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
                while done.load(std::sync::atomic::Ordering::SeqCst) < CALLS {
                    assert!(tokio::time::Instant::now() < deadline, "riders stalled");
                    if !held.is_empty() && dice.below(3) == 0 {
                        let id = held.swap_remove(dice.below(held.len() as u64) as usize);
                        for step in ["pickup", "complete"] {
                            let (status, body) = rider
                                .post(&format!("/deliveries/{id}/{step}"), json!({}))
                                .await;
                            assert_eq!(status, 200, "rider-{i} {step} {id}: {body}");
                        }
                        done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        continue;
                    }
                    let (_, calls) = rider.get("/rider/calls").await;
                    let calls = calls.as_array().cloned().unwrap_or_default();
                    if calls.is_empty() {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                    let card = &calls[dice.below(calls.len() as u64) as usize];
                    let id = card["deliveryId"].as_str().expect("id").to_owned();
                    let answer = match (card["kind"].as_str(), dice.below(10)) {
                        (Some("offer"), 0..6) => "accept",
                        (Some("offer"), 6..8) => "decline",
                        // Lets the offer lapse.
                        (Some("offer"), _) => {
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            continue;
                        }
                        _ => "pickup",
                    };
                    let (status, body) = rider
                        .post(&format!("/deliveries/{id}/{answer}"), json!({}))
                        .await;
                    match (answer, status, code(&body)) {
                        // Answering a card again (the call is still on the list for a
                        // moment) is the same acceptance.
                        ("accept" | "pickup", 200, _) if !held.contains(&id) => held.push(id),
                        ("accept" | "pickup", 200, _) => {}
                        ("decline", 200, _) => {}
                        // The offer lapsed meanwhile, another rider was faster, or the
                        // rider filled up.
                        (_, 403, "not_your_delivery")
                        | (_, 409, "wrong_state" | "rider_at_capacity") => {}
                        other => panic!("{answer} answered {other:?}: {body}"),
                    }
                    assert!(held.len() <= CAPACITY, "rider-{i} holds {held:?}");
                }
            })
        })
        .collect();
    // Meanwhile the fleet never shows a rider over its capacity.
    fleet::watch_capacity(&operator, tasks, CAPACITY).await;
    // From the deliveries' own records: no rider ever held more than its capacity at once,
    // counting from the moment it was given the delivery; and offers were made.
    let views =
        fleet::assert_timelines_within_capacity(&operator, &ids, "assignedAt", CAPACITY).await;
    assert!(
        views
            .iter()
            .any(|v| v["dispatch"]["round"].as_u64() > Some(0)),
        "no call was ever offered"
    );
    for id in &ids {
        stack.workflow_completed(id).await;
    }
    assert_invariants(&stack.checker_settings()).await;
}
