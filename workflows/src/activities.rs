//! Declarations of the activities the workflow calls: names and payload types only.
//!
//! The `activities` crate implements each with `#[activity(definition = ...)]`, which checks
//! at compile time that its input and output types match these.

use temporalio_common::ActivityError;
use temporalio_macros::activity_definitions;

use crate::model::{
    AttentionNotice, DeliveryId, IssueInvoiceInput, MoneyDocument, OfferInput, OpenCall,
    PayRiderInput, PaymentRecord, Period, Projection, RegisterPaymentInput, RestaurantId, RiderId,
    SettleRequest,
};

/// Payment activities (task queue `payments`): calls to the payment service.
pub struct PaymentActivities;

#[activity_definitions]
impl PaymentActivities {
    /// Registers the fee; idempotent by delivery id.
    #[activity(name = "RegisterPayment")]
    pub fn register_payment(input: RegisterPaymentInput) -> Result<PaymentRecord, ActivityError> {
        unimplemented!()
    }

    /// Settles a registered payment to the rider once the delivery completes (or fails for a
    /// reason that pays the trip).
    #[activity(name = "SettlePayment")]
    pub fn settle_payment(request: SettleRequest) -> Result<PaymentRecord, ActivityError> {
        unimplemented!()
    }

    /// Voids a registered payment: the saga's compensation. A payment never registered is
    /// reported as `None`.
    #[activity(name = "VoidPayment")]
    pub fn void_payment(delivery_id: DeliveryId) -> Result<Option<PaymentRecord>, ActivityError> {
        unimplemented!()
    }

    /// The riders the agency owes something now: a payout run's candidates.
    #[activity(name = "ListRidersWithBalance")]
    pub fn list_riders_with_balance(_: ()) -> Result<Vec<RiderId>, ActivityError> {
        unimplemented!()
    }

    /// Pays a rider what it is due for a period, once per (rider, period).
    #[activity(name = "PayRider")]
    pub fn pay_rider(input: PayRiderInput) -> Result<Option<MoneyDocument>, ActivityError> {
        unimplemented!()
    }

    /// The restaurants with something to bill before the period's end: an invoice run's
    /// candidates.
    #[activity(name = "ListRestaurantsToInvoice")]
    pub fn list_restaurants_to_invoice(period: Period) -> Result<Vec<RestaurantId>, ActivityError> {
        unimplemented!()
    }

    /// Issues a restaurant's invoice for a period, once per (restaurant, period).
    #[activity(name = "IssueInvoice")]
    pub fn issue_invoice(input: IssueInvoiceInput) -> Result<Option<MoneyDocument>, ActivityError> {
        unimplemented!()
    }
}

/// Dispatch activities (task queue `dispatch`): the store of open calls riders read.
pub struct DispatchActivities;

#[activity_definitions]
impl DispatchActivities {
    /// Opens the call to riders: to every rider (the broadcast, or the fallback of offers).
    #[activity(name = "OfferCall")]
    pub fn offer_call(input: OpenCall) -> Result<(), ActivityError> {
        unimplemented!()
    }

    /// Offers the call to the best candidate (online, working in the zone, with a free
    /// place, not passed on it yet; fewest deliveries held, longest since the last one, then
    /// id) and returns it; `None` when there is nobody.
    #[activity(name = "OfferToRider")]
    pub fn offer_to_rider(input: OfferInput) -> Result<Option<RiderId>, ActivityError> {
        unimplemented!()
    }

    /// Takes the call off the riders' list (picked up or cancelled).
    #[activity(name = "WithdrawCall")]
    pub fn withdraw_call(delivery_id: DeliveryId) -> Result<(), ActivityError> {
        unimplemented!()
    }
}

/// Projection activities (task queue `projections`): the delivery list read model.
pub struct ProjectionActivities;

#[activity_definitions]
impl ProjectionActivities {
    /// Writes one delivery-list row, unless a newer one is already there.
    #[activity(name = "ProjectDelivery")]
    pub fn project_delivery(input: Projection) -> Result<(), ActivityError> {
        unimplemented!()
    }

    /// Tells operators (a log line and the `delivery_attention` metric) that a delivery
    /// waits for their decision. Touches no database, so it cannot fail for the reason the
    /// delivery stopped.
    #[activity(name = "ReportAttention")]
    pub fn report_attention(notice: AttentionNotice) -> Result<(), ActivityError> {
        unimplemented!()
    }
}

/// The declarations' marker types, for `#[activity(definition = ...)]` in implementations.
pub mod definitions {
    pub use super::{
        dispatch_activities::{OfferCall, OfferToRider, WithdrawCall},
        payment_activities::{
            IssueInvoice, ListRestaurantsToInvoice, ListRidersWithBalance, PayRider,
            RegisterPayment, SettlePayment, VoidPayment,
        },
        projection_activities::{ProjectDelivery, ReportAttention},
    };
}
