//! Projection activities: the delivery list read model, the delivery metrics that are
//! counted where each status change lands exactly once, and the reports to operators of
//! deliveries that wait for their decision.

use std::sync::Arc;

use chrono::Utc;
use prometheus::{HistogramVec, IntCounterVec};
use readmodel::{Applied, DeliveryRow, DeliveryStatus, Projection, ReadModel};
use telemetry::metrics::{Metrics, between_ms};
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use workflows::model::AttentionNotice;

use crate::Failures;

/// Writes delivery-list rows, newest sequence number wins.
pub struct Projections {
    store: ReadModel,
    metrics: Option<DeliveryMetrics>,
    failures: Failures,
}

impl Projections {
    pub fn new(store: ReadModel) -> Self {
        Self {
            store,
            metrics: None,
            failures: Failures::default(),
        }
    }

    /// Records the delivery metrics into `metrics` as rows are written.
    pub fn with_metrics(mut self, metrics: Option<&Metrics>) -> Self {
        self.metrics = metrics.map(DeliveryMetrics::new);
        self.failures = Failures::new(metrics);
        self
    }
}

#[activities]
impl Projections {
    #[activity(definition = workflows::activities::definitions::ProjectDelivery)]
    #[tracing::instrument(skip_all, fields(delivery_id = %projection.row.call.delivery_id, seq = projection.seq, trace_id = %telemetry::current_trace_id()))]
    pub async fn project_delivery(
        self: Arc<Self>,
        _ctx: ActivityContext,
        projection: Projection,
    ) -> Result<(), ActivityError> {
        // The row this write replaces dates the phase that just ended; only the metrics need it.
        let before = match (&self.metrics, projection.row.status) {
            (Some(_), DeliveryStatus::Picked | DeliveryStatus::Completed) => self
                .store
                .delivery(&projection.row.call.delivery_id)
                .await
                .ok()
                .flatten(),
            _ => None,
        };
        match self
            .store
            .project(&projection)
            .await
            .map_err(|e| self.failures.read_model("project delivery", e))?
        {
            Applied::Written => {
                if let Some(metrics) = &self.metrics {
                    metrics.written(&projection.row, before.as_ref());
                }
            }
            Applied::Stale => tracing::debug!("a newer row is already in the delivery list"),
        }
        Ok(())
    }

    #[activity(definition = workflows::activities::definitions::ReportAttention)]
    #[tracing::instrument(skip_all, fields(delivery_id = %notice.delivery_id, trace_id = %telemetry::current_trace_id()))]
    pub async fn report_attention(
        self: Arc<Self>,
        _ctx: ActivityContext,
        notice: AttentionNotice,
    ) -> Result<(), ActivityError> {
        tracing::error!(step = %notice.step, reason = %notice.reason, "delivery needs an operator's decision");
        if let Some(metrics) = &self.metrics {
            metrics.attention.with_label_values(&[&notice.step]).inc();
        }
        // Readers of the delivery see it too. Best effort like the rest of the report: the
        // step that failed may be this very database.
        if let Some(since) = notice.since
            && let Err(e) = self
                .store
                .flag_attention(&notice.delivery_id, &notice.reason, since)
                .await
        {
            tracing::warn!(error = %e, "the stored view does not show the decision awaited");
        }
        Ok(())
    }
}

/// Deliveries by status change, the length of their phases, and how far the delivery list
/// trails the workflows. Recorded when a row is written, which happens once per change
/// however often the activity runs.
struct DeliveryMetrics {
    status_changes: IntCounterVec,
    attention: IntCounterVec,
    call_to_pickup: HistogramVec,
    pickup_to_completion: HistogramVec,
    projection_lag: HistogramVec,
}

impl DeliveryMetrics {
    fn new(metrics: &Metrics) -> Self {
        Self {
            status_changes: metrics.counter(
                "delivery_status_changes",
                "Deliveries that reached a status (Called, Picked, Completed, Cancelled) in the delivery list",
                &["status"],
            ),
            attention: metrics.counter(
                "delivery_attention",
                "Deliveries flagged for an operator's decision, by the step that failed for good",
                &["step"],
            ),
            call_to_pickup: metrics.seconds(
                "delivery_call_to_pickup",
                "Time from a call being open to riders to its pickup",
                &[],
            ),
            pickup_to_completion: metrics.seconds(
                "delivery_pickup_to_completion",
                "Time from pickup to completion",
                &[],
            ),
            projection_lag: metrics.seconds(
                "delivery_projection_lag",
                "Time from a workflow step to the delivery list showing it",
                &["status"],
            ),
        }
    }

    fn written(&self, row: &DeliveryRow, before: Option<&DeliveryRow>) {
        let status = row.status.as_str();
        self.status_changes.with_label_values(&[status]).inc();
        // A completion that arrived while the pickup was being written skips the `Picked`
        // row; the delivery was picked up all the same.
        if row.status == DeliveryStatus::Completed
            && before.is_none_or(|b| b.status == DeliveryStatus::Called)
        {
            self.status_changes
                .with_label_values(&[DeliveryStatus::Picked.as_str()])
                .inc();
        }
        let now_ms = Utc::now().timestamp_millis();
        let changed_ms = row.updated_at.timestamp_millis();
        self.projection_lag
            .with_label_values(&[status])
            .observe(between_ms(changed_ms, now_ms).as_secs_f64());
        let phase = match (before.map(|b| b.status), row.status) {
            (Some(DeliveryStatus::Called), DeliveryStatus::Picked) => Some(&self.call_to_pickup),
            (Some(DeliveryStatus::Picked), DeliveryStatus::Completed) => {
                Some(&self.pickup_to_completion)
            }
            _ => None,
        };
        if let (Some(phase), Some(before)) = (phase, before) {
            let started_ms = before.updated_at.timestamp_millis();
            phase
                .with_label_values::<&str>(&[])
                .observe(between_ms(started_ms, changed_ms).as_secs_f64());
        }
    }
}
