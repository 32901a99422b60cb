//! Creates the `payment_movements` journal.

use sea_orm_migration::prelude::*;

/// Creates the append-only journal of money movements, indexed by delivery.
#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PaymentMovements::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(PaymentMovements::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(PaymentMovements::DeliveryId)
                            .string_len(256)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(PaymentMovements::Kind)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(PaymentMovements::Amount)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(PaymentMovements::At)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("payment_movements_delivery_id")
                    .table(PaymentMovements::Table)
                    .col(PaymentMovements::DeliveryId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PaymentMovements::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum PaymentMovements {
    Table,
    Id,
    DeliveryId,
    Kind,
    Amount,
    At,
}
