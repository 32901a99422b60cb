//! Names operators and clients see in Temporal: task queues, ids and search attributes.

use temporalio_common::search_attributes::{SearchAttributeKey, SearchAttributeUpdate};

/// Task queue of the workflow itself (the contract's `deliveries`).
pub const DELIVERIES_QUEUE: &str = "deliveries";
/// Task queue of the payment activities.
pub const PAYMENTS_QUEUE: &str = "payments";
/// Task queue of the activities that offer and withdraw calls to riders.
pub const DISPATCH_QUEUE: &str = "dispatch";
/// Task queue of the delivery-list projection.
pub const PROJECTIONS_QUEUE: &str = "projections";

/// Current delivery status (`Called`, `Assigned`, `Picked`, `Completed`, `Failed`,
/// `Cancelled`).
pub const DELIVERY_STATUS: SearchAttributeKey<String> =
    SearchAttributeKey::keyword("DeliveryStatus");
/// The restaurant that called the rider.
pub const RESTAURANT_ID: SearchAttributeKey<String> = SearchAttributeKey::keyword("RestaurantId");
/// The rider holding the delivery (the last one it was assigned to).
pub const RIDER_ID: SearchAttributeKey<String> = SearchAttributeKey::keyword("RiderId");
/// Set once the rider has held the food past the completion deadline.
pub const DELIVERY_OVERDUE: SearchAttributeKey<bool> = SearchAttributeKey::bool("DeliveryOverdue");

/// Offer mode: set once the offers ran out and the call went to every rider, until somebody
/// takes it (or it ends).
pub const UNASSIGNED: SearchAttributeKey<bool> = SearchAttributeKey::bool("Unassigned");
/// Offer mode: offers of the call declined or let lapse.
pub const OFFER_DECLINES: SearchAttributeKey<i64> = SearchAttributeKey::int("OfferDeclines");

/// Why the rider could not deliver, once `Failed` (e.g. `customer_unreachable`).
pub const FAILURE_REASON: SearchAttributeKey<String> = SearchAttributeKey::keyword("FailureReason");

/// Set while the delivery waits for an operator's decision: what failed; empty once decided
/// (see [`no_attention`]). Find those waiting with [`NEEDS_ATTENTION`].
pub const ATTENTION: SearchAttributeKey<String> = SearchAttributeKey::keyword("Attention");

/// The visibility filter of deliveries waiting for an operator's decision.
pub const NEEDS_ATTENTION: &str = "Attention IS NOT NULL AND Attention != ''";

/// `Attention` once nothing waits: the empty keyword. Not an unset: the SDK (1.1.1) sends an
/// unset as an empty payload without an encoding, which the server refuses
/// (`BadSearchAttributes`), failing the workflow task.
pub fn no_attention() -> SearchAttributeUpdate {
    ATTENTION.value_set(String::new())
}

/// Every custom search attribute with its Temporal type, for registering them on a server
/// (`temporal server start-dev --search-attribute Name=Type`). `Unassigned`, `OfferDeclines`
/// and `FailureReason` belong to offer dispatch and failed deliveries; they are registered
/// with the rest so one registration serves every release.
pub const SEARCH_ATTRIBUTES: [(&str, &str); 8] = [
    ("DeliveryStatus", "Keyword"),
    ("RestaurantId", "Keyword"),
    ("RiderId", "Keyword"),
    ("DeliveryOverdue", "Bool"),
    ("Unassigned", "Bool"),
    ("OfferDeclines", "Int"),
    ("FailureReason", "Keyword"),
    ("Attention", "Keyword"),
];

/// How long a workflow task may take before Temporal gives it to another worker. A task
/// takes milliseconds; what this bounds is the stall when the worker holding one goes away
/// without answering (a crash, or a drain that races a poll): 4 s instead of Temporal's 10 s.
pub const WORKFLOW_TASK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(4);

/// Concurrent polls for workflow tasks per worker, and the share of them on the shared queue
/// (the rest poll the worker's sticky queue), for our worker and loadgen's ceiling worker
/// alike. The SDK's default, 5 with a fifth shared, leaves a single poll for every new
/// delivery's first task: under a burst of calls those tasks queued for seconds behind it (measured: 7% of tasks waited 1–10 s at 50 concurrent deliveries, and a
/// fifth of the calls missed the API's 3 s wait for the payment registration).
pub const WORKFLOW_TASK_POLLS: usize = 16;
pub const SHARED_QUEUE_POLL_RATIO: f32 = 0.5;

/// The workflow id of a delivery: `delivery-{deliveryId}`.
pub fn workflow_id(delivery_id: &str) -> String {
    format!("delivery-{delivery_id}")
}

/// The task queue an activity role runs on, derived from the workflow's own queue.
///
/// Deployments use the plain names (`deliveries` → `payments`); a prefixed workflow queue
/// (`t42-deliveries`) routes to equally prefixed activity queues (`t42-payments`), so test
/// stacks sharing one Temporal server never steal each other's tasks.
pub fn activity_queue(workflow_queue: &str, role: &str) -> String {
    match workflow_queue.strip_suffix(DELIVERIES_QUEUE) {
        Some(prefix) => format!("{prefix}{role}"),
        None => workflow_queue.to_owned(),
    }
}

/// The Temporal Schedule of the payout runs of the stack whose workflow queue is
/// `workflow_queue` (`payouts`, or `t42-payouts` beside `t42-deliveries`); each run's workflow
/// id is this id, a dash and its scheduled time.
pub fn payouts_schedule(workflow_queue: &str) -> String {
    activity_queue(workflow_queue, "payouts")
}

/// The Schedule of the invoice runs; see [`payouts_schedule`].
pub fn invoices_schedule(workflow_queue: &str) -> String {
    activity_queue(workflow_queue, "invoices")
}

/// The four queues of a stack whose workflow queue has `prefix` in front of it.
pub fn queues(prefix: &str) -> [String; 4] {
    [
        DELIVERIES_QUEUE,
        PAYMENTS_QUEUE,
        DISPATCH_QUEUE,
        PROJECTIONS_QUEUE,
    ]
    .map(|q| format!("{prefix}{q}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_schedules_follow_the_workflow_queue_prefix() {
        assert_eq!(payouts_schedule("deliveries"), "payouts");
        assert_eq!(invoices_schedule("t42-deliveries"), "t42-invoices");
    }

    #[test]
    fn activity_queues_follow_the_workflow_queue_prefix() {
        assert_eq!(activity_queue("deliveries", PAYMENTS_QUEUE), "payments");
        assert_eq!(
            activity_queue("t42-deliveries", DISPATCH_QUEUE),
            "t42-dispatch"
        );
    }

    #[test]
    fn an_unconventional_workflow_queue_keeps_activities_on_it() {
        assert_eq!(activity_queue("other", PAYMENTS_QUEUE), "other");
    }
}
