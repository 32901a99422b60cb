//! The delivery's state machine, free of Temporal so it can be tested on its own.
//!
//! Every request first asks a `can_*` check (what the update validators run, before anything
//! reaches history), then applies the transition. A transition only advances from its expected
//! previous state, so a duplicate or late signal changes nothing.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::model::{
    AccountId, Assignment, Attention, DeclineRequest, DeliveryFailure, DeliveryInput, DeliveryRow,
    DeliveryStatus, DeliveryView, DispatchMode, DispatchSummary, FailRequest, FailureReason,
    OfferInput, OfferPlan, OpenCall, PaymentStatus, PaymentSummary, PendingOffer, Projection,
    ReassignRequest, Rejection, Resolution, ResolveRequest, RiderId, StoredView, Timeline,
};

/// Accepted updates one delivery may take. Its life needs a handful (pickup, complete or
/// cancel, a few operator decisions); repeats are refused before they count (and before they
/// reach the history), so only a runaway client meets the limit, long before Temporal's own
/// limits on a history would end the workflow.
pub const MAX_UPDATES: u32 = 100;

/// Offer dispatch's progress.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Offers {
    plan: OfferPlan,
    /// Offers made so far.
    round: u32,
    /// The offer waiting for its rider's answer.
    pending: Option<PendingOffer>,
    /// Riders who declined or let an offer lapse, oldest first: never offered it again.
    passed: Vec<RiderId>,
    /// No offer was left to make: the call went to every rider.
    fell_back: bool,
}

impl Offers {
    fn new(plan: OfferPlan) -> Self {
        Self {
            plan,
            round: 0,
            pending: None,
            passed: Vec::new(),
            fell_back: false,
        }
    }

    fn declines(&self) -> u32 {
        u32::try_from(self.passed.len()).unwrap_or(u32::MAX)
    }
}

/// One delivery's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryState {
    input: DeliveryInput,
    status: DeliveryStatus,
    payment: PaymentStatus,
    rider_id: Option<RiderId>,
    settled: Option<i64>,
    cancel_reason: Option<String>,
    overdue: bool,
    /// Set once the rider could not hand the food over.
    failure: Option<DeliveryFailure>,
    timeline: Timeline,
    /// Every rider the delivery went to, oldest first.
    assignments: Vec<Assignment>,
    /// How the call is being offered (offer mode only).
    offers: Option<Offers>,
    /// Set while the delivery waits for an operator's decision.
    attention: Option<Attention>,
    /// An operator's decision the saga has not acted on yet.
    decision: Option<Resolution>,
    /// Accepted updates so far (see [`MAX_UPDATES`]).
    updates: u32,
    /// Delivery-list writes so far: orders the writes of one workflow task (see
    /// [`DeliveryState::next_projection`]).
    writes: i64,
}

/// Bits of a projection's sequence number that count the writes within one workflow task.
const WRITES_BITS: u32 = 20;

impl DeliveryState {
    /// A fresh call: `Called`, payment not yet confirmed.
    pub fn new(input: DeliveryInput) -> Self {
        let offers = input.offers.clone().map(Offers::new);
        Self {
            offers,
            input,
            status: DeliveryStatus::Called,
            payment: PaymentStatus::Pending,
            rider_id: None,
            settled: None,
            cancel_reason: None,
            overdue: false,
            failure: None,
            timeline: Timeline::default(),
            assignments: Vec::new(),
            attention: None,
            decision: None,
            updates: 0,
            writes: 0,
        }
    }

    pub fn input(&self) -> &DeliveryInput {
        &self.input
    }

    pub fn status(&self) -> DeliveryStatus {
        self.status
    }

    pub fn payment(&self) -> PaymentStatus {
        self.payment
    }

    pub fn rider_id(&self) -> Option<&RiderId> {
        self.rider_id.as_ref()
    }

    pub fn failure(&self) -> Option<&DeliveryFailure> {
        self.failure.as_ref()
    }

    /// How many times the delivery went to a rider: a change tells the saga to show the new
    /// holder.
    pub fn assignment_count(&self) -> usize {
        self.assignments.len()
    }

    /// The call as riders see it (to every rider; offers say otherwise).
    pub fn open_call(&self) -> OpenCall {
        OpenCall {
            call: self.input.call.clone(),
            called_at: self.timeline.called_at.unwrap_or_default(),
            reach: crate::model::CallReach::Broadcast,
        }
    }

    /// The call went out to riders at `at`.
    pub fn called(&mut self, at: DateTime<Utc>) {
        self.timeline.called_at.get_or_insert(at);
    }

    /// What the `status` query and the updates return.
    pub fn view(&self) -> DeliveryView {
        let amount =
            (self.payment != PaymentStatus::Rejected).then_some(self.input.call.cost.won());
        DeliveryView {
            call: self.input.call.clone(),
            status: self.status,
            rider_id: self.rider_id.clone(),
            payment: PaymentSummary {
                status: self.payment,
                amount,
            },
            // What the payment service fixed at registration (its default rate for calls made
            // before rates were sent).
            commission: Some(
                domain::Split::of(
                    self.input.call.cost.won(),
                    self.input.commission_bps.unwrap_or_default(),
                )
                .commission,
            ),
            settled: self.settled,
            cancel_reason: self.cancel_reason.clone(),
            overdue: self.overdue,
            attention: self.attention.clone(),
            failure: self.failure.clone(),
            timeline: self.timeline.clone(),
            assignments: self.assignments.clone(),
            dispatch: self.dispatch(),
        }
    }

    fn dispatch(&self) -> DispatchSummary {
        let Some(offers) = &self.offers else {
            return DispatchSummary::default();
        };
        DispatchSummary {
            mode: DispatchMode::Offer,
            round: offers.round,
            declines: offers.declines(),
            unassigned: self.unassigned(),
            offer: offers.pending.clone(),
        }
    }

    /// What an update validator answers: `check`'s refusal, else a refusal once the delivery
    /// has taken [`MAX_UPDATES`] updates.
    pub fn admit(&self, check: Result<(), Rejection>) -> Result<(), Rejection> {
        check?;
        if self.updates >= MAX_UPDATES {
            return Err(Rejection::too_many_updates(format!(
                "this delivery took {MAX_UPDATES} updates; no more are accepted"
            )));
        }
        Ok(())
    }

    /// Counts an accepted update (the handlers call it).
    pub fn count_update(&mut self) {
        self.updates = self.updates.saturating_add(1);
    }

    /// The next delivery-list write: the current row with a sequence number that orders it
    /// after every write made before, including one made by a task that was then lost.
    ///
    /// A worker that dies in the middle of a workflow task may already have written that
    /// task's row; the task runs again elsewhere, and a count of writes alone would give its
    /// write the same number as the lost one, which the list then ignored as stale (a phantom
    /// row, a step ahead of the workflow). The history's length at the task (`history_length`,
    /// the same on replay) grows with every retry of a task, so it leads the number; the count
    /// orders the writes within one task.
    pub fn next_projection(
        &mut self,
        history_length: u32,
        updated_at: DateTime<Utc>,
    ) -> Projection {
        self.writes += 1;
        Projection {
            row: DeliveryRow {
                call: self.input.call.clone(),
                status: self.status,
                rider_id: self.rider_id.clone(),
                settled: self.settled,
                failure_reason: self.failure.as_ref().map(|f| f.reason),
                updated_at,
            },
            seq: (i64::from(history_length) << WRITES_BITS) + self.writes,
            view: Some(Box::new(StoredView {
                view: self.view(),
                overdue_at: self.overdue_at(),
            })),
        }
    }

    /// When a delivery picked up and not yet overdue becomes overdue: its pickup plus the
    /// completion deadline (the deadline's timer counts from the pickup, as here).
    fn overdue_at(&self) -> Option<DateTime<Utc>> {
        if self.status != DeliveryStatus::Picked || self.overdue {
            return None;
        }
        let deadline = self.input.completion_deadline_secs.map_or(
            crate::delivery::DEFAULT_COMPLETION_DEADLINE,
            Duration::from_secs,
        );
        let picked_at = self.timeline.picked_at?;
        Some(picked_at + chrono::Duration::from_std(deadline).ok()?)
    }

    /// Whether `rider_id` may pick the delivery up: anyone while the call is open to all (the
    /// first wins), only its rider once assigned. Repeating one's own pickup is
    /// [`Rejection::unchanged`]: the caller answers it with the current state.
    pub fn can_pick_up(&self, rider_id: &RiderId) -> Result<(), Rejection> {
        let holder = self.rider_id.as_ref() == Some(rider_id);
        match (self.status, self.payment) {
            (DeliveryStatus::Called, PaymentStatus::Registered) if self.offering() => {
                Err(Rejection::forbidden(
                    "this call is offered to one rider at a time: only an accepted offer may be picked up",
                ))
            }
            (DeliveryStatus::Called, PaymentStatus::Registered) => Ok(()),
            (DeliveryStatus::Called, _) => Err(Rejection::conflict(
                "the call is not open yet: its payment is still being registered",
            )),
            (DeliveryStatus::Assigned, _) if holder => Ok(()),
            (DeliveryStatus::Assigned, _) => Err(Rejection::forbidden(
                "this delivery is assigned to another rider",
            )),
            (DeliveryStatus::Picked | DeliveryStatus::Completed, _) if holder => {
                Err(Rejection::unchanged("you already picked this delivery up"))
            }
            (DeliveryStatus::Picked | DeliveryStatus::Completed, _) => Err(Rejection::conflict(
                "another rider already picked this delivery up",
            )),
            (DeliveryStatus::Failed, _) => Err(Rejection::conflict("the delivery failed")),
            (DeliveryStatus::Cancelled, _) => {
                Err(Rejection::conflict("the delivery was cancelled"))
            }
        }
    }

    pub fn pick_up(&mut self, rider_id: &RiderId, at: DateTime<Utc>) -> Result<(), Rejection> {
        self.can_pick_up(rider_id)?;
        if self.status == DeliveryStatus::Called {
            // From the broadcast: taking the call and picking it up are one step.
            self.assign(rider_id, at, rider_id.clone().into());
        }
        self.status = DeliveryStatus::Picked;
        self.timeline.picked_at = Some(at);
        Ok(())
    }

    /// Whether `rider_id` may complete the delivery: only the rider holding it, once picked
    /// up. Repeating one's own completion is [`Rejection::unchanged`].
    pub fn can_complete(&self, rider_id: &RiderId) -> Result<(), Rejection> {
        let holder = self.rider_id.as_ref() == Some(rider_id);
        match self.status {
            DeliveryStatus::Called => Err(Rejection::conflict(
                "the delivery has not been picked up yet",
            )),
            DeliveryStatus::Assigned | DeliveryStatus::Picked if !holder => {
                Err(Rejection::forbidden("another rider holds this delivery"))
            }
            DeliveryStatus::Assigned => Err(Rejection::conflict(
                "the delivery has not been picked up yet",
            )),
            DeliveryStatus::Picked => Ok(()),
            DeliveryStatus::Completed if holder => {
                Err(Rejection::unchanged("you already completed this delivery"))
            }
            DeliveryStatus::Completed => {
                Err(Rejection::conflict("the delivery is already completed"))
            }
            DeliveryStatus::Failed => Err(Rejection::conflict(
                "the delivery failed and can no longer be completed",
            )),
            DeliveryStatus::Cancelled => Err(Rejection::conflict("the delivery was cancelled")),
        }
    }

    pub fn complete(&mut self, rider_id: &RiderId, at: DateTime<Utc>) -> Result<(), Rejection> {
        self.can_complete(rider_id)?;
        self.status = DeliveryStatus::Completed;
        self.timeline.completed_at = Some(at);
        Ok(())
    }

    /// Whether `rider_id` may end the delivery `Failed`: only the rider holding it, after
    /// pickup. Repeating one's own failure is [`Rejection::unchanged`].
    pub fn can_fail(&self, rider_id: &RiderId) -> Result<(), Rejection> {
        let holder = self.rider_id.as_ref() == Some(rider_id);
        match self.status {
            DeliveryStatus::Assigned | DeliveryStatus::Picked if !holder => {
                Err(Rejection::forbidden("another rider holds this delivery"))
            }
            DeliveryStatus::Called | DeliveryStatus::Assigned => Err(Rejection::conflict(
                "the delivery has not been picked up yet",
            )),
            DeliveryStatus::Picked => Ok(()),
            DeliveryStatus::Failed if holder => Err(Rejection::unchanged(
                "you already reported this delivery failed",
            )),
            DeliveryStatus::Failed => Err(Rejection::conflict("the delivery already failed")),
            DeliveryStatus::Completed => {
                Err(Rejection::conflict("the delivery is already completed"))
            }
            DeliveryStatus::Cancelled => Err(Rejection::conflict("the delivery was cancelled")),
        }
    }

    pub fn fail(&mut self, request: &FailRequest, at: DateTime<Utc>) -> Result<(), Rejection> {
        self.can_fail(&request.rider_id)?;
        self.status = DeliveryStatus::Failed;
        self.failure = Some(DeliveryFailure {
            reason: request.reason,
            note: request.note.clone(),
        });
        self.timeline.failed_at = Some(at);
        Ok(())
    }

    /// Whether an operator may give the delivery to `rider_id`: any time before it ends,
    /// also after pickup, once its fee is registered. Giving it to the rider who holds it
    /// already is [`Rejection::unchanged`].
    pub fn can_reassign(&self, rider_id: &RiderId) -> Result<(), Rejection> {
        match (self.status, self.payment) {
            (DeliveryStatus::Called, PaymentStatus::Registered) => Ok(()),
            (DeliveryStatus::Called, _) => Err(Rejection::conflict(
                "the call is not open yet: its payment is still being registered",
            )),
            (DeliveryStatus::Assigned | DeliveryStatus::Picked, _)
                if self.rider_id.as_ref() == Some(rider_id) =>
            {
                Err(Rejection::unchanged(
                    "the rider already holds this delivery",
                ))
            }
            (DeliveryStatus::Assigned | DeliveryStatus::Picked, _) => Ok(()),
            (DeliveryStatus::Completed | DeliveryStatus::Failed | DeliveryStatus::Cancelled, _) => {
                Err(Rejection::conflict("the delivery has ended"))
            }
        }
    }

    /// An operator gives the delivery to another rider: an open call becomes `Assigned`, a
    /// held one changes hands and keeps its status.
    pub fn reassign(
        &mut self,
        request: &ReassignRequest,
        at: DateTime<Utc>,
    ) -> Result<(), Rejection> {
        self.can_reassign(&request.rider_id)?;
        if self.status == DeliveryStatus::Called {
            self.status = DeliveryStatus::Assigned;
        }
        self.assign(&request.rider_id, at, request.operator_id.clone());
        Ok(())
    }

    /// Whether offers are still being made: offer mode, the call open, its fee registered and
    /// the rounds not yet spent (or a candidate found).
    pub fn offering(&self) -> bool {
        self.status == DeliveryStatus::Called
            && self.payment == PaymentStatus::Registered
            && self.offers.as_ref().is_some_and(|o| !o.fell_back)
    }

    /// The call fell back to every rider and nobody has taken it yet.
    pub fn unassigned(&self) -> bool {
        self.status == DeliveryStatus::Called && self.offers.as_ref().is_some_and(|o| o.fell_back)
    }

    /// The next offer to make (no offer waits for an answer): the call, the riders who passed
    /// on it and when the offer lapses. `None` when no offer is due, or when the rounds are
    /// spent (then the call falls back to every rider: [`Self::fall_back`]).
    pub fn next_offer(&self, call: OpenCall, now: DateTime<Utc>) -> Option<OfferInput> {
        let offers = self.offers.as_ref()?;
        if !self.offer_due() || offers.round >= offers.plan.rounds {
            return None;
        }
        let timeout =
            chrono::Duration::seconds(i64::try_from(offers.plan.timeout_secs).unwrap_or(i64::MAX));
        Some(OfferInput {
            call,
            zone: offers.plan.zone.clone(),
            excluded: offers.passed.clone(),
            round: offers.round + 1,
            expires_at: now.checked_add_signed(timeout).unwrap_or(now),
        })
    }

    /// Whether an offer is due: offering, with no offer out.
    pub fn offer_due(&self) -> bool {
        self.offering() && self.offers.as_ref().is_some_and(|o| o.pending.is_none())
    }

    /// The offer `offer` went out to `rider_id`.
    pub fn offered(&mut self, offer: &OfferInput, rider_id: RiderId) {
        if let Some(offers) = &mut self.offers {
            offers.round = offer.round;
            offers.pending = Some(PendingOffer {
                rider_id,
                expires_at: offer.expires_at,
            });
        }
    }

    /// No offer is left to make (rounds spent, or nobody to offer it to): the call goes to
    /// every rider and is flagged for operators. Returns the round the fallback closes.
    pub fn fall_back(&mut self) -> u32 {
        match &mut self.offers {
            Some(offers) => {
                offers.fell_back = true;
                offers.pending = None;
                offers.round + 1
            }
            None => 0,
        }
    }

    /// When the offer out now lapses.
    pub fn offer_expires_at(&self) -> Option<DateTime<Utc>> {
        self.offers
            .as_ref()
            .and_then(|o| o.pending.as_ref())
            .map(|p| p.expires_at)
    }

    /// Offers declined or let lapse so far: a change tells the saga to offer the next one.
    pub fn declines(&self) -> u32 {
        self.offers.as_ref().map_or(0, Offers::declines)
    }

    /// The offer out now lapsed unanswered: it counts as a decline.
    pub fn offer_lapsed(&mut self) {
        if let Some(offers) = &mut self.offers
            && let Some(pending) = offers.pending.take()
        {
            offers.passed.push(pending.rider_id);
        }
    }

    /// Whether `rider_id` may accept: only the rider the call is offered to, while it is.
    /// Accepting again is [`Rejection::unchanged`].
    pub fn can_accept(&self, rider_id: &RiderId) -> Result<(), Rejection> {
        if self.is_offered_to(rider_id) {
            return Ok(());
        }
        match self.status {
            DeliveryStatus::Assigned | DeliveryStatus::Picked
                if self.offers.is_some()
                    && self.rider_id.as_ref() == Some(rider_id)
                    && self
                        .assignments
                        .last()
                        .is_some_and(|a| a.by.as_str() == rider_id.as_str()) =>
            {
                Err(Rejection::unchanged("you already accepted this call"))
            }
            _ => Err(Rejection::forbidden("this call is not offered to you")),
        }
    }

    /// The offered rider takes the call: it is `Assigned` to it.
    pub fn accept(&mut self, rider_id: &RiderId, at: DateTime<Utc>) -> Result<(), Rejection> {
        self.can_accept(rider_id)?;
        if let Some(offers) = &mut self.offers {
            offers.pending = None;
        }
        self.status = DeliveryStatus::Assigned;
        self.assign(rider_id, at, rider_id.clone().into());
        Ok(())
    }

    /// Whether `rider_id` may decline: only the rider the call is offered to, while it is.
    /// Declining again is [`Rejection::unchanged`].
    pub fn can_decline(&self, rider_id: &RiderId) -> Result<(), Rejection> {
        if self.is_offered_to(rider_id) {
            return Ok(());
        }
        match &self.offers {
            Some(offers) if offers.passed.contains(rider_id) => {
                Err(Rejection::unchanged("you already passed on this call"))
            }
            _ => Err(Rejection::forbidden("this call is not offered to you")),
        }
    }

    /// The offered rider passes; the saga offers the call to the next candidate.
    pub fn decline(&mut self, request: &DeclineRequest) -> Result<(), Rejection> {
        self.can_decline(&request.rider_id)?;
        self.offer_lapsed();
        Ok(())
    }

    fn is_offered_to(&self, rider_id: &RiderId) -> bool {
        self.offering()
            && self
                .offers
                .as_ref()
                .and_then(|o| o.pending.as_ref())
                .is_some_and(|p| p.rider_id == *rider_id)
    }

    fn assign(&mut self, rider_id: &RiderId, at: DateTime<Utc>, by: AccountId) {
        if let Some(offers) = &mut self.offers {
            // Whoever takes the call, the offer out is void.
            offers.pending = None;
        }
        self.rider_id = Some(rider_id.clone());
        self.timeline.assigned_at = Some(at);
        self.assignments.push(Assignment {
            rider_id: rider_id.clone(),
            at,
            by,
        });
    }

    /// Whether the restaurant may cancel: only while nobody has picked the food up.
    pub fn can_cancel(&self) -> Result<(), Rejection> {
        match self.status {
            DeliveryStatus::Called | DeliveryStatus::Assigned => Ok(()),
            DeliveryStatus::Picked | DeliveryStatus::Completed | DeliveryStatus::Failed => {
                Err(Rejection::conflict("the delivery was already picked up"))
            }
            DeliveryStatus::Cancelled => {
                Err(Rejection::conflict("the delivery is already cancelled"))
            }
        }
    }

    pub fn cancel(&mut self, reason: Option<&str>, at: DateTime<Utc>) -> Result<(), Rejection> {
        self.can_cancel()?;
        self.mark_cancelled(reason.unwrap_or("cancelled by the restaurant"), at);
        Ok(())
    }

    /// The pickup deadline passed: cancel unless someone picked the food up meanwhile.
    pub fn expire(&mut self, at: DateTime<Utc>) {
        if matches!(
            self.status,
            DeliveryStatus::Called | DeliveryStatus::Assigned
        ) {
            self.mark_cancelled("no rider picked it up before the pickup deadline", at);
        }
    }

    /// An operator cancelled the workflow itself: stop whatever has not completed yet.
    pub fn abort(&mut self, reason: &str, at: DateTime<Utc>) {
        if matches!(
            self.status,
            DeliveryStatus::Called | DeliveryStatus::Assigned | DeliveryStatus::Picked
        ) {
            self.mark_cancelled(reason, at);
        }
    }

    fn mark_cancelled(&mut self, reason: &str, at: DateTime<Utc>) {
        if let Some(offers) = &mut self.offers {
            offers.pending = None;
        }
        self.status = DeliveryStatus::Cancelled;
        self.cancel_reason = Some(reason.to_owned());
        self.timeline.cancelled_at = Some(at);
    }

    pub fn payment_registered(&mut self) {
        if self.payment == PaymentStatus::Pending {
            self.payment = PaymentStatus::Registered;
        }
    }

    /// Payment refused the fee: the delivery ends without any money moved.
    pub fn payment_rejected(&mut self, why: &str, at: DateTime<Utc>) {
        self.payment = PaymentStatus::Rejected;
        self.mark_cancelled(&format!("payment rejected: {why}"), at);
    }

    pub fn payment_voided(&mut self) {
        if self.payment == PaymentStatus::Registered {
            self.payment = PaymentStatus::Voided;
        }
    }

    pub fn payment_settled(&mut self, amount: i64) {
        if self.payment == PaymentStatus::Registered {
            self.payment = PaymentStatus::Settled;
            self.settled = Some(amount);
        }
    }

    pub fn mark_overdue(&mut self) {
        self.overdue = true;
    }

    pub fn attention(&self) -> Option<&Attention> {
        self.attention.as_ref()
    }

    /// A step failed for good: the delivery waits for an operator's decision.
    pub fn need_attention(&mut self, reason: String, since: DateTime<Utc>) {
        self.decision = None;
        self.attention = Some(Attention { reason, since });
    }

    /// Whether an operator may decide `outcome` now: only while the delivery waits for a
    /// decision; `settle` needs a rider who held it and a fee still registered, `void` a fee
    /// not yet settled; a delivery that failed for `other` reasons waits for the money's
    /// decision, so there is nothing to `retry`.
    pub fn can_resolve(&self, outcome: Resolution) -> Result<(), Rejection> {
        if self.attention.is_none() {
            return Err(Rejection::conflict(
                "the delivery is not waiting for an operator's decision",
            ));
        }
        match outcome {
            Resolution::Retry if self.deciding_failure() => Err(Rejection::conflict(
                "the delivery failed: decide settle or void",
            )),
            Resolution::Retry => Ok(()),
            Resolution::Settle if self.rider_id.is_none() => Err(Rejection::conflict(
                "no rider has picked this delivery up, so there is nobody to settle to",
            )),
            Resolution::Settle if self.payment != PaymentStatus::Registered => Err(
                Rejection::conflict("the fee is not registered, so it cannot be settled"),
            ),
            Resolution::Void
                if !matches!(
                    self.payment,
                    PaymentStatus::Pending | PaymentStatus::Registered
                ) =>
            {
                Err(Rejection::conflict(
                    "the fee is already settled or voided, so it cannot be voided",
                ))
            }
            Resolution::Settle | Resolution::Void => Ok(()),
        }
    }

    /// Whether the delivery failed for a reason whose money an operator decides and that
    /// decision is still open.
    fn deciding_failure(&self) -> bool {
        self.status == DeliveryStatus::Failed
            && self.payment == PaymentStatus::Registered
            && self.failure.as_ref().map(|f| f.reason) == Some(FailureReason::Other)
    }

    /// Records an operator's decision for the saga to act on. A delivery still under way
    /// ends with it (`Completed` when settled, `Cancelled` when voided); a failed one stays
    /// `Failed`.
    pub fn resolve(
        &mut self,
        request: &ResolveRequest,
        at: DateTime<Utc>,
    ) -> Result<(), Rejection> {
        self.can_resolve(request.outcome)?;
        self.attention = None;
        self.decision = Some(request.outcome);
        let failed = self.status == DeliveryStatus::Failed;
        match request.outcome {
            Resolution::Void if !failed => {
                let note = request.note.as_ref().map_or("", |n| n.as_str());
                self.mark_cancelled(
                    &format!(
                        "voided by operator {}{}{note}",
                        request.operator_id,
                        if note.is_empty() { "" } else { ": " }
                    ),
                    at,
                );
            }
            Resolution::Settle if !failed => {
                self.status = DeliveryStatus::Completed;
                self.timeline.completed_at.get_or_insert(at);
            }
            _ => {}
        }
        Ok(())
    }

    /// The wait for a decision ended without one (the workflow was cancelled).
    pub fn drop_attention(&mut self) {
        self.attention = None;
    }

    /// The decision the saga waits for, taken once.
    pub fn take_decision(&mut self) -> Option<Resolution> {
        self.decision.take()
    }

    pub fn has_decision(&self) -> bool {
        self.decision.is_some()
    }

    /// True once nothing is left to compensate: the payment was voided or never taken.
    pub fn compensated(&self) -> bool {
        matches!(
            self.payment,
            PaymentStatus::Voided | PaymentStatus::Rejected
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RejectionKind;

    const T: DateTime<Utc> = DateTime::UNIX_EPOCH;

    fn called() -> DeliveryState {
        DeliveryState::new(DeliveryInput {
            call: domain::Call {
                delivery_id: "d-1".parse().unwrap(),
                restaurant_id: "r-1".parse().unwrap(),
                destination: "Seoul".parse().unwrap(),
                cost: domain::Cost::new(20_000).unwrap(),
            },
            customer_id: None,
            pickup_deadline_secs: None,
            completion_deadline_secs: None,
            retry_budget_secs: None,
            offers: None,
            commission_bps: None,
        })
    }

    fn open() -> DeliveryState {
        let mut s = called();
        s.payment_registered();
        s
    }

    /// An open call of a restaurant in offer mode: 2 rounds of 30 s.
    fn offering() -> DeliveryState {
        let mut input = called().input().clone();
        input.offers = Some(OfferPlan {
            zone: "gangnam".parse().unwrap(),
            timeout_secs: 30,
            rounds: 2,
        });
        let mut s = DeliveryState::new(input);
        s.payment_registered();
        s.called(T);
        s
    }

    /// Makes the next offer to `to`.
    fn offer_to(s: &mut DeliveryState, to: &str) -> OfferInput {
        let offer = s.next_offer(s.open_call(), T).expect("an offer is due");
        s.offered(&offer, rider(to));
        offer
    }

    fn declining(by: &str) -> DeclineRequest {
        DeclineRequest {
            rider_id: rider(by),
            reason: None,
            expires_at_ms: None,
        }
    }

    fn rider(id: &str) -> RiderId {
        id.parse().unwrap()
    }

    fn kind(r: Result<(), Rejection>) -> Option<RejectionKind> {
        r.err().map(|e| e.kind)
    }

    #[test]
    fn a_call_cannot_be_picked_up_before_its_payment_is_registered() {
        assert_eq!(
            kind(called().can_pick_up(&rider("rider-1"))),
            Some(RejectionKind::Conflict)
        );
        assert_eq!(kind(open().can_pick_up(&rider("rider-1"))), None);
    }

    #[test]
    fn the_first_rider_wins_and_the_second_gets_a_conflict() {
        let mut s = open();
        s.pick_up(&rider("rider-1"), T).unwrap();
        assert_eq!(s.status(), DeliveryStatus::Picked);
        assert_eq!(s.rider_id(), Some(&rider("rider-1")));
        assert_eq!(
            kind(s.pick_up(&rider("rider-2"), T)),
            Some(RejectionKind::Conflict)
        );
        assert_eq!(s.rider_id(), Some(&rider("rider-1")));
    }

    #[test]
    fn repeating_ones_own_transition_is_unchanged_and_changes_nothing() {
        let mut s = open();
        s.pick_up(&rider("rider-1"), T).unwrap();
        let before = s.clone();
        assert_eq!(
            kind(s.pick_up(&rider("rider-1"), T)),
            Some(RejectionKind::Unchanged)
        );
        assert_eq!(s, before);
        s.complete(&rider("rider-1"), T).unwrap();
        assert_eq!(
            kind(s.can_complete(&rider("rider-1"))),
            Some(RejectionKind::Unchanged)
        );
        assert_eq!(
            kind(s.can_pick_up(&rider("rider-1"))),
            Some(RejectionKind::Unchanged)
        );
        assert_eq!(
            kind(s.can_complete(&rider("rider-2"))),
            Some(RejectionKind::Conflict)
        );
    }

    #[test]
    fn updates_past_the_limit_are_refused() {
        let mut s = open();
        for _ in 0..MAX_UPDATES {
            assert_eq!(kind(s.admit(s.can_cancel())), None);
            s.count_update();
        }
        assert_eq!(
            kind(s.admit(s.can_cancel())),
            Some(RejectionKind::TooManyUpdates)
        );
        // A refusal on the merits still says why.
        assert_eq!(
            kind(s.admit(s.can_complete(&rider("rider-1")))),
            Some(RejectionKind::Conflict)
        );
    }

    fn decision(outcome: Resolution) -> ResolveRequest {
        ResolveRequest {
            outcome,
            note: None,
            operator_id: "op-1".parse().unwrap(),
            expires_at_ms: None,
        }
    }

    #[test]
    fn only_a_delivery_waiting_for_a_decision_can_be_resolved() {
        let mut s = open();
        assert_eq!(
            kind(s.can_resolve(Resolution::Retry)),
            Some(RejectionKind::Conflict)
        );
        s.need_attention("settle payment: refused".into(), DateTime::UNIX_EPOCH);
        assert!(s.view().attention.is_some());
        s.resolve(&decision(Resolution::Retry), T).unwrap();
        assert_eq!(s.view().attention, None);
        assert_eq!(s.take_decision(), Some(Resolution::Retry));
        assert_eq!(s.take_decision(), None);
    }

    #[test]
    fn settling_needs_a_rider_and_a_registered_fee_and_voiding_an_unsettled_fee() {
        let mut s = open();
        s.need_attention("offer call failed".into(), DateTime::UNIX_EPOCH);
        assert_eq!(
            kind(s.can_resolve(Resolution::Settle)),
            Some(RejectionKind::Conflict)
        );
        s.resolve(&decision(Resolution::Void), T).unwrap();
        assert_eq!(s.status(), DeliveryStatus::Cancelled);

        let mut picked = open();
        picked.pick_up(&rider("rider-1"), T).unwrap();
        picked.need_attention("withdraw call failed".into(), DateTime::UNIX_EPOCH);
        picked.resolve(&decision(Resolution::Settle), T).unwrap();
        assert_eq!(picked.status(), DeliveryStatus::Completed);

        let mut settled = open();
        settled.pick_up(&rider("rider-1"), T).unwrap();
        settled.payment_settled(20_000);
        settled.need_attention("list failed".into(), DateTime::UNIX_EPOCH);
        assert_eq!(
            kind(settled.can_resolve(Resolution::Void)),
            Some(RejectionKind::Conflict)
        );
        assert_eq!(
            kind(settled.can_resolve(Resolution::Settle)),
            Some(RejectionKind::Conflict)
        );
        assert_eq!(kind(settled.can_resolve(Resolution::Retry)), None);
    }

    #[test]
    fn only_the_rider_who_picked_up_may_complete() {
        let mut s = open();
        assert_eq!(
            kind(s.can_complete(&rider("rider-1"))),
            Some(RejectionKind::Conflict)
        );
        s.pick_up(&rider("rider-1"), T).unwrap();
        assert_eq!(
            kind(s.complete(&rider("rider-2"), T)),
            Some(RejectionKind::Forbidden)
        );
        s.complete(&rider("rider-1"), T).unwrap();
        assert_eq!(s.status(), DeliveryStatus::Completed);
        assert_eq!(
            kind(s.complete(&rider("rider-1"), T)),
            Some(RejectionKind::Unchanged)
        );
    }

    #[test]
    fn cancel_is_allowed_only_before_pickup() {
        let mut s = open();
        s.cancel(Some("customer left"), T).unwrap();
        assert_eq!(s.status(), DeliveryStatus::Cancelled);
        assert_eq!(s.view().cancel_reason.as_deref(), Some("customer left"));
        assert_eq!(kind(s.cancel(None, T)), Some(RejectionKind::Conflict));

        let mut picked = open();
        picked.pick_up(&rider("rider-1"), T).unwrap();
        assert_eq!(kind(picked.cancel(None, T)), Some(RejectionKind::Conflict));
        assert_eq!(picked.status(), DeliveryStatus::Picked);
    }

    #[test]
    fn a_call_can_be_cancelled_while_its_payment_is_pending() {
        let mut s = called();
        s.cancel(None, T).unwrap();
        assert_eq!(s.status(), DeliveryStatus::Cancelled);
    }

    #[test]
    fn the_pickup_deadline_cancels_only_an_open_call() {
        let mut s = open();
        s.expire(T);
        assert_eq!(s.status(), DeliveryStatus::Cancelled);

        let mut picked = open();
        picked.pick_up(&rider("rider-1"), T).unwrap();
        picked.expire(T);
        assert_eq!(picked.status(), DeliveryStatus::Picked);
    }

    #[test]
    fn settling_records_the_amount_once() {
        let mut s = open();
        s.payment_settled(20_000);
        s.payment_voided();
        assert_eq!(s.payment(), PaymentStatus::Settled);
        assert_eq!(s.view().settled, Some(20_000));
    }

    #[test]
    fn a_rejected_payment_ends_the_delivery_with_no_amount() {
        let mut s = called();
        s.payment_rejected("invalid amount", T);
        let v = s.view();
        assert_eq!(v.status, DeliveryStatus::Cancelled);
        assert_eq!(v.payment.status, PaymentStatus::Rejected);
        assert_eq!(v.payment.amount, None);
        assert!(s.compensated());
    }

    #[test]
    fn projection_sequence_numbers_increase_with_every_write() {
        let mut s = open();
        let a = s.next_projection(3, DateTime::UNIX_EPOCH);
        s.pick_up(&rider("rider-1"), T).unwrap();
        let b = s.next_projection(3, DateTime::UNIX_EPOCH);
        assert!(b.seq > a.seq, "within one task");
        let c = s.next_projection(12, DateTime::UNIX_EPOCH);
        assert!(c.seq > b.seq, "in a later task");
        assert_eq!(b.row.status, DeliveryStatus::Picked);
        assert_eq!(b.row.rider_id, Some(rider("rider-1")));
    }

    /// A task that wrote its row and was then lost with its worker runs again later in the
    /// history: the retry's write outranks the lost one even though the count of writes
    /// before it is the same (before, both got the same number and the retry was ignored).
    #[test]
    fn a_retried_tasks_write_outranks_the_lost_tasks_write() {
        let mut lost = open();
        let mut retried = open();
        lost.pick_up(&rider("rider-1"), T).unwrap();
        let phantom = lost.next_projection(12, DateTime::UNIX_EPOCH);
        // The retry starts after the lost task's timeout, scheduling and start events.
        retried.pick_up(&rider("rider-2"), T).unwrap();
        let real = retried.next_projection(15, DateTime::UNIX_EPOCH);
        assert!(real.seq > phantom.seq);
        // Rows written by the counting scheme of earlier releases (1, 2, 3, ...) are older.
        assert!(phantom.seq > 1_000);
    }

    #[test]
    fn an_operator_abort_cancels_a_picked_delivery_but_not_a_completed_one() {
        let mut s = open();
        s.pick_up(&rider("rider-1"), T).unwrap();
        s.abort("operator", T);
        assert_eq!(s.status(), DeliveryStatus::Cancelled);

        let mut done = open();
        done.pick_up(&rider("rider-1"), T).unwrap();
        done.complete(&rider("rider-1"), T).unwrap();
        done.abort("operator", T);
        assert_eq!(done.status(), DeliveryStatus::Completed);
    }

    fn failure(rider_id: &str, reason: FailureReason) -> FailRequest {
        FailRequest {
            rider_id: rider(rider_id),
            reason,
            note: None,
            expires_at_ms: None,
        }
    }

    fn reassignment(to: &str) -> ReassignRequest {
        ReassignRequest {
            rider_id: rider(to),
            reason: None,
            operator_id: "op-1".parse().unwrap(),
            expires_at_ms: None,
        }
    }

    #[test]
    fn only_the_holder_fails_a_delivery_and_only_after_pickup() {
        let mut s = open();
        assert_eq!(
            kind(s.can_fail(&rider("rider-1"))),
            Some(RejectionKind::Conflict)
        );
        s.pick_up(&rider("rider-1"), T).unwrap();
        assert_eq!(
            kind(s.fail(&failure("rider-2", FailureReason::Damaged), T)),
            Some(RejectionKind::Forbidden)
        );
        let later = T + chrono::Duration::minutes(5);
        s.fail(
            &failure("rider-1", FailureReason::CustomerUnreachable),
            later,
        )
        .unwrap();
        let view = s.view();
        assert_eq!(view.status, DeliveryStatus::Failed);
        assert_eq!(
            view.failure.map(|f| f.reason),
            Some(FailureReason::CustomerUnreachable)
        );
        assert_eq!(view.timeline.failed_at, Some(later));
        assert_eq!(
            s.next_projection(3, T).row.failure_reason,
            Some(FailureReason::CustomerUnreachable)
        );
        // A failed delivery can no longer be completed; repeating the failure changes nothing.
        assert_eq!(
            kind(s.can_complete(&rider("rider-1"))),
            Some(RejectionKind::Conflict)
        );
        assert_eq!(
            kind(s.can_fail(&rider("rider-1"))),
            Some(RejectionKind::Unchanged)
        );
    }

    #[test]
    fn a_failure_for_other_reasons_waits_for_settle_or_void_and_stays_failed() {
        let mut s = open();
        s.pick_up(&rider("rider-1"), T).unwrap();
        s.fail(&failure("rider-1", FailureReason::Other), T)
            .unwrap();
        s.need_attention("the rider could not deliver".into(), T);
        assert_eq!(
            kind(s.can_resolve(Resolution::Retry)),
            Some(RejectionKind::Conflict)
        );
        s.resolve(&decision(Resolution::Void), T).unwrap();
        assert_eq!(s.status(), DeliveryStatus::Failed);
        assert_eq!(s.view().cancel_reason, None);
    }

    #[test]
    fn an_open_call_assigned_by_an_operator_is_only_that_riders() {
        let mut s = open();
        let at = T + chrono::Duration::minutes(2);
        s.reassign(&reassignment("rider-2"), at).unwrap();
        assert_eq!(s.status(), DeliveryStatus::Assigned);
        assert_eq!(
            kind(s.can_pick_up(&rider("rider-1"))),
            Some(RejectionKind::Forbidden)
        );
        assert_eq!(
            kind(s.can_complete(&rider("rider-2"))),
            Some(RejectionKind::Conflict)
        );
        s.pick_up(&rider("rider-2"), at).unwrap();
        let view = s.view();
        assert_eq!(view.status, DeliveryStatus::Picked);
        assert_eq!(view.timeline.assigned_at, Some(at));
        assert_eq!(
            view.assignments.len(),
            1,
            "an assigned pickup adds no assignment"
        );
        assert_eq!(view.assignments[0].by.as_str(), "op-1");
    }

    #[test]
    fn reassigning_after_pickup_moves_the_delivery_to_the_new_rider() {
        let mut s = open();
        s.pick_up(&rider("rider-1"), T).unwrap();
        assert_eq!(
            kind(s.can_reassign(&rider("rider-1"))),
            Some(RejectionKind::Unchanged)
        );
        s.reassign(&reassignment("rider-2"), T).unwrap();
        assert_eq!(s.status(), DeliveryStatus::Picked);
        assert_eq!(s.assignment_count(), 2);
        assert_eq!(
            kind(s.can_complete(&rider("rider-1"))),
            Some(RejectionKind::Forbidden)
        );
        s.complete(&rider("rider-2"), T).unwrap();
        assert_eq!(
            kind(s.can_reassign(&rider("rider-3"))),
            Some(RejectionKind::Conflict)
        );
        let by: Vec<_> = s
            .view()
            .assignments
            .iter()
            .map(|a| a.by.to_string())
            .collect();
        assert_eq!(by, ["rider-1", "op-1"]);
    }

    #[test]
    fn an_assigned_call_can_be_cancelled_and_expires_at_the_pickup_deadline() {
        let mut s = open();
        s.reassign(&reassignment("rider-2"), T).unwrap();
        s.expire(T);
        assert_eq!(s.status(), DeliveryStatus::Cancelled);
        assert!(s.view().timeline.cancelled_at.is_some());

        let mut t = open();
        t.reassign(&reassignment("rider-2"), T).unwrap();
        t.cancel(None, T).unwrap();
        assert_eq!(t.status(), DeliveryStatus::Cancelled);
    }

    #[test]
    fn a_broadcast_call_makes_no_offers_and_anyone_may_pick_it_up() {
        let s = open();
        assert!(!s.offering());
        assert!(!s.offer_due());
        assert_eq!(s.next_offer(s.open_call(), T), None);
        assert_eq!(s.view().dispatch, DispatchSummary::default());
        assert_eq!(
            kind(s.can_accept(&rider("rider-7"))),
            Some(RejectionKind::Forbidden)
        );
    }

    #[test]
    fn an_offer_goes_to_one_rider_who_alone_may_accept_or_decline() {
        let mut s = offering();
        assert!(s.offer_due());
        let offer = offer_to(&mut s, "rider-7");
        assert_eq!(offer.round, 1);
        assert_eq!(offer.expires_at, T + chrono::Duration::seconds(30));
        assert!(!s.offer_due());
        // Nobody picks up an offered call; only its rider answers it.
        assert_eq!(
            kind(s.can_pick_up(&rider("rider-7"))),
            Some(RejectionKind::Forbidden)
        );
        assert_eq!(
            kind(s.can_accept(&rider("rider-8"))),
            Some(RejectionKind::Forbidden)
        );
        assert_eq!(
            kind(s.can_decline(&rider("rider-8"))),
            Some(RejectionKind::Forbidden)
        );
        let dispatch = s.view().dispatch;
        assert_eq!(dispatch.mode, domain::DispatchMode::Offer);
        assert_eq!(dispatch.round, 1);
        assert_eq!(dispatch.offer.map(|o| o.rider_id), Some(rider("rider-7")));

        s.accept(&rider("rider-7"), T).unwrap();
        assert_eq!(s.status(), DeliveryStatus::Assigned);
        assert_eq!(s.rider_id(), Some(&rider("rider-7")));
        assert_eq!(s.assignment_count(), 1);
        assert_eq!(s.view().dispatch.offer, None);
        assert_eq!(
            kind(s.can_accept(&rider("rider-7"))),
            Some(RejectionKind::Unchanged)
        );
        // Accepted, it is picked up like any assigned call.
        s.pick_up(&rider("rider-7"), T).unwrap();
        assert_eq!(s.status(), DeliveryStatus::Picked);
    }

    #[test]
    fn declines_and_lapses_pass_the_call_on_until_the_rounds_run_out() {
        let mut s = offering();
        offer_to(&mut s, "rider-7");
        s.decline(&declining("rider-7")).unwrap();
        assert_eq!(s.declines(), 1);
        assert_eq!(
            kind(s.can_decline(&rider("rider-7"))),
            Some(RejectionKind::Unchanged)
        );
        let second = offer_to(&mut s, "rider-8");
        assert_eq!(second.round, 2);
        assert_eq!(second.excluded, [rider("rider-7")]);
        s.offer_lapsed();
        assert_eq!(s.declines(), 2);
        // Two rounds spent: no more offers; the call goes to every rider.
        assert!(s.offer_due());
        assert_eq!(s.next_offer(s.open_call(), T), None);
        assert_eq!(s.fall_back(), 3);
        assert!(!s.offering());
        assert!(s.unassigned());
        assert!(s.view().dispatch.unassigned);
        // Now anyone may pick it up, also a rider who passed on it.
        s.pick_up(&rider("rider-7"), T).unwrap();
        assert!(!s.unassigned());
        assert_eq!(s.view().dispatch.declines, 2);
    }

    #[test]
    fn an_operator_assignment_or_a_cancel_voids_the_offer_out() {
        let mut s = offering();
        offer_to(&mut s, "rider-7");
        s.reassign(&reassignment("rider-9"), T).unwrap();
        assert_eq!(s.status(), DeliveryStatus::Assigned);
        assert_eq!(s.offer_expires_at(), None);
        assert_eq!(
            kind(s.can_accept(&rider("rider-7"))),
            Some(RejectionKind::Forbidden)
        );

        let mut s = offering();
        offer_to(&mut s, "rider-7");
        s.cancel(None, T).unwrap();
        assert_eq!(s.view().dispatch.offer, None);
        assert!(!s.offer_due());
    }
}
