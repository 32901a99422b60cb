//! The delivery list: the CQRS read model for reports.

use axum::{Json, extract::State};
use domain::{DeliveryRow, DeliveryStatus, RestaurantId, RiderId};
use readmodel::ListFilter;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::{
    AppState,
    error::{ApiError, ErrorBody},
    extract::Query,
    routes::deliveries::DeliveryPath,
};

/// Filters of `GET /delivery-list`; each one left out is no filter.
#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub(crate) struct ListParams {
    /// Only deliveries in this status.
    #[serde(default)]
    status: Option<DeliveryStatus>,
    /// Only this restaurant's deliveries.
    #[serde(default)]
    restaurant_id: Option<RestaurantId>,
    /// Only deliveries this rider picked up.
    #[serde(default)]
    rider_id: Option<RiderId>,
    /// Most rows to return.
    #[serde(default)]
    #[param(value_type = Option<u64>, minimum = 1, maximum = 1000, default = 100)]
    limit: Option<Limit>,
}

/// How many rows a page holds: 1 to [`Limit::MAX`].
#[derive(Deserialize)]
#[serde(try_from = "String")]
struct Limit(u64);

impl Limit {
    const DEFAULT: u64 = 100;
    const MAX: u64 = 1000;
}

impl TryFrom<String> for Limit {
    type Error = String;

    fn try_from(limit: String) -> Result<Self, String> {
        limit
            .parse()
            .ok()
            .filter(|l| (1..=Self::MAX).contains(l))
            .map(Self)
            .ok_or_else(|| format!("must be a whole number from 1 to {}", Self::MAX))
    }
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
    let filter = ListFilter {
        status: params.status,
        restaurant_id: params.restaurant_id,
        rider_id: params.rider_id,
        limit: params.limit.map_or(Limit::DEFAULT, |l| l.0),
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
    params(("delivery_id" = domain::DeliveryId, Path)),
    responses(
        (status = 200, description = "the row", body = DeliveryRow),
        (status = 404, description = "not in the delivery list", body = ErrorBody),
    ))]
pub(crate) async fn get_list_row(
    State(state): State<AppState>,
    DeliveryPath(delivery_id): DeliveryPath,
) -> Result<Json<DeliveryRow>, ApiError> {
    let row = state
        .inner
        .readmodel
        .delivery(&delivery_id)
        .await
        .map_err(ApiError::internal)?;
    row.map(Json)
        .ok_or_else(|| ApiError::delivery_not_found(delivery_id.as_str()))
}
