//! Schema of the accounts, applied by the one-off migrate step ([`Accounts::migrate`](crate::Accounts::migrate)).
//!
//! The accounts may share a database with another store (the read model's, say), so their
//! migrations are recorded in a table of their own: sea-orm refuses a migration table that lists
//! migrations its migrator does not know.

use sea_orm_migration::{
    MigrationTrait, MigratorTrait,
    prelude::{Alias, DynIden, IntoIden},
};

mod m20261201_000001_create_accounts;

/// Applies the accounts' migrations in order.
pub(crate) struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(m20261201_000001_create_accounts::Migration)]
    }

    fn migration_table_name() -> DynIden {
        Alias::new("identity_migrations").into_iden()
    }
}
