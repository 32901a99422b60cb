//! What riders read: the open calls.

use axum::{
    Json,
    extract::{Path, State},
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    AppState,
    error::{ApiError, ErrorBody},
    input,
};

/// Most calls a rider's list shows at once, oldest first.
const OPEN_CALLS_LIMIT: u64 = 200;

/// One call offered to riders.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OpenCallBody {
    delivery_id: String,
    restaurant_id: String,
    destination: String,
    cost: i64,
    called_at: DateTime<Utc>,
}

/// The calls open for riders (a call appears shortly after it is made).
#[utoipa::path(get, path = "/riders/{rider_id}/calls", tag = "riders",
    params(("rider_id" = String, Path)),
    responses(
        (status = 200, description = "open calls, oldest first", body = [OpenCallBody]),
        (status = 422, description = "invalid rider id", body = ErrorBody),
    ))]
pub(crate) async fn open_calls(
    State(state): State<AppState>,
    Path(rider_id): Path<String>,
) -> Result<Json<Vec<OpenCallBody>>, ApiError> {
    if !input::plain_id(&rider_id) {
        return Err(ApiError::invalid(
            "riderId",
            "riderId must be 1 to 128 letters, digits, '-', '_' or '.'",
        ));
    }
    let calls = state
        .inner
        .readmodel
        .open_calls(OPEN_CALLS_LIMIT)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(
        calls
            .into_iter()
            .map(|c| OpenCallBody {
                delivery_id: c.delivery_id,
                restaurant_id: c.restaurant_id,
                destination: c.destination,
                cost: c.cost,
                called_at: c.called_at,
            })
            .collect(),
    ))
}
