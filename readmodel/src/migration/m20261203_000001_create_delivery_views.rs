//! Each delivery's whole view as its workflow last wrote it, so that reading a delivery never
//! asks (and so replays) its workflow; plus the operator-decision flag the workflow reports
//! between writes.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum DeliveryViews {
    Table,
    DeliveryId,
    View,
    AttentionReason,
    AttentionSince,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DeliveryViews::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(DeliveryViews::DeliveryId)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    // JSON text: read whole by id, never queried into.
                    .col(ColumnDef::new(DeliveryViews::View).text().not_null())
                    .col(ColumnDef::new(DeliveryViews::AttentionReason).text().null())
                    .col(
                        ColumnDef::new(DeliveryViews::AttentionSince)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(DeliveryViews::Table).to_owned())
            .await
    }
}
