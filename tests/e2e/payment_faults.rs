//! Payment outages and refusals: retried until the service answers, or ended cleanly when it
//! refuses on the merits.

use std::time::Duration;

use e2e::{Stack, StackOptions, eventually};
use identity::Role;
use serde_json::json;
use temporalio_client::{WorkflowGetResultOptions, WorkflowStartOptions};
use workflows::{
    DeliveryWorkflow,
    model::{DeliveryInput, DeliveryStatus, PaymentStatus},
    names,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_failing_while_payment_is_down_succeeds_on_retry() {
    let mut stack = Stack::start(StackOptions {
        payment_up: false,
        payment_wait: Duration::from_millis(500),
        ..StackOptions::default()
    })
    .await;
    let restaurant = stack.signed_in(Role::Restaurant, "r-9").await;
    let rider = stack.signed_in(Role::Rider, "rider-1").await;

    let (status, body) = restaurant
        .post(
            "/deliveries",
            json!({"destination": "Busan", "cost": 30000}),
        )
        .await;
    assert_eq!(
        status, 202,
        "the call is durably accepted while payment is down: {body}"
    );
    assert_eq!(body["payment"]["status"], "Pending");
    let id = body["deliveryId"].as_str().unwrap().to_owned();

    // Let the registration fail for real at least twice before payment comes back.
    let handle = stack
        .temporal
        .get_workflow_handle::<DeliveryWorkflow>(names::workflow_id(&id));
    eventually(
        "two failed registration attempts",
        Duration::from_secs(20),
        || async {
            let description = handle.describe(Default::default()).await.ok()?;
            let activity = description.raw().pending_activities.first()?.clone();
            (activity.attempt >= 3).then_some(())
        },
    )
    .await;
    let (status, live) = restaurant.get(&format!("/deliveries/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(live["payment"]["status"], "Pending");
    let (status, body) = rider
        .post(&format!("/deliveries/{id}/pickup"), json!({}))
        .await;
    assert_eq!(
        status, 409,
        "not open for riders before payment has the fee: {body}"
    );

    stack.start_payment().await;
    eventually(
        "the payment to be registered",
        Duration::from_secs(20),
        || async {
            let (_, payment) = restaurant.get(&format!("/payments/{id}")).await;
            (payment["status"] == "Registered" && payment["amount"] == 30000).then_some(())
        },
    )
    .await;
    eventually("the call to be open", Duration::from_secs(10), || async {
        let (status, _) = rider
            .post(&format!("/deliveries/{id}/pickup"), json!({}))
            .await;
        (status == 200).then_some(())
    })
    .await;
    let (status, _) = rider
        .post(&format!("/deliveries/{id}/complete"), json!({}))
        .await;
    assert_eq!(status, 200);
    eventually("settlement", Duration::from_secs(10), || async {
        let (_, row) = restaurant.get(&format!("/delivery-list/{id}")).await;
        (row["status"] == "Completed" && row["settled"] == 30000).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_refused_on_the_merits_ends_the_delivery_without_moving_money() {
    let stack = Stack::start(StackOptions::default()).await;
    // The same delivery id already registered with another fee: payment refuses the second
    // registration on the merits (a fee out of range can no longer even be expressed).
    let id = uuid::Uuid::new_v4().to_string();
    let mut payments = stack.payment_client(payment_api::tls::Caller::Worker);
    payments
        .register_payment(payment_api::proto::RegisterPaymentRequest {
            delivery_id: id.clone(),
            amount: 1234,
            restaurant_id: "r-1".to_owned(),
            commission_bps: 1_000,
        })
        .await
        .expect("the first registration");
    let input = DeliveryInput {
        call: domain::Call {
            delivery_id: id.parse().unwrap(),
            restaurant_id: "r-1".parse().unwrap(),
            destination: "Incheon".parse().unwrap(),
            cost: domain::Cost::new(5000).unwrap(),
        },
        customer_id: None,
        pickup_deadline_secs: None,
        completion_deadline_secs: None,
        retry_budget_secs: None,
        offers: None,
        commission_bps: None,
    };
    let handle = stack
        .temporal
        .start_workflow(
            DeliveryWorkflow::run,
            input,
            WorkflowStartOptions::new(stack.task_queue.clone(), names::workflow_id(&id)).build(),
        )
        .await
        .expect("start");
    let view = tokio::time::timeout(
        Duration::from_secs(20),
        handle.get_result(WorkflowGetResultOptions::default()),
    )
    .await
    .expect("the workflow ends promptly: a refusal is not retried")
    .expect("the workflow completes");
    assert_eq!(view.status, DeliveryStatus::Cancelled);
    assert_eq!(view.payment.status, PaymentStatus::Rejected);
    assert!(
        view.cancel_reason
            .as_deref()
            .unwrap_or_default()
            .contains("payment rejected"),
        "{view:?}"
    );

    // The restaurant the workflow was started for, and an operator, read what happened.
    let restaurant = stack.signed_in(Role::Restaurant, "r-1").await;
    let operator = stack.signed_in(Role::Operator, "ops-payments").await;
    let rider = stack.signed_in(Role::Rider, "rider-1").await;
    let (status, payment) = restaurant.get(&format!("/payments/{id}")).await;
    assert_eq!(status, 200, "{payment}");
    assert_eq!(operator.get(&format!("/payments/{id}")).await.1, payment);
    assert_eq!(
        (payment["amount"].as_i64(), payment["status"].as_str()),
        (Some(1234), Some("Registered")),
        "no money moved: only the first registration, untouched"
    );
    let (_, row) = operator.get(&format!("/delivery-list/{id}")).await;
    assert_eq!(row["status"], "Cancelled");
    let (_, calls) = rider.get("/rider/calls").await;
    assert!(
        !calls
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["deliveryId"] == id.as_str()),
        "never offered to riders"
    );
}
