//! The Temporal side of telemetry, for the processes that run Temporal (the API and the
//! worker): the `telemetry` crate is Temporal-free, so the payment service links none of this.
//!
//! - [`init_telemetry`]: `telemetry::Telemetry` with the SDK's replay-safe span ids
//!   (`WorkflowIdGenerator`), so a replayed workflow's spans keep their ids.
//! - [`TemporalMetrics`]: the SDK's metrics (`temporal_request_total`,
//!   `temporal_workflow_completed_total`, … about 100 series) recorded into the process's
//!   Prometheus registry (`telemetry::metrics::Metrics`) beside ours, so one `/metrics` serves
//!   both. It is a `CoreMeter` over the `prometheus` crate, named as the SDK's own Prometheus
//!   exporter names things: counters end in `_total`, durations are `_seconds` histograms with
//!   the SDK's default buckets.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::Duration,
};

use prometheus::{
    GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts,
    core::{Collector, Desc},
    proto::MetricFamily,
};
use telemetry::{Telemetry, TelemetryError, metrics::Metrics};
use temporalio_common::telemetry::{
    TelemetryOptions,
    metrics::{
        CoreMeter, Counter, CounterBase, Gauge, GaugeBase, GaugeF64, GaugeF64Base, Histogram,
        HistogramBase, HistogramDuration, HistogramDurationBase, HistogramF64, HistogramF64Base,
        MetricAttributable, MetricAttributes, MetricParameters, NewAttributes, OrderedPromLabelSet,
        TemporalMeter, UpDownCounter, UpDownCounterBase, default_buckets_for,
    },
    telemetry_init,
};
use temporalio_sdk::opentelemetry::WorkflowIdGenerator;

/// [`Telemetry::init`] for a process that runs Temporal workflows or their clients.
pub fn init_telemetry(
    service: &'static str,
    default_filter: &str,
    settings: &telemetry::Settings,
) -> Result<Telemetry, TelemetryError> {
    Telemetry::init_with_ids(
        service,
        default_filter,
        settings,
        WorkflowIdGenerator::default(),
    )
}

/// The Temporal SDK's meter, recording into a process's Prometheus registry. Cheap to clone.
#[derive(Clone, Debug)]
pub struct TemporalMetrics {
    meter: Arc<dyn CoreMeter>,
}

impl TemporalMetrics {
    /// Bridges the SDK's series into `metrics` (once per process).
    pub fn new(metrics: &Metrics) -> Result<Self, TelemetryError> {
        let families = Arc::new(Families::default());
        metrics.register(Box::new(FamiliesCollector(families.clone())))?;
        Ok(Self {
            meter: Arc::new(PrometheusMeter { families }),
        })
    }

    /// The meter a worker runtime records into (`TelemetryOptions::metrics`).
    pub fn core_meter(&self) -> Arc<dyn CoreMeter> {
        self.meter.clone()
    }

    /// The meter as a Temporal client wants it: with the `temporal_` prefix and `service_name`
    /// label the SDK gives its worker series, so the API's client series
    /// (`temporal_request_total`, `temporal_request_latency_seconds`, …) read the same.
    pub fn client_meter(&self) -> TemporalMeter {
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
                    temporalio_common::telemetry::TaskQueueLabelStrategy::UseNormal,
                )
            })
    }
}

/// One Prometheus vector per series name and label set: the SDK records one name with several
/// label sets, which a plain registry refuses, so the families are collected together.
#[derive(Clone)]
enum Vector {
    Counter(IntCounterVec),
    Histogram(HistogramVec),
    Gauge(IntGaugeVec),
    GaugeF64(GaugeVec),
}

impl Vector {
    fn collect(&self) -> Vec<MetricFamily> {
        match self {
            Self::Counter(v) => v.collect(),
            Self::Histogram(v) => v.collect(),
            Self::Gauge(v) => v.collect(),
            Self::GaugeF64(v) => v.collect(),
        }
    }
}

#[derive(Default)]
struct Families(RwLock<HashMap<(String, Vec<String>), Vector>>);

impl Families {
    fn vector(
        &self,
        name: &str,
        labels: &OrderedPromLabelSet,
        make: impl FnOnce(&[&str]) -> prometheus::Result<Vector>,
    ) -> Result<Vector, Box<dyn std::error::Error>> {
        let schema: Vec<String> = labels.keys_ordered().map(str::to_owned).collect();
        let key = (name.to_owned(), schema);
        if let Some(vector) = self.0.read().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(vector.clone());
        }
        let mut families = self.0.write().unwrap_or_else(|e| e.into_inner());
        if let Some(vector) = families.get(&key) {
            return Ok(vector.clone());
        }
        let names: Vec<&str> = key.1.iter().map(String::as_str).collect();
        let vector = make(&names)?;
        families.insert(key, vector.clone());
        Ok(vector)
    }
}

/// Hands every family to the registry at each scrape; the registry merges them by name.
struct FamiliesCollector(Arc<Families>);

impl Collector for FamiliesCollector {
    /// None: the families come and go with the SDK's instruments, so the registry does not
    /// check them at registration (it merges and sorts them at each scrape).
    fn desc(&self) -> Vec<&Desc> {
        Vec::new()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let families = self.0.0.read().unwrap_or_else(|e| e.into_inner());
        families.values().flat_map(Vector::collect).collect()
    }
}

#[derive(Debug)]
struct PrometheusMeter {
    families: Arc<Families>,
}

impl std::fmt::Debug for Families {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Families")
    }
}

/// One instrument: its series name, help and, for histograms, buckets.
struct Instrument {
    name: String,
    help: String,
    buckets: Vec<f64>,
    families: Arc<Families>,
}

impl PrometheusMeter {
    fn instrument(&self, params: &MetricParameters, suffix: &str, buckets: bool) -> Instrument {
        // Prometheus does not allow dashes.
        let base = params.name.replace('-', "_");
        let name = format!("{base}{suffix}");
        let help = if params.description.is_empty() {
            name.clone()
        } else {
            params.description.to_string()
        };
        let buckets = if buckets {
            default_buckets_for(base.strip_prefix("temporal_").unwrap_or(&base), true).to_vec()
        } else {
            Vec::new()
        };
        Instrument {
            name,
            help,
            buckets,
            families: self.families.clone(),
        }
    }

    fn histogram_instrument(&self, params: &MetricParameters) -> Instrument {
        let suffix = if params.unit.is_empty() {
            String::new()
        } else {
            format!("_{}", params.unit)
        };
        self.instrument(params, &suffix, true)
    }
}

impl CoreMeter for PrometheusMeter {
    fn new_attributes(&self, attribs: NewAttributes) -> MetricAttributes {
        MetricAttributes::Prometheus {
            labels: Arc::new(attribs.into()),
        }
    }

    fn extend_attributes(
        &self,
        existing: MetricAttributes,
        attribs: NewAttributes,
    ) -> MetricAttributes {
        let mut labels = match existing {
            MetricAttributes::Prometheus { labels } => Arc::unwrap_or_clone(labels),
            _ => OrderedPromLabelSet::new(),
        };
        for kv in attribs.attributes {
            labels.add_kv(kv);
        }
        MetricAttributes::Prometheus {
            labels: Arc::new(labels),
        }
    }

    fn counter(&self, params: MetricParameters) -> Counter {
        Counter::new(Arc::new(self.instrument(&params, "_total", false)))
    }

    fn histogram(&self, params: MetricParameters) -> Histogram {
        Histogram::new(Arc::new(self.histogram_instrument(&params)))
    }

    fn histogram_f64(&self, params: MetricParameters) -> HistogramF64 {
        HistogramF64::new(Arc::new(self.histogram_instrument(&params)))
    }

    fn histogram_duration(&self, mut params: MetricParameters) -> HistogramDuration {
        params.unit = "seconds".into();
        HistogramDuration::new(Arc::new(self.histogram_instrument(&params)))
    }

    fn gauge(&self, params: MetricParameters) -> Gauge {
        Gauge::new(Arc::new(self.instrument(&params, "", false)))
    }

    fn gauge_f64(&self, params: MetricParameters) -> GaugeF64 {
        GaugeF64::new(Arc::new(self.instrument(&params, "", false)))
    }

    fn up_down_counter(&self, params: MetricParameters) -> UpDownCounter {
        UpDownCounter::new(Arc::new(self.instrument(&params, "", false)))
    }
}

type Bound<T> = Result<T, Box<dyn std::error::Error>>;

fn labels_of(attributes: &MetricAttributes) -> Bound<OrderedPromLabelSet> {
    match attributes {
        MetricAttributes::Prometheus { labels } => Ok((**labels).clone()),
        MetricAttributes::Empty => Ok(OrderedPromLabelSet::new()),
        other => Err(format!("not attributes of this meter: {other:?}").into()),
    }
}

impl Instrument {
    fn counter(&self, labels: &OrderedPromLabelSet) -> Bound<prometheus::IntCounter> {
        let Vector::Counter(vector) = self.families.vector(&self.name, labels, |names| {
            IntCounterVec::new(Opts::new(&self.name, &self.help), names).map(Vector::Counter)
        })?
        else {
            return Err(format!("{} is not a counter", self.name).into());
        };
        Ok(vector.get_metric_with(&labels.as_prom_labels())?)
    }

    fn histogram(&self, labels: &OrderedPromLabelSet) -> Bound<prometheus::Histogram> {
        let Vector::Histogram(vector) = self.families.vector(&self.name, labels, |names| {
            let opts = HistogramOpts::new(&self.name, &self.help).buckets(self.buckets.clone());
            HistogramVec::new(opts, names).map(Vector::Histogram)
        })?
        else {
            return Err(format!("{} is not a histogram", self.name).into());
        };
        Ok(vector.get_metric_with(&labels.as_prom_labels())?)
    }

    fn gauge(&self, labels: &OrderedPromLabelSet) -> Bound<prometheus::IntGauge> {
        let Vector::Gauge(vector) = self.families.vector(&self.name, labels, |names| {
            IntGaugeVec::new(Opts::new(&self.name, &self.help), names).map(Vector::Gauge)
        })?
        else {
            return Err(format!("{} is not a gauge", self.name).into());
        };
        Ok(vector.get_metric_with(&labels.as_prom_labels())?)
    }

    fn gauge_f64(&self, labels: &OrderedPromLabelSet) -> Bound<prometheus::Gauge> {
        let Vector::GaugeF64(vector) = self.families.vector(&self.name, labels, |names| {
            GaugeVec::new(Opts::new(&self.name, &self.help), names).map(Vector::GaugeF64)
        })?
        else {
            return Err(format!("{} is not a gauge", self.name).into());
        };
        Ok(vector.get_metric_with(&labels.as_prom_labels())?)
    }
}

struct BoundCounter(prometheus::IntCounter);
struct BoundHistogram(prometheus::Histogram);
struct BoundGauge(prometheus::IntGauge);
struct BoundGaugeF64(prometheus::Gauge);

impl CounterBase for BoundCounter {
    fn adds(&self, value: u64) {
        self.0.inc_by(value);
    }
}

impl HistogramBase for BoundHistogram {
    fn records(&self, value: u64) {
        self.0.observe(value as f64);
    }
}

impl HistogramF64Base for BoundHistogram {
    fn records(&self, value: f64) {
        self.0.observe(value);
    }
}

impl HistogramDurationBase for BoundHistogram {
    fn records(&self, value: Duration) {
        self.0.observe(value.as_secs_f64());
    }
}

impl GaugeBase for BoundGauge {
    fn records(&self, value: u64) {
        self.0.set(i64::try_from(value).unwrap_or(i64::MAX));
    }
}

impl UpDownCounterBase for BoundGauge {
    fn adds(&self, value: i64) {
        self.0.add(value);
    }
}

impl GaugeF64Base for BoundGaugeF64 {
    fn records(&self, value: f64) {
        self.0.set(value);
    }
}

impl MetricAttributable<Box<dyn CounterBase>> for Instrument {
    fn with_attributes(&self, attributes: &MetricAttributes) -> Bound<Box<dyn CounterBase>> {
        Ok(Box::new(BoundCounter(
            self.counter(&labels_of(attributes)?)?,
        )))
    }
}

impl MetricAttributable<Box<dyn HistogramBase>> for Instrument {
    fn with_attributes(&self, attributes: &MetricAttributes) -> Bound<Box<dyn HistogramBase>> {
        Ok(Box::new(BoundHistogram(
            self.histogram(&labels_of(attributes)?)?,
        )))
    }
}

impl MetricAttributable<Box<dyn HistogramF64Base>> for Instrument {
    fn with_attributes(&self, attributes: &MetricAttributes) -> Bound<Box<dyn HistogramF64Base>> {
        Ok(Box::new(BoundHistogram(
            self.histogram(&labels_of(attributes)?)?,
        )))
    }
}

impl MetricAttributable<Box<dyn HistogramDurationBase>> for Instrument {
    fn with_attributes(
        &self,
        attributes: &MetricAttributes,
    ) -> Bound<Box<dyn HistogramDurationBase>> {
        Ok(Box::new(BoundHistogram(
            self.histogram(&labels_of(attributes)?)?,
        )))
    }
}

impl MetricAttributable<Box<dyn GaugeBase>> for Instrument {
    fn with_attributes(&self, attributes: &MetricAttributes) -> Bound<Box<dyn GaugeBase>> {
        Ok(Box::new(BoundGauge(self.gauge(&labels_of(attributes)?)?)))
    }
}

impl MetricAttributable<Box<dyn UpDownCounterBase>> for Instrument {
    fn with_attributes(&self, attributes: &MetricAttributes) -> Bound<Box<dyn UpDownCounterBase>> {
        Ok(Box::new(BoundGauge(self.gauge(&labels_of(attributes)?)?)))
    }
}

impl MetricAttributable<Box<dyn GaugeF64Base>> for Instrument {
    fn with_attributes(&self, attributes: &MetricAttributes) -> Bound<Box<dyn GaugeF64Base>> {
        Ok(Box::new(BoundGaugeF64(
            self.gauge_f64(&labels_of(attributes)?)?,
        )))
    }
}

#[cfg(test)]
mod tests {
    use temporalio_common::telemetry::metrics::MetricKeyValue;

    use super::*;

    #[tokio::test]
    async fn the_sdks_series_are_served_beside_ours_with_the_sdks_names() {
        let metrics = Metrics::start(([127, 0, 0, 1], 0).into()).unwrap();
        let meter = TemporalMetrics::new(&metrics).unwrap().core_meter();
        let one = |k: &str, v: &str| {
            meter.new_attributes(NewAttributes::new(vec![MetricKeyValue::new(
                k.to_owned(),
                v.to_owned(),
            )]))
        };
        let requests = meter.counter(MetricParameters::from("temporal_request"));
        requests.add(2, &one("operation", "StartWorkflowExecution"));
        // The same name with another label set, as the SDK records it.
        requests.add(1, &meter.new_attributes(NewAttributes::default()));
        meter
            .histogram_duration(MetricParameters::from(
                "temporal_workflow_task_execution_latency",
            ))
            .record(Duration::from_millis(20), &one("task_queue", "deliveries"));
        metrics
            .counter("delivery_status_changes", "ours", &["status"])
            .with_label_values(&["Called"])
            .inc();
        let text = reqwest_text(&format!("http://{}/metrics", metrics.addr())).await;
        assert!(
            text.contains("temporal_request_total{operation=\"StartWorkflowExecution\"} 2"),
            "{text}"
        );
        assert!(text.contains("temporal_request_total 1"), "{text}");
        assert!(
            text.contains("temporal_workflow_task_execution_latency_seconds_count{task_queue=\"deliveries\"} 1"),
            "{text}"
        );
        assert!(text.contains("delivery_status_changes_total{status=\"Called\"} 1"));
    }

    async fn reqwest_text(url: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = url
            .trim_start_matches("http://")
            .trim_end_matches("/metrics");
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).await.unwrap();
        text
    }
}
