//! What the delivery handlers do, apart from HTTP: starting a delivery (update-with-start,
//! bounded by the payment wait), the idempotency of `Idempotency-Key`s (kept by us, for good,
//! beside the delivery list: Temporal forgets a closed delivery after its retention period),
//! and reading a delivery when its workflow cannot answer.

use std::{num::NonZeroUsize, sync::Mutex, time::Instant};

use domain::{
    Call, CommissionBps, CustomerId, DeliveryId, DeliveryView, DispatchMode, PaymentSummary,
    RestaurantId, Text,
};
use identity::Profile;
use lru::LruCache;
use serde::{Deserialize, Serialize};
use temporalio_client::{
    WorkflowExecutionStatus, WorkflowIdConflictPolicy, WorkflowIdReusePolicy, WorkflowStartOptions,
    WorkflowUpdateWithStartOptions,
    errors::{WorkflowInteractionError, WorkflowStartError, WorkflowUpdateWithStartError},
};
use temporalio_common::{MemoValues, search_attributes::SearchAttributes};
use workflows::{
    DeliveryWorkflow,
    model::{DeliveryInput, DeliveryStatus, OfferPlan},
    names,
};

use crate::{AppState, error::ApiError, temporal};

/// The `Idempotency-Key` header: 1 to 64 printable ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IdempotencyKey(String);

impl IdempotencyKey {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn parse(key: &[u8]) -> Result<Self, ApiError> {
        let printable = |b: &u8| (0x20..=0x7e).contains(b);
        match !key.is_empty() && key.len() <= 64 && key.iter().all(printable) {
            // Printable ASCII is UTF-8.
            true => Ok(Self(String::from_utf8_lossy(key).into_owned())),
            false => Err(ApiError::invalid(
                "Idempotency-Key",
                "Idempotency-Key must be 1 to 64 printable ASCII characters",
            )),
        }
    }
}

/// A restaurant's call, as parsed from `POST /deliveries`.
pub(crate) struct CallRequest {
    pub(crate) restaurant_id: RestaurantId,
    pub(crate) destination: Text,
    pub(crate) cost: domain::Cost,
    pub(crate) customer_id: Option<CustomerId>,
}

/// What a delivery was started with, kept in its workflow's memo: readable without a worker,
/// shown in the Temporal UI, and compared when the same `Idempotency-Key` comes back. One
/// memo key per field (the names every running delivery's memo already has). The SDK runs
/// the client's payload codec over the memo when it starts a workflow and when it describes
/// one, so the memo is stored encrypted like the workflow's input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartedWith {
    restaurant_id: RestaurantId,
    destination: Text,
    cost: domain::Cost,
    customer_id: Option<CustomerId>,
}

impl StartedWith {
    fn of(input: &DeliveryInput) -> Self {
        Self {
            restaurant_id: input.call.restaurant_id.clone(),
            destination: input.call.destination.clone(),
            cost: input.call.cost,
            customer_id: input.customer_id.clone(),
        }
    }

    fn memo(&self) -> MemoValues {
        let mut memo = MemoValues::new();
        memo.insert("restaurantId", self.restaurant_id.clone());
        memo.insert("destination", self.destination.clone());
        memo.insert("cost", self.cost);
        memo.insert("customerId", self.customer_id.clone());
        memo
    }

    /// Reads the memo back; `None` when it lacks a field (not a delivery we started).
    fn from_memo(memo: &temporalio_common::Memo) -> Option<Self> {
        Some(Self {
            restaurant_id: memo.get("restaurantId").ok()??,
            destination: memo.get("destination").ok()??,
            cost: memo.get("cost").ok()??,
            customer_id: memo.get("customerId").ok().flatten(),
        })
    }

    /// What is kept with an `Idempotency-Key` to recognise the same request: SHA-256 (hex) of
    /// the request's canonical JSON (fixed field order, the parsed values).
    fn hash(&self) -> String {
        use sha2::Digest as _;
        // Serializing plain strings and numbers cannot fail.
        let json = serde_json::to_vec(self).unwrap_or_default();
        sha2::Sha256::digest(&json)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn call(self, delivery_id: DeliveryId) -> Call {
        Call {
            delivery_id,
            restaurant_id: self.restaurant_id,
            destination: self.destination,
            cost: self.cost,
        }
    }
}

/// Starts the delivery of `request` and waits, at most `API_PAYMENT_WAIT_MS`, for payment's
/// decision on the fee: the view once decided, the pending view when it did not come in time
/// (the start is durable either way).
///
/// With a `key`, the same restaurant and key always name the same delivery, so a retried call
/// never makes a second one, however long after; the same key with another request is
/// refused (see [`call_with_key`]).
pub(crate) async fn call(
    state: &AppState,
    request: CallRequest,
    key: Option<IdempotencyKey>,
) -> Result<DeliveryView, ApiError> {
    let delivery_id = match &key {
        // Derived from the key, as before keys were kept: a key first used then still names
        // its delivery.
        Some(IdempotencyKey(key)) => uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_OID,
            format!("{}\n{key}", request.restaurant_id).as_bytes(),
        ),
        None => uuid::Uuid::now_v7(),
    };
    // A UUID always matches the id grammar.
    let delivery_id = DeliveryId::parse(delivery_id.to_string())
        .map_err(|e| ApiError::internal(format!("generated delivery id: {e}")))?;
    // The request's span (see `observe`) names the delivery on every line it logs.
    tracing::Span::current().record("delivery_id", delivery_id.as_str());
    let settings = state.settings();
    let (offers, commission_bps) = dispatch_terms(state, &request.restaurant_id).await?;
    let input = DeliveryInput {
        call: Call {
            delivery_id,
            restaurant_id: request.restaurant_id,
            destination: request.destination,
            cost: request.cost,
        },
        customer_id: request.customer_id,
        pickup_deadline_secs: settings.pickup_deadline_secs,
        completion_deadline_secs: settings.completion_deadline_secs,
        retry_budget_secs: settings.step_retry_budget_secs,
        offers,
        commission_bps,
    };
    let view = match &key {
        Some(key) => call_with_key(state, &input, key).await?,
        None => start(state, &input).await?,
    };
    Ok(view.unwrap_or_else(|| DeliveryView::pending(input.call)))
}

/// The terms the restaurant's account sets for a call, fixed at the call: how it is offered
/// (`None` for the broadcast, its default, else one rider at a time in its zone, as the
/// deployment configures offers), and the agency's commission rate.
async fn dispatch_terms(
    state: &AppState,
    restaurant_id: &RestaurantId,
) -> Result<(Option<OfferPlan>, Option<CommissionBps>), ApiError> {
    let account = state
        .identity()
        .accounts
        .get(&restaurant_id.clone().into())
        .await?;
    let settings = state.settings();
    Ok(match account.profile {
        Profile::Restaurant(profile) => {
            let offers = (profile.dispatch_mode == DispatchMode::Offer).then_some(OfferPlan {
                zone: profile.zone,
                timeout_secs: settings.offer_timeout_secs,
                rounds: settings.offer_rounds,
            });
            (offers, Some(profile.commission_bps))
        }
        _ => (None, None),
    })
}

/// The call of `input` under `key`, through the key's record in the delivery-list database.
///
/// The key is claimed before anything starts (one row per restaurant and key, the first
/// claim wins), so racing duplicates agree on the delivery and the request hash; another
/// request under the key is refused. A claim is marked started only once Temporal confirmed
/// the start, so a start that failed (Temporal down) leaves the key free for a retry to start
/// it; once started, the delivery is never started again: a repeat reads the delivery, from
/// its workflow while Temporal keeps it and from the delivery list after.
async fn call_with_key(
    state: &AppState,
    input: &DeliveryInput,
    key: &IdempotencyKey,
) -> Result<Option<DeliveryView>, ApiError> {
    let readmodel = &state.inner.readmodel;
    let restaurant_id = &input.call.restaurant_id;
    let hash = StartedWith::of(input).hash();
    let claim = readmodel
        .claim_idempotency_key(restaurant_id, key.as_str(), &hash, &input.call.delivery_id)
        .await?;
    if claim.request_hash != hash {
        return Err(key_reused());
    }
    // The id is derived from the key, so the claim's is this one; the claim is what holds.
    let call = Call {
        delivery_id: claim.delivery_id,
        ..input.call.clone()
    };
    if !claim.started {
        // A delivery the list shows has run, whatever the claim says (its start was confirmed
        // but not recorded, or it was made before keys were kept): never start it again.
        let listed = readmodel.delivery(&call.delivery_id).await?;
        if listed.is_none() {
            return match start(state, input).await {
                Ok(view) => {
                    mark_started(state, restaurant_id, key).await;
                    Ok(view)
                }
                // The delivery id was taken by another request before keys were kept here:
                // the key stays free for the request that took it.
                Err(e @ ApiError::IdempotencyMismatch(_)) => {
                    if let Err(release) = readmodel
                        .release_idempotency_key(restaurant_id, key.as_str(), &hash)
                        .await
                    {
                        tracing::warn!(error = %release, "idempotency key not released");
                    }
                    Err(e)
                }
                // Not started (or not known to be): the claim stays unstarted, and a retry
                // with the key starts it (or finds it started).
                Err(e) => Err(e),
            };
        }
        mark_started(state, restaurant_id, key).await;
    }
    started_delivery(state, call).await.map(Some)
}

/// Records that the delivery of `key` started. A failure only costs the next repeat a look
/// at Temporal or the delivery list, which finds the delivery started.
async fn mark_started(state: &AppState, restaurant_id: &RestaurantId, key: &IdempotencyKey) {
    if let Err(e) = state
        .inner
        .readmodel
        .idempotency_key_started(restaurant_id, key.as_str())
        .await
    {
        tracing::warn!(error = %e, "idempotency key not marked started");
    }
}

/// A delivery already started, as a repeated call answers it: the workflow's view (once
/// payment decided, bounded by the payment wait) while Temporal keeps the run; after, the
/// delivery list's. Nothing is started.
async fn started_delivery(state: &AppState, call: Call) -> Result<DeliveryView, ApiError> {
    let handle = temporal::handle(state, &call.delivery_id);
    if temporal::execution_status(&handle).await?.is_some() {
        let view = temporal::await_registration(&handle, state.settings().payment_wait).await;
        return Ok(view.unwrap_or_else(|| DeliveryView::pending(call)));
    }
    // Temporal no longer keeps the run (retention): the delivery list does.
    match fallback(state, &call.delivery_id, false).await {
        Ok((_, view)) => Ok(view),
        Err(ApiError::NotFound { .. }) => Err(ApiError::DeliveryClosed(format!(
            "this Idempotency-Key made delivery {}, which is closed and no longer shown; it is not made again",
            call.delivery_id
        ))),
        Err(e) => Err(e),
    }
}

fn key_reused() -> ApiError {
    ApiError::IdempotencyMismatch(
        "this Idempotency-Key was already used with a different request".into(),
    )
}

/// The delivery ids this replica started lately, the newest [`StartedCalls::KEPT`]: each one
/// exists in Temporal for good (ids are never reused), so a pickup of one whose fee is still
/// registering is refused without asking Temporal whether it exists at all
/// ([`refuse_pickup_before_registration`]). Riders who try such a call again and again (an
/// app that already has its id) then cost two reads of the delivery list, not a Temporal
/// lookup each, exactly when the server is behind. Another replica's calls, or any after a
/// restart, are looked up as before.
pub(crate) struct StartedCalls(Mutex<LruCache<DeliveryId, ()>>);

impl StartedCalls {
    /// About 1 MB at most: minutes of calls at hundreds a second.
    const KEPT: NonZeroUsize = NonZeroUsize::new(10_000).expect("not zero");

    fn remember(&self, id: &DeliveryId) {
        self.lock().put(id.clone(), ());
    }

    fn contains(&self, id: &DeliveryId) -> bool {
        self.lock().contains(id)
    }

    /// The set, even if a thread panicked holding it (an id in it is true either way).
    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<DeliveryId, ()>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Default for StartedCalls {
    fn default() -> Self {
        Self(Mutex::new(LruCache::new(Self::KEPT)))
    }
}

/// One round trip: the start carries the workflow's `registration` update
/// (update-with-start), which the workflow answers in its first task, where it registers the
/// fee (local activity). `None` when no decision came in time.
async fn start(state: &AppState, input: &DeliveryInput) -> Result<Option<DeliveryView>, ApiError> {
    let started = start_once(state, input).await;
    if started.is_ok() {
        state.inner.started.remember(&input.call.delivery_id);
    }
    started
}

/// [`start`], without remembering the call.
async fn start_once(
    state: &AppState,
    input: &DeliveryInput,
) -> Result<Option<DeliveryView>, ApiError> {
    let settings = state.settings();
    let waited = Instant::now();
    let started_with = StartedWith::of(input);
    let options = WorkflowUpdateWithStartOptions::new(
        settings.queue.task_queue.clone(),
        names::workflow_id(input.call.delivery_id.as_str()),
        WorkflowIdConflictPolicy::Fail,
    )
    .id_reuse_policy(WorkflowIdReusePolicy::RejectDuplicate)
    .task_timeout(names::WORKFLOW_TASK_TIMEOUT)
    .search_attributes(search_attributes(input))
    .memo(started_with.memo())
    .static_summary(summary(input))
    .build();
    let call = state.inner.temporal.execute_update_with_start_workflow(
        DeliveryWorkflow::run,
        input.clone(),
        DeliveryWorkflow::registration,
        (),
        options,
    );
    let delivery_id = &input.call.delivery_id;
    let handle = temporal::handle(state, delivery_id);
    let remaining = || settings.payment_wait.saturating_sub(waited.elapsed());
    match tokio::time::timeout(settings.payment_wait, call).await {
        Ok(Ok(view)) => Ok(Some(view)),
        Ok(Err(WorkflowUpdateWithStartError::Start(WorkflowStartError::AlreadyStarted {
            ..
        }))) => {
            same_request(state, delivery_id, &started_with).await?;
            Ok(temporal::await_registration(&handle, remaining()).await)
        }
        // Started, but the update got no answer (e.g. the workflow closed first): ask the view.
        Ok(Err(WorkflowUpdateWithStartError::Update(e))) => {
            tracing::debug!(error = %e, "registration update failed");
            Ok(temporal::await_registration(&handle, remaining()).await)
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "workflow start failed");
            Err(ApiError::Unavailable("temporal"))
        }
        // No decision in time (workers or payment down, or a server behind), and the call may
        // not even have been started. It almost always was (what is slow is the registration,
        // answered in the workflow's first task), so look before starting: a read, where a
        // start refused as a duplicate costs the server a write attempt exactly when it is
        // busiest (measured: a failed start for 465 of 500 calls at saturation). The look
        // also tells whether the run is this request's.
        Err(_) => match stored_request(state, delivery_id).await? {
            None => start_only(state, input, &started_with).await.map(|()| None),
            Some(stored) if stored == started_with => Ok(None),
            Some(_) => Err(key_reused()),
        },
    }
}

/// Starts the workflow without waiting for anything.
async fn start_only(
    state: &AppState,
    input: &DeliveryInput,
    started_with: &StartedWith,
) -> Result<(), ApiError> {
    let delivery_id = &input.call.delivery_id;
    let options = WorkflowStartOptions::new(
        state.settings().queue.task_queue.clone(),
        names::workflow_id(delivery_id.as_str()),
    )
    .id_conflict_policy(WorkflowIdConflictPolicy::Fail)
    .id_reuse_policy(WorkflowIdReusePolicy::RejectDuplicate)
    .task_timeout(names::WORKFLOW_TASK_TIMEOUT)
    .search_attributes(search_attributes(input))
    .memo(started_with.memo())
    .static_summary(summary(input))
    .build();
    match state
        .inner
        .temporal
        .start_workflow(DeliveryWorkflow::run, input.clone(), options)
        .await
    {
        Ok(_) => Ok(()),
        Err(WorkflowStartError::AlreadyStarted { .. }) => {
            same_request(state, delivery_id, started_with).await
        }
        Err(e) => {
            tracing::warn!(error = %e, "workflow start failed");
            Err(ApiError::Unavailable("temporal"))
        }
    }
}

fn search_attributes(input: &DeliveryInput) -> SearchAttributes {
    SearchAttributes::new([
        names::DELIVERY_STATUS.value_set(DeliveryStatus::Called.as_str().to_owned()),
        names::RESTAURANT_ID.value_set(input.call.restaurant_id.to_string()),
    ])
}

/// The one line the Temporal UI shows for a delivery. Temporal stores it unencrypted (the SDK
/// puts it in the start request's user metadata without the payload codec), so it names
/// only what search attributes and ids show anyway: never the destination or the customer.
fn summary(input: &DeliveryInput) -> String {
    let call = &input.call;
    format!("{}, {} KRW", call.restaurant_id, call.cost.won())
}

/// A delivery id seen before must have been started with the same request.
async fn same_request(
    state: &AppState,
    delivery_id: &DeliveryId,
    request: &StartedWith,
) -> Result<(), ApiError> {
    match stored_request(state, delivery_id).await? {
        Some(stored) if stored == *request => Ok(()),
        _ => Err(key_reused()),
    }
}

/// What a delivery was started with, from its workflow's memo (no worker needed); `None`
/// when there is no such workflow.
async fn stored_request(
    state: &AppState,
    delivery_id: &DeliveryId,
) -> Result<Option<StartedWith>, ApiError> {
    let handle = temporal::handle(state, delivery_id);
    match handle.describe(Default::default()).await {
        Ok(description) => Ok(StartedWith::from_memo(&description.memo())),
        Err(WorkflowInteractionError::NotFound(_)) => Ok(None),
        Err(e) => {
            tracing::warn!(error = %e, "describe failed");
            Err(ApiError::Unavailable("temporal"))
        }
    }
}

/// Where a delivery's view came from, when not from its workflow (the `x-delivery-source`
/// header says so).
pub(crate) enum Source {
    /// The workflow's own view: as it stored it, or its answer to a query.
    Workflow,
    /// The delivery list, with the payment service's status.
    DeliveryList,
    /// Nothing projected yet: the request the workflow was started with, payment pending.
    WorkflowStart,
}

impl Source {
    pub(crate) fn header(&self) -> Option<&'static str> {
        match self {
            Self::Workflow => None,
            Self::DeliveryList => Some("delivery-list"),
            Self::WorkflowStart => Some("workflow-start"),
        }
    }
}

/// The view of a delivery: the one its workflow last stored beside the delivery list (one
/// read by id), else its workflow's answer, else when no worker answers in time the delivery
/// list and the payment service.
///
/// The stored view is current: the workflow stores it in the same workflow task as every
/// change a request makes (an update is answered only once that task completed), so a caller
/// reads its own writes; what changes without a request is stored too (the end of a
/// delivery) or derived on reading (overdue, a decision awaited). Asking the workflow
/// instead would replay an evicted delivery on the worker that serves pickups, for every
/// read. Only a call being offered to riders one at a time asks its workflow: its offers
/// move on timers and declines the list does not follow.
pub(crate) async fn view(
    state: &AppState,
    delivery_id: &DeliveryId,
) -> Result<(Source, DeliveryView), ApiError> {
    match state.inner.readmodel.stored_view(delivery_id).await {
        Ok(Some(stored)) if !offering(&stored.view) => {
            return Ok((Source::Workflow, stored.at(chrono::Utc::now())));
        }
        Ok(_) => {}
        // The workflow can still answer.
        Err(e) => tracing::warn!(error = %e, "stored view unreadable"),
    }
    let handle = temporal::handle(state, delivery_id);
    match temporal::query(&handle, state.settings().query_timeout).await {
        Ok(view) => Ok((Source::Workflow, view)),
        Err(temporal::QueryFailure::NotFound) => fallback(state, delivery_id, false).await,
        Err(temporal::QueryFailure::Unanswered) => fallback(state, delivery_id, true).await,
    }
}

/// Refuses (`409`) a pickup of a call whose fee is still registering without asking its
/// workflow: nothing is stored for the delivery yet (the call is written with its view once
/// the fee is registered) while Temporal runs it. `Ok(())` when the workflow decides.
///
/// Asking the workflow costs a workflow task, and a replay when the worker no longer caches
/// the delivery, for every refusal: riders who keep trying a call whose fee is still
/// registering (payment slow, the stack behind) would load the worker the most exactly when
/// it is behind. Only the absence of a stored view is trusted here: a view can be a step
/// ahead of its workflow after a worker died mid-task (its steps ran, the task was lost and
/// is retried), so any other answer stays the workflow's.
pub(crate) async fn refuse_pickup_before_registration(
    state: &AppState,
    delivery_id: &DeliveryId,
) -> Result<(), ApiError> {
    let readmodel = &state.inner.readmodel;
    match readmodel.stored_view(delivery_id).await {
        Ok(None) => {}
        Ok(Some(_)) => return Ok(()),
        Err(e) => {
            tracing::warn!(error = %e, "stored view unreadable");
            return Ok(());
        }
    }
    // A delivery from before views were kept has its row only.
    if readmodel.delivery(delivery_id).await?.is_some() {
        return Ok(());
    }
    if state.inner.started.contains(delivery_id) {
        return Err(not_open_yet());
    }
    let handle = temporal::handle(state, delivery_id);
    match temporal::execution_status(&handle).await? {
        Some(WorkflowExecutionStatus::Running) => Err(not_open_yet()),
        _ => Ok(()),
    }
}

fn not_open_yet() -> ApiError {
    ApiError::Conflict("the call is not open yet: its payment is still being registered".into())
}

/// A call still offered to riders one at a time (see [`view`]).
fn offering(view: &DeliveryView) -> bool {
    view.status == DeliveryStatus::Called && view.dispatch.mode == DispatchMode::Offer
}

async fn fallback(
    state: &AppState,
    delivery_id: &DeliveryId,
    may_exist: bool,
) -> Result<(Source, DeliveryView), ApiError> {
    let row = state.inner.readmodel.delivery(delivery_id).await?;
    let Some(row) = row else {
        // Not projected yet: a delivery whose workers are down still has its start request.
        let stored = match may_exist {
            true => stored_request(state, delivery_id).await?,
            false => None,
        };
        return match stored {
            Some(stored) => Ok((
                Source::WorkflowStart,
                DeliveryView::pending(stored.call(delivery_id.clone())),
            )),
            None => Err(ApiError::delivery_not_found(delivery_id.as_str())),
        };
    };
    let payment = crate::routes::payment_of(state, delivery_id)
        .await
        .ok()
        .flatten();
    let view = DeliveryView {
        call: row.call,
        status: row.status,
        rider_id: row.rider_id,
        payment: PaymentSummary {
            status: payment
                .as_ref()
                .map_or(domain::PaymentStatus::Pending, |p| p.status),
            amount: payment.as_ref().map(|p| p.amount),
        },
        commission: payment.as_ref().map(|p| p.commission),
        settled: row.settled,
        cancel_reason: None,
        overdue: false,
        attention: None,
        // The list keeps the reason, not the rider's note, nor the times and assignments.
        failure: row
            .failure_reason
            .map(|reason| domain::DeliveryFailure { reason, note: None }),
        timeline: domain::Timeline::default(),
        assignments: Vec::new(),
        dispatch: domain::DispatchSummary::default(),
    };
    Ok((Source::DeliveryList, view))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_names_neither_the_destination_nor_the_customer() {
        let input: DeliveryInput = serde_json::from_value(serde_json::json!({
            "deliveryId": "d-1", "restaurantId": "r-1",
            "destination": "Seoul, Gangnam-gu, Teheran-ro 1", "cost": 20000,
            "customerId": "cust-42",
        }))
        .unwrap();
        let summary = summary(&input);
        assert_eq!(summary, "r-1, 20000 KRW");
        assert!(!summary.contains("Seoul") && !summary.contains("cust-42"));
    }

    #[test]
    fn the_request_hash_kept_with_a_key_changes_with_every_field_and_only_with_them() {
        let started = |json: serde_json::Value| {
            StartedWith::of(&serde_json::from_value::<DeliveryInput>(json).unwrap()).hash()
        };
        let base = serde_json::json!({
            "deliveryId": "d-1", "restaurantId": "r-1", "destination": "Daegu", "cost": 4000,
        });
        let hash = started(base.clone());
        assert_eq!(hash.len(), 64, "{hash}");
        // The delivery id and deadlines are ours, not the restaurant's request.
        let mut same = base.clone();
        same["deliveryId"] = "d-2".into();
        assert_eq!(started(same), hash);
        for (field, value) in [
            ("restaurantId", serde_json::json!("r-2")),
            ("destination", serde_json::json!("Daegu ")),
            ("cost", serde_json::json!(4001)),
            ("customerId", serde_json::json!("c-9")),
        ] {
            let mut other = base.clone();
            other[field] = value;
            assert_ne!(started(other), hash, "{field}");
        }
    }
}
