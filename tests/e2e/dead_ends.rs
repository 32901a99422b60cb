//! Deliveries that cannot move on by themselves wait for an operator, visibly: a step the
//! database refuses, a settlement payment refuses, a step still failing when its retry budget
//! is spent. None of them retries in silence or ends as a failed workflow; each shows
//! `attention`, is listed by `/ops/summary`, and goes on with the operator's `resolve`.
//! Also: a rider repeating its own pickup adds nothing to the history.

use std::time::Duration;

use e2e::{
    assert_invariants, eventually,
    stack::{Stack, StackOptions},
    view_when,
};
use futures::StreamExt as _;
use identity::Role;
use sea_orm::ConnectionTrait as _;
use serde_json::{Value, json};
use temporalio_client::WorkflowExecutionStatus;
use workflows::{DeliveryWorkflow, names};

fn waiting(view: &Value) -> bool {
    !view["attention"].is_null()
}

async fn still_running(stack: &Stack, id: &str) {
    let handle = stack
        .temporal
        .get_workflow_handle::<DeliveryWorkflow>(names::workflow_id(id));
    let described = handle.describe(Default::default()).await.expect("describe");
    assert_eq!(described.status(), WorkflowExecutionStatus::Running);
}

async fn summary_lists(operator: &e2e::http::ApiClient, id: &str) -> bool {
    let (status, summary) = operator.get("/ops/summary").await;
    assert_eq!(status, 200, "{summary}");
    summary["attention"]
        .as_array()
        .is_some_and(|items| items.iter().any(|item| item["deliveryId"] == id))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_the_database_refuses_waits_for_an_operator_and_goes_on_when_retried() {
    let stack = Stack::start(StackOptions::default()).await;
    let restaurant = stack.signed_in(Role::Restaurant, "r-1").await;
    let rider = stack.signed_in(Role::Rider, "rider-1").await;
    let operator = stack.signed_in(Role::Operator, "op-1").await;
    // The delivery list refuses this destination, as a constraint refuses bad data: no retry
    // can change that.
    let list = sea_orm::Database::connect(&stack.readmodel_database_url)
        .await
        .expect("open the delivery list");
    list.execute_unprepared(
        "CREATE TRIGGER poison BEFORE INSERT ON delivery_list \
         WHEN NEW.destination LIKE '%Poison%' BEGIN SELECT RAISE(ABORT, 'refused'); END",
    )
    .await
    .expect("install the refusing trigger");

    let (status, called) = restaurant
        .post(
            "/deliveries",
            json!({"destination": "Poison Alley 1", "cost": 15000}),
        )
        .await;
    assert_eq!(status, 201, "{called}");
    let id = called["deliveryId"].as_str().expect("id").to_owned();
    let view = view_when(
        &operator,
        &id,
        "the delivery to wait for an operator",
        waiting,
    )
    .await;
    let reason = view["attention"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("delivery list"), "{view}");
    assert!(view["attention"]["since"].is_string(), "{view}");
    still_running(&stack, &id).await;
    assert!(summary_lists(&operator, &id).await);

    // Only operators decide, and only what fits: nobody picked it up, so nothing to settle.
    let resolve = format!("/deliveries/{id}/resolve");
    let (status, body) = restaurant.post(&resolve, json!({"outcome": "retry"})).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = operator.post(&resolve, json!({"outcome": "settle"})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("wrong_state")),
        "{body}"
    );
    let (status, body) = operator.post(&resolve, json!({"outcome": "later"})).await;
    assert_eq!(status, 422, "{body}");

    list.execute_unprepared("DROP TRIGGER poison")
        .await
        .expect("drop the trigger");
    let (status, body) = operator
        .post(
            &resolve,
            json!({"outcome": "retry", "note": "constraint fixed"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["attention"].is_null(), "{body}");
    eventually(
        "the list to show the call",
        Duration::from_secs(30),
        || async {
            let (status, row) = restaurant.get(&format!("/delivery-list/{id}")).await;
            (status == 200 && row["status"] == "Called").then_some(())
        },
    )
    .await;
    assert!(!summary_lists(&operator, &id).await);
    // Nothing waits any more: a second decision is refused.
    let (status, _) = operator.post(&resolve, json!({"outcome": "retry"})).await;
    assert_eq!(status, 409);

    e2e::drive_to_completion(&rider, &id, Duration::from_secs(60)).await;
    view_when(&operator, &id, "settlement", |v| {
        v["payment"]["status"] == "Settled"
    })
    .await;
    assert_invariants(&stack.checker_settings()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_settlement_payment_refuses_waits_for_an_operator_who_voids_it() {
    let stack = Stack::start(StackOptions::default()).await;
    let restaurant = stack.signed_in(Role::Restaurant, "r-1").await;
    let rider = stack.signed_in(Role::Rider, "rider-1").await;
    let operator = stack.signed_in(Role::Operator, "op-1").await;
    let id = restaurant.call_rider(18000).await;
    let (status, body) = rider
        .post(&format!("/deliveries/{id}/pickup"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    // Behind the workflow's back the fee is voided (through payment's own API, so the ledger's
    // journal stays whole), so payment refuses to settle it.
    stack
        .payment_client(payment_api::tls::Caller::Worker)
        .void_payment(payment_api::proto::VoidPaymentRequest {
            delivery_id: id.clone(),
            failure_reason: None,
        })
        .await
        .expect("void behind the workflow's back");
    let (status, body) = rider
        .post(&format!("/deliveries/{id}/complete"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    let view = view_when(&operator, &id, "the refused settlement to wait", waiting).await;
    let reason = view["attention"]["reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("settle the fee"), "{view}");
    still_running(&stack, &id).await;
    assert!(summary_lists(&operator, &id).await);

    let (status, body) = operator
        .post(
            &format!("/deliveries/{id}/resolve"),
            json!({"outcome": "void", "note": "refunded by phone"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let view = view_when(&operator, &id, "the void", |v| {
        v["payment"]["status"] == "Voided"
    })
    .await;
    assert_eq!(view["status"], "Cancelled", "{view}");
    assert!(
        view["cancelReason"]
            .as_str()
            .is_some_and(|r| r.contains("op-1") && r.contains("refunded by phone")),
        "{view}"
    );
    stack.workflow_completed(&id).await;
    assert_invariants(&stack.checker_settings()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_still_failing_after_its_retry_budget_waits_for_an_operator() {
    let mut stack = Stack::start(StackOptions {
        payment_up: false,
        payment_wait: Duration::from_millis(500),
        step_retry_budget_secs: Some(3),
        ..StackOptions::default()
    })
    .await;
    let restaurant = stack.signed_in(Role::Restaurant, "r-1").await;
    let rider = stack.signed_in(Role::Rider, "rider-1").await;
    let operator = stack.signed_in(Role::Operator, "op-1").await;
    let (status, called) = restaurant
        .post("/deliveries", json!({"destination": "Seoul", "cost": 9000}))
        .await;
    assert_eq!(status, 202, "{called}");
    let id = called["deliveryId"].as_str().expect("id").to_owned();
    let view = view_when(&operator, &id, "the budget to run out", waiting).await;
    assert!(
        view["attention"]["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("register the fee")),
        "{view}"
    );
    assert_eq!(view["payment"]["status"], "Pending", "{view}");

    stack.start_payment().await;
    let (status, body) = operator
        .post(
            &format!("/deliveries/{id}/resolve"),
            json!({"outcome": "retry"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    view_when(&operator, &id, "the registration", |v| {
        v["payment"]["status"] == "Registered"
    })
    .await;
    e2e::drive_to_completion(&rider, &id, Duration::from_secs(60)).await;
    view_when(&operator, &id, "settlement", |v| {
        v["payment"]["status"] == "Settled"
    })
    .await;
    assert_invariants(&stack.checker_settings()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_repeated_pickups_add_nothing_to_the_history() {
    let stack = Stack::start(StackOptions::default()).await;
    let restaurant = stack.signed_in(Role::Restaurant, "r-1").await;
    let rider = stack.signed_in(Role::Rider, "rider-1").await;
    let id = restaurant.call_rider(12000).await;
    let pickup = format!("/deliveries/{id}/pickup");
    let (status, body) = rider.post(&pickup, json!({})).await;
    assert_eq!(status, 200, "{body}");
    let handle = stack
        .temporal
        .get_workflow_handle::<DeliveryWorkflow>(names::workflow_id(&id));
    let length = async || {
        handle
            .describe(Default::default())
            .await
            .expect("describe")
            .history_length()
    };
    // Let the pickup's own steps (withdraw the call, list it) land first.
    eventually(
        "the list to show the pickup",
        Duration::from_secs(30),
        || async {
            let (status, row) = restaurant.get(&format!("/delivery-list/{id}")).await;
            (status == 200 && row["status"] == "Picked").then_some(())
        },
    )
    .await;
    let before = length().await;

    // Each repeat is a round trip through Temporal (a refused update is not recorded but is
    // still decided by the workflow): about 40 ms, one at a time per workflow, so two at once
    // (a rider double-tapping) keep the workflow busy without queueing past the API's waits.
    const REPEATS: usize = 5_000;
    const AT_ONCE: usize = 2;
    let refused: Vec<(u16, Value)> = futures::stream::iter(0..REPEATS)
        .map(|_| async {
            let (status, body) = rider.post(&pickup, json!({})).await;
            let answered =
                status == 200 && body["status"] == "Picked" && body["riderId"] == "rider-1";
            (!answered).then_some((status, body))
        })
        .buffer_unordered(AT_ONCE)
        .filter_map(|refused| async { refused })
        .collect()
        .await;
    assert!(
        refused.is_empty(),
        "every repeat answers 200 with the pickup; {} did not, e.g. {:?}",
        refused.len(),
        refused.first()
    );
    let after = length().await;
    assert!(
        after <= before + 4,
        "{REPEATS} repeated pickups grew the history from {before} to {after} events"
    );

    let (status, body) = rider
        .post(&format!("/deliveries/{id}/complete"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    // Once the workflow has ended, a repeat still answers with the final state.
    view_when(&restaurant, &id, "settlement", |v| {
        v["payment"]["status"] == "Settled"
    })
    .await;
    stack.workflow_completed(&id).await;
    for step in ["pickup", "complete"] {
        let (status, body) = rider
            .post(&format!("/deliveries/{id}/{step}"), json!({}))
            .await;
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("Completed")),
            "{step}: {body}"
        );
    }
    let other = stack.signed_in(Role::Rider, "rider-2").await;
    let (status, _) = other
        .post(&format!("/deliveries/{id}/complete"), json!({}))
        .await;
    assert_eq!(status, 409, "another rider's repeat is no repeat");
}
