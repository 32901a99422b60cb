//! The delivery list: one row per delivery, the newest projected state.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

// The migration names its own identifiers instead of using the entity, so the
// schema history stays fixed when the entity changes later.
#[derive(DeriveIden)]
enum DeliveryList {
    Table,
    DeliveryId,
    RestaurantId,
    Destination,
    Cost,
    Status,
    RiderId,
    Settled,
    UpdatedAt,
    Seq,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // `if_not_exists` everywhere: two services starting together may both
        // run this before either has recorded it (see `ReadModel::connect`).
        manager
            .create_table(
                Table::create()
                    .table(DeliveryList::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(DeliveryList::DeliveryId)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(DeliveryList::RestaurantId)
                            .string()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(DeliveryList::Destination)
                            .string()
                            .not_null(),
                    )
                    .col(ColumnDef::new(DeliveryList::Cost).big_integer().not_null())
                    .col(ColumnDef::new(DeliveryList::Status).string().not_null())
                    .col(ColumnDef::new(DeliveryList::RiderId).string().null())
                    .col(ColumnDef::new(DeliveryList::Settled).big_integer().null())
                    .col(
                        ColumnDef::new(DeliveryList::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(DeliveryList::Seq).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        // One index per list filter, plus the sort key.
        for (name, column) in [
            ("idx_delivery_list_status", DeliveryList::Status),
            (
                "idx_delivery_list_restaurant_id",
                DeliveryList::RestaurantId,
            ),
            ("idx_delivery_list_rider_id", DeliveryList::RiderId),
            ("idx_delivery_list_updated_at", DeliveryList::UpdatedAt),
        ] {
            manager
                .create_index(
                    Index::create()
                        .if_not_exists()
                        .name(name)
                        .table(DeliveryList::Table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(DeliveryList::Table).to_owned())
            .await
    }
}
