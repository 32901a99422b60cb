//! `DeliveryWorkflow`: one delivery's saga, from the restaurant's call to settlement.
//!
//! 1. register the fee with payment (undo: void it);
//! 2. offer the call to riders (undo: withdraw it) while the delivery list shows it;
//! 3. wait for a pickup, a cancel, the pickup deadline or an operator's cancel; on anything
//!    but a pickup, undo what was done, newest first, and end `Cancelled`;
//! 4. picked up: withdraw the call, show `Picked`, wait for completion; past the completion
//!    deadline mark the delivery overdue and keep waiting (a delivery is never dropped);
//! 5. settle the payment and show `Completed` with the settled amount; or, when the rider
//!    could not deliver (`Failed`), settle, void or ask an operator as its reason says.
//!
//! An operator may give the delivery to another rider (`reassign`) until it ends: an open
//! call becomes `Assigned` (the call leaves the broadcast), a picked-up one changes hands; the
//! saga shows the new holder each time and keeps waiting on the same deadlines.
//!
//! A step that fails for good (payment refuses a settle or void, a database refuses a row, or
//! it still fails when its retry budget is spent) never fails the workflow: the delivery is
//! flagged for operators ([`persist`]: `attention` in its view, the `Attention` search
//! attribute, the `delivery_attention` metric) and waits for their decision (the `resolve`
//! update): `retry` runs the step again, `settle` or `void` decides the money and ends it.
//!
//! Every step runs as a local activity inside the workflow task (one marker event each),
//! falling back to the remote activity on its bounded context's queue when it keeps failing
//! ([`Saga::step`]). Activities run with a cancellation token of their own: cancelling the
//! workflow (e.g. from the Temporal UI) interrupts the waiting in steps 3 and 4, never a
//! payment call half-way, and the compensations still run.
//!
//! Versions: the first two (every step a remote activity) were never released and are
//! retired; the third made every step local behind the patch `local-payment-and-projection`,
//! the fourth recorded it as deprecated, and this one no longer asks for it (the executions of
//! the fourth still replay: Temporal skips a deprecated patch's marker nobody asks for).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use futures::{FutureExt as _, future::FusedFuture as _};
use temporalio_common::{
    ActivityCloseTimeouts, ActivityDefinition, RetryPolicy,
    protos::temporal::api::failure::v1::{Failure, failure::FailureInfo},
};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{
    ActivityExecutionError, ActivityOptions, CancellableFuture, LocalActivityOptions,
    SyncWorkflowContext, TimerOptions, TimerResult, WaitConditionOptions,
    WorkflowCancellationToken, WorkflowContext, WorkflowContextView, WorkflowResult,
    WorkflowTermination,
    workflows::{join, select},
};

use crate::{
    activities::{DispatchActivities, PaymentActivities, ProjectionActivities},
    model::{
        AttentionNotice, CallReach, CancelRequest, DeclineRequest, DeliveryInput, DeliveryStatus,
        DeliveryView, Expiry, FailRequest, FailureMoney, OpenCall, PaymentStatus, ReassignRequest,
        RegisterPaymentInput, Resolution, ResolveRequest, RiderRequest, SettleInput, SettleRequest,
        Text,
    },
    names,
    state::DeliveryState,
};

/// Default time a call stays open for riders.
pub const DEFAULT_PICKUP_DEADLINE: Duration = Duration::from_secs(30 * 60);
/// Default time from pickup until the delivery is flagged overdue.
pub const DEFAULT_COMPLETION_DEADLINE: Duration = Duration::from_secs(2 * 60 * 60);
/// Default time a failing step is retried before the delivery is flagged for operators:
/// long enough to ride out a restart or a short outage of payment or a database.
pub const DEFAULT_RETRY_BUDGET: Duration = Duration::from_secs(15 * 60);

type HandlerError = Box<dyn std::error::Error + Send + Sync>;
type Ctx = WorkflowContext<DeliveryWorkflow>;

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
        let budget = ctx
            .state(|w| w.state.input().retry_budget_secs)
            .map_or(DEFAULT_RETRY_BUDGET, Duration::from_secs);
        let mut saga = Saga::new(ctx.info().task_queue(), budget);
        let aborted = match deliver(ctx, &mut saga).await {
            Ok(aborted) => aborted,
            Err(decided) => {
                decide_money(ctx, &mut saga, decided).await;
                None
            }
        };
        saga.finish(ctx, aborted).await
    }

    /// The live state of the delivery.
    #[query(name = "status")]
    pub fn status(&self, _ctx: &WorkflowContextView) -> DeliveryView {
        self.state.view()
    }

    /// Waits until payment has decided on the fee (registered, or refused) and returns the
    /// view. `POST /deliveries` sends it with the start (update-with-start): the registration
    /// is decided inside the first workflow task, which then also answers this update, so
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
        Ok(self.state.admit(self.state.can_pick_up(&req.rider_id))?)
    }

    /// A rider picks the food up; the first one wins.
    #[update(name = "pickup")]
    pub fn pickup(
        &mut self,
        ctx: &mut SyncWorkflowContext<Self>,
        req: RiderRequest,
    ) -> Result<DeliveryView, HandlerError> {
        req.check_fresh(time_ms(ctx.workflow_time()))?;
        self.state.count_update();
        self.state.pick_up(&req.rider_id, at(ctx.workflow_time()))?;
        Ok(self.state.view())
    }

    #[update_validator(complete)]
    fn validate_complete(
        &self,
        _ctx: &WorkflowContextView,
        req: &RiderRequest,
    ) -> Result<(), HandlerError> {
        Ok(self.state.admit(self.state.can_complete(&req.rider_id))?)
    }

    /// The rider who picked the food up hands it over; settlement follows.
    #[update(name = "complete")]
    pub fn complete(
        &mut self,
        ctx: &mut SyncWorkflowContext<Self>,
        req: RiderRequest,
    ) -> Result<DeliveryView, HandlerError> {
        req.check_fresh(time_ms(ctx.workflow_time()))?;
        self.state.count_update();
        self.state
            .complete(&req.rider_id, at(ctx.workflow_time()))?;
        Ok(self.state.view())
    }

    #[update_validator(accept)]
    fn validate_accept(
        &self,
        _ctx: &WorkflowContextView,
        req: &RiderRequest,
    ) -> Result<(), HandlerError> {
        Ok(self.state.admit(self.state.can_accept(&req.rider_id))?)
    }

    /// The rider the call is offered to takes it (its place was reserved by the caller).
    #[update(name = "accept")]
    pub fn accept(
        &mut self,
        ctx: &mut SyncWorkflowContext<Self>,
        req: RiderRequest,
    ) -> Result<DeliveryView, HandlerError> {
        req.check_fresh(time_ms(ctx.workflow_time()))?;
        self.state.count_update();
        self.state.accept(&req.rider_id, at(ctx.workflow_time()))?;
        Ok(self.state.view())
    }

    #[update_validator(decline)]
    fn validate_decline(
        &self,
        _ctx: &WorkflowContextView,
        req: &DeclineRequest,
    ) -> Result<(), HandlerError> {
        Ok(self.state.admit(self.state.can_decline(&req.rider_id))?)
    }

    /// The rider the call is offered to passes; the next candidate gets it.
    #[update(name = "decline")]
    pub fn decline(
        &mut self,
        ctx: &mut SyncWorkflowContext<Self>,
        req: DeclineRequest,
    ) -> Result<DeliveryView, HandlerError> {
        req.check_fresh(time_ms(ctx.workflow_time()))?;
        self.state.count_update();
        self.state.decline(&req)?;
        Ok(self.state.view())
    }

    #[update_validator(fail)]
    fn validate_fail(
        &self,
        _ctx: &WorkflowContextView,
        req: &FailRequest,
    ) -> Result<(), HandlerError> {
        Ok(self.state.admit(self.state.can_fail(&req.rider_id))?)
    }

    /// The rider holding a picked-up delivery cannot hand it over; the saga settles, voids
    /// or asks an operator as the reason says.
    #[update(name = "fail")]
    pub fn fail(
        &mut self,
        ctx: &mut SyncWorkflowContext<Self>,
        req: FailRequest,
    ) -> Result<DeliveryView, HandlerError> {
        req.check_fresh(time_ms(ctx.workflow_time()))?;
        self.state.count_update();
        self.state.fail(&req, at(ctx.workflow_time()))?;
        Ok(self.state.view())
    }

    #[update_validator(reassign)]
    fn validate_reassign(
        &self,
        _ctx: &WorkflowContextView,
        req: &ReassignRequest,
    ) -> Result<(), HandlerError> {
        Ok(self.state.admit(self.state.can_reassign(&req.rider_id))?)
    }

    /// An operator gives the delivery to another rider (who it was, who did it and when stay
    /// in `assignments` and in this update's history event).
    #[update(name = "reassign")]
    pub fn reassign(
        &mut self,
        ctx: &mut SyncWorkflowContext<Self>,
        req: ReassignRequest,
    ) -> Result<DeliveryView, HandlerError> {
        req.check_fresh(time_ms(ctx.workflow_time()))?;
        self.state.count_update();
        self.state.reassign(&req, at(ctx.workflow_time()))?;
        Ok(self.state.view())
    }

    #[update_validator(cancel)]
    fn validate_cancel(
        &self,
        _ctx: &WorkflowContextView,
        _req: &CancelRequest,
    ) -> Result<(), HandlerError> {
        Ok(self.state.admit(self.state.can_cancel())?)
    }

    /// The restaurant cancels before pickup; answers once the payment is voided.
    #[update(name = "cancel")]
    pub async fn cancel(
        ctx: &mut WorkflowContext<Self>,
        req: CancelRequest,
    ) -> Result<DeliveryView, HandlerError> {
        let now = ctx.workflow_time();
        req.check_fresh(time_ms(now))?;
        ctx.state_mut(|w| {
            w.state.count_update();
            w.state
                .cancel(req.reason.as_ref().map(Text::as_str), at(now))
        })?;
        ctx.wait_condition(|w: &Self| w.state.compensated()).await?;
        Ok(ctx.state(|w| w.state.view()))
    }

    #[update_validator(resolve)]
    fn validate_resolve(
        &self,
        _ctx: &WorkflowContextView,
        req: &ResolveRequest,
    ) -> Result<(), HandlerError> {
        Ok(self.state.admit(self.state.can_resolve(req.outcome))?)
    }

    /// An operator decides on a delivery that waits for a decision (see [`persist`]).
    /// Answers at once; the saga then acts on it.
    #[update(name = "resolve")]
    pub fn resolve(
        &mut self,
        ctx: &mut SyncWorkflowContext<Self>,
        req: ResolveRequest,
    ) -> Result<DeliveryView, HandlerError> {
        req.check_fresh(time_ms(ctx.workflow_time()))?;
        self.state.count_update();
        self.state.resolve(&req, at(ctx.workflow_time()))?;
        ctx.upsert_search_attributes([names::no_attention()]);
        Ok(self.state.view())
    }

    /// Signal form of `pickup`, for senders that cannot wait for an answer.
    #[signal(name = "picked")]
    pub fn picked_signal(&mut self, ctx: &mut SyncWorkflowContext<Self>, req: RiderRequest) {
        // A refused signal has nobody to answer: the state simply does not move.
        let _ = self.state.pick_up(&req.rider_id, at(ctx.workflow_time()));
    }

    /// Signal form of `complete`.
    #[signal(name = "completed")]
    pub fn completed_signal(&mut self, ctx: &mut SyncWorkflowContext<Self>, req: RiderRequest) {
        let _ = self.state.complete(&req.rider_id, at(ctx.workflow_time()));
    }

    /// Signal form of `cancel`.
    #[signal(name = "cancel")]
    pub fn cancel_signal(&mut self, ctx: &mut SyncWorkflowContext<Self>, req: CancelRequest) {
        let _ = self.state.cancel(
            req.reason.as_ref().map(Text::as_str),
            at(ctx.workflow_time()),
        );
    }
}

/// The saga's forward steps. `Ok(Some(reason))` when an operator cancelled the workflow
/// itself; `Err` carries an operator's decision on the money for a delivery that could not
/// move on by itself.
async fn deliver(ctx: &Ctx, saga: &mut Saga) -> Result<Option<String>, Resolution> {
    // 1. The call is confirmed only once payment has the fee.
    if !register_fee(ctx, saga).await? {
        return Ok(None);
    }
    // 2. Riders see the call; so does the delivery list.
    offer_call(ctx, saga).await?;
    // 3. A rider, a cancel or the deadline.
    let aborted = wait_for_pickup(ctx, saga).await?;
    if status(ctx) == DeliveryStatus::Cancelled {
        return Ok(aborted);
    }
    // 4. Picked up: the call leaves the riders' list; then the hand-over.
    hand_over(ctx, saga).await?;
    let aborted = wait_for_completion(ctx, saga).await?;
    match status(ctx) {
        DeliveryStatus::Cancelled => return Ok(aborted),
        DeliveryStatus::Failed => return settle_failure(ctx, saga).await.map(|()| None),
        _ => {}
    }
    // 5. Delivered: settle and show it.
    settle(ctx, saga).await?;
    Ok(None)
}

/// Step 1: registers the fee. `false` when payment refused it on the merits (the delivery
/// then ends with no money moved).
async fn register_fee(ctx: &Ctx, saga: &mut Saga) -> Result<bool, Resolution> {
    let (call, commission_bps) = ctx.state(|w| {
        let input = w.state.input();
        (input.call.clone(), input.commission_bps)
    });
    let input = RegisterPaymentInput {
        delivery_id: call.delivery_id,
        amount: call.cost.won(),
        restaurant_id: Some(call.restaurant_id),
        commission_bps,
    };
    let register = async || {
        saga.step(
            ctx,
            || PaymentActivities::register_payment,
            input.clone(),
            names::PAYMENTS_QUEUE,
        )
        .await
    };
    match register().await {
        Err(err) if is_rejection(&err) => {
            let why = failure_message(&err);
            let at = now(ctx);
            ctx.state_mut(|w| w.state.payment_rejected(&why, at));
            Ok(false)
        }
        first => {
            recover(ctx, "register the fee", first, register).await?;
            saga.undo_with(Compensation::VoidPayment);
            ctx.state_mut(|w| w.state.payment_registered());
            Ok(true)
        }
    }
}

/// Step 2: the call goes to riders and to the delivery list at once (unless a rider or a
/// cancel was faster than the registration). In offer mode the list shows it now and the
/// offers go out one at a time while the saga waits ([`wait_for_pickup`]).
async fn offer_call(ctx: &Ctx, saga: &mut Saga) -> Result<(), Resolution> {
    if status(ctx) != DeliveryStatus::Called {
        return Ok(());
    }
    let at = now(ctx);
    let history_length = ctx.history_length();
    let (call, row, broadcast) = ctx.state_mut(|w| {
        w.state.called(at);
        let broadcast = w.state.input().offers.is_none();
        let row = w.state.next_projection(history_length, at);
        (w.state.open_call(), row, broadcast)
    });
    // Withdrawing is idempotent, so it undoes an offer that failed half-way too.
    saga.undo_with(Compensation::WithdrawCall);
    let offer = async || {
        saga.step(
            ctx,
            || DispatchActivities::offer_call,
            call.clone(),
            names::DISPATCH_QUEUE,
        )
        .await
    };
    let list = async || {
        saga.step(
            ctx,
            || ProjectionActivities::project_delivery,
            row.clone(),
            names::PROJECTIONS_QUEUE,
        )
        .await
    };
    if !broadcast {
        return recover(
            ctx,
            "show the call in the delivery list",
            list().await,
            list,
        )
        .await;
    }
    let (offered, listed) = join!(offer(), list());
    recover(ctx, "offer the call to riders", offered, offer).await?;
    recover(ctx, "show the call in the delivery list", listed, list).await
}

/// Step 3: waits for a rider, a cancel or the pickup deadline (no timer when the wait is
/// already over). An operator's assignment meanwhile takes the call off the broadcast and
/// shows the rider; the wait goes on to the same deadline. In offer mode an offer is out
/// meanwhile, each with a timer of its own ([`make_offer`]). `Some(reason)` when an operator
/// cancelled the workflow itself.
async fn wait_for_pickup(ctx: &Ctx, saga: &mut Saga) -> Result<Option<String>, Resolution> {
    let deadline = ctx
        .state(|w| w.state.input().pickup_deadline_secs)
        .map_or(DEFAULT_PICKUP_DEADLINE, Duration::from_secs);
    let started = now(ctx);
    let open = |status: DeliveryStatus| {
        matches!(status, DeliveryStatus::Called | DeliveryStatus::Assigned)
    };
    loop {
        if !open(status(ctx)) {
            return Ok(None);
        }
        if ctx.state(|w| w.state.offer_due()) {
            make_offer(ctx, saga).await?;
            continue;
        }
        let (seen, declines) = ctx.state(|w| (w.state.assignment_count(), w.state.declines()));
        let moved = move |w: &DeliveryWorkflow| {
            !open(w.state.status())
                || w.state.assignment_count() != seen
                || w.state.declines() != declines
        };
        // The offer out, if any, lapses on a timer of its own; it is cancelled once anything
        // else moves the call on (a timer left running would wake the workflow for nothing,
        // racing the riders' next updates).
        let mut lapse = ctx.state(|w| w.state.offer_expires_at()).map(|expires| {
            let wait = (expires - now(ctx)).to_std().unwrap_or_default();
            Box::pin(saga.timer(ctx, wait.max(Duration::from_secs(1))))
        });
        let woke = {
            let mut lapsed = std::pin::pin!(
                async {
                    match lapse.as_mut() {
                        Some(timer) => timer.as_mut().await,
                        // No offer out: nothing lapses.
                        None => std::future::pending().await,
                    }
                }
                .fuse()
            );
            select! {
                changed = ctx.wait_condition(moved) => match changed {
                    Ok(()) => Woke::Moved,
                    Err(cancel) => Woke::Aborted(cancel.to_string()),
                },
                fired = saga.timer(ctx, remaining(ctx, deadline, started)) => match fired {
                    TimerResult::Fired => Woke::Deadline,
                    TimerResult::Cancelled => Woke::Aborted("timer cancelled".into()),
                },
                fired = lapsed => match fired {
                    TimerResult::Fired => Woke::Lapsed,
                    TimerResult::Cancelled => Woke::Aborted("timer cancelled".into()),
                },
            }
        };
        if let Some(timer) = &lapse
            && !timer.is_terminated()
        {
            timer.cancel();
        }
        match woke {
            Woke::Moved => {}
            Woke::Aborted(reason) => return Ok(Some(abort(ctx, &reason))),
            Woke::Deadline => {
                let at = now(ctx);
                ctx.state_mut(|w| w.state.expire(at));
                return Ok(None);
            }
            // Unanswered: it counts as a decline.
            Woke::Lapsed => ctx.state_mut(|w| w.state.offer_lapsed()),
        }
        if open(status(ctx)) && ctx.state(|w| w.state.assignment_count()) != seen {
            // Assigned (an accepted offer, or an operator): the call is no longer everyone's.
            saga.run_now(ctx, Compensation::WithdrawCall).await?;
            saga.forget(Compensation::WithdrawCall);
            set_status_attributes(ctx);
            project(ctx, saga).await?;
        } else {
            let now_declined = ctx.state(|w| w.state.declines());
            if now_declined != declines {
                ctx.upsert_search_attributes([
                    names::OFFER_DECLINES.value_set(i64::from(now_declined))
                ]);
            }
        }
    }
}

/// What ended one wait for a pickup.
enum Woke {
    /// The state moved: a pickup, a cancel, an assignment or a decline.
    Moved,
    /// The workflow itself was cancelled (an operator, in the Temporal UI).
    Aborted(String),
    /// The pickup deadline passed.
    Deadline,
    /// The offer out lapsed unanswered.
    Lapsed,
}

/// Offers the call to the best candidate the dispatch store finds (see the `OfferToRider`
/// activity); with the rounds spent or nobody to offer it to, the call goes to every rider
/// and is flagged `Unassigned` for operators.
async fn make_offer(ctx: &Ctx, saga: &mut Saga) -> Result<(), Resolution> {
    let at = now(ctx);
    let next = ctx.state(|w| w.state.next_offer(w.state.open_call(), at));
    if let Some(offer) = next {
        let send = async || {
            saga.step(
                ctx,
                || DispatchActivities::offer_to_rider,
                offer.clone(),
                names::DISPATCH_QUEUE,
            )
            .await
        };
        let chosen = recover(ctx, "offer the call to a rider", send().await, send).await?;
        if let Some(rider_id) = chosen {
            ctx.state_mut(|w| w.state.offered(&offer, rider_id));
            return Ok(());
        }
    }
    let round = ctx.state_mut(|w| w.state.fall_back());
    let call = OpenCall {
        reach: CallReach::Unassigned { round },
        ..ctx.state(|w| w.state.open_call())
    };
    let broadcast = async || {
        saga.step(
            ctx,
            || DispatchActivities::offer_call,
            call.clone(),
            names::DISPATCH_QUEUE,
        )
        .await
    };
    recover(
        ctx,
        "offer the call to every rider",
        broadcast().await,
        broadcast,
    )
    .await?;
    let declines = i64::from(ctx.state(|w| w.state.declines()));
    ctx.upsert_search_attributes([
        names::UNASSIGNED.value_set(true),
        names::OFFER_DECLINES.value_set(declines),
    ]);
    Ok(())
}

/// What is left of `deadline` counted from `started` (all of it on the first wait, so the
/// timer is the same as before reassignments existed).
fn remaining(ctx: &Ctx, deadline: Duration, started: DateTime<Utc>) -> Duration {
    let waited = (now(ctx) - started).to_std().unwrap_or_default();
    deadline.saturating_sub(waited)
}

/// Step 4, first half: withdraws the call while the list shows `Picked`. (When the completion
/// arrived in the same breath, the list goes straight to `Completed` once settled.)
async fn hand_over(ctx: &Ctx, saga: &mut Saga) -> Result<(), Resolution> {
    set_status_attributes(ctx);
    let picked = status(ctx) == DeliveryStatus::Picked;
    let listed = async {
        match picked {
            true => project(ctx, saga).await,
            false => Ok(()),
        }
    };
    let (withdrawn, projected) = join!(saga.run_now(ctx, Compensation::WithdrawCall), listed);
    withdrawn?;
    saga.forget(Compensation::WithdrawCall);
    projected
}

/// Step 4, second half: waits for the completion or a failure; past the completion deadline
/// the delivery is flagged overdue, never dropped. A reassignment meanwhile shows the new
/// rider and the wait goes on. `Some(reason)` when an operator cancelled the workflow.
async fn wait_for_completion(ctx: &Ctx, saga: &mut Saga) -> Result<Option<String>, Resolution> {
    let deadline = ctx
        .state(|w| w.state.input().completion_deadline_secs)
        .map_or(DEFAULT_COMPLETION_DEADLINE, Duration::from_secs);
    let started = now(ctx);
    loop {
        if status(ctx) != DeliveryStatus::Picked {
            return Ok(None);
        }
        let seen = ctx.state(|w| w.state.assignment_count());
        let moved = move |w: &DeliveryWorkflow| {
            w.state.status() != DeliveryStatus::Picked || w.state.assignment_count() != seen
        };
        let waited = match ctx.state(|w| w.state.view().overdue) {
            true => ctx.wait_condition(moved).await,
            false => select! {
                changed = ctx.wait_condition(moved) => changed,
                fired = saga.timer(ctx, remaining(ctx, deadline, started)) => match fired {
                    // Escalate: operators find it by `DeliveryOverdue = true`.
                    TimerResult::Fired => {
                        ctx.state_mut(|w| w.state.mark_overdue());
                        ctx.upsert_search_attributes([names::DELIVERY_OVERDUE.value_set(true)]);
                        ctx.wait_condition(moved).await
                    }
                    TimerResult::Cancelled => ctx.wait_condition(moved).await,
                },
            },
        };
        if let Err(cancel) = waited {
            return Ok(Some(abort(ctx, &cancel.to_string())));
        }
        if status(ctx) == DeliveryStatus::Picked {
            // Reassigned: show the new rider.
            set_status_attributes(ctx);
            project(ctx, saga).await?;
        }
    }
}

/// Step 5: settles the fee; nothing is left to undo afterwards.
async fn settle(ctx: &Ctx, saga: &mut Saga) -> Result<(), Resolution> {
    let request = ctx.state(|w| {
        let state = &w.state;
        let delivery_id = state.input().call.delivery_id.clone();
        // Only a delivery someone picked up settles, so it has its rider; the legacy request
        // (paid to the `legacy` rider) is only a guard.
        match state.rider_id() {
            Some(rider_id) => SettleRequest::ToRider(SettleInput {
                delivery_id,
                rider_id: rider_id.clone(),
                failure_reason: state.failure().map(|f| f.reason),
            }),
            None => SettleRequest::Legacy(delivery_id),
        }
    });
    let settle = async || {
        saga.step(
            ctx,
            || PaymentActivities::settle_payment,
            request.clone(),
            names::PAYMENTS_QUEUE,
        )
        .await
    };
    let first = settle().await;
    let settled = recover(ctx, "settle the fee", first, settle).await?;
    ctx.state_mut(|w| w.state.payment_settled(settled.amount));
    saga.forget(Compensation::VoidPayment);
    Ok(())
}

/// Step 5 of a failed delivery: the money follows the rider's reason (settle: the trip was
/// made; void: damaged goods; otherwise an operator decides, as for any dead end).
async fn settle_failure(ctx: &Ctx, saga: &mut Saga) -> Result<(), Resolution> {
    let Some(failure) = ctx.state(|w| w.state.failure().cloned()) else {
        return Ok(());
    };
    match failure.reason.money() {
        FailureMoney::Settle => settle(ctx, saga).await,
        // The fee is still in the undo log: finishing the saga voids it.
        FailureMoney::Void => Ok(()),
        FailureMoney::Decide => {
            // The list shows the failure while an operator decides.
            set_status_attributes(ctx);
            project(ctx, saga).await?;
            let note = failure.note.as_ref().map_or("no note", Text::as_str);
            let reason = format!("the rider could not deliver ({}): {note}", failure.reason);
            Err(ask_operator(ctx, "decide a failed delivery's fee", reason).await)
        }
    }
}

/// Carries out an operator's decision on the money (`settle` or `void`); a `retry` has
/// nothing left to run. Settling or voiding can itself need a decision again.
async fn decide_money(ctx: &Ctx, saga: &mut Saga, mut outcome: Resolution) {
    loop {
        let done = match outcome {
            Resolution::Retry => return,
            Resolution::Settle => settle(ctx, saga).await,
            Resolution::Void => saga.undo(ctx, Compensation::VoidPayment).await,
        };
        match done {
            Ok(()) => {
                saga.forget(Compensation::VoidPayment);
                return;
            }
            Err(next) => outcome = next,
        }
    }
}

/// Settles a step that already ran once (`first`): its result when it succeeded; else the
/// delivery is flagged for operators (`attention` in its view, the `Attention` search
/// attribute, the `delivery_attention` metric) and waits for their decision: `retry` runs
/// `step` again (another retry budget), `settle` or `void` is returned for the caller to act on.
/// A step only gets here once it failed for good (refused, or past its retry budget), so
/// nothing retries in silence and nothing fails the workflow.
async fn recover<T>(
    ctx: &Ctx,
    what: &str,
    first: Result<T, ActivityExecutionError>,
    step: impl AsyncFn() -> Result<T, ActivityExecutionError>,
) -> Result<T, Resolution> {
    let mut result = first;
    loop {
        let err = match result {
            Ok(done) => return Ok(done),
            Err(err) => err,
        };
        match await_decision(ctx, what, &err).await {
            Resolution::Retry => result = step().await,
            decided => return Err(decided),
        }
    }
}

/// Flags the delivery for operators because `what` failed with `err`, and waits for their
/// decision. An operator who cancels the workflow itself meanwhile (the Temporal UI) voids it.
async fn await_decision(ctx: &Ctx, what: &str, err: &ActivityExecutionError) -> Resolution {
    let reason = format!("{what}: {}", failure_message(err));
    ask_operator(ctx, what, reason).await
}

/// Flags the delivery for operators with `reason` (`step` names what waits, for the metric)
/// and waits for their decision. An operator who cancels the workflow itself meanwhile (the
/// Temporal UI) voids it.
async fn ask_operator(ctx: &Ctx, step: &str, reason: String) -> Resolution {
    let since = now(ctx);
    ctx.state_mut(|w| w.state.need_attention(reason.clone(), since));
    ctx.upsert_search_attributes([names::ATTENTION.value_set(attribute_text(&reason))]);
    let notice = AttentionNotice {
        delivery_id: ctx.state(|w| w.state.input().call.delivery_id.clone()),
        step: step.to_owned(),
        reason,
        since: Some(since),
    };
    // Telling is best effort: the decision is awaited either way.
    let _ = ctx
        .execute_local_activity(
            ProjectionActivities::report_attention,
            notice,
            local_activity_options(),
        )
        .await;
    // Once the workflow was cancelled, only an operator's decision ends the wait.
    let token = ctx.cancellation_token();
    let options = WaitConditionOptions::builder()
        .cancellation_token(match token.is_cancelled() {
            true => WorkflowCancellationToken::new(),
            false => token,
        })
        .build();
    let decided = ctx
        .wait_condition_with_options(|w: &DeliveryWorkflow| w.state.has_decision(), options)
        .await;
    match decided {
        Ok(()) => ctx
            .state_mut(|w| w.state.take_decision())
            .unwrap_or(Resolution::Retry),
        Err(cancel) => {
            ctx.state_mut(|w| w.state.drop_attention());
            ctx.upsert_search_attributes([names::no_attention()]);
            abort(ctx, &cancel.to_string());
            Resolution::Void
        }
    }
}

/// A search attribute's value: Keywords are for filtering, so long reasons are cut.
fn attribute_text(reason: &str) -> String {
    const MAX: usize = 200;
    match reason.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &reason[..cut]),
        None => reason.to_owned(),
    }
}

/// What undoes a step that succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compensation {
    VoidPayment,
    WithdrawCall,
}

/// Runs the saga's steps and keeps its undo log: every step that succeeded records what
/// undoes it ([`Saga::undo_with`]), and [`Saga::finish`] runs those newest first. It lives as
/// long as the run (in the cache), and owns the run's timers' tokens ([`Saga::timer`]).
struct Saga {
    /// The workflow's task queue; the remote activities' queues take its prefix.
    queue: String,
    /// How long a failing step is retried before it is given up for an operator's decision.
    retry_budget: Duration,
    compensations: Vec<Compensation>,
    /// The cancellation token of every timer the run started.
    timer_tokens: Vec<WorkflowCancellationToken>,
}

impl Saga {
    fn new(queue: &str, retry_budget: Duration) -> Self {
        Self {
            queue: queue.to_owned(),
            retry_budget,
            compensations: Vec::new(),
            timer_tokens: Vec::new(),
        }
    }

    /// `ctx.timer`, without its leak. The SDK (1.1.1) registers a timer's cancellation on the
    /// workflow's own token and unregisters it only when the timer completes; the registration
    /// holds the timer, the timer the workflow context, and the context the token: a cycle. So a
    /// timer dropped while pending (a deadline whose `select!` something else won) kept the
    /// whole workflow allocated after the run left the cache, until the worker process ended:
    /// about 14 KB per delivery.
    ///
    /// Here the timer registers on a child of the workflow's token, and the saga (the run's
    /// own state, dropped with it) owns the child: the parent holds its children weakly, so
    /// there is no cycle. The commands are the same as before, so every history replays
    /// unchanged: a workflow cancellation still cancels every timer not yet fired, the dropped
    /// ones included, in the order they started.
    fn timer<'c>(
        &mut self,
        ctx: &'c Ctx,
        duration: Duration,
    ) -> impl CancellableFuture<Output = TimerResult> + use<'c> {
        let token = ctx.cancellation_token().child_token();
        self.timer_tokens.push(token.clone());
        ctx.timer(
            TimerOptions::builder(duration)
                .cancellation_token(token)
                .build(),
        )
    }

    /// Runs one step: as a local activity first, falling back to the remote activity on
    /// `role`'s queue unless it was refused on the merits. `activity` names it (the SDK's
    /// activity markers are not `Clone`). An error is final: refused, or still failing once
    /// the retry budget is spent.
    async fn step<A>(
        &self,
        ctx: &Ctx,
        activity: impl Fn() -> A,
        input: A::Input,
        role: &str,
    ) -> Result<A::Output, ActivityExecutionError>
    where
        A: ActivityDefinition,
        A::Input: Clone,
    {
        match ctx
            .execute_local_activity(activity(), input.clone(), local_activity_options())
            .await
        {
            // Payment or the list kept failing for seconds: hand the call to the remote
            // activity, which the server retries without growing the history. Running it
            // again is safe: every activity is idempotent (payment by delivery id, the list
            // by sequence number).
            Err(err) if !is_rejection(&err) => {
                let remote = activity_options(&self.queue, role, self.retry_budget);
                ctx.execute_activity(activity(), input, remote).await
            }
            done => done,
        }
    }

    fn undo_with(&mut self, compensation: Compensation) {
        if !self.compensations.contains(&compensation) {
            self.compensations.push(compensation);
        }
    }

    /// The step no longer needs undoing (its effect became final).
    fn forget(&mut self, compensation: Compensation) {
        self.compensations.retain(|c| *c != compensation);
    }

    /// Runs a recorded compensation now, as a forward step (withdrawing the call once it is
    /// picked up); the caller then forgets it. Nothing happens when it was never recorded.
    async fn run_now(&self, ctx: &Ctx, compensation: Compensation) -> Result<(), Resolution> {
        if self.compensations.contains(&compensation) {
            self.undo(ctx, compensation).await?;
        }
        Ok(())
    }

    async fn undo(&self, ctx: &Ctx, compensation: Compensation) -> Result<(), Resolution> {
        let delivery_id = ctx.state(|w| w.state.input().call.delivery_id.clone());
        match compensation {
            Compensation::WithdrawCall => {
                let withdraw = async || {
                    self.step(
                        ctx,
                        || DispatchActivities::withdraw_call,
                        delivery_id.clone(),
                        names::DISPATCH_QUEUE,
                    )
                    .await
                };
                recover(ctx, "withdraw the call", withdraw().await, withdraw).await
            }
            Compensation::VoidPayment => {
                let void = async || {
                    self.step(
                        ctx,
                        || PaymentActivities::void_payment,
                        delivery_id.clone(),
                        names::PAYMENTS_QUEUE,
                    )
                    .await
                };
                recover(ctx, "void the fee", void().await, void).await?;
                ctx.state_mut(|w| w.state.payment_voided());
                Ok(())
            }
        }
    }

    /// Ends the saga: undoes what is left, newest first, keeps search attributes and the
    /// delivery list current, and reports the final view (or the cancellation, when an
    /// operator cancelled the workflow). An operator's decision on the money taken while
    /// something here waits for one is carried out, and the waiting step then runs again.
    async fn finish(&mut self, ctx: &Ctx, aborted: Option<String>) -> WorkflowResult<DeliveryView> {
        while let Some(compensation) = self.compensations.last().copied() {
            match self.undo(ctx, compensation).await {
                Ok(()) => self.forget(compensation),
                Err(decided) => decide_money(ctx, self, decided).await,
            }
        }
        set_status_attributes(ctx);
        while let Err(decided) = project(ctx, self).await {
            decide_money(ctx, self, decided).await;
        }
        match aborted {
            Some(_) => Err(WorkflowTermination::cancelled()),
            None => Ok(ctx.state(|w| w.state.view())),
        }
    }
}

/// Writes the current state to the delivery list with the next sequence number.
async fn project(ctx: &Ctx, saga: &Saga) -> Result<(), Resolution> {
    let at = now(ctx);
    let history_length = ctx.history_length();
    let row = ctx.state_mut(|w| w.state.next_projection(history_length, at));
    let write = async || {
        saga.step(
            ctx,
            || ProjectionActivities::project_delivery,
            row.clone(),
            names::PROJECTIONS_QUEUE,
        )
        .await
    };
    recover(ctx, "update the delivery list", write().await, write).await
}

fn status(ctx: &Ctx) -> DeliveryStatus {
    ctx.state(|w| w.state.status())
}

/// Records an operator's cancellation of the workflow itself and returns its reason.
fn abort(ctx: &Ctx, fallback: &str) -> String {
    let reason = ctx.cancellation_token().reason().unwrap_or_default();
    let reason = if reason.is_empty() {
        fallback.to_owned()
    } else {
        reason
    };
    let reason = format!("workflow cancelled by an operator: {reason}");
    let at = now(ctx);
    ctx.state_mut(|w| w.state.abort(&reason, at));
    reason
}

fn set_status_attributes(ctx: &Ctx) {
    let (status, rider, failure, offered) = ctx.state(|w| {
        (
            w.state.status(),
            w.state.rider_id().cloned(),
            w.state.failure().map(|f| f.reason),
            w.state.input().offers.is_some(),
        )
    });
    let mut updates = vec![names::DELIVERY_STATUS.value_set(status.as_str().to_owned())];
    if offered {
        // Offer mode only (the broadcast's history stays as it was): a call somebody took,
        // or that ended, is no longer an unassigned one.
        updates.push(names::UNASSIGNED.value_set(ctx.state(|w| w.state.unassigned())));
    }
    if let Some(rider) = rider {
        updates.push(names::RIDER_ID.value_set(String::from(rider)));
    }
    if let Some(reason) = failure {
        updates.push(names::FAILURE_REASON.value_set(reason.as_str().to_owned()));
    }
    ctx.upsert_search_attributes(updates);
}

/// Options of the remote fallback: retried with backoff until it succeeds, fails for a
/// business reason or spends `retry_budget` (then [`recover`] asks an operator), on the queue
/// of its bounded context, and not interrupted by a workflow cancellation (the saga decides
/// what to undo). Each call takes milliseconds; the 5 s start-to-close bounds how long a task
/// lost with its worker (a crash, or a drain that raced a poll) holds the delivery up before
/// the retry.
fn activity_options(workflow_queue: &str, role: &str, retry_budget: Duration) -> ActivityOptions {
    ActivityOptions::with_close_timeouts(ActivityCloseTimeouts::ScheduleAndStartToClose {
        schedule_to_close: retry_budget,
        start_to_close: Duration::from_secs(5),
    })
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

/// Options of the local activities: a few quick attempts inside the workflow task (a call
/// takes milliseconds), bounded well below the workflow task timeout so a stalled service
/// never holds the task (and the queries and updates waiting behind it) for long; then
/// [`Saga::step`] falls back to the remote activity. Not interrupted by a workflow
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

/// Workflow time (the Unix epoch when the SDK has none yet): deterministic on replay.
fn now(ctx: &Ctx) -> DateTime<Utc> {
    at(ctx.workflow_time())
}

/// A workflow time as a timestamp (the Unix epoch when the SDK has none yet).
fn at(time: Option<SystemTime>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(time_ms(time)).unwrap_or_default()
}

/// Workflow time in milliseconds since the Unix epoch (0 when the SDK has none yet).
fn time_ms(time: Option<SystemTime>) -> i64 {
    time.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
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
