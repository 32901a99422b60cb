//! gRPC calls across processes: W3C trace context in the request metadata, a server span per
//! call under the caller's span, and a latency histogram by method and status code on each
//! side.
//!
//! One tower layer over `http` requests, at either end, so it wraps a tonic `Channel` (client)
//! or a tonic `Server` (server) without touching generated code.

use std::{
    pin::Pin,
    task::{Context as TaskContext, Poll},
    time::Instant,
};

use opentelemetry::global;
use prometheus::HistogramVec;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::{Context, metrics::Metrics};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Latency by method and gRPC status code, on one side of the calls.
#[derive(Clone)]
pub struct CallMetrics {
    duration: HistogramVec,
}

impl CallMetrics {
    /// `delivery_payment_call_duration_seconds`: calls to the payment service, as the caller
    /// (the worker's activities, the API's payment lookups) saw them.
    pub fn payment_client(metrics: &Metrics) -> Self {
        Self {
            duration: metrics.seconds(
                "delivery_payment_call_duration",
                "Calls to the payment service by method and gRPC status code, as the caller saw them",
                &["method", "code"],
            ),
        }
    }

    /// `payment_grpc_request_duration_seconds`: calls the payment service served.
    pub fn payment_server(metrics: &Metrics) -> Self {
        Self {
            duration: metrics.seconds(
                "payment_grpc_request_duration",
                "Calls served by the payment service, by method and gRPC status code",
                &["method", "code"],
            ),
        }
    }

    fn record(&self, method: &str, code: &str, started: Instant) {
        self.duration
            .with_label_values(&[method, code])
            .observe(started.elapsed().as_secs_f64());
    }
}

/// Which end of the calls a [`GrpcLayer`] sits at.
#[derive(Clone, Copy, Debug)]
enum Side {
    /// Injects the current trace context into each request.
    Client,
    /// Runs each call in a span, child of the caller's (from the metadata), with `trace_id`
    /// and an empty `delivery_id` the handler fills in.
    Server,
}

/// Traces and measures the gRPC calls of a tonic `Channel` (client) or `Server` (server).
#[derive(Clone)]
pub struct GrpcLayer {
    side: Side,
    metrics: Option<CallMetrics>,
}

impl GrpcLayer {
    /// For a client: the caller's trace travels with each call.
    pub fn client(metrics: Option<CallMetrics>) -> Self {
        Self {
            side: Side::Client,
            metrics,
        }
    }

    /// For a server: each call continues its caller's trace.
    pub fn server(metrics: Option<CallMetrics>) -> Self {
        Self {
            side: Side::Server,
            metrics,
        }
    }
}

impl<S> tower::Layer<S> for GrpcLayer {
    type Service = Traced<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Traced {
            inner,
            side: self.side,
            metrics: self.metrics.clone(),
        }
    }
}

/// The service [`GrpcLayer`] makes.
#[derive(Clone)]
pub struct Traced<S> {
    inner: S,
    side: Side,
    metrics: Option<CallMetrics>,
}

impl<S, B, R> tower::Service<http::Request<B>> for Traced<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let path = request.uri().path().to_owned();
        let method = method_name(&path).to_owned();
        let span = match self.side {
            Side::Client => {
                global::get_text_map_propagator(|propagator| {
                    propagator.inject_context(
                        &Context::current(),
                        &mut crate::HeaderInjector(request.headers_mut()),
                    );
                });
                tracing::Span::none()
            }
            Side::Server => {
                let span = tracing::info_span!(
                    "grpc",
                    otel.name = path.trim_start_matches('/'),
                    otel.kind = "server",
                    rpc.method = method.as_str(),
                    trace_id = tracing::field::Empty,
                    delivery_id = tracing::field::Empty,
                );
                let _ = span.set_parent(crate::extract_context(request.headers()));
                span.record("trace_id", crate::trace_id(&span));
                span
            }
        };
        let started = Instant::now();
        let call = self.inner.call(request).instrument(span);
        let metrics = self.metrics.clone();
        Box::pin(async move {
            let response = call.await;
            if let Some(metrics) = metrics {
                let code = match &response {
                    Ok(response) => status_code(response.headers()),
                    // The call never got an answer: what tonic reports as `Unavailable`.
                    Err(_) => "14".to_owned(),
                };
                metrics.record(&method, &code, started);
            }
            response
        })
    }
}

/// `RegisterPayment` of `/payment.v2.PaymentService/RegisterPayment`.
fn method_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The gRPC status of a response: in its headers when the call failed at once (tonic sends
/// "trailers only"), else in trailers, which only come after a success.
fn status_code(headers: &http::HeaderMap) -> String {
    headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("0")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_method_is_the_last_segment_of_the_path() {
        assert_eq!(
            method_name("/payment.v2.PaymentService/RegisterPayment"),
            "RegisterPayment"
        );
    }

    #[test]
    fn a_status_in_the_headers_is_a_failure_and_none_is_a_success() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(status_code(&headers), "0");
        headers.insert("grpc-status", http::HeaderValue::from_static("5"));
        assert_eq!(status_code(&headers), "5");
    }
}
