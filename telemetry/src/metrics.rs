//! The Prometheus endpoint of a process.
//!
//! One registry per process, served at `http://<addr>/metrics`: the Temporal SDK records its
//! own series (`temporal_*`) into it through [`Metrics::temporal_meter`], and ours are made
//! with the same meter, so one scrape sees both. Durations are in seconds and counters end in
//! `_total`, as Prometheus expects.

use std::{collections::HashMap, net::SocketAddr, sync::Arc, time::Duration};

use temporalio_common::telemetry::{
    HistogramBucketOverrides, PrometheusExporterOptions, TaskQueueLabelStrategy, TelemetryOptions,
    metrics::{
        CoreMeter, Counter, HistogramDuration, MetricAttributes, MetricKeyValue, MetricParameters,
        NewAttributes, TemporalMeter,
    },
    start_prometheus_metric_exporter, telemetry_init,
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

/// Our histograms and the buckets they use; set when the endpoint starts, since the meter
/// fixes buckets then.
pub const HISTOGRAMS: [(&str, Buckets); 6] = [
    ("delivery_http_request_duration", Buckets::Latency),
    ("delivery_payment_call_duration", Buckets::Latency),
    ("delivery_projection_lag", Buckets::Latency),
    ("delivery_call_to_pickup", Buckets::Phase),
    ("delivery_pickup_to_completion", Buckets::Phase),
    ("payment_grpc_request_duration", Buckets::Latency),
];

/// A started Prometheus endpoint and the meter that feeds it. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Metrics {
    meter: Arc<dyn CoreMeter>,
    addr: SocketAddr,
}

impl Metrics {
    /// Serves `/metrics` on `addr` (port 0 picks a free port; see [`Metrics::addr`]).
    /// Needs a Tokio runtime.
    pub fn start(addr: SocketAddr) -> Result<Self, TelemetryError> {
        let overrides = HISTOGRAMS
            .iter()
            .map(|(name, buckets)| {
                let bounds = match buckets {
                    Buckets::Latency => LATENCY_BUCKETS.to_vec(),
                    Buckets::Phase => PHASE_BUCKETS.to_vec(),
                };
                ((*name).to_owned(), bounds)
            })
            .collect::<HashMap<_, _>>();
        let options = PrometheusExporterOptions::builder()
            .socket_addr(addr)
            .counters_total_suffix(true)
            .unit_suffix(true)
            .use_seconds_for_durations(true)
            .histogram_bucket_overrides(HistogramBucketOverrides {
                overrides: overrides.into_iter().collect(),
            })
            .build();
        let server = start_prometheus_metric_exporter(options)
            .map_err(|e| TelemetryError::Metrics(format!("{addr}: {e:#}")))?;
        Ok(Self {
            meter: server.meter,
            addr: server.bound_addr,
        })
    }

    /// Where `/metrics` is served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The meter the Temporal SDK records into (worker runtime and client connections).
    pub fn core_meter(&self) -> Arc<dyn CoreMeter> {
        self.meter.clone()
    }

    /// [`Metrics::core_meter`] as a Temporal client wants it: with the `temporal_` prefix and
    /// `service_name` label the SDK gives its worker series, so the API's client series
    /// (`temporal_request_total`, `temporal_request_latency_seconds`, ...) read the same.
    pub fn temporal_meter(&self) -> TemporalMeter {
        let options = TelemetryOptions::builder()
            .metrics(self.meter.clone())
            .build();
        telemetry_init(options)
            .ok()
            .and_then(|telemetry| telemetry.get_temporal_metric_meter())
            .unwrap_or_else(|| {
                TemporalMeter::new(
                    self.meter.clone(),
                    NewAttributes::default(),
                    TaskQueueLabelStrategy::UseNormal,
                )
            })
    }

    /// A counter; its series is `<name>_total`.
    pub fn counter(&self, name: &'static str, help: &'static str) -> Counter {
        self.meter.counter(
            MetricParameters::builder()
                .name(name)
                .description(help)
                .build(),
        )
    }

    /// A histogram of durations in seconds (`<name>_seconds`); buckets from [`HISTOGRAMS`].
    pub fn seconds(&self, name: &'static str, help: &'static str) -> HistogramDuration {
        self.meter.histogram_duration(
            MetricParameters::builder()
                .name(name)
                .description(help)
                .build(),
        )
    }

    /// Labels for one recording.
    pub fn labels(&self, pairs: &[(&'static str, &str)]) -> MetricAttributes {
        self.meter.new_attributes(NewAttributes::new(
            pairs
                .iter()
                .map(|(k, v)| MetricKeyValue::new(*k, (*v).to_owned()))
                .collect(),
        ))
    }
}

/// A duration between two instants in milliseconds since the epoch; zero when clocks disagree.
pub fn between_ms(from_ms: i64, to_ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(to_ms.saturating_sub(from_ms)).unwrap_or(0))
}
