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
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
