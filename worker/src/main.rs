//! `delivery-worker [--roles deliveries,payments,dispatch,projections]`: runs the worker roles
//! named by `--roles` (or `WORKER_ROLES`; all four by default) until SIGINT or SIGTERM.

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let telemetry = telemetry::Telemetry::init("delivery-worker", "info,temporalio_sdk_core=warn")
        .context("set up telemetry")?;
    let settings = worker::Settings::from_env().and_then(|mut settings| {
        let args: Vec<String> = std::env::args().skip(1).collect();
        match args.as_slice() {
            [] => {}
            [flag, roles] if flag == "--roles" => settings.roles = worker::parse_roles(roles)?,
            _ => {
                return Err(worker::SettingsError::Invalid {
                    name: "arguments",
                    reason: format!("expected `--roles <list>`, got {args:?}"),
                });
            }
        }
        Ok(settings)
    });
    let settings = match settings {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("delivery-worker: invalid setting: {e}");
            std::process::exit(2);
        }
    };
    let mut sigterm = signal(SignalKind::terminate()).context("install SIGTERM handler")?;
    let shutdown = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = sigterm.recv() => {}
        }
    };
    let result = worker::run(settings, shutdown)
        .await
        .context("worker failed");
    telemetry.shutdown();
    result
}
