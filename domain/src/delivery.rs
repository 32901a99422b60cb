//! A delivery as every part of the system sees it: its call, its status, its row.

use std::{fmt, str::FromStr};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{AccountId, Cost, DeliveryId, DispatchMode, RestaurantId, RiderId, Text};

/// Where a delivery is in its life: `Called` → (`Assigned` →) `Picked` → `Completed` or
/// `Failed`, or → `Cancelled` before pickup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum DeliveryStatus {
    /// A restaurant called for a rider; the call is open.
    Called,
    /// One rider holds the call (it accepted an offer, or an operator assigned it) and is on
    /// its way to the restaurant; only that rider may pick the food up.
    Assigned,
    /// A rider picked the food up.
    Picked,
    /// The rider delivered.
    Completed,
    /// The rider could not hand the food over, for a [`FailureReason`].
    Failed,
    /// The delivery was cancelled before pickup (by the restaurant, an operator or the
    /// pickup deadline).
    Cancelled,
}

impl DeliveryStatus {
    /// Every status, in life-cycle order.
    pub const ALL: [DeliveryStatus; 6] = [
        DeliveryStatus::Called,
        DeliveryStatus::Assigned,
        DeliveryStatus::Picked,
        DeliveryStatus::Completed,
        DeliveryStatus::Failed,
        DeliveryStatus::Cancelled,
    ];

    /// The name used in JSON, search attributes and the delivery list, e.g. `"Called"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Called => "Called",
            Self::Assigned => "Assigned",
            Self::Picked => "Picked",
            Self::Completed => "Completed",
            Self::Failed => "Failed",
            Self::Cancelled => "Cancelled",
        }
    }

    /// Whether a rider holds the delivery (what counts against its capacity).
    pub fn is_held(self) -> bool {
        matches!(self, Self::Assigned | Self::Picked)
    }

    /// Whether the delivery's life is over (nothing moves it on but an operator's decision).
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}

impl fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was not the name of a [`DeliveryStatus`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("must be one of Called, Assigned, Picked, Completed, Failed, Cancelled")]
pub struct ParseStatusError;

impl FromStr for DeliveryStatus {
    type Err = ParseStatusError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or(ParseStatusError)
    }
}

/// The fee's state as the delivery knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum PaymentStatus {
    /// Registration has not been confirmed yet (e.g. the payment side is down).
    Pending,
    Registered,
    Settled,
    Voided,
    /// Payment refused the registration: no money moved and the delivery ended.
    Rejected,
}

/// Why a rider could not hand a picked-up delivery over. The reason decides the money: the
/// first three settle (the rider made the trip), `damaged` voids the fee, `other` waits for an
/// operator's decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    CustomerUnreachable,
    AddressNotFound,
    CustomerRefused,
    Damaged,
    Other,
}

/// What a failed delivery does with its fee.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureMoney {
    /// Settled to the rider: the trip was made, the restaurant pays.
    Settle,
    /// Voided: no fee (claims go through adjustments).
    Void,
    /// Kept registered until an operator decides (`resolve` with `settle` or `void`).
    Decide,
}

impl FailureReason {
    /// Every reason.
    pub const ALL: [FailureReason; 5] = [
        FailureReason::CustomerUnreachable,
        FailureReason::AddressNotFound,
        FailureReason::CustomerRefused,
        FailureReason::Damaged,
        FailureReason::Other,
    ];

    /// The name in JSON, search attributes and the delivery list, e.g. `customer_refused`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CustomerUnreachable => "customer_unreachable",
            Self::AddressNotFound => "address_not_found",
            Self::CustomerRefused => "customer_refused",
            Self::Damaged => "damaged",
            Self::Other => "other",
        }
    }

    /// What happens to the fee.
    pub fn money(self) -> FailureMoney {
        match self {
            Self::CustomerUnreachable | Self::AddressNotFound | Self::CustomerRefused => {
                FailureMoney::Settle
            }
            Self::Damaged => FailureMoney::Void,
            Self::Other => FailureMoney::Decide,
        }
    }
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was not the name of a [`FailureReason`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("must be one of customer_unreachable, address_not_found, customer_refused, damaged, other")]
pub struct ParseFailureReasonError;

impl FromStr for FailureReason {
    type Err = ParseFailureReasonError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|reason| reason.as_str() == s)
            .ok_or(ParseFailureReasonError)
    }
}

/// Why a delivery failed, as the rider said.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryFailure {
    pub reason: FailureReason,
    pub note: Option<Text>,
}

/// When each step of a delivery happened (`null` until it has).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Timeline {
    /// When the call went out to riders (its fee registered).
    pub called_at: Option<DateTime<Utc>>,
    /// When a rider was last given the call (an accepted offer, or an operator's assignment);
    /// a broadcast pickup assigns and picks up at once.
    pub assigned_at: Option<DateTime<Utc>>,
    pub picked_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
}

/// One time the delivery went to a rider: a pickup from the broadcast, an accepted offer or
/// an operator's (re)assignment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Assignment {
    pub rider_id: RiderId,
    pub at: DateTime<Utc>,
    /// Who made it: the rider itself, or the operator who assigned it.
    pub by: AccountId,
}

/// What a restaurant called for: the facts of a delivery that never change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Call {
    pub delivery_id: DeliveryId,
    pub restaurant_id: RestaurantId,
    /// Where the food goes.
    pub destination: Text,
    pub cost: Cost,
}

/// One delivery as the delivery list shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryRow {
    #[serde(flatten)]
    pub call: Call,
    pub status: DeliveryStatus,
    /// The rider who picked the call up, once one has.
    pub rider_id: Option<RiderId>,
    /// The amount settled, once settled.
    pub settled: Option<i64>,
    /// Why it failed, once `Failed`.
    #[serde(default)]
    pub failure_reason: Option<FailureReason>,
    /// When the delivery last changed.
    pub updated_at: DateTime<Utc>,
}

/// A write to the delivery list: the row and its per-delivery sequence number. Writes of one
/// delivery carry increasing `seq`; the list keeps the row with the highest `seq` it has seen,
/// whatever order writes arrive in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Projection {
    #[serde(flatten)]
    pub row: DeliveryRow,
    /// Position of this state in the delivery's history; higher is newer.
    pub seq: i64,
    /// The whole view at this state, kept beside the row so that reading a delivery never
    /// asks its workflow (absent from writes made before views were kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view: Option<Box<StoredView>>,
}

impl Projection {
    pub fn new(row: DeliveryRow, seq: i64) -> Self {
        Self {
            row,
            seq,
            view: None,
        }
    }
}

/// A delivery's view as its workflow last wrote it, with what changes later without a write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoredView {
    pub view: DeliveryView,
    /// When the delivery becomes overdue if it is still held then (the workflow flags it on
    /// a timer without writing the list): set while it is picked up and not yet overdue.
    #[serde(default)]
    pub overdue_at: Option<DateTime<Utc>>,
}

impl StoredView {
    /// The view as of `now`.
    pub fn at(self, now: DateTime<Utc>) -> DeliveryView {
        let mut view = self.view;
        if view.status == DeliveryStatus::Picked && self.overdue_at.is_some_and(|due| now >= due) {
            view.overdue = true;
        }
        view
    }
}

/// A call open to riders: a delivery waiting for pickup.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OpenCall {
    #[serde(flatten)]
    pub call: Call,
    /// When the restaurant called.
    pub called_at: DateTime<Utc>,
    /// Which riders see it (left out for the broadcast, so its payloads are as before).
    #[serde(default, skip_serializing_if = "CallReach::is_broadcast")]
    pub reach: CallReach,
}

/// Which riders see an open call.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum CallReach {
    /// Every online rider whose zones include the restaurant's: the first pickup wins.
    #[default]
    Broadcast,
    /// Only `rider_id`, until `expires_at`: the `round`th offer of the call.
    #[serde(rename_all = "camelCase")]
    Offer {
        rider_id: RiderId,
        expires_at: DateTime<Utc>,
        round: u32,
    },
    /// Offers ran out after `round` of them (or found nobody): open to every rider like the
    /// broadcast, and flagged for operators.
    Unassigned { round: u32 },
}

impl CallReach {
    pub fn is_broadcast(&self) -> bool {
        matches!(self, Self::Broadcast)
    }

    /// The offer round this reach belongs to (0 for the broadcast): a write of an older round
    /// never overwrites a newer one.
    pub fn round(&self) -> u32 {
        match self {
            Self::Broadcast => 0,
            Self::Offer { round, .. } | Self::Unassigned { round } => *round,
        }
    }
}

/// How a call reaches riders and how its offers went: the view's `dispatch`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DispatchSummary {
    /// The restaurant's dispatch mode when it called.
    pub mode: DispatchMode,
    /// Offers made so far (0 in broadcast mode).
    pub round: u32,
    /// Offers declined or let lapse.
    pub declines: u32,
    /// The offers ran out (rounds spent, or nobody to offer it to): the call is open to every
    /// rider and nobody has taken it yet.
    pub unassigned: bool,
    /// The offer riders are waiting on: to whom, until when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer: Option<PendingOffer>,
}

/// An offer waiting for its rider's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PendingOffer {
    pub rider_id: RiderId,
    pub expires_at: DateTime<Utc>,
}

/// The `payment` object of a delivery.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentSummary {
    pub status: PaymentStatus,
    /// The registered fee; absent while pending or when payment refused it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<i64>,
}

/// The live state of one delivery, as `GET /deliveries/{id}` and every transition answer it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    #[serde(flatten)]
    pub call: Call,
    pub status: DeliveryStatus,
    pub rider_id: Option<RiderId>,
    pub payment: PaymentSummary,
    /// The agency's part of the fee, fixed at the call (`floor(cost × commissionBps / 10000)`);
    /// the rider earns the rest. `null` until known.
    #[serde(default)]
    pub commission: Option<i64>,
    /// The settled amount once the payment is settled, else `null`.
    pub settled: Option<i64>,
    /// Why the delivery was cancelled, when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_reason: Option<String>,
    /// True once the rider held the food past the completion deadline.
    #[serde(default)]
    pub overdue: bool,
    /// Set while the delivery cannot move on by itself and waits for an operator's decision
    /// (`POST /deliveries/{id}/resolve`), else `null`.
    #[serde(default)]
    pub attention: Option<Attention>,
    /// Why the rider could not deliver, once `Failed`.
    #[serde(default)]
    pub failure: Option<DeliveryFailure>,
    #[serde(default)]
    pub timeline: Timeline,
    /// Every rider the delivery went to, oldest first.
    #[serde(default)]
    pub assignments: Vec<Assignment>,
    #[serde(default)]
    pub dispatch: DispatchSummary,
}

/// Why a delivery waits for an operator, and since when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Attention {
    /// What failed, for people to read (e.g. `settle payment: refused: …`).
    pub reason: String,
    pub since: DateTime<Utc>,
}

/// An operator's decision on a delivery that waits for one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Resolution {
    /// Run the step that failed again.
    Retry,
    /// Settle the fee to the rider holding the delivery; it ends `Completed` (a failed
    /// delivery stays `Failed`).
    Settle,
    /// Void the fee; the delivery ends `Cancelled` (a failed delivery stays `Failed`).
    Void,
}

impl Resolution {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Retry => "retry",
            Self::Settle => "settle",
            Self::Void => "void",
        }
    }
}

impl DeliveryView {
    /// What a caller can be told before the workflow has answered: called, payment pending.
    pub fn pending(call: Call) -> Self {
        Self {
            call,
            status: DeliveryStatus::Called,
            rider_id: None,
            payment: PaymentSummary {
                status: PaymentStatus::Pending,
                amount: None,
            },
            commission: None,
            settled: None,
            cancel_reason: None,
            overdue: false,
            attention: None,
            failure: None,
            timeline: Timeline::default(),
            assignments: Vec::new(),
            dispatch: DispatchSummary::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn call() -> Call {
        Call {
            delivery_id: DeliveryId::parse("d-1").unwrap(),
            restaurant_id: RestaurantId::parse("r-1").unwrap(),
            destination: Text::parse("1 main st").unwrap(),
            cost: Cost::new(1200).unwrap(),
        }
    }

    fn row() -> DeliveryRow {
        DeliveryRow {
            call: call(),
            status: DeliveryStatus::Picked,
            rider_id: Some(RiderId::parse("rider-1").unwrap()),
            settled: None,
            failure_reason: None,
            updated_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        }
    }

    #[test]
    fn every_status_round_trips_through_its_name() {
        for status in DeliveryStatus::ALL {
            assert_eq!(status.to_string().parse(), Ok(status));
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
        assert_eq!("called".parse::<DeliveryStatus>(), Err(ParseStatusError));
    }

    #[test]
    fn a_delivery_row_serializes_flat_with_camel_case_fields() {
        assert_eq!(
            serde_json::to_value(row()).unwrap(),
            serde_json::json!({
                "deliveryId": "d-1",
                "restaurantId": "r-1",
                "destination": "1 main st",
                "cost": 1200,
                "status": "Picked",
                "riderId": "rider-1",
                "settled": null,
                "failureReason": null,
                "updatedAt": "2027-01-15T08:00:00Z",
            })
        );
    }

    #[test]
    fn a_projection_is_its_row_plus_seq_and_round_trips() {
        let projection = Projection::new(row(), 3);
        let json = serde_json::to_value(&projection).unwrap();
        assert_eq!(json["deliveryId"], "d-1");
        assert_eq!(json["seq"], 3);
        assert_eq!(
            serde_json::from_value::<Projection>(json).unwrap(),
            projection
        );
    }

    #[test]
    fn a_stored_view_turns_overdue_when_its_time_comes_and_only_while_picked_up() {
        let due: DateTime<Utc> = "2027-01-15T10:00:00Z".parse().unwrap();
        let stored = |status| {
            let mut view = DeliveryView::pending(call());
            view.status = status;
            StoredView {
                view,
                overdue_at: Some(due),
            }
        };
        let before = due - chrono::Duration::seconds(1);
        assert!(!stored(DeliveryStatus::Picked).at(before).overdue);
        assert!(stored(DeliveryStatus::Picked).at(due).overdue);
        assert!(!stored(DeliveryStatus::Completed).at(due).overdue);
        let never = StoredView {
            overdue_at: None,
            ..stored(DeliveryStatus::Picked)
        };
        assert!(!never.at(due).overdue);
    }

    #[test]
    fn the_view_serialises_as_the_contract_says() {
        let mut view = DeliveryView::pending(call());
        view.payment = PaymentSummary {
            status: PaymentStatus::Registered,
            amount: Some(1200),
        };
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(json["deliveryId"], "d-1");
        assert_eq!(json["status"], "Called");
        assert_eq!(json["payment"]["status"], "Registered");
        assert_eq!(json["payment"]["amount"], 1200);
        assert!(json["settled"].is_null());
        assert!(json["riderId"].is_null());
        assert!(json.get("cancelReason").is_none());
    }

    #[test]
    fn a_row_with_a_bad_field_does_not_deserialize() {
        let mut json = serde_json::to_value(row()).unwrap();
        json["riderId"] = "bad rider".into();
        assert!(serde_json::from_value::<DeliveryRow>(json).is_err());
    }
}
