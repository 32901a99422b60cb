//! `payment-service`: runs the payment gRPC server until SIGINT or SIGTERM;
//! `payment-service migrate` brings the ledger's schema up to date and exits.

use std::process::ExitCode;

use anyhow::Context;
use payment::{Command, Ledger, Settings};
use telemetry::{Telemetry, metrics::Metrics};

#[tokio::main]
async fn main() -> ExitCode {
    let settings: Settings = config::parse();
    let telemetry = match Telemetry::init("payment-service", "info", &settings.telemetry) {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("payment-service: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = match settings.command {
        Some(Command::Migrate) => migrate(&settings).await,
        None => run(settings).await,
    };
    let code = match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("payment service failed: {error:#}");
            ExitCode::FAILURE
        }
    };
    telemetry.shutdown();
    code
}

async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    Ledger::migrate(&settings.ledger.database_url)
        .await
        .context("cannot migrate the payment ledger")?;
    tracing::info!("payment ledger migrated");
    Ok(())
}

async fn run(settings: Settings) -> anyhow::Result<()> {
    let shutdown = config::shutdown_signal().context("cannot listen for shutdown signals")?;
    let ledger = Ledger::connect(&settings.ledger.database_url)
        .await
        .context("cannot open the payment ledger")?;
    let listener = tokio::net::TcpListener::bind(settings.addr)
        .await
        .with_context(|| format!("cannot listen on {}", settings.addr))?;
    let addr = listener
        .local_addr()
        .context("cannot read the bound address")?;
    let metrics = settings.metrics_addr.0.map(Metrics::start).transpose()?;
    if let Some(metrics) = &metrics {
        tracing::info!(
            "payment service metrics at http://{}/metrics",
            metrics.addr()
        );
    }
    tracing::info!("payment service listening addr={addr}");
    payment::serve(listener, ledger, metrics.as_ref(), shutdown)
        .await
        .context("payment server failed")?;
    tracing::info!("payment service stopped");
    Ok(())
}
