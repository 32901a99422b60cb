//! `delivery-worker`: runs the worker roles named in `WORKER_ROLES` until SIGINT or SIGTERM.

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_ansi(std::io::stdout().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,temporalio_sdk_core=warn".into()),
        )
        .init();
    let settings = match worker::Settings::from_env() {
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
    worker::run(settings, shutdown)
        .await
        .context("worker failed")
}
