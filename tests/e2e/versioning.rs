//! Redeploys never break running deliveries: deliveries started on versions 1 and 2 of the
//! workflow finish on a worker running the patched version 3, and new ones take the new path.

use std::time::Duration;

use e2e::{Stack, StackOptions, assert_invariants, drive_to_completion, eventually};
use serde_json::json;
use temporalio_common::protos::temporal::api::history::v1::history_event::Attributes;
use workflows::{
    DeliveryWorkflow,
    delivery::{PATCH_LOCAL_EFFECTS, PATCH_OFFER_WITH_PROJECTION},
    names,
};

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

/// The patch markers a delivery's history carries, of `PATCHES`.
async fn patches_of(stack: &Stack, id: &str) -> Vec<&'static str> {
    let mut found = Vec::new();
    for patch in PATCHES {
        if has_patch_marker(stack, id, patch).await {
            found.push(patch);
        }
    }
    found
}

const PATCHES: [&str; 2] = [PATCH_OFFER_WITH_PROJECTION, PATCH_LOCAL_EFFECTS];

/// Starts two deliveries on the running worker, waits until both are listed and picks the
/// first one up, so each version leaves one delivery waiting for a rider and one picked up.
async fn start_two(stack: &Stack, restaurant: &str, cost: i64) -> Vec<String> {
    let ids = vec![
        stack.call_rider(restaurant, cost).await,
        stack.call_rider(restaurant, cost + 1).await,
    ];
    eventually("the calls to be listed", Duration::from_secs(10), || {
        all_listed(stack, &ids, "Called")
    })
    .await;
    let (status, _) = stack
        .post(
            &format!("/deliveries/{}/pickup", ids[0]),
            json!({"riderId": "rider-1"}),
        )
        .await;
    assert_eq!(status, 200);
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_started_on_versions_1_and_2_finish_on_version_3() {
    let mut stack = Stack::start(StackOptions::default()).await;
    // Version 1: both patches dormant on this worker, as during the rolling deploy of v2.
    stack.stop_worker();
    stack.start_worker_deferring(
        worker::Role::ALL.to_vec(),
        PATCHES.map(str::to_owned).to_vec(),
    );
    let v1 = start_two(&stack, "r-v1", 2000).await;

    // Version 2: only the v3 patch dormant, as during the rolling deploy of v3.
    stack.stop_worker();
    stack.start_worker_deferring(
        worker::Role::ALL.to_vec(),
        vec![PATCH_LOCAL_EFFECTS.to_owned()],
    );
    let v2 = start_two(&stack, "r-v2", 3000).await;

    // Mid-delivery, version 3 takes over everything.
    stack.stop_worker();
    stack.start_worker(worker::Role::ALL.to_vec());
    let v3 = start_two(&stack, "r-v3", 4000).await;

    let all: Vec<String> = v1.iter().chain(&v2).chain(&v3).cloned().collect();
    for id in &all {
        drive_to_completion(&stack, id, "rider-1", Duration::from_secs(60)).await;
    }
    eventually(
        "every delivery to be completed",
        Duration::from_secs(30),
        || all_listed(&stack, &all, "Completed"),
    )
    .await;
    for id in &v1 {
        assert_eq!(
            patches_of(&stack, id).await,
            Vec::<&str>::new(),
            "{id} stayed on v1"
        );
    }
    for id in &v2 {
        assert_eq!(
            patches_of(&stack, id).await,
            vec![PATCH_OFFER_WITH_PROJECTION],
            "{id} stayed on v2"
        );
    }
    for id in &v3 {
        assert_eq!(
            patches_of(&stack, id).await,
            vec![PATCH_LOCAL_EFFECTS],
            "{id} runs v3"
        );
    }
    assert_invariants(&stack.checker_settings()).await;
}
