//! A row of the delivery list as stored.

use sea_orm::entity::prelude::*;

/// `status` stays a string here so a row written by a newer version with an
/// unknown status surfaces as [`ReadModelError::Corrupt`](crate::ReadModelError::Corrupt)
/// instead of a decoding failure deep inside sea-orm.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "delivery_list")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub delivery_id: String,
    pub restaurant_id: String,
    pub destination: String,
    pub cost: i64,
    pub status: String,
    pub rider_id: Option<String>,
    pub settled: Option<i64>,
    pub updated_at: ChronoDateTimeUtc,
    pub seq: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
