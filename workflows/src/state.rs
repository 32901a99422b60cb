//! The delivery's state machine, free of Temporal so it can be tested on its own.
//!
//! Every request first asks a `can_*` check (what the update validators run, before anything
//! reaches history), then applies the transition. A transition only advances from its expected
//! previous state, so a duplicate or late signal changes nothing.

use chrono::{DateTime, Utc};

use crate::model::{
    Attention, DeliveryInput, DeliveryRow, DeliveryStatus, DeliveryView, PaymentStatus,
    PaymentSummary, Projection, Rejection, Resolution, ResolveRequest, RiderId,
};

/// Accepted updates one delivery may take. Its life needs a handful (pickup, complete or
/// cancel, a few operator decisions); repeats are refused before they count (and before they
/// reach the history), so only a runaway client meets the limit, long before Temporal's own
/// limits on a history would end the workflow.
pub const MAX_UPDATES: u32 = 100;

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
    /// Set while the delivery waits for an operator's decision.
    attention: Option<Attention>,
    /// An operator's decision the saga has not acted on yet.
    decision: Option<Resolution>,
    /// Accepted updates so far (see [`MAX_UPDATES`]).
    updates: u32,
    /// Sequence number of the last delivery-list write.
    seq: i64,
}

impl DeliveryState {
    /// A fresh call: `Called`, payment not yet confirmed.
    pub fn new(input: DeliveryInput) -> Self {
        Self {
            input,
            status: DeliveryStatus::Called,
            payment: PaymentStatus::Pending,
            rider_id: None,
            settled: None,
            cancel_reason: None,
            overdue: false,
            attention: None,
            decision: None,
            updates: 0,
            seq: 0,
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
            settled: self.settled,
            cancel_reason: self.cancel_reason.clone(),
            overdue: self.overdue,
            attention: self.attention.clone(),
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

    /// The next delivery-list write: the current row with a fresh sequence number.
    pub fn next_projection(&mut self, updated_at: DateTime<Utc>) -> Projection {
        self.seq += 1;
        Projection {
            row: DeliveryRow {
                call: self.input.call.clone(),
                status: self.status,
                rider_id: self.rider_id.clone(),
                settled: self.settled,
                updated_at,
            },
            seq: self.seq,
        }
    }

    /// Whether `rider_id` may pick the delivery up. Repeating one's own pickup is
    /// [`Rejection::unchanged`]: the caller answers it with the current state.
    pub fn can_pick_up(&self, rider_id: &RiderId) -> Result<(), Rejection> {
        match (self.status, self.payment) {
            (DeliveryStatus::Called, PaymentStatus::Registered) => Ok(()),
            (DeliveryStatus::Called, _) => Err(Rejection::conflict(
                "the call is not open yet: its payment is still being registered",
            )),
            (DeliveryStatus::Picked | DeliveryStatus::Completed, _)
                if self.rider_id.as_ref() == Some(rider_id) =>
            {
                Err(Rejection::unchanged("you already picked this delivery up"))
            }
            (DeliveryStatus::Picked | DeliveryStatus::Completed, _) => Err(Rejection::conflict(
                "another rider already picked this delivery up",
            )),
            (DeliveryStatus::Cancelled, _) => {
                Err(Rejection::conflict("the delivery was cancelled"))
            }
        }
    }

    pub fn pick_up(&mut self, rider_id: &RiderId) -> Result<(), Rejection> {
        self.can_pick_up(rider_id)?;
        self.status = DeliveryStatus::Picked;
        self.rider_id = Some(rider_id.clone());
        Ok(())
    }

    /// Whether `rider_id` may complete the delivery: only the rider who picked it up.
    /// Repeating one's own completion is [`Rejection::unchanged`].
    pub fn can_complete(&self, rider_id: &RiderId) -> Result<(), Rejection> {
        let holder = self.rider_id.as_ref() == Some(rider_id);
        match self.status {
            DeliveryStatus::Called => Err(Rejection::conflict(
                "the delivery has not been picked up yet",
            )),
            DeliveryStatus::Picked if holder => Ok(()),
            DeliveryStatus::Picked => Err(Rejection::forbidden(
                "another rider picked this delivery up",
            )),
            DeliveryStatus::Completed if holder => {
                Err(Rejection::unchanged("you already completed this delivery"))
            }
            DeliveryStatus::Completed => {
                Err(Rejection::conflict("the delivery is already completed"))
            }
            DeliveryStatus::Cancelled => Err(Rejection::conflict("the delivery was cancelled")),
        }
    }

    pub fn complete(&mut self, rider_id: &RiderId) -> Result<(), Rejection> {
        self.can_complete(rider_id)?;
        self.status = DeliveryStatus::Completed;
        Ok(())
    }

    /// Whether the restaurant may cancel: only while nobody has picked the food up.
    pub fn can_cancel(&self) -> Result<(), Rejection> {
        match self.status {
            DeliveryStatus::Called => Ok(()),
            DeliveryStatus::Picked | DeliveryStatus::Completed => {
                Err(Rejection::conflict("the delivery was already picked up"))
            }
            DeliveryStatus::Cancelled => {
                Err(Rejection::conflict("the delivery is already cancelled"))
            }
        }
    }

    pub fn cancel(&mut self, reason: Option<&str>) -> Result<(), Rejection> {
        self.can_cancel()?;
        self.mark_cancelled(reason.unwrap_or("cancelled by the restaurant"));
        Ok(())
    }

    /// The pickup deadline passed: cancel unless someone picked the food up meanwhile.
    pub fn expire(&mut self) {
        if self.status == DeliveryStatus::Called {
            self.mark_cancelled("no rider picked it up before the pickup deadline");
        }
    }

    /// An operator cancelled the workflow itself: stop whatever has not completed yet.
    pub fn abort(&mut self, reason: &str) {
        if matches!(self.status, DeliveryStatus::Called | DeliveryStatus::Picked) {
            self.mark_cancelled(reason);
        }
    }

    fn mark_cancelled(&mut self, reason: &str) {
        self.status = DeliveryStatus::Cancelled;
        self.cancel_reason = Some(reason.to_owned());
    }

    pub fn payment_registered(&mut self) {
        if self.payment == PaymentStatus::Pending {
            self.payment = PaymentStatus::Registered;
        }
    }

    /// Payment refused the fee: the delivery ends without any money moved.
    pub fn payment_rejected(&mut self, why: &str) {
        self.payment = PaymentStatus::Rejected;
        self.status = DeliveryStatus::Cancelled;
        self.cancel_reason = Some(format!("payment rejected: {why}"));
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
    /// not yet settled.
    pub fn can_resolve(&self, outcome: Resolution) -> Result<(), Rejection> {
        if self.attention.is_none() {
            return Err(Rejection::conflict(
                "the delivery is not waiting for an operator's decision",
            ));
        }
        match outcome {
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

    /// Records an operator's decision for the saga to act on.
    pub fn resolve(&mut self, request: &ResolveRequest) -> Result<(), Rejection> {
        self.can_resolve(request.outcome)?;
        self.attention = None;
        self.decision = Some(request.outcome);
        if request.outcome == Resolution::Void {
            let note = request.note.as_ref().map_or("", |n| n.as_str());
            self.mark_cancelled(&format!(
                "voided by operator {}{}{note}",
                request.operator_id,
                if note.is_empty() { "" } else { ": " }
            ));
        } else if request.outcome == Resolution::Settle {
            self.status = DeliveryStatus::Completed;
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
        })
    }

    fn open() -> DeliveryState {
        let mut s = called();
        s.payment_registered();
        s
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
        s.pick_up(&rider("rider-1")).unwrap();
        assert_eq!(s.status(), DeliveryStatus::Picked);
        assert_eq!(s.rider_id(), Some(&rider("rider-1")));
        assert_eq!(
            kind(s.pick_up(&rider("rider-2"))),
            Some(RejectionKind::Conflict)
        );
        assert_eq!(s.rider_id(), Some(&rider("rider-1")));
    }

    #[test]
    fn repeating_ones_own_transition_is_unchanged_and_changes_nothing() {
        let mut s = open();
        s.pick_up(&rider("rider-1")).unwrap();
        let before = s.clone();
        assert_eq!(
            kind(s.pick_up(&rider("rider-1"))),
            Some(RejectionKind::Unchanged)
        );
        assert_eq!(s, before);
        s.complete(&rider("rider-1")).unwrap();
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
        s.resolve(&decision(Resolution::Retry)).unwrap();
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
        s.resolve(&decision(Resolution::Void)).unwrap();
        assert_eq!(s.status(), DeliveryStatus::Cancelled);

        let mut picked = open();
        picked.pick_up(&rider("rider-1")).unwrap();
        picked.need_attention("withdraw call failed".into(), DateTime::UNIX_EPOCH);
        picked.resolve(&decision(Resolution::Settle)).unwrap();
        assert_eq!(picked.status(), DeliveryStatus::Completed);

        let mut settled = open();
        settled.pick_up(&rider("rider-1")).unwrap();
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
        s.pick_up(&rider("rider-1")).unwrap();
        assert_eq!(
            kind(s.complete(&rider("rider-2"))),
            Some(RejectionKind::Forbidden)
        );
        s.complete(&rider("rider-1")).unwrap();
        assert_eq!(s.status(), DeliveryStatus::Completed);
        assert_eq!(
            kind(s.complete(&rider("rider-1"))),
            Some(RejectionKind::Unchanged)
        );
    }

    #[test]
    fn cancel_is_allowed_only_before_pickup() {
        let mut s = open();
        s.cancel(Some("customer left")).unwrap();
        assert_eq!(s.status(), DeliveryStatus::Cancelled);
        assert_eq!(s.view().cancel_reason.as_deref(), Some("customer left"));
        assert_eq!(kind(s.cancel(None)), Some(RejectionKind::Conflict));

        let mut picked = open();
        picked.pick_up(&rider("rider-1")).unwrap();
        assert_eq!(kind(picked.cancel(None)), Some(RejectionKind::Conflict));
        assert_eq!(picked.status(), DeliveryStatus::Picked);
    }

    #[test]
    fn a_call_can_be_cancelled_while_its_payment_is_pending() {
        let mut s = called();
        s.cancel(None).unwrap();
        assert_eq!(s.status(), DeliveryStatus::Cancelled);
    }

    #[test]
    fn the_pickup_deadline_cancels_only_an_open_call() {
        let mut s = open();
        s.expire();
        assert_eq!(s.status(), DeliveryStatus::Cancelled);

        let mut picked = open();
        picked.pick_up(&rider("rider-1")).unwrap();
        picked.expire();
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
        s.payment_rejected("invalid amount");
        let v = s.view();
        assert_eq!(v.status, DeliveryStatus::Cancelled);
        assert_eq!(v.payment.status, PaymentStatus::Rejected);
        assert_eq!(v.payment.amount, None);
        assert!(s.compensated());
    }

    #[test]
    fn projection_sequence_numbers_increase_with_every_write() {
        let mut s = open();
        let a = s.next_projection(DateTime::UNIX_EPOCH);
        s.pick_up(&rider("rider-1")).unwrap();
        let b = s.next_projection(DateTime::UNIX_EPOCH);
        assert!(b.seq > a.seq);
        assert_eq!(b.row.status, DeliveryStatus::Picked);
        assert_eq!(b.row.rider_id, Some(rider("rider-1")));
    }

    #[test]
    fn an_operator_abort_cancels_a_picked_delivery_but_not_a_completed_one() {
        let mut s = open();
        s.pick_up(&rider("rider-1")).unwrap();
        s.abort("operator");
        assert_eq!(s.status(), DeliveryStatus::Cancelled);

        let mut done = open();
        done.pick_up(&rider("rider-1")).unwrap();
        done.complete(&rider("rider-1")).unwrap();
        done.abort("operator");
        assert_eq!(done.status(), DeliveryStatus::Completed);
    }
}
