//! The payment service's gRPC interface (`payment.v2.PaymentService`), for its callers: the
//! proto and its generated code, the client (traced and measured), how callers are configured
//! to reach the service (mutual TLS, [`tls`]), and the conversions from its messages to our types.
//!
//! The service itself (server and ledger) is the `payment` crate; callers depend on this crate
//! only, so they link neither the ledger nor its database.

use std::{path::PathBuf, time::Duration};

use chrono::{DateTime, Utc};
use telemetry::{grpc, metrics::Metrics};
use tonic::transport::{Channel, Endpoint};

pub mod tls;

/// Code generated from `proto/payment/v2/payment.proto`: messages, client and server.
pub mod proto {
    tonic::include_proto!("payment.v2");
}

/// The gRPC service name, as the health protocol and the paths of its calls know it.
pub const SERVICE_NAME: &str = "payment.v2.PaymentService";

/// How long a caller waits for a connection to the payment service before the call fails (and
/// is retried by whoever made it). Short: local activities get 3 s for all their attempts.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a call may take, once connected, before the caller gives up on it with `CANCELLED`
/// ("timeout expired"), unless `PAYMENT_CALL_TIMEOUT_MS` says otherwise. A call takes
/// milliseconds; the deadline bounds what has no timeout of its own (the API's reads) and the
/// remote activity's 5 s attempts, and is no shorter than a local activity's 2 s attempt, so a
/// ledger write slowed by a loaded machine is not cut shorter than it was before deadlines (a
/// cut call is retried, which is safe, but adds load when the service is already slow).
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_millis(2000);

/// How often an open connection is pinged (HTTP/2 PING), idle or not, and how long the pong may
/// take before the connection is dropped (and the next call reconnects): a dead peer or a
/// half-open connection is noticed within 15 s instead of the first call after it hanging.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
/// See [`KEEPALIVE_INTERVAL`].
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(5);
/// TCP keepalive on the connection, for middleboxes that drop idle flows silently.
pub const TCP_KEEPALIVE: Duration = Duration::from_secs(30);

/// A gRPC client of the payment service: it carries the caller's trace context and measures
/// its calls. Cheap to clone (one pooled HTTP/2 channel).
pub type PaymentClient = proto::payment_service_client::PaymentServiceClient<grpc::Traced<Channel>>;

/// Where callers (the API, the worker) find the payment service, and the certificate they
/// present to it (mutual TLS: see [`tls`]).
#[derive(clap::Args, Debug, Clone)]
pub struct ClientSettings {
    /// The payment service's gRPC endpoint (TLS, so `https://`)
    #[arg(
        long = "payment-url",
        env = "PAYMENT_URL",
        value_name = "URL",
        default_value = "https://127.0.0.1:50051",
        value_parser = parse_url
    )]
    pub payment_url: String,
    /// Directory of the TLS material for the payment service: `ca.pem` (the CAs trusted, one or
    /// more) and this caller's `<name>.pem` and `<name>.key` (`delivery-api`,
    /// `delivery-worker`); a CA and every party's certificate are generated there when it has
    /// no `ca.pem`
    #[arg(
        long = "payment-tls-dir",
        env = "PAYMENT_TLS_DIR",
        value_name = "DIR",
        default_value = ".data/pki"
    )]
    pub tls_dir: PathBuf,
    /// How long a payment call may take, once connected, before the caller gives up on it
    /// (`CANCELLED`, retried by whoever made it), in milliseconds; keep it below the callers'
    /// own timeouts (a local activity's 2 s per attempt)
    #[arg(
        long = "payment-call-timeout-ms",
        env = "PAYMENT_CALL_TIMEOUT_MS",
        value_name = "MS",
        default_value = "2000",
        value_parser = config::positive_millis
    )]
    pub call_timeout: Duration,
}

impl ClientSettings {
    /// A client of the service at `payment_url` that presents `caller`'s certificate,
    /// connecting on first use (so a service that is down only fails calls, which are retried),
    /// each call bounded by `call_timeout` and the connection kept alive by HTTP/2 pings;
    /// `metrics` records each call's latency. The TLS material is read now, generated first
    /// when the directory has none (the local default), so a missing or bad file stops the
    /// caller at start.
    pub fn connect_lazy(
        &self,
        caller: tls::Caller,
        metrics: Option<&Metrics>,
    ) -> Result<PaymentClient, ClientError> {
        if tls::ensure_local(&self.tls_dir)? == tls::Ensured::Generated {
            tracing::info!(dir = %self.tls_dir.display(), "payment tls material generated");
        }
        let endpoint = Endpoint::from_shared(self.payment_url.clone())
            .map_err(|_| InvalidUrl(self.payment_url.clone()))?
            .connect_timeout(CONNECT_TIMEOUT)
            // Client-side only: tonic does not send it as `grpc-timeout`, so the service bounds
            // its own work (`PAYMENT_REQUEST_TIMEOUT_MS`).
            .timeout(self.call_timeout)
            .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
            .keep_alive_timeout(KEEPALIVE_TIMEOUT)
            .keep_alive_while_idle(true)
            .tcp_keepalive(Some(TCP_KEEPALIVE))
            .tls_config(tls::client_config(&self.tls_dir, caller)?)
            .map_err(tls::PkiError::from)?;
        Ok(client(endpoint.connect_lazy(), metrics))
    }
}

/// Why a caller cannot make its payment client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Url(#[from] InvalidUrl),
    #[error("payment service tls: {0}")]
    Tls(#[from] tls::PkiError),
}

/// A payment service URL that is not one.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not a payment service url such as https://127.0.0.1:50051")]
pub struct InvalidUrl(pub String);

/// Checks a payment service URL: `https://` only, since the service speaks nothing but TLS (a
/// leftover `http://` would otherwise be sent in clear and fail on every call).
fn parse_url(url: &str) -> Result<String, InvalidUrl> {
    let url = url.trim();
    match Endpoint::from_shared(url.to_owned()) {
        Ok(endpoint) if endpoint.uri().scheme_str() == Some("https") => Ok(url.to_owned()),
        _ => Err(InvalidUrl(url.to_owned())),
    }
}

/// A client over `channel` (which may connect lazily); `metrics` records each call's latency as
/// `delivery_payment_call_duration_seconds`.
pub fn client(channel: Channel, metrics: Option<&Metrics>) -> PaymentClient {
    let layer = grpc::GrpcLayer::client(metrics.map(grpc::CallMetrics::payment_client));
    proto::payment_service_client::PaymentServiceClient::new(tower::Layer::layer(&layer, channel))
}

/// A payment status this build does not know (a newer service's).
#[derive(Debug, thiserror::Error)]
#[error("unknown payment status {0}")]
pub struct UnknownStatus(pub i32);

impl proto::Payment {
    /// Its status as a delivery knows it.
    pub fn payment_status(&self) -> Result<domain::PaymentStatus, UnknownStatus> {
        match proto::PaymentStatus::try_from(self.status) {
            Ok(proto::PaymentStatus::Registered) => Ok(domain::PaymentStatus::Registered),
            Ok(proto::PaymentStatus::Settled) => Ok(domain::PaymentStatus::Settled),
            Ok(proto::PaymentStatus::Voided) => Ok(domain::PaymentStatus::Voided),
            Ok(proto::PaymentStatus::Unspecified) | Err(_) => Err(UnknownStatus(self.status)),
        }
    }

    /// When it was registered.
    pub fn registered_at(&self) -> Option<DateTime<Utc>> {
        self.registered_at.as_ref().and_then(datetime)
    }

    /// When it was settled, if it was.
    pub fn settled_at(&self) -> Option<DateTime<Utc>> {
        self.settled_at.as_ref().and_then(datetime)
    }

    /// When it was voided, if it was.
    pub fn voided_at(&self) -> Option<DateTime<Utc>> {
        self.voided_at.as_ref().and_then(datetime)
    }
}

/// A protobuf timestamp of `at`.
pub fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        // Sub-second nanos are below 2e9 even with a leap second, so they fit.
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(999_999_999),
    }
}

/// The instant of a protobuf timestamp; `None` when it is out of range.
pub fn datetime(at: &prost_types::Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(at.seconds, u32::try_from(at.nanos).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_known_status_maps_to_the_deliverys_and_others_are_refused() {
        let with = |status: proto::PaymentStatus| proto::Payment {
            status: status.into(),
            ..Default::default()
        };
        assert_eq!(
            with(proto::PaymentStatus::Registered)
                .payment_status()
                .unwrap(),
            domain::PaymentStatus::Registered
        );
        assert_eq!(
            with(proto::PaymentStatus::Settled)
                .payment_status()
                .unwrap(),
            domain::PaymentStatus::Settled
        );
        assert_eq!(
            with(proto::PaymentStatus::Voided).payment_status().unwrap(),
            domain::PaymentStatus::Voided
        );
        assert!(
            with(proto::PaymentStatus::Unspecified)
                .payment_status()
                .is_err()
        );
        let mut future = with(proto::PaymentStatus::Voided);
        future.status = 42;
        assert!(future.payment_status().is_err());
    }

    #[test]
    fn timestamps_round_trip() {
        let at = DateTime::from_timestamp(1_800_000_000, 123_000_000).unwrap();
        assert_eq!(datetime(&timestamp(at)), Some(at));
    }

    #[test]
    fn a_url_is_checked_when_read() {
        assert!(parse_url("https://127.0.0.1:50051").is_ok());
        assert!(parse_url("not a url").is_err());
        // The service speaks TLS only: a plaintext url is refused at start, not on each call.
        assert!(parse_url("http://127.0.0.1:50051").is_err());
    }

    /// The client settings alone, as a binary that flattens them.
    #[derive(clap::Parser, Debug)]
    #[command(name = "caller")]
    struct Caller {
        #[command(flatten)]
        payment: ClientSettings,
    }

    #[test]
    fn the_call_timeout_defaults_to_two_seconds_and_a_bad_or_zero_one_names_its_variable() {
        let defaults: Caller = config::defaults();
        assert_eq!(defaults.payment.call_timeout, DEFAULT_CALL_TIMEOUT);
        assert_eq!(DEFAULT_CALL_TIMEOUT, Duration::from_millis(2000));
        let set: Caller =
            config::try_parse_from(["caller", "--payment-call-timeout-ms", "250"]).unwrap();
        assert_eq!(set.payment.call_timeout, Duration::from_millis(250));
        for bad in ["soon", "0", "-1"] {
            let flag = format!("--payment-call-timeout-ms={bad}");
            let refused = config::try_parse_from::<Caller>(["caller", &flag]).unwrap_err();
            assert_eq!(
                refused.variable.as_deref(),
                Some("PAYMENT_CALL_TIMEOUT_MS"),
                "{bad}"
            );
        }
    }
}
