//! The read side of the delivery agency (CQRS).
//!
//! Two read models share one database, separate from the payment ledger:
//!
//! * the **delivery list** (`delivery_list`), one row per delivery, which
//!   operators and restaurants read;
//! * the **dispatch store** (`open_calls`), the calls open to riders.
//!
//! Temporal activities write them and may run twice, concurrently or out of
//! order, so every write is idempotent and order-insensitive:
//!
//! * [`ReadModel::project`] keeps the row with the highest per-delivery `seq`,
//!   in a single `INSERT … ON CONFLICT … DO UPDATE … WHERE seq < excluded.seq`;
//! * [`ReadModel::offer_call`] inserts only if absent, and
//!   [`ReadModel::withdraw_call`] leaves a tombstone that a late offer cannot
//!   clear.
//!
//! The HTTP API reads with [`ReadModel::delivery`], [`ReadModel::list`] and
//! [`ReadModel::open_calls`]. SQLite and PostgreSQL are supported.

mod entity;
mod migration;
mod types;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;
use sea_orm::sea_query::{Alias, Expr, OnConflict};
use sea_orm::sqlx::{self, sqlite::SqliteJournalMode};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectOptions, Database, DatabaseConnection, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, RuntimeErr,
};
use sea_orm_migration::MigratorTrait;

use entity::{delivery_list, open_calls};
use migration::Migrator;

pub use types::{
    Applied, DeliveryRow, DeliveryStatus, ListFilter, OpenCall, ParseStatusError, Projection,
};

/// How long a SQLite writer waits for another writer's lock before failing
/// with "database is locked".
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// SQLite pool size: WAL lets readers run beside the single writer.
const SQLITE_MAX_CONNECTIONS: u32 = 4;

/// Connection attempts on a SQLite file another process is setting up.
const SQLITE_CONNECT_ATTEMPTS: u32 = 10;

/// Pause before the next connection attempt, times the attempt number.
const SQLITE_CONNECT_BACKOFF: Duration = Duration::from_millis(20);

/// What went wrong in the read model.
#[derive(Debug, thiserror::Error)]
pub enum ReadModelError {
    /// The database refused or failed a query, or could not be reached.
    #[error("read model database: {0}")]
    Database(#[from] DbErr),
    /// The schema could not be brought up to date at start.
    #[error("read model migration failed: {0}")]
    Migration(#[source] DbErr),
    /// The directory for a SQLite database file could not be created.
    #[error("cannot create directory {} for the sqlite database: {source}", path.display())]
    CreateDir {
        /// The directory that could not be created.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A stored row cannot be read back as its public type.
    #[error("corrupt read model row: {0}")]
    Corrupt(String),
}

/// Handle on the read database; cheap to clone (it shares one pool).
#[derive(Clone, Debug)]
pub struct ReadModel {
    db: DatabaseConnection,
}

impl ReadModel {
    /// Connects to `database_url` (`sqlite://…` or `postgres://…`) and applies
    /// pending migrations.
    ///
    /// For a SQLite file the parent directory is created if missing, and the
    /// database is put in WAL mode with a busy timeout, so the worker's and the
    /// API's concurrent writers wait for each other instead of failing.
    pub async fn connect(database_url: &str) -> Result<ReadModel, ReadModelError> {
        let sqlite_file = sqlite_file_path(database_url);
        if let Some(path) = sqlite_file {
            create_parent_dir(path)?;
        }
        let db = open(database_url, sqlite_file.is_some()).await?;
        migrate(&db).await?;
        Ok(ReadModel { db })
    }

    /// Shows `p` in the delivery list unless a row with an equal or higher
    /// `seq` is already there.
    ///
    /// One statement, so concurrent and out-of-order writers need no
    /// transaction: the database's conflict handling decides atomically.
    pub async fn project(&self, p: &Projection) -> Result<Applied, ReadModelError> {
        use delivery_list::Column;
        let model = delivery_list::ActiveModel {
            delivery_id: Set(p.delivery_id.clone()),
            restaurant_id: Set(p.restaurant_id.clone()),
            destination: Set(p.destination.clone()),
            cost: Set(p.cost),
            status: Set(p.status.to_string()),
            rider_id: Set(p.rider_id.clone()),
            settled: Set(p.settled),
            updated_at: Set(p.updated_at),
            seq: Set(p.seq),
        };
        let newer = Expr::col((delivery_list::Entity, Column::Seq))
            .lt(Expr::col((Alias::new("excluded"), Column::Seq)));
        let on_conflict = OnConflict::column(Column::DeliveryId)
            .update_columns([
                Column::RestaurantId,
                Column::Destination,
                Column::Cost,
                Column::Status,
                Column::RiderId,
                Column::Settled,
                Column::UpdatedAt,
                Column::Seq,
            ])
            .action_and_where(newer)
            .to_owned();
        // Both backends count a conflict whose WHERE is false as zero rows.
        let rows = delivery_list::Entity::insert(model)
            .on_conflict(on_conflict)
            .exec_without_returning(&self.db)
            .await?;
        if rows == 0 {
            tracing::debug!(delivery_id = %p.delivery_id, seq = p.seq, "stale projection ignored");
            Ok(Applied::Stale)
        } else {
            Ok(Applied::Written)
        }
    }

    /// The delivery `id`, or `None` if nothing was projected for it yet.
    pub async fn delivery(&self, id: &str) -> Result<Option<DeliveryRow>, ReadModelError> {
        delivery_list::Entity::find_by_id(id.to_owned())
            .one(&self.db)
            .await?
            .map(delivery_row)
            .transpose()
    }

    /// Deliveries matching `f`, most recently updated first, at most `f.limit`.
    pub async fn list(&self, f: &ListFilter) -> Result<Vec<DeliveryRow>, ReadModelError> {
        use delivery_list::Column;
        let mut query = delivery_list::Entity::find();
        if let Some(status) = f.status {
            query = query.filter(Column::Status.eq(status.as_str()));
        }
        if let Some(restaurant_id) = &f.restaurant_id {
            query = query.filter(Column::RestaurantId.eq(restaurant_id));
        }
        if let Some(rider_id) = &f.rider_id {
            query = query.filter(Column::RiderId.eq(rider_id));
        }
        query
            .order_by_desc(Column::UpdatedAt)
            // Ties need a fixed order or pages would shuffle between reads.
            .order_by_asc(Column::DeliveryId)
            .limit(f.limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(delivery_row)
            .collect()
    }

    /// Opens the call `c` to riders unless it was already offered or withdrawn.
    pub async fn offer_call(&self, c: &OpenCall) -> Result<(), ReadModelError> {
        let model = open_calls::ActiveModel {
            delivery_id: Set(c.delivery_id.clone()),
            restaurant_id: Set(Some(c.restaurant_id.clone())),
            destination: Set(Some(c.destination.clone())),
            cost: Set(Some(c.cost)),
            called_at: Set(Some(c.called_at)),
            withdrawn_at: Set(None),
        };
        // Doing nothing on conflict is what keeps a tombstone withdrawn.
        open_calls::Entity::insert(model)
            .on_conflict(
                OnConflict::column(open_calls::Column::DeliveryId)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await?;
        Ok(())
    }

    /// Closes the call for `delivery_id` (picked up or cancelled), for good.
    ///
    /// Leaves a tombstone even if the call was never offered, so an offer that
    /// arrives later (an activity retry) cannot reopen it.
    pub async fn withdraw_call(&self, delivery_id: &str) -> Result<(), ReadModelError> {
        use open_calls::Column;
        let tombstone = open_calls::ActiveModel {
            delivery_id: Set(delivery_id.to_owned()),
            withdrawn_at: Set(Some(Utc::now())),
            ..Default::default()
        };
        // Keep the first withdrawal time; repeats change nothing.
        let on_conflict = OnConflict::column(Column::DeliveryId)
            .update_column(Column::WithdrawnAt)
            .action_and_where(Expr::col((open_calls::Entity, Column::WithdrawnAt)).is_null())
            .to_owned();
        open_calls::Entity::insert(tombstone)
            .on_conflict(on_conflict)
            .exec_without_returning(&self.db)
            .await?;
        Ok(())
    }

    /// Calls still open, oldest first, at most `limit`.
    pub async fn open_calls(&self, limit: u64) -> Result<Vec<OpenCall>, ReadModelError> {
        use open_calls::Column;
        open_calls::Entity::find()
            .filter(Column::WithdrawnAt.is_null())
            .order_by_asc(Column::CalledAt)
            .order_by_asc(Column::DeliveryId)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(open_call)
            .collect()
    }

    /// How many deliveries the list shows in each status.
    pub async fn count_by_status(&self) -> Result<Vec<(DeliveryStatus, u64)>, ReadModelError> {
        use delivery_list::Column;
        let rows: Vec<(String, i64)> = delivery_list::Entity::find()
            .select_only()
            .column(Column::Status)
            .column_as(Column::DeliveryId.count(), "count")
            .group_by(Column::Status)
            .into_tuple()
            .all(&self.db)
            .await?;
        rows.into_iter()
            .map(|(status, count)| {
                let status = status
                    .parse()
                    .map_err(|e| ReadModelError::Corrupt(format!("status {status:?}: {e}")))?;
                Ok((status, u64::try_from(count).unwrap_or(0)))
            })
            .collect()
    }

    /// The listed status of each of `ids` that has a row.
    pub async fn statuses(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, DeliveryStatus>, ReadModelError> {
        use delivery_list::Column;
        let mut found = HashMap::with_capacity(ids.len());
        // Bounded batches keep each statement under every backend's parameter limit.
        for batch in ids.chunks(500) {
            let rows: Vec<(String, String)> = delivery_list::Entity::find()
                .select_only()
                .column(Column::DeliveryId)
                .column(Column::Status)
                .filter(Column::DeliveryId.is_in(batch.iter().cloned()))
                .into_tuple()
                .all(&self.db)
                .await?;
            for (id, status) in rows {
                let status = status.parse().map_err(|e| {
                    ReadModelError::Corrupt(format!("status {status:?} of {id}: {e}"))
                })?;
                found.insert(id, status);
            }
        }
        Ok(found)
    }

    /// Checks that the database answers, for readiness probes.
    pub async fn ping(&self) -> Result<(), ReadModelError> {
        Ok(self.db.ping().await?)
    }
}

/// Opens the pool, retrying while another process holds a SQLite file's lock.
///
/// Switching a new file to WAL takes an exclusive lock, and SQLite fails a
/// connection that would deadlock on it at once rather than waiting out the
/// busy timeout. That happens when the worker and the API start together.
async fn open(url: &str, sqlite_file: bool) -> Result<DatabaseConnection, ReadModelError> {
    let mut attempt = 1;
    loop {
        let mut options = ConnectOptions::new(url);
        // Statement logging at info would drown the services' own logs.
        options.sqlx_logging_level(tracing::log::LevelFilter::Debug);
        if sqlite_file {
            options
                .max_connections(SQLITE_MAX_CONNECTIONS)
                .map_sqlx_sqlite_opts(|opts| {
                    opts.journal_mode(SqliteJournalMode::Wal)
                        .busy_timeout(SQLITE_BUSY_TIMEOUT)
                });
        }
        match Database::connect(options).await {
            Err(err)
                if sqlite_file && attempt < SQLITE_CONNECT_ATTEMPTS && is_sqlite_busy(&err) =>
            {
                tracing::debug!(error = %err, attempt, "sqlite database busy, reconnecting");
                tokio::time::sleep(SQLITE_CONNECT_BACKOFF * attempt).await;
                attempt += 1;
            }
            result => return Ok(result?),
        }
    }
}

/// Whether `err` is SQLite's `SQLITE_BUSY` ("database is locked"), in any of
/// its extended forms.
fn is_sqlite_busy(err: &DbErr) -> bool {
    const SQLITE_BUSY: i32 = 5;
    let (DbErr::Conn(RuntimeErr::SqlxError(sqlx::Error::Database(db_err)))
    | DbErr::Exec(RuntimeErr::SqlxError(sqlx::Error::Database(db_err)))
    | DbErr::Query(RuntimeErr::SqlxError(sqlx::Error::Database(db_err)))) = err
    else {
        return false;
    };
    // SQLite reports extended result codes; the primary code is the low byte.
    db_err
        .code()
        .and_then(|code| code.parse::<i32>().ok())
        .is_some_and(|code| code & 0xff == SQLITE_BUSY)
}

/// Applies pending migrations, tolerating another service doing the same.
///
/// The worker and the API may start together on a fresh database; the loser
/// of that race fails on what the winner just created. Each such failure
/// means the winner recorded at least one more migration, so one attempt more
/// than there are migrations is enough; other errors just fail a little later.
async fn migrate(db: &DatabaseConnection) -> Result<(), ReadModelError> {
    let attempts = Migrator::migrations().len() + 1;
    let mut attempt = 1;
    loop {
        match Migrator::up(db, None).await {
            Ok(()) => return Ok(()),
            Err(err) if attempt < attempts => {
                tracing::warn!(error = %err, attempt, "read model migration failed, retrying");
                attempt += 1;
            }
            Err(err) => return Err(ReadModelError::Migration(err)),
        }
    }
}

/// The file of a `sqlite:` URL, or `None` for other backends and in-memory
/// databases.
fn sqlite_file_path(url: &str) -> Option<&Path> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split_once('?').map_or(rest, |(path, _query)| path);
    // `:memory:` and friends name no file.
    (!path.is_empty() && !path.starts_with(':')).then(|| Path::new(path))
}

/// SQLite creates the file but not its directory (e.g. `.data/`).
fn create_parent_dir(file: &Path) -> Result<(), ReadModelError> {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            std::fs::create_dir_all(dir).map_err(|source| ReadModelError::CreateDir {
                path: dir.to_owned(),
                source,
            })
        }
        _ => Ok(()),
    }
}

fn delivery_row(m: delivery_list::Model) -> Result<DeliveryRow, ReadModelError> {
    let status = m.status.parse().map_err(|err: ParseStatusError| {
        ReadModelError::Corrupt(format!("delivery {}: {err}", m.delivery_id))
    })?;
    Ok(DeliveryRow {
        delivery_id: m.delivery_id,
        restaurant_id: m.restaurant_id,
        destination: m.destination,
        cost: m.cost,
        status,
        rider_id: m.rider_id,
        settled: m.settled,
        updated_at: m.updated_at,
    })
}

/// Only offers create open rows, and they set every detail; a live row
/// without them was written by something else.
fn open_call(m: open_calls::Model) -> Result<OpenCall, ReadModelError> {
    match (m.restaurant_id, m.destination, m.cost, m.called_at) {
        (Some(restaurant_id), Some(destination), Some(cost), Some(called_at)) => Ok(OpenCall {
            delivery_id: m.delivery_id,
            restaurant_id,
            destination,
            cost,
            called_at,
        }),
        _ => Err(ReadModelError::Corrupt(format!(
            "open call {} has no details",
            m.delivery_id
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(
            sqlite_file_path("sqlite://.data/deliveries.db?mode=rwc"),
            Some(Path::new(".data/deliveries.db"))
        );
        assert_eq!(
            sqlite_file_path("sqlite:///tmp/x.db?mode=rwc"),
            Some(Path::new("/tmp/x.db"))
        );
        assert_eq!(sqlite_file_path("sqlite:x.db"), Some(Path::new("x.db")));
    }

    #[test]
    fn memory_and_postgres_urls_name_no_file() {
        assert_eq!(sqlite_file_path("sqlite::memory:"), None);
        assert_eq!(sqlite_file_path("sqlite://:memory:"), None);
        assert_eq!(sqlite_file_path("postgres://postgres@localhost/db"), None);
    }
}
