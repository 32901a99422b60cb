//! Offer dispatch: an open call is open to every rider (`broadcast`), offered to one rider
//! until a time (`offer`), or open to every rider after the offers ran out (`unassigned`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum OpenCalls {
    Table,
    Reach,
    OfferRound,
    OfferedTo,
    OfferExpiresAt,
}

impl Migration {
    fn columns() -> [ColumnDef; 4] {
        [
            ColumnDef::new(OpenCalls::Reach)
                .string()
                .not_null()
                .default("broadcast")
                .to_owned(),
            ColumnDef::new(OpenCalls::OfferRound)
                .integer()
                .not_null()
                .default(0)
                .to_owned(),
            ColumnDef::new(OpenCalls::OfferedTo)
                .string()
                .null()
                .to_owned(),
            ColumnDef::new(OpenCalls::OfferExpiresAt)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
        ]
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column a statement: SQLite alters one at a time.
        for mut column in Self::columns() {
            manager
                .alter_table(
                    Table::alter()
                        .table(OpenCalls::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            OpenCalls::Reach,
            OpenCalls::OfferRound,
            OpenCalls::OfferedTo,
            OpenCalls::OfferExpiresAt,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(OpenCalls::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
