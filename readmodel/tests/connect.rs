//! Connecting: migrations, restarts, and SQLite file set-up.

mod common;

use chrono::DateTime;
use common::{TestDb, on_both_backends};
use readmodel::{DeliveryRow, DeliveryStatus, Projection, ReadModel};
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};

on_both_backends!(
    two_services_starting_together_both_migrate,
    reconnecting_keeps_the_data_and_answers_pings,
);

fn projection() -> Projection {
    Projection::new(
        DeliveryRow {
            delivery_id: "d-1".into(),
            restaurant_id: "resto-1".into(),
            destination: "12 harbour road".into(),
            cost: 1500,
            status: DeliveryStatus::Called,
            rider_id: None,
            settled: None,
            updated_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        },
        1,
    )
}

async fn two_services_starting_together_both_migrate(db: &TestDb) -> anyhow::Result<()> {
    let (api, worker) = tokio::join!(ReadModel::connect(&db.url), ReadModel::connect(&db.url));
    let (api, worker) = (api?, worker?);
    worker.project(&projection()).await?;
    assert_eq!(api.delivery("d-1").await?, Some(projection().row()));
    Ok(())
}

async fn reconnecting_keeps_the_data_and_answers_pings(db: &TestDb) -> anyhow::Result<()> {
    db.connect().await?.project(&projection()).await?;
    let again = db.connect().await?;
    again.ping().await?;
    assert_eq!(again.delivery("d-1").await?, Some(projection().row()));
    Ok(())
}

#[tokio::test]
async fn a_missing_directory_for_the_sqlite_file_is_created() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join(".data/nested/deliveries.db");
    let rm = ReadModel::connect(&format!("sqlite://{}?mode=rwc", file.display())).await?;
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
