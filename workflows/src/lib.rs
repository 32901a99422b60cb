//! The delivery saga as a durable Temporal workflow, plus everything its callers share with it.
//!
//! One [`DeliveryWorkflow`] runs per delivery: it registers the fee with payment, offers the
//! call to riders, waits for pickup and completion (or a cancel, or the pickup deadline),
//! settles or voids the payment and keeps the delivery list current. The code here is
//! deterministic: every effect lives in an activity, declared in [`activities`] and implemented
//! by the `activities` crate, which the `worker` binary registers.
//!
//! The HTTP API depends on this crate for names and types only ([`names`], [`model`]).

pub mod activities;
pub mod client;
pub mod delivery;
pub mod model;
pub mod money;
pub mod names;
pub mod observability;
pub mod state;

pub use delivery::DeliveryWorkflow;
pub use money::{InvoiceRunWorkflow, PayoutRunWorkflow};
