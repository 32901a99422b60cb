//! `delivery-api`: serves the HTTP API until SIGINT or SIGTERM, then finishes in-flight requests.

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let telemetry =
        telemetry::Telemetry::init("delivery-api", "info").context("set up telemetry")?;
    let settings = match api::Settings::from_env() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("delivery-api: invalid setting: {e}");
            std::process::exit(2);
        }
    };
    let addr = settings.addr;
    let state = api::AppState::connect(settings)
        .await
        .context("connect to dependencies")?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("bind {addr}"))?;
    tracing::info!(addr = %listener.local_addr()?, "delivery api listening");
    let mut sigterm = signal(SignalKind::terminate()).context("install SIGTERM handler")?;
    let shutdown = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = sigterm.recv() => {}
        }
        tracing::info!("shutting down: finishing in-flight requests");
    };
    if let Some(metrics) = state.metrics_addr() {
        tracing::info!("api metrics at http://{metrics}/metrics");
    }
    let served = api::serve(listener, state, shutdown).await.context("serve");
    telemetry.shutdown();
    served
}
