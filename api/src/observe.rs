//! One span and one latency sample per request.
//!
//! The span (`POST /deliveries`, say) continues a caller's W3C trace when one is sent, and is
//! the parent of everything the request causes: the Temporal client's spans (the plugin reads
//! the OpenTelemetry context the entered span activates), hence the workflow's and activities'
//! spans in the worker, hence the payment service's. Its `trace_id` and `delivery_id` fields
//! appear on every log line of the request.

use std::time::Instant;

use axum::{
    extract::{MatchedPath, RawPathParams, Request, State},
    middleware::Next,
    response::Response,
};
use prometheus::HistogramVec;
use telemetry::{SpanExt, metrics::Metrics};
use tracing::{Instrument, field::Empty};

use crate::AppState;

/// `delivery_http_request_duration_seconds{method, route, status}`.
pub(crate) struct HttpMetrics {
    duration: HistogramVec,
}

impl HttpMetrics {
    pub(crate) fn new(metrics: &Metrics) -> Self {
        Self {
            duration: metrics.seconds(
                "delivery_http_request_duration",
                "HTTP requests by method, route and status",
                &["method", "route", "status"],
            ),
        }
    }
}

pub(crate) async fn observe(
    State(state): State<AppState>,
    route: Option<MatchedPath>,
    params: Result<RawPathParams, axum::extract::rejection::RawPathParamsRejection>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    let span = tracing::info_span!(
        "http",
        otel.name = format!("{method} {route}"),
        otel.kind = "server",
        http.request.method = %method,
        http.route = route,
        http.response.status_code = Empty,
        trace_id = Empty,
        delivery_id = Empty,
    );
    let _ = span.set_parent(telemetry::extract_context(request.headers()));
    span.record("trace_id", telemetry::trace_id(&span));
    if let Some((_, id)) = params
        .iter()
        .flat_map(|p| p.iter())
        .find(|(name, _)| *name == "delivery_id")
    {
        span.record("delivery_id", id);
    }
    let started = Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    span.in_scope(|| {
        tracing::info!(
            status = status.as_u16(),
            ms = started.elapsed().as_millis(),
            "{method} {route}"
        )
    });
    if let Some(http) = &state.inner.http_metrics {
        http.duration
            .with_label_values(&[method.as_str(), route, status.as_str()])
            .observe(started.elapsed().as_secs_f64());
    }
    response
}
