//! Connecting: migrations as a one-off step, restarts, and SQLite file set-up.

mod common;

use chrono::DateTime;
use common::{TestDb, on_both_backends};
use readmodel::{DeliveryRow, DeliveryStatus, Projection, ReadModel};
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};

on_both_backends!(
    two_services_starting_together_on_a_migrated_database_both_connect,
    a_database_that_was_not_migrated_is_refused_naming_the_migrate_command,
    reconnecting_keeps_the_data_and_answers_pings,
);

fn projection() -> Projection {
    Projection::new(
        DeliveryRow {
            call: domain::Call {
                delivery_id: "d-1".parse().unwrap(),
                restaurant_id: "resto-1".parse().unwrap(),
                destination: "12 harbour road".parse().unwrap(),
                cost: domain::Cost::new(1500).unwrap(),
            },
            status: DeliveryStatus::Called,
            rider_id: None,
            settled: None,
            failure_reason: None,
            updated_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        },
        1,
    )
}

/// Migrating is one step before the services (`delivery-api migrate`), so services starting
/// together never race on the schema.
async fn two_services_starting_together_on_a_migrated_database_both_connect(
    db: &TestDb,
) -> anyhow::Result<()> {
    ReadModel::migrate(&db.url).await?;
    let (api, worker) = tokio::join!(ReadModel::connect(&db.url), ReadModel::connect(&db.url));
    let (api, worker) = (api?, worker?);
    worker.project(&projection()).await?;
    assert_eq!(api.delivery(&"d-1".parse()?).await?, Some(projection().row));
    Ok(())
}

async fn a_database_that_was_not_migrated_is_refused_naming_the_migrate_command(
    db: &TestDb,
) -> anyhow::Result<()> {
    let refused = ReadModel::connect(&db.url)
        .await
        .expect_err("no schema yet");
    assert!(
        refused.to_string().contains("delivery-api migrate"),
        "{refused}"
    );
    ReadModel::migrate(&db.url).await?;
    ReadModel::migrate(&db.url).await?;
    ReadModel::connect(&db.url).await?.ping().await?;
    Ok(())
}

async fn reconnecting_keeps_the_data_and_answers_pings(db: &TestDb) -> anyhow::Result<()> {
    db.connect().await?.project(&projection()).await?;
    let again = db.connect().await?;
    again.ping().await?;
    assert_eq!(
        again.delivery(&"d-1".parse()?).await?,
        Some(projection().row)
    );
    Ok(())
}

#[tokio::test]
async fn a_missing_directory_for_the_sqlite_file_is_created() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join(".data/nested/deliveries.db");
    let url = format!("sqlite://{}?mode=rwc", file.display());
    ReadModel::migrate(&url).await?;
    let rm = ReadModel::connect(&url).await?;
    rm.project(&projection()).await?;
    assert!(file.is_file(), "{} was not created", file.display());
    Ok(())
}

#[tokio::test]
async fn a_sqlite_database_runs_in_wal_mode() -> anyhow::Result<()> {
    let db = TestDb::sqlite().await?;
    db.connect().await?;
    // WAL is a property of the file, so a plain second connection sees it.
    let plain = Database::connect(&db.url).await?;
    let mode = plain
        .query_one(Statement::from_string(
            DbBackend::Sqlite,
            "PRAGMA journal_mode",
        ))
        .await?
        .expect("pragma returns a row")
        .try_get_by_index::<String>(0)?;
    assert_eq!(mode, "wal");
    Ok(())
}
