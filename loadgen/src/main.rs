//! `loadgen --help` lists every setting (each also a `LOADGEN_*` variable).
//!
//! `loadgen [--api URL] [--operator ID --operator-secret SECRET] [--deliveries N]
//!          [--concurrency C | --rate R] [--json FILE] [--ceiling | --ceiling-only]
//!          [--temporal ADDRESS]`
//! `--reads R [--read-pool N]` reads deliveries meanwhile: `GET /deliveries/{id}` at R a
//! second, each as its restaurant, drawn at random from the N (default 10,000) newest
//! deliveries of the run's restaurants, listed before the measured part (make them with an
//! earlier run); the report gains step `read` (answers 200), and other answers count as errors.
//!
//! `loadgen --park N [--park-concurrency C] [--probe K] [--park-settle SECONDS] [--api URL]
//!          [--operator ID --operator-secret SECRET] [--json FILE]`
//!
//! Drives the full flow against a running stack (e.g. `./infra/run.sh`) and prints the report;
//! the stack's processes are found by name to measure their CPU and resident memory.
//!
//! Every request is signed in. Before a run (and outside its measured time) loadgen signs in as
//! the operator (`--operator`, default the local run's demo operator `ops-1`), makes the
//! restaurant and rider accounts it acts as (`load-<i % 50>`, `load-rider-<i % 100>`; for `--park`
//! also `probe-<n>`, `probe-warm-up` and `park-<n % 50>`), rotating the secret of any that
//! exists already, and signs each one in.
//!
//! `--ceiling` then runs the same number of deliveries under the same load against a no-op
//! workflow of the same shape (start, update `pickup`, update `complete`, result) served by a
//! worker inside loadgen, on the same Temporal server, and adds a `ceiling` section to the
//! report: its deliveries/s and latencies, and `fraction_of_ceiling` (ours ÷ its).
//! `--ceiling-only` measures the server alone, without the HTTP run. The Temporal server is
//! Temporal's standard client configuration (`TEMPORAL_ADDRESS`, a `temporal.toml` profile, …;
//! else `127.0.0.1:7233`), or `--temporal-address` (alias `--temporal`). Under `--rate` both
//! runs are offered the same rate, so the fraction says whether we keep up with it; the
//! server's limit itself is what `--concurrency` measures. Exits 1 when a run left deliveries unfinished.
//!
//! `--park N` measures parked deliveries instead: after one unmeasured warm-up delivery, K
//! probe deliveries (default 20) end to end one after another on the idle stack; then N calls
//! that nobody picks up (`POST /deliveries` only, restaurants `park-<n % 50>`, C at a time,
//! default 50); a pause of `--park-settle` seconds (default 5) for the last calls' workflow
//! tasks; then K probes again. The report gives the parking time and calls/s, the probes'
//! call → settled percentiles and the ratio loaded ÷ idle at p50 and p95, and per process its
//! resident memory before and after parking, peak, CPU seconds while parking and KiB per
//! parked delivery; then the delivery-list status of ten parked deliveries. The parked
//! deliveries stay open until the API's pickup deadline (`DELIVERY_PICKUP_DEADLINE_SECS`,
//! default 30 minutes) cancels them: raise it above the parking time for a large N. Exits 1
//! when a probe delivery did not settle.
//!
//! `loadgen [--api URL] [--operator ID --operator-secret SECRET] [--json FILE] soak [--rate R]
//!          [--duration 10m] [--kill-every 30s] [--kill PART,...] [--seed N] [--data-dir DIR]`
//! drives deliveries at a fixed rate against `./infra/run.sh`'s stack while a part of it (the
//! Temporal dev server, the payment service, the worker, the API) is SIGKILLed at random every
//! interval, then waits for every delivery to settle and runs `delivery-check`; it prints the
//! figures and exits 1 on a lost delivery or a checker mismatch (see [`loadgen::soak`]).

use std::time::Duration;

use anyhow::Context;
use loadgen::{
    Command, Credentials, Load, Plan, Settings, ceiling, park::ParkPlan, reads::Reads, soak,
};

/// Which runs to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Runs {
    Http,
    HttpThenCeiling,
    CeilingOnly,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings: Settings = config::parse();
    if let Some(Command::Soak(soak_settings)) = &settings.command {
        let report = soak::run(&soak::SoakPlan::new(&settings, soak_settings)).await?;
        print!("{report}");
        if let Some(path) = &settings.json {
            std::fs::write(path, serde_json::to_vec_pretty(&report)?)
                .with_context(|| format!("write {}", path.display()))?;
        }
        if !report.passed() {
            std::process::exit(1);
        }
        return Ok(());
    }
    let plan = Plan {
        api: settings.api.clone(),
        deliveries: settings.deliveries,
        load: match settings.rate {
            Some(rate) => Load::Rate(rate),
            None => Load::Concurrency(settings.concurrency.unwrap_or(20)),
        },
        dispatch: settings.dispatch,
        timeout: Duration::from_secs(120),
        operator: Credentials::new(settings.operator.clone(), settings.operator_secret.clone()),
    };
    let runs = match (settings.ceiling, settings.ceiling_only) {
        (_, true) => Runs::CeilingOnly,
        (true, false) => Runs::HttpThenCeiling,
        (false, false) => Runs::Http,
    };
    let json_out = settings.json.clone();
    let stack = loadgen::find_stack_processes();
    if let Some(parked) = settings.park {
        let park = ParkPlan {
            api: plan.api.clone(),
            parked,
            concurrency: settings.park_concurrency,
            probes: settings.probe,
            settle: Duration::try_from_secs_f64(settings.park_settle).context("--park-settle")?,
            timeout: plan.timeout,
            operator: plan.operator.clone(),
        };
        let report = loadgen::park::run(&park, &stack).await?;
        print!("{report}");
        if let Some(path) = json_out {
            std::fs::write(&path, serde_json::to_vec_pretty(&report)?)
                .with_context(|| format!("write {}", path.display()))?;
        }
        if report.probe_failures > 0 {
            std::process::exit(1);
        }
        return Ok(());
    }
    let server = match runs {
        Runs::Http => None,
        _ => Some(ceiling::Server::from_settings(&settings.temporal)?),
    };
    // The ceiling's worker and client live in this process: its CPU is part of the ceiling.
    let with_me = || {
        let mut watch = stack.clone();
        watch.push(("loadgen".to_owned(), std::process::id()));
        watch
    };
    let measure_ceiling = || async {
        let server = server.as_ref().expect("a ceiling run has its server");
        ceiling::run(&plan, server, &with_me())
            .await
            .with_context(|| format!("ceiling run against Temporal at {}", server.address))
    };
    let reads = settings.reads.map(|per_second| Reads {
        per_second,
        pool: settings.read_pool,
    });
    let report = match runs {
        Runs::Http => loadgen::run_reading(&plan, reads, &stack).await?,
        Runs::HttpThenCeiling => {
            let ours = loadgen::run_reading(&plan, reads, &stack).await?;
            ours.with_ceiling(measure_ceiling().await?)
        }
        Runs::CeilingOnly => measure_ceiling().await?,
    };
    print!("{report}");
    if let Some(path) = json_out {
        std::fs::write(&path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("write {}", path.display()))?;
    }
    let unfinished = |r: &loadgen::Report| r.completed < r.deliveries;
    if unfinished(&report) || report.ceiling.as_ref().is_some_and(|c| unfinished(&c.run)) {
        std::process::exit(1);
    }
    Ok(())
}
