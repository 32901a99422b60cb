//! The dispatch store: calls offered to riders, with withdrawal tombstones.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum OpenCalls {
    Table,
    DeliveryId,
    RestaurantId,
    Destination,
    Cost,
    CalledAt,
    WithdrawnAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OpenCalls::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(OpenCalls::DeliveryId)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    // The call's details are nullable because a withdrawal can
                    // arrive before the offer and must leave a tombstone alone.
                    .col(ColumnDef::new(OpenCalls::RestaurantId).string().null())
                    .col(ColumnDef::new(OpenCalls::Destination).string().null())
                    .col(ColumnDef::new(OpenCalls::Cost).big_integer().null())
                    .col(
                        ColumnDef::new(OpenCalls::CalledAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(OpenCalls::WithdrawnAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        // Serves "not withdrawn, oldest first" from the index alone.
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_open_calls_withdrawn_at_called_at")
                    .table(OpenCalls::Table)
                    .col(OpenCalls::WithdrawnAt)
                    .col(OpenCalls::CalledAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(OpenCalls::Table).to_owned())
            .await
    }
}
