//! The API's `Idempotency-Key`s: (restaurant, key) → the delivery it made and the hash of the
//! request that made it, kept for good, in the delivery list's database.
//!
//! The first request with a key claims it before starting anything ([`ReadModel::claim_idempotency_key`]:
//! one `INSERT … ON CONFLICT DO NOTHING` on the (restaurant, key) primary key, then a read),
//! so of two requests racing with one key both read the same row. A claim is *started* once
//! Temporal confirmed the delivery's workflow ([`ReadModel::idempotency_key_started`]); until
//! then a repeat may (and should) try the start again, so a start that failed after the claim
//! never makes the key unusable.

use chrono::{DateTime, Utc};
use domain::{DeliveryId, RestaurantId};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, EntityTrait, QueryFilter,
    sea_query::{Expr, OnConflict},
};

use crate::{ReadModel, ReadModelError, entity::idempotency_keys};

/// What is kept for one restaurant's `Idempotency-Key`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// The delivery the key made (or is making).
    pub delivery_id: DeliveryId,
    /// The hash of the request that first claimed the key.
    pub request_hash: String,
    /// When the key was first claimed.
    pub created_at: DateTime<Utc>,
    /// Whether Temporal confirmed the delivery's start: a started delivery is never started
    /// again, whatever Temporal still remembers of it.
    pub started: bool,
}

impl ReadModel {
    /// Claims `key` of `restaurant_id` for `delivery_id` and a request hashing to
    /// `request_hash`, unless it was claimed before; returns the claim that holds (this one
    /// or the earlier, which the caller compares with its own request).
    pub async fn claim_idempotency_key(
        &self,
        restaurant_id: &RestaurantId,
        key: &str,
        request_hash: &str,
        delivery_id: &DeliveryId,
    ) -> Result<IdempotencyRecord, ReadModelError> {
        use idempotency_keys::Column;
        let claim = idempotency_keys::ActiveModel {
            restaurant_id: Set(restaurant_id.to_string()),
            idempotency_key: Set(key.to_owned()),
            request_hash: Set(request_hash.to_owned()),
            delivery_id: Set(delivery_id.to_string()),
            created_at: Set(Utc::now()),
            started_at: Set(None),
        };
        // The first claim wins; a later one (a retry, a racing duplicate) changes nothing. A
        // claim released between the insert and the read (see `release_idempotency_key`) is
        // claimed again.
        let mut attempts = 0;
        let row = loop {
            attempts += 1;
            idempotency_keys::Entity::insert(claim.clone())
                .on_conflict(
                    OnConflict::columns([Column::RestaurantId, Column::IdempotencyKey])
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(&self.db)
                .await?;
            let found =
                idempotency_keys::Entity::find_by_id((restaurant_id.to_string(), key.to_owned()))
                    .one(&self.db)
                    .await?;
            match found {
                Some(row) => break row,
                None if attempts < 3 => continue,
                None => {
                    return Err(ReadModelError::Corrupt(format!(
                        "idempotency key {key:?} of {restaurant_id} vanished after its claim"
                    )));
                }
            }
        };
        Ok(IdempotencyRecord {
            delivery_id: row.delivery_id.parse().map_err(|_| {
                ReadModelError::Corrupt(format!("idempotency key {key:?}: bad delivery id"))
            })?,
            request_hash: row.request_hash,
            created_at: row.created_at,
            started: row.started_at.is_some(),
        })
    }

    /// Records that the delivery of `key` was started; repeats keep the first time.
    pub async fn idempotency_key_started(
        &self,
        restaurant_id: &RestaurantId,
        key: &str,
    ) -> Result<(), ReadModelError> {
        use idempotency_keys::Column;
        idempotency_keys::Entity::update_many()
            .col_expr(Column::StartedAt, Expr::value(Utc::now()))
            .filter(Column::RestaurantId.eq(restaurant_id.as_str()))
            .filter(Column::IdempotencyKey.eq(key))
            .filter(Column::StartedAt.is_null())
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Gives up a claim that never started and that the request hashing to `request_hash`
    /// made: when Temporal showed that the delivery id was taken by another request (a
    /// delivery made with this key before the keys were kept here), so that the key stays
    /// bound to that request. `false` when there was no such claim.
    pub async fn release_idempotency_key(
        &self,
        restaurant_id: &RestaurantId,
        key: &str,
        request_hash: &str,
    ) -> Result<bool, ReadModelError> {
        use idempotency_keys::Column;
        let deleted = idempotency_keys::Entity::delete_many()
            .filter(Column::RestaurantId.eq(restaurant_id.as_str()))
            .filter(Column::IdempotencyKey.eq(key))
            .filter(Column::RequestHash.eq(request_hash))
            .filter(Column::StartedAt.is_null())
            .exec(&self.db)
            .await?
            .rows_affected;
        Ok(deleted == 1)
    }
}
