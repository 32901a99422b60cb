//! A delivery leaves nothing allocated on the worker once it is done or evicted from the cache.
//!
//! Replaying a history runs the workflow as a worker does (the same futures, timers and
//! contexts) and then drops it, as an eviction or the end of a run does. Replaying the happy
//! path many times must not grow the heap: with the SDK's `ctx.timer`, a deadline dropped while
//! pending (the pickup won the `select!`) stayed registered on the workflow's cancellation
//! token, and that registration kept the whole workflow context alive until the worker process
//! ended (5.9 KB per replayed delivery here, about 14 KB per delivery on a running worker).
//!
//! Its own test binary: the heap is counted by the global allocator (`dhat`).

use std::path::PathBuf;

use temporalio_client::WorkflowHistory;
use temporalio_sdk::workflow_replayer::{WorkflowReplayer, WorkflowReplayerOptions};
use workflows::DeliveryWorkflow;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// Replays of the happy path measured.
const REPLAYS: usize = 40;

fn happy() -> WorkflowHistory {
    // Recorded before payloads were encrypted: it replays without a key.
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/histories/happy.json");
    let json = std::fs::read(&path).expect("read the committed happy history");
    WorkflowHistory::from_json(&json).expect("parse the happy history")
}

/// Replays `replays` copies of the happy history on one replay worker, as one worker runs many
/// deliveries.
async fn replay(replays: usize) {
    let options = WorkflowReplayerOptions::new()
        .register_workflow::<DeliveryWorkflow>()
        .expect("register the workflow")
        .build();
    let results = WorkflowReplayer::new(options)
        .expect("replayer")
        .replay_workflows(std::iter::repeat_with(happy).take(replays))
        .await
        .expect("the replay worker runs");
    for result in results {
        assert!(result.replay_failure.is_none(), "the happy history replays");
    }
}

/// Heap bytes still allocated after `replays` replays on a replay worker of their own.
async fn left_by(replays: usize) -> usize {
    let before = dhat::HeapStats::get().curr_bytes;
    replay(replays).await;
    dhat::HeapStats::get().curr_bytes.saturating_sub(before)
}

#[tokio::test(flavor = "current_thread")]
async fn a_replayed_delivery_leaves_nothing_allocated() {
    let _profiler = dhat::Profiler::builder().testing().build();
    // The first replay sets up what lives for the process (the runtime's statics).
    replay(1).await;
    // What a replay worker itself leaves (not ours to fix) cancels out between the two runs.
    let one = left_by(1).await;
    let many = left_by(REPLAYS + 1).await;
    let per_delivery = many.saturating_sub(one) / REPLAYS;
    assert!(
        per_delivery < 1024,
        "each replayed delivery left {per_delivery} bytes allocated ({one} bytes after one \
         replay, {many} after {})",
        REPLAYS + 1
    );
}
