//! What riders read: the open calls.

use axum::{
    Json,
    extract::{Path, State},
};
use domain::{OpenCall, RiderId};

use crate::{
    AppState,
    error::{ApiError, ErrorBody},
};

/// Most calls a rider's list shows at once, oldest first.
const OPEN_CALLS_LIMIT: u64 = 200;

/// The calls open for riders (a call appears shortly after it is made).
#[utoipa::path(get, path = "/riders/{rider_id}/calls", tag = "riders",
    params(("rider_id" = RiderId, Path)),
    responses(
        (status = 200, description = "open calls, oldest first", body = [OpenCall]),
        (status = 422, description = "invalid rider id", body = ErrorBody),
    ))]
pub(crate) async fn open_calls(
    State(state): State<AppState>,
    Path(rider_id): Path<String>,
) -> Result<Json<Vec<OpenCall>>, ApiError> {
    RiderId::parse(rider_id).map_err(|e| ApiError::invalid("riderId", format!("riderId {e}")))?;
    let calls = state
        .inner
        .readmodel
        .open_calls(OPEN_CALLS_LIMIT)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(calls))
}
