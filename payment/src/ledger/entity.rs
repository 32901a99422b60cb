//! The sea-orm entity for the `payments` table: one row per delivery.

use sea_orm::entity::prelude::*;

use super::PaymentStatus;

/// A row of the `payments` table; `delivery_id` is the idempotency key.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "payments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub delivery_id: String,
    pub amount: i64,
    pub status: PaymentStatus,
    pub registered_at: DateTimeUtc,
    pub settled_at: Option<DateTimeUtc>,
    pub voided_at: Option<DateTimeUtc>,
}

/// The table stands alone: it has no relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
