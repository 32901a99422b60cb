//! The delivery list: the CQRS read model for reports.

use axum::{
    Json,
    extract::{Path, Query, State},
};
use readmodel::{DeliveryRow, DeliveryStatus, ListFilter};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::{
    AppState,
    error::{ApiError, ErrorBody},
    input,
};

const DEFAULT_LIMIT: u64 = 100;
const MAX_LIMIT: u64 = 1000;

/// Filters of `GET /delivery-list`.
#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub(crate) struct ListParams {
    /// `Called`, `Picked`, `Completed` or `Cancelled`.
    status: Option<String>,
    restaurant_id: Option<String>,
    rider_id: Option<String>,
    /// 1 to 1000, default 100.
    limit: Option<String>,
}

/// Deliveries, newest change first.
#[utoipa::path(get, path = "/delivery-list", tag = "reports", params(ListParams),
    responses(
        (status = 200, description = "matching rows, newest first", body = [DeliveryRow]),
        (status = 422, description = "invalid filter", body = ErrorBody),
    ))]
pub(crate) async fn list_deliveries(
    State(state): State<AppState>,
    Query(params): Query<ListParams>,
) -> Result<Json<Vec<DeliveryRow>>, ApiError> {
    let status = params
        .status
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<DeliveryStatus>().map_err(|_| {
                ApiError::invalid(
                    "status",
                    "status must be one of Called, Picked, Completed, Cancelled",
                )
            })
        })
        .transpose()?;
    let limit = match params.limit.filter(|l| !l.is_empty()) {
        None => DEFAULT_LIMIT,
        Some(l) => l
            .parse::<u64>()
            .ok()
            .filter(|l| (1..=MAX_LIMIT).contains(l))
            .ok_or_else(|| {
                ApiError::invalid(
                    "limit",
                    format!("limit must be a whole number from 1 to {MAX_LIMIT}"),
                )
            })?,
    };
    let text = |field: &'static str, v: Option<String>| -> Result<Option<String>, ApiError> {
        match v.filter(|v| !v.is_empty()) {
            Some(v) if v.chars().count() > input::MAX_TEXT_LEN => Err(ApiError::invalid(
                field,
                format!("{field} must be at most {} characters", input::MAX_TEXT_LEN),
            )),
            v => Ok(v),
        }
    };
    let filter = ListFilter {
        status,
        restaurant_id: text("restaurantId", params.restaurant_id)?,
        rider_id: text("riderId", params.rider_id)?,
        limit,
    };
    let rows = state
        .inner
        .readmodel
        .list(&filter)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(rows))
}

/// One delivery-list row.
#[utoipa::path(get, path = "/delivery-list/{delivery_id}", tag = "reports",
    params(("delivery_id" = String, Path)),
    responses(
        (status = 200, description = "the row", body = DeliveryRow),
        (status = 404, description = "not in the delivery list", body = ErrorBody),
    ))]
pub(crate) async fn get_list_row(
    State(state): State<AppState>,
    Path(delivery_id): Path<String>,
) -> Result<Json<DeliveryRow>, ApiError> {
    if !input::plain_id(&delivery_id) {
        return Err(ApiError::delivery_not_found(&delivery_id));
    }
    let row = state
        .inner
        .readmodel
        .delivery(&delivery_id)
        .await
        .map_err(ApiError::internal)?;
    row.map(Json)
        .ok_or_else(|| ApiError::delivery_not_found(&delivery_id))
}
