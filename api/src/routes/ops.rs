//! Liveness and readiness.

use std::time::Duration;

use axum::{Json, extract::State, http::StatusCode};
use futures::StreamExt as _;
use serde_json::{Value, json};
use temporalio_client::WorkflowListOptions;

use crate::AppState;

/// 200 while the process runs.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "the process runs")))]
pub(crate) async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// 200 only when Temporal and the delivery list database answer; else 503 naming the failure.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, description = "every dependency answers"),
    (status = 503, description = "a dependency is unreachable; `code` names it"),
))]
pub(crate) async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let limit = Duration::from_secs(2);
    let temporal = async {
        let mut list = state.inner.temporal.list_workflows(
            "WorkflowType='DeliveryWorkflow'",
            WorkflowListOptions::builder().limit(1).build(),
        );
        matches!(
            tokio::time::timeout(limit, list.next()).await,
            Ok(None | Some(Ok(_)))
        )
    };
    let database = async {
        matches!(
            tokio::time::timeout(limit, state.inner.readmodel.ping()).await,
            Ok(Ok(()))
        )
    };
    let (temporal_ok, database_ok) = tokio::join!(temporal, database);
    let failing: Vec<&str> = [
        ("temporal", temporal_ok),
        ("delivery_list_database", database_ok),
    ]
    .into_iter()
    .filter_map(|(name, ok)| (!ok).then_some(name))
    .collect();
    if failing.is_empty() {
        (StatusCode::OK, Json(json!({"status": "ready"})))
    } else {
        let message = format!("unreachable: {}", failing.join(", "));
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"code": "not_ready", "message": message, "failing": failing})),
        )
    }
}
