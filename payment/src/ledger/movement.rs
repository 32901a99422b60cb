//! The sea-orm entity for `payment_movements`: an append-only journal with one row per money
//! movement (a registration, a settlement, a void), written in the same transaction as the
//! status change it records. It makes "never moves money twice" checkable after the fact.

// The derive macros generate public items (Column, ActiveModel, ...) for a private module.
#![allow(unreachable_pub)]

use sea_orm::entity::prelude::*;

use super::PaymentStatus;

/// One movement: `kind` is the status the payment moved to.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "payment_movements")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub delivery_id: String,
    pub kind: PaymentStatus,
    pub amount: i64,
    pub at: DateTimeUtc,
}

/// The journal stands alone: it has no relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
