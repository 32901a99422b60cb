//! Payment lookups, answered by the payment service.

use std::time::Duration;

use axum::{
    Json,
    extract::{Path, State},
};
use chrono::{DateTime, Utc};
use payment::proto::{self, GetPaymentRequest};
use serde::Serialize;
use utoipa::ToSchema;
use workflows::model::PaymentStatus;

use crate::{
    AppState,
    error::{ApiError, ErrorBody},
    input,
};

/// A payment as the ledger holds it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PaymentBody {
    pub(crate) delivery_id: String,
    pub(crate) amount: i64,
    /// `Registered`, `Settled` or `Voided`.
    pub(crate) status: PaymentStatus,
    pub(crate) registered_at: Option<DateTime<Utc>>,
    pub(crate) settled_at: Option<DateTime<Utc>>,
}

/// The payment of a delivery.
#[utoipa::path(get, path = "/payments/{delivery_id}", tag = "payments",
    params(("delivery_id" = String, Path)),
    responses(
        (status = 200, description = "the payment", body = PaymentBody),
        (status = 404, description = "no payment for this delivery", body = ErrorBody),
        (status = 503, description = "payment service unreachable", body = ErrorBody),
    ))]
pub(crate) async fn get_payment(
    State(state): State<AppState>,
    Path(delivery_id): Path<String>,
) -> Result<Json<PaymentBody>, ApiError> {
    let not_found = || ApiError::NotFound {
        code: "payment_not_found",
        message: format!("no payment for delivery {delivery_id:?}"),
    };
    if !input::plain_id(&delivery_id) {
        return Err(not_found());
    }
    lookup(&state, &delivery_id)
        .await?
        .map(Json)
        .ok_or_else(not_found)
}

/// Asks the payment service; `None` when it has no payment for this delivery.
pub(crate) async fn lookup(
    state: &AppState,
    delivery_id: &str,
) -> Result<Option<PaymentBody>, ApiError> {
    let mut request = tonic::Request::new(GetPaymentRequest {
        delivery_id: delivery_id.to_owned(),
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
    let status = match proto::PaymentStatus::try_from(reply.status) {
        Ok(proto::PaymentStatus::Registered) => PaymentStatus::Registered,
        Ok(proto::PaymentStatus::Settled) => PaymentStatus::Settled,
        Ok(proto::PaymentStatus::Voided) => PaymentStatus::Voided,
        _ => {
            return Err(ApiError::internal(format!(
                "unknown payment status {}",
                reply.status
            )));
        }
    };
    let time = |t: Option<prost_types::Timestamp>| {
        t.and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0)))
    };
    Ok(Some(PaymentBody {
        delivery_id: reply.delivery_id,
        amount: reply.amount,
        status,
        registered_at: time(reply.registered_at),
        settled_at: time(reply.settled_at),
    }))
}
