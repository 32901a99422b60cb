//! The API's settings: defaults, overridden by environment variables.

use std::{net::SocketAddr, time::Duration};

/// Everything the API reads at start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `API_ADDR`, default `127.0.0.1:8080`.
    pub addr: SocketAddr,
    /// `TEMPORAL_ADDRESS`, default `127.0.0.1:7233`.
    pub temporal_address: String,
    /// `TEMPORAL_NAMESPACE`, default `default`.
    pub temporal_namespace: String,
    /// `DELIVERY_TASK_QUEUE`, default `deliveries`.
    pub task_queue: String,
    /// `PAYMENT_URL`, default `http://127.0.0.1:50051`.
    pub payment_url: String,
    /// `READMODEL_DATABASE_URL`, default `sqlite://.data/deliveries.db?mode=rwc`.
    pub readmodel_database_url: String,
    /// `API_PAYMENT_WAIT_MS`, default 3000: how long `POST /deliveries` waits for the payment
    /// registration before answering 202.
    pub payment_wait: Duration,
    /// `API_UPDATE_WAIT_MS`, default 5000: how long pickup, complete and cancel wait for a worker
    /// before answering 503.
    pub update_wait: Duration,
    /// `API_QUERY_TIMEOUT_MS`, default 2000: how long a read waits for the workflow before
    /// falling back to the delivery list.
    pub query_timeout: Duration,
    /// `DELIVERY_PICKUP_DEADLINE_SECS`: overrides the workflow's default (30 min).
    pub pickup_deadline_secs: Option<u64>,
    /// `DELIVERY_COMPLETION_DEADLINE_SECS`: overrides the workflow's default (2 h).
    pub completion_deadline_secs: Option<u64>,
    /// `API_METRICS_ADDR`, default `127.0.0.1:9101`, `off` for none: where the Prometheus
    /// endpoint is served. [`Settings::new`] leaves it off.
    pub metrics_addr: Option<SocketAddr>,
    /// `OPS_DRIFT_GRACE_MS`, default 3000: how long the delivery list may trail Temporal
    /// before `GET /ops/summary` reports a delivery as drifted.
    pub drift_grace: Duration,
}

/// Every variable the API reads (also valid as keys of the `DELIVERY_CONFIG` file), beside
/// Temporal's standard client variables (`workflows::client::TEMPORAL_ENV_VARS`).
pub const ENV_VARS: [&str; 14] = [
    "API_ADDR",
    "TEMPORAL_ADDRESS",
    "TEMPORAL_NAMESPACE",
    "DELIVERY_TASK_QUEUE",
    "PAYMENT_URL",
    "READMODEL_DATABASE_URL",
    "API_PAYMENT_WAIT_MS",
    "API_UPDATE_WAIT_MS",
    "API_QUERY_TIMEOUT_MS",
    "DELIVERY_PICKUP_DEADLINE_SECS",
    "DELIVERY_COMPLETION_DEADLINE_SECS",
    "API_METRICS_ADDR",
    "OPS_DRIFT_GRACE_MS",
    "DELIVERY_CONFIG",
];

/// A setting that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{name}: {reason}")]
pub struct SettingsError {
    pub name: &'static str,
    pub reason: String,
}

impl Settings {
    /// Defaults for everything, with the given addresses (for tests and embedding).
    pub fn new(temporal_address: &str, payment_url: &str, readmodel_database_url: &str) -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            temporal_address: temporal_address.to_owned(),
            temporal_namespace: "default".to_owned(),
            task_queue: workflows::names::DELIVERIES_QUEUE.to_owned(),
            payment_url: payment_url.to_owned(),
            readmodel_database_url: readmodel_database_url.to_owned(),
            payment_wait: Duration::from_millis(3000),
            update_wait: Duration::from_millis(5000),
            query_timeout: Duration::from_millis(2000),
            pickup_deadline_secs: None,
            completion_deadline_secs: None,
            metrics_addr: None,
            drift_grace: Duration::from_millis(3000),
        }
    }

    /// Reads the environment over the config file over the defaults; a bad value names the
    /// variable and why.
    pub fn from_env() -> Result<Self, SettingsError> {
        let layers = config::Layers::load().map_err(|e| SettingsError {
            name: config::CONFIG_VAR,
            reason: e.to_string(),
        })?;
        let text = |name: &'static str| layers.text(name);
        let parse = |name: &'static str| -> Result<Option<u64>, SettingsError> {
            text(name)
                .map(|v| {
                    v.trim().parse::<u64>().map_err(|e| SettingsError {
                        name,
                        reason: format!("{v:?} is not a whole number: {e}"),
                    })
                })
                .transpose()
        };
        let millis = |name: &'static str, default: u64| -> Result<Duration, SettingsError> {
            Ok(Duration::from_millis(parse(name)?.unwrap_or(default)))
        };
        let mut s = Self::new(
            &text("TEMPORAL_ADDRESS").unwrap_or_else(|| "127.0.0.1:7233".into()),
            &text("PAYMENT_URL").unwrap_or_else(|| "http://127.0.0.1:50051".into()),
            &text("READMODEL_DATABASE_URL")
                .unwrap_or_else(|| "sqlite://.data/deliveries.db?mode=rwc".into()),
        );
        if let Some(addr) = text("API_ADDR") {
            s.addr = addr.parse().map_err(|e| SettingsError {
                name: "API_ADDR",
                reason: format!("{addr:?}: {e}"),
            })?;
        }
        if let Some(ns) = text("TEMPORAL_NAMESPACE") {
            s.temporal_namespace = ns;
        }
        if let Some(queue) = text("DELIVERY_TASK_QUEUE") {
            if !queue.ends_with(workflows::names::DELIVERIES_QUEUE) {
                return Err(SettingsError {
                    name: "DELIVERY_TASK_QUEUE",
                    reason: format!("{queue:?} must end with \"deliveries\""),
                });
            }
            s.task_queue = queue;
        }
        s.payment_wait = millis("API_PAYMENT_WAIT_MS", 3000)?;
        s.update_wait = millis("API_UPDATE_WAIT_MS", 5000)?;
        s.query_timeout = millis("API_QUERY_TIMEOUT_MS", 2000)?;
        s.drift_grace = millis("OPS_DRIFT_GRACE_MS", 3000)?;
        let metrics = text("API_METRICS_ADDR").unwrap_or_else(|| "127.0.0.1:9101".into());
        s.metrics_addr = match metrics.trim() {
            "off" => None,
            addr => Some(addr.parse().map_err(|e| SettingsError {
                name: "API_METRICS_ADDR",
                reason: format!("{metrics:?} is not a socket address or `off`: {e}"),
            })?),
        };
        s.pickup_deadline_secs = parse("DELIVERY_PICKUP_DEADLINE_SECS")?;
        s.completion_deadline_secs = parse("DELIVERY_COMPLETION_DEADLINE_SECS")?;
        Ok(s)
    }
}
