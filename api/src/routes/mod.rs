//! The routes of the contract, one module per audience. Each handler's `#[utoipa::path]` and
//! its route are one entry here, so the OpenAPI document and the router cannot disagree.

mod accounts;
mod board;
mod codec;
mod deliveries;
mod money;
mod ops;
mod payments;
pub(crate) mod reports;
mod riders;
mod tokens;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::AppState;
pub(crate) use payments::payment_of;

/// The routes; the codec routes answer the Temporal UI's `codec_origins` too (CORS).
pub(crate) fn router(codec_origins: &[axum::http::HeaderValue]) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(deliveries::create_delivery))
        .routes(routes!(deliveries::get_delivery))
        .routes(routes!(deliveries::cancel_delivery))
        .routes(routes!(deliveries::accept_delivery))
        .routes(routes!(deliveries::decline_delivery))
        .routes(routes!(deliveries::pickup_delivery))
        .routes(routes!(deliveries::complete_delivery))
        .routes(routes!(deliveries::resolve_delivery))
        .routes(routes!(deliveries::fail_delivery))
        .routes(routes!(deliveries::reassign_delivery))
        .routes(routes!(riders::open_calls))
        .routes(routes!(riders::get_availability, riders::put_availability))
        .routes(routes!(riders::fleet))
        .routes(routes!(reports::list_deliveries))
        .routes(routes!(reports::get_list_row))
        .routes(routes!(payments::get_payment))
        .routes(routes!(money::statement))
        .routes(routes!(money::payouts))
        .routes(routes!(money::invoices))
        .routes(routes!(money::invoice))
        .routes(routes!(money::adjust))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::summary))
        .routes(routes!(board::board))
        .routes(routes!(board::runs))
        .routes(routes!(tokens::token))
        .routes(routes!(tokens::jwks))
        .routes(routes!(accounts::create_account, accounts::list_accounts))
        .routes(routes!(
            accounts::get_account,
            accounts::patch_account,
            accounts::delete_account
        ))
        .routes(routes!(accounts::rotate_secret))
        .merge(codec::router(codec_origins))
}
