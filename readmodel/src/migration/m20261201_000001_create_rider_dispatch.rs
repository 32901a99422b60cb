//! Dispatch v2: which riders are online (`rider_availability`), which deliveries each holds
//! (`rider_assignments`, what capacity counts), and a failed delivery's reason in the list.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum RiderAvailability {
    Table,
    RiderId,
    Online,
    UpdatedAt,
    LastAssignedAt,
}

#[derive(DeriveIden)]
enum RiderAssignments {
    Table,
    DeliveryId,
    RiderId,
    Since,
}

#[derive(DeriveIden)]
enum DeliveryList {
    Table,
    FailureReason,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RiderAvailability::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(RiderAvailability::RiderId)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(RiderAvailability::Online)
                            .boolean()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(RiderAvailability::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(RiderAvailability::LastAssignedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RiderAssignments::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(RiderAssignments::DeliveryId)
                            .string()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(RiderAssignments::RiderId)
                            .string()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(RiderAssignments::Since)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(RiderAssignments::DeliveryId)
                            .col(RiderAssignments::RiderId),
                    )
                    .to_owned(),
            )
            .await?;
        // Counting a rider's deliveries is what every reservation does.
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_rider_assignments_rider_id")
                    .table(RiderAssignments::Table)
                    .col(RiderAssignments::RiderId)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(DeliveryList::Table)
                    .add_column(ColumnDef::new(DeliveryList::FailureReason).string().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(DeliveryList::Table)
                    .drop_column(DeliveryList::FailureReason)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(RiderAssignments::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(RiderAvailability::Table).to_owned())
            .await
    }
}
