//! A brief run of the load generator in both modes (a smoke test, not a timed assertion).

use std::time::Duration;

use e2e::{Stack, StackOptions};
use loadgen::{Load, Plan};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_load_generator_drives_deliveries_to_settlement_in_both_modes() {
    let stack = Stack::start(StackOptions::default()).await;
    let me = vec![("e2e".to_owned(), std::process::id())];
    for load in [Load::Concurrency(3), Load::Rate(10.0)] {
        let plan = Plan {
            api: stack.api_client.base.clone(),
            deliveries: 6,
            load,
            timeout: Duration::from_secs(60),
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
}
