//! Schema migrations for the ledger database, applied by `payment-service migrate` ([`crate::Ledger::migrate`]).

use sea_orm_migration::prelude::*;

mod m20261123_000001_create_payments;
mod m20261124_000001_create_payment_movements;
mod m20261130_000001_constrain_payments;
mod m20261201_000001_double_entry;

/// Applies the ledger schema, in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_create_payments::Migration),
            Box::new(m20261124_000001_create_payment_movements::Migration),
            Box::new(m20261130_000001_constrain_payments::Migration),
            Box::new(m20261201_000001_double_entry::Migration),
        ]
    }
}
