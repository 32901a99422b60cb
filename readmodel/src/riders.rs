//! The riders' side of the dispatch store: who is online and which deliveries each holds.
//!
//! A rider holds a delivery from the moment a request to take it (a pickup from the
//! broadcast, an accepted offer, an operator's assignment) reserves a place, until the
//! delivery list shows it with another rider or ended. [`ReadModel::reserve`] is the only way
//! in, and it never lets a rider hold more than its capacity, however many requests race:
//! it locks the rider's availability row first (PostgreSQL's row lock, SQLite's write lock),
//! so counting and inserting happen one request after another. [`ReadModel::project`] keeps
//! the rows true to the workflow (the holder's row stays, others go, an ended delivery's go)
//! in the same transaction as the row it writes.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};

use crate::entity::{rider_assignments, rider_availability};
use crate::{DeliveryId, ReadModel, ReadModelError};
use domain::{DeliveryRow, RiderId};

/// A rider's dispatch state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RiderDispatch {
    /// Whether the rider takes new calls. A rider who never went offline is online: the
    /// agency's riders work from their first sign-in until they say otherwise.
    pub online: bool,
    /// The deliveries the rider holds (assigned or picked up), oldest first.
    pub active: Vec<DeliveryId>,
    /// When the rider was last given a delivery.
    pub last_assigned_at: Option<DateTime<Utc>>,
}

impl Default for RiderDispatch {
    fn default() -> Self {
        Self {
            online: true,
            active: Vec::new(),
            last_assigned_at: None,
        }
    }
}

/// What [`ReadModel::reserve`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reservation {
    /// The rider holds a place for the delivery (also when it already did).
    Reserved,
    /// The rider is offline and the request needs an online rider.
    Offline,
    /// The rider holds as many deliveries as its capacity allows.
    AtCapacity,
}

impl ReadModel {
    /// Sets whether `rider_id` takes new calls; what it holds stays.
    pub async fn set_online(
        &self,
        rider_id: &RiderId,
        online: bool,
    ) -> Result<RiderDispatch, ReadModelError> {
        use rider_availability::Column;
        rider_availability::Entity::insert(availability_row(rider_id, online, Utc::now()))
            .on_conflict(
                OnConflict::column(Column::RiderId)
                    .update_columns([Column::Online, Column::UpdatedAt])
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await?;
        self.rider_dispatch(rider_id).await
    }

    /// The dispatch state of `rider_id`.
    pub async fn rider_dispatch(
        &self,
        rider_id: &RiderId,
    ) -> Result<RiderDispatch, ReadModelError> {
        let mut all = self.riders_dispatch(Some(rider_id)).await?;
        Ok(all.remove(rider_id.as_str()).unwrap_or_default())
    }

    /// The dispatch state of every rider that has one (`only`: of that rider), by rider id.
    /// Riders missing from the map are online and hold nothing.
    pub async fn riders_dispatch(
        &self,
        only: Option<&RiderId>,
    ) -> Result<BTreeMap<String, RiderDispatch>, ReadModelError> {
        let mut availability = rider_availability::Entity::find();
        let mut assignments =
            rider_assignments::Entity::find().order_by_asc(rider_assignments::Column::Since);
        if let Some(rider_id) = only {
            availability =
                availability.filter(rider_availability::Column::RiderId.eq(rider_id.as_str()));
            assignments =
                assignments.filter(rider_assignments::Column::RiderId.eq(rider_id.as_str()));
        }
        let mut riders: BTreeMap<String, RiderDispatch> = BTreeMap::new();
        for row in availability.all(&self.db).await? {
            riders.insert(
                row.rider_id,
                RiderDispatch {
                    online: row.online,
                    active: Vec::new(),
                    last_assigned_at: row.last_assigned_at,
                },
            );
        }
        for row in assignments.all(&self.db).await? {
            let delivery_id = row.delivery_id.parse().map_err(|e| {
                ReadModelError::Corrupt(format!("assignment of {}: {e}", row.rider_id))
            })?;
            riders
                .entry(row.rider_id)
                .or_default()
                .active
                .push(delivery_id);
        }
        Ok(riders)
    }

    /// Reserves a place for `delivery_id` among the deliveries `rider_id` holds, unless it
    /// holds `capacity` already (or, with `need_online`, is offline). Reserving again what
    /// the rider holds is [`Reservation::Reserved`]. Atomic under any concurrency (see the
    /// module's documentation).
    pub async fn reserve(
        &self,
        delivery_id: &DeliveryId,
        rider_id: &RiderId,
        capacity: u8,
        need_online: bool,
    ) -> Result<Reservation, ReadModelError> {
        use rider_assignments::Column;
        let now = Utc::now();
        let txn = self.db.begin().await?;
        // The lock: a write to the rider's row, first, so the reservations of one rider
        // happen one after another (and a never-seen rider gets its row, online). It
        // answers whether the rider is online.
        let availability =
            rider_availability::Entity::insert(availability_row(rider_id, true, now))
                .on_conflict(
                    OnConflict::column(rider_availability::Column::RiderId)
                        .value(
                            rider_availability::Column::UpdatedAt,
                            Expr::col((
                                rider_availability::Entity,
                                rider_availability::Column::UpdatedAt,
                            )),
                        )
                        .to_owned(),
                )
                .exec_with_returning(&txn)
                .await?;
        let held: Vec<String> = rider_assignments::Entity::find()
            .select_only()
            .column(Column::DeliveryId)
            .filter(Column::RiderId.eq(rider_id.as_str()))
            .into_tuple()
            .all(&txn)
            .await?;
        if held.iter().any(|id| id == delivery_id.as_str()) {
            // Going offline keeps what the rider holds: an assigned rider still picks up.
            return Ok(Reservation::Reserved);
        }
        if need_online && !availability.online {
            return Ok(Reservation::Offline);
        }
        if held.len() >= usize::from(capacity) {
            return Ok(Reservation::AtCapacity);
        }
        let row = rider_assignments::ActiveModel {
            delivery_id: Set(delivery_id.to_string()),
            rider_id: Set(rider_id.to_string()),
            since: Set(now),
        };
        rider_assignments::Entity::insert(row)
            .exec_without_returning(&txn)
            .await?;
        txn.commit().await?;
        Ok(Reservation::Reserved)
    }

    /// Gives back a place `rider_id` reserved for `delivery_id` whose request was refused.
    /// Does nothing once the delivery list shows the rider holding it.
    pub async fn release(
        &self,
        delivery_id: &DeliveryId,
        rider_id: &RiderId,
    ) -> Result<(), ReadModelError> {
        use rider_assignments::Column;
        let listed = self.delivery(delivery_id).await?;
        if listed.is_some_and(|row| row.status.is_held() && row.rider_id.as_ref() == Some(rider_id))
        {
            return Ok(());
        }
        rider_assignments::Entity::delete_many()
            .filter(Column::DeliveryId.eq(delivery_id.as_str()))
            .filter(Column::RiderId.eq(rider_id.as_str()))
            .exec(&self.db)
            .await?;
        Ok(())
    }
}

/// Makes the assignments of `row`'s delivery what the row says: a held delivery is its
/// rider's alone (the rider's last assignment time moves on), an ended one is nobody's, an
/// open call keeps the places riders reserved while their requests are under way.
pub(crate) async fn reconcile(
    db: &impl ConnectionTrait,
    row: &DeliveryRow,
) -> Result<(), ReadModelError> {
    use rider_assignments::Column;
    let delivery_id = row.call.delivery_id.as_str();
    match (&row.rider_id, row.status) {
        (Some(rider_id), status) if status.is_held() => {
            rider_assignments::Entity::delete_many()
                .filter(Column::DeliveryId.eq(delivery_id))
                .filter(Column::RiderId.ne(rider_id.as_str()))
                .exec(db)
                .await?;
            let held = rider_assignments::ActiveModel {
                delivery_id: Set(delivery_id.to_owned()),
                rider_id: Set(rider_id.to_string()),
                since: Set(row.updated_at),
            };
            rider_assignments::Entity::insert(held)
                .on_conflict(
                    OnConflict::columns([Column::DeliveryId, Column::RiderId])
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(db)
                .await?;
            let assigned = rider_availability::ActiveModel {
                last_assigned_at: Set(Some(row.updated_at)),
                ..availability_row(rider_id, true, row.updated_at)
            };
            rider_availability::Entity::insert(assigned)
                .on_conflict(
                    OnConflict::column(rider_availability::Column::RiderId)
                        .update_column(rider_availability::Column::LastAssignedAt)
                        .to_owned(),
                )
                .exec_without_returning(db)
                .await?;
        }
        (_, status) if status.is_final() => {
            rider_assignments::Entity::delete_many()
                .filter(Column::DeliveryId.eq(delivery_id))
                .exec(db)
                .await?;
        }
        _ => {}
    }
    Ok(())
}

/// A new availability row of `rider_id` (what an upsert inserts when the rider has none).
fn availability_row(
    rider_id: &RiderId,
    online: bool,
    at: DateTime<Utc>,
) -> rider_availability::ActiveModel {
    rider_availability::ActiveModel {
        rider_id: Set(rider_id.to_string()),
        online: Set(online),
        updated_at: Set(at),
        last_assigned_at: Set(None),
    }
}
