//! Riders' dispatch: availability and capacity, the calls a rider may take, and the
//! operators' view of the fleet. A rider holds a delivery from the moment its request to take
//! it reserves a place ([`reserve`]); capacity is counted in the dispatch store, atomically.

use std::collections::HashMap;

use axum::{Json, extract::State};
use chrono::{DateTime, Utc};
use domain::{
    AccountId, CallReach, Cost, DeliveryId, OpenCall, RestaurantId, RiderCapacity, RiderId,
    RiderZones, Text, Zone,
};
use identity::{Account, AccountPatch, Profile, RestaurantProfile, RiderProfile, Role};
use readmodel::{Reservation, RiderDispatch};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{
    AppState,
    auth::Caller,
    error::{ApiError, BadInput, ErrorBody},
    extract::{JsonBody, Query},
};

/// Most calls a rider's list shows at once, newest first.
const OPEN_CALLS_LIMIT: u64 = 200;

/// A rider's availability, as `GET` and `PUT /rider/availability` answer it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Availability {
    /// Whether the rider takes new calls; going offline keeps what it holds.
    online: bool,
    /// The zones it works in; empty = every zone.
    zones: RiderZones,
    /// Most deliveries it holds at once.
    capacity: RiderCapacity,
    /// The deliveries it holds (assigned or picked up), oldest first.
    #[schema(value_type = Vec<String>)]
    active: Vec<DeliveryId>,
}

/// `PUT /rider/availability` body.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct AvailabilityBody {
    online: bool,
    /// Replaces the rider's zones when given.
    #[serde(default)]
    zones: Option<RiderZones>,
    /// Replaces the rider's capacity when given.
    #[serde(default)]
    capacity: Option<RiderCapacity>,
}

/// The signed-in rider's availability.
#[utoipa::path(get, path = "/rider/availability", tag = "riders",
    responses(
        (status = 200, description = "the rider's availability", body = Availability),
        (status = 401, description = "no valid bearer token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "not a rider (`forbidden`)", body = ErrorBody),
    ))]
pub(crate) async fn get_availability(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<Availability>, ApiError> {
    let rider_id = caller.rider_id()?;
    let profile = rider_profile(&state, &rider_id).await?;
    let dispatch = state.inner.readmodel.rider_dispatch(&rider_id).await?;
    Ok(Json(availability(profile, dispatch)))
}

/// The signed-in rider goes online or offline, and may change its zones and capacity.
#[utoipa::path(put, path = "/rider/availability", tag = "riders",
    request_body = AvailabilityBody,
    responses(
        (status = 200, description = "the rider's availability, changed", body = Availability),
        BadInput,
        (status = 401, description = "no valid bearer token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "not a rider (`forbidden`)", body = ErrorBody),
    ))]
pub(crate) async fn put_availability(
    State(state): State<AppState>,
    Caller(caller): Caller,
    JsonBody(body): JsonBody<AvailabilityBody>,
) -> Result<Json<Availability>, ApiError> {
    let rider_id = caller.rider_id()?;
    let profile = match (body.zones, body.capacity) {
        (None, None) => rider_profile(&state, &rider_id).await?,
        (zones, capacity) => {
            let patch = AccountPatch {
                zones,
                capacity,
                ..AccountPatch::default()
            };
            let account = state
                .identity()
                .accounts
                .patch(&rider_id.clone().into(), patch)
                .await?;
            profile_of(account)?
        }
    };
    let dispatch = state
        .inner
        .readmodel
        .set_online(&rider_id, body.online)
        .await?;
    Ok(Json(availability(profile, dispatch)))
}

fn availability(profile: RiderProfile, dispatch: RiderDispatch) -> Availability {
    Availability {
        online: dispatch.online,
        zones: profile.zones,
        capacity: profile.capacity,
        active: dispatch.active,
    }
}

/// How a call reaches the rider.
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum CallKind {
    /// Open to every eligible rider: the first pickup wins.
    Broadcast,
    /// Offered to this rider alone until `expiresAt`: accept or decline it.
    Offer,
}

/// The restaurant on a call's card.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CallRestaurant {
    #[schema(value_type = String)]
    id: RestaurantId,
    name: Text,
    /// Where the rider picks the food up.
    pickup_address: Text,
}

/// A call the rider may take now.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RiderCall {
    #[schema(value_type = String)]
    delivery_id: DeliveryId,
    kind: CallKind,
    /// When an offer lapses; `null` for a broadcast call.
    expires_at: Option<DateTime<Utc>>,
    restaurant: CallRestaurant,
    destination: Text,
    cost: Cost,
    /// What the rider earns: the cost less the agency's commission.
    earning: i64,
    called_at: DateTime<Utc>,
}

/// The calls the signed-in rider may take now, newest first: the offers made to it, and the
/// calls open to every rider of restaurants in its zones. An offline rider, or one at
/// capacity, gets an empty list. Operators see every open call.
#[utoipa::path(get, path = "/rider/calls", tag = "riders",
    responses(
        (status = 200, description = "the calls the caller may take, newest first", body = [RiderCall]),
        (status = 401, description = "no valid bearer token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "a restaurant (`forbidden`)", body = ErrorBody),
    ))]
pub(crate) async fn open_calls(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<Vec<RiderCall>>, ApiError> {
    caller.require(&[Role::Rider, Role::Operator])?;
    let readmodel = &state.inner.readmodel;
    let rider_id: RiderId = caller.id.clone().into();
    let zones = match caller.role {
        Role::Rider => {
            let profile = rider_profile(&state, &rider_id).await?;
            let dispatch = readmodel.rider_dispatch(&rider_id).await?;
            let full = dispatch.active.len() >= usize::from(profile.capacity.get());
            if !dispatch.online || full {
                return Ok(Json(Vec::new()));
            }
            Some(profile.zones)
        }
        _ => None,
    };
    let for_rider = zones.as_ref().map(|_| (&rider_id, Utc::now()));
    let calls = readmodel.open_calls(OPEN_CALLS_LIMIT, for_rider).await?;
    let restaurants = restaurants_of(&state, calls.iter().map(|c| &c.call.restaurant_id)).await?;
    let cards = calls
        .into_iter()
        .filter_map(|open| {
            let (name, profile) = restaurants.get(open.call.restaurant_id.as_str())?;
            // An offer went to this rider by its zones already.
            let offered = matches!(open.reach, CallReach::Offer { .. });
            if !offered && zones.as_ref().is_some_and(|z| !z.covers(&profile.zone)) {
                return None;
            }
            Some(card(open, name.clone(), profile))
        })
        .collect();
    Ok(Json(cards))
}

fn card(open: OpenCall, name: Text, profile: &RestaurantProfile) -> RiderCall {
    let cost = open.call.cost;
    let (kind, expires_at) = match open.reach {
        CallReach::Offer { expires_at, .. } => (CallKind::Offer, Some(expires_at)),
        CallReach::Broadcast | CallReach::Unassigned { .. } => (CallKind::Broadcast, None),
    };
    RiderCall {
        earning: cost.won() - commission(cost, profile),
        delivery_id: open.call.delivery_id,
        kind,
        expires_at,
        restaurant: CallRestaurant {
            id: open.call.restaurant_id,
            name,
            pickup_address: profile.pickup_address.clone(),
        },
        destination: open.call.destination,
        cost,
        called_at: open.called_at,
    }
}

/// The agency's part of `cost`: `floor(cost × commissionBps / 10000)`.
fn commission(cost: Cost, profile: &RestaurantProfile) -> i64 {
    cost.won() * i64::from(profile.commission_bps.bps()) / 10_000
}

/// The name and profile of each restaurant of `restaurants`, by id (deleted ones left out).
pub(super) async fn restaurants_of<'a>(
    state: &AppState,
    restaurants: impl IntoIterator<Item = &'a RestaurantId>,
) -> Result<HashMap<String, (Text, RestaurantProfile)>, ApiError> {
    let mut ids: Vec<AccountId> = restaurants
        .into_iter()
        .map(|id| id.clone().into())
        .collect();
    ids.sort();
    ids.dedup();
    let accounts = state.identity().accounts.get_many(&ids).await?;
    Ok(accounts
        .into_values()
        .filter_map(|account| match account.profile {
            Profile::Restaurant(profile) => Some((account.id.to_string(), (account.name, profile))),
            _ => None,
        })
        .collect())
}

/// `GET /ops/riders` filters.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct FleetQuery {
    /// Only riders online (`true`) or offline (`false`).
    online: Option<bool>,
    /// Only riders working in this zone (riders of every zone included).
    zone: Option<Zone>,
}

/// One rider as the dispatcher sees it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FleetRider {
    #[schema(value_type = String)]
    id: RiderId,
    name: Text,
    online: bool,
    zones: RiderZones,
    capacity: RiderCapacity,
    /// The deliveries it holds, oldest first.
    #[schema(value_type = Vec<String>)]
    active: Vec<DeliveryId>,
    /// When it was last given a delivery.
    last_assigned_at: Option<DateTime<Utc>>,
}

/// The fleet: every rider with its availability and what it holds, by id.
#[utoipa::path(get, path = "/ops/riders", tag = "operations", params(FleetQuery),
    responses(
        (status = 200, description = "the riders, by id", body = [FleetRider]),
        (status = 401, description = "no valid bearer token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "not an operator (`forbidden`)", body = ErrorBody),
        (status = 422, description = "a filter that is not a boolean or a zone (`validation_failed`)", body = ErrorBody),
    ))]
pub(crate) async fn fleet(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(query): Query<FleetQuery>,
) -> Result<Json<Vec<FleetRider>>, ApiError> {
    caller.require(&[Role::Operator])?;
    let riders = state.identity().accounts.all(Role::Rider).await?;
    let mut dispatch = state.inner.readmodel.riders_dispatch(None).await?;
    let fleet = riders
        .into_iter()
        .filter_map(|account| {
            let state = dispatch.remove(account.id.as_str()).unwrap_or_default();
            let Profile::Rider(profile) = account.profile else {
                return None;
            };
            Some(FleetRider {
                id: account.id.into(),
                name: account.name,
                online: state.online,
                zones: profile.zones,
                capacity: profile.capacity,
                active: state.active,
                last_assigned_at: state.last_assigned_at,
            })
        })
        .filter(|r| query.online.is_none_or(|online| r.online == online))
        .filter(|r| query.zone.as_ref().is_none_or(|zone| r.zones.covers(zone)))
        .collect();
    Ok(Json(fleet))
}

/// The rider's attributes; `422` naming `riderId` when there is no such rider.
async fn rider_profile(state: &AppState, rider_id: &RiderId) -> Result<RiderProfile, ApiError> {
    match state
        .identity()
        .accounts
        .get(&rider_id.clone().into())
        .await
    {
        Ok(account) => profile_of(account),
        Err(identity::AccountError::NotFound(_)) => Err(ApiError::invalid(
            "riderId",
            format!("there is no rider {rider_id}"),
        )),
        Err(e) => Err(e.into()),
    }
}

fn profile_of(account: Account) -> Result<RiderProfile, ApiError> {
    match account.profile {
        Profile::Rider(profile) => Ok(profile),
        _ => Err(ApiError::invalid(
            "riderId",
            format!("account {} is not a rider", account.id),
        )),
    }
}

/// Who asks for a place in a rider's deliveries, which decides whether the rider must be
/// online: a rider taking a call must, an operator's assignment need not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Taker {
    Rider,
    Operator,
}

/// Reserves a place for `delivery_id` among `rider_id`'s deliveries before the request that
/// gives it to the rider goes to the workflow: `409 rider_offline` or `409
/// rider_at_capacity` when there is none. The caller gives it back ([`release`]) when the
/// workflow refuses the request.
pub(crate) async fn reserve(
    state: &AppState,
    delivery_id: &DeliveryId,
    rider_id: &RiderId,
    taker: Taker,
) -> Result<(), ApiError> {
    let profile = rider_profile(state, rider_id).await?;
    let reserved = state
        .inner
        .readmodel
        .reserve(
            delivery_id,
            rider_id,
            profile.capacity.get(),
            taker == Taker::Rider,
        )
        .await?;
    match reserved {
        Reservation::Reserved => Ok(()),
        Reservation::Offline => Err(ApiError::Refused {
            code: "rider_offline",
            message: "the rider is offline: go online to take calls".into(),
        }),
        Reservation::AtCapacity => Err(ApiError::Refused {
            code: "rider_at_capacity",
            message: format!(
                "the rider holds {} deliveries already, its capacity",
                profile.capacity.get()
            ),
        }),
    }
}

/// Gives back what [`reserve`] took for a request the workflow refused. Best effort: a place
/// left behind is freed when the delivery ends.
pub(crate) async fn release(state: &AppState, delivery_id: &DeliveryId, rider_id: &RiderId) {
    if let Err(e) = state.inner.readmodel.release(delivery_id, rider_id).await {
        tracing::warn!(error = %e, %delivery_id, %rider_id, "could not release a reservation");
    }
}
