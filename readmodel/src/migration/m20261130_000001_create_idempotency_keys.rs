//! The API's idempotency keys: which delivery a restaurant's `Idempotency-Key` made, and the
//! hash of the request that made it. Kept for good (no expiry): Temporal forgets a closed
//! delivery after its retention period, this table does not, so a key that comes back later
//! still names its delivery and a delivery id is never started twice.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    RestaurantId,
    IdempotencyKey,
    RequestHash,
    DeliveryId,
    CreatedAt,
    StartedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKeys::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(IdempotencyKeys::RestaurantId)
                            .string()
                            .not_null(),
                    )
                    // The header's limit: 1 to 64 printable ASCII characters.
                    .col(
                        ColumnDef::new(IdempotencyKeys::IdempotencyKey)
                            .string_len(64)
                            .not_null(),
                    )
                    // SHA-256, hex.
                    .col(
                        ColumnDef::new(IdempotencyKeys::RequestHash)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(IdempotencyKeys::DeliveryId)
                            .string()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(IdempotencyKeys::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    // Null until Temporal confirmed the start: an unstarted key may start.
                    .col(
                        ColumnDef::new(IdempotencyKeys::StartedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    // What makes two racing requests with one key agree on one row.
                    .primary_key(
                        Index::create()
                            .col(IdempotencyKeys::RestaurantId)
                            .col(IdempotencyKeys::IdempotencyKey),
                    )
                    .to_owned(),
            )
            .await?;
        // One key per delivery: a delivery id is never handed out twice.
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .unique()
                    .name("idx_idempotency_keys_delivery_id")
                    .table(IdempotencyKeys::Table)
                    .col(IdempotencyKeys::DeliveryId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(IdempotencyKeys::Table).to_owned())
            .await
    }
}
