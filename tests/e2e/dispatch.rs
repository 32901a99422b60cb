//! Dispatch v2 through the public API: riders' availability and capacity, operators moving
//! deliveries between riders, and deliveries that fail after pickup with the fee following
//! the reason.

use std::time::Duration;

use e2e::{
    Dice, assert_invariants, eventually, fleet,
    stack::{Stack, StackOptions},
    view_when,
};
use identity::Role;
use serde_json::{Value, json};

fn code(body: &Value) -> &str {
    body["code"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_rider_or_one_at_capacity_sees_no_calls_and_cannot_pick_up() {
    let stack = Stack::start(StackOptions::default()).await;
    let restaurant = stack.signed_in(Role::Restaurant, "r-1").await;
    let rider = stack.signed_in(Role::Rider, "rider-1").await;
    let elsewhere = stack.signed_in(Role::Rider, "rider-2").await;

    // A rider who never said otherwise is online, in every zone, with the default capacity.
    let (status, availability) = rider.get("/rider/availability").await;
    assert_eq!(status, 200, "{availability}");
    assert_eq!(
        availability,
        json!({"online": true, "zones": [], "capacity": 3, "active": []})
    );
    let (status, changed) = rider
        .put(
            "/rider/availability",
            json!({"online": true, "capacity": 1}),
        )
        .await;
    assert_eq!(
        (status, &changed["capacity"]),
        (200, &json!(1)),
        "{changed}"
    );
    // rider-2 works in Mapo only; the restaurant's calls are in Gangnam.
    let (status, _) = elsewhere
        .put(
            "/rider/availability",
            json!({"online": true, "zones": ["mapo"]}),
        )
        .await;
    assert_eq!(status, 200);

    let first = restaurant.call_rider(12000).await;
    let second = restaurant.call_rider(13000).await;
    let cards = eventually(
        "both calls on the rider's list",
        Duration::from_secs(20),
        || async {
            let (_, calls) = rider.get("/rider/calls").await;
            (calls.as_array()?.len() == 2).then_some(calls)
        },
    )
    .await;
    // Newest first, with the restaurant's card and what the rider earns (10% commission).
    assert_eq!(cards[0]["deliveryId"], second.as_str());
    assert_eq!(cards[0]["kind"], "broadcast");
    assert_eq!(cards[0]["restaurant"]["id"], "r-1");
    assert_eq!(
        cards[0]["restaurant"]["pickupAddress"],
        "Seoul, Gangnam-gu, Teheran-ro 101"
    );
    assert_eq!(cards[0]["earning"], 11700);
    let (_, theirs) = elsewhere.get("/rider/calls").await;
    assert_eq!(theirs, json!([]), "a Mapo rider sees Gangnam calls");

    // Offline: no calls, no pickup.
    let (status, offline) = rider
        .put("/rider/availability", json!({"online": false}))
        .await;
    assert_eq!((status, &offline["online"]), (200, &json!(false)));
    assert_eq!(rider.get("/rider/calls").await.1, json!([]));
    let (status, refused) = rider
        .post(&format!("/deliveries/{first}/pickup"), json!({}))
        .await;
    assert_eq!(
        (status, code(&refused)),
        (409, "rider_offline"),
        "{refused}"
    );

    // Online with capacity 1: the first pickup fills it.
    rider
        .put("/rider/availability", json!({"online": true}))
        .await;
    let (status, picked) = rider
        .post(&format!("/deliveries/{first}/pickup"), json!({}))
        .await;
    assert_eq!(status, 200, "{picked}");
    let (status, full) = rider
        .post(&format!("/deliveries/{second}/pickup"), json!({}))
        .await;
    assert_eq!((status, code(&full)), (409, "rider_at_capacity"), "{full}");
    assert_eq!(rider.get("/rider/calls").await.1, json!([]));
    let (_, availability) = rider.get("/rider/availability").await;
    assert_eq!(availability["active"], json!([first]));
    // Going offline keeps what the rider holds; completing frees the place.
    rider
        .put("/rider/availability", json!({"online": false}))
        .await;
    let (status, done) = rider
        .post(&format!("/deliveries/{first}/complete"), json!({}))
        .await;
    assert_eq!(status, 200, "{done}");
    rider
        .put("/rider/availability", json!({"online": true}))
        .await;
    eventually("the place to be free", Duration::from_secs(20), || async {
        let (_, a) = rider.get("/rider/availability").await;
        (a["active"] == json!([])).then_some(())
    })
    .await;
    let (status, picked) = rider
        .post(&format!("/deliveries/{second}/pickup"), json!({}))
        .await;
    assert_eq!(status, 200, "{picked}");
    let timeline = &picked["timeline"];
    for step in ["calledAt", "assignedAt", "pickedAt"] {
        assert!(timeline[step].is_string(), "{step} missing: {picked}");
    }
    assert_eq!(picked["assignments"][0]["by"], "rider-1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_reassigns_a_picked_up_delivery_and_the_new_rider_completes_it() {
    let stack = Stack::start(StackOptions::default()).await;
    let restaurant = stack.signed_in(Role::Restaurant, "r-1").await;
    let old = stack.signed_in(Role::Rider, "rider-1").await;
    let new = stack.signed_in(Role::Rider, "rider-2").await;
    let operator = stack.signed_in(Role::Operator, "op-1").await;

    let id = restaurant.call_rider(20000).await;
    assert_eq!(
        old.post(&format!("/deliveries/{id}/pickup"), json!({}))
            .await
            .0,
        200
    );
    // The rider's scooter broke down: the dispatcher moves the delivery.
    let (status, moved) = operator
        .post(
            &format!("/deliveries/{id}/reassign"),
            json!({"riderId": "rider-2", "reason": "scooter broke down"}),
        )
        .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["status"], "Picked");
    assert_eq!(moved["riderId"], "rider-2");
    let by: Vec<_> = moved["assignments"]
        .as_array()
        .expect("assignments")
        .iter()
        .map(|a| (a["riderId"].clone(), a["by"].clone()))
        .collect();
    assert_eq!(
        by,
        [
            (json!("rider-1"), json!("rider-1")),
            (json!("rider-2"), json!("op-1"))
        ]
    );
    // The old rider's app shows it gone; the new rider's shows it.
    eventually(
        "the fleet to show the move",
        Duration::from_secs(20),
        || async {
            let (_, fleet) = operator.get("/ops/riders").await;
            let active = |rider: &str| {
                fleet
                    .as_array()
                    .and_then(|f| f.iter().find(|r| r["id"] == rider))
                    .map(|r| r["active"].clone())
            };
            (active("rider-1")? == json!([]) && active("rider-2")? == json!([id])).then_some(())
        },
    )
    .await;
    assert_eq!(old.get(&format!("/deliveries/{id}")).await.0, 404);
    let (status, refused) = old
        .post(&format!("/deliveries/{id}/complete"), json!({}))
        .await;
    assert_eq!(
        (status, code(&refused)),
        (403, "not_your_delivery"),
        "{refused}"
    );

    let (status, done) = new
        .post(&format!("/deliveries/{id}/complete"), json!({}))
        .await;
    assert_eq!(status, 200, "{done}");
    let settled = view_when(&operator, &id, "the settlement", |v| {
        v["payment"]["status"] == "Settled"
    })
    .await;
    assert_eq!(settled["riderId"], "rider-2");
    let (_, row) = operator.get(&format!("/delivery-list/{id}")).await;
    assert_eq!(row["riderId"], "rider-2");
    // Who moved it and when is in the workflow's history too.
    let history = stack
        .temporal
        .get_workflow_handle::<workflows::DeliveryWorkflow>(workflows::names::workflow_id(&id))
        .fetch_history(Default::default())
        .to_json()
        .await
        .expect("history");
    let history = String::from_utf8_lossy(&history);
    assert!(
        history.contains("\"reassign\""),
        "no reassign update in the history"
    );
    stack.workflow_completed(&id).await;
    assert_invariants(&stack.checker_settings()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_call_assigned_by_an_operator_is_only_that_riders() {
    let stack = Stack::start(StackOptions::default()).await;
    let restaurant = stack.signed_in(Role::Restaurant, "r-1").await;
    let chosen = stack.signed_in(Role::Rider, "rider-1").await;
    let other = stack.signed_in(Role::Rider, "rider-2").await;
    let operator = stack.signed_in(Role::Operator, "op-1").await;

    let id = restaurant.call_rider(9000).await;
    let (status, assigned) = operator
        .post(
            &format!("/deliveries/{id}/reassign"),
            json!({"riderId": "rider-1"}),
        )
        .await;
    assert_eq!(
        (status, &assigned["status"]),
        (200, &json!("Assigned")),
        "{assigned}"
    );
    // Off the broadcast: the other rider neither sees nor takes it.
    eventually(
        "the call to leave the broadcast",
        Duration::from_secs(20),
        || async {
            let (_, calls) = other.get("/rider/calls").await;
            (calls == json!([])).then_some(())
        },
    )
    .await;
    let (status, refused) = other
        .post(&format!("/deliveries/{id}/pickup"), json!({}))
        .await;
    assert_eq!(
        (status, code(&refused)),
        (403, "not_your_delivery"),
        "{refused}"
    );
    // An unknown rider, or one with no free place, cannot be given it.
    let (status, unknown) = operator
        .post(
            &format!("/deliveries/{id}/reassign"),
            json!({"riderId": "rider-nobody"}),
        )
        .await;
    assert_eq!(
        (status, &unknown["field"]),
        (422, &json!("riderId")),
        "{unknown}"
    );
    let (_, listed) = operator.get(&format!("/delivery-list/{id}")).await;
    assert_eq!(listed["status"], "Assigned");

    assert_eq!(
        chosen
            .post(&format!("/deliveries/{id}/pickup"), json!({}))
            .await
            .0,
        200
    );
    let (status, done) = chosen
        .post(&format!("/deliveries/{id}/complete"), json!({}))
        .await;
    assert_eq!(status, 200, "{done}");
    assert!(done["timeline"]["assignedAt"].is_string());
    assert_eq!(done["assignments"].as_array().map(Vec::len), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_delivery_settles_voids_or_waits_for_an_operator_as_its_reason_says() {
    let stack = Stack::start(StackOptions::default()).await;
    let restaurant = stack.signed_in(Role::Restaurant, "r-1").await;
    let rider = stack.signed_in(Role::Rider, "rider-1").await;
    let operator = stack.signed_in(Role::Operator, "op-1").await;

    let picked_up = async |cost| {
        let id = restaurant.call_rider(cost).await;
        assert_eq!(
            rider
                .post(&format!("/deliveries/{id}/pickup"), json!({}))
                .await
                .0,
            200
        );
        id
    };
    // Before pickup there is nothing to fail.
    let open = restaurant.call_rider(5000).await;
    let (status, early) = rider
        .post(
            &format!("/deliveries/{open}/fail"),
            json!({"reason": "damaged"}),
        )
        .await;
    assert_eq!((status, code(&early)), (409, "wrong_state"), "{early}");

    let expected = [
        ("customer_unreachable", "Settled"),
        ("address_not_found", "Settled"),
        ("customer_refused", "Settled"),
        ("damaged", "Voided"),
    ];
    for (reason, payment) in expected {
        let id = picked_up(11000).await;
        let (status, failed) = rider
            .post(
                &format!("/deliveries/{id}/fail"),
                json!({"reason": reason, "note": "rang twice"}),
            )
            .await;
        assert_eq!(
            (status, &failed["status"]),
            (200, &json!("Failed")),
            "{failed}"
        );
        assert_eq!(
            failed["failure"],
            json!({"reason": reason, "note": "rang twice"})
        );
        let ended = view_when(&operator, &id, "the fee to follow the reason", |v| {
            v["payment"]["status"] == payment
        })
        .await;
        assert_eq!(ended["status"], "Failed", "{reason}");
        // A failed delivery can no longer be completed; repeating the failure is harmless.
        let (status, refused) = rider
            .post(&format!("/deliveries/{id}/complete"), json!({}))
            .await;
        assert_eq!((status, code(&refused)), (409, "wrong_state"), "{refused}");
        let (status, _) = rider
            .post(&format!("/deliveries/{id}/fail"), json!({"reason": reason}))
            .await;
        assert_eq!(status, 200, "{reason}: a repeated failure");
        let row = eventually(
            "the list to show the reason",
            Duration::from_secs(20),
            || async {
                let (_, row) = operator.get(&format!("/delivery-list/{id}")).await;
                (row["status"] == "Failed").then_some(row)
            },
        )
        .await;
        assert_eq!(row["failureReason"], reason);
    }

    // `other`: the fee stays registered until an operator decides; retry is not a decision.
    let id = picked_up(8000).await;
    let (status, _) = rider
        .post(
            &format!("/deliveries/{id}/fail"),
            json!({"reason": "other", "note": "bike stolen"}),
        )
        .await;
    assert_eq!(status, 200);
    let waiting = view_when(&operator, &id, "the operator's attention", |v| {
        !v["attention"].is_null()
    })
    .await;
    assert_eq!(waiting["payment"]["status"], "Registered");
    let (status, retry) = operator
        .post(
            &format!("/deliveries/{id}/resolve"),
            json!({"outcome": "retry"}),
        )
        .await;
    assert_eq!(status, 409, "{retry}");
    let (status, decided) = operator
        .post(
            &format!("/deliveries/{id}/resolve"),
            json!({"outcome": "settle", "note": "the rider did the trip"}),
        )
        .await;
    assert_eq!(status, 200, "{decided}");
    let settled = view_when(&operator, &id, "the settlement", |v| {
        v["payment"]["status"] == "Settled"
    })
    .await;
    assert_eq!(settled["status"], "Failed");
    stack.workflow_completed(&id).await;

    // The money by reason, in the rider's statement: the three that settle and the `other` an
    // operator settled, each at its earning (10% commission) with its reason; `damaged` paid
    // nothing.
    let today = chrono::Utc::now().date_naive();
    let (status, statement) = rider
        .get(&format!("/rider/statement?from={today}&to={today}"))
        .await;
    assert_eq!(status, 200, "{statement}");
    let mut reasons: Vec<(String, i64)> = statement["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| {
            (
                l["failureReason"].as_str().unwrap_or("none").to_owned(),
                l["earning"].as_i64().expect("earning"),
            )
        })
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        vec![
            ("address_not_found".to_owned(), 9_900),
            ("customer_refused".to_owned(), 9_900),
            ("customer_unreachable".to_owned(), 9_900),
            ("other".to_owned(), 7_200),
        ],
        "{statement}"
    );
    assert_eq!(statement["total"], 3 * 9_900 + 7_200);
    assert_invariants(&stack.checker_settings()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_endpoints_answer_only_their_roles() {
    let stack = Stack::start(StackOptions::default()).await;
    let restaurant = stack.signed_in(Role::Restaurant, "r-1").await;
    let rider = stack.signed_in(Role::Rider, "rider-1").await;
    let operator = stack.signed_in(Role::Operator, "op-1").await;
    let id = restaurant.call_rider(7000).await;

    for who in [&restaurant, &operator] {
        assert_eq!(who.get("/rider/availability").await.0, 403);
        let (status, _) = who
            .post(
                &format!("/deliveries/{id}/fail"),
                json!({"reason": "damaged"}),
            )
            .await;
        assert_eq!(status, 403);
    }
    for who in [&restaurant, &rider] {
        assert_eq!(who.get("/ops/riders").await.0, 403);
        let (status, _) = who
            .post(
                &format!("/deliveries/{id}/reassign"),
                json!({"riderId": "rider-1"}),
            )
            .await;
        assert_eq!(status, 403);
    }
    assert_eq!(restaurant.get("/rider/calls").await.0, 403);
    let (status, fleet) = operator.get("/ops/riders?online=true").await;
    assert_eq!(status, 200, "{fleet}");
    assert!(
        fleet
            .as_array()
            .expect("fleet")
            .iter()
            .any(|r| r["id"] == "rider-1")
    );
    let (status, bad) = operator.get("/ops/riders?online=maybe").await;
    assert_eq!((status, code(&bad)), (422, "validation_failed"), "{bad}");
    // Nothing above changed the delivery.
    let (_, view) = operator.get(&format!("/deliveries/{id}")).await;
    assert_eq!(view["status"], "Called");
    assert_eq!(view["assignments"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_riders_never_hold_more_than_their_capacity() {
    const CALLS: usize = 50;
    const RIDERS: usize = 10;
    const CAPACITY: usize = 2;
    let stack = Stack::start(StackOptions::default()).await;
    let restaurant = stack.signed_in(Role::Restaurant, "r-1").await;
    let operator = stack.signed_in(Role::Operator, "op-1").await;
    let riders = fleet::riders_online(&stack, RIDERS, CAPACITY).await;
    let mut ids = Vec::new();
    for i in 0..CALLS {
        ids.push(restaurant.call_rider(1000 + i as i64).await);
    }
    // Every rider grabs calls from its list at random, all at once, and delivers each after
    // a random while; many pickups race for the same call and for the same rider's places.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let tasks: Vec<_> = riders
        .into_iter()
        .enumerate()
        .map(|(i, rider)| {
            let done = done.clone();
            tokio::spawn(async move {
                let mut dice = Dice(0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1));
                let mut held: Vec<String> = Vec::new();
                let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
                while done.load(std::sync::atomic::Ordering::SeqCst) < CALLS {
                    assert!(tokio::time::Instant::now() < deadline, "riders stalled");
                    if !held.is_empty() && dice.below(2) == 0 {
                        let id = held.swap_remove(dice.below(held.len() as u64) as usize);
                        let (status, body) = rider
                            .post(&format!("/deliveries/{id}/complete"), json!({}))
                            .await;
                        assert_eq!(status, 200, "{body}");
                        done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        continue;
                    }
                    let (_, calls) = rider.get("/rider/calls").await;
                    let calls = calls.as_array().cloned().unwrap_or_default();
                    if calls.is_empty() {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                    let pick = &calls[dice.below(calls.len() as u64) as usize];
                    let id = pick["deliveryId"].as_str().expect("id").to_owned();
                    let (status, body) = rider
                        .post(&format!("/deliveries/{id}/pickup"), json!({}))
                        .await;
                    match (status, code(&body)) {
                        (200, _) => held.push(id),
                        (409, "wrong_state" | "rider_at_capacity") => {}
                        other => panic!("pickup answered {other:?}: {body}"),
                    }
                    assert!(held.len() <= CAPACITY, "rider-{i} holds {held:?}");
                }
            })
        })
        .collect();
    // Meanwhile the fleet never shows a rider over its capacity.
    fleet::watch_capacity(&operator, tasks, CAPACITY).await;
    // From the deliveries' own records: no rider ever held more than its capacity at once.
    fleet::assert_timelines_within_capacity(&operator, &ids, "pickedAt", CAPACITY).await;
    for id in &ids {
        stack.workflow_completed(id).await;
    }
    assert_invariants(&stack.checker_settings()).await;
}
