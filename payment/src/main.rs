//! `payment-service`: runs the payment gRPC server until ctrl-c or SIGTERM.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Context;
use payment::{Ledger, Settings};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        // Colour codes only help a human at a terminal; they garble log files.
        .with_ansi(std::io::stdout().is_terminal())
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
    tracing::info!("payment service listening addr={addr}");
    payment::serve(listener, ledger, shutdown)
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
