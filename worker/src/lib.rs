//! The worker: polls Temporal for delivery workflow tasks and for the saga's activities.
//!
//! Each bounded context has its own task queue (`deliveries`, `payments`, `dispatch`,
//! `projections`) and one process can serve any set of them ([`Role`]), so the rider side can
//! be down or scaled on its own without stopping restaurants from calling.

use std::{future::Future, net::SocketAddr, str::FromStr, sync::Arc, time::Duration};

use activities::{Dispatch, Payments, Projections};
use readmodel::ReadModel;
use telemetry::metrics::Metrics;
use temporalio_common::telemetry::TelemetryOptions;
use temporalio_sdk::{
    PatchActivationCallback, PatchActivationInput, Worker, WorkerOptions,
    runtime::{PollerBehavior, Runtime, RuntimeOptions},
};
use workflows::{DeliveryWorkflow, names};

/// How long a workflow task waits on the sticky queue of the worker that cached its
/// workflow before any worker may take it. The SDK's default (10 s) is how long every
/// delivery cached on a worker that was restarted or killed would stall; a healthy worker
/// answers in milliseconds, so 3 s only costs a re-fetch of history when one is overloaded.
const STICKY_TIMEOUT: Duration = Duration::from_secs(3);

/// What a worker process serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `DeliveryWorkflow` itself (queue `deliveries`), with the payment calls, offers to riders
    /// and delivery-list writes it runs as local activities (so it needs `PAYMENT_URL` and
    /// `READMODEL_DATABASE_URL` as well).
    Deliveries,
    /// Payment activities (queue `payments`).
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

impl FromStr for Role {
    type Err = SettingsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.queue_name() == s.trim())
            .ok_or_else(|| SettingsError::Invalid {
                name: "WORKER_ROLES",
                reason: format!(
                    "unknown role {s:?}; expected some of deliveries,payments,dispatch,projections"
                ),
            })
    }
}

/// The worker's settings, read from the environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `TEMPORAL_ADDRESS`, default `127.0.0.1:7233`.
    pub temporal_address: String,
    /// `TEMPORAL_NAMESPACE`, default `default`.
    pub temporal_namespace: String,
    /// `DELIVERY_TASK_QUEUE`, default `deliveries`; activity queues take the same prefix.
    pub task_queue: String,
    /// `WORKER_ROLES`, comma-separated, default all four.
    pub roles: Vec<Role>,
    /// `PAYMENT_URL`, default `http://127.0.0.1:50051`.
    pub payment_url: String,
    /// `READMODEL_DATABASE_URL`, default `sqlite://.data/deliveries.db?mode=rwc`.
    pub readmodel_database_url: String,
    /// `WORKER_SHUTDOWN_GRACE_SECS`, default 10: how long in-flight activities get on shutdown.
    pub shutdown_grace: Duration,
    /// `WORKER_DEFERRED_PATCHES`, comma-separated patch ids, default none: workflow patches
    /// this worker does not activate for new executions yet. During a rolling deploy of a
    /// patched workflow, new workers defer the patch until no old worker is left (an old
    /// worker could not replay a history carrying the new marker), then run without it.
    pub deferred_patches: Vec<String>,
    /// `WORKER_METRICS_ADDR`, default `127.0.0.1:9102`, `off` for none: where the Prometheus
    /// endpoint (the SDK's series and ours) is served.
    pub metrics_addr: Option<SocketAddr>,
    /// `WORKER_MAX_CACHED_WORKFLOWS`, default 100: deliveries kept in memory between their
    /// tasks. A delivery evicted from the cache is rebuilt from its history at its next task
    /// (a read of ~30 events). This bounds the worker's memory however many deliveries wait
    /// for a rider: with 5,000 parked, the SDK's default (1,000) reached 173 MB, 250 113 MB,
    /// 100 99.5 MB. Raise it when many deliveries are active at once.
    pub max_cached_workflows: usize,
}

/// Every variable the worker reads (also valid as keys of the `DELIVERY_CONFIG` file), beside
/// Temporal's standard client variables (`workflows::client::TEMPORAL_ENV_VARS`).
pub const ENV_VARS: [&str; 12] = [
    "TEMPORAL_ADDRESS",
    "TEMPORAL_NAMESPACE",
    "DELIVERY_TASK_QUEUE",
    "WORKER_ROLES",
    "PAYMENT_URL",
    "READMODEL_DATABASE_URL",
    "WORKER_SHUTDOWN_GRACE_SECS",
    "WORKER_DEFERRED_PATCHES",
    "WORKER_METRICS_ADDR",
    "WORKER_MAX_CACHED_WORKFLOWS",
    "DELIVERY_CONFIG",
    // The invariant checker, shipped in the same image, also reads the ledger's database.
    "PAYMENT_DATABASE_URL",
];

/// A setting that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{name}: {reason}")]
    Invalid { name: &'static str, reason: String },
}

impl Settings {
    /// Reads the settings from the environment over the config file over the defaults.
    pub fn from_env() -> Result<Self, SettingsError> {
        let layers = config::Layers::load().map_err(|e| SettingsError::Invalid {
            name: config::CONFIG_VAR,
            reason: e.to_string(),
        })?;
        let var =
            |name: &str, default: &str| layers.text(name).unwrap_or_else(|| default.to_owned());
        let roles = parse_roles(&var(
            "WORKER_ROLES",
            "deliveries,payments,dispatch,projections",
        ))?;
        let grace = var("WORKER_SHUTDOWN_GRACE_SECS", "10");
        let grace = grace.parse::<u64>().map_err(|e| SettingsError::Invalid {
            name: "WORKER_SHUTDOWN_GRACE_SECS",
            reason: format!("{grace:?} is not a number of seconds: {e}"),
        })?;
        let task_queue = var("DELIVERY_TASK_QUEUE", names::DELIVERIES_QUEUE);
        if !task_queue.ends_with(names::DELIVERIES_QUEUE) {
            return Err(SettingsError::Invalid {
                name: "DELIVERY_TASK_QUEUE",
                reason: format!("{task_queue:?} must end with {:?}", names::DELIVERIES_QUEUE),
            });
        }
        let cache = var("WORKER_MAX_CACHED_WORKFLOWS", "100");
        let max_cached_workflows =
            cache
                .trim()
                .parse::<usize>()
                .map_err(|e| SettingsError::Invalid {
                    name: "WORKER_MAX_CACHED_WORKFLOWS",
                    reason: format!("{cache:?} is not a whole number: {e}"),
                })?;
        let metrics = var("WORKER_METRICS_ADDR", "127.0.0.1:9102");
        let metrics_addr = match metrics.trim() {
            "off" => None,
            addr => Some(addr.parse().map_err(|e| SettingsError::Invalid {
                name: "WORKER_METRICS_ADDR",
                reason: format!("{metrics:?} is not a socket address or `off`: {e}"),
            })?),
        };
        Ok(Self {
            temporal_address: var("TEMPORAL_ADDRESS", "127.0.0.1:7233"),
            temporal_namespace: var("TEMPORAL_NAMESPACE", "default"),
            task_queue,
            roles,
            payment_url: var("PAYMENT_URL", "http://127.0.0.1:50051"),
            readmodel_database_url: var(
                "READMODEL_DATABASE_URL",
                "sqlite://.data/deliveries.db?mode=rwc",
            ),
            shutdown_grace: Duration::from_secs(grace),
            deferred_patches: var("WORKER_DEFERRED_PATCHES", "")
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect(),
            metrics_addr,
            max_cached_workflows,
        })
    }
}

/// Reads a comma-separated role list (`deliveries,payments,dispatch,projections`).
pub fn parse_roles(list: &str) -> Result<Vec<Role>, SettingsError> {
    let roles = list
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(Role::from_str)
        .collect::<Result<Vec<_>, _>>()?;
    if roles.is_empty() {
        return Err(SettingsError::Invalid {
            name: "WORKER_ROLES",
            reason: "no role given".into(),
        });
    }
    Ok(roles)
}

/// Why the worker stopped.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Connect(#[from] workflows::client::ConnectError),
    #[error("invalid payment service url {0:?}")]
    PaymentUrl(String),
    #[error("delivery list database: {0}")]
    ReadModel(#[from] readmodel::ReadModelError),
    #[error("temporal worker: {0}")]
    Temporal(String),
    #[error("metrics endpoint: {0}")]
    Metrics(String),
}

fn temporal_err(e: impl std::fmt::Display) -> WorkerError {
    WorkerError::Temporal(e.to_string())
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
    let metrics = settings
        .metrics_addr
        .map(Metrics::start)
        .transpose()
        .map_err(|e| WorkerError::Metrics(e.to_string()))?;
    let mut telemetry = TelemetryOptions::builder().build();
    if let Some(metrics) = &metrics {
        tracing::info!("worker metrics at http://{}/metrics", metrics.addr());
        telemetry.metrics = Some(metrics.core_meter());
    }
    let runtime = Runtime::from_current_tokio(
        RuntimeOptions::builder()
            .telemetry_options(telemetry)
            .build()
            .map_err(WorkerError::Temporal)?,
    )
    .map_err(temporal_err)?;
    let client = workflows::client::connect_with(
        &settings.temporal_address,
        &settings.temporal_namespace,
        metrics.as_ref().map(Metrics::temporal_meter),
        telemetry::exporting(),
    )
    .await?;
    let needs_store = settings
        .roles
        .iter()
        .any(|r| matches!(r, Role::Deliveries | Role::Dispatch | Role::Projections));
    let store = match needs_store {
        true => Some(ReadModel::connect(&settings.readmodel_database_url).await?),
        false => None,
    };
    let prefix = settings
        .task_queue
        .strip_suffix(names::DELIVERIES_QUEUE)
        .unwrap_or_default();

    let deferred = Arc::new(settings.deferred_patches.clone());
    let activate: PatchActivationCallback =
        Arc::new(move |input: PatchActivationInput| !deferred.contains(&input.patch_id));
    let payments = || -> Result<Payments, WorkerError> {
        let channel = tonic::transport::Endpoint::from_shared(settings.payment_url.clone())
            .map_err(|_| WorkerError::PaymentUrl(settings.payment_url.clone()))?
            .connect_timeout(Duration::from_secs(3))
            .connect_lazy();
        Ok(Payments::new(payment::client(channel, metrics.as_ref())))
    };
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
        let options = match (role, &store) {
            // The workflow runs its payment calls, offers to riders and delivery-list writes as
            // local activities (v3), so they are registered here too; the other roles run them
            // for v1/v2 deliveries and when a local attempt keeps failing.
            (Role::Deliveries, Some(store)) => options
                .register_workflow::<DeliveryWorkflow>()
                .map_err(temporal_err)?
                .register_activities(payments()?)
                .register_activities(Dispatch::new(store.clone()))
                .register_activities(
                    Projections::new(store.clone()).with_metrics(metrics.as_ref()),
                ),
            (Role::Payments, _) => options.register_activities(payments()?),
            (Role::Dispatch, Some(store)) => {
                options.register_activities(Dispatch::new(store.clone()))
            }
            (Role::Projections, Some(store)) => options.register_activities(
                Projections::new(store.clone()).with_metrics(metrics.as_ref()),
            ),
            (Role::Deliveries | Role::Dispatch | Role::Projections, None) => {
                unreachable!("the store is opened for these roles")
            }
        };
        let worker =
            Worker::new(&runtime, client.clone(), options.build()).map_err(temporal_err)?;
        tracing::info!(task_queue = %queue, role = ?role, "worker polling");
        workers.push(worker);
    }

    let stop_all: Vec<_> = workers.iter().map(Worker::shutdown_handle).collect();
    let runs = futures::future::join_all(workers.iter_mut().map(Worker::run));
    futures::pin_mut!(runs);
    let results = futures::future::select(runs, Box::pin(shutdown)).await;
    let results = match results {
        futures::future::Either::Left((results, _)) => results,
        futures::future::Either::Right(((), runs)) => {
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
    use super::*;

    #[test]
    fn roles_are_read_from_a_comma_separated_list() {
        assert_eq!(
            parse_roles("dispatch, payments").unwrap(),
            vec![Role::Dispatch, Role::Payments]
        );
        assert!(parse_roles("").is_err());
        assert!(parse_roles("deliveries,riders").is_err());
    }
}
