//! Dispatch activities: the store of open calls riders read.

use std::sync::Arc;

use readmodel::{DeliveryId, OpenCall, ReadModel};
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

use crate::retryable;

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
    #[tracing::instrument(skip_all, fields(delivery_id = %call.call.delivery_id, trace_id = %telemetry::current_trace_id()))]
    pub async fn offer_call(
        self: Arc<Self>,
        _ctx: ActivityContext,
        call: OpenCall,
    ) -> Result<(), ActivityError> {
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
        delivery_id: DeliveryId,
    ) -> Result<(), ActivityError> {
        self.store
            .withdraw_call(&delivery_id)
            .await
            .map_err(|e| retryable("withdraw call", e))
    }
}
