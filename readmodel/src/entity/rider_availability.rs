//! A rider's availability as stored; a rider without a row has never gone offline.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "rider_availability")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub rider_id: String,
    pub online: bool,
    pub updated_at: ChronoDateTimeUtc,
    pub last_assigned_at: Option<ChronoDateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
