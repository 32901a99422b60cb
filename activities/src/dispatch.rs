//! Dispatch activities: the store of open calls riders read.

use std::sync::Arc;

use readmodel::{OpenCall, ReadModel};
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use workflows::model::OfferCallInput;

use crate::{retryable, timestamp};

/// Offers and withdraws calls in the dispatch store.
pub struct Dispatch {
    store: ReadModel,
}

impl Dispatch {
    pub fn new(store: ReadModel) -> Self {
        Self { store }
    }
}

#[activities]
impl Dispatch {
    #[activity(definition = workflows::activities::definitions::OfferCall)]
    #[tracing::instrument(skip_all, fields(delivery_id = %input.delivery_id, trace_id = %telemetry::current_trace_id()))]
    pub async fn offer_call(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: OfferCallInput,
    ) -> Result<(), ActivityError> {
        let call = OpenCall {
            delivery_id: input.delivery_id,
            restaurant_id: input.restaurant_id,
            destination: input.destination,
            cost: input.cost,
            called_at: timestamp(input.called_at_ms),
        };
        self.store
            .offer_call(&call)
            .await
            .map_err(|e| retryable("offer call", e))
    }

    #[activity(definition = workflows::activities::definitions::WithdrawCall)]
    #[tracing::instrument(skip_all, fields(delivery_id = %delivery_id, trace_id = %telemetry::current_trace_id()))]
    pub async fn withdraw_call(
        self: Arc<Self>,
        _ctx: ActivityContext,
        delivery_id: String,
    ) -> Result<(), ActivityError> {
        self.store
            .withdraw_call(&delivery_id)
            .await
            .map_err(|e| retryable("withdraw call", e))
    }
}
