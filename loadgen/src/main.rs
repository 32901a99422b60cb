//! `loadgen [--api URL] [--deliveries N] [--concurrency C | --rate R] [--json FILE]`
//!
//! Drives the full flow against a running stack (e.g. `./infra/run.sh`) and prints the report;
//! the stack's processes are found by name to measure their CPU and peak RSS.

use std::time::Duration;

use anyhow::{Context, bail};
use loadgen::{Load, Plan};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut plan = Plan {
        api: "http://127.0.0.1:8080".into(),
        deliveries: 200,
        load: Load::Concurrency(20),
        timeout: Duration::from_secs(120),
    };
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
            other => bail!("unknown argument {other}; see the usage in loadgen/src/main.rs"),
        }
    }
    let report = loadgen::run(&plan, &loadgen::find_stack_processes()).await?;
    print!("{report}");
    if let Some(path) = json_out {
        std::fs::write(&path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("write {path}"))?;
    }
    if report.completed < report.deliveries {
        std::process::exit(1);
    }
    Ok(())
}
