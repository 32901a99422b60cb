//! `delivery-api`: serves the HTTP API until SIGINT or SIGTERM, then finishes in-flight
//! requests; `delivery-api migrate` brings the delivery-list database's schema up to date and
//! exits. `delivery-api --help` lists every setting.

use anyhow::Context;
use api::{Command, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings: Settings = config::parse();
    let telemetry =
        workflows::observability::init_telemetry("delivery-api", "info", &settings.telemetry)
            .context("set up telemetry")?;
    let result = match settings.command {
        Some(Command::Migrate) => migrate(&settings).await,
        None => serve(settings).await,
    };
    telemetry.shutdown();
    result
}

async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    readmodel::ReadModel::migrate(&settings.readmodel.database_url)
        .await
        .context("migrate the delivery list database")?;
    tracing::info!("delivery list database migrated");
    Ok(())
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let shutdown = config::shutdown_signal().context("install signal handlers")?;
    let addr = settings.addr;
    let state = api::AppState::connect(settings)
        .await
        .context("connect to dependencies")?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("bind {addr}"))?;
    tracing::info!(addr = %listener.local_addr()?, "delivery api listening");
    if let Some(metrics) = state.metrics_addr() {
        tracing::info!("api metrics at http://{metrics}/metrics");
    }
    api::serve(listener, state, shutdown).await.context("serve")
}
