//! Makes the schema itself refuse what the ledger's code never writes: a second movement of
//! one kind for one delivery (two registrations, two settlements: money moved twice), and a
//! payment status outside `Registered`, `Settled`, `Voided`.
//!
//! PostgreSQL adds the CHECK to the table in place. SQLite cannot add a constraint to an
//! existing table, so there `payments` is rebuilt with it (create, copy, drop, rename: the
//! procedure SQLite documents for `ALTER TABLE`), in one transaction: a failure leaves the old
//! table as it was. Either backend refuses to migrate a ledger that already breaks a rule
//! (duplicate movements, an unknown status): that ledger needs an operator, not a schema.

use sea_orm::{DatabaseBackend, TransactionTrait};
use sea_orm_migration::prelude::*;

/// Adds the unique (delivery, kind) index on `payment_movements` and the status CHECK on
/// `payments`.
#[derive(DeriveMigrationName)]
pub(super) struct Migration;

const UNIQUE_MOVEMENT: &str = "payment_movements_delivery_id_kind";
const STATUS_CHECK: &str = "payments_status_check";
/// Every status the ledger writes, as `PaymentStatus` stores it.
const STATUSES: [&str; 3] = ["Registered", "Settled", "Voided"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let txn = manager.get_connection().begin().await?;
        let schema = SchemaManager::new(&txn);
        schema
            .create_index(
                Index::create()
                    .if_not_exists()
                    .unique()
                    .name(UNIQUE_MOVEMENT)
                    .table(PaymentMovements::Table)
                    .col(PaymentMovements::DeliveryId)
                    .col(PaymentMovements::Kind)
                    .to_owned(),
            )
            .await?;
        match schema.get_database_backend() {
            DatabaseBackend::Sqlite => rebuild_payments(&schema, true).await?,
            _ => {
                let statuses = STATUSES.map(|s| format!("'{s}'")).join(", ");
                txn.execute_unprepared(&format!(
                    "ALTER TABLE payments ADD CONSTRAINT {STATUS_CHECK} CHECK (status IN ({statuses}))"
                ))
                .await?;
            }
        }
        txn.commit().await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let txn = manager.get_connection().begin().await?;
        let schema = SchemaManager::new(&txn);
        schema
            .drop_index(
                Index::drop()
                    .name(UNIQUE_MOVEMENT)
                    .table(PaymentMovements::Table)
                    .to_owned(),
            )
            .await?;
        match schema.get_database_backend() {
            DatabaseBackend::Sqlite => rebuild_payments(&schema, false).await?,
            _ => {
                txn.execute_unprepared(&format!(
                    "ALTER TABLE payments DROP CONSTRAINT {STATUS_CHECK}"
                ))
                .await?;
            }
        }
        txn.commit().await
    }
}

/// SQLite: replaces `payments` by a copy with (or without) the status CHECK, keeping every row.
async fn rebuild_payments(schema: &SchemaManager<'_>, checked: bool) -> Result<(), DbErr> {
    let mut status = ColumnDef::new(Payments::Status);
    status.string_len(16).not_null();
    if checked {
        status.check(Expr::col(Payments::Status).is_in(STATUSES));
    }
    // The columns exactly as `m20261123_000001_create_payments` made them.
    schema
        .create_table(
            Table::create()
                .table(PaymentsRebuilt::Table)
                .col(
                    ColumnDef::new(Payments::DeliveryId)
                        .string_len(256)
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(Payments::Amount).big_integer().not_null())
                .col(&mut status)
                .col(
                    ColumnDef::new(Payments::RegisteredAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Payments::SettledAt)
                        .timestamp_with_time_zone()
                        .null(),
                )
                .col(
                    ColumnDef::new(Payments::VoidedAt)
                        .timestamp_with_time_zone()
                        .null(),
                )
                .to_owned(),
        )
        .await?;
    let columns = [
        Payments::DeliveryId,
        Payments::Amount,
        Payments::Status,
        Payments::RegisteredAt,
        Payments::SettledAt,
        Payments::VoidedAt,
    ];
    let copy = Query::insert()
        .into_table(PaymentsRebuilt::Table)
        .columns(columns)
        .select_from(
            Query::select()
                .columns(columns)
                .from(Payments::Table)
                .to_owned(),
        )
        .map_err(|e| DbErr::Migration(e.to_string()))?
        .to_owned();
    schema.exec_stmt(copy).await?;
    schema
        .drop_table(Table::drop().table(Payments::Table).to_owned())
        .await?;
    schema
        .rename_table(
            Table::rename()
                .table(PaymentsRebuilt::Table, Payments::Table)
                .to_owned(),
        )
        .await
}

#[derive(DeriveIden, Clone, Copy)]
enum Payments {
    Table,
    DeliveryId,
    Amount,
    Status,
    RegisteredAt,
    SettledAt,
    VoidedAt,
}

#[derive(DeriveIden)]
enum PaymentsRebuilt {
    #[sea_orm(iden = "payments_rebuilt")]
    Table,
}

#[derive(DeriveIden)]
enum PaymentMovements {
    Table,
    DeliveryId,
    Kind,
}
