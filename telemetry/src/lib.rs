//! Traces, metrics and logs, set up the same way in the API, the worker and the payment
//! service.
//!
//! - **Traces**: `tracing` spans become OpenTelemetry spans (`tracing-opentelemetry`) on one
//!   tracer provider per process, which the Temporal SDK's `OpenTelemetryPlugin` shares (it
//!   uses the global provider). They are exported over OTLP/gRPC when
//!   `OTEL_EXPORTER_OTLP_ENDPOINT` is set. Without it spans are still made, so every log line
//!   carries a trace id that links the three processes' logs, and W3C trace context still
//!   travels in Temporal headers and gRPC metadata; nothing leaves the process.
//! - **Metrics**: one Prometheus endpoint per process ([`metrics`]), serving our series and,
//!   in the processes that run Temporal, the Temporal SDK's (bridged in by `workflows::metrics`)
//!   from one registry.
//! - **Logs**: human-readable lines by default, JSON lines with `LOG_FORMAT=json`; filtered by
//!   `RUST_LOG`. Work is logged inside a span that carries `trace_id` and `delivery_id`, so
//!   both appear on each of its lines.
//!
//! Nothing here knows Temporal, so the payment service links none of it: the Temporal API and
//! worker pass the SDK's replay-safe span id generator to [`Telemetry::init_with_ids`].

pub mod grpc;
pub mod metrics;

use std::io::IsTerminal;

use opentelemetry::{
    global,
    propagation::{Extractor, Injector},
    trace::{TraceContextExt, TraceId, TracerProvider as _},
};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::{
    Resource,
    propagation::TraceContextPropagator,
    trace::{
        BatchConfigBuilder, BatchSpanProcessor, IdGenerator, RandomIdGenerator, SdkTracerProvider,
    },
};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt, util::SubscriberInitExt};

pub use opentelemetry::Context;
pub use tracing_opentelemetry::OpenTelemetrySpanExt as SpanExt;

/// How a process logs and exports its spans: every service flattens these into its settings.
#[derive(clap::Args, Debug, Clone, Default)]
#[group(id = "telemetry")]
pub struct Settings {
    /// How log lines look: one human-readable line per event, or one JSON object
    #[arg(long = "log-format", env = "LOG_FORMAT", value_enum, default_value_t)]
    pub log_format: LogFormat,
    /// Which events to log, as `tracing` filter directives (e.g. `info,sqlx=warn`); each binary
    /// has its own default (`info`)
    #[arg(long = "log", env = "RUST_LOG", value_name = "DIRECTIVES")]
    pub log_filter: Option<String>,
    /// Where spans are exported over OTLP/gRPC (e.g. `http://127.0.0.1:4317`); unset: nowhere
    #[arg(
        long = "otlp-endpoint",
        env = "OTEL_EXPORTER_OTLP_ENDPOINT",
        value_name = "URL"
    )]
    pub otlp_endpoint: Option<String>,
    /// Milliseconds between span exports [default: 5000]
    #[arg(
        long = "otlp-export-delay-ms",
        env = "OTEL_BSP_SCHEDULE_DELAY",
        value_name = "MS",
        value_parser = config::millis
    )]
    pub export_delay: Option<std::time::Duration>,
}

/// Telemetry could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("LOG_FORMAT={0:?}: expected `text` or `json`")]
    LogFormat(String),
    #[error("OTLP exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    #[error("a global log subscriber is already installed: {0}")]
    Subscriber(#[from] tracing_subscriber::util::TryInitError),
    #[error("Prometheus endpoint: {0}")]
    Metrics(String),
}

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event, with the fields of its spans.
    #[default]
    Text,
    /// One JSON object per event, with the fields of the current span and its parents.
    Json,
}

/// Keeps the tracer provider alive; [`Telemetry::shutdown`] flushes spans not yet exported.
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Telemetry {
    /// Installs the global log subscriber, tracer provider and W3C propagator for the process
    /// `service` (e.g. `payment-service`). `default_filter` applies when `RUST_LOG` is unset.
    pub fn init(
        service: &'static str,
        default_filter: &str,
        settings: &Settings,
    ) -> Result<Self, TelemetryError> {
        Self::init_with_ids(
            service,
            default_filter,
            settings,
            RandomIdGenerator::default(),
        )
    }

    /// [`Telemetry::init`], with span and trace ids from `ids` (a Temporal worker's are
    /// replay-safe, so a replayed workflow's spans keep their ids).
    pub fn init_with_ids(
        service: &'static str,
        default_filter: &str,
        settings: &Settings,
        ids: impl IdGenerator + 'static,
    ) -> Result<Self, TelemetryError> {
        let endpoint = settings
            .otlp_endpoint
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty());
        let mut provider = SdkTracerProvider::builder()
            .with_id_generator(ids)
            .with_resource(Resource::builder().with_service_name(service).build());
        EXPORTING.store(endpoint.is_some(), std::sync::atomic::Ordering::Relaxed);
        if let Some(endpoint) = endpoint {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint)
                .build()?;
            let mut batches = BatchConfigBuilder::default();
            if let Some(delay) = settings.export_delay {
                batches = batches.with_scheduled_delay(delay);
            }
            provider = provider.with_span_processor(
                BatchSpanProcessor::builder(exporter)
                    .with_batch_config(batches.build())
                    .build(),
            );
        }
        let provider = provider.build();
        global::set_tracer_provider(provider.clone());
        global::set_text_map_propagator(TraceContextPropagator::new());

        let filter = settings
            .log_filter
            .as_deref()
            .filter(|directives| !directives.trim().is_empty())
            .and_then(|directives| EnvFilter::try_new(directives).ok())
            .unwrap_or_else(|| EnvFilter::new(default_filter));
        let logs = match settings.log_format {
            LogFormat::Text => tracing_subscriber::fmt::layer()
                .with_ansi(std::io::stdout().is_terminal())
                .boxed(),
            LogFormat::Json => tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(true)
                .with_span_list(true)
                .boxed(),
        };
        let traces = tracing_opentelemetry::layer().with_tracer(provider.tracer(service));
        tracing_subscriber::registry()
            .with(filter)
            .with(logs)
            .with(traces)
            .try_init()?;
        Ok(Self { provider })
    }

    /// Exports the spans still buffered; call before the process exits.
    pub fn shutdown(self) {
        if let Err(e) = self.provider.shutdown() {
            eprintln!("telemetry: flushing spans failed: {e}");
        }
    }
}

/// Whether this process exports its spans (set by [`Telemetry::init`]): only then is tracing
/// worth what it costs Temporal (see `workflows::client::connect_with`).
pub fn exporting() -> bool {
    EXPORTING.load(std::sync::atomic::Ordering::Relaxed)
}

static EXPORTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The trace id of `span`, as the 32 hex digits trace viewers search by.
pub fn trace_id(span: &tracing::Span) -> String {
    trace_id_of(&span.context())
}

/// The trace id of an OpenTelemetry context (e.g. `Context::current()` inside an activity,
/// where the Temporal plugin set it).
pub fn trace_id_of(cx: &Context) -> String {
    let id = cx.span().span_context().trace_id();
    if id == TraceId::INVALID {
        String::new()
    } else {
        id.to_string()
    }
}

/// The trace id of the OpenTelemetry context current here: inside an activity, the Temporal
/// plugin's activity span; inside an entered `tracing` span, that span. For the `trace_id`
/// field of spans, e.g. `#[tracing::instrument(fields(trace_id = %telemetry::current_trace_id()))]`.
pub fn current_trace_id() -> String {
    trace_id_of(&Context::current())
}

pub(crate) struct HeaderInjector<'a>(&'a mut http::HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            http::header::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

/// Reads W3C trace context from request headers (gRPC metadata or HTTP).
pub struct HeaderExtractor<'a>(pub &'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// The trace context a caller sent in `headers` (none: a new trace starts).
pub fn extract_context(headers: &http::HeaderMap) -> Context {
    global::get_text_map_propagator(|propagator| propagator.extract(&HeaderExtractor(headers)))
}
