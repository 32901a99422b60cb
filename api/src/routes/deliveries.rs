//! Restaurants call and cancel; riders pick up and complete; each reads the deliveries it
//! may see (`crate::access`). The restaurant and rider ids come from the caller's token.

use axum::{
    Json,
    extract::{FromRequestParts, Path, State},
    http::{StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use domain::{
    Cost, CustomerId, DeliveryId, DeliveryStatus, DeliveryView, FailureReason, PaymentStatus,
    Resolution, RiderId, Text,
};
use identity::{Principal, Role};
use serde::Deserialize;
use temporalio_common::UpdateDefinition;
use utoipa::ToSchema;
use workflows::{
    DeliveryWorkflow,
    model::{
        CancelRequest, DeclineRequest, FailRequest, ReassignRequest, ResolveRequest, RiderRequest,
    },
};

use crate::{
    AppState, access,
    auth::Caller,
    error::{ApiError, BadInput, ErrorBody},
    extract::{JsonBody, OptionalJsonBody},
    routes::riders::{self, Taker},
    service::{self, CallRequest, IdempotencyKey},
    temporal,
};

/// `POST /deliveries` body. The restaurant is the caller (its token), never a body field.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CallBody {
    destination: Text,
    cost: Cost,
    /// The restaurant's reference for its customer.
    #[serde(default)]
    customer_id: Option<CustomerId>,
}

/// `pickup` / `complete` body: none is needed (an empty object is accepted); the rider is the
/// caller.
#[derive(Default, Deserialize, ToSchema)]
pub(crate) struct RiderBody {}

/// `decline` body: why the rider passes on the offer (optional).
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeclineBody {
    #[serde(default)]
    reason: Option<Text>,
}

/// `resolve` body: an operator's decision on a delivery that waits for one.
#[derive(Deserialize, ToSchema)]
pub(crate) struct ResolveBody {
    /// `retry` runs the failed step again; `settle` pays the rider holding the delivery (it
    /// ends `Completed`); `void` returns the fee to the restaurant (it ends `Cancelled`).
    outcome: Resolution,
    /// Why, for the delivery's record.
    #[serde(default)]
    note: Option<Text>,
}

/// `fail` body: why the rider cannot hand the food over.
#[derive(Deserialize, ToSchema)]
pub(crate) struct FailBody {
    /// `customer_unreachable`, `address_not_found` and `customer_refused` settle the fee (the
    /// trip was made); `damaged` voids it; `other` waits for an operator's decision.
    reason: FailureReason,
    /// What happened, for the record.
    #[serde(default)]
    note: Option<Text>,
}

/// `reassign` body: the rider the delivery goes to.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReassignBody {
    #[schema(value_type = String)]
    rider_id: RiderId,
    /// Why, for the record.
    #[serde(default)]
    reason: Option<Text>,
}

/// `cancel` body; may be left out.
#[derive(Default, Deserialize, ToSchema)]
pub(crate) struct CancelBody {
    /// Why, for the delivery's record.
    #[serde(default)]
    reason: Option<Text>,
}

/// The delivery id of the path; anything outside the id grammar is an unknown delivery.
pub(crate) struct DeliveryPath(pub(crate) DeliveryId);

impl<S: Send + Sync> FromRequestParts<S> for DeliveryPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(id) = Path::<String>::from_request_parts(parts, state).await?;
        DeliveryId::parse(id.as_str())
            .map(Self)
            .map_err(|_| ApiError::delivery_not_found(&id))
    }
}

/// The optional `Idempotency-Key` header.
pub(crate) struct IdempotencyHeader(pub(crate) Option<IdempotencyKey>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyHeader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        match parts.headers.get("idempotency-key") {
            None => Ok(Self(None)),
            Some(key) => IdempotencyKey::parse(key.as_bytes()).map(|k| Self(Some(k))),
        }
    }
}

/// Call a rider.
#[utoipa::path(post, path = "/deliveries", tag = "restaurants", request_body = CallBody,
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[\\x20-\\x7E]{1,64}$",
        description = "the same key and body give the same delivery, however long ago (keys are kept for good); another body under the key is 422 `idempotency_key_reused`")),
    responses(
        (status = 201, description = "payment registered; the call is confirmed", body = DeliveryView,
            headers(("Location" = String, description = "the delivery"))),
        (status = 202, description = "durably started; payment not confirmed yet", body = DeliveryView,
            headers(("Location" = String, description = "the delivery"))),
        BadInput,
        (status = 401, description = "no valid bearer token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "not a restaurant (`forbidden`)", body = ErrorBody),
        (status = 409, description = "the Idempotency-Key's delivery is closed and can no longer be shown (`delivery_closed`); it is not made again", body = ErrorBody),
        (status = 503, description = "Temporal or the delivery-list database unreachable; nothing was started", body = ErrorBody),
    ))]
pub(crate) async fn create_delivery(
    State(state): State<AppState>,
    Caller(caller): Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    JsonBody(body): JsonBody<CallBody>,
) -> Result<Response, ApiError> {
    let request = CallRequest {
        restaurant_id: caller.restaurant_id()?,
        destination: body.destination,
        cost: body.cost,
        customer_id: body.customer_id,
    };
    let view = service::call(&state, request, key).await?;
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
    let location = [(
        header::LOCATION,
        format!("/deliveries/{}", view.call.delivery_id),
    )];
    Ok((status, location, Json(view)).into_response())
}

/// The live state of a delivery, as its workflow last stored it (a read of the read database:
/// it shows the caller's own changes at once and needs no worker).
#[utoipa::path(get, path = "/deliveries/{delivery_id}", tag = "restaurants",
    params(("delivery_id" = DeliveryId, Path)),
    responses(
        (status = 200, description = "the delivery's state as its workflow stored it; the delivery list's row (`x-delivery-source: delivery-list`) or the start request (`x-delivery-source: workflow-start`) when none is stored and no worker answers", body = DeliveryView),
        (status = 401, description = "no valid bearer token (`unauthorized`)", body = ErrorBody),
        (status = 404, description = "unknown delivery, or not one the caller may see", body = ErrorBody),
        (status = 503, description = "Temporal unreachable", body = ErrorBody),
    ))]
pub(crate) async fn get_delivery(
    State(state): State<AppState>,
    Caller(caller): Caller,
    DeliveryPath(delivery_id): DeliveryPath,
) -> Result<Response, ApiError> {
    let (source, view) = visible_view(&state, &caller, &delivery_id).await?;
    Ok(match source.header() {
        Some(from) => ([("x-delivery-source", from)], Json(view)).into_response(),
        None => Json(view).into_response(),
    })
}

/// Cancel before pickup: the payment is voided.
#[utoipa::path(post, path = "/deliveries/{delivery_id}/cancel", tag = "restaurants",
    request_body(content = Option<CancelBody>, description = "may be left out"),
    params(("delivery_id" = DeliveryId, Path)),
    responses(
        (status = 200, description = "cancelled; payment voided", body = DeliveryView),
        BadInput,
        (status = 401, description = "no valid bearer token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "a rider (`forbidden`)", body = ErrorBody),
        (status = 404, description = "unknown delivery, or another restaurant's", body = ErrorBody),
        (status = 409, description = "already picked up or finished", body = ErrorBody),
        (status = 503, description = "no worker answered; nothing changed (Retry-After)", body = ErrorBody),
    ))]
pub(crate) async fn cancel_delivery(
    State(state): State<AppState>,
    Caller(caller): Caller,
    DeliveryPath(delivery_id): DeliveryPath,
    OptionalJsonBody(body): OptionalJsonBody<CancelBody>,
) -> Result<Json<DeliveryView>, ApiError> {
    caller.require(&[Role::Restaurant, Role::Operator])?;
    if caller.role == Role::Restaurant {
        // Another restaurant's delivery is unknown to this one.
        visible_view(&state, &caller, &delivery_id).await?;
    }
    let request = CancelRequest {
        reason: body.reason,
        expires_at_ms: Some(temporal::update_expiry(&state)),
    };
    let view = temporal::update(&state, &delivery_id, || DeliveryWorkflow::cancel, request).await?;
    Ok(Json(view))
}

/// A rider picks the food up: from the broadcast the first one wins (an online rider with a
/// free place); an assigned delivery only its rider.
#[utoipa::path(post, path = "/deliveries/{delivery_id}/pickup", tag = "riders",
    request_body(content = Option<RiderBody>, description = "none needed"),
    params(("delivery_id" = DeliveryId, Path)),
    responses(
        (status = 200, description = "picked up", body = DeliveryView),
        BadInput,
        (status = 401, description = "no valid bearer token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "not a rider (`forbidden`), or assigned to another rider (`not_your_delivery`)", body = ErrorBody),
        (status = 404, description = "unknown delivery", body = ErrorBody),
        (status = 409, description = "another rider was faster, it is not open yet (its fee is still being registered), or it is cancelled or finished (`wrong_state`); the rider is offline (`rider_offline`) or holds its capacity (`rider_at_capacity`)", body = ErrorBody),
        (status = 429, description = "the delivery took more updates than any needs (`too_many_updates`)", body = ErrorBody),
        (status = 503, description = "no worker answered; nothing changed (Retry-After)", body = ErrorBody),
    ))]
pub(crate) async fn pickup_delivery(
    State(state): State<AppState>,
    Caller(caller): Caller,
    DeliveryPath(delivery_id): DeliveryPath,
    OptionalJsonBody(RiderBody {}): OptionalJsonBody<RiderBody>,
) -> Result<Json<DeliveryView>, ApiError> {
    let rider_id = caller.rider_id()?;
    service::refuse_pickup_before_registration(&state, &delivery_id).await?;
    riders::reserve(&state, &delivery_id, &rider_id, Taker::Rider).await?;
    let picked =
        |s: DeliveryStatus| matches!(s, DeliveryStatus::Picked | DeliveryStatus::Completed);
    let answer = take(
        &state,
        &rider_id,
        &delivery_id,
        || DeliveryWorkflow::pickup,
        picked,
    )
    .await;
    Ok(Json(answer?))
}

/// Sends the update by which the rider takes the delivery (its place reserved already), and
/// gives the place back unless the rider then holds it.
async fn take<U>(
    state: &AppState,
    rider_id: &RiderId,
    delivery_id: &DeliveryId,
    update: impl Fn() -> U,
    done: impl Fn(DeliveryStatus) -> bool,
) -> Result<DeliveryView, ApiError>
where
    U: UpdateDefinition<Workflow = temporal::Run, Input = RiderRequest, Output = DeliveryView>,
{
    let request = RiderRequest {
        rider_id: rider_id.clone(),
        expires_at_ms: Some(temporal::update_expiry(state)),
    };
    let answer = rider_update(state, rider_id, delivery_id, update, request, done).await;
    // The place stays taken only while the rider holds the delivery.
    if !answer.as_ref().is_ok_and(|view| view.status.is_held()) {
        riders::release(state, delivery_id, rider_id).await;
    }
    answer
}

/// The rider a call is offered to takes it: it becomes `Assigned` to the rider, who then
/// picks it up. Its place is reserved first; a rider who is offline or holds its capacity
/// cannot take it, and that counts as declining it (the next candidate gets the offer).
#[utoipa::path(post, path = "/deliveries/{delivery_id}/accept", tag = "riders",
    request_body(content = Option<RiderBody>, description = "none needed"),
    params(("delivery_id" = DeliveryId, Path)),
    responses(
        (status = 200, description = "assigned to the caller", body = DeliveryView),
        BadInput,
        (status = 401, description = "no valid bearer token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "not a rider (`forbidden`), or the call is not offered to the caller (`not_your_delivery`)", body = ErrorBody),
        (status = 404, description = "unknown delivery", body = ErrorBody),
        (status = 409, description = "the rider is offline (`rider_offline`) or holds its capacity (`rider_at_capacity`): declined; or the delivery has ended (`wrong_state`)", body = ErrorBody),
        (status = 429, description = "the delivery took more updates than any needs (`too_many_updates`)", body = ErrorBody),
        (status = 503, description = "no worker answered; nothing changed (Retry-After)", body = ErrorBody),
    ))]
pub(crate) async fn accept_delivery(
    State(state): State<AppState>,
    Caller(caller): Caller,
    DeliveryPath(delivery_id): DeliveryPath,
    OptionalJsonBody(RiderBody {}): OptionalJsonBody<RiderBody>,
) -> Result<Json<DeliveryView>, ApiError> {
    let rider_id = caller.rider_id()?;
    if let Err(refused) = riders::reserve(&state, &delivery_id, &rider_id, Taker::Rider).await {
        if matches!(refused, ApiError::Refused { .. }) {
            // It cannot take the call: the next candidate gets the offer. (`403` when the
            // call was not the caller's to decline.)
            decline(&state, &rider_id, &delivery_id, None).await?;
        }
        return Err(refused);
    }
    let answer = take(
        &state,
        &rider_id,
        &delivery_id,
        || DeliveryWorkflow::accept,
        DeliveryStatus::is_held,
    )
    .await;
    Ok(Json(answer?))
}

/// The rider a call is offered to passes on it; the next candidate gets the offer (an offer
/// left unanswered lapses the same way).
#[utoipa::path(post, path = "/deliveries/{delivery_id}/decline", tag = "riders",
    request_body(content = Option<DeclineBody>, description = "optional"),
    params(("delivery_id" = DeliveryId, Path)),
    responses(
        (status = 200, description = "declined (also when declined before)", body = DeliveryView),
        BadInput,
        (status = 401, description = "no valid bearer token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "not a rider (`forbidden`), or the call is not offered to the caller (`not_your_delivery`)", body = ErrorBody),
        (status = 404, description = "unknown delivery", body = ErrorBody),
        (status = 409, description = "the delivery has ended (`wrong_state`)", body = ErrorBody),
        (status = 429, description = "the delivery took more updates than any needs (`too_many_updates`)", body = ErrorBody),
        (status = 503, description = "no worker answered; nothing changed (Retry-After)", body = ErrorBody),
    ))]
pub(crate) async fn decline_delivery(
    State(state): State<AppState>,
    Caller(caller): Caller,
    DeliveryPath(delivery_id): DeliveryPath,
    OptionalJsonBody(body): OptionalJsonBody<DeclineBody>,
) -> Result<Json<DeliveryView>, ApiError> {
    let rider_id = caller.rider_id()?;
    Ok(Json(
        decline(&state, &rider_id, &delivery_id, body.reason).await?,
    ))
}

async fn decline(
    state: &AppState,
    rider_id: &RiderId,
    delivery_id: &DeliveryId,
    reason: Option<Text>,
) -> Result<DeliveryView, ApiError> {
    let request = DeclineRequest {
        rider_id: rider_id.clone(),
        reason,
        expires_at_ms: Some(temporal::update_expiry(state)),
    };
    temporal::update(state, delivery_id, || DeliveryWorkflow::decline, request).await
}

/// The rider who picked the food up completes the delivery; payment is settled.
#[utoipa::path(post, path = "/deliveries/{delivery_id}/complete", tag = "riders",
    request_body(content = Option<RiderBody>, description = "none needed"),
    params(("delivery_id" = DeliveryId, Path)),
    responses(
        (status = 200, description = "completed; settlement follows", body = DeliveryView),
        BadInput,
        (status = 401, description = "no valid bearer token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "not a rider (`forbidden`), or another rider picked it up (`not_your_delivery`)", body = ErrorBody),
        (status = 404, description = "unknown delivery", body = ErrorBody),
        (status = 409, description = "not picked up yet, or completed by another rider", body = ErrorBody),
        (status = 429, description = "the delivery took more updates than any needs (`too_many_updates`)", body = ErrorBody),
        (status = 503, description = "no worker answered; nothing changed (Retry-After)", body = ErrorBody),
    ))]
pub(crate) async fn complete_delivery(
    State(state): State<AppState>,
    Caller(caller): Caller,
    DeliveryPath(delivery_id): DeliveryPath,
    OptionalJsonBody(RiderBody {}): OptionalJsonBody<RiderBody>,
) -> Result<Json<DeliveryView>, ApiError> {
    let rider_id = caller.rider_id()?;
    let completed = |s: DeliveryStatus| s == DeliveryStatus::Completed;
    let request = RiderRequest {
        rider_id: rider_id.clone(),
        expires_at_ms: Some(temporal::update_expiry(&state)),
    };
    let view = rider_update(
        &state,
        &rider_id,
        &delivery_id,
        || DeliveryWorkflow::complete,
        request,
        completed,
    )
    .await?;
    Ok(Json(view))
}

/// The rider holding a picked-up delivery cannot hand it over: it ends `Failed`, and the fee
/// follows the reason.
#[utoipa::path(post, path = "/deliveries/{delivery_id}/fail", tag = "riders",
    request_body = FailBody,
    params(("delivery_id" = DeliveryId, Path)),
    responses(
        (status = 200, description = "failed; the fee is settled, voided or left to an operator as the reason says", body = DeliveryView),
        BadInput,
        (status = 401, description = "no valid bearer token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "not a rider (`forbidden`), or another rider holds it (`not_your_delivery`)", body = ErrorBody),
        (status = 404, description = "unknown delivery", body = ErrorBody),
        (status = 409, description = "not picked up yet, or already finished (`wrong_state`)", body = ErrorBody),
        (status = 429, description = "the delivery took more updates than any needs (`too_many_updates`)", body = ErrorBody),
        (status = 503, description = "no worker answered; nothing changed (Retry-After)", body = ErrorBody),
    ))]
pub(crate) async fn fail_delivery(
    State(state): State<AppState>,
    Caller(caller): Caller,
    DeliveryPath(delivery_id): DeliveryPath,
    JsonBody(body): JsonBody<FailBody>,
) -> Result<Json<DeliveryView>, ApiError> {
    let rider_id = caller.rider_id()?;
    let failed = |s: DeliveryStatus| s == DeliveryStatus::Failed;
    let request = FailRequest {
        rider_id: rider_id.clone(),
        reason: body.reason,
        note: body.note,
        expires_at_ms: Some(temporal::update_expiry(&state)),
    };
    let view = rider_update(
        &state,
        &rider_id,
        &delivery_id,
        || DeliveryWorkflow::fail,
        request,
        failed,
    )
    .await?;
    Ok(Json(view))
}

/// An operator gives the delivery to another rider, before it is picked up (it becomes
/// `Assigned`: only that rider may pick it up) or after (the new rider completes it). The
/// rider needs a free place, not to be online. Recorded in `assignments` and in the
/// workflow's history.
#[utoipa::path(post, path = "/deliveries/{delivery_id}/reassign", tag = "operations",
    request_body = ReassignBody,
    params(("delivery_id" = DeliveryId, Path)),
    responses(
        (status = 200, description = "the delivery is the new rider's", body = DeliveryView),
        BadInput,
        (status = 401, description = "no valid bearer token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "not an operator (`forbidden`)", body = ErrorBody),
        (status = 404, description = "unknown delivery", body = ErrorBody),
        (status = 409, description = "the delivery has ended or its payment is not registered yet (`wrong_state`), or the rider holds its capacity (`rider_at_capacity`)", body = ErrorBody),
        (status = 429, description = "the delivery took more updates than any needs (`too_many_updates`)", body = ErrorBody),
        (status = 503, description = "no worker answered; nothing changed (Retry-After)", body = ErrorBody),
    ))]
pub(crate) async fn reassign_delivery(
    State(state): State<AppState>,
    Caller(caller): Caller,
    DeliveryPath(delivery_id): DeliveryPath,
    JsonBody(body): JsonBody<ReassignBody>,
) -> Result<Json<DeliveryView>, ApiError> {
    caller.require(&[Role::Operator])?;
    let rider_id = body.rider_id;
    riders::reserve(&state, &delivery_id, &rider_id, Taker::Operator).await?;
    let request = ReassignRequest {
        rider_id: rider_id.clone(),
        reason: body.reason,
        operator_id: caller.id.clone(),
        expires_at_ms: Some(temporal::update_expiry(&state)),
    };
    // Given to the rider who holds it already: nothing to do.
    let holds =
        |view: &DeliveryView| view.rider_id.as_ref() == Some(&rider_id) && view.status.is_held();
    let answer = update_or_current(
        &state,
        &delivery_id,
        || DeliveryWorkflow::reassign,
        request,
        holds,
    )
    .await;
    if answer.is_err() {
        riders::release(&state, &delivery_id, &rider_id).await;
    }
    Ok(Json(answer?))
}

/// An operator decides on a delivery that waits for a decision (its `attention` is set):
/// a step failed for good, e.g. payment refused the settlement.
#[utoipa::path(post, path = "/deliveries/{delivery_id}/resolve", tag = "operations",
    request_body = ResolveBody,
    params(("delivery_id" = DeliveryId, Path)),
    responses(
        (status = 200, description = "decided; the delivery acts on it (its `attention` is cleared)", body = DeliveryView),
        BadInput,
        (status = 401, description = "no valid bearer token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "not an operator (`forbidden`)", body = ErrorBody),
        (status = 404, description = "unknown delivery", body = ErrorBody),
        (status = 409, description = "not waiting for a decision, the delivery has ended, or the outcome does not fit (`settle` before pickup, `void` once settled)", body = ErrorBody),
        (status = 429, description = "the delivery took more updates than any needs (`too_many_updates`)", body = ErrorBody),
        (status = 503, description = "no worker answered; nothing changed (Retry-After)", body = ErrorBody),
    ))]
pub(crate) async fn resolve_delivery(
    State(state): State<AppState>,
    Caller(caller): Caller,
    DeliveryPath(delivery_id): DeliveryPath,
    JsonBody(body): JsonBody<ResolveBody>,
) -> Result<Json<DeliveryView>, ApiError> {
    caller.require(&[Role::Operator])?;
    let request = ResolveRequest {
        outcome: body.outcome,
        note: body.note,
        operator_id: caller.id.clone(),
        expires_at_ms: Some(temporal::update_expiry(&state)),
    };
    let view =
        temporal::update(&state, &delivery_id, || DeliveryWorkflow::resolve, request).await?;
    Ok(Json(view))
}

/// Sends an update whose repeat is answered 200 with the current state: the workflow's
/// validator refuses a repeat as unchanged, adding nothing to the history (see
/// `temporal::update`), and the view then shows whether the refusal was of a transition
/// already made (`made` says; also once the workflow has ended, from its final view). A
/// rider's pickup, complete or fail; an operator's reassignment to the holder.
async fn update_or_current<U>(
    state: &AppState,
    delivery_id: &DeliveryId,
    update: impl Fn() -> U,
    request: U::Input,
    made: impl Fn(&DeliveryView) -> bool,
) -> Result<DeliveryView, ApiError>
where
    U: UpdateDefinition<Workflow = temporal::Run, Output = DeliveryView>,
    U::Input: Clone + Send,
{
    match temporal::update(state, delivery_id, update, request).await {
        Err(ApiError::Conflict(message)) => {
            let handle = temporal::handle(state, delivery_id);
            match temporal::query(&handle, state.settings().query_timeout).await {
                Ok(view) if made(&view) => Ok(view),
                _ => Err(ApiError::Conflict(message)),
            }
        }
        answered => answered,
    }
}

/// A rider's transition: made once the rider holds (or held) the delivery in a status `done`
/// accepts.
async fn rider_update<U>(
    state: &AppState,
    rider_id: &RiderId,
    delivery_id: &DeliveryId,
    update: impl Fn() -> U,
    request: U::Input,
    done: impl Fn(DeliveryStatus) -> bool,
) -> Result<DeliveryView, ApiError>
where
    U: UpdateDefinition<Workflow = temporal::Run, Output = DeliveryView>,
    U::Input: Clone + Send,
{
    let made = |view: &DeliveryView| view.rider_id.as_ref() == Some(rider_id) && done(view.status);
    update_or_current(state, delivery_id, update, request, made).await
}

/// The delivery, if `caller` may see it; else the same `404` as an unknown id.
pub(crate) async fn visible_view(
    state: &AppState,
    caller: &Principal,
    delivery_id: &DeliveryId,
) -> Result<(service::Source, DeliveryView), ApiError> {
    let (source, view) = service::view(state, delivery_id).await?;
    if access::may_see_view(caller, &view) {
        Ok((source, view))
    } else {
        Err(ApiError::delivery_not_found(delivery_id.as_str()))
    }
}
