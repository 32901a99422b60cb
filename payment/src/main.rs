//! `payment-service`: runs the payment gRPC server until ctrl-c or SIGTERM.

use std::process::ExitCode;

use anyhow::Context;
use payment::{Ledger, Settings};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("payment-service: {error}");
            return ExitCode::FAILURE;
        }
    };
    match run(settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("payment service failed: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(settings: Settings) -> anyhow::Result<()> {
    let ledger = Ledger::connect(&settings.database_url)
        .await
        .context("cannot open the payment ledger")?;
    let listener = tokio::net::TcpListener::bind(settings.addr)
        .await
        .with_context(|| format!("cannot listen on {}", settings.addr))?;
    let addr = listener
        .local_addr()
        .context("cannot read the bound address")?;
    tracing::info!("payment service listening addr={addr}");
    payment::serve(listener, ledger, shutdown_signal())
        .await
        .context("payment server failed")?;
    tracing::info!("payment service stopped");
    Ok(())
}

/// Completes on ctrl-c or SIGTERM (how containers are asked to stop).
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!("cannot listen for ctrl-c: {error}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(error) => {
                tracing::error!("cannot listen for sigterm: {error}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutdown requested, finishing in-flight calls");
}
