//! Test databases for both backends, the macro that runs one test body on each, and helpers.

#![allow(dead_code, unreachable_pub)]

use anyhow::{Context, anyhow};
use identity::{Accounts, NewAccount};
use sea_orm::{ConnectionTrait, Database};
use tempfile::TempDir;

/// Environment variable naming the PostgreSQL server for the ignored tests.
const PG_ENV: &str = "TEST_DATABASE_URL";

/// A fresh, empty database that no other test touches.
pub(crate) struct TestDb {
    /// URL to hand to [`Accounts::connect`].
    pub(crate) url: String,
    backend: Backend,
}

enum Backend {
    /// Keeps the directory (and so the file) alive for the test's duration.
    Sqlite(TempDir),
    Postgres {
        admin_url: String,
        name: String,
    },
}

impl TestDb {
    /// A SQLite file in its own temporary directory.
    pub(crate) async fn sqlite() -> anyhow::Result<TestDb> {
        let dir = tempfile::tempdir()?;
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("accounts.db").display()
        );
        Ok(TestDb {
            url,
            backend: Backend::Sqlite(dir),
        })
    }

    /// A new database on the server named by `TEST_DATABASE_URL`, so tests run in parallel
    /// without seeing each other's rows.
    pub(crate) async fn postgres() -> anyhow::Result<TestDb> {
        // Failing, not skipping: an ignored test that is asked to run must never pass without
        // having touched PostgreSQL.
        let admin_url = std::env::var(PG_ENV).map_err(|_| {
            anyhow!(
                "{PG_ENV} is not set: point it at a PostgreSQL server, \
                 e.g. postgres://postgres@127.0.0.1:5432/postgres"
            )
        })?;
        let name = format!("identity_test_{}", uuid::Uuid::new_v4().simple());
        let admin = Database::connect(&admin_url)
            .await
            .with_context(|| format!("connecting to {PG_ENV}={admin_url}"))?;
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await?;
        admin.close().await?;
        Ok(TestDb {
            url: with_database(&admin_url, &name),
            backend: Backend::Postgres { admin_url, name },
        })
    }

    /// Migrates this database (as `delivery-api migrate` does) and connects the store.
    pub(crate) async fn accounts(&self) -> anyhow::Result<Accounts> {
        Accounts::migrate(&self.url).await?;
        Ok(Accounts::connect(&self.url).await?)
    }

    /// Removes the database; called only after a passing test, so a failing one leaves its
    /// data behind to inspect.
    pub(crate) async fn remove(self) -> anyhow::Result<()> {
        match self.backend {
            Backend::Sqlite(dir) => Ok(dir.close()?),
            Backend::Postgres { admin_url, name } => {
                let admin = Database::connect(&admin_url).await?;
                admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await?;
                Ok(admin.close().await?)
            }
        }
    }
}

/// `url` with its database path replaced by `name`, keeping any query string.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, ""), |(b, q)| (b, q));
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let server = base[authority_start..]
        .find('/')
        .map_or(base, |slash| &base[..authority_start + slash]);
    if query.is_empty() {
        format!("{server}/{name}")
    } else {
        format!("{server}/{name}?{query}")
    }
}

/// A new account from its JSON body, as `POST /accounts` receives it.
pub(crate) fn new_account(json: serde_json::Value) -> NewAccount {
    serde_json::from_value(json).expect("a valid new account")
}

/// Returns once the wall clock's second differs from `second`: tokens carry whole seconds, so
/// a test that needs "issued before the rotation" crosses a second boundary first.
pub(crate) async fn after_second(second: i64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while chrono::Utc::now().timestamp() <= second {
        assert!(
            std::time::Instant::now() < deadline,
            "the clock stood still"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// For each `async fn name(db: &TestDb) -> anyhow::Result<()>` in the calling file, generates
/// `sqlite::name` and `postgres::name` tests.
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() -> anyhow::Result<()> {
                    let db = crate::common::TestDb::sqlite().await?;
                    super::$name(&db).await?;
                    db.remove().await
                }
            )+
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[ignore = "set TEST_DATABASE_URL to run against PostgreSQL"]
                async fn $name() -> anyhow::Result<()> {
                    let db = crate::common::TestDb::postgres().await?;
                    super::$name(&db).await?;
                    db.remove().await
                }
            )+
        }
    };
}
pub(crate) use on_both_backends;
