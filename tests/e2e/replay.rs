//! The replay gate: histories of every path, recorded from real runs and committed under
//! `tests/histories/`, must replay against the current `DeliveryWorkflow`. A change that
//! breaks them would break deliveries already running in production: guard it with
//! `ctx.patched("...")` instead (see the README's versioning section).
//!
//! Re-record after an intended, patched change with
//! `RECORD_HISTORIES=1 cargo test -p e2e --test e2e replay::`.

use std::{path::PathBuf, time::Duration};

use e2e::{Stack, StackOptions, drive_to_completion, eventually};
use identity::Role;
use serde_json::json;
use temporalio_client::{Client, WorkflowCancelOptions, WorkflowExecutionStatus, WorkflowHistory};
use temporalio_sdk::workflow_replayer::{WorkflowReplayer, WorkflowReplayerOptions};
use workflows::{DeliveryWorkflow, names};

/// The paths whose histories are committed, for the current version and the previous
/// release (`v3-{path}.json`: its patch marker is not deprecated yet).
const PATHS: [&str; 5] = [
    "happy",
    "cancel",
    "deadline",
    "operator-cancel",
    "payment-fallback",
];

fn histories_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("histories")
}

fn replayer() -> WorkflowReplayer {
    let options = WorkflowReplayerOptions::new()
        .register_workflow::<DeliveryWorkflow>()
        .expect("register workflow")
        .build();
    WorkflowReplayer::new(options).expect("replayer")
}

async fn replay(name: &str, history: WorkflowHistory) {
    if let Err(e) = replayer().replay_workflow(history).await {
        panic!(
            "the {name} history no longer replays: {e}\n\
             This change would break deliveries already running. Keep the old behaviour for \
             them behind `ctx.patched(\"<change-id>\")` (see README, \"Changing the workflow safely\")."
        );
    }
}

/// Every committed history: the current paths (`{path}.json`) and those of the previous
/// release still running in production (`v3-{path}.json`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_histories_of_every_path_and_version_replay_on_the_current_workflow() {
    let mut files: Vec<_> = std::fs::read_dir(histories_dir())
        .expect("read tests/histories")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    for name in PATHS {
        for prefix in ["", "v3-"] {
            let expected = histories_dir().join(format!("{prefix}{name}.json"));
            assert!(
                files.contains(&expected),
                "missing committed history {}",
                expected.display()
            );
        }
    }
    for path in files {
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let history = WorkflowHistory::from_json(&bytes).expect("parse history");
        replay(&path.display().to_string(), history).await;
    }
}

async fn closed(client: &Client, id: &str) {
    let handle = client.get_workflow_handle::<DeliveryWorkflow>(names::workflow_id(id));
    eventually("the workflow to close", Duration::from_secs(20), || async {
        let d = handle.describe(Default::default()).await.ok()?;
        (d.status() != WorkflowExecutionStatus::Running).then_some(())
    })
    .await;
}

/// Runs each path for real, checks its fresh history replays, and with `RECORD_HISTORIES=1`
/// stores it as the new committed history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_histories_of_every_path_replay() {
    let stack = Stack::start(StackOptions {
        pickup_deadline_secs: Some(1),
        ..StackOptions::default()
    })
    .await;
    let patient = Stack::start(StackOptions::default()).await;
    let mut payment_down = Stack::start(StackOptions {
        payment_up: false,
        payment_wait: Duration::from_millis(300),
        ..StackOptions::default()
    })
    .await;

    // The same accounts as the histories always had: restaurant r-1, riders 1 to 3.
    let restaurant = patient.signed_in(Role::Restaurant, "r-1").await;
    let rider_1 = patient.signed_in(Role::Rider, "rider-1").await;
    let rider_2 = patient.signed_in(Role::Rider, "rider-2").await;
    let deadline_restaurant = stack.signed_in(Role::Restaurant, "r-1").await;
    let fallback_restaurant = payment_down.signed_in(Role::Restaurant, "r-1").await;
    let fallback_rider = payment_down.signed_in(Role::Rider, "rider-3").await;

    // Payment down: the local registration gives up and the remote activity takes over.
    let (status, body) = fallback_restaurant
        .post("/deliveries", json!({"destination": "Busan", "cost": 7000}))
        .await;
    assert_eq!(status, 202, "{body}");
    let fallback = body["deliveryId"].as_str().expect("deliveryId").to_owned();
    let handle = payment_down
        .temporal
        .get_workflow_handle::<DeliveryWorkflow>(names::workflow_id(&fallback));
    eventually(
        "the remote registration to be retrying",
        Duration::from_secs(20),
        || async {
            let description = handle.describe(Default::default()).await.ok()?;
            let activity = description.raw().pending_activities.first()?.clone();
            (activity.attempt >= 2).then_some(())
        },
    )
    .await;
    payment_down.start_payment().await;
    drive_to_completion(&fallback_rider, &fallback, Duration::from_secs(30)).await;

    let happy = restaurant.call_rider(20000).await;
    assert_eq!(
        rider_1
            .post(&format!("/deliveries/{happy}/pickup"), json!({}))
            .await
            .0,
        200
    );
    assert_eq!(
        rider_1
            .post(&format!("/deliveries/{happy}/complete"), json!({}))
            .await
            .0,
        200
    );

    let cancel = restaurant.call_rider(10000).await;
    assert_eq!(
        restaurant
            .post(
                &format!("/deliveries/{cancel}/cancel"),
                json!({"reason": "changed mind"})
            )
            .await
            .0,
        200
    );

    let deadline = deadline_restaurant.call_rider(5000).await;

    let operator = restaurant.call_rider(3000).await;
    assert_eq!(
        rider_2
            .post(&format!("/deliveries/{operator}/pickup"), json!({}))
            .await
            .0,
        200
    );
    patient
        .temporal
        .get_workflow_handle::<DeliveryWorkflow>(names::workflow_id(&operator))
        .cancel(WorkflowCancelOptions::builder().reason("operator").build())
        .await
        .expect("cancel");

    let runs = [
        ("happy", &happy),
        ("cancel", &cancel),
        ("deadline", &deadline),
        ("operator-cancel", &operator),
        ("payment-fallback", &fallback),
    ];
    for (name, id) in runs {
        closed(&patient.temporal, id).await;
        let handle = patient
            .temporal
            .get_workflow_handle::<DeliveryWorkflow>(names::workflow_id(id));
        let json = handle
            .fetch_history(Default::default())
            .to_json()
            .await
            .expect("history as json");
        // The figure the README's performance section quotes per path.
        let events = serde_json::from_slice::<serde_json::Value>(&json).expect("json")["events"]
            .as_array()
            .map_or(0, Vec::len);
        eprintln!("{name}: {events} history events");
        if std::env::var_os("RECORD_HISTORIES").is_some() {
            std::fs::write(histories_dir().join(format!("{name}.json")), &json)
                .expect("write history");
        }
        replay(name, WorkflowHistory::from_json(&json).expect("parse")).await;
    }
}
