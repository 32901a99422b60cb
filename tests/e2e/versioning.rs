//! Redeploys never break running deliveries: deliveries started on version 1 of the workflow
//! finish on a worker running the patched version 2, and new ones take the new path.

use std::time::Duration;

use e2e::{Stack, StackOptions, assert_invariants, drive_to_completion, eventually};
use serde_json::json;
use temporalio_common::protos::temporal::api::history::v1::history_event::Attributes;
use workflows::{DeliveryWorkflow, delivery::PATCH_OFFER_WITH_PROJECTION, names};

/// Whether the delivery's history carries the marker of `patch_id`.
async fn has_patch_marker(stack: &Stack, id: &str, patch_id: &str) -> bool {
    let handle = stack
        .temporal
        .get_workflow_handle::<DeliveryWorkflow>(names::workflow_id(id));
    let events = handle
        .fetch_history(Default::default())
        .into_events()
        .await
        .expect("history");
    events.iter().any(|event| match &event.attributes {
        Some(Attributes::MarkerRecordedEventAttributes(marker)) => marker
            .details
            .values()
            .flat_map(|payloads| &payloads.payloads)
            .any(|p| String::from_utf8_lossy(&p.data).contains(patch_id)),
        _ => false,
    })
}

async fn all_listed(stack: &Stack, ids: &[String], status: &str) -> Option<()> {
    for id in ids {
        let (_, row) = stack.get(&format!("/delivery-list/{id}")).await;
        if row["status"] != status {
            return None;
        }
    }
    Some(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_started_on_version_1_finish_on_version_2() {
    let mut stack = Stack::start(StackOptions::default()).await;
    // Version 1: the patch is dormant on this worker, as during a rolling deploy.
    stack.stop_worker();
    stack.start_worker_deferring(
        worker::Role::ALL.to_vec(),
        vec![PATCH_OFFER_WITH_PROJECTION.to_owned()],
    );
    let mut old = Vec::new();
    for i in 0..3 {
        old.push(stack.call_rider("r-v1", 2000 + i).await);
    }
    eventually("the v1 calls to be listed", Duration::from_secs(10), || {
        all_listed(&stack, &old, "Called")
    })
    .await;
    let (status, _) = stack
        .post(
            &format!("/deliveries/{}/pickup", old[0]),
            json!({"riderId": "rider-1"}),
        )
        .await;
    assert_eq!(status, 200);

    // Mid-delivery, version 1 goes away and version 2 takes over.
    stack.stop_worker();
    stack.start_worker(worker::Role::ALL.to_vec());
    let new = vec![
        stack.call_rider("r-v2", 3000).await,
        stack.call_rider("r-v2", 3001).await,
    ];

    let all: Vec<String> = old.iter().chain(&new).cloned().collect();
    for id in &all {
        drive_to_completion(&stack, id, "rider-1", Duration::from_secs(60)).await;
    }
    eventually(
        "every delivery to be completed",
        Duration::from_secs(30),
        || all_listed(&stack, &all, "Completed"),
    )
    .await;
    for id in &old {
        assert!(
            !has_patch_marker(&stack, id, PATCH_OFFER_WITH_PROJECTION).await,
            "{id} stayed on v1"
        );
    }
    for id in &new {
        assert!(
            has_patch_marker(&stack, id, PATCH_OFFER_WITH_PROJECTION).await,
            "{id} runs v2"
        );
    }
    assert_invariants(&stack.checker_settings()).await;
}
