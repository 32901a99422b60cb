//! A delivery's stored view (see the `delivery_views` migration).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "delivery_views")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub delivery_id: String,
    /// [`domain::StoredView`] as JSON.
    #[sea_orm(column_type = "Text")]
    pub view: String,
    /// Set when the workflow reported that it waits for an operator's decision, cleared by
    /// its next write.
    #[sea_orm(column_type = "Text", nullable)]
    pub attention_reason: Option<String>,
    pub attention_since: Option<ChronoDateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
