//! `GET /openapi.json`: the OpenAPI 3 document, generated from the handlers.

use axum::{Json, Router, routing::get};
use utoipa::OpenApi;

use crate::{AppState, error::ErrorBody, routes};

#[derive(OpenApi)]
#[openapi(
    info(title = "Delivery agency API", version = "1", description = "Restaurants call riders, riders pick up and complete, payment is registered and settled; every delivery is a Temporal workflow."),
    paths(
        routes::create_delivery, routes::get_delivery, routes::cancel_delivery,
        routes::pickup_delivery, routes::complete_delivery, routes::open_calls,
        routes::list_deliveries, routes::get_list_row, routes::get_payment,
        routes::healthz, routes::readyz, routes::summary,
    ),
    components(schemas(
        ErrorBody, routes::CreateDeliveryBody, routes::RiderBody, routes::CancelBody,
        routes::OpenCallBody, routes::PaymentBody,
        workflows::model::DeliveryView, workflows::model::PaymentSummary,
        workflows::model::DeliveryStatus, workflows::model::PaymentStatus,
        readmodel::DeliveryRow, routes::OpsSummary, routes::Drift,
    )),
    tags(
        (name = "restaurants"), (name = "riders"), (name = "reports"), (name = "payments"), (name = "operations"),
    ),
)]
pub(crate) struct ApiDoc;

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/openapi.json", get(|| async { Json(ApiDoc::openapi()) }))
}
