//! What the ledger's test files share: a fresh ledger per test on SQLite and on PostgreSQL,
//! and the macros that run one behaviour on both.

#![allow(dead_code, unused_macros)]

use domain::CommissionBps;
use payment::{Ledger, Registration};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};

/// The rider the tests settle to.
pub(crate) const RIDER: &str = "k-1";

/// A registration of `amount` for `delivery_id` by restaurant `r-1` at 10% commission.
pub(crate) fn reg(delivery_id: &str, amount: i64) -> Registration {
    Registration {
        delivery_id: delivery_id.to_owned(),
        restaurant_id: "r-1".to_owned(),
        amount,
        commission: CommissionBps::DEFAULT,
    }
}

/// Writes two `#[tokio::test]` wrappers per behaviour: `sqlite::<name>` and `postgres::<name>`.
#[macro_export]
macro_rules! on_both_backends {
    ($($behaviour:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $behaviour() {
                    let (ledger, _dir) = $crate::common::sqlite_ledger().await;
                    super::$behaviour(ledger).await;
                }
            )*
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                #[ignore = "set TEST_DATABASE_URL to run against PostgreSQL"]
                async fn $behaviour() {
                    let (ledger, database) = $crate::common::postgres_ledger().await;
                    super::$behaviour(ledger).await;
                    database.drop().await;
                }
            )*
        }
    };
}

/// Like `on_both_backends!`, for behaviours of the schema itself: each gets the URL of a
/// fresh, unmigrated database (`sqlite_schema::<name>`, `postgres_schema::<name>`).
#[macro_export]
macro_rules! on_both_databases {
    ($($behaviour:ident),* $(,)?) => {
        mod sqlite_schema {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $behaviour() {
                    let (url, _dir) = $crate::common::sqlite_database();
                    super::$behaviour(url).await;
                }
            )*
        }

        mod postgres_schema {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                #[ignore = "set TEST_DATABASE_URL to run against PostgreSQL"]
                async fn $behaviour() {
                    let (url, database) = $crate::common::postgres_database().await;
                    super::$behaviour(url).await;
                    database.drop().await;
                }
            )*
        }
    };
}

pub(crate) async fn sqlite_ledger() -> (Ledger, tempfile::TempDir) {
    let (url, dir) = sqlite_database();
    Ledger::migrate(&url).await.expect("migrate sqlite");
    let ledger = Ledger::connect(&url).await.expect("connect to sqlite");
    (ledger, dir)
}

/// The URL of a SQLite file in a fresh temp dir (the file is created on first connect).
pub(crate) fn sqlite_database() -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("create temp dir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("payment.db").display()
    );
    (url, dir)
}

/// A PostgreSQL database created for one test, so tests can run in parallel.
pub(crate) struct PostgresDatabase {
    pub(crate) admin: DatabaseConnection,
    pub(crate) name: String,
}

impl PostgresDatabase {
    /// Removes the database; `FORCE` ends the ledger's pooled connections.
    pub(crate) async fn drop(self) {
        self.admin
            .execute_unprepared(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .await
            .expect("drop test database");
    }
}

pub(crate) async fn postgres_ledger() -> (Ledger, PostgresDatabase) {
    let (url, database) = postgres_database().await;
    Ledger::migrate(&url).await.expect("migrate test database");
    let ledger = Ledger::connect(&url)
        .await
        .expect("connect to test database");
    (ledger, database)
}

/// A fresh, empty database on the server at `TEST_DATABASE_URL`, and its URL.
pub(crate) async fn postgres_database() -> (String, PostgresDatabase) {
    let url = std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "TEST_DATABASE_URL is not set; point it at a PostgreSQL server, \
             e.g. postgres://postgres@127.0.0.1:5432/postgres"
        )
    });
    let admin = Database::connect(&url)
        .await
        .expect("connect to TEST_DATABASE_URL");
    let name = format!("payment_test_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create test database");
    (with_database(&url, &name), PostgresDatabase { admin, name })
}

/// Replaces the database name in a `postgres://user@host:port/db?params` URL.
pub(crate) fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let authority = base.find("://").map_or(0, |i| i + 3);
    let path = base[authority..]
        .find('/')
        .map_or(base.len(), |i| authority + i);
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    format!("{}/{database}{query}", &base[..path])
}

#[test]
pub(crate) fn the_database_name_in_a_postgres_url_is_replaced() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
        "postgres://postgres@127.0.0.1:5432/t1"
    );
    assert_eq!(
        with_database("postgres://u:p@db:5432/x?sslmode=disable", "t1"),
        "postgres://u:p@db:5432/t1?sslmode=disable"
    );
    assert_eq!(
        with_database("postgres://db:5432", "t1"),
        "postgres://db:5432/t1"
    );
}
