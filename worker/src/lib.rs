//! The worker: polls Temporal for delivery workflow tasks and for the saga's activities.
//!
//! Each bounded context has its own task queue (`deliveries`, `payments`, `dispatch`,
//! `projections`) and one process can serve any set of them ([`Role`]), so the rider side can
//! be down or scaled on its own without stopping restaurants from calling.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use activities::{Dispatch, Payments, Projections};
use axum::{Router, http::StatusCode, routing::get};
use readmodel::ReadModel;
use telemetry::metrics::{Metrics, MetricsAddr};
use temporalio_common::telemetry::TelemetryOptions;
use temporalio_sdk::{
    PatchActivationCallback, PatchActivationInput, Worker, WorkerOptions,
    runtime::{PollerBehavior, Runtime, RuntimeOptions},
};
use workflows::{
    DeliveryWorkflow, InvoiceRunWorkflow, PayoutRunWorkflow,
    client::{QueueSettings, TemporalSettings},
    model::PeriodLength,
    names,
    observability::TemporalMetrics,
};

pub mod schedules;

/// How long a workflow task waits on the sticky queue of the worker that cached its
/// workflow before any worker may take it. The SDK's default (10 s) is how long every
/// delivery cached on a worker that was restarted or killed would stall; a healthy worker
/// answers in milliseconds, so 3 s only costs a re-fetch of history when one is overloaded.
const STICKY_TIMEOUT: Duration = Duration::from_secs(3);

/// What a worker process serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// `DeliveryWorkflow` itself (queue `deliveries`), with the payment calls, offers to riders
    /// and delivery-list writes it runs as local activities (so it needs `PAYMENT_URL`,
    /// `PAYMENT_TLS_DIR` and `READMODEL_DATABASE_URL` as well).
    Deliveries,
    /// Payment activities (queue `payments`; `PAYMENT_URL` and `PAYMENT_TLS_DIR`).
    Payments,
    /// Offering calls to riders (queue `dispatch`).
    Dispatch,
    /// The delivery list (queue `projections`).
    Projections,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::Deliveries,
        Role::Payments,
        Role::Dispatch,
        Role::Projections,
    ];

    fn queue_name(self) -> &'static str {
        match self {
            Role::Deliveries => names::DELIVERIES_QUEUE,
            Role::Payments => names::PAYMENTS_QUEUE,
            Role::Dispatch => names::DISPATCH_QUEUE,
            Role::Projections => names::PROJECTIONS_QUEUE,
        }
    }
}

/// One role of a `--roles` / `WORKER_ROLES` list (spaces around it allowed).
fn role(name: &str) -> Result<Role, String> {
    <Role as clap::ValueEnum>::from_str(name.trim(), false).map_err(|_| {
        format!("unknown role {name:?}; expected some of deliveries,payments,dispatch,projections")
    })
}

/// `delivery-worker`: its settings, each with its flag, variable and default.
#[derive(clap::Parser, Debug, Clone)]
#[command(
    name = "delivery-worker",
    version,
    about = "The Temporal worker: runs DeliveryWorkflow and the saga's activities for the roles it is given"
)]
pub struct Settings {
    #[command(flatten)]
    pub config: config::ConfigFile,
    #[command(flatten)]
    pub temporal: TemporalSettings,
    #[command(flatten)]
    pub queue: QueueSettings,
    /// The roles this process serves, comma-separated: `deliveries` (the workflow and its local
    /// activities), `payments`, `dispatch`, `projections` (their activity queues)
    #[arg(
        long = "roles",
        env = "WORKER_ROLES",
        value_name = "ROLES",
        value_delimiter = ',',
        default_value = "deliveries,payments,dispatch,projections",
        value_parser = role
    )]
    pub roles: Vec<Role>,
    #[command(flatten)]
    pub payment: payment_api::ClientSettings,
    #[command(flatten)]
    pub readmodel: readmodel::DatabaseSettings,
    /// How long in-flight activities get to finish on shutdown, in seconds
    #[arg(
        long = "shutdown-grace-secs",
        env = "WORKER_SHUTDOWN_GRACE_SECS",
        value_name = "SECS",
        default_value = "10",
        value_parser = config::seconds
    )]
    pub shutdown_grace: Duration,
    /// Workflow patch ids this worker does not activate for new executions yet,
    /// comma-separated. During a rolling deploy of a patched workflow, new workers defer the
    /// patch until no old worker is left (an old worker could not replay a history carrying
    /// the new marker), then run without it
    #[arg(
        long = "deferred-patches",
        env = "WORKER_DEFERRED_PATCHES",
        value_name = "PATCHES",
        value_delimiter = ','
    )]
    pub deferred_patches: Vec<String>,
    /// Where Prometheus `/metrics` (the SDK's series and ours), `/healthz` and `/readyz` are
    /// served; `off` for nowhere
    #[arg(
        long = "metrics-addr",
        env = "WORKER_METRICS_ADDR",
        value_name = "ADDR",
        default_value = "127.0.0.1:9102"
    )]
    pub metrics_addr: MetricsAddr,
    /// Deliveries kept in memory between their tasks. A delivery evicted from the cache is
    /// rebuilt from its history at its next task (a read of ~30 events); this bounds the
    /// worker's memory however many deliveries wait for a rider (with 5,000 parked: 1,000
    /// cached reached 173 MB, 250 113 MB, 100 99.5 MB). Raise it when many deliveries are
    /// active at once
    #[arg(
        long = "max-cached-workflows",
        env = "WORKER_MAX_CACHED_WORKFLOWS",
        value_name = "N",
        default_value = "100"
    )]
    pub max_cached_workflows: usize,
    /// How long each riders' payout period is: `daily` (paid after UTC midnight), `monthly`,
    /// or a duration such as `60s` (tests and demos); the `payouts` Schedule follows it
    #[arg(
        long = "payout-period",
        env = "PAYOUT_PERIOD",
        value_name = "PERIOD",
        default_value = "daily"
    )]
    pub payout_period: PeriodLength,
    /// How long each restaurants' invoice period is: `monthly` (issued on the first), `daily`,
    /// or a duration such as `60s`; the `invoices` Schedule follows it
    #[arg(
        long = "invoice-period",
        env = "INVOICE_PERIOD",
        value_name = "PERIOD",
        default_value = "monthly"
    )]
    pub invoice_period: PeriodLength,
    #[command(flatten)]
    pub telemetry: telemetry::Settings,
}

impl Settings {
    /// The defaults, serving `roles` for the server at `temporal_address` (for tests and
    /// embedding; no metrics endpoint).
    pub fn new(temporal_address: &str, roles: Vec<Role>) -> Self {
        let mut settings: Self = config::defaults();
        settings.temporal = TemporalSettings::at(temporal_address, "default");
        settings.roles = roles;
        settings.metrics_addr = MetricsAddr(None);
        settings
    }
}

/// Why the worker stopped.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Connect(#[from] workflows::client::ConnectError),
    #[error(transparent)]
    Payment(#[from] payment_api::ClientError),
    #[error("delivery list database: {0}")]
    ReadModel(#[from] readmodel::ReadModelError),
    #[error("temporal worker: {0}")]
    Temporal(String),
    #[error("metrics endpoint: {0}")]
    Metrics(String),
    #[error("the payout and invoice schedules: {0}")]
    Schedules(String),
}

fn temporal_err(e: impl std::fmt::Display) -> WorkerError {
    WorkerError::Temporal(e.to_string())
}

/// `GET /healthz` (200 while the process runs) and `GET /readyz` (200 once connected to
/// Temporal with its workers polling, 503 before and while draining), beside `/metrics`.
fn health_routes(ready: Arc<AtomicBool>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(move || {
                let ready = ready.load(Ordering::Relaxed);
                async move {
                    if ready {
                        (StatusCode::OK, "ready\n")
                    } else {
                        (
                            StatusCode::SERVICE_UNAVAILABLE,
                            "not ready: connecting to Temporal, or draining\n",
                        )
                    }
                }
            }),
        )
}

/// Runs the workers for `settings.roles` until `shutdown` resolves, then drains: pollers stop,
/// in-flight activities get `shutdown_grace` to finish before they are cancelled.
///
/// The returned future is not `Send` (the SDK drives workflows on the current thread): run it
/// with `block_on` or on a thread of its own.
pub async fn run(
    settings: Settings,
    shutdown: impl Future<Output = ()>,
) -> Result<(), WorkerError> {
    let ready = Arc::new(AtomicBool::new(false));
    let metrics = settings
        .metrics_addr
        .0
        .map(|addr| Metrics::start_with(addr, health_routes(ready.clone())))
        .transpose()
        .map_err(|e| WorkerError::Metrics(e.to_string()))?;
    let temporal_metrics = metrics
        .as_ref()
        .map(TemporalMetrics::new)
        .transpose()
        .map_err(|e| WorkerError::Metrics(e.to_string()))?;
    let mut telemetry = TelemetryOptions::builder().build();
    if let (Some(metrics), Some(temporal_metrics)) = (&metrics, &temporal_metrics) {
        tracing::info!("worker metrics at http://{}/metrics", metrics.addr());
        telemetry.metrics = Some(temporal_metrics.core_meter());
    }
    let runtime = Runtime::from_current_tokio(
        RuntimeOptions::builder()
            .telemetry_options(telemetry)
            .build()
            .map_err(WorkerError::Temporal)?,
    )
    .map_err(temporal_err)?;
    let client = workflows::client::connect_with(
        &settings.temporal,
        temporal_metrics.as_ref().map(TemporalMetrics::client_meter),
        telemetry::exporting(),
    )
    .await?;
    let needs_store = settings
        .roles
        .iter()
        .any(|r| matches!(r, Role::Deliveries | Role::Dispatch | Role::Projections));
    let store = match needs_store {
        true => Some(
            ReadModel::connect_with(
                &settings.readmodel.database_url,
                &settings.readmodel.pool_options(),
            )
            .await?,
        ),
        false => None,
    };
    let prefix = settings
        .queue
        .task_queue
        .strip_suffix(names::DELIVERIES_QUEUE)
        .unwrap_or_default();

    let deferred = Arc::new(settings.deferred_patches.clone());
    let activate: PatchActivationCallback =
        Arc::new(move |input: PatchActivationInput| !deferred.contains(&input.patch_id));
    // One channel to the payment service, shared by every role that calls it; only those roles
    // need its url and certificate (a dispatch or projections worker holds no key that moves
    // money).
    let needs_payment = settings
        .roles
        .iter()
        .any(|r| matches!(r, Role::Deliveries | Role::Payments));
    let payment_client = match needs_payment {
        true => Some(
            settings
                .payment
                .connect_lazy(payment_api::tls::Caller::Worker, metrics.as_ref())?,
        ),
        false => None,
    };
    let payments = || {
        payment_client
            .clone()
            .map(|client| Payments::new(client).with_metrics(metrics.as_ref()))
    };
    let dispatch = |store: &ReadModel| Dispatch::new(store.clone()).with_metrics(metrics.as_ref());
    if settings.roles.contains(&Role::Deliveries) {
        schedules::ensure(
            &client,
            &format!("{prefix}{}", Role::Deliveries.queue_name()),
            settings.payout_period,
            settings.invoice_period,
        )
        .await
        .map_err(|e| WorkerError::Schedules(e.to_string()))?;
    }
    let mut workers = Vec::new();
    for role in &settings.roles {
        let queue = format!("{prefix}{}", role.queue_name());
        let options = WorkerOptions::new(queue.as_str())
            .graceful_shutdown_period(settings.shutdown_grace)
            .sticky_queue_schedule_to_start_timeout(STICKY_TIMEOUT)
            .max_cached_workflows(settings.max_cached_workflows)
            .workflow_task_poller_behavior(PollerBehavior::SimpleMaximum(
                names::WORKFLOW_TASK_POLLS,
            ))
            .nonsticky_to_sticky_poll_ratio(names::SHARED_QUEUE_POLL_RATIO)
            .patch_activation_callback(activate.clone());
        let options = match (role, &store, payments()) {
            // The workflow runs its payment calls, offers to riders and delivery-list writes as
            // local activities (v3), so they are registered here too; the other roles run them
            // for v1/v2 deliveries and when a local attempt keeps failing.
            (Role::Deliveries, Some(store), Some(payments)) => options
                .register_workflow::<DeliveryWorkflow>()
                .map_err(temporal_err)?
                .register_workflow::<PayoutRunWorkflow>()
                .map_err(temporal_err)?
                .register_workflow::<InvoiceRunWorkflow>()
                .map_err(temporal_err)?
                .register_activities(payments)
                .register_activities(dispatch(store))
                .register_activities(
                    Projections::new(store.clone()).with_metrics(metrics.as_ref()),
                ),
            (Role::Payments, _, Some(payments)) => options.register_activities(payments),
            (Role::Dispatch, Some(store), _) => options.register_activities(dispatch(store)),
            (Role::Projections, Some(store), _) => options.register_activities(
                Projections::new(store.clone()).with_metrics(metrics.as_ref()),
            ),
            (Role::Deliveries | Role::Dispatch | Role::Projections, None, _) => {
                unreachable!("the store is opened for these roles")
            }
            (Role::Deliveries | Role::Payments, _, None) => {
                unreachable!("the payment client is made for these roles")
            }
        };
        let worker =
            Worker::new(&runtime, client.clone(), options.build()).map_err(temporal_err)?;
        tracing::info!(task_queue = %queue, role = ?role, "worker polling");
        workers.push(worker);
    }

    let stop_all: Vec<_> = workers.iter().map(Worker::shutdown_handle).collect();
    let runs = futures::future::join_all(workers.iter_mut().map(Worker::run));
    // Ready from the first poll of the workers' run loops (they start polling at once) until
    // they stop or drain.
    let runs = async {
        ready.store(true, Ordering::Relaxed);
        let results = runs.await;
        ready.store(false, Ordering::Relaxed);
        results
    };
    futures::pin_mut!(runs);
    let results = futures::future::select(runs, Box::pin(shutdown)).await;
    let results = match results {
        futures::future::Either::Left((results, _)) => results,
        futures::future::Either::Right(((), runs)) => {
            ready.store(false, Ordering::Relaxed);
            tracing::info!("shutting down: draining in-flight tasks");
            stop_all.iter().for_each(|stop| stop());
            runs.await
        }
    };
    results
        .into_iter()
        .collect::<Result<Vec<()>, _>>()
        .map_err(temporal_err)?;
    tracing::info!("worker stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn roles_are_read_from_a_comma_separated_list() {
        let roles = |list: &str| {
            config::try_parse_from::<Settings>(["delivery-worker", "--roles", list])
                .map(|s| s.roles)
        };
        assert_eq!(
            roles("dispatch, payments").unwrap(),
            vec![Role::Dispatch, Role::Payments]
        );
        assert!(roles("").is_err());
        let unknown = roles("deliveries,riders").unwrap_err();
        assert_eq!(unknown.variable.as_deref(), Some("WORKER_ROLES"));
    }

    #[test]
    fn the_settings_are_well_formed_and_their_defaults_parse() {
        Settings::command().debug_assert();
        let settings: Settings = config::defaults();
        assert_eq!(settings.roles, Role::ALL);
        assert_eq!(settings.shutdown_grace, Duration::from_secs(10));
        assert!(settings.deferred_patches.is_empty());
        assert_eq!(settings.max_cached_workflows, 100);
    }

    #[tokio::test]
    async fn readyz_answers_503_until_ready_and_healthz_always_200() {
        let ready = Arc::new(AtomicBool::new(false));
        let metrics =
            Metrics::start_with(([127, 0, 0, 1], 0).into(), health_routes(ready.clone())).unwrap();
        let get = |path: &'static str| {
            let url = format!("http://{}{path}", metrics.addr());
            async move { reqwest::get(url).await.unwrap().status().as_u16() }
        };
        assert_eq!(get("/healthz").await, 200);
        assert_eq!(get("/readyz").await, 503);
        ready.store(true, Ordering::Relaxed);
        assert_eq!(get("/readyz").await, 200);
        assert_eq!(get("/metrics").await, 200);
    }
}
