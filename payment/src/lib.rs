//! The payment service of the delivery-dispatch system: a tonic gRPC server
//! (`payment.v2.PaymentService`, declared in the `payment-api` crate) over its own ledger
//! database, answering the standard gRPC health protocol (`grpc.health.v1.Health`) beside it.
//!
//! Every call is idempotent by delivery id: repeating it returns the same
//! payment and never moves money twice. Illegal transitions (settling a voided
//! payment, voiding a settled one, registering a delivery whose payment is
//! already settled or voided) are `FAILED_PRECONDITION`; database trouble
//! is `UNAVAILABLE`, so callers may retry.
//!
//! The ledger's schema is migrated by a one-off step, `payment-service migrate`
//! ([`Ledger::migrate`]); the service refuses to start on a database that lacks it.
//!
//! Only its callers reach it, over mutual TLS: a client without a certificate from the CA fails
//! the handshake, and each call passes [`authz::AuthorizeLayer`], which lets the worker make
//! every call and the API only read and book adjustments (`payment_api::tls` holds the table). Probes that cannot
//! present a certificate ask the health protocol on a plaintext port of its own.

use std::{future::Future, net::SocketAddr, path::PathBuf, str::FromStr, time::Duration};

use payment_api::proto::payment_service_server::PaymentServiceServer;
use telemetry::metrics::MetricsAddr;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;

pub mod authz;
pub mod ledger;
pub mod service;

pub use ledger::{Ledger, LedgerError, Payment, PaymentStatus, Registration};

/// `payment-service [migrate | pki init]`: its settings, each with its flag, variable and default.
#[derive(clap::Parser, Debug, Clone)]
#[command(
    name = "payment-service",
    version,
    about = "The payment service: payment.v2.PaymentService and grpc.health.v1.Health over gRPC, with its own ledger database"
)]
pub struct Settings {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub config: config::ConfigFile,
    /// Where the gRPC server listens
    #[arg(long = "addr", env = "PAYMENT_ADDR", default_value = "127.0.0.1:50051")]
    pub addr: SocketAddr,
    /// Directory of the service's TLS material: `ca.pem` (the CAs whose client certificates are
    /// accepted, one or more), `payment-service.pem` and `payment-service.key`; a CA and every
    /// party's certificate are generated there when it has no `ca.pem`
    #[arg(
        long = "tls-dir",
        env = "PAYMENT_TLS_DIR",
        value_name = "DIR",
        default_value = ".data/pki",
        global = true
    )]
    pub tls_dir: PathBuf,
    /// Where the gRPC health protocol alone is served in plaintext, for probes that cannot
    /// present a client certificate (Kubernetes' gRPC probes); `off` for nowhere
    #[arg(
        long = "health-addr",
        env = "PAYMENT_HEALTH_ADDR",
        value_name = "ADDR",
        default_value = "127.0.0.1:50052"
    )]
    pub health_addr: HealthAddr,
    #[command(flatten)]
    pub ledger: LedgerSettings,
    #[command(flatten)]
    pub limits: Limits,
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
#[derive(clap::Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Bring the ledger database's schema up to date, then exit: run it once before the
    /// service starts (and before each upgrade), with the same settings
    Migrate,
    /// The TLS material of the service and its callers
    #[command(subcommand)]
    Pki(PkiCommand),
}

/// `payment-service pki …`
#[derive(clap::Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum PkiCommand {
    /// Generate a CA and the certificates and keys of payment-service, delivery-worker and
    /// delivery-api into a directory, then exit; a directory that has a `ca.pem` is left alone.
    /// The CA's key is not kept: to rotate, generate into a new directory
    Init {
        /// The directory [default: the service's, PAYMENT_TLS_DIR]
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// How long the certificates are valid, in days
        #[arg(
            long,
            value_name = "DAYS",
            default_value_t = payment_api::tls::DEFAULT_VALIDITY_DAYS,
            value_parser = clap::value_parser!(u32).range(1..=36_500)
        )]
        days: u32,
    },
}

/// A listening address, or none (`off`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthAddr(pub Option<SocketAddr>);

impl FromStr for HealthAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        config::optional_addr(s).map(Self)
    }
}

/// How much the server takes on, and for how long: tonic's own settings, so no call holds a
/// handler, a database connection or a connection's slot forever.
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Longest a call may run before the server gives up on it and answers `CANCELLED`
    /// ("timeout expired"), in milliseconds: callers give up sooner (`PAYMENT_CALL_TIMEOUT_MS`)
    /// but do not tell the server, so this is what frees a handler stuck on the ledger
    #[arg(
        long = "request-timeout-ms",
        env = "PAYMENT_REQUEST_TIMEOUT_MS",
        value_name = "MS",
        default_value = "10000",
        value_parser = config::positive_millis
    )]
    pub request_timeout: Duration,
    /// Calls served at once on one connection (each caller process has one); more wait for a
    /// slot, within the caller's deadline
    #[arg(
        long = "max-in-flight-per-connection",
        env = "PAYMENT_MAX_IN_FLIGHT_PER_CONNECTION",
        value_name = "N",
        default_value = "64",
        value_parser = clap::value_parser!(u16).range(1..)
    )]
    pub max_in_flight_per_connection: u16,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(10),
            max_in_flight_per_connection: 64,
        }
    }
}

/// How often the server pings each connection (HTTP/2 PING), and how long the pong may take
/// before it drops the connection: a caller that vanished without closing (a killed pod, a
/// dropped network) stops holding its connection within 40 s. Callers ping more often
/// (`payment_api::KEEPALIVE_INTERVAL`); the server does not limit how often it is pinged.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
/// See [`KEEPALIVE_INTERVAL`].
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);

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
    /// Connections this process keeps to the ledger database at most, per replica; see
    /// "Deploying" in the README for PostgreSQL's max_connections
    #[arg(
        id = "payment_database_pool_size",
        long = "payment-database-pool-size",
        env = "PAYMENT_DATABASE_POOL_SIZE",
        value_name = "N",
        default_value = "8",
        global = true,
        value_parser = db::parse_pool_size
    )]
    pub pool_size: u32,
    /// How long one statement on a PostgreSQL ledger database may run before the server cancels
    /// it, in milliseconds
    #[arg(
        id = "payment_database_statement_timeout_ms",
        long = "payment-database-statement-timeout-ms",
        env = "PAYMENT_DATABASE_STATEMENT_TIMEOUT_MS",
        value_name = "MS",
        default_value = "30000",
        global = true,
        value_parser = db::parse_statement_timeout
    )]
    pub statement_timeout: Duration,
}

impl LedgerSettings {
    /// The pool these settings ask for ([`db::PoolOptions`]' other values).
    pub fn pool_options(&self) -> db::PoolOptions {
        db::PoolOptions {
            max_connections: self.pool_size,
            statement_timeout: self.statement_timeout,
            ..db::PoolOptions::default()
        }
    }
}

/// Serves the payment service on `listener` over mutual TLS (`tls`, from
/// [`payment_api::tls::server_config`]) until `shutdown` completes, with a span per call under
/// the caller's trace and, given `metrics`, each call's latency. Each call is authorized by
/// [`authz::AuthorizeLayer`] and bounded by `limits` (its duration, the calls at once per
/// connection); connections are kept alive with HTTP/2 pings, so dead ones are dropped. The health service reports `SERVING` for the server as a whole
/// (`""`) and for `payment.v2.PaymentService` until shutdown begins, then `NOT_SERVING`, on
/// `listener` and, in plaintext, on `health_listener`.
///
/// Shutdown is graceful: the server stops accepting connections and returns
/// once in-flight calls have completed.
pub async fn serve(
    listener: TcpListener,
    health_listener: Option<TcpListener>,
    ledger: Ledger,
    tls: tonic::transport::ServerTlsConfig,
    limits: Limits,
    metrics: Option<&telemetry::metrics::Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    type Api = PaymentServiceServer<service::PaymentApi>;
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter.set_serving::<Api>().await;
    // Both servers stop together: the health one when the service's shutdown has begun.
    let (stopping, stopped) = tokio::sync::watch::channel(false);
    let shutdown = async move {
        shutdown.await;
        reporter.set_not_serving::<Api>().await;
        reporter
            .set_service_status("", tonic_health::ServingStatus::NotServing)
            .await;
        let _ = stopping.send(true);
    };
    let probes = health_listener.map(|listener| {
        let mut stopped = stopped.clone();
        tonic::transport::Server::builder()
            .add_service(health.clone())
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async move {
                // An error means the sender is gone: the service has stopped too.
                let _ = stopped.wait_for(|stopped| *stopped).await;
            })
    });
    let service = tonic::transport::Server::builder()
        .timeout(limits.request_timeout)
        .concurrency_limit_per_connection(usize::from(limits.max_in_flight_per_connection))
        .http2_keepalive_interval(Some(KEEPALIVE_INTERVAL))
        .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT))
        .tls_config(tls)?
        .layer(telemetry::grpc::GrpcLayer::server(
            metrics.map(telemetry::grpc::CallMetrics::payment_server),
        ))
        .layer(authz::AuthorizeLayer)
        .add_service(health)
        .add_service(Api::new(service::PaymentApi::new(ledger)))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown);
    match probes {
        Some(probes) => tokio::try_join!(service, probes).map(|_| ()),
        None => service.await,
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_settings_are_well_formed_and_migrate_and_pki_init_are_subcommands() {
        Settings::command().debug_assert();
        let settings: Settings = config::defaults();
        assert_eq!(settings.addr.to_string(), "127.0.0.1:50051");
        assert_eq!(settings.tls_dir, PathBuf::from(".data/pki"));
        assert_eq!(
            settings.health_addr,
            HealthAddr(Some("127.0.0.1:50052".parse().unwrap()))
        );
        let migrate: Settings = config::try_parse_from(["payment-service", "migrate"]).unwrap();
        assert_eq!(migrate.command, Some(Command::Migrate));
        let init: Settings =
            config::try_parse_from(["payment-service", "pki", "init", "--dir", "/pki"]).unwrap();
        assert_eq!(
            init.command,
            Some(Command::Pki(PkiCommand::Init {
                dir: Some("/pki".into()),
                days: payment_api::tls::DEFAULT_VALIDITY_DAYS
            }))
        );
        let off: Settings =
            config::try_parse_from(["payment-service", "--health-addr", "off"]).unwrap();
        assert_eq!(off.health_addr, HealthAddr(None));
    }

    #[test]
    fn the_limits_default_to_ten_seconds_and_64_calls_and_a_bad_one_names_its_variable() {
        let settings: Settings = config::defaults();
        assert_eq!(settings.limits, Limits::default());
        assert_eq!(settings.limits.request_timeout, Duration::from_secs(10));
        assert_eq!(settings.limits.max_in_flight_per_connection, 64);
        let set: Settings = config::try_parse_from([
            "payment-service",
            "--request-timeout-ms",
            "2500",
            "--max-in-flight-per-connection",
            "8",
        ])
        .unwrap();
        assert_eq!(set.limits.request_timeout, Duration::from_millis(2500));
        assert_eq!(set.limits.max_in_flight_per_connection, 8);
        for (flag, bad, variable) in [
            ("--request-timeout-ms", "soon", "PAYMENT_REQUEST_TIMEOUT_MS"),
            ("--request-timeout-ms", "0", "PAYMENT_REQUEST_TIMEOUT_MS"),
            (
                "--max-in-flight-per-connection",
                "0",
                "PAYMENT_MAX_IN_FLIGHT_PER_CONNECTION",
            ),
        ] {
            let refused =
                config::try_parse_from::<Settings>(["payment-service", flag, bad]).unwrap_err();
            assert_eq!(refused.variable.as_deref(), Some(variable), "{flag} {bad}");
        }
    }
}
