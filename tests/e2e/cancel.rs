//! Cancels and deadlines: the payment is voided (compensation) and the list shows it.

use std::time::Duration;

use e2e::{ApiClient, Stack, StackOptions, eventually};
use identity::Role;
use serde_json::json;
use temporalio_client::{WorkflowCancelOptions, WorkflowExecutionStatus};
use workflows::{DeliveryWorkflow, names};

/// The delivery's row once it shows `status`, as `reader` (its restaurant or an operator) sees it.
async fn list_row_with_status(reader: &ApiClient, id: &str, status: &str) -> serde_json::Value {
    eventually(
        &format!("the list to show {status}"),
        Duration::from_secs(15),
        || async {
            let (_, row) = reader.get(&format!("/delivery-list/{id}")).await;
            (row["status"] == status).then_some(row)
        },
    )
    .await
}

async fn payment_with_status(reader: &ApiClient, id: &str, status: &str) {
    eventually(
        &format!("the payment to be {status}"),
        Duration::from_secs(15),
        || async {
            let (_, payment) = reader.get(&format!("/payments/{id}")).await;
            (payment["status"] == status).then_some(())
        },
    )
    .await;
}

/// Whether `rider` (signed in) is offered the call.
async fn call_is_open(rider: &ApiClient, id: &str) -> bool {
    let (_, calls) = rider.get("/rider/calls").await;
    calls
        .as_array()
        .is_some_and(|calls| calls.iter().any(|c| c["deliveryId"] == id))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_before_pickup_voids_the_payment_and_drops_the_call() {
    let stack = Stack::start(StackOptions::default()).await;
    let restaurant = stack.signed_in(Role::Restaurant, "r-1").await;
    let rider = stack.signed_in(Role::Rider, "rider-1").await;
    let id = restaurant.call_rider(12000).await;
    eventually(
        "the call to be offered",
        Duration::from_secs(10),
        || async { call_is_open(&rider, &id).await.then_some(()) },
    )
    .await;

    let (status, body) = restaurant
        .post(
            &format!("/deliveries/{id}/cancel"),
            json!({"reason": "customer left"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "Cancelled");
    assert_eq!(body["payment"]["status"], "Voided");
    assert_eq!(body["cancelReason"], "customer left");

    payment_with_status(&restaurant, &id, "Voided").await;
    let row = list_row_with_status(&restaurant, &id, "Cancelled").await;
    assert!(row["settled"].is_null());
    assert!(
        !call_is_open(&rider, &id).await,
        "a cancelled call is not offered"
    );

    let (status, body) = restaurant
        .post(&format!("/deliveries/{id}/cancel"), json!({}))
        .await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = rider
        .post(&format!("/deliveries/{id}/pickup"), json!({}))
        .await;
    assert_eq!(status, 409, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_after_pickup_is_refused_and_changes_nothing() {
    let stack = Stack::start(StackOptions::default()).await;
    let restaurant = stack.signed_in(Role::Restaurant, "r-1").await;
    let rider = stack.signed_in(Role::Rider, "rider-1").await;
    let id = restaurant.call_rider(9000).await;
    let (status, _) = rider
        .post(&format!("/deliveries/{id}/pickup"), json!({}))
        .await;
    assert_eq!(status, 200);

    let (status, body) = restaurant
        .post(
            &format!("/deliveries/{id}/cancel"),
            json!({"reason": "too late"}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "wrong_state");

    let (_, live) = restaurant.get(&format!("/deliveries/{id}")).await;
    assert_eq!(live["status"], "Picked");
    assert_eq!(live["payment"]["status"], "Registered");
    let (status, _) = rider
        .post(&format!("/deliveries/{id}/complete"), json!({}))
        .await;
    assert_eq!(status, 200);
    payment_with_status(&restaurant, &id, "Settled").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_picking_up_before_the_deadline_cancels_and_voids() {
    let stack = Stack::start(StackOptions {
        pickup_deadline_secs: Some(1),
        ..StackOptions::default()
    })
    .await;
    let restaurant = stack.signed_in(Role::Restaurant, "r-1").await;
    let rider = stack.signed_in(Role::Rider, "rider-1").await;
    let id = restaurant.call_rider(7000).await;

    let row = list_row_with_status(&restaurant, &id, "Cancelled").await;
    assert!(row["riderId"].is_null());
    payment_with_status(&restaurant, &id, "Voided").await;
    let (_, live) = restaurant.get(&format!("/deliveries/{id}")).await;
    assert_eq!(live["status"], "Cancelled");
    assert!(
        live["cancelReason"]
            .as_str()
            .unwrap_or_default()
            .contains("deadline"),
        "{live}"
    );
    assert!(!call_is_open(&rider, &id).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_cancelling_the_workflow_still_runs_the_compensation() {
    let stack = Stack::start(StackOptions::default()).await;
    let restaurant = stack.signed_in(Role::Restaurant, "r-1").await;
    let rider = stack.signed_in(Role::Rider, "rider-3").await;
    let id = restaurant.call_rider(5000).await;
    let (status, _) = rider
        .post(&format!("/deliveries/{id}/pickup"), json!({}))
        .await;
    assert_eq!(status, 200);

    let handle = stack
        .temporal
        .get_workflow_handle::<DeliveryWorkflow>(names::workflow_id(&id));
    handle
        .cancel(
            WorkflowCancelOptions::builder()
                .reason("rider had an accident")
                .build(),
        )
        .await
        .expect("cancel the workflow");

    payment_with_status(&restaurant, &id, "Voided").await;
    list_row_with_status(&restaurant, &id, "Cancelled").await;
    let status = eventually("the workflow to close", Duration::from_secs(10), || async {
        let d = handle.describe(Default::default()).await.ok()?;
        (d.status() != WorkflowExecutionStatus::Running).then_some(d.status())
    })
    .await;
    assert_eq!(status, WorkflowExecutionStatus::Canceled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_past_its_completion_deadline_is_flagged_overdue_but_not_dropped() {
    let stack = Stack::start(StackOptions {
        completion_deadline_secs: Some(1),
        ..StackOptions::default()
    })
    .await;
    let restaurant = stack.signed_in(Role::Restaurant, "r-1").await;
    let rider = stack.signed_in(Role::Rider, "rider-4").await;
    let id = restaurant.call_rider(8000).await;
    let (status, _) = rider
        .post(&format!("/deliveries/{id}/pickup"), json!({}))
        .await;
    assert_eq!(status, 200);

    eventually(
        "the delivery to be overdue",
        Duration::from_secs(10),
        || async {
            let (_, live) = restaurant.get(&format!("/deliveries/{id}")).await;
            (live["overdue"] == true && live["status"] == "Picked").then_some(())
        },
    )
    .await;
    let handle = stack
        .temporal
        .get_workflow_handle::<DeliveryWorkflow>(names::workflow_id(&id));
    // A read derives `overdue` from the deadline; the workflow's timer flags it for
    // operators within moments.
    let description = eventually(
        "operators to see it overdue",
        Duration::from_secs(10),
        || async {
            let description = handle.describe(Default::default()).await.expect("describe");
            let overdue = description
                .search_attributes()
                .get(&names::DELIVERY_OVERDUE);
            (overdue == Some(true)).then_some(description)
        },
    )
    .await;
    assert_eq!(
        description
            .search_attributes()
            .get(&names::RIDER_ID)
            .as_deref(),
        Some("rider-4")
    );

    let (status, _) = rider
        .post(&format!("/deliveries/{id}/complete"), json!({}))
        .await;
    assert_eq!(status, 200);
    let row = list_row_with_status(&restaurant, &id, "Completed").await;
    assert_eq!(row["settled"], 8000);
}
