//! The HTTP API of the delivery agency (see `shared/api-contract.md`).
//!
//! A thin layer: restaurant and rider requests become workflow starts, updates and queries
//! on Temporal; reports read the delivery list; payment lookups go to the payment service.
//! It holds no state of its own, so it can be restarted or scaled at will.
//! `main` only reads [`Settings`] and binds; tests call [`router`] or [`serve`] directly.

mod error;
mod input;
mod observe;
mod openapi;
mod routes;
mod settings;
mod temporal;
mod web;

use std::{future::Future, sync::Arc};

use axum::{Router, extract::DefaultBodyLimit, middleware};
pub use error::{ApiError, ErrorBody};
pub use settings::{ENV_VARS, Settings, SettingsError};
use temporalio_client::Client;
use tokio::net::TcpListener;

/// Largest request body accepted; every valid request is far smaller.
const BODY_LIMIT: usize = 16 * 1024;

/// What every handler shares: cheap clones of pooled clients.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Settings,
    temporal: Client,
    readmodel: readmodel::ReadModel,
    payments: payment::PaymentClient,
    /// Where the request metrics go; `None` when the endpoint is off.
    http_metrics: Option<observe::HttpMetrics>,
    /// The process's Prometheus endpoint, kept so it lives as long as the API.
    metrics: Option<telemetry::metrics::Metrics>,
}

/// A dependency the API could not reach at start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Temporal(#[from] workflows::client::ConnectError),
    #[error("delivery list database: {0}")]
    ReadModel(#[from] readmodel::ReadModelError),
    #[error("invalid payment service url {0:?}")]
    PaymentUrl(String),
    #[error("metrics endpoint: {0}")]
    Metrics(#[from] telemetry::TelemetryError),
}

impl AppState {
    /// Connects to Temporal and the delivery list; the payment service is reached lazily.
    pub async fn connect(settings: Settings) -> Result<Self, StartError> {
        let metrics = settings
            .metrics_addr
            .map(telemetry::metrics::Metrics::start)
            .transpose()?;
        let temporal = workflows::client::connect_with(
            &settings.temporal_address,
            &settings.temporal_namespace,
            metrics
                .as_ref()
                .map(telemetry::metrics::Metrics::temporal_meter),
            telemetry::exporting(),
        )
        .await?;
        let readmodel = readmodel::ReadModel::connect(&settings.readmodel_database_url).await?;
        let channel = tonic::transport::Endpoint::from_shared(settings.payment_url.clone())
            .map_err(|_| StartError::PaymentUrl(settings.payment_url.clone()))?
            .connect_timeout(std::time::Duration::from_secs(2))
            .connect_lazy();
        let payments = payment::client(channel, metrics.as_ref());
        Ok(Self {
            inner: Arc::new(Inner {
                settings,
                temporal,
                readmodel,
                payments,
                http_metrics: metrics.as_ref().map(observe::HttpMetrics::new),
                metrics,
            }),
        })
    }

    fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// Where the Prometheus endpoint listens, when it is on.
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.inner
            .metrics
            .as_ref()
            .map(telemetry::metrics::Metrics::addr)
    }
}

/// All routes of the contract, with JSON errors for unknown routes and oversized bodies.
pub fn router(state: AppState) -> Router {
    routes::router()
        .merge(openapi::router())
        .merge(web::router())
        .fallback(|| async {
            ApiError::NotFound {
                code: "not_found",
                message: "no such route".into(),
            }
        })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            observe::observe,
        ))
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` resolves, finishing in-flight requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
