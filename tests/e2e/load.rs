//! A brief run of the load generator in each mode (a smoke test, not a timed assertion). The
//! stack has an operator account, `ops-load`, that loadgen signs in as to make the restaurants
//! and riders it acts as.

use std::time::Duration;

use e2e::{Stack, StackOptions};
use loadgen::{Credentials, Dispatch, Load, Plan, ceiling, park::ParkPlan, reads::Reads};

/// A stack with the operator account loadgen signs in as, and that account's credentials.
async fn stack_with_operator() -> (Stack, Credentials) {
    let stack = Stack::start(StackOptions::default()).await;
    e2e::stack::create_account(
        &stack.readmodel_database_url,
        identity::Role::Operator,
        "ops-load",
    )
    .await;
    (stack, Credentials::new("ops-load", "test-ops-load"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_load_generator_drives_deliveries_to_settlement_in_both_modes() {
    let (stack, operator) = stack_with_operator().await;
    let me = vec![("e2e".to_owned(), std::process::id())];
    // The second run finds its accounts made by the first, and takes them over.
    for load in [Load::Concurrency(3), Load::Rate(10.0)] {
        let plan = Plan {
            api: stack.api_client.base.clone(),
            deliveries: 6,
            load,
            dispatch: Dispatch::Broadcast,
            timeout: Duration::from_secs(60),
            operator: operator.clone(),
        };
        let report = loadgen::run(&plan, &me).await.expect("load run");
        assert_eq!(report.completed, 6, "{report}");
        assert!(report.errors.is_empty(), "{report}");
        for step in ["call", "pickup", "complete", "call_to_settled"] {
            assert_eq!(report.latency_ms[step].count, 6, "{step}: {report}");
        }
        assert!(report.deliveries_per_second > 0.0);
        assert!(
            report.processes[0].peak_rss_mb > 0.0 && report.processes[0].cpu_seconds > 0.0,
            "{report}"
        );
    }
    // The deliveries are the signed-in restaurants' and riders'.
    let ops = stack
        .api_client
        .signed_in("ops-load", "test-ops-load")
        .await;
    let (status, rows) = ops.get("/delivery-list?restaurantId=load-0").await;
    assert_eq!(status, 200, "{rows}");
    let rows = rows["items"].as_array().expect("rows");
    assert_eq!(rows.len(), 2, "delivery 0 of each run: {rows:?}");
    assert!(
        rows.iter()
            .all(|r| r["status"] == "Completed" && r["riderId"] == "load-rider-0"),
        "{rows:?}"
    );

    // Reads beside the load, drawn from the deliveries the runs above made.
    let plan = Plan {
        api: stack.api_client.base.clone(),
        deliveries: 4,
        load: Load::Rate(4.0),
        dispatch: Dispatch::Broadcast,
        timeout: Duration::from_secs(60),
        operator: operator.clone(),
    };
    let reads = Reads {
        per_second: 20.0,
        pool: 100,
    };
    let report = loadgen::run_reading(&plan, Some(reads), &me)
        .await
        .expect("load run with reads");
    assert_eq!(report.completed, 4, "{report}");
    assert!(report.errors.is_empty(), "{report}");
    let read = report.latency_ms["read"].count;
    assert!(read >= 10, "about a second at 20/s: {report}");
    assert_eq!(report.answers.get("read 200"), Some(&read), "{report}");

    // Without the operator's secret, nothing runs.
    let plan = Plan {
        api: stack.api_client.base.clone(),
        deliveries: 1,
        load: Load::Concurrency(1),
        dispatch: Dispatch::Broadcast,
        timeout: Duration::from_secs(10),
        operator: Credentials::new("ops-load", "wrong"),
    };
    let refused = loadgen::run(&plan, &me)
        .await
        .expect_err("a wrong operator secret");
    assert!(format!("{refused:#}").contains("ops-load"), "{refused:#}");
}

/// Offer mode: the restaurants offer each call to one rider at a time, and the rider offered
/// accepts, picks up and completes; every delivery goes through its offer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_load_generator_accepts_offers_in_offer_mode() {
    let (stack, operator) = stack_with_operator().await;
    let me = vec![("e2e".to_owned(), std::process::id())];
    let plan = Plan {
        api: stack.api_client.base.clone(),
        deliveries: 6,
        load: Load::Concurrency(3),
        dispatch: Dispatch::Offer,
        timeout: Duration::from_secs(60),
        operator,
    };
    let report = loadgen::run(&plan, &me).await.expect("offer-mode run");
    assert_eq!(report.completed, 6, "{report}");
    assert!(report.errors.is_empty(), "{report}");
    for step in ["call", "accept", "pickup", "complete", "call_to_settled"] {
        assert_eq!(report.latency_ms[step].count, 6, "{step}: {report}");
    }
    assert!(report.mode.contains("offer"), "{report}");
    // The calls were offers, each taken by the rider it was offered to.
    let ops = stack
        .api_client
        .signed_in("ops-load", "test-ops-load")
        .await;
    let (status, rows) = ops.get("/delivery-list?restaurantId=load-offer-0").await;
    assert_eq!(status, 200, "{rows}");
    let id = rows["items"][0]["deliveryId"].as_str().expect("a delivery");
    let (status, view) = ops.get(&format!("/deliveries/{id}")).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["status"], "Completed", "{view}");
    assert_eq!(view["dispatch"]["mode"], "offer", "{view}");
    assert_eq!(view["assignments"][0]["riderId"], view["riderId"], "{view}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ceiling_mode_runs_a_no_op_delivery_of_the_same_shape_and_states_our_fraction_of_it() {
    let (stack, operator) = stack_with_operator().await;
    let me = vec![("e2e".to_owned(), std::process::id())];
    let server = ceiling::Server {
        address: stack.temporal_address.clone(),
        namespace: "default".into(),
        codec: e2e::temporal_server::codec_keys(),
    };
    for load in [Load::Concurrency(3), Load::Rate(10.0)] {
        let plan = Plan {
            api: stack.api_client.base.clone(),
            deliveries: 5,
            load,
            dispatch: Dispatch::Broadcast,
            timeout: Duration::from_secs(20),
            operator: operator.clone(),
        };
        let ours = loadgen::run(&plan, &me).await.expect("load run");
        assert_eq!(ours.completed, 5, "{ours}");
        let limit = ceiling::run(&plan, &server, &me)
            .await
            .expect("ceiling run (worker started, drove, and stopped)");
        assert_eq!(limit.completed, 5, "{limit}");
        assert!(limit.errors.is_empty(), "{limit}");
        for step in ["start", "pickup", "complete", "start_to_done"] {
            assert_eq!(limit.latency_ms[step].count, 5, "{step}: {limit}");
        }
        assert!(limit.mode.starts_with("ceiling"), "{limit}");

        let report = ours.with_ceiling(limit);
        let fraction = report
            .ceiling
            .as_ref()
            .and_then(|c| c.fraction_of_ceiling)
            .expect("a fraction of the ceiling");
        assert!(fraction.is_finite() && fraction > 0.0, "{report}");
        let json = serde_json::to_value(&report).expect("report as JSON");
        assert_eq!(
            json["ceiling"]["fraction_of_ceiling"].as_f64(),
            Some(fraction)
        );
        assert_eq!(json["ceiling"]["completed"], 5, "{json}");
        assert!(
            json["ceiling"]["latency_ms"]["start_to_done"]["p99"].as_f64() > Some(0.0),
            "{json}"
        );
        assert!(
            report.to_string().contains("fraction of ceiling"),
            "{report}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_park_mode_parks_calls_nobody_picks_up_and_compares_probes_before_and_after() {
    let (stack, operator) = stack_with_operator().await;
    let me = vec![("e2e".to_owned(), std::process::id())];
    let plan = ParkPlan {
        api: stack.api_client.base.clone(),
        parked: 20,
        concurrency: 5,
        probes: 3,
        settle: Duration::ZERO,
        timeout: Duration::from_secs(60),
        operator,
    };
    let report = loadgen::park::run(&plan, &me).await.expect("park run");

    assert_eq!((report.requested, report.parked), (20, 20), "{report}");
    assert!(report.parking_errors.is_empty(), "{report}");
    assert!(report.parking_calls_per_second > 0.0, "{report}");
    assert_eq!(
        report.phases.parking.latency_ms["call"].count, 20,
        "{report}"
    );
    assert_eq!(report.probe_failures, 0, "{report}");
    for probe in [&report.idle_probe_ms, &report.loaded_probe_ms] {
        assert_eq!(probe.count, 3, "{report}");
        assert!(probe.p50 > 0.0, "{report}");
    }
    for ratio in [report.p50_ratio, report.p95_ratio] {
        let ratio = ratio.expect("a loaded ÷ idle ratio");
        assert!(ratio.is_finite() && ratio > 0.0, "{report}");
    }
    // Nobody picked the parked calls up: every sampled one is still open.
    assert_eq!(
        report.parked_sample,
        [("Called".to_owned(), 10)].into(),
        "{report}"
    );
    let me = &report.processes[0];
    assert!(
        me.rss_mb > 0.0 && me.peak_rss_mb >= me.rss_mb && me.idle_rss_mb > 0.0,
        "{report}"
    );

    let json = serde_json::to_value(&report).expect("report as JSON");
    assert_eq!(json["parked"], 20, "{json}");
    assert_eq!(json["p50_ratio"].as_f64(), report.p50_ratio, "{json}");
    assert!(
        json["processes"][0]["rss_mb"].as_f64() > Some(0.0),
        "{json}"
    );
    assert_eq!(json["phases"]["loaded_probe"]["completed"], 3, "{json}");
    assert!(report.to_string().contains("loaded ÷ idle"), "{report}");
}
