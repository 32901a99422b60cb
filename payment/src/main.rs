//! `payment-service`: runs the payment gRPC server until SIGINT or SIGTERM;
//! `payment-service migrate` brings the ledger's schema up to date and exits;
//! `payment-service pki init` generates the TLS material of the service and its callers.

use std::process::ExitCode;

use anyhow::Context;
use payment::{Command, Ledger, PkiCommand, Settings};
use payment_api::tls;
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
    let result = match &settings.command {
        Some(Command::Migrate) => migrate(&settings).await,
        Some(Command::Pki(PkiCommand::Init { dir, days })) => {
            pki_init(dir.as_ref().unwrap_or(&settings.tls_dir), *days)
        }
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

fn pki_init(dir: &std::path::Path, days: u32) -> anyhow::Result<()> {
    let ensured = tls::ensure(dir, days).with_context(|| {
        format!(
            "cannot generate the payment tls material in {}",
            dir.display()
        )
    })?;
    match ensured {
        tls::Ensured::Generated => {
            tracing::info!(dir = %dir.display(), days, "payment tls material generated")
        }
        tls::Ensured::Existing => tracing::info!(
            dir = %dir.display(),
            "payment tls material already there (ca.pem exists): left as it is"
        ),
    }
    Ok(())
}

async fn run(settings: Settings) -> anyhow::Result<()> {
    let shutdown = config::shutdown_signal().context("cannot listen for shutdown signals")?;
    let ledger = Ledger::connect_with(
        &settings.ledger.database_url,
        &settings.ledger.pool_options(),
    )
    .await
    .context("cannot open the payment ledger")?;
    // The local default: a directory without a CA gets one, with every party's certificate.
    if tls::ensure_local(&settings.tls_dir).with_context(|| {
        format!(
            "cannot generate the tls material in {}",
            settings.tls_dir.display()
        )
    })? == tls::Ensured::Generated
    {
        tracing::info!(dir = %settings.tls_dir.display(), "payment tls material generated");
    }
    let tls = tls::server_config(&settings.tls_dir).context("cannot load the tls material")?;
    let listener = tokio::net::TcpListener::bind(settings.addr)
        .await
        .with_context(|| format!("cannot listen on {}", settings.addr))?;
    let health_listener = match settings.health_addr.0 {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (health)"))?,
        ),
        None => None,
    };
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
    if let Some(health) = &health_listener {
        let health = health
            .local_addr()
            .context("cannot read the bound health address")?;
        tracing::info!("payment service health (plaintext) at {health}");
    }
    tracing::info!("payment service listening (mutual tls) addr={addr}");
    payment::serve(
        listener,
        health_listener,
        ledger,
        tls,
        settings.limits.clone(),
        metrics.as_ref(),
        shutdown,
    )
    .await
    .context("payment server failed")?;
    tracing::info!("payment service stopped");
    Ok(())
}
