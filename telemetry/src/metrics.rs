//! The Prometheus endpoint of a process.
//!
//! One registry per process (the `prometheus` crate's, which the Temporal SDK's own exporter
//! is built on too), served at `http://<addr>/metrics` beside any routes the process adds (the
//! worker's `/healthz` and `/readyz`). Our series are registered here ([`Metrics::counter`],
//! [`Metrics::seconds`]); a process that runs Temporal bridges the SDK's series into the same
//! registry ([`Metrics::register`], see `workflows::metrics`), so one scrape sees both, and this
//! crate knows nothing of Temporal. Durations are in seconds and counters end in `_total`, as
//! Prometheus expects.

use std::{
    collections::HashMap,
    net::SocketAddr,
    str::FromStr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, http::header, routing::get};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
    core::Collector,
};

use crate::TelemetryError;

/// Buckets (seconds) of request latencies: milliseconds to seconds.
const LATENCY_BUCKETS: [f64; 12] = [
    0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Buckets (seconds) of delivery phases: seconds to hours.
const PHASE_BUCKETS: [f64; 12] = [
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0,
];

/// Which buckets a histogram of ours uses.
#[derive(Debug, Clone, Copy)]
pub enum Buckets {
    /// Request and call latencies.
    Latency,
    /// Phases of a delivery (call to pickup, pickup to completion).
    Phase,
}

/// Our histograms and the buckets they use (latency buckets for any other).
pub const HISTOGRAMS: [(&str, Buckets); 6] = [
    ("delivery_http_request_duration", Buckets::Latency),
    ("delivery_payment_call_duration", Buckets::Latency),
    ("delivery_projection_lag", Buckets::Latency),
    ("delivery_call_to_pickup", Buckets::Phase),
    ("delivery_pickup_to_completion", Buckets::Phase),
    ("payment_grpc_request_duration", Buckets::Latency),
];

/// Where a Prometheus endpoint listens: an address, or `off` for none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsAddr(pub Option<SocketAddr>);

impl FromStr for MetricsAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        config::optional_addr(s).map(Self)
    }
}

/// One series family of ours, kept so asking twice for it gives the same one.
#[derive(Clone)]
enum Family {
    Counter(IntCounterVec),
    Seconds(HistogramVec),
}

/// A started Prometheus endpoint and its registry. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    families: Arc<Mutex<HashMap<String, Family>>>,
    addr: SocketAddr,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").field("addr", &self.addr).finish()
    }
}

impl Metrics {
    /// Serves `/metrics` on `addr` (port 0 picks a free port; see [`Metrics::addr`]).
    /// Needs a Tokio runtime.
    pub fn start(addr: SocketAddr) -> Result<Self, TelemetryError> {
        Self::start_with(addr, Router::new())
    }

    /// [`Metrics::start`], serving `routes` on the same listener.
    pub fn start_with(addr: SocketAddr, routes: Router) -> Result<Self, TelemetryError> {
        let listener = std::net::TcpListener::bind(addr)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .and_then(tokio::net::TcpListener::from_std)
            .map_err(|e| TelemetryError::Metrics(format!("{addr}: {e}")))?;
        let bound = listener
            .local_addr()
            .map_err(|e| TelemetryError::Metrics(format!("{addr}: {e}")))?;
        let registry = Registry::new();
        let scraped = registry.clone();
        let app = routes.route(
            "/metrics",
            get(move || {
                let registry = scraped.clone();
                async move {
                    let encoder = TextEncoder::new();
                    let mut text = Vec::new();
                    if let Err(e) = encoder.encode(&registry.gather(), &mut text) {
                        tracing::warn!(error = %e, "cannot encode metrics");
                    }
                    (
                        [(header::CONTENT_TYPE, encoder.format_type().to_owned())],
                        text,
                    )
                }
            }),
        );
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(error = %e, "metrics endpoint stopped");
            }
        });
        Ok(Self {
            registry,
            families: Arc::default(),
            addr: bound,
        })
    }

    /// Where `/metrics` is served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Adds another source of series to the endpoint (the Temporal SDK's, bridged).
    pub fn register(&self, collector: Box<dyn Collector>) -> Result<(), TelemetryError> {
        self.registry
            .register(collector)
            .map_err(|e| TelemetryError::Metrics(e.to_string()))
    }

    /// A counter with `labels`; its series is `<name>_total`.
    pub fn counter(&self, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
        let series = format!("{name}_total");
        match self.family(&series, || {
            IntCounterVec::new(Opts::new(&series, help), labels).map(Family::Counter)
        }) {
            Family::Counter(counter) => counter,
            Family::Seconds(_) => unreachable!("{series} is a counter"),
        }
    }

    /// A histogram of durations in seconds with `labels`; its series is `<name>_seconds`,
    /// buckets from [`HISTOGRAMS`].
    pub fn seconds(&self, name: &str, help: &str, labels: &[&str]) -> HistogramVec {
        let series = format!("{name}_seconds");
        let buckets = match HISTOGRAMS.iter().find(|(n, _)| *n == name) {
            Some((_, Buckets::Phase)) => PHASE_BUCKETS.to_vec(),
            _ => LATENCY_BUCKETS.to_vec(),
        };
        match self.family(&series, || {
            HistogramVec::new(HistogramOpts::new(&series, help).buckets(buckets), labels)
                .map(Family::Seconds)
        }) {
            Family::Seconds(histogram) => histogram,
            Family::Counter(_) => unreachable!("{series} is a histogram"),
        }
    }

    /// The family called `series`, made and registered by `make` the first time.
    fn family(&self, series: &str, make: impl FnOnce() -> prometheus::Result<Family>) -> Family {
        let mut families = self.families.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(family) = families.get(series) {
            return family.clone();
        }
        // Our names and labels are constants: a failure here is a bug in this file.
        let family = make().unwrap_or_else(|e| panic!("metric {series}: {e}"));
        let collector: Box<dyn Collector> = match &family {
            Family::Counter(c) => Box::new(c.clone()),
            Family::Seconds(h) => Box::new(h.clone()),
        };
        self.registry
            .register(collector)
            .unwrap_or_else(|e| panic!("metric {series}: {e}"));
        families.insert(series.to_owned(), family.clone());
        family
    }
}

/// A duration between two instants in milliseconds since the epoch; zero when clocks disagree.
pub fn between_ms(from_ms: i64, to_ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(to_ms.saturating_sub(from_ms)).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_is_no_endpoint_and_an_address_is_one() {
        assert_eq!("off".parse::<MetricsAddr>().unwrap(), MetricsAddr(None));
        assert_eq!(
            "127.0.0.1:9101".parse::<MetricsAddr>().unwrap().0,
            Some(SocketAddr::from(([127, 0, 0, 1], 9101)))
        );
        assert!("nowhere".parse::<MetricsAddr>().is_err());
    }

    #[tokio::test]
    async fn our_series_are_served_with_their_names_labels_and_routes_beside() {
        let routes = Router::new().route("/healthz", get(|| async { "ok" }));
        let metrics = Metrics::start_with(([127, 0, 0, 1], 0).into(), routes).unwrap();
        let changes = metrics.counter("delivery_status_changes", "changes", &["status"]);
        changes.with_label_values(&["Called"]).inc();
        // Asking again gives the same family rather than failing to register it twice.
        metrics
            .counter("delivery_status_changes", "changes", &["status"])
            .with_label_values(&["Called"])
            .inc();
        metrics
            .seconds("delivery_call_to_pickup", "phase", &[])
            .with_label_values::<&str>(&[])
            .observe(42.0);
        let base = format!("http://{}", metrics.addr());
        let text = reqwest::get(format!("{base}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            text.contains("delivery_status_changes_total{status=\"Called\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("delivery_call_to_pickup_seconds_bucket{le=\"60\"} 1"),
            "{text}"
        );
        let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
        assert_eq!(health.status(), 200);
    }
}
