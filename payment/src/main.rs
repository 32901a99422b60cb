//! `payment-service`: runs the payment gRPC server until ctrl-c or SIGTERM.

use std::process::ExitCode;

use anyhow::Context;
use payment::{Ledger, Settings};
use telemetry::{Telemetry, metrics::Metrics};

#[tokio::main]
async fn main() -> ExitCode {
    let telemetry = match Telemetry::init("payment-service", "info") {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("payment-service: {error}");
            return ExitCode::FAILURE;
        }
    };
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("payment-service: {error}");
            return ExitCode::FAILURE;
        }
    };
    let code = match run(settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("payment service failed: {error:#}");
            ExitCode::FAILURE
        }
    };
    telemetry.shutdown();
    code
}

async fn run(settings: Settings) -> anyhow::Result<()> {
    let shutdown = shutdown_signal().context("cannot listen for shutdown signals")?;
    let ledger = Ledger::connect(&settings.database_url)
        .await
        .context("cannot open the payment ledger")?;
    let listener = tokio::net::TcpListener::bind(settings.addr)
        .await
        .with_context(|| format!("cannot listen on {}", settings.addr))?;
    let addr = listener
        .local_addr()
        .context("cannot read the bound address")?;
    let metrics = settings.metrics_addr.map(Metrics::start).transpose()?;
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

/// Registers for ctrl-c and SIGTERM (how containers are asked to stop) right
/// away, so a signal arriving just after startup is not lost, and returns a
/// future that completes on either.
#[cfg(unix)]
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        tracing::info!("shutdown requested, finishing in-flight calls");
    })
}

/// Returns a future that completes on ctrl-c.
#[cfg(not(unix))]
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    Ok(async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!("cannot listen for ctrl-c: {error}");
            std::future::pending::<()>().await;
        }
        tracing::info!("shutdown requested, finishing in-flight calls");
    })
}
