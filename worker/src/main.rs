//! `delivery-worker [--roles deliveries,payments,dispatch,projections]`: runs the worker roles
//! named by `--roles` (or `WORKER_ROLES`; all four by default) until SIGINT or SIGTERM.
//! `delivery-worker --help` lists every setting.

use anyhow::Context;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings: worker::Settings = config::parse();
    let telemetry = workflows::observability::init_telemetry(
        "delivery-worker",
        "info,temporalio_sdk_core=warn",
        &settings.telemetry,
    )
    .context("set up telemetry")?;
    let shutdown = config::shutdown_signal().context("install signal handlers")?;
    let result = worker::run(settings, shutdown)
        .await
        .context("worker failed");
    telemetry.shutdown();
    result
}
