//! The payment service of the delivery-dispatch system: a tonic gRPC server
//! (`payment.v1.PaymentService`, declared in the `payment-api` crate) over its own ledger
//! database, answering the standard gRPC health protocol (`grpc.health.v1.Health`) beside it.
//!
//! Every call is idempotent by delivery id: repeating it returns the same
//! payment and never moves money twice. Illegal transitions (settling a voided
//! payment, voiding a settled one) are `FAILED_PRECONDITION`; database trouble
//! is `UNAVAILABLE`, so callers may retry.
//!
//! The ledger's schema is migrated by a one-off step, `payment-service migrate`
//! ([`Ledger::migrate`]); the service refuses to start on a database that lacks it.

use std::{future::Future, net::SocketAddr};

use payment_api::proto::payment_service_server::PaymentServiceServer;
use telemetry::metrics::MetricsAddr;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;

pub mod ledger;
pub mod service;

pub use ledger::{Ledger, LedgerError, Movement, Payment, PaymentStatus};

/// `payment-service [migrate]`: its settings, each with its flag, variable and default.
#[derive(clap::Parser, Debug, Clone)]
#[command(
    name = "payment-service",
    version,
    about = "The payment service: payment.v1.PaymentService and grpc.health.v1.Health over gRPC, with its own ledger database"
)]
pub struct Settings {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub config: config::ConfigFile,
    /// Where the gRPC server listens
    #[arg(long = "addr", env = "PAYMENT_ADDR", default_value = "127.0.0.1:50051")]
    pub addr: SocketAddr,
    #[command(flatten)]
    pub ledger: LedgerSettings,
    /// Where Prometheus `/metrics` is served; `off` for nowhere
    #[arg(
        long = "metrics-addr",
        env = "PAYMENT_METRICS_ADDR",
        value_name = "ADDR",
        default_value = "127.0.0.1:9103"
    )]
    pub metrics_addr: MetricsAddr,
    #[command(flatten)]
    pub telemetry: telemetry::Settings,
}

/// What `payment-service` does instead of serving.
#[derive(clap::Subcommand, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Bring the ledger database's schema up to date, then exit: run it once before the
    /// service starts (and before each upgrade), with the same settings
    Migrate,
}

/// Where the ledger lives: the service's, and the invariant checker's, which audits it.
#[derive(clap::Args, Debug, Clone)]
pub struct LedgerSettings {
    /// The ledger database: `sqlite://FILE?mode=rwc` or `postgres://…`
    #[arg(
        id = "payment_database_url",
        long = "payment-database-url",
        env = "PAYMENT_DATABASE_URL",
        value_name = "URL",
        default_value = "sqlite://.data/payment.db?mode=rwc",
        global = true,
        // A database URL may carry a password: `--help` must not print it.
        hide_env_values = true,
        value_parser = db::parse_url
    )]
    pub database_url: String,
}

/// Serves the payment service on `listener` until `shutdown` completes, with a span per call
/// under the caller's trace and, given `metrics`, each call's latency. The health service
/// reports `SERVING` for the server as a whole (`""`) and for `payment.v1.PaymentService`
/// until shutdown begins, then `NOT_SERVING`.
///
/// Shutdown is graceful: the server stops accepting connections and returns
/// once in-flight calls have completed.
pub async fn serve(
    listener: TcpListener,
    ledger: Ledger,
    metrics: Option<&telemetry::metrics::Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    type Api = PaymentServiceServer<service::PaymentApi>;
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter.set_serving::<Api>().await;
    let shutdown = async move {
        shutdown.await;
        reporter.set_not_serving::<Api>().await;
        reporter
            .set_service_status("", tonic_health::ServingStatus::NotServing)
            .await;
    };
    tonic::transport::Server::builder()
        .layer(telemetry::grpc::GrpcLayer::server(
            metrics.map(telemetry::grpc::CallMetrics::payment_server),
        ))
        .add_service(health)
        .add_service(Api::new(service::PaymentApi::new(ledger)))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_settings_are_well_formed_and_migrate_is_a_subcommand() {
        Settings::command().debug_assert();
        let settings: Settings = config::defaults();
        assert_eq!(settings.addr.to_string(), "127.0.0.1:50051");
        let migrate: Settings = config::try_parse_from(["payment-service", "migrate"]).unwrap();
        assert_eq!(migrate.command, Some(Command::Migrate));
    }
}
