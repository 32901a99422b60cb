//! Redeploys never break running deliveries. Versions 1 and 2 of the workflow were never
//! released and are retired; v3 made every step local behind the patch
//! `local-payment-and-projection`, v4 asked for that patch as deprecated (step one of
//! Temporal's two-step removal), and the current version no longer asks for it (step two):
//! the committed `v4-*` histories prove v4's executions replay on it (`replay.rs`). This test
//! redeploys workers mid-delivery and checks every delivery finishes and records no marker of
//! the retired patch (nor its search-attribute upsert: two events fewer per delivery).

use std::time::Duration;

use e2e::{ApiClient, Stack, StackOptions, assert_invariants, drive_to_completion, eventually};
use identity::Role;
use serde_json::json;
use temporalio_common::protos::temporal::api::history::v1::history_event::Attributes;
use workflows::{DeliveryWorkflow, names};

/// The patch v3 introduced and the current version retired.
const RETIRED_PATCH: &str = "local-payment-and-projection";

/// The patch markers of `patch_id` in the delivery's history, as their payloads' text.
async fn patch_markers(stack: &Stack, id: &str, patch_id: &str) -> Vec<String> {
    let handle = stack
        .temporal
        .get_workflow_handle::<DeliveryWorkflow>(names::workflow_id(id));
    let events = handle
        .fetch_history(Default::default())
        .into_events()
        .await
        .expect("history");
    events
        .iter()
        .filter_map(|event| match &event.attributes {
            Some(Attributes::MarkerRecordedEventAttributes(marker)) => Some(marker),
            _ => None,
        })
        .flat_map(|marker| marker.details.values())
        .flat_map(|payloads| &payloads.payloads)
        .map(|p| String::from_utf8_lossy(&p.data).into_owned())
        .filter(|data| data.contains(patch_id))
        .collect()
}

/// Whether every one of `ids` shows `status` in the delivery list, as `reader` sees it.
async fn all_listed(reader: &ApiClient, ids: &[String], status: &str) -> Option<()> {
    for id in ids {
        let (_, row) = reader.get(&format!("/delivery-list/{id}")).await;
        if row["status"] != status {
            return None;
        }
    }
    Some(())
}

/// Starts two deliveries of `restaurant` (signed in) on the running worker, waits until both
/// are listed and has `rider` pick the first one up, so each worker generation leaves one
/// delivery waiting for a rider and one picked up.
async fn start_two(restaurant: &ApiClient, rider: &ApiClient, cost: i64) -> Vec<String> {
    let ids = vec![
        restaurant.call_rider(cost).await,
        restaurant.call_rider(cost + 1).await,
    ];
    eventually("the calls to be listed", Duration::from_secs(10), || {
        all_listed(restaurant, &ids, "Called")
    })
    .await;
    let (status, _) = rider
        .post(&format!("/deliveries/{}/pickup", ids[0]), json!({}))
        .await;
    assert_eq!(status, 200);
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_in_flight_finish_across_redeploys_and_record_no_retired_patch() {
    let mut stack = Stack::start(StackOptions::default()).await;
    let first_restaurant = stack.signed_in(Role::Restaurant, "r-first").await;
    let second_restaurant = stack.signed_in(Role::Restaurant, "r-second").await;
    let rider = stack.signed_in(Role::Rider, "rider-1").await;
    let operator = stack.signed_in(Role::Operator, "ops-versioning").await;
    let first = start_two(&first_restaurant, &rider, 2000).await;

    // Mid-delivery, a new worker generation takes over everything.
    stack.stop_worker();
    stack.start_worker(worker::Role::ALL.to_vec());
    let second = start_two(&second_restaurant, &rider, 3000).await;

    let all: Vec<String> = first.iter().chain(&second).cloned().collect();
    for id in &all {
        drive_to_completion(&rider, id, Duration::from_secs(60)).await;
    }
    eventually(
        "every delivery to be completed",
        Duration::from_secs(30),
        || all_listed(&operator, &all, "Completed"),
    )
    .await;
    for id in &all {
        let markers = patch_markers(&stack, id, RETIRED_PATCH).await;
        assert!(markers.is_empty(), "{id}: {markers:?}");
    }
    assert_invariants(&stack.checker_settings()).await;
}
