//! The routes of the contract, one module per audience.

mod deliveries;
mod ops;
mod payments;
mod reports;
mod riders;

use axum::{
    Router,
    routing::{get, post},
};

use crate::AppState;
// The handlers and body types, for the OpenAPI document.
pub(crate) use deliveries::*;
pub(crate) use ops::*;
pub(crate) use payments::*;
pub(crate) use reports::*;
pub(crate) use riders::*;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/deliveries", post(deliveries::create_delivery))
        .route("/deliveries/{delivery_id}", get(deliveries::get_delivery))
        .route(
            "/deliveries/{delivery_id}/cancel",
            post(deliveries::cancel_delivery),
        )
        .route(
            "/deliveries/{delivery_id}/pickup",
            post(deliveries::pickup_delivery),
        )
        .route(
            "/deliveries/{delivery_id}/complete",
            post(deliveries::complete_delivery),
        )
        .route("/riders/{rider_id}/calls", get(riders::open_calls))
        .route("/delivery-list", get(reports::list_deliveries))
        .route("/delivery-list/{delivery_id}", get(reports::get_list_row))
        .route("/payments/{delivery_id}", get(payments::get_payment))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/ops/summary", get(ops::summary))
}
