//! The payment service's gRPC interface (`payment.v1.PaymentService`), for its callers: the
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

/// Code generated from `proto/payment/v1/payment.proto`: messages, client and server.
pub mod proto {
    tonic::include_proto!("payment.v1");
}

/// The gRPC service name, as the health protocol and the paths of its calls know it.
pub const SERVICE_NAME: &str = "payment.v1.PaymentService";

/// How long a caller waits for a connection to the payment service before the call fails (and
/// is retried by whoever made it). Short: local activities get 3 s for all their attempts.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

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
}

impl ClientSettings {
    /// A client of the service at `payment_url` that presents `caller`'s certificate,
    /// connecting on first use (so a service that is down only fails calls, which are retried);
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
}
