//! `loadgen [--api URL] [--deliveries N] [--concurrency C | --rate R] [--json FILE]
//!          [--ceiling | --ceiling-only] [--temporal ADDRESS]`
//!
//! Drives the full flow against a running stack (e.g. `./infra/run.sh`) and prints the report;
//! the stack's processes are found by name to measure their CPU and peak RSS.
//!
//! `--ceiling` then runs the same number of deliveries under the same load against a no-op
//! workflow of the same shape (start, update `pickup`, update `complete`, result) served by a
//! worker inside loadgen, on the same Temporal server, and adds a `ceiling` section to the
//! report: its deliveries/s and latencies, and `fraction_of_ceiling` (ours ÷ its).
//! `--ceiling-only` measures the server alone, without the HTTP run. The Temporal server is
//! `--temporal` (default `TEMPORAL_ADDRESS`, else `127.0.0.1:7233`), namespace
//! `TEMPORAL_NAMESPACE` (else `default`). Under `--rate` both runs are offered the same rate,
//! so the fraction says whether we keep up with it; the server's limit itself is what
//! `--concurrency` measures. Exits 1 when a run left deliveries unfinished.

use std::time::Duration;

use anyhow::{Context, bail};
use loadgen::{Load, Plan, ceiling};

/// Which runs to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Runs {
    Http,
    HttpThenCeiling,
    CeilingOnly,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut plan = Plan {
        api: "http://127.0.0.1:8080".into(),
        deliveries: 200,
        load: Load::Concurrency(20),
        timeout: Duration::from_secs(120),
    };
    let mut server = ceiling::Server::from_env();
    let mut runs = Runs::Http;
    let mut json_out = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--api" => plan.api = value()?,
            "--deliveries" => plan.deliveries = value()?.parse().context("--deliveries")?,
            "--concurrency" => {
                plan.load = Load::Concurrency(value()?.parse().context("--concurrency")?)
            }
            "--rate" => plan.load = Load::Rate(value()?.parse().context("--rate")?),
            "--json" => json_out = Some(value()?),
            "--ceiling" => runs = Runs::HttpThenCeiling,
            "--ceiling-only" => runs = Runs::CeilingOnly,
            "--temporal" => server.address = value()?,
            other => bail!("unknown argument {other}; see the usage in loadgen/src/main.rs"),
        }
    }
    let stack = loadgen::find_stack_processes();
    // The ceiling's worker and client live in this process: its CPU is part of the ceiling.
    let with_me = || {
        let mut watch = stack.clone();
        watch.push(("loadgen".to_owned(), std::process::id()));
        watch
    };
    let measure_ceiling = || async {
        ceiling::run(&plan, &server, &with_me())
            .await
            .with_context(|| format!("ceiling run against Temporal at {}", server.address))
    };
    let report = match runs {
        Runs::Http => loadgen::run(&plan, &stack).await?,
        Runs::HttpThenCeiling => {
            let ours = loadgen::run(&plan, &stack).await?;
            ours.with_ceiling(measure_ceiling().await?)
        }
        Runs::CeilingOnly => measure_ceiling().await?,
    };
    print!("{report}");
    if let Some(path) = json_out {
        std::fs::write(&path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("write {path}"))?;
    }
    let unfinished = |r: &loadgen::Report| r.completed < r.deliveries;
    if unfinished(&report) || report.ceiling.as_ref().is_some_and(|c| unfinished(&c.run)) {
        std::process::exit(1);
    }
    Ok(())
}
