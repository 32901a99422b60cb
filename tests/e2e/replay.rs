//! The replay gate: histories of every path, recorded from real runs and committed under
//! `tests/histories/`, must replay against the current `DeliveryWorkflow`. A change that
//! breaks them would break deliveries already running in production: guard it with
//! `ctx.patched("...")` instead (see the README's versioning section).
//!
//! Re-record after an intended, patched change with
//! `RECORD_HISTORIES=1 cargo test -p e2e --test e2e replay::`.
//!
//! Payloads are encrypted (`codec`): the current histories (`encrypted-{path}.json`) and the
//! previous release's (`v4-{path}.json`) were recorded with the suite's committed test key
//! (`tests/codec-keys/`), which the replayer decrypts them with; those the previous release
//! recorded before encryption (`{path}.json`) are plaintext and replay through the same codec,
//! which passes plaintext through, as a deployed worker does with executions started before
//! encryption was turned on.

use std::{path::PathBuf, time::Duration};

use codec::EncryptionCodec;
use e2e::{Stack, StackOptions, drive_to_completion, eventually, view_when};
use identity::Role;
use serde_json::json;
use temporalio_client::{Client, WorkflowCancelOptions, WorkflowExecutionStatus, WorkflowHistory};
use temporalio_sdk::workflow_replayer::{WorkflowReplayer, WorkflowReplayerOptions};
use workflows::{DeliveryWorkflow, InvoiceRunWorkflow, PayoutRunWorkflow, names};

use crate::encryption::readable_anywhere;

/// The paths whose histories are committed, for the current version (`encrypted-{path}.json`)
/// and for the previous release (v4: `v4-{path}.json`, and `{path}.json` from before
/// encryption), whose executions carry the deprecated marker of a patch the current version
/// no longer asks for.
const PATHS: [&str; 5] = [
    "happy",
    "cancel",
    "deadline",
    "operator-cancel",
    "payment-fallback",
];

/// The paths of dispatch v2, committed for the current version and the previous release
/// (`v4-`) only: no earlier release had them.
const DISPATCH_PATHS: [&str; 6] = [
    "reassign-called",
    "reassign-picked",
    "failed-settle",
    "failed-other",
    "offer-accepted",
    "offer-unassigned",
];

/// The money runs' paths (`crate::money` records them), committed as recorded.
pub(crate) const MONEY_PATHS: [&str; 2] = ["payout-run", "invoice-run"];

/// Checks that a fresh history of `path` replays, and with `RECORD_HISTORIES=1` writes it as
/// the committed one.
pub(crate) async fn replay_and_record(path: &str, json: &[u8]) {
    if std::env::var_os("RECORD_HISTORIES").is_some() {
        std::fs::write(
            histories_dir().join(format!("{RECORDED_AS}{path}.json")),
            json,
        )
        .expect("write history");
    }
    replay(path, WorkflowHistory::from_json(json).expect("parse")).await;
}

fn histories_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("histories")
}

/// The prefixes of the committed histories' file names (see [`PATHS`]).
const VERSIONS: [&str; 3] = ["encrypted-", "", PREVIOUS_RELEASE];
/// The prefix of the previous release's histories (see [`PATHS`] and [`DISPATCH_PATHS`]).
const PREVIOUS_RELEASE: &str = "v4-";
/// What fresh histories are recorded as: encrypted, since every process encrypts.
const RECORDED_AS: &str = "encrypted-";

/// A replayer of the current workflow whose data converter has `codec`'s keys, as a worker's.
fn replayer_with(codec: &EncryptionCodec) -> WorkflowReplayer {
    let options = WorkflowReplayerOptions::new()
        .register_workflow::<DeliveryWorkflow>()
        .expect("register workflow")
        .register_workflow::<PayoutRunWorkflow>()
        .expect("register workflow")
        .register_workflow::<InvoiceRunWorkflow>()
        .expect("register workflow")
        .data_converter(codec.data_converter())
        .build();
    WorkflowReplayer::new(options).expect("replayer")
}

/// The suite's keys: the committed test key every stack encrypts with.
fn test_codec() -> EncryptionCodec {
    e2e::temporal_server::codec_keys()
        .load()
        .expect("the committed test key")
}

async fn replay(name: &str, history: WorkflowHistory) {
    if let Err(e) = replayer_with(&test_codec()).replay_workflow(history).await {
        panic!(
            "the {name} history no longer replays: {e}\n\
             This change would break deliveries already running. Keep the old behaviour for \
             them behind `ctx.patched(\"<change-id>\")` (see README, \"Changing the workflow safely\")."
        );
    }
}

/// Every committed history: the current paths and those of the previous release still
/// running in production (see [`PATHS`]).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_histories_of_every_path_and_version_replay_on_the_current_workflow() {
    let mut files: Vec<_> = std::fs::read_dir(histories_dir())
        .expect("read tests/histories")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    for name in PATHS {
        for prefix in VERSIONS {
            let expected = histories_dir().join(format!("{prefix}{name}.json"));
            assert!(
                files.contains(&expected),
                "missing committed history {}",
                expected.display()
            );
        }
    }
    let dispatch = DISPATCH_PATHS
        .into_iter()
        .flat_map(|name| [RECORDED_AS, PREVIOUS_RELEASE].map(|prefix| format!("{prefix}{name}")));
    let money = MONEY_PATHS.map(|name| format!("{RECORDED_AS}{name}"));
    for name in dispatch.chain(money) {
        let expected = histories_dir().join(format!("{name}.json"));
        assert!(
            files.contains(&expected),
            "missing committed history {}",
            expected.display()
        );
    }
    for path in files {
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let history = WorkflowHistory::from_json(&bytes).expect("parse history");
        replay(&path.display().to_string(), history).await;
    }
}

/// The encrypted histories are encrypted (no destination in them), and it is the key that
/// makes them replay: a worker with another key cannot read them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_histories_hold_no_destination_and_replay_only_with_their_key() {
    for name in PATHS.into_iter().chain(DISPATCH_PATHS) {
        let path = histories_dir().join(format!("{RECORDED_AS}{name}.json"));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let json: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        for destination in ["Seoul", "Busan", "Gangnam"] {
            assert!(
                !readable_anywhere(&json, destination),
                "{} shows {destination:?}",
                path.display()
            );
        }
        assert!(
            readable_anywhere(&json, codec::ENCODING),
            "{} holds no encrypted payload",
            path.display()
        );
    }
    let happy = std::fs::read(histories_dir().join(format!("{RECORDED_AS}happy.json")))
        .expect("read the encrypted happy history");
    let other_key =
        EncryptionCodec::from_keys([("e2e-test-1", [7u8; 32])], "e2e-test-1").expect("a codec");
    let refused = replayer_with(&other_key)
        .replay_workflow(WorkflowHistory::from_json(&happy).expect("parse"))
        .await;
    assert!(
        refused.is_err(),
        "an encrypted history replayed without its key"
    );
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
    let operator_1 = patient.signed_in(Role::Operator, "op-1").await;
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

    // Dispatch v2: an operator assigns an open call, or moves a picked-up one; a rider
    // cannot deliver, for a reason that settles or for one an operator decides.
    let ok = |(status, body): (u16, serde_json::Value)| assert_eq!(status, 200, "{body}");
    let reassign_called = restaurant.call_rider(4000).await;
    let path = |id: &str, step: &str| format!("/deliveries/{id}/{step}");
    ok(operator_1
        .post(
            &path(&reassign_called, "reassign"),
            json!({"riderId": "rider-1"}),
        )
        .await);
    ok(rider_1
        .post(&path(&reassign_called, "pickup"), json!({}))
        .await);
    ok(rider_1
        .post(&path(&reassign_called, "complete"), json!({}))
        .await);

    let reassign_picked = restaurant.call_rider(4500).await;
    ok(rider_1
        .post(&path(&reassign_picked, "pickup"), json!({}))
        .await);
    ok(operator_1
        .post(
            &path(&reassign_picked, "reassign"),
            json!({"riderId": "rider-2", "reason": "flat tyre"}),
        )
        .await);
    ok(rider_2
        .post(&path(&reassign_picked, "complete"), json!({}))
        .await);

    let failed_settle = restaurant.call_rider(5500).await;
    ok(rider_1
        .post(&path(&failed_settle, "pickup"), json!({}))
        .await);
    ok(rider_1
        .post(
            &path(&failed_settle, "fail"),
            json!({"reason": "customer_unreachable"}),
        )
        .await);

    let failed_other = restaurant.call_rider(6500).await;
    ok(rider_1
        .post(&path(&failed_other, "pickup"), json!({}))
        .await);
    ok(rider_1
        .post(&path(&failed_other, "fail"), json!({"reason": "other"}))
        .await);
    eventually(
        "the operator's attention",
        Duration::from_secs(20),
        || async {
            let (_, view) = operator_1.get(&format!("/deliveries/{failed_other}")).await;
            (!view["attention"].is_null()).then_some(())
        },
    )
    .await;
    ok(operator_1
        .post(&path(&failed_other, "resolve"), json!({"outcome": "void"}))
        .await);

    // Offer mode: declined, lapsed, then accepted; and offers that found nobody.
    let offers = Stack::start(StackOptions {
        offer_timeout_secs: Some(1),
        offer_rounds: Some(3),
        ..StackOptions::default()
    })
    .await;
    let offering = offers.restaurant_in_offer_mode("r-1").await;
    let mut offered_riders = Vec::new();
    for id in ["rider-1", "rider-2", "rider-3"] {
        offered_riders.push(offers.signed_in(Role::Rider, id).await);
    }
    let offer_accepted = offering.call_rider(7500).await;
    let offered_to = |rider: &e2e::ApiClient, id: String| {
        let rider = rider.clone();
        async move {
            eventually("the offer", Duration::from_secs(20), || async {
                let (_, calls) = rider.get("/rider/calls").await;
                calls
                    .as_array()?
                    .iter()
                    .any(|card| card["deliveryId"] == id.as_str() && card["kind"] == "offer")
                    .then_some(())
            })
            .await;
        }
    };
    offered_to(&offered_riders[0], offer_accepted.clone()).await;
    ok(offered_riders[0]
        .post(&path(&offer_accepted, "decline"), json!({}))
        .await);
    offered_to(&offered_riders[1], offer_accepted.clone()).await;
    // rider-2 lets it lapse.
    offered_to(&offered_riders[2], offer_accepted.clone()).await;
    for step in ["accept", "pickup", "complete"] {
        ok(offered_riders[2]
            .post(&path(&offer_accepted, step), json!({}))
            .await);
    }
    for rider in &offered_riders {
        ok(rider
            .put("/rider/availability", json!({"online": false}))
            .await);
    }
    let offer_unassigned = offering.call_rider(8500).await;
    view_when(&offered_riders[0], &offer_unassigned, "the fallback", |v| {
        v["dispatch"]["unassigned"] == true
    })
    .await;
    ok(offered_riders[0]
        .put("/rider/availability", json!({"online": true}))
        .await);
    for step in ["pickup", "complete"] {
        ok(offered_riders[0]
            .post(&path(&offer_unassigned, step), json!({}))
            .await);
    }

    let runs = [
        ("happy", &happy),
        ("cancel", &cancel),
        ("deadline", &deadline),
        ("operator-cancel", &operator),
        ("payment-fallback", &fallback),
        ("reassign-called", &reassign_called),
        ("reassign-picked", &reassign_picked),
        ("failed-settle", &failed_settle),
        ("failed-other", &failed_other),
        ("offer-accepted", &offer_accepted),
        ("offer-unassigned", &offer_unassigned),
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
        let value: serde_json::Value = serde_json::from_slice(&json).expect("json");
        for destination in ["Seoul", "Busan"] {
            assert!(
                !readable_anywhere(&value, destination),
                "the fresh {name} history shows {destination:?}"
            );
        }
        if std::env::var_os("RECORD_HISTORIES").is_some() {
            std::fs::write(
                histories_dir().join(format!("{RECORDED_AS}{name}.json")),
                &json,
            )
            .expect("write history");
        }
        replay(name, WorkflowHistory::from_json(&json).expect("parse")).await;
    }
}
