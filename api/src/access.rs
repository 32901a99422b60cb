//! Who sees which delivery: the contract's table, in one place. A delivery the caller may not
//! see is answered exactly as an unknown one (`404`), so ids of other tenants leak nothing.

use domain::{Call, DeliveryStatus, DeliveryView, DispatchMode, RiderId};
use identity::{Principal, Role};

/// Whether `caller` may see a delivery of `call`, in `status`, held (or last held) by
/// `rider`: operators every one, a restaurant its own, a rider those it holds or held and
/// the calls still open to every rider.
pub(crate) fn may_see(
    caller: &Principal,
    call: &Call,
    status: DeliveryStatus,
    rider: Option<&RiderId>,
) -> bool {
    match caller.role {
        Role::Operator => true,
        Role::Restaurant => call.restaurant_id.as_str() == caller.id.as_str(),
        Role::Rider => {
            status == DeliveryStatus::Called
                || rider.is_some_and(|rider| rider.as_str() == caller.id.as_str())
        }
    }
}

/// [`may_see`] for a delivery's live view, which also knows how its call is offered: while a
/// call in offer mode goes to one rider at a time, only the rider it is offered to sees it
/// among the riders.
pub(crate) fn may_see_view(caller: &Principal, view: &DeliveryView) -> bool {
    let offered_elsewhere = view.status == DeliveryStatus::Called
        && view.dispatch.mode == DispatchMode::Offer
        && !view.dispatch.unassigned
        && view
            .dispatch
            .offer
            .as_ref()
            .is_none_or(|offer| offer.rider_id.as_str() != caller.id.as_str());
    if caller.role == Role::Rider && offered_elsewhere {
        return false;
    }
    may_see(caller, &view.call, view.status, view.rider_id.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call() -> Call {
        serde_json::from_value(serde_json::json!({
            "deliveryId": "d-1", "restaurantId": "r-1", "destination": "Seoul", "cost": 1000
        }))
        .unwrap()
    }

    fn caller(id: &str, role: Role) -> Principal {
        Principal::new(id.parse().unwrap(), role)
    }

    #[test]
    fn each_role_sees_what_the_contract_says() {
        let call = call();
        let rider_7: RiderId = "rider-7".parse().unwrap();
        let picked = |who: &Principal| may_see(who, &call, DeliveryStatus::Picked, Some(&rider_7));
        let open = |who: &Principal| may_see(who, &call, DeliveryStatus::Called, None);
        assert!(picked(&caller("ops-1", Role::Operator)));
        assert!(picked(&caller("r-1", Role::Restaurant)));
        assert!(!picked(&caller("r-2", Role::Restaurant)));
        assert!(picked(&caller("rider-7", Role::Rider)));
        assert!(!picked(&caller("rider-8", Role::Rider)));
        assert!(open(&caller("rider-8", Role::Rider)));
        assert!(!open(&caller("r-2", Role::Restaurant)));
    }

    #[test]
    fn a_call_offered_to_one_rider_is_seen_by_that_rider_only() {
        let mut view = DeliveryView::pending(call());
        view.dispatch.mode = DispatchMode::Offer;
        view.dispatch.offer = Some(domain::PendingOffer {
            rider_id: "rider-7".parse().unwrap(),
            expires_at: chrono::DateTime::UNIX_EPOCH,
        });
        assert!(may_see_view(&caller("rider-7", Role::Rider), &view));
        assert!(!may_see_view(&caller("rider-8", Role::Rider), &view));
        assert!(may_see_view(&caller("r-1", Role::Restaurant), &view));
        // Once the offers ran out, the call is every rider's again.
        view.dispatch.offer = None;
        view.dispatch.unassigned = true;
        assert!(may_see_view(&caller("rider-8", Role::Rider), &view));
    }
}
