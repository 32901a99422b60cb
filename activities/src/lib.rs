//! The effects of the delivery saga, as Temporal activities.
//!
//! Each struct holds its dependencies and implements the activities `workflows::activities`
//! declares, for one bounded context and task queue:
//! - [`Payments`] (`payments`): the payment service's gRPC client;
//! - [`Dispatch`] (`dispatch`): the store of open calls riders read;
//! - [`Projections`] (`projections`): the delivery list read model, and the reports to
//!   operators.
//!
//! Every activity may run twice (a retry after a lost completion, a worker killed mid-call),
//! so each is idempotent: payment calls are keyed by delivery id, the dispatch store keeps
//! a tombstone for withdrawn calls, and projection writes carry a sequence number.
//!
//! Failures are classified where they happen ([`Failures`]): what no retry can change (payment
//! refusing on the merits, a database refusing the data) is final at once, so the workflow
//! compensates or asks an operator; anything else is retried within the step's budget.

mod dispatch;
mod payments;
mod projections;

pub use dispatch::Dispatch;
pub use payments::Payments;
pub use projections::Projections;

use prometheus::IntCounterVec;
use telemetry::metrics::Metrics;
use temporalio_sdk::{ApplicationFailure, activities::ActivityError};

/// Failure type of an activity whose database refused the data itself.
pub(crate) const DATA_REFUSED: &str = "DataRefused";

/// Makes activity errors, and counts them in `delivery_step_failures_total{activity,
/// retryable}` (when the process has metrics). Cheap to clone.
#[derive(Clone, Debug, Default)]
pub(crate) struct Failures {
    counter: Option<IntCounterVec>,
}

impl Failures {
    pub(crate) fn new(metrics: Option<&Metrics>) -> Self {
        Self {
            counter: metrics.map(|m| {
                m.counter(
                    "delivery_step_failures",
                    "Failed attempts of the saga's activities, by activity and by whether they will be retried",
                    &["activity", "retryable"],
                )
            }),
        }
    }

    fn count(&self, activity: &str, retryable: bool) {
        if let Some(counter) = &self.counter {
            let retryable = if retryable { "true" } else { "false" };
            counter.with_label_values(&[activity, retryable]).inc();
        }
    }

    /// A failure a retry may outlast (an unreachable service, a timeout, a lock): retried
    /// by the workflow's retry policy.
    pub(crate) fn retryable(&self, activity: &str, err: impl std::fmt::Display) -> ActivityError {
        tracing::warn!(error = %err, "{activity} failed, will retry");
        self.count(activity, true);
        ActivityError::from(std::io::Error::other(format!("{activity}: {err}")))
    }

    /// A failure no retry can change: final at once, of type `type_name`.
    pub(crate) fn permanent(
        &self,
        activity: &str,
        type_name: &str,
        message: impl std::fmt::Display,
    ) -> ActivityError {
        tracing::warn!(error = %message, "{activity} failed for good");
        self.count(activity, false);
        ActivityError::application(
            ApplicationFailure::builder(format!("{activity}: {message}"))
                .type_name(type_name.to_owned())
                .non_retryable(true)
                .build(),
        )
    }

    /// A read-model error, final when the database refused the data itself.
    pub(crate) fn read_model(
        &self,
        activity: &str,
        err: readmodel::ReadModelError,
    ) -> ActivityError {
        if err.is_permanent() {
            self.permanent(activity, DATA_REFUSED, err)
        } else {
            self.retryable(activity, err)
        }
    }
}
