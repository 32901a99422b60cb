//! Projection activities: the delivery list read model.

use std::sync::Arc;

use readmodel::{Applied, Projection, ReadModel};
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use workflows::model::ProjectionInput;

use crate::{retryable, timestamp};

/// Writes delivery-list rows, newest sequence number wins.
pub struct Projections {
    store: ReadModel,
}

impl Projections {
    pub fn new(store: ReadModel) -> Self {
        Self { store }
    }
}

#[activities]
impl Projections {
    #[activity(definition = workflows::activities::definitions::ProjectDelivery)]
    #[tracing::instrument(skip_all, fields(delivery_id = %input.delivery_id, seq = input.seq))]
    pub async fn project_delivery(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: ProjectionInput,
    ) -> Result<(), ActivityError> {
        let projection = Projection {
            delivery_id: input.delivery_id,
            restaurant_id: input.restaurant_id,
            destination: input.destination,
            cost: input.cost,
            status: input
                .status
                .as_str()
                .parse()
                .map_err(|e| retryable("project delivery", e))?,
            rider_id: input.rider_id,
            settled: input.settled,
            updated_at: timestamp(input.updated_at_ms),
            seq: input.seq,
        };
        match self
            .store
            .project(&projection)
            .await
            .map_err(|e| retryable("project delivery", e))?
        {
            Applied::Written => {}
            Applied::Stale => tracing::debug!("a newer row is already in the delivery list"),
        }
        Ok(())
    }
}
