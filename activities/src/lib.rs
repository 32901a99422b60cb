//! The effects of the delivery saga, as Temporal activities.
//!
//! Each struct holds its dependencies and implements the activities `workflows::activities`
//! declares, for one bounded context and task queue:
//! - [`Payments`] (`payments`): the payment service's gRPC client;
//! - [`Dispatch`] (`dispatch`): the store of open calls riders read;
//! - [`Projections`] (`projections`): the delivery list read model.
//!
//! Every activity may run twice (a retry after a lost completion, a worker killed mid-call),
//! so each is idempotent: payment calls are keyed by delivery id, the dispatch store keeps
//! a tombstone for withdrawn calls, and projection writes carry a sequence number.
//! A business rejection is a non-retryable failure; anything else is retried.

mod dispatch;
mod payments;
mod projections;

pub use dispatch::Dispatch;
pub use payments::Payments;
pub use projections::Projections;

use temporalio_sdk::activities::ActivityError;

/// Infrastructure errors are retried by the workflow's retry policy.
fn retryable(context: &str, err: impl std::fmt::Display) -> ActivityError {
    tracing::warn!(error = %err, "{context} failed, will retry");
    ActivityError::from(std::io::Error::other(format!("{context}: {err}")))
}
