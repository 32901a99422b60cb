//! A call in the dispatch store as stored, including withdrawal tombstones.

use sea_orm::entity::prelude::*;

/// The details are optional because a tombstone written by a withdrawal that
/// overtook its offer has none.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "open_calls")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub delivery_id: String,
    pub restaurant_id: Option<String>,
    pub destination: Option<String>,
    pub cost: Option<i64>,
    pub called_at: Option<ChronoDateTimeUtc>,
    pub withdrawn_at: Option<ChronoDateTimeUtc>,
    /// `broadcast`, `offer` or `unassigned` (see [`domain::CallReach`]).
    pub reach: String,
    /// The offer round the row was written for; older rounds never overwrite newer ones.
    pub offer_round: i32,
    pub offered_to: Option<String>,
    pub offer_expires_at: Option<ChronoDateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl From<&domain::OpenCall> for ActiveModel {
    fn from(c: &domain::OpenCall) -> Self {
        use domain::CallReach;
        use sea_orm::ActiveValue::Set;
        let (reach, offered_to, expires_at) = match &c.reach {
            CallReach::Broadcast => ("broadcast", None, None),
            CallReach::Offer {
                rider_id,
                expires_at,
                ..
            } => ("offer", Some(rider_id.to_string()), Some(*expires_at)),
            CallReach::Unassigned { .. } => ("unassigned", None, None),
        };
        Self {
            delivery_id: Set(c.call.delivery_id.to_string()),
            restaurant_id: Set(Some(c.call.restaurant_id.to_string())),
            destination: Set(Some(c.call.destination.to_string())),
            cost: Set(Some(c.call.cost.won())),
            called_at: Set(Some(c.called_at)),
            withdrawn_at: Set(None),
            reach: Set(reach.to_owned()),
            offer_round: Set(i32::try_from(c.reach.round()).unwrap_or(i32::MAX)),
            offered_to: Set(offered_to),
            offer_expires_at: Set(expires_at),
        }
    }
}

/// Only offers create open rows, and they set every detail; a live row without them, or with
/// details that no longer parse, was written by something else.
impl TryFrom<Model> for domain::OpenCall {
    type Error = crate::ReadModelError;

    fn try_from(m: Model) -> Result<Self, Self::Error> {
        let corrupt = |what: &str| {
            crate::ReadModelError::Corrupt(format!("open call {}: {what}", m.delivery_id))
        };
        let (Some(restaurant_id), Some(destination), Some(cost), Some(called_at)) =
            (&m.restaurant_id, &m.destination, m.cost, m.called_at)
        else {
            return Err(corrupt("no details"));
        };
        let round = u32::try_from(m.offer_round).map_err(|_| corrupt("bad offer round"))?;
        let reach = match (m.reach.as_str(), &m.offered_to, m.offer_expires_at) {
            ("broadcast", _, _) => domain::CallReach::Broadcast,
            ("offer", Some(rider_id), Some(expires_at)) => domain::CallReach::Offer {
                rider_id: rider_id.parse().map_err(|_| corrupt("bad rider"))?,
                expires_at,
                round,
            },
            ("unassigned", _, _) => domain::CallReach::Unassigned { round },
            _ => return Err(corrupt("bad reach")),
        };
        Ok(Self {
            call: domain::Call {
                delivery_id: m.delivery_id.parse().map_err(|_| corrupt("bad id"))?,
                restaurant_id: restaurant_id
                    .parse()
                    .map_err(|_| corrupt("bad restaurant"))?,
                destination: destination
                    .parse()
                    .map_err(|_| corrupt("bad destination"))?,
                cost: domain::Cost::new(cost).map_err(|_| corrupt("bad cost"))?,
            },
            called_at,
            reach,
        })
    }
}
