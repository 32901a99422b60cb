//! The data that crosses the workflow boundary: its input, its update requests, and the
//! payment activities' payloads. The delivery itself (call, row, view, statuses) is the
//! `domain` crate's; it is re-exported here for the workflow's callers.
//!
//! JSON is camelCase and money an integer number of KRW, as in the public contract.

use serde::{Deserialize, Serialize};

pub use domain::{
    AccountId, Assignment, Attention, Call, CallReach, CommissionBps, Cost, CustomerId,
    DeliveryFailure, DeliveryId, DeliveryRow, DeliveryStatus, DeliveryView, DispatchMode,
    DispatchSummary, FailureMoney, FailureReason, OpenCall, PaymentStatus, PaymentSummary,
    PendingOffer, Period, PeriodLength, Projection, Resolution, RestaurantId, RiderId, StoredView,
    Text, Timeline, Zone,
};

/// Workflow input: what a restaurant asked for, plus optional deadline overrides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryInput {
    #[serde(flatten)]
    pub call: Call,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<domain::CustomerId>,
    /// Seconds a call stays open before it is cancelled for want of a rider (default 30 min).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pickup_deadline_secs: Option<u64>,
    /// Seconds after pickup before the delivery is marked overdue (default 2 h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_deadline_secs: Option<u64>,
    /// Seconds a failing step is retried before the delivery is flagged for operators
    /// (default 15 min).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_budget_secs: Option<u64>,
    /// Offer dispatch (the restaurant's `dispatchMode: offer`); absent for the broadcast.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offers: Option<OfferPlan>,
    /// The restaurant's commission rate when it called, fixed for the delivery (the payment
    /// service's default when absent: calls made before commissions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commission_bps: Option<CommissionBps>,
}

/// How a call in offer mode is offered: to one rider at a time, each offer lapsing after
/// `timeout_secs`, at most `rounds` offers before the call goes to every rider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OfferPlan {
    /// The restaurant's zone: candidates are riders working in it.
    pub zone: Zone,
    pub timeout_secs: u64,
    pub rounds: u32,
}

/// Input of `OfferToRider`: the call, who may not get it again, and the offer to make.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OfferInput {
    pub call: OpenCall,
    pub zone: Zone,
    /// Riders who declined or let an offer of this call lapse.
    pub excluded: Vec<RiderId>,
    pub round: u32,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// Input of the `decline` update: the offered rider passes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeclineRequest {
    pub rider_id: RiderId,
    #[serde(default)]
    pub reason: Option<Text>,
    /// See [`Expiry`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<i64>,
}

/// Input of the `pickup` and `complete` updates and the `picked` and `completed` signals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RiderRequest {
    pub rider_id: RiderId,
    /// See [`Expiry`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<i64>,
}

/// Input of the `cancel` update and signal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelRequest {
    #[serde(default)]
    pub reason: Option<Text>,
    /// See [`Expiry`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<i64>,
}

/// Input of the `resolve` update: an operator's decision on a delivery that waits for one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolveRequest {
    pub outcome: Resolution,
    /// Why, for the record.
    #[serde(default)]
    pub note: Option<Text>,
    /// The operator deciding.
    pub operator_id: domain::AccountId,
    /// See [`Expiry`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<i64>,
}

/// Input of the `fail` update: the rider holding a picked-up delivery cannot hand it over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailRequest {
    pub rider_id: RiderId,
    pub reason: FailureReason,
    #[serde(default)]
    pub note: Option<Text>,
    /// See [`Expiry`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<i64>,
}

/// Input of the `reassign` update: an operator gives the delivery to another rider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReassignRequest {
    /// The rider it goes to.
    pub rider_id: RiderId,
    #[serde(default)]
    pub reason: Option<Text>,
    /// The operator reassigning.
    pub operator_id: AccountId,
    /// See [`Expiry`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<i64>,
}

/// What the saga reports when a delivery is flagged for operators (`ReportAttention`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttentionNotice {
    pub delivery_id: DeliveryId,
    /// The step that failed, e.g. `settle payment`.
    pub step: String,
    pub reason: String,
    /// Since when it waits (left out by workflows from before views were kept).
    #[serde(default)]
    pub since: Option<chrono::DateTime<chrono::Utc>>,
}

/// An update sent while no worker polls is kept by the server and delivered when a worker
/// returns, long after the client gave up (and told its caller "nothing changed"). A request
/// may therefore carry the time, in milliseconds since the Unix epoch, after which it must
/// not be applied; the workflow refuses it when its own clock has passed that time.
pub trait Expiry {
    fn expires_at_ms(&self) -> Option<i64>;

    /// `Err` when the request arrived after its deadline (by workflow time `now_ms`).
    fn check_fresh(&self, now_ms: i64) -> Result<(), Rejection> {
        match self.expires_at_ms() {
            Some(deadline) if now_ms > deadline => Err(Rejection::expired(
                "the request arrived after its sender stopped waiting",
            )),
            _ => Ok(()),
        }
    }
}

impl Expiry for RiderRequest {
    fn expires_at_ms(&self) -> Option<i64> {
        self.expires_at_ms
    }
}

impl Expiry for ResolveRequest {
    fn expires_at_ms(&self) -> Option<i64> {
        self.expires_at_ms
    }
}

impl Expiry for FailRequest {
    fn expires_at_ms(&self) -> Option<i64> {
        self.expires_at_ms
    }
}

impl Expiry for ReassignRequest {
    fn expires_at_ms(&self) -> Option<i64> {
        self.expires_at_ms
    }
}

impl Expiry for DeclineRequest {
    fn expires_at_ms(&self) -> Option<i64> {
        self.expires_at_ms
    }
}

impl Expiry for CancelRequest {
    fn expires_at_ms(&self) -> Option<i64> {
        self.expires_at_ms
    }
}

/// Why an update was refused. The validator's message is `"{code}: {message}"`, so a client
/// can map it back with [`Rejection::parse`] and answer 409 or 403.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub kind: RejectionKind,
    pub message: String,
}

/// The HTTP-relevant class of a refused update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectionKind {
    /// The delivery is in the wrong state for this request (409).
    Conflict,
    /// Another rider holds this delivery (403).
    Forbidden,
    /// The request came after its sender stopped waiting (see [`Expiry`]).
    Expired,
    /// The caller repeated a transition it already made: nothing to do, and refusing it in
    /// the validator keeps it out of the history. The caller answers with the current state.
    Unchanged,
    /// The delivery took more updates than any delivery needs (429).
    TooManyUpdates,
}

impl RejectionKind {
    pub const ALL: [RejectionKind; 5] = [
        RejectionKind::Conflict,
        RejectionKind::Forbidden,
        RejectionKind::Expired,
        RejectionKind::Unchanged,
        RejectionKind::TooManyUpdates,
    ];

    fn code(self) -> &'static str {
        match self {
            Self::Conflict => "conflict",
            Self::Forbidden => "forbidden",
            Self::Expired => "expired",
            Self::Unchanged => "unchanged",
            Self::TooManyUpdates => "too_many_updates",
        }
    }
}

impl Rejection {
    pub fn conflict(message: impl Into<String>) -> Self {
        Self {
            kind: RejectionKind::Conflict,
            message: message.into(),
        }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self {
            kind: RejectionKind::Forbidden,
            message: message.into(),
        }
    }

    pub fn expired(message: impl Into<String>) -> Self {
        Self {
            kind: RejectionKind::Expired,
            message: message.into(),
        }
    }

    pub fn unchanged(message: impl Into<String>) -> Self {
        Self {
            kind: RejectionKind::Unchanged,
            message: message.into(),
        }
    }

    pub fn too_many_updates(message: impl Into<String>) -> Self {
        Self {
            kind: RejectionKind::TooManyUpdates,
            message: message.into(),
        }
    }

    /// Reads a rejection back from an update failure message; `None` when it is not one of ours.
    pub fn parse(text: &str) -> Option<Self> {
        let (code, message) = text.split_once(": ")?;
        let kind = RejectionKind::ALL.into_iter().find(|k| k.code() == code)?;
        Some(Self {
            kind,
            message: message.to_owned(),
        })
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.code(), self.message)
    }
}

impl std::error::Error for Rejection {}

/// Input of `RegisterPayment`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterPaymentInput {
    pub delivery_id: DeliveryId,
    pub amount: i64,
    /// Who pays. Absent only in registrations scheduled before the double-entry ledger,
    /// which book to the `legacy` restaurant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restaurant_id: Option<RestaurantId>,
    /// The commission rate fixed at the call (the deployment's default when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commission_bps: Option<CommissionBps>,
}

/// Input of `SettlePayment`: the fee goes to the rider who completed (or failed) the delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettleInput {
    pub delivery_id: DeliveryId,
    pub rider_id: RiderId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<FailureReason>,
}

/// What a `SettlePayment` task carries: today a [`SettleInput`]; a bare delivery id in tasks
/// scheduled before settlements named their rider (paid to the `legacy` rider).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SettleRequest {
    ToRider(SettleInput),
    Legacy(DeliveryId),
}

/// What a payout or invoice run is started with (by its Schedule): how long its periods are.
/// Each run settles the period that ended last before it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MoneyRunInput {
    pub period: PeriodLength,
}

/// Input of `PayRider`: one rider's payout for one period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PayRiderInput {
    pub rider_id: RiderId,
    pub period: Period,
}

/// Input of `IssueInvoice`: one restaurant's invoice for one period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IssueInvoiceInput {
    pub restaurant_id: RestaurantId,
    pub period: Period,
}

/// What one payout or invoice of a run came to: `None` amount when there was nothing to pay or
/// bill; `document` is the payout id or the invoice number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MoneyDocument {
    pub document: String,
    pub amount: i64,
}

/// What a payout or invoice run did: its period, the documents made (or found made by an
/// earlier attempt), their total, and the accounts it could not settle (an operator looks).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MoneyRunReport {
    pub period: Period,
    pub documents: u32,
    pub total: i64,
    pub failed: Vec<String>,
}

/// What the payment service holds for a delivery, as the payment activities return it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRecord {
    pub delivery_id: DeliveryId,
    pub amount: i64,
    pub status: PaymentStatus,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rejection_survives_the_round_trip_through_its_message() {
        let r = Rejection::forbidden("delivery is held by rider-1");
        assert_eq!(Rejection::parse(&r.to_string()), Some(r));
    }

    #[test]
    fn a_request_past_its_deadline_is_refused_and_one_without_a_deadline_never_is() {
        let req = RiderRequest {
            rider_id: RiderId::parse("r").unwrap(),
            expires_at_ms: Some(1_000),
        };
        assert!(req.check_fresh(1_000).is_ok());
        assert_eq!(
            req.check_fresh(1_001).unwrap_err().kind,
            RejectionKind::Expired
        );
        let open = CancelRequest {
            reason: None,
            expires_at_ms: None,
        };
        assert!(open.check_fresh(i64::MAX).is_ok());
    }

    #[test]
    fn every_kind_of_rejection_survives_the_round_trip() {
        for kind in RejectionKind::ALL {
            let r = Rejection {
                kind,
                message: "why".into(),
            };
            assert_eq!(Rejection::parse(&r.to_string()), Some(r));
        }
    }

    #[test]
    fn a_foreign_failure_message_is_not_a_rejection() {
        assert_eq!(Rejection::parse("workflow not found"), None);
        assert_eq!(Rejection::parse("boom: it broke"), None);
    }
}
