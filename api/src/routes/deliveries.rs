//! Restaurants call and cancel; riders pick up and complete; anyone reads a delivery.

use std::time::Instant;

use axum::{
    Json,
    body::Bytes,
    extract::{Path, State, rejection::BytesRejection},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use temporalio_client::{
    WorkflowIdConflictPolicy, WorkflowIdReusePolicy, WorkflowStartOptions,
    WorkflowUpdateWithStartOptions,
    errors::{WorkflowStartError, WorkflowUpdateWithStartError},
};
use temporalio_common::{MemoValues, search_attributes::SearchAttributes};
use utoipa::ToSchema;
use workflows::{
    DeliveryWorkflow,
    model::{
        CancelRequest, DeliveryInput, DeliveryStatus, DeliveryView, PaymentStatus, PaymentSummary,
        RiderRequest,
    },
    names,
};

use crate::{
    AppState,
    error::{ApiError, ErrorBody},
    input, temporal,
};

/// `POST /deliveries` body.
#[allow(dead_code)]
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateDeliveryBody {
    #[schema(example = "r-1", max_length = 256)]
    restaurant_id: String,
    #[schema(example = "Seoul, Gangnam-gu, Teheran-ro 1", max_length = 256)]
    destination: String,
    /// Delivery fee in KRW.
    #[schema(example = 20000, minimum = 1, maximum = 1_000_000)]
    cost: i64,
    #[schema(max_length = 256)]
    customer_id: Option<String>,
}

/// `pickup` / `complete` body.
#[allow(dead_code)]
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RiderBody {
    #[schema(example = "rider-7", max_length = 256)]
    rider_id: String,
}

/// `cancel` body (may be empty).
#[allow(dead_code)]
#[derive(Deserialize, ToSchema)]
pub(crate) struct CancelBody {
    #[schema(example = "customer cancelled the order", max_length = 256)]
    reason: Option<String>,
}

/// Memo keys: what the restaurant asked for, readable in the Temporal UI and used to check
/// that a repeated `Idempotency-Key` carries the same request.
const MEMO_FIELDS: [&str; 4] = ["restaurantId", "destination", "cost", "customerId"];

/// Call a rider.
#[utoipa::path(post, path = "/deliveries", tag = "restaurants", request_body = CreateDeliveryBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "the same key and body give the same delivery")),
    responses(
        (status = 201, description = "payment registered; the call is confirmed", body = DeliveryView),
        (status = 202, description = "durably started; payment not confirmed yet", body = DeliveryView),
        (status = 400, description = "malformed JSON", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
        (status = 422, description = "invalid field, reused idempotency key, or payment refused", body = ErrorBody),
        (status = 503, description = "Temporal unreachable", body = ErrorBody),
    ))]
pub(crate) async fn create_delivery(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = input::object(&body?, false)?;
    let restaurant_id = input::required_text(&body, "restaurantId")?;
    let destination = input::required_text(&body, "destination")?;
    let cost = input::cost(&body)?;
    let customer_id = input::optional_text(&body, "customerId")?;
    let idempotency_key = idempotency_key(&headers)?;

    let delivery_id = match &idempotency_key {
        // Same restaurant and key → same delivery, so a retried call never makes a second one.
        Some(key) => uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_OID,
            format!("{restaurant_id}\n{key}").as_bytes(),
        )
        .to_string(),
        None => uuid::Uuid::now_v7().to_string(),
    };
    // The request's span (see `observe`) names the delivery on every line it logs.
    tracing::Span::current().record("delivery_id", &delivery_id);
    let settings = state.settings();
    let request = DeliveryInput {
        delivery_id: delivery_id.clone(),
        restaurant_id,
        destination,
        cost,
        customer_id,
        pickup_deadline_secs: settings.pickup_deadline_secs,
        completion_deadline_secs: settings.completion_deadline_secs,
    };
    let view = start(&state, &request).await?;
    let view = view.unwrap_or_else(|| pending_view(&request));
    let status = match view.payment.status {
        PaymentStatus::Pending => StatusCode::ACCEPTED,
        PaymentStatus::Rejected => {
            return Err(ApiError::invalid(
                "cost",
                view.cancel_reason
                    .unwrap_or_else(|| "payment refused the fee".into()),
            ));
        }
        _ => StatusCode::CREATED,
    };
    let location = [(header::LOCATION, format!("/deliveries/{delivery_id}"))];
    Ok((status, location, Json(view)).into_response())
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .map_err(|_| ApiError::invalid("Idempotency-Key", "Idempotency-Key must be visible ASCII"))?
        .trim();
    if key.is_empty() || key.len() > input::MAX_TEXT_LEN {
        return Err(ApiError::invalid(
            "Idempotency-Key",
            "Idempotency-Key must be 1 to 256 characters",
        ));
    }
    Ok(Some(key.to_owned()))
}

fn memo_values(request: &DeliveryInput) -> Vec<serde_json::Value> {
    vec![
        request.restaurant_id.clone().into(),
        request.destination.clone().into(),
        request.cost.into(),
        request.customer_id.clone().into(),
    ]
}

/// Starts the workflow and waits, at most `API_PAYMENT_WAIT_MS`, for payment's decision on the
/// fee: the view once decided, `None` when it did not come in time (the start is durable).
///
/// One round trip: the start carries the workflow's `registration` update (update-with-start),
/// which the workflow answers in its first task, where it registers the fee (local activity).
/// Polling a query instead costs a round trip per poll, and a query that reaches the first task
/// makes the worker answer `Pending` and finish that task early, three more history events.
/// A delivery id seen before must carry the same request (then its current view is awaited).
async fn start(
    state: &AppState,
    request: &DeliveryInput,
) -> Result<Option<DeliveryView>, ApiError> {
    let settings = state.settings();
    let waited = Instant::now();
    let options = WorkflowUpdateWithStartOptions::new(
        settings.task_queue.clone(),
        names::workflow_id(&request.delivery_id),
        WorkflowIdConflictPolicy::Fail,
    )
    .id_reuse_policy(WorkflowIdReusePolicy::RejectDuplicate)
    .task_timeout(names::WORKFLOW_TASK_TIMEOUT)
    .search_attributes(search_attributes(request))
    .memo(memo(request))
    .static_summary(summary(request))
    .build();
    let call = state.inner.temporal.execute_update_with_start_workflow(
        DeliveryWorkflow::run,
        request.clone(),
        DeliveryWorkflow::registration,
        (),
        options,
    );
    let handle = temporal::handle(state, &request.delivery_id);
    let remaining = || settings.payment_wait.saturating_sub(waited.elapsed());
    match tokio::time::timeout(settings.payment_wait, call).await {
        Ok(Ok(view)) => Ok(Some(view)),
        Ok(Err(WorkflowUpdateWithStartError::Start(WorkflowStartError::AlreadyStarted {
            ..
        }))) => {
            same_request(state, request).await?;
            Ok(temporal::await_registration(&handle, remaining()).await)
        }
        // Started, but the update got no answer (e.g. the workflow closed first): ask the view.
        Ok(Err(WorkflowUpdateWithStartError::Update(e))) => {
            tracing::debug!(error = %e, "registration update failed");
            Ok(temporal::await_registration(&handle, remaining()).await)
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "workflow start failed");
            Err(ApiError::Unavailable("temporal"))
        }
        // No decision in time (workers or payment down), and the call may not even have been
        // started: a plain start settles it either way (already started by us, or started now).
        Err(_) => start_only(state, request).await.map(|()| None),
    }
}

/// Starts the workflow without waiting for anything; a delivery id seen before must carry the
/// same request.
async fn start_only(state: &AppState, request: &DeliveryInput) -> Result<(), ApiError> {
    let options = WorkflowStartOptions::new(
        state.settings().task_queue.clone(),
        names::workflow_id(&request.delivery_id),
    )
    .id_conflict_policy(WorkflowIdConflictPolicy::Fail)
    .id_reuse_policy(WorkflowIdReusePolicy::RejectDuplicate)
    .task_timeout(names::WORKFLOW_TASK_TIMEOUT)
    .search_attributes(search_attributes(request))
    .memo(memo(request))
    .static_summary(summary(request))
    .build();
    match state
        .inner
        .temporal
        .start_workflow(DeliveryWorkflow::run, request.clone(), options)
        .await
    {
        Ok(_) => Ok(()),
        Err(WorkflowStartError::AlreadyStarted { .. }) => same_request(state, request).await,
        Err(e) => {
            tracing::warn!(error = %e, "workflow start failed");
            Err(ApiError::Unavailable("temporal"))
        }
    }
}

fn search_attributes(request: &DeliveryInput) -> SearchAttributes {
    SearchAttributes::new([
        names::DELIVERY_STATUS.value_set(DeliveryStatus::Called.as_str().to_owned()),
        names::RESTAURANT_ID.value_set(request.restaurant_id.clone()),
    ])
}

fn memo(request: &DeliveryInput) -> MemoValues {
    let mut memo = MemoValues::new();
    for (key, value) in MEMO_FIELDS.into_iter().zip(memo_values(request)) {
        memo.insert(key, value);
    }
    memo
}

fn summary(request: &DeliveryInput) -> String {
    format!(
        "{} → {} ({} KRW)",
        request.restaurant_id, request.destination, request.cost
    )
}

async fn same_request(state: &AppState, request: &DeliveryInput) -> Result<(), ApiError> {
    match stored_request(state, &request.delivery_id).await? {
        Some(stored) if stored == memo_values(request) => Ok(()),
        _ => Err(ApiError::IdempotencyMismatch(
            "this Idempotency-Key was already used with a different request".into(),
        )),
    }
}

/// The request a delivery was started with, from its workflow's memo (no worker needed);
/// `None` when there is no such workflow.
async fn stored_request(
    state: &AppState,
    delivery_id: &str,
) -> Result<Option<Vec<serde_json::Value>>, ApiError> {
    let handle = temporal::handle(state, delivery_id);
    let description = match handle.describe(Default::default()).await {
        Ok(description) => description,
        Err(temporalio_client::errors::WorkflowInteractionError::NotFound(_)) => return Ok(None),
        Err(e) => {
            tracing::warn!(error = %e, "describe failed");
            return Err(ApiError::Unavailable("temporal"));
        }
    };
    let memo = description.memo();
    Ok(Some(
        MEMO_FIELDS
            .into_iter()
            .map(|key| {
                memo.get::<serde_json::Value>(key)
                    .ok()
                    .flatten()
                    .unwrap_or_default()
            })
            .collect(),
    ))
}

/// What a caller can be told before the workflow has answered: called, payment pending.
fn pending_view(request: &DeliveryInput) -> DeliveryView {
    DeliveryView {
        delivery_id: request.delivery_id.clone(),
        restaurant_id: request.restaurant_id.clone(),
        destination: request.destination.clone(),
        cost: request.cost,
        status: DeliveryStatus::Called,
        rider_id: None,
        payment: PaymentSummary {
            status: PaymentStatus::Pending,
            amount: None,
        },
        settled: None,
        cancel_reason: None,
        overdue: false,
    }
}

/// The live state of a delivery.
#[utoipa::path(get, path = "/deliveries/{delivery_id}", tag = "restaurants",
    params(("delivery_id" = String, Path)),
    responses(
        (status = 200, description = "live state from the workflow, or the delivery list when no worker answers", body = DeliveryView),
        (status = 404, description = "unknown delivery", body = ErrorBody),
    ))]
pub(crate) async fn get_delivery(
    State(state): State<AppState>,
    Path(delivery_id): Path<String>,
) -> Result<Response, ApiError> {
    if !input::plain_id(&delivery_id) {
        return Err(ApiError::delivery_not_found(&delivery_id));
    }
    let handle = temporal::handle(&state, &delivery_id);
    match temporal::query(&handle, state.settings().query_timeout).await {
        Ok(view) => Ok(Json(view).into_response()),
        Err(temporal::QueryFailure::NotFound) => fallback(&state, &delivery_id, false).await,
        Err(temporal::QueryFailure::Unanswered) => fallback(&state, &delivery_id, true).await,
    }
}

/// When the workflow cannot answer, the delivery list and the payment service can.
async fn fallback(
    state: &AppState,
    delivery_id: &str,
    may_exist: bool,
) -> Result<Response, ApiError> {
    let row = state
        .inner
        .readmodel
        .delivery(delivery_id)
        .await
        .map_err(ApiError::internal)?;
    let Some(row) = row else {
        // Not projected yet: a delivery whose workers are down still has its start request.
        let stored = match may_exist {
            true => stored_request(state, delivery_id).await?,
            false => None,
        };
        let Some([restaurant_id, destination, cost, _]) =
            stored.and_then(|v| <[_; 4]>::try_from(v).ok())
        else {
            return Err(ApiError::delivery_not_found(delivery_id));
        };
        let request = DeliveryInput {
            delivery_id: delivery_id.to_owned(),
            restaurant_id: restaurant_id.as_str().unwrap_or_default().to_owned(),
            destination: destination.as_str().unwrap_or_default().to_owned(),
            cost: cost.as_i64().unwrap_or_default(),
            customer_id: None,
            pickup_deadline_secs: None,
            completion_deadline_secs: None,
        };
        return Ok((
            [("x-delivery-source", "workflow-start")],
            Json(pending_view(&request)),
        )
            .into_response());
    };
    let payment = super::payments::lookup(state, delivery_id)
        .await
        .ok()
        .flatten();
    let view = DeliveryView {
        delivery_id: row.delivery_id,
        restaurant_id: row.restaurant_id,
        destination: row.destination,
        cost: row.cost,
        status: match row.status {
            readmodel::DeliveryStatus::Called => DeliveryStatus::Called,
            readmodel::DeliveryStatus::Picked => DeliveryStatus::Picked,
            readmodel::DeliveryStatus::Completed => DeliveryStatus::Completed,
            readmodel::DeliveryStatus::Cancelled => DeliveryStatus::Cancelled,
        },
        rider_id: row.rider_id,
        payment: PaymentSummary {
            status: payment
                .as_ref()
                .map_or(PaymentStatus::Pending, |p| p.status),
            amount: payment.as_ref().map(|p| p.amount),
        },
        settled: row.settled,
        cancel_reason: None,
        overdue: false,
    };
    Ok(([("x-delivery-source", "delivery-list")], Json(view)).into_response())
}

fn checked_id(delivery_id: &str) -> Result<(), ApiError> {
    match input::plain_id(delivery_id) {
        true => Ok(()),
        false => Err(ApiError::delivery_not_found(delivery_id)),
    }
}

/// Cancel before pickup: the payment is voided.
#[utoipa::path(post, path = "/deliveries/{delivery_id}/cancel", tag = "restaurants", request_body = CancelBody,
    params(("delivery_id" = String, Path)),
    responses(
        (status = 200, description = "cancelled; payment voided", body = DeliveryView),
        (status = 404, description = "unknown delivery", body = ErrorBody),
        (status = 409, description = "already picked up or finished", body = ErrorBody),
        (status = 422, description = "invalid field", body = ErrorBody),
        (status = 503, description = "no worker answered; nothing changed (Retry-After)", body = ErrorBody),
    ))]
pub(crate) async fn cancel_delivery(
    State(state): State<AppState>,
    Path(delivery_id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<DeliveryView>, ApiError> {
    let body = input::object(&body?, true)?;
    let reason = input::optional_text(&body, "reason")?;
    checked_id(&delivery_id)?;
    let view = temporal::update(
        &state,
        &delivery_id,
        DeliveryWorkflow::cancel,
        CancelRequest {
            reason,
            expires_at_ms: Some(temporal::update_expiry(&state)),
        },
    )
    .await?;
    Ok(Json(view))
}

/// A rider picks the food up; the first one wins.
#[utoipa::path(post, path = "/deliveries/{delivery_id}/pickup", tag = "riders", request_body = RiderBody,
    params(("delivery_id" = String, Path)),
    responses(
        (status = 200, description = "picked up", body = DeliveryView),
        (status = 404, description = "unknown delivery", body = ErrorBody),
        (status = 409, description = "another rider was faster, or it is cancelled or finished", body = ErrorBody),
        (status = 422, description = "invalid field", body = ErrorBody),
        (status = 503, description = "no worker answered; nothing changed (Retry-After)", body = ErrorBody),
    ))]
pub(crate) async fn pickup_delivery(
    State(state): State<AppState>,
    Path(delivery_id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<DeliveryView>, ApiError> {
    rider_update(&state, &delivery_id, body, DeliveryWorkflow::pickup).await
}

/// The rider who picked the food up completes the delivery; payment is settled.
#[utoipa::path(post, path = "/deliveries/{delivery_id}/complete", tag = "riders", request_body = RiderBody,
    params(("delivery_id" = String, Path)),
    responses(
        (status = 200, description = "completed; settlement follows", body = DeliveryView),
        (status = 403, description = "another rider picked it up", body = ErrorBody),
        (status = 404, description = "unknown delivery", body = ErrorBody),
        (status = 409, description = "not picked up yet, or already completed", body = ErrorBody),
        (status = 422, description = "invalid field", body = ErrorBody),
        (status = 503, description = "no worker answered; nothing changed (Retry-After)", body = ErrorBody),
    ))]
pub(crate) async fn complete_delivery(
    State(state): State<AppState>,
    Path(delivery_id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<DeliveryView>, ApiError> {
    rider_update(&state, &delivery_id, body, DeliveryWorkflow::complete).await
}

/// A rider's `pickup` or `complete`: validate the body, then send the update.
async fn rider_update<U>(
    state: &AppState,
    delivery_id: &str,
    body: Result<Bytes, BytesRejection>,
    update: U,
) -> Result<Json<DeliveryView>, ApiError>
where
    U: temporalio_common::UpdateDefinition<
            Workflow = <DeliveryWorkflow as temporalio_common::HasWorkflowDefinition>::Run,
            Input = RiderRequest,
            Output = DeliveryView,
        >,
{
    let rider_id = input::required_text(&input::object(&body?, false)?, "riderId")?;
    checked_id(delivery_id)?;
    let request = RiderRequest {
        rider_id,
        expires_at_ms: Some(temporal::update_expiry(state)),
    };
    Ok(Json(
        temporal::update(state, delivery_id, update, request).await?,
    ))
}
