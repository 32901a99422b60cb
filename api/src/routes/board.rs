//! What the operators' control room (`/ops`) reads: the board of open deliveries and the
//! latest money runs. Each is one request, cheap enough for a page that polls it every few
//! seconds: the board reads the delivery list and the dispatch store, plus one Temporal
//! visibility query for the deliveries needing attention; it never queries a workflow.

use std::collections::{BTreeMap, HashMap, HashSet};

use axum::{Json, extract::State};
use chrono::{DateTime, Utc};
use domain::{
    Cost, DeliveryId, DeliveryRow, DeliveryStatus, FailureReason, RestaurantId, RiderId, Text, Zone,
};
use futures::StreamExt as _;
use identity::Role;
use readmodel::ListFilter;
use serde::Serialize;
use temporalio_client::WorkflowListOptions;
use utoipa::ToSchema;
use workflows::names;

use super::{
    ops::{listed_by_status, needing_attention, unavailable_temporal},
    riders::restaurants_of,
};
use crate::{ApiError, AppState, auth::Caller, error::ErrorBody};

/// The statuses of a delivery still on the road to an end.
const OPEN: [DeliveryStatus; 3] = [
    DeliveryStatus::Called,
    DeliveryStatus::Assigned,
    DeliveryStatus::Picked,
];

/// Most rows of one open status the board shows; a bigger backlog sets `truncated`.
const ROWS_PER_STATUS: u64 = 500;

/// How many of the latest payout and invoice runs the control room shows.
const RUNS_SHOWN: usize = 10;

/// `GET /ops/board`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Board {
    /// Deliveries per status in the delivery list (every status named).
    counts: BTreeMap<String, u64>,
    /// The open deliveries (`Called`, `Assigned`, `Picked`) and any other needing attention:
    /// those needing attention first, then unassigned calls, then the longest waiting.
    items: Vec<BoardRow>,
    /// True when an open status had more than 500 deliveries; the oldest are left out.
    truncated: bool,
    /// Where the Temporal Web UI is (`null`: not configured, no links).
    temporal_ui: Option<TemporalUi>,
}

/// One delivery on the board.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BoardRow {
    #[schema(value_type = String)]
    delivery_id: DeliveryId,
    /// Its workflow in Temporal.
    workflow_id: String,
    #[schema(value_type = String)]
    restaurant_id: RestaurantId,
    /// `null` when the restaurant's account was deleted.
    #[schema(value_type = Option<String>)]
    restaurant_name: Option<Text>,
    /// The restaurant's zone; `null` when its account was deleted.
    #[schema(value_type = Option<String>)]
    zone: Option<Zone>,
    #[schema(value_type = String)]
    destination: Text,
    #[schema(value_type = i64)]
    cost: Cost,
    status: DeliveryStatus,
    #[schema(value_type = Option<String>)]
    rider_id: Option<RiderId>,
    /// When it entered its status (the call, the assignment, the pickup): what it has been
    /// waiting since.
    since: DateTime<Utc>,
    /// A call in offer mode whose offers ran out and that no rider has taken.
    unassigned: bool,
    /// Why it waits for an operator's `POST /deliveries/{id}/resolve`; `null` when it does not.
    attention: Option<String>,
    failure_reason: Option<FailureReason>,
}

/// The Temporal Web UI: a workflow is at `{url}/namespaces/{namespace}/workflows/{workflowId}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TemporalUi {
    url: String,
    namespace: String,
}

/// The live board of the control room.
#[utoipa::path(get, path = "/ops/board", tag = "operations", responses(
    (status = 200, description = "the open deliveries and the counts by status", body = Board),
    (status = 401, description = "no valid bearer token (`unauthorized`)", body = ErrorBody),
    (status = 403, description = "not an operator (`forbidden`)", body = ErrorBody),
    (status = 503, description = "Temporal or the delivery list database is unreachable (`dependency_unavailable`)", body = ErrorBody),
))]
pub(crate) async fn board(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<Board>, ApiError> {
    caller.require(&[Role::Operator])?;
    let readmodel = &state.inner.readmodel;
    let mut rows: Vec<DeliveryRow> = Vec::new();
    let mut truncated = false;
    for status in OPEN {
        let filter = ListFilter {
            status: Some(status),
            limit: ROWS_PER_STATUS,
            ..ListFilter::default()
        };
        let page = readmodel.list(&filter).await?;
        truncated |= page.next_cursor.is_some();
        rows.extend(page.items);
    }
    let attention: HashMap<String, String> = needing_attention(&state)
        .await?
        .into_iter()
        .map(|needs| (needs.delivery_id, needs.reason))
        .collect();
    // A delivery may need attention in any status (a failed one waiting for a decision, a
    // completed one whose settlement was refused).
    let shown: HashSet<String> = rows
        .iter()
        .map(|r| r.call.delivery_id.to_string())
        .collect();
    for id in attention.keys().filter(|id| !shown.contains(*id)) {
        let Ok(id) = id.parse::<DeliveryId>() else {
            continue;
        };
        rows.extend(readmodel.delivery(&id).await?);
    }
    let unassigned: HashSet<String> = readmodel
        .unassigned_calls(ROWS_PER_STATUS)
        .await?
        .into_iter()
        .map(|open| open.call.delivery_id.to_string())
        .collect();
    let restaurants = restaurants_of(&state, rows.iter().map(|r| &r.call.restaurant_id)).await?;

    let mut items: Vec<BoardRow> = rows
        .into_iter()
        .map(|row| {
            let id = row.call.delivery_id.to_string();
            let restaurant = restaurants.get(row.call.restaurant_id.as_str());
            BoardRow {
                workflow_id: names::workflow_id(&id),
                unassigned: unassigned.contains(&id),
                attention: attention.get(&id).cloned(),
                restaurant_name: restaurant.map(|(name, _)| name.clone()),
                zone: restaurant.map(|(_, profile)| profile.zone.clone()),
                delivery_id: row.call.delivery_id,
                restaurant_id: row.call.restaurant_id,
                destination: row.call.destination,
                cost: row.call.cost,
                status: row.status,
                rider_id: row.rider_id,
                since: row.updated_at,
                failure_reason: row.failure_reason,
            }
        })
        .collect();
    items.sort_by(|a, b| {
        (
            a.attention.is_none(),
            !a.unassigned,
            a.since,
            a.delivery_id.as_str(),
        )
            .cmp(&(
                b.attention.is_none(),
                !b.unassigned,
                b.since,
                b.delivery_id.as_str(),
            ))
    });
    Ok(Json(Board {
        counts: listed_by_status(&state).await?,
        items,
        truncated,
        temporal_ui: temporal_ui(&state),
    }))
}

fn temporal_ui(state: &AppState) -> Option<TemporalUi> {
    let url = state.settings().temporal_ui_url.0.clone()?;
    Some(TemporalUi {
        url,
        namespace: state.inner.temporal.options().namespace.clone(),
    })
}

/// `GET /ops/runs`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MoneyRuns {
    payouts: ScheduledRuns,
    invoices: ScheduledRuns,
    /// Where the Temporal Web UI is (`null`: not configured, no links).
    temporal_ui: Option<TemporalUi>,
}

/// The latest runs one Schedule started.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ScheduledRuns {
    /// The Temporal Schedule (`payouts`, `invoices`).
    schedule_id: String,
    /// Newest first, at most 10.
    runs: Vec<Run>,
}

/// One workflow run, as Temporal's visibility lists it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Run {
    workflow_id: String,
    run_id: String,
    /// `Running`, `Completed`, `Failed`, `Canceled`, `Terminated`, `ContinuedAsNew`, `TimedOut`.
    status: String,
    started_at: Option<DateTime<Utc>>,
    closed_at: Option<DateTime<Utc>>,
}

/// The latest payout and invoice runs, and their Schedules.
#[utoipa::path(get, path = "/ops/runs", tag = "operations", responses(
    (status = 200, description = "the latest runs of each Schedule, newest first", body = MoneyRuns),
    (status = 401, description = "no valid bearer token (`unauthorized`)", body = ErrorBody),
    (status = 403, description = "not an operator (`forbidden`)", body = ErrorBody),
    (status = 503, description = "Temporal is unreachable (`dependency_unavailable`)", body = ErrorBody),
))]
pub(crate) async fn runs(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<MoneyRuns>, ApiError> {
    caller.require(&[Role::Operator])?;
    let queue = &state.settings().queue.task_queue;
    Ok(Json(MoneyRuns {
        payouts: scheduled_runs(&state, names::payouts_schedule(queue)).await?,
        invoices: scheduled_runs(&state, names::invoices_schedule(queue)).await?,
        temporal_ui: temporal_ui(&state),
    }))
}

async fn scheduled_runs(state: &AppState, schedule_id: String) -> Result<ScheduledRuns, ApiError> {
    // Temporal sets `TemporalScheduledById` on every run a Schedule starts.
    let query = format!("TemporalScheduledById = '{schedule_id}'");
    let mut list = state.inner.temporal.list_workflows(
        query,
        WorkflowListOptions::builder().limit(RUNS_SHOWN).build(),
    );
    let mut runs = Vec::new();
    while let Some(execution) = list.next().await {
        let execution = execution.map_err(unavailable_temporal)?;
        runs.push(Run {
            workflow_id: execution.id().to_owned(),
            run_id: execution.run_id().to_owned(),
            status: format!("{:?}", execution.status()),
            started_at: execution.start_time().map(DateTime::from),
            closed_at: execution.close_time().map(DateTime::from),
        });
    }
    runs.sort_by_key(|run| std::cmp::Reverse(run.started_at));
    Ok(ScheduledRuns { schedule_id, runs })
}
