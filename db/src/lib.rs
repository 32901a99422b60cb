//! Opening our databases, one way for every database we own (the delivery list and dispatch
//! store in `readmodel`, the payment ledger in `payment`).
//!
//! - [`connect`]: a sea-orm pool with [`PoolOptions`]. A SQLite file gets its directory created,
//!   WAL (readers beside the one writer) and a busy timeout (writers of several processes wait
//!   for each other instead of failing with "database is locked"); an in-memory SQLite database
//!   keeps one connection (each connection would be a database of its own); PostgreSQL gets a
//!   statement timeout, so a stuck query fails instead of holding a pooled connection forever.
//!   Services size their pools and statement timeouts per database from their settings
//!   (`READMODEL_DATABASE_POOL_SIZE`, `…_STATEMENT_TIMEOUT_MS`, checked by [`parse_pool_size`]
//!   and [`parse_statement_timeout`]).
//! - [`migrate`]: the one-off step (`delivery-api migrate`, `payment-service migrate`, a
//!   Kubernetes Job, a compose one-shot service) that brings a schema up to date.
//! - [`check_schema`]: what a service does at start instead of migrating: it refuses a
//!   database whose schema lacks a migration, naming the command that applies it. Services never
//!   migrate, so replicas starting together cannot race on a fresh database.

use std::{collections::HashSet, path::Path, time::Duration};

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr, Statement,
    sqlx::sqlite::SqliteJournalMode,
};
use sea_orm_migration::{MigratorTrait, SchemaManager};

/// How a pool is sized and how long its users wait.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// Connections in the pool (a SQLite file; PostgreSQL). In-memory SQLite always has one.
    pub max_connections: u32,
    /// How long a query waits for a free connection before failing.
    pub acquire_timeout: Duration,
    /// How long a SQLite writer waits for another writer's lock before failing.
    pub sqlite_busy_timeout: Duration,
    /// How long a PostgreSQL statement may run before the server cancels it.
    pub statement_timeout: Duration,
}

impl Default for PoolOptions {
    /// Every statement of ours is a single-row upsert or a bounded read: milliseconds. The
    /// busy timeout and acquire timeout stay under an activity's local attempts (3 s in all), so
    /// a stuck database fails an attempt that is then retried, rather than outliving it.
    fn default() -> Self {
        Self {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(5),
            sqlite_busy_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
        }
    }
}

/// A database that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL names no database we support.
    #[error("{0:?} is not a sqlite: or postgres:// database url")]
    Url(String),
    /// The directory for a SQLite file could not be created.
    #[error("cannot create directory {path} for the sqlite database: {source}")]
    CreateDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The database refused or failed, or could not be reached.
    #[error(transparent)]
    Database(#[from] DbErr),
    /// The schema lacks migrations this binary needs.
    #[error(
        "the {what} database is not migrated ({missing} migration(s) not applied, first {first}): run `{command}` with the same settings first"
    )]
    NotMigrated {
        what: &'static str,
        command: &'static str,
        missing: usize,
        first: String,
    },
}

/// Checks a `--…-database-url` value: what [`connect`] can open.
pub fn parse_url(url: &str) -> Result<String, String> {
    let url = url.trim();
    let known = ["sqlite:", "postgres://", "postgresql://"]
        .iter()
        .any(|scheme| url.starts_with(scheme));
    if known {
        Ok(url.to_owned())
    } else {
        Err(DbError::Url(url.to_owned()).to_string())
    }
}

/// Checks a `--…-database-pool-size` value: at least one connection.
pub fn parse_pool_size(value: &str) -> Result<u32, String> {
    match value.trim().parse::<u32>() {
        Ok(0) => Err("a pool needs at least 1 connection".to_owned()),
        Ok(size) => Ok(size),
        Err(e) => Err(format!("not a whole number: {e}")),
    }
}

/// Checks a `--…-database-statement-timeout-ms` value: a whole number of milliseconds above
/// zero (PostgreSQL reads 0 as no timeout at all, which is what this setting is there to prevent).
pub fn parse_statement_timeout(value: &str) -> Result<Duration, String> {
    match value.trim().parse::<u64>() {
        Ok(0) => Err("must be above 0".to_owned()),
        Ok(ms) => Ok(Duration::from_millis(ms)),
        Err(e) => Err(format!("not a whole number: {e}")),
    }
}

/// Opens a pool on `url` (`sqlite://…` or `postgres://…`) with `options`.
pub async fn connect(url: &str, options: &PoolOptions) -> Result<DatabaseConnection, DbError> {
    let mut connect = ConnectOptions::new(url);
    // Statement logging at info would drown the services' own logs.
    connect
        .sqlx_logging_level(tracing::log::LevelFilter::Debug)
        .acquire_timeout(options.acquire_timeout);
    match Target::of(url)? {
        Target::SqliteFile(path) => {
            create_parent_dir(Path::new(path))?;
            let busy = options.sqlite_busy_timeout;
            connect
                .max_connections(options.max_connections)
                .map_sqlx_sqlite_opts(move |opts| {
                    opts.journal_mode(SqliteJournalMode::Wal).busy_timeout(busy)
                });
        }
        // One connection: each connection to `:memory:` is a database of its own.
        Target::SqliteMemory => {
            connect.max_connections(1).min_connections(1);
        }
        Target::Postgres => {
            let timeout = format!("{}ms", options.statement_timeout.as_millis());
            connect
                .max_connections(options.max_connections)
                .map_sqlx_postgres_opts(move |opts| {
                    opts.options([("statement_timeout", timeout.as_str())])
                });
        }
    }
    Ok(Database::connect(connect).await?)
}

/// Applies `M`'s pending migrations: the one-off step before services start.
pub async fn migrate<M: MigratorTrait>(db: &DatabaseConnection) -> Result<(), DbErr> {
    M::up(db, None).await
}

/// Checks, without writing anything, that every migration of `M` was applied to `db`; else
/// [`DbError::NotMigrated`] names `command`. Migrations a newer binary applied are fine: they
/// only add to what this one needs (a rolling deploy migrates before the new replicas start,
/// while old ones still run).
pub async fn check_schema<M: MigratorTrait>(
    db: &DatabaseConnection,
    what: &'static str,
    command: &'static str,
) -> Result<(), DbError> {
    let table = M::migration_table_name().to_string();
    // No migration table: nothing was ever applied.
    let applied: HashSet<String> = if SchemaManager::new(db).has_table(&table).await? {
        db.query_all(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT version FROM {table}"),
        ))
        .await?
        .iter()
        .filter_map(|row| row.try_get_by_index::<String>(0).ok())
        .collect()
    } else {
        HashSet::new()
    };
    let missing: Vec<String> = M::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .filter(|name| !applied.contains(name))
        .collect();
    match missing.first() {
        None => Ok(()),
        Some(first) => Err(DbError::NotMigrated {
            what,
            command,
            missing: missing.len(),
            first: first.clone(),
        }),
    }
}

/// What a URL points at.
#[derive(Debug, PartialEq, Eq)]
enum Target<'a> {
    SqliteFile(&'a str),
    SqliteMemory,
    Postgres,
}

impl<'a> Target<'a> {
    fn of(url: &'a str) -> Result<Self, DbError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres);
        }
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| DbError::Url(url.to_owned()))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let in_memory = path.is_empty()
            || path.starts_with(':')
            || query.split('&').any(|param| param == "mode=memory");
        Ok(if in_memory {
            Self::SqliteMemory
        } else {
            Self::SqliteFile(path)
        })
    }
}

/// SQLite creates the file but not its directory (e.g. `.data/`).
fn create_parent_dir(file: &Path) -> Result<(), DbError> {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            std::fs::create_dir_all(dir).map_err(|source| DbError::CreateDir {
                path: dir.display().to_string(),
                source,
            })
        }
        _ => Ok(()),
    }
}

/// Whether a database error is deterministic: the same statement would fail the same way
/// however often it ran (bad data, a violated constraint), unlike an unreachable server, a
/// timeout or a lock, which a retry may outlast. Callers make the first kind final at once.
pub fn is_permanent(err: &DbErr) -> bool {
    use sea_orm::{RuntimeErr, sqlx};
    let (DbErr::Exec(RuntimeErr::SqlxError(sqlx::Error::Database(e)))
    | DbErr::Query(RuntimeErr::SqlxError(sqlx::Error::Database(e)))) = err
    else {
        return false;
    };
    if !matches!(e.kind(), sqlx::error::ErrorKind::Other) {
        // Unique, foreign key, not-null or check violation, on either database.
        return true;
    }
    match e.code().as_deref() {
        // PostgreSQL SQLSTATE classes 22 (data exception: an invalid byte sequence, a value
        // too long) and 23 (integrity constraint violation).
        Some(code) if code.len() == 5 => code.starts_with("22") || code.starts_with("23"),
        // SQLite (extended) result codes, whose low byte is the primary code: SQLITE_TOOBIG,
        // SQLITE_CONSTRAINT (a trigger's RAISE(ABORT) too), SQLITE_MISMATCH.
        Some(code) => code
            .parse::<u32>()
            .is_ok_and(|code| matches!(code & 0xff, 18..=20)),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use sea_orm_migration::prelude::*;

    use super::*;

    #[test]
    fn sqlite_urls_name_a_file_or_memory_and_postgres_is_postgres() {
        let of = |url| Target::of(url).unwrap();
        assert_eq!(
            of("sqlite://.data/deliveries.db?mode=rwc"),
            Target::SqliteFile(".data/deliveries.db")
        );
        assert_eq!(of("sqlite:///tmp/x.db"), Target::SqliteFile("/tmp/x.db"));
        assert_eq!(of("sqlite:x.db"), Target::SqliteFile("x.db"));
        assert_eq!(of("sqlite::memory:"), Target::SqliteMemory);
        assert_eq!(of("sqlite://:memory:"), Target::SqliteMemory);
        assert_eq!(
            of("sqlite://shared?mode=memory&cache=shared"),
            Target::SqliteMemory
        );
        assert_eq!(of("postgres://postgres@localhost/db"), Target::Postgres);
        assert!(Target::of("mysql://db/x").is_err());
        assert!(parse_url("mysql://db/x").is_err());
        assert!(parse_url("sqlite::memory:").is_ok());
    }

    /// The errors a retry cannot change are told from the ones it may outlast, on SQLite
    /// (PostgreSQL's SQLSTATE classes are in `is_permanent`'s match).
    #[tokio::test]
    async fn refused_data_is_permanent_and_a_missing_table_is_not() {
        let db = connect("sqlite::memory:", &PoolOptions::default())
            .await
            .unwrap();
        db.execute_unprepared(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL CHECK (name != 'bad'));
             CREATE TRIGGER refuse BEFORE INSERT ON t WHEN NEW.name = 'poison'
               BEGIN SELECT RAISE(ABORT, 'refused'); END;
             INSERT INTO t VALUES (1, 'ok');",
        )
        .await
        .unwrap();
        for refused in [
            "INSERT INTO t VALUES (1, 'again')",
            "INSERT INTO t VALUES (2, NULL)",
            "INSERT INTO t VALUES (3, 'bad')",
            "INSERT INTO t VALUES (4, 'poison')",
        ] {
            let err = db.execute_unprepared(refused).await.unwrap_err();
            assert!(is_permanent(&err), "{refused}: {err}");
        }
        let err = db
            .execute_unprepared("INSERT INTO missing VALUES (1)")
            .await
            .unwrap_err();
        assert!(!is_permanent(&err), "{err}");
    }

    #[test]
    fn pool_sizes_and_statement_timeouts_must_be_above_zero() {
        assert_eq!(parse_pool_size(" 4 "), Ok(4));
        assert!(parse_pool_size("0").is_err());
        assert!(parse_pool_size("-1").is_err());
        assert_eq!(
            parse_statement_timeout("1500"),
            Ok(Duration::from_millis(1500))
        );
        assert!(parse_statement_timeout("0").is_err());
        assert!(parse_statement_timeout("5s").is_err());
    }

    /// A statement that runs past the pool's statement timeout is cancelled by PostgreSQL
    /// (SQLSTATE 57014, "canceling statement due to statement timeout") and its connection goes
    /// back to the pool usable. Needs `TEST_DATABASE_URL` (a PostgreSQL server; nothing is
    /// written), else it is skipped.
    #[tokio::test]
    async fn a_postgres_statement_longer_than_the_timeout_is_cancelled() {
        let Ok(url) = std::env::var("TEST_DATABASE_URL") else {
            eprintln!("skipped: set TEST_DATABASE_URL to run against PostgreSQL");
            return;
        };
        let options = PoolOptions {
            max_connections: 1,
            statement_timeout: Duration::from_millis(200),
            ..PoolOptions::default()
        };
        let db = connect(&url, &options).await.unwrap();
        let sleep = |secs: &str| {
            Statement::from_string(
                db.get_database_backend(),
                format!("SELECT pg_sleep({secs})::text"),
            )
        };
        let started = std::time::Instant::now();
        let refused = db.execute(sleep("5")).await.unwrap_err();
        assert!(
            refused.to_string().contains("statement timeout"),
            "{refused}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{:?}",
            started.elapsed()
        );
        // Shorter than the timeout: fine, on the same (only) connection.
        db.execute(sleep("0.01")).await.unwrap();
        let timeout = db
            .query_one(Statement::from_string(
                db.get_database_backend(),
                "SHOW statement_timeout",
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index::<String>(0)
            .unwrap();
        assert_eq!(timeout, "200ms");
    }

    struct Migrator;

    #[async_trait::async_trait]
    impl MigratorTrait for Migrator {
        fn migrations() -> Vec<Box<dyn MigrationTrait>> {
            vec![Box::new(CreateThings)]
        }
    }

    #[derive(DeriveMigrationName)]
    struct CreateThings;

    #[async_trait::async_trait]
    impl MigrationTrait for CreateThings {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager
                .create_table(
                    Table::create()
                        .table(Alias::new("things"))
                        .col(ColumnDef::new(Alias::new("id")).integer().primary_key())
                        .to_owned(),
                )
                .await
        }
    }

    #[tokio::test]
    async fn a_database_is_refused_until_migrated_naming_the_command() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("nested/x.db").display()
        );
        let db = connect(&url, &PoolOptions::default()).await.unwrap();
        let refused = check_schema::<Migrator>(&db, "test", "demo migrate")
            .await
            .unwrap_err();
        assert!(refused.to_string().contains("`demo migrate`"), "{refused}");
        migrate::<Migrator>(&db).await.unwrap();
        migrate::<Migrator>(&db).await.unwrap();
        let again = connect(&url, &PoolOptions::default()).await.unwrap();
        check_schema::<Migrator>(&again, "test", "demo migrate")
            .await
            .unwrap();
        let mode = again
            .query_one(Statement::from_string(
                again.get_database_backend(),
                "PRAGMA journal_mode",
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index::<String>(0)
            .unwrap();
        assert_eq!(mode, "wal");
    }
}
