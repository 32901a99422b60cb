//! The delivery list: the CQRS read model for reports, scoped to the caller: a restaurant's
//! rows, the rows a rider held, every row for operators.

use axum::{Json, extract::State};
use domain::{DeliveryRow, DeliveryStatus, RestaurantId, RiderId};
use readmodel::ListFilter;
use serde::Deserialize;
use utoipa::IntoParams;

use identity::Role;

use crate::{
    AppState, access,
    auth::Caller,
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
    /// Only this restaurant's deliveries (operators; a restaurant sees only its own).
    #[serde(default)]
    restaurant_id: Option<RestaurantId>,
    /// Only deliveries this rider picked up (operators; a rider sees only its own).
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

/// Deliveries the caller may see, newest change first.
#[utoipa::path(get, path = "/delivery-list", tag = "reports", params(ListParams),
    responses(
        (status = 200, description = "matching rows, newest first: a restaurant's own, the ones a rider held, all for operators", body = [DeliveryRow]),
        (status = 401, description = "no valid bearer token (`unauthorized`)", body = ErrorBody),
        (status = 422, description = "invalid filter", body = ErrorBody),
    ))]
pub(crate) async fn list_deliveries(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(params): Query<ListParams>,
) -> Result<Json<Vec<DeliveryRow>>, ApiError> {
    // The caller's own id replaces the filter of its role, whatever the query says.
    let (restaurant_id, rider_id) = match caller.role {
        Role::Operator => (params.restaurant_id, params.rider_id),
        Role::Restaurant => (Some(caller.restaurant_id()?), params.rider_id),
        Role::Rider => (params.restaurant_id, Some(caller.rider_id()?)),
    };
    let filter = ListFilter {
        status: params.status,
        restaurant_id,
        rider_id,
        limit: params.limit.map_or(Limit::DEFAULT, |l| l.0),
    };
    let rows = state.inner.readmodel.list(&filter).await?;
    Ok(Json(rows))
}

/// One delivery-list row.
#[utoipa::path(get, path = "/delivery-list/{delivery_id}", tag = "reports",
    params(("delivery_id" = domain::DeliveryId, Path)),
    responses(
        (status = 200, description = "the row", body = DeliveryRow),
        (status = 401, description = "no valid bearer token (`unauthorized`)", body = ErrorBody),
        (status = 404, description = "not in the delivery list, or not one the caller may see", body = ErrorBody),
    ))]
pub(crate) async fn get_list_row(
    State(state): State<AppState>,
    Caller(caller): Caller,
    DeliveryPath(delivery_id): DeliveryPath,
) -> Result<Json<DeliveryRow>, ApiError> {
    let row = state.inner.readmodel.delivery(&delivery_id).await?;
    row.filter(|row| access::may_see(&caller, &row.call, row.status, row.rider_id.as_ref()))
        .map(Json)
        .ok_or_else(|| ApiError::delivery_not_found(delivery_id.as_str()))
}
