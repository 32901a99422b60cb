//! The payment service of the delivery-dispatch system: a tonic gRPC server
//! (`payment.v1.PaymentService`) over its own ledger database.
//!
//! Every call is idempotent by delivery id: repeating it returns the same
//! payment and never moves money twice. Illegal transitions (settling a voided
//! payment, voiding a settled one) are `FAILED_PRECONDITION`; database trouble
//! is `UNAVAILABLE`, so callers may retry.

use std::future::Future;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;

pub mod ledger;
pub mod service;
pub mod settings;

pub use ledger::{Ledger, LedgerError, Movement, Payment, PaymentStatus};
pub use settings::{Settings, SettingsError};

/// Code generated from `proto/payment/v1/payment.proto`: messages, client and server.
pub mod proto {
    tonic::include_proto!("payment.v1");
}

/// A gRPC client of the payment service, for other crates: it carries the caller's trace
/// context and measures its calls.
pub type PaymentClient = proto::payment_service_client::PaymentServiceClient<
    telemetry::grpc::Traced<tonic::transport::Channel>,
>;

/// A client over `channel` (which may connect lazily); `metrics` records each call's latency.
pub fn client(
    channel: tonic::transport::Channel,
    metrics: Option<&telemetry::metrics::Metrics>,
) -> PaymentClient {
    let layer = telemetry::grpc::GrpcLayer::client(
        metrics.map(telemetry::grpc::CallMetrics::payment_client),
    );
    proto::payment_service_client::PaymentServiceClient::new(tower::Layer::layer(&layer, channel))
}

/// Serves the payment service on `listener` until `shutdown` completes, with a span per call
/// under the caller's trace and, given `metrics`, each call's latency.
///
/// Shutdown is graceful: the server stops accepting connections and returns
/// once in-flight calls have completed.
pub async fn serve(
    listener: TcpListener,
    ledger: Ledger,
    metrics: Option<&telemetry::metrics::Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let service =
        proto::payment_service_server::PaymentServiceServer::new(service::PaymentApi::new(ledger));
    tonic::transport::Server::builder()
        .layer(telemetry::grpc::GrpcLayer::server(
            metrics.map(telemetry::grpc::CallMetrics::payment_server),
        ))
        .add_service(service)
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await
}
