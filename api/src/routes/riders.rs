//! What riders read: the open calls.

use axum::{Json, extract::State};
use domain::OpenCall;
use identity::Role;

use crate::{
    AppState,
    auth::Caller,
    error::{ApiError, ErrorBody},
};

/// Most calls a rider's list shows at once, oldest first.
const OPEN_CALLS_LIMIT: u64 = 200;

/// The calls open to the signed-in rider (a call appears shortly after it is made); operators
/// see every open call.
#[utoipa::path(get, path = "/rider/calls", tag = "riders",
    responses(
        (status = 200, description = "open calls, oldest first", body = [OpenCall]),
        (status = 401, description = "no valid bearer token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "a restaurant (`forbidden`)", body = ErrorBody),
    ))]
pub(crate) async fn open_calls(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<Vec<OpenCall>>, ApiError> {
    caller.require(&[Role::Rider, Role::Operator])?;
    let calls = state.inner.readmodel.open_calls(OPEN_CALLS_LIMIT).await?;
    Ok(Json(calls))
}
