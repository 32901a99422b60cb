//! An `Idempotency-Key` outlives Temporal's memory of the delivery it made: once the closed
//! run is gone (retention, here a delete), the same key and body still answer that delivery,
//! start nothing and move no money; another body is still refused.

use std::time::Duration;

use e2e::{ApiClient, Stack, StackOptions, drive_to_completion, eventually, temporal_server};
use identity::Role;
use serde_json::{Value, json};
use temporalio_client::{WorkflowExecutionStatus, errors::WorkflowInteractionError};
use workflows::{DeliveryWorkflow, names};

/// `POST /deliveries` with `key`: the status, the `Location` header and the body.
async fn call(restaurant: &ApiClient, key: &str, body: &Value) -> (u16, Option<String>, Value) {
    let response = restaurant
        .request(reqwest::Method::POST, "/deliveries")
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .expect("send");
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (status, body) = ApiClient::read(response).await;
    (status, location, body)
}

/// Waits until the delivery's run is closed as `closed`, deletes it from Temporal with the
/// CLI, as retention would, and waits until Temporal no longer knows it.
async fn forget_closed_run(stack: &Stack, id: &str, closed: WorkflowExecutionStatus) {
    let handle = stack
        .temporal
        .get_workflow_handle::<DeliveryWorkflow>(names::workflow_id(id));
    eventually("the run to close", Duration::from_secs(30), || async {
        let d = handle.describe(Default::default()).await.ok()?;
        (d.status() == closed).then_some(())
    })
    .await;
    let deleted = tokio::process::Command::new(temporal_server::temporal_cli())
        .args(["workflow", "delete", "--yes", "--workflow-id"])
        .arg(names::workflow_id(id))
        .args([
            "--address",
            &stack.temporal_address,
            "--namespace",
            "default",
        ])
        .output()
        .await
        .expect("run temporal workflow delete");
    assert!(
        deleted.status.success(),
        "temporal workflow delete: {}",
        String::from_utf8_lossy(&deleted.stderr)
    );
    // The dev server removes a deleted closed run about 30 s later, in the background.
    eventually(
        "Temporal to forget the run",
        Duration::from_secs(120),
        || async {
            match handle.describe(Default::default()).await {
                Err(WorkflowInteractionError::NotFound(_)) => Some(()),
                _ => None,
            }
        },
    )
    .await;
}

/// The ledger's journal for `id`: the kinds of its movements (`register`, `settle`, `void`),
/// oldest first.
async fn movements_of(stack: &Stack, id: &str) -> Vec<String> {
    let ledger = payment::Ledger::connect(&stack.payment_database_url)
        .await
        .expect("open the ledger");
    ledger
        .journal()
        .await
        .expect("journal")
        .into_iter()
        .filter(|m| m.delivery_id.as_deref() == Some(id))
        .map(|m| m.kind)
        .collect()
}

/// Temporal knows nothing of `id`: no run was started for it.
async fn no_run(stack: &Stack, id: &str) {
    let handle = stack
        .temporal
        .get_workflow_handle::<DeliveryWorkflow>(names::workflow_id(id));
    let described = handle.describe(Default::default()).await;
    assert!(
        matches!(described, Err(WorkflowInteractionError::NotFound(_))),
        "a run was started again for {id}: {:?}",
        described.map(|d| d.status())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_repeated_after_its_closed_run_is_gone_answers_the_delivery_and_starts_nothing() {
    let stack = Stack::start(StackOptions::default()).await;
    let restaurant = stack.signed_in(Role::Restaurant, "r-21").await;
    let rider = stack.signed_in(Role::Rider, "rider-21").await;
    let body = json!({"destination": "Busan, Haeundae-gu", "cost": 8000});

    // A delivery made with a key, completed and settled; another cancelled (its payment
    // voided). Then Temporal forgets both runs, as retention would.
    let (status, location, made) = call(&restaurant, "dinner-7", &body).await;
    assert_eq!(status, 201, "{made}");
    let id = made["deliveryId"].as_str().expect("deliveryId").to_owned();
    drive_to_completion(&rider, &id, Duration::from_secs(60)).await;
    let (status, _, made) = call(&restaurant, "dinner-8", &body).await;
    assert_eq!(status, 201, "{made}");
    let cancelled = made["deliveryId"].as_str().expect("deliveryId").to_owned();
    let (status, view) = restaurant
        .post(&format!("/deliveries/{cancelled}/cancel"), json!({}))
        .await;
    assert_eq!(status, 200, "{view}");
    tokio::join!(
        forget_closed_run(&stack, &id, WorkflowExecutionStatus::Completed),
        forget_closed_run(&stack, &cancelled, WorkflowExecutionStatus::Completed),
    );
    assert_eq!(movements_of(&stack, &id).await, ["register", "settle"]);

    // The same key and body: the same delivery, as it ended; nothing started, nothing moved.
    for _ in 0..2 {
        let (status, again_at, again) = call(&restaurant, "dinner-7", &body).await;
        assert_eq!(status, 201, "{again}");
        assert_eq!(again_at, location);
        assert_eq!(again["deliveryId"], id.as_str(), "{again}");
        assert_eq!(again["status"], "Completed", "{again}");
        assert_eq!(again["payment"]["status"], "Settled", "{again}");
        assert_eq!(again["riderId"], "rider-21", "{again}");
        no_run(&stack, &id).await;
    }
    assert_eq!(movements_of(&stack, &id).await, ["register", "settle"]);

    // The same key with another body is refused, as while the run was kept.
    let other = json!({"destination": "Busan, Haeundae-gu", "cost": 9000});
    let (status, _, refused) = call(&restaurant, "dinner-7", &other).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["code"], "idempotency_key_reused");
    no_run(&stack, &id).await;

    // The cancelled delivery comes back as cancelled, not as a new call.
    let (status, _, again) = call(&restaurant, "dinner-8", &body).await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(again["deliveryId"], cancelled.as_str());
    assert_eq!(again["status"], "Cancelled", "{again}");
    assert_eq!(again["payment"]["status"], "Voided", "{again}");
    no_run(&stack, &cancelled).await;
    assert_eq!(movements_of(&stack, &cancelled).await, ["register", "void"]);

    // The list shows each delivery once.
    let (_, list) = restaurant.get("/delivery-list").await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(2), "{list}");
}
