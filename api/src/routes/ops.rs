//! Liveness, readiness, and the drift check between the delivery list and Temporal.

use std::{
    collections::{BTreeMap, HashMap},
    time::Duration,
};

use axum::{Json, extract::State, http::StatusCode};
use futures::StreamExt as _;
use serde::Serialize;
use serde_json::{Value, json};
use temporalio_client::{
    NamespacedClient as _, WorkflowCountOptions, WorkflowListOptions, grpc::WorkflowService,
    tonic::IntoRequest as _,
};
use temporalio_common::protos::temporal::api::workflowservice::v1::DescribeNamespaceRequest;
use utoipa::ToSchema;
use workflows::names;

use crate::{ApiError, AppState, error::ErrorBody};

/// 200 while the process runs.
#[utoipa::path(get, path = "/healthz", tag = "operations", security(()), responses((status = 200, description = "the process runs")))]
pub(crate) async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// 200 while Temporal answers; else 503. Only Temporal's frontend and its store (the
/// namespace, `DescribeNamespace`): calls, pickups and completions need nothing else, so a blip
/// of the delivery list's database, or of Temporal's visibility store behind the search
/// queries, must not take every replica out of its Service (the routes that read the list
/// answer 503 with `Retry-After` meanwhile). A visibility query here timed out on 2 cores
/// loaded by the whole test suite while calls went on working.
#[utoipa::path(get, path = "/readyz", tag = "operations", security(()), responses(
    (status = 200, description = "Temporal answers"),
    (status = 503, description = "Temporal is unreachable (`not_ready`)"),
))]
pub(crate) async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let mut temporal = state.inner.temporal.clone();
    let request = DescribeNamespaceRequest {
        namespace: temporal.namespace(),
        ..Default::default()
    };
    let described = WorkflowService::describe_namespace(&mut temporal, request.into_request());
    let answered = tokio::time::timeout(Duration::from_secs(2), described).await;
    if matches!(answered, Ok(Ok(_))) {
        (StatusCode::OK, Json(json!({"status": "ready"})))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({"code": "not_ready", "message": "unreachable: temporal", "failing": ["temporal"]}),
            ),
        )
    }
}

/// The delivery statuses, in the order of a delivery's life.
const STATUSES: [domain::DeliveryStatus; 6] = domain::DeliveryStatus::ALL;

/// How many executions, most recently started first, the drift check compares one by one.
const DRIFT_SCAN_LIMIT: usize = 10_000;

/// The delivery list against Temporal's visibility.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OpsSummary {
    /// Deliveries per status in the delivery list.
    delivery_list: BTreeMap<String, u64>,
    /// Deliveries per status in Temporal (the `DeliveryStatus` search attribute).
    temporal: BTreeMap<String, u64>,
    /// Deliveries whose two statuses still disagreed after `graceMs`: the list is stuck
    /// behind its workflow (a failing projection, say), or the row has no workflow.
    drifted: Vec<Drift>,
    /// Executions compared one by one, most recently started first.
    scanned: usize,
    /// False when there were more executions than [`DRIFT_SCAN_LIMIT`] to compare.
    complete: bool,
    /// How long a disagreement may last before it counts: the projection's normal lag.
    grace_ms: u64,
    /// Deliveries waiting for an operator's decision (`POST /deliveries/{id}/resolve`), at
    /// most [`ATTENTION_LIMIT`], newest call first.
    attention: Vec<NeedsAttention>,
    /// Calls in offer mode whose offers ran out (rounds spent, or nobody to offer them to)
    /// and that no rider has taken yet, oldest first, at most [`UNASSIGNED_LIMIT`]: open to
    /// every rider, waiting for one or for a dispatcher's assignment.
    unassigned: Vec<UnassignedCall>,
}

/// A call nobody has taken after its offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UnassignedCall {
    delivery_id: String,
    restaurant_id: String,
    called_at: chrono::DateTime<chrono::Utc>,
    /// Offers made before it went to every rider.
    rounds: u32,
}

/// How many unassigned calls the summary lists.
const UNASSIGNED_LIMIT: u64 = 1_000;

/// A delivery that cannot move on by itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NeedsAttention {
    pub(super) delivery_id: String,
    /// What failed (the `Attention` search attribute).
    pub(super) reason: String,
}

/// How many deliveries needing attention the summary lists.
const ATTENTION_LIMIT: usize = 1_000;

/// One delivery the list and Temporal disagree about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Drift {
    delivery_id: String,
    /// `null`: no row in the delivery list.
    delivery_list: Option<String>,
    /// `null`: the workflow has no `DeliveryStatus`.
    temporal: Option<String>,
}

/// Counts by status from the delivery list and from Temporal, and the deliveries where they
/// disagree for longer than the projection's normal lag.
#[utoipa::path(get, path = "/ops/summary", tag = "operations", responses(
    (status = 200, description = "both sides' counts and the drifted deliveries", body = OpsSummary),
    (status = 401, description = "no valid bearer token (`unauthorized`)", body = ErrorBody),
    (status = 403, description = "not an operator (`forbidden`)", body = ErrorBody),
    (status = 503, description = "Temporal or the delivery list database is unreachable", body = ErrorBody),
))]
pub(crate) async fn summary(
    State(state): State<AppState>,
    crate::auth::Caller(caller): crate::auth::Caller,
) -> Result<Json<OpsSummary>, ApiError> {
    caller.require(&[identity::Role::Operator])?;
    let grace = state.settings().drift_grace;
    let delivery_list = listed_by_status(&state).await?;
    let mut temporal = BTreeMap::new();
    for status in STATUSES {
        let query = format!(
            "{DELIVERY_WORKFLOWS} AND DeliveryStatus = '{}'",
            status.as_str()
        );
        let count = state
            .inner
            .temporal
            .count_workflows(query, WorkflowCountOptions::default())
            .await
            .map_err(unavailable_temporal)?;
        temporal.insert(status.as_str().to_owned(), count.count() as u64);
    }

    let (seen, complete) = temporal_statuses(&state, DELIVERY_WORKFLOWS.to_owned()).await?;
    let mut suspects = disagreements(&state, &seen).await?;
    if !suspects.is_empty() {
        // A delivery that just moved is ahead of its row for a moment: look again later.
        tokio::time::sleep(grace).await;
        let ids: Vec<String> = suspects.iter().map(|d| d.delivery_id.clone()).collect();
        let mut again = HashMap::new();
        for batch in ids.chunks(100) {
            let quoted: Vec<String> = batch
                .iter()
                .map(|id| format!("'{}'", names::workflow_id(id)))
                .collect();
            let query = format!(
                "{DELIVERY_WORKFLOWS} AND WorkflowId IN ({})",
                quoted.join(", ")
            );
            again.extend(temporal_statuses(&state, query).await?.0);
        }
        let still = disagreements(&state, &again).await?;
        suspects = still;
    }
    Ok(Json(OpsSummary {
        delivery_list,
        temporal,
        drifted: suspects,
        scanned: seen.len(),
        complete,
        grace_ms: u64::try_from(grace.as_millis()).unwrap_or(u64::MAX),
        attention: needing_attention(&state).await?,
        unassigned: unassigned_calls(&state).await?,
    }))
}

/// Deliveries per status in the delivery list, every status named (0 when none).
pub(super) async fn listed_by_status(state: &AppState) -> Result<BTreeMap<String, u64>, ApiError> {
    let listed = state.inner.readmodel.count_by_status().await?;
    let mut counts: BTreeMap<String, u64> = STATUSES
        .iter()
        .map(|s| (s.as_str().to_owned(), 0))
        .collect();
    for (status, count) in listed {
        counts.insert(status.as_str().to_owned(), count);
    }
    Ok(counts)
}

/// The dispatch store's calls whose offers ran out.
async fn unassigned_calls(state: &AppState) -> Result<Vec<UnassignedCall>, ApiError> {
    let calls = state
        .inner
        .readmodel
        .unassigned_calls(UNASSIGNED_LIMIT)
        .await?;
    Ok(calls
        .into_iter()
        .map(|open| UnassignedCall {
            rounds: open.reach.round().saturating_sub(1),
            delivery_id: open.call.delivery_id.to_string(),
            restaurant_id: open.call.restaurant_id.to_string(),
            called_at: open.called_at,
        })
        .collect())
}

/// The running deliveries whose `Attention` is set.
pub(super) async fn needing_attention(state: &AppState) -> Result<Vec<NeedsAttention>, ApiError> {
    let query = format!(
        "{DELIVERY_WORKFLOWS} AND ExecutionStatus = 'Running' AND {}",
        names::NEEDS_ATTENTION
    );
    let mut list = state.inner.temporal.list_workflows(
        query,
        WorkflowListOptions::builder()
            .limit(ATTENTION_LIMIT)
            .build(),
    );
    let mut found = Vec::new();
    while let Some(execution) = list.next().await {
        let execution = execution.map_err(unavailable_temporal)?;
        let Some(id) = execution.id().strip_prefix("delivery-") else {
            continue;
        };
        if let Some(reason) = execution
            .search_attributes()
            .get(&names::ATTENTION)
            .filter(|r| !r.is_empty())
        {
            found.push(NeedsAttention {
                delivery_id: id.to_owned(),
                reason,
            });
        }
    }
    Ok(found)
}

const DELIVERY_WORKFLOWS: &str = "WorkflowType = 'DeliveryWorkflow'";

/// Delivery id → `DeliveryStatus` of the executions `query` lists, at most
/// [`DRIFT_SCAN_LIMIT`]; and whether that was all of them.
async fn temporal_statuses(
    state: &AppState,
    query: String,
) -> Result<(HashMap<String, Option<String>>, bool), ApiError> {
    let mut list = state.inner.temporal.list_workflows(
        query,
        WorkflowListOptions::builder()
            .limit(DRIFT_SCAN_LIMIT + 1)
            .build(),
    );
    let mut seen = HashMap::new();
    while let Some(execution) = list.next().await {
        let execution = execution.map_err(unavailable_temporal)?;
        if seen.len() == DRIFT_SCAN_LIMIT {
            return Ok((seen, false));
        }
        let Some(id) = execution.id().strip_prefix("delivery-") else {
            continue;
        };
        let status = execution.search_attributes().get(&names::DELIVERY_STATUS);
        seen.insert(id.to_owned(), status);
    }
    Ok((seen, true))
}

/// The deliveries of `seen` whose listed status differs from Temporal's.
async fn disagreements(
    state: &AppState,
    seen: &HashMap<String, Option<String>>,
) -> Result<Vec<Drift>, ApiError> {
    let ids: Vec<String> = seen.keys().cloned().collect();
    let listed = state.inner.readmodel.statuses(&ids).await?;
    let mut drifted: Vec<Drift> = seen
        .iter()
        .filter_map(|(id, temporal)| {
            let listed = listed.get(id).map(|s| s.as_str().to_owned());
            (listed != *temporal).then(|| Drift {
                delivery_id: id.clone(),
                delivery_list: listed,
                temporal: temporal.clone(),
            })
        })
        .collect();
    drifted.sort_by(|a, b| a.delivery_id.cmp(&b.delivery_id));
    Ok(drifted)
}

pub(super) fn unavailable_temporal(e: impl std::fmt::Display) -> ApiError {
    tracing::warn!(error = %e, "visibility query failed");
    ApiError::Unavailable("temporal")
}
