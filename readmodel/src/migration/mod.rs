//! Schema of the read database, applied by `delivery-api migrate` ([`ReadModel::migrate`](crate::ReadModel::migrate)).

use sea_orm_migration::{MigrationTrait, MigratorTrait};

mod m20261123_000001_create_delivery_list;
mod m20261123_000002_create_open_calls;
mod m20261130_000001_create_idempotency_keys;
mod m20261201_000001_create_rider_dispatch;
mod m20261202_000001_add_call_offers;
mod m20261203_000001_create_delivery_views;

/// Applies the read model's migrations in order.
pub(crate) struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_create_delivery_list::Migration),
            Box::new(m20261123_000002_create_open_calls::Migration),
            Box::new(m20261130_000001_create_idempotency_keys::Migration),
            Box::new(m20261201_000001_create_rider_dispatch::Migration),
            Box::new(m20261202_000001_add_call_offers::Migration),
            Box::new(m20261203_000001_create_delivery_views::Migration),
        ]
    }
}
