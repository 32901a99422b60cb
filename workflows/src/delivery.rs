//! `DeliveryWorkflow`: one delivery's saga, from the restaurant's call to settlement.
//!
//! 1. register the fee with payment (compensation: void it);
//! 2. offer the call to riders (compensation: withdraw it) and project `Called`;
//! 3. wait for a pickup, a cancel, the pickup deadline or an operator's cancel; on anything
//!    but a pickup, run the compensations in reverse, project `Cancelled` and end;
//! 4. withdraw the call, project `Picked`, wait for completion; past the completion deadline
//!    mark the delivery overdue and keep waiting (a delivery is never dropped);
//! 5. settle the payment and project `Completed` with the settled amount.
//!
//! Activities run with a cancellation token of their own: cancelling the workflow (e.g. from
//! the Temporal UI) interrupts the waiting in steps 3 and 4, never a payment call half-way,
//! and the compensations still run.
//!
//! Versions (each kept for the executions that started on it, see [`PATCH_LOCAL_EFFECTS`]):
//! - v1: every step an activity on its bounded context's queue, one after the other;
//! - v2 ([`PATCH_OFFER_WITH_PROJECTION`]): the offer and the `Called` projection concurrently;
//! - v3 ([`PATCH_LOCAL_EFFECTS`]): every step runs as a local activity inside the workflow
//!   task (falling back to the remote activity on its queue when it keeps failing). Half the
//!   history events.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use temporalio_common::{
    ActivityDefinition, RetryPolicy,
    protos::temporal::api::failure::v1::{Failure, failure::FailureInfo},
};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{
    ActivityExecutionError, ActivityOptions, ApplicationFailure, LocalActivityOptions,
    SyncWorkflowContext, TimerResult, WorkflowCancellationToken, WorkflowContext,
    WorkflowContextView, WorkflowResult, WorkflowTermination,
    workflows::{join, select},
};

use crate::{
    activities::{DispatchActivities, PaymentActivities, ProjectionActivities},
    model::{
        CancelRequest, DeliveryInput, DeliveryStatus, DeliveryView, Expiry, OfferCallInput,
        PaymentStatus, RegisterPaymentInput, RiderRequest,
    },
    names,
    state::DeliveryState,
};

/// Version 2 of step 2: offer the call and project `Called` concurrently. Deliveries started
/// before it (no marker in their history) keep the sequential v1 path. A worker can defer it
/// during a rolling deploy (`WORKER_DEFERRED_PATCHES`) until every worker runs v2.
pub const PATCH_OFFER_WITH_PROJECTION: &str = "offer-and-project-together";

/// Version 3: every step (register, settle and void the payment; offer and withdraw the call;
/// write the delivery list) runs as a local activity in the deliveries worker: one marker
/// event each instead of three events and a workflow task of their own, and the registration
/// is decided inside the first workflow task, so `POST /deliveries` answers sooner. A local
/// activity that keeps failing (payment, the riders' store or the list down) falls back to the
/// v2 remote activity on its bounded context's queue, whose server-side retries cost no
/// history. The call is confirmed by the registration alone, so restaurants keep calling
/// while the riders' side is down either way. Also: the `Picked` projection runs with the
/// withdrawal, and no deadline timer is started for a wait that is already over. Asked before [`PATCH_OFFER_WITH_PROJECTION`] and includes it, so a v3
/// history carries this marker only; deferred like any patch (`WORKER_DEFERRED_PATCHES`), new
/// deliveries run v2.
pub const PATCH_LOCAL_EFFECTS: &str = "local-payment-and-projection";

/// Default time a call stays open for riders.
pub const DEFAULT_PICKUP_DEADLINE: Duration = Duration::from_secs(30 * 60);
/// Default time from pickup until the delivery is flagged overdue.
pub const DEFAULT_COMPLETION_DEADLINE: Duration = Duration::from_secs(2 * 60 * 60);

type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// A step to undo if the delivery is cancelled, recorded as its forward step succeeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compensation {
    VoidPayment,
    WithdrawCall,
}

/// How the wait for a rider ended.
enum PickupWait {
    /// The state moved on (picked up or cancelled by an update or signal).
    Changed,
    DeadlinePassed,
    WorkflowCancelled(String),
}

#[workflow]
pub struct DeliveryWorkflow {
    state: DeliveryState,
}

#[workflow_methods]
impl DeliveryWorkflow {
    #[init]
    pub fn new(_ctx: &WorkflowContextView, input: DeliveryInput) -> Self {
        Self {
            state: DeliveryState::new(input),
        }
    }

    #[run(name = "DeliveryWorkflow")]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<DeliveryView> {
        let input = ctx.state(|w| w.state.input().clone());
        let saga = Saga {
            queue: ctx.info().task_queue().to_owned(),
            local: ctx.patched(PATCH_LOCAL_EFFECTS),
        };
        let queue = saga.queue.clone();
        let mut compensations = Vec::new();

        // 1. The call is confirmed only once payment has the fee.
        let registered = saga
            .call(
                ctx,
                || PaymentActivities::register_payment,
                RegisterPaymentInput {
                    delivery_id: input.delivery_id.clone(),
                    amount: input.cost,
                },
                names::PAYMENTS_QUEUE,
            )
            .await;
        match registered {
            Ok(_) => {
                compensations.push(Compensation::VoidPayment);
                ctx.state_mut(|w| w.state.payment_registered());
            }
            // The retry policy retries every infrastructure error forever, so only a business
            // rejection (non-retryable) ends up here.
            Err(err) => {
                let why = failure_message(&err);
                ctx.state_mut(|w| w.state.payment_rejected(&why));
                return finish(ctx, &saga, compensations, None).await;
            }
        }

        // 2. Offer the call to riders; the delivery list shows it.
        if ctx.state(|w| w.state.status()) == DeliveryStatus::Called {
            let offer = OfferCallInput {
                delivery_id: input.delivery_id.clone(),
                restaurant_id: input.restaurant_id.clone(),
                destination: input.destination.clone(),
                cost: input.cost,
                called_at_ms: now_ms(ctx),
            };
            let offer_options = activity_options(&queue, names::DISPATCH_QUEUE);
            if saga.local {
                // v3: the offer and the projection together, both local.
                let at = now_ms(ctx);
                let row = ctx.state_mut(|w| w.state.next_projection(at));
                let (offered, projected) = join!(
                    saga.call(
                        ctx,
                        || DispatchActivities::offer_call,
                        offer,
                        names::DISPATCH_QUEUE,
                    ),
                    saga.call(
                        ctx,
                        || ProjectionActivities::project_delivery,
                        row,
                        names::PROJECTIONS_QUEUE,
                    ),
                );
                if offered.is_ok() {
                    compensations.push(Compensation::WithdrawCall);
                }
                offered.map_err(fail)?;
                projected.map_err(fail)?;
            } else if ctx.patched(PATCH_OFFER_WITH_PROJECTION) {
                // v2: both writes in one workflow task, which saves a round trip and history.
                let at = now_ms(ctx);
                let row = ctx.state_mut(|w| w.state.next_projection(at));
                let (offered, projected) = join!(
                    ctx.execute_activity(DispatchActivities::offer_call, offer, offer_options),
                    ctx.execute_activity(
                        ProjectionActivities::project_delivery,
                        row,
                        activity_options(&queue, names::PROJECTIONS_QUEUE),
                    ),
                );
                if offered.is_ok() {
                    compensations.push(Compensation::WithdrawCall);
                }
                offered.map_err(fail)?;
                projected.map_err(fail)?;
            } else {
                // v1: offer, then project; kept for deliveries started before the patch.
                let offered = ctx
                    .execute_activity(DispatchActivities::offer_call, offer, offer_options)
                    .await;
                if offered.is_ok() {
                    compensations.push(Compensation::WithdrawCall);
                }
                offered.map_err(fail)?;
                // A rider may have been faster than the list; later steps project what followed.
                if ctx.state(|w| w.state.status()) == DeliveryStatus::Called {
                    project(ctx, &saga).await?;
                }
            }
        }

        // 3. Wait for a rider, a cancel or the deadline (v3: no timer when the wait is over).
        let pickup_deadline = input
            .pickup_deadline_secs
            .map_or(DEFAULT_PICKUP_DEADLINE, Duration::from_secs);
        let decided = ctx.state(|w| w.state.status()) != DeliveryStatus::Called;
        let waited = if saga.local && decided {
            PickupWait::Changed
        } else {
            select! {
                changed = ctx.wait_condition(|w: &Self| w.state.status() != DeliveryStatus::Called) => match changed {
                    Ok(()) => PickupWait::Changed,
                    Err(cancel) => PickupWait::WorkflowCancelled(cancel_reason(ctx, &cancel.to_string())),
                },
                fired = ctx.timer(pickup_deadline) => match fired {
                    TimerResult::Fired => PickupWait::DeadlinePassed,
                    TimerResult::Cancelled => PickupWait::WorkflowCancelled(cancel_reason(ctx, "timer cancelled")),
                },
            }
        };
        let aborted = match waited {
            PickupWait::Changed => None,
            PickupWait::DeadlinePassed => {
                ctx.state_mut(|w| w.state.expire());
                None
            }
            PickupWait::WorkflowCancelled(reason) => {
                ctx.state_mut(|w| w.state.abort(&reason));
                Some(reason)
            }
        };
        if ctx.state(|w| w.state.status()) == DeliveryStatus::Cancelled {
            return finish(ctx, &saga, compensations, aborted).await;
        }

        // 4. Picked up: the call leaves the riders' list. (When the completion arrived in the
        // same breath, the list goes straight to `Completed` once settled.)
        if saga.local {
            // v3: withdraw while the list shows `Picked`, both local.
            set_status_attributes(ctx);
            let picked = ctx.state(|w| w.state.status()) == DeliveryStatus::Picked;
            let listed = async {
                match picked {
                    true => project(ctx, &saga).await,
                    false => Ok(()),
                }
            };
            let (withdrawn, projected) =
                join!(withdraw_call(ctx, &saga, &mut compensations), listed);
            withdrawn?;
            projected?;
        } else {
            withdraw_call(ctx, &saga, &mut compensations).await?;
            set_status_attributes(ctx);
            if ctx.state(|w| w.state.status()) == DeliveryStatus::Picked {
                project(ctx, &saga).await?;
            }
        }

        let completion_deadline = input
            .completion_deadline_secs
            .map_or(DEFAULT_COMPLETION_DEADLINE, Duration::from_secs);
        let decided = ctx.state(|w| w.state.status()) != DeliveryStatus::Picked;
        let mut overdue_timer = Some(completion_deadline);
        let aborted = loop {
            if saga.local && decided {
                break None;
            }
            let done = |w: &Self| w.state.status() != DeliveryStatus::Picked;
            let waited = match overdue_timer {
                Some(deadline) => select! {
                    changed = ctx.wait_condition(done) => Some(changed),
                    fired = ctx.timer(deadline) => match fired {
                        TimerResult::Fired => None,
                        TimerResult::Cancelled => Some(ctx.wait_condition(done).await),
                    },
                },
                None => Some(ctx.wait_condition(done).await),
            };
            match waited {
                Some(Ok(())) => break None,
                Some(Err(cancel)) => {
                    let reason = cancel_reason(ctx, &cancel.to_string());
                    ctx.state_mut(|w| w.state.abort(&reason));
                    break Some(reason);
                }
                // Escalate, never drop: operators find it by `DeliveryOverdue = true`.
                None => {
                    overdue_timer = None;
                    ctx.state_mut(|w| w.state.mark_overdue());
                    ctx.upsert_search_attributes([names::DELIVERY_OVERDUE.value_set(true)]);
                }
            }
        };
        if ctx.state(|w| w.state.status()) == DeliveryStatus::Cancelled {
            return finish(ctx, &saga, compensations, aborted).await;
        }

        // 5. Completed: settle and show it.
        let settled = saga
            .call(
                ctx,
                || PaymentActivities::settle_payment,
                input.delivery_id.clone(),
                names::PAYMENTS_QUEUE,
            )
            .await
            .map_err(fail)?;
        ctx.state_mut(|w| w.state.payment_settled(settled.amount));
        finish(ctx, &saga, Vec::new(), None).await
    }

    /// The live state of the delivery.
    #[query(name = "status")]
    pub fn status(&self, _ctx: &WorkflowContextView) -> DeliveryView {
        self.state.view()
    }

    /// Waits until payment has decided on the fee (registered, or refused) and returns the
    /// view. `POST /deliveries` sends it with the start (update-with-start): v3 decides the
    /// registration inside the first workflow task, which then also answers this update, so
    /// the call is confirmed in one round trip. Reads only, so it needs neither a validator
    /// nor an expiry: arriving late (workers were down) changes nothing.
    #[update(name = "registration")]
    pub async fn registration(
        ctx: &mut WorkflowContext<Self>,
    ) -> Result<DeliveryView, HandlerError> {
        ctx.wait_condition(|w: &Self| w.state.payment() != PaymentStatus::Pending)
            .await?;
        Ok(ctx.state(|w| w.state.view()))
    }

    #[update_validator(pickup)]
    fn validate_pickup(
        &self,
        _ctx: &WorkflowContextView,
        req: &RiderRequest,
    ) -> Result<(), HandlerError> {
        Ok(self.state.can_pick_up(&req.rider_id)?)
    }

    /// A rider picks the food up; the first one wins.
    #[update(name = "pickup")]
    pub fn pickup(
        &mut self,
        ctx: &mut SyncWorkflowContext<Self>,
        req: RiderRequest,
    ) -> Result<DeliveryView, HandlerError> {
        req.check_fresh(time_ms(ctx.workflow_time()))?;
        self.state.pick_up(&req.rider_id)?;
        Ok(self.state.view())
    }

    #[update_validator(complete)]
    fn validate_complete(
        &self,
        _ctx: &WorkflowContextView,
        req: &RiderRequest,
    ) -> Result<(), HandlerError> {
        Ok(self.state.can_complete(&req.rider_id)?)
    }

    /// The rider who picked the food up hands it over; settlement follows.
    #[update(name = "complete")]
    pub fn complete(
        &mut self,
        ctx: &mut SyncWorkflowContext<Self>,
        req: RiderRequest,
    ) -> Result<DeliveryView, HandlerError> {
        req.check_fresh(time_ms(ctx.workflow_time()))?;
        self.state.complete(&req.rider_id)?;
        Ok(self.state.view())
    }

    #[update_validator(cancel)]
    fn validate_cancel(
        &self,
        _ctx: &WorkflowContextView,
        req: &CancelRequest,
    ) -> Result<(), HandlerError> {
        Ok(self.state.can_cancel(req.reason.as_deref())?)
    }

    /// The restaurant cancels before pickup; answers once the payment is voided.
    #[update(name = "cancel")]
    pub async fn cancel(
        ctx: &mut WorkflowContext<Self>,
        req: CancelRequest,
    ) -> Result<DeliveryView, HandlerError> {
        req.check_fresh(now_ms(ctx))?;
        ctx.state_mut(|w| w.state.cancel(req.reason.as_deref()))?;
        ctx.wait_condition(|w: &Self| w.state.compensated()).await?;
        Ok(ctx.state(|w| w.state.view()))
    }

    /// Signal form of `pickup`, for senders that cannot wait for an answer.
    #[signal(name = "picked")]
    pub fn picked_signal(&mut self, _ctx: &mut SyncWorkflowContext<Self>, req: RiderRequest) {
        // A refused signal has nobody to answer: the state simply does not move.
        let _ = self.state.pick_up(&req.rider_id);
    }

    /// Signal form of `complete`.
    #[signal(name = "completed")]
    pub fn completed_signal(&mut self, _ctx: &mut SyncWorkflowContext<Self>, req: RiderRequest) {
        let _ = self.state.complete(&req.rider_id);
    }

    /// Signal form of `cancel`.
    #[signal(name = "cancel")]
    pub fn cancel_signal(&mut self, _ctx: &mut SyncWorkflowContext<Self>, req: CancelRequest) {
        let _ = self.state.cancel(req.reason.as_deref());
    }
}

/// Where the saga's steps run: payment, the riders' store and the delivery list.
struct Saga {
    /// The workflow's task queue; activity queues take its prefix.
    queue: String,
    /// v3 ([`PATCH_LOCAL_EFFECTS`]): as local activities, else on their role's queue.
    local: bool,
}

impl Saga {
    /// Runs a step of the saga: locally first in v3 (falling back to the
    /// remote activity on `role`'s queue unless it was refused on the merits), else remotely.
    /// `activity` names it (the SDK's activity markers are not `Clone`).
    async fn call<A>(
        &self,
        ctx: &WorkflowContext<DeliveryWorkflow>,
        activity: impl Fn() -> A,
        input: A::Input,
        role: &str,
    ) -> Result<A::Output, ActivityExecutionError>
    where
        A: ActivityDefinition,
        A::Input: Clone,
    {
        let remote = activity_options(&self.queue, role);
        if !self.local {
            return ctx.execute_activity(activity(), input, remote).await;
        }
        match ctx
            .execute_local_activity(activity(), input.clone(), local_activity_options())
            .await
        {
            // Payment or the list kept failing for seconds: hand the call to the remote
            // activity, which the server retries without growing the history. Running it
            // again is safe: every activity is idempotent (payment by delivery id, the list
            // by sequence number).
            Err(err) if !is_rejection(&err) => {
                ctx.execute_activity(activity(), input, remote).await
            }
            done => done,
        }
    }
}

/// Ends the saga: undoes `compensations` in reverse, keeps search attributes and the delivery
/// list current, and reports the final view (or the cancellation, when an operator asked).
async fn finish(
    ctx: &mut WorkflowContext<DeliveryWorkflow>,
    saga: &Saga,
    mut compensations: Vec<Compensation>,
    aborted: Option<String>,
) -> WorkflowResult<DeliveryView> {
    let delivery_id = ctx.state(|w| w.state.input().delivery_id.clone());
    while let Some(step) = compensations.pop() {
        match step {
            Compensation::WithdrawCall => {
                saga.call(
                    ctx,
                    || DispatchActivities::withdraw_call,
                    delivery_id.clone(),
                    names::DISPATCH_QUEUE,
                )
                .await
                .map_err(fail)?;
            }
            Compensation::VoidPayment => {
                saga.call(
                    ctx,
                    || PaymentActivities::void_payment,
                    delivery_id.clone(),
                    names::PAYMENTS_QUEUE,
                )
                .await
                .map_err(fail)?;
                ctx.state_mut(|w| w.state.payment_voided());
            }
        }
    }
    set_status_attributes(ctx);
    project(ctx, saga).await?;
    match aborted {
        Some(_) => Err(WorkflowTermination::cancelled()),
        None => Ok(ctx.state(|w| w.state.view())),
    }
}

async fn withdraw_call(
    ctx: &WorkflowContext<DeliveryWorkflow>,
    saga: &Saga,
    compensations: &mut Vec<Compensation>,
) -> WorkflowResult<()> {
    if let Some(pos) = compensations
        .iter()
        .position(|c| *c == Compensation::WithdrawCall)
    {
        let delivery_id = ctx.state(|w| w.state.input().delivery_id.clone());
        saga.call(
            ctx,
            || DispatchActivities::withdraw_call,
            delivery_id,
            names::DISPATCH_QUEUE,
        )
        .await
        .map_err(fail)?;
        compensations.remove(pos);
    }
    Ok(())
}

/// Writes the current state to the delivery list with the next sequence number.
async fn project(ctx: &WorkflowContext<DeliveryWorkflow>, saga: &Saga) -> WorkflowResult<()> {
    let at = now_ms(ctx);
    let row = ctx.state_mut(|w| w.state.next_projection(at));
    saga.call(
        ctx,
        || ProjectionActivities::project_delivery,
        row,
        names::PROJECTIONS_QUEUE,
    )
    .await
    .map_err(fail)
}

fn set_status_attributes(ctx: &WorkflowContext<DeliveryWorkflow>) {
    let (status, rider) = ctx.state(|w| (w.state.status(), w.state.rider_id().map(str::to_owned)));
    let mut updates = vec![names::DELIVERY_STATUS.value_set(status.as_str().to_owned())];
    if let Some(rider) = rider {
        updates.push(names::RIDER_ID.value_set(rider));
    }
    ctx.upsert_search_attributes(updates);
}

/// Options for every activity of the saga: retried with backoff until it succeeds or fails
/// for a business reason, on the queue of its bounded context, and not interrupted by a
/// workflow cancellation (the saga decides what to undo). Each call takes milliseconds; the
/// 5 s start-to-close bounds how long a task lost with its worker (a crash, or a drain that
/// raced a poll) holds the delivery up before the retry.
fn activity_options(workflow_queue: &str, role: &str) -> ActivityOptions {
    ActivityOptions::with_start_to_close_timeout(Duration::from_secs(5))
        .task_queue(names::activity_queue(workflow_queue, role))
        .retry_policy(
            RetryPolicy::builder()
                .initial_interval(Duration::from_millis(500))
                .backoff_coefficient(2.0)
                .maximum_interval(Duration::from_secs(10))
                .build(),
        )
        .cancellation_token(WorkflowCancellationToken::new())
        .build()
}

/// Options for the v3 local activities: a few quick attempts inside the workflow task (a
/// call takes milliseconds), bounded well below the workflow task timeout so a stalled
/// service never holds the task (and the queries and updates waiting behind it) for long;
/// then [`Saga::call`] falls back to the remote activity. Not interrupted by a workflow
/// cancellation, like the remote ones.
fn local_activity_options() -> LocalActivityOptions {
    LocalActivityOptions::builder()
        .start_to_close_timeout(Duration::from_secs(2))
        .schedule_to_close_timeout(Duration::from_secs(3))
        .retry_policy(
            RetryPolicy::builder()
                .initial_interval(Duration::from_millis(200))
                .backoff_coefficient(2.0)
                .maximum_interval(Duration::from_secs(1))
                .maximum_attempts(3)
                .build(),
        )
        .cancellation_token(WorkflowCancellationToken::new())
        .build()
}

fn now_ms(ctx: &WorkflowContext<DeliveryWorkflow>) -> i64 {
    time_ms(ctx.workflow_time())
}

/// Workflow time in milliseconds since the Unix epoch (0 when the SDK has none yet).
fn time_ms(time: Option<SystemTime>) -> i64 {
    time.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn cancel_reason(ctx: &WorkflowContext<DeliveryWorkflow>, fallback: &str) -> String {
    let reason = ctx.cancellation_token().reason().unwrap_or_default();
    let reason = if reason.is_empty() {
        fallback.to_owned()
    } else {
        reason
    };
    format!("workflow cancelled by an operator: {reason}")
}

/// The message of the deepest failure in an activity error, for people to read.
fn failure_message(err: &ActivityExecutionError) -> String {
    let mut failure = err.failure();
    let mut message = err.to_string();
    while let Some(f) = failure {
        if !f.message.is_empty() {
            message = f.message.clone();
        }
        failure = f.cause.as_deref();
    }
    message
}

/// Whether the failure is a refusal on the merits (a non-retryable application failure, e.g.
/// payment's `PaymentRejected`), which no retry elsewhere would change.
fn is_rejection(err: &ActivityExecutionError) -> bool {
    let mut failure: Option<&Failure> = err.failure();
    while let Some(f) = failure {
        if let Some(FailureInfo::ApplicationFailureInfo(info)) = &f.failure_info
            && info.non_retryable
        {
            return true;
        }
        failure = f.cause.as_deref();
    }
    false
}

/// An activity that failed for good (a business rejection) fails the workflow visibly.
fn fail(err: ActivityExecutionError) -> WorkflowTermination {
    ApplicationFailure::non_retryable(failure_message(&err)).into()
}
