//! Accounts, their role attributes and the riders' zones.
//!
//! One row per account in `accounts` (never deleted: a deleted account keeps its row, its id
//! stays taken and history can still name it); a restaurant's attributes in
//! `restaurant_profiles`, a rider's in `rider_profiles` and `rider_zones` (one row per zone, so
//! "riders working in a zone" is an indexed query).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

// The migration names its own identifiers instead of using the entities, so the schema history
// stays fixed when an entity changes later.
#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
    Role,
    Name,
    External,
    SecretHash,
    CreatedAt,
    UpdatedAt,
    NotBefore,
    DeletedAt,
}

#[derive(DeriveIden)]
enum RestaurantProfiles {
    Table,
    AccountId,
    PickupAddress,
    Zone,
    DispatchMode,
    CommissionBps,
}

#[derive(DeriveIden)]
enum RiderProfiles {
    Table,
    AccountId,
    Capacity,
}

#[derive(DeriveIden)]
enum RiderZones {
    Table,
    AccountId,
    Zone,
    Position,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Accounts::Table)
                    .col(
                        ColumnDef::new(Accounts::Id)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Accounts::Role).string().not_null())
                    .col(ColumnDef::new(Accounts::Name).string().not_null())
                    .col(ColumnDef::new(Accounts::External).boolean().not_null())
                    // Null for external accounts and once deleted: nothing can sign in.
                    .col(ColumnDef::new(Accounts::SecretHash).string().null())
                    .col(
                        ColumnDef::new(Accounts::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Accounts::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    // Tokens issued before this are void (set by rotation and deletion).
                    .col(
                        ColumnDef::new(Accounts::NotBefore)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(Accounts::DeletedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        // Listing by role pages through ids in order.
        manager
            .create_index(
                Index::create()
                    .name("idx_accounts_role_id")
                    .table(Accounts::Table)
                    .col(Accounts::Role)
                    .col(Accounts::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RestaurantProfiles::Table)
                    .col(
                        ColumnDef::new(RestaurantProfiles::AccountId)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(RestaurantProfiles::PickupAddress)
                            .string()
                            .not_null(),
                    )
                    .col(ColumnDef::new(RestaurantProfiles::Zone).string().not_null())
                    .col(
                        ColumnDef::new(RestaurantProfiles::DispatchMode)
                            .string()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(RestaurantProfiles::CommissionBps)
                            .integer()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_restaurant_profiles_account")
                            .from(RestaurantProfiles::Table, RestaurantProfiles::AccountId)
                            .to(Accounts::Table, Accounts::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RiderProfiles::Table)
                    .col(
                        ColumnDef::new(RiderProfiles::AccountId)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(RiderProfiles::Capacity).integer().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_rider_profiles_account")
                            .from(RiderProfiles::Table, RiderProfiles::AccountId)
                            .to(Accounts::Table, Accounts::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RiderZones::Table)
                    .col(ColumnDef::new(RiderZones::AccountId).string().not_null())
                    .col(ColumnDef::new(RiderZones::Zone).string().not_null())
                    // The order the rider gave them in.
                    .col(ColumnDef::new(RiderZones::Position).integer().not_null())
                    .primary_key(
                        Index::create()
                            .col(RiderZones::AccountId)
                            .col(RiderZones::Zone),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_rider_zones_account")
                            .from(RiderZones::Table, RiderZones::AccountId)
                            .to(Accounts::Table, Accounts::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_rider_zones_zone")
                    .table(RiderZones::Table)
                    .col(RiderZones::Zone)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            RiderZones::Table.into_iden(),
            RiderProfiles::Table.into_iden(),
            RestaurantProfiles::Table.into_iden(),
            Accounts::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
