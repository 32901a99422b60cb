//! Dispatch activities: the store of open calls riders read.

use std::sync::Arc;

use readmodel::{DeliveryId, OpenCall, ReadModel};
use telemetry::metrics::Metrics;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

use crate::Failures;

/// Offers and withdraws calls in the dispatch store.
pub struct Dispatch {
    store: ReadModel,
    failures: Failures,
}

impl Dispatch {
    pub fn new(store: ReadModel) -> Self {
        Self {
            store,
            failures: Failures::default(),
        }
    }

    /// Counts failed attempts into `metrics`.
    pub fn with_metrics(mut self, metrics: Option<&Metrics>) -> Self {
        self.failures = Failures::new(metrics);
        self
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
            .map_err(|e| self.failures.read_model("offer call", e))
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
            .map_err(|e| self.failures.read_model("withdraw call", e))
    }
}
