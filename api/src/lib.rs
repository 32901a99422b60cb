//! The HTTP API of the delivery agency (see `shared/api-contract.md`).
//!
//! A thin layer: restaurant and rider requests become workflow starts, updates and queries
//! on Temporal; reports read the delivery list; payment lookups go to the payment service.
//! It holds no state of its own, so it can be restarted or scaled at will (the one thing it
//! remembers, the calls it started lately, is a hint that saves a Temporal lookup).
//! `main` only reads [`Settings`] and binds; tests call [`router`] or [`serve`] directly.

mod access;
mod auth;
mod error;
mod extract;
mod limits;
mod observe;
mod openapi;
mod routes;
mod service;
mod settings;
mod temporal;
mod web;

use std::{future::Future, sync::Arc};

pub use auth::IdentityError;
use axum::{Router, extract::DefaultBodyLimit, middleware};
pub use error::{ApiError, ErrorBody};
pub use limits::LimitSettings;
pub use settings::{AccountsCommand, Command, IdentitySettings, Settings};
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
    payments: payment_api::PaymentClient,
    identity: auth::Identity,
    /// The payload encryption keys of the Temporal client, for the codec server (`/codec`).
    codec: codec::EncryptionCodec,
    /// Where the request metrics go; `None` when the endpoint is off.
    http_metrics: Option<observe::HttpMetrics>,
    /// The process's Prometheus endpoint, kept so it lives as long as the API.
    metrics: Option<telemetry::metrics::Metrics>,
    started: service::StartedCalls,
}

/// A dependency the API could not reach at start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Temporal(#[from] workflows::client::ConnectError),
    #[error("delivery list database: {0}")]
    ReadModel(#[from] readmodel::ReadModelError),
    #[error(transparent)]
    Payment(#[from] payment_api::ClientError),
    #[error("metrics endpoint: {0}")]
    Metrics(#[from] telemetry::TelemetryError),
    #[error(transparent)]
    Identity(#[from] auth::IdentityError),
}

impl AppState {
    /// Connects to Temporal and the delivery list; the payment service is reached lazily.
    /// The delivery list must have been migrated (`delivery-api migrate`).
    pub async fn connect(settings: Settings) -> Result<Self, StartError> {
        let metrics = settings
            .metrics_addr
            .0
            .map(telemetry::metrics::Metrics::start)
            .transpose()?;
        let temporal_metrics = metrics
            .as_ref()
            .map(workflows::observability::TemporalMetrics::new)
            .transpose()?;
        tracing::info!("connecting to Temporal");
        let codec = settings
            .temporal
            .codec
            .load()
            .map_err(workflows::client::ConnectError::from)?;
        let temporal = workflows::client::connect_with_codec(
            &settings.temporal,
            codec.clone(),
            temporal_metrics
                .as_ref()
                .map(workflows::observability::TemporalMetrics::client_meter),
            telemetry::exporting(),
        )
        .await?;
        tracing::info!("connected to Temporal; opening the delivery list");
        let readmodel = readmodel::ReadModel::connect_with(
            &settings.readmodel.database_url,
            &settings.readmodel.pool_options(),
        )
        .await?;
        let payments = settings
            .payment
            .connect_lazy(payment_api::tls::Caller::Api, metrics.as_ref())?;
        tracing::info!("delivery list open; opening the accounts and signing keys");
        let identity = auth::Identity::connect(&settings.identity, &settings.readmodel).await?;
        Ok(Self {
            inner: Arc::new(Inner {
                settings,
                temporal,
                readmodel,
                payments,
                identity,
                codec,
                http_metrics: metrics.as_ref().map(observe::HttpMetrics::new),
                metrics,
                started: service::StartedCalls::default(),
            }),
        })
    }

    fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    fn identity(&self) -> &auth::Identity {
        &self.inner.identity
    }

    /// Where the Prometheus endpoint listens, when it is on.
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.inner
            .metrics
            .as_ref()
            .map(telemetry::metrics::Metrics::addr)
    }
}

/// The OpenAPI document of every route, as `GET /openapi.json` serves it.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, document) = api_routes(&[]).split_for_parts();
    document
}

/// The routes; the codec routes also answer `codec_origins` (CORS), which the document
/// does not depend on.
fn api_routes(
    codec_origins: &[axum::http::HeaderValue],
) -> utoipa_axum::router::OpenApiRouter<AppState> {
    use utoipa::OpenApi as _;
    utoipa_axum::router::OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(routes::router(codec_origins))
}

/// All routes of the contract, with JSON errors for unknown routes and oversized bodies.
pub fn router(state: AppState) -> Router {
    let (routes, document) = api_routes(&state.settings().codec_cors_origins).split_for_parts();
    // Rendered once: the document never changes while the process runs.
    let document = axum::body::Bytes::from(document.to_json().unwrap_or_default());
    let document = move || {
        let document = document.clone();
        async move {
            (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                document,
            )
        }
    };
    routes
        .route("/openapi.json", axum::routing::get(document))
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

/// Serves the API on `listener` behind the listener's limits until `shutdown` resolves, then
/// finishes the requests in flight.
///
/// Connections are served with hyper-util rather than `axum::serve` for one setting the latter
/// does not expose: hyper's header-read timeout, which closes a connection that trickles its
/// headers (a slowloris client) instead of holding it open.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::{
        rt::{TokioExecutor, TokioIo, TokioTimer},
        server::{conn::auto, graceful::GracefulShutdown},
        service::TowerToHyperService,
    };
    use tower::ServiceExt as _;

    let limits = state.settings().limits.clone();
    let app = limits::apply(router(state), &limits);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: wait, as a busy server would.
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = app.clone().map_request(
            move |mut request: axum::http::Request<hyper::body::Incoming>| {
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                request
            },
        );
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service))
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
