//! Payment lookups, answered by the payment service.

use std::time::Duration;

use axum::{
    Json,
    extract::{Path, State},
};
use chrono::{DateTime, Utc};
use payment_api::proto::GetPaymentRequest;
use serde::Serialize;
use utoipa::ToSchema;
use workflows::model::{DeliveryId, PaymentStatus};

use identity::Role;

use crate::{
    AppState,
    auth::Caller,
    error::{ApiError, ErrorBody},
    routes::deliveries::visible_view,
};

/// A payment as the ledger holds it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PaymentBody {
    pub(crate) delivery_id: DeliveryId,
    pub(crate) amount: i64,
    /// The agency's part, fixed at the call: `floor(amount × commissionBps / 10000)`.
    pub(crate) commission: i64,
    /// What the rider earns: `amount − commission`.
    pub(crate) rider_earning: i64,
    /// The rider paid, once settled.
    pub(crate) rider_id: Option<String>,
    /// `Registered`, `Settled` or `Voided`.
    pub(crate) status: PaymentStatus,
    pub(crate) registered_at: Option<DateTime<Utc>>,
    pub(crate) settled_at: Option<DateTime<Utc>>,
    pub(crate) voided_at: Option<DateTime<Utc>>,
}

/// The payment of a delivery.
#[utoipa::path(get, path = "/payments/{delivery_id}", tag = "payments",
    params(("delivery_id" = DeliveryId, Path)),
    responses(
        (status = 200, description = "the payment", body = PaymentBody),
        (status = 401, description = "no valid bearer token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "a rider (`forbidden`)", body = ErrorBody),
        (status = 404, description = "no payment for this delivery, or another restaurant's", body = ErrorBody),
        (status = 503, description = "payment service unreachable", body = ErrorBody),
    ))]
pub(crate) async fn get_payment(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(delivery_id): Path<String>,
) -> Result<Json<PaymentBody>, ApiError> {
    caller.require(&[Role::Restaurant, Role::Operator])?;
    let not_found = || ApiError::NotFound {
        code: "payment_not_found",
        message: format!("no payment for delivery {delivery_id:?}"),
    };
    let Ok(delivery_id) = DeliveryId::parse(delivery_id.as_str()) else {
        return Err(not_found());
    };
    if caller.role == Role::Restaurant {
        // Another restaurant's payment is unknown to this one.
        visible_view(&state, &caller, &delivery_id)
            .await
            .map_err(|e| match e {
                ApiError::NotFound { .. } => not_found(),
                other => other,
            })?;
    }
    payment_of(&state, &delivery_id)
        .await?
        .map(Json)
        .ok_or_else(not_found)
}

/// Asks the payment service; `None` when it has no payment for this delivery.
pub(crate) async fn payment_of(
    state: &AppState,
    delivery_id: &DeliveryId,
) -> Result<Option<PaymentBody>, ApiError> {
    let mut request = tonic::Request::new(GetPaymentRequest {
        delivery_id: delivery_id.to_string(),
    });
    request.set_timeout(Duration::from_secs(2));
    let reply = match state.inner.payments.clone().get_payment(request).await {
        Ok(reply) => reply.into_inner(),
        Err(status) if status.code() == tonic::Code::NotFound => return Ok(None),
        Err(status) => {
            tracing::warn!(code = ?status.code(), message = status.message(), "payment lookup failed");
            return Err(ApiError::Unavailable("payment service"));
        }
    };
    let status = reply.payment_status().map_err(ApiError::internal)?;
    Ok(Some(PaymentBody {
        delivery_id: delivery_id.clone(),
        amount: reply.amount,
        commission: reply.commission,
        rider_earning: reply.amount - reply.commission,
        status,
        registered_at: reply.registered_at(),
        settled_at: reply.settled_at(),
        voided_at: reply.voided_at(),
        rider_id: reply.rider_id,
    }))
}
