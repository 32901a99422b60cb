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
//! * [`ReadModel::offer_call`] inserts a broadcast only if absent and moves an
//!   offered call only to a later offer round, and [`ReadModel::withdraw_call`]
//!   leaves a tombstone that a late offer cannot clear.
//!
//! The HTTP API reads with [`ReadModel::delivery`], [`ReadModel::list`] (keyset pages) and
//! [`ReadModel::open_calls`]. SQLite and PostgreSQL are supported.
//!
//! The same database keeps the API's `Idempotency-Key`s (`idempotency_keys`,
//! see [`IdempotencyRecord`]): which delivery each key made, for good.

mod entity;
mod idempotency;
mod migration;
mod riders;
mod types;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait,
};

use entity::{delivery_list, delivery_views, open_calls};
use migration::Migrator;

pub use domain::{
    DeliveryId, DeliveryRow, DeliveryStatus, OpenCall, Projection, RiderId, StoredView,
};
pub use idempotency::IdempotencyRecord;
pub use riders::{Reservation, RiderDispatch};
pub use types::{Applied, InvalidCursor, ListCursor, ListFilter, ListPage};

/// The command that migrates the read model, named when a service finds it unmigrated.
pub const MIGRATE_COMMAND: &str = "delivery-api migrate";

/// Where the delivery list and the dispatch store live: the API's, the worker's and the
/// invariant checker's.
#[derive(clap::Args, Debug, Clone)]
pub struct DatabaseSettings {
    /// The delivery list and dispatch store database: `sqlite://FILE?mode=rwc` or `postgres://…`
    #[arg(
        id = "readmodel_database_url",
        long = "readmodel-database-url",
        env = "READMODEL_DATABASE_URL",
        value_name = "URL",
        default_value = "sqlite://.data/deliveries.db?mode=rwc",
        global = true,
        // A database URL may carry a password: `--help` must not print it.
        hide_env_values = true,
        value_parser = db::parse_url
    )]
    pub database_url: String,
    /// Connections this process keeps to the delivery-list database at most, per replica (the
    /// API opens two such pools: the delivery list and the accounts); see "Deploying" in the
    /// README for PostgreSQL's max_connections
    #[arg(
        id = "readmodel_database_pool_size",
        long = "readmodel-database-pool-size",
        env = "READMODEL_DATABASE_POOL_SIZE",
        value_name = "N",
        default_value = "8",
        global = true,
        value_parser = db::parse_pool_size
    )]
    pub pool_size: u32,
    /// How long one statement on a PostgreSQL delivery-list database may run before the server
    /// cancels it, in milliseconds
    #[arg(
        id = "readmodel_database_statement_timeout_ms",
        long = "readmodel-database-statement-timeout-ms",
        env = "READMODEL_DATABASE_STATEMENT_TIMEOUT_MS",
        value_name = "MS",
        default_value = "30000",
        global = true,
        value_parser = db::parse_statement_timeout
    )]
    pub statement_timeout: std::time::Duration,
}

impl DatabaseSettings {
    /// The pool these settings ask for ([`db::PoolOptions`]' other values).
    pub fn pool_options(&self) -> db::PoolOptions {
        db::PoolOptions {
            max_connections: self.pool_size,
            statement_timeout: self.statement_timeout,
            ..db::PoolOptions::default()
        }
    }
}

/// What went wrong in the read model.
#[derive(Debug, thiserror::Error)]
pub enum ReadModelError {
    /// The database refused or failed a query, or could not be reached.
    #[error("read model database: {0}")]
    Database(#[from] DbErr),
    /// The database cannot be opened, or its schema was not migrated.
    #[error("read model database: {0}")]
    Open(#[from] db::DbError),
    /// A stored row cannot be read back as its public type.
    #[error("corrupt read model row: {0}")]
    Corrupt(String),
}

impl ReadModelError {
    /// Whether retrying cannot help: the database refused the data itself
    /// ([`db::is_permanent`]).
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::Database(e) if db::is_permanent(e))
    }
}

/// Handle on the read database; cheap to clone (it shares one pool).
#[derive(Clone, Debug)]
pub struct ReadModel {
    db: DatabaseConnection,
}

impl ReadModel {
    /// Connects to `database_url` (`sqlite://…` or `postgres://…`) with the shared pool
    /// options ([`db::connect`]: WAL and a busy timeout for a SQLite file, so the worker's and
    /// the API's concurrent writers wait for each other instead of failing). Refuses a
    /// database whose schema is not up to date, naming [`MIGRATE_COMMAND`]: services never
    /// migrate.
    pub async fn connect(database_url: &str) -> Result<ReadModel, ReadModelError> {
        Self::connect_with(database_url, &db::PoolOptions::default()).await
    }

    /// [`ReadModel::connect`] with a pool sized and timed by `options` (a service's
    /// [`DatabaseSettings::pool_options`]).
    pub async fn connect_with(
        database_url: &str,
        options: &db::PoolOptions,
    ) -> Result<ReadModel, ReadModelError> {
        let db = db::connect(database_url, options).await?;
        db::check_schema::<Migrator>(&db, "delivery list", MIGRATE_COMMAND).await?;
        Ok(ReadModel { db })
    }

    /// Brings the schema at `database_url` up to date: the one-off step (`delivery-api
    /// migrate`) before the services start.
    pub async fn migrate(database_url: &str) -> Result<(), ReadModelError> {
        let db = db::connect(database_url, &db::PoolOptions::default()).await?;
        db::migrate::<Migrator>(&db).await?;
        db.close().await?;
        Ok(())
    }

    /// Migrates and connects in one pool: for tests and in-memory databases, which live only
    /// as long as their connection.
    pub async fn open_migrated(database_url: &str) -> Result<ReadModel, ReadModelError> {
        let db = db::connect(database_url, &db::PoolOptions::default()).await?;
        db::migrate::<Migrator>(&db).await?;
        Ok(ReadModel { db })
    }

    /// The pool, for the accounts that live in the same database (the dispatch worker reads
    /// riders' zones and capacity through it).
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Shows `p` in the delivery list unless a row with an equal or higher
    /// `seq` is already there, and makes the riders' assignments agree with it.
    ///
    /// The row is one statement, so concurrent and out-of-order writers need
    /// nothing more: the database's conflict handling decides atomically. The
    /// assignments follow in the same transaction, which holds the row's lock,
    /// so a stale write can never undo a newer one's.
    pub async fn project(&self, p: &Projection) -> Result<Applied, ReadModelError> {
        use delivery_list::Column;
        let model = delivery_list::ActiveModel::from(p);
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
                Column::FailureReason,
                Column::UpdatedAt,
                Column::Seq,
            ])
            .action_and_where(newer)
            .to_owned();
        let txn = self.db.begin().await?;
        // Both backends count a conflict whose WHERE is false as zero rows.
        let rows = delivery_list::Entity::insert(model)
            .on_conflict(on_conflict)
            .exec_without_returning(&txn)
            .await?;
        if rows == 0 {
            tracing::debug!(delivery_id = %p.row.call.delivery_id, seq = p.seq, "stale projection ignored");
            return Ok(Applied::Stale);
        }
        riders::reconcile(&txn, &p.row).await?;
        store_view(&txn, p).await?;
        txn.commit().await?;
        Ok(Applied::Written)
    }

    /// The delivery `id`'s view as its workflow last wrote it (with an operator decision it
    /// waits for since), or `None` when none is kept: nothing projected yet, or the last
    /// write came from a worker that kept no view.
    pub async fn stored_view(&self, id: &DeliveryId) -> Result<Option<StoredView>, ReadModelError> {
        let Some(m) = delivery_views::Entity::find_by_id(id.as_str())
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        let mut stored: StoredView = serde_json::from_str(&m.view)
            .map_err(|e| ReadModelError::Corrupt(format!("view of delivery {id}: {e}")))?;
        if let (Some(reason), Some(since)) = (m.attention_reason, m.attention_since) {
            stored
                .view
                .attention
                .get_or_insert(domain::Attention { reason, since });
        }
        Ok(Some(stored))
    }

    /// Shows on the stored view of `id` that its workflow waits for an operator's decision
    /// (the workflow then writes nothing until decided); its next write clears it.
    pub async fn flag_attention(
        &self,
        id: &DeliveryId,
        reason: &str,
        since: DateTime<Utc>,
    ) -> Result<(), ReadModelError> {
        use delivery_views::Column;
        delivery_views::Entity::update_many()
            .col_expr(Column::AttentionReason, Expr::value(reason))
            .col_expr(Column::AttentionSince, Expr::value(since))
            .filter(Column::DeliveryId.eq(id.as_str()))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// The delivery `id`, or `None` if nothing was projected for it yet.
    pub async fn delivery(&self, id: &DeliveryId) -> Result<Option<DeliveryRow>, ReadModelError> {
        delivery_list::Entity::find_by_id(id.as_str())
            .one(&self.db)
            .await?
            .map(DeliveryRow::try_from)
            .transpose()
    }

    /// A page of the deliveries matching `f`, most recently updated first (ties by id), at
    /// most `f.limit`, starting after `f.cursor`; its `next_cursor` is where the next page
    /// starts, `None` once no more rows match.
    ///
    /// Keyset paging: a page is read from the position, not an offset, so rows written
    /// meanwhile never shift a page; a row added or updated meanwhile moves to the top,
    /// before the position: a reader paging on sees no row twice, and reads it on a new first
    /// page.
    pub async fn list(&self, f: &ListFilter) -> Result<ListPage, ReadModelError> {
        use delivery_list::Column;
        let mut query = delivery_list::Entity::find();
        if let Some(status) = f.status {
            query = query.filter(Column::Status.eq(status.as_str()));
        }
        if let Some(restaurant_id) = &f.restaurant_id {
            query = query.filter(Column::RestaurantId.eq(restaurant_id.as_str()));
        }
        if let Some(rider_id) = &f.rider_id {
            query = query.filter(Column::RiderId.eq(rider_id.as_str()));
        }
        if let Some(from) = f.updated_from {
            query = query.filter(Column::UpdatedAt.gte(from));
        }
        if let Some(before) = f.updated_before {
            query = query.filter(Column::UpdatedAt.lt(before));
        }
        if let Some(cursor) = &f.cursor {
            // After the position in (updated_at desc, delivery_id asc) order.
            let at = cursor.updated_at();
            query = query.filter(
                Condition::any().add(Column::UpdatedAt.lt(at)).add(
                    Condition::all()
                        .add(Column::UpdatedAt.eq(at))
                        .add(Column::DeliveryId.gt(cursor.delivery_id().as_str())),
                ),
            );
        }
        // One row more than asked says whether there is a next page.
        let mut items = query
            .order_by_desc(Column::UpdatedAt)
            // Ties need a fixed order or pages would shuffle between reads.
            .order_by_asc(Column::DeliveryId)
            .limit(f.limit.saturating_add(1))
            .all(&self.db)
            .await?
            .into_iter()
            .map(DeliveryRow::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        let more = u64::try_from(items.len()).is_ok_and(|n| n > f.limit);
        items.truncate(usize::try_from(f.limit).unwrap_or(usize::MAX));
        let next_cursor = match (more, items.last()) {
            (true, Some(last)) => Some(ListCursor::after(last)),
            _ => None,
        };
        Ok(ListPage { items, next_cursor })
    }

    /// Opens the call `c` to the riders its reach names, unless it was withdrawn. A broadcast
    /// is written once; an offer (or the fallback after the offers) replaces the row of an
    /// earlier or the same round, never a later one, so a late retry changes nothing.
    pub async fn offer_call(&self, c: &OpenCall) -> Result<(), ReadModelError> {
        use open_calls::Column;
        let model = open_calls::ActiveModel::from(c);
        let on_conflict = match c.reach.round() {
            // Doing nothing on conflict is what keeps a tombstone withdrawn.
            0 => OnConflict::column(Column::DeliveryId)
                .do_nothing()
                .to_owned(),
            _ => OnConflict::column(Column::DeliveryId)
                .update_columns([
                    Column::Reach,
                    Column::OfferRound,
                    Column::OfferedTo,
                    Column::OfferExpiresAt,
                ])
                .action_and_where(
                    Expr::col((open_calls::Entity, Column::WithdrawnAt))
                        .is_null()
                        .and(
                            Expr::col((open_calls::Entity, Column::OfferRound))
                                .lte(Expr::col((Alias::new("excluded"), Column::OfferRound))),
                        ),
                )
                .to_owned(),
        };
        open_calls::Entity::insert(model)
            .on_conflict(on_conflict)
            .exec_without_returning(&self.db)
            .await?;
        Ok(())
    }

    /// Closes the call for `delivery_id` (picked up or cancelled), for good.
    ///
    /// Leaves a tombstone even if the call was never offered, so an offer that
    /// arrives later (an activity retry) cannot reopen it.
    pub async fn withdraw_call(&self, delivery_id: &DeliveryId) -> Result<(), ReadModelError> {
        use open_calls::Column;
        let tombstone = open_calls::ActiveModel {
            delivery_id: Set(delivery_id.to_string()),
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

    /// Calls still open, newest first, at most `limit`: with `for_rider`, those that rider
    /// may take now (open to every rider, or offered to it and not lapsed by `now`); else all.
    pub async fn open_calls(
        &self,
        limit: u64,
        for_rider: Option<(&RiderId, DateTime<Utc>)>,
    ) -> Result<Vec<OpenCall>, ReadModelError> {
        use open_calls::Column;
        let mut query = open_calls::Entity::find().filter(Column::WithdrawnAt.is_null());
        if let Some((rider_id, now)) = for_rider {
            query = query.filter(
                Condition::any().add(Column::OfferedTo.is_null()).add(
                    Condition::all()
                        .add(Column::OfferedTo.eq(rider_id.as_str()))
                        .add(Column::OfferExpiresAt.gt(now)),
                ),
            );
        }
        self.calls(query.order_by_desc(Column::CalledAt), limit)
            .await
    }

    /// Calls whose offers ran out and that nobody has taken yet, oldest first (what
    /// operators look at first), at most `limit`.
    pub async fn unassigned_calls(&self, limit: u64) -> Result<Vec<OpenCall>, ReadModelError> {
        use open_calls::Column;
        let query = open_calls::Entity::find()
            .filter(Column::WithdrawnAt.is_null())
            .filter(Column::Reach.eq("unassigned"))
            .order_by_asc(Column::CalledAt);
        self.calls(query, limit).await
    }

    /// The calls `query` finds (ties in its order broken by id), at most `limit`.
    async fn calls(
        &self,
        query: sea_orm::Select<open_calls::Entity>,
        limit: u64,
    ) -> Result<Vec<OpenCall>, ReadModelError> {
        query
            .order_by_asc(open_calls::Column::DeliveryId)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(OpenCall::try_from)
            .collect()
    }

    /// How many offers not lapsed by `now` each rider has, leaving out those of `except`
    /// (the call being offered): what spreads offers over riders.
    pub async fn offers_out(
        &self,
        now: DateTime<Utc>,
        except: &DeliveryId,
    ) -> Result<HashMap<String, u32>, ReadModelError> {
        use open_calls::Column;
        let rows: Vec<(String, i64)> = open_calls::Entity::find()
            .select_only()
            .column(Column::OfferedTo)
            .column_as(Column::DeliveryId.count(), "count")
            .filter(Column::WithdrawnAt.is_null())
            .filter(Column::OfferedTo.is_not_null())
            .filter(Column::OfferExpiresAt.gt(now))
            .filter(Column::DeliveryId.ne(except.as_str()))
            .group_by(Column::OfferedTo)
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(rider, count)| (rider, u32::try_from(count).unwrap_or(u32::MAX)))
            .collect())
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

/// Keeps `p`'s view beside its row (in `p`'s transaction, after its row won): a write without
/// a view (a worker from before views were kept) removes the older view, so a reader never
/// takes it for the current one.
async fn store_view(
    txn: &sea_orm::DatabaseTransaction,
    p: &Projection,
) -> Result<(), ReadModelError> {
    use delivery_views::Column;
    let id = p.row.call.delivery_id.as_str();
    let Some(view) = &p.view else {
        delivery_views::Entity::delete_by_id(id).exec(txn).await?;
        return Ok(());
    };
    let json = serde_json::to_string(view)
        .map_err(|e| ReadModelError::Corrupt(format!("view of delivery {id}: {e}")))?;
    let row = delivery_views::ActiveModel {
        delivery_id: Set(id.to_owned()),
        view: Set(json),
        attention_reason: Set(None),
        attention_since: Set(None),
    };
    delivery_views::Entity::insert(row)
        .on_conflict(
            OnConflict::column(Column::DeliveryId)
                .update_columns([
                    Column::View,
                    Column::AttentionReason,
                    Column::AttentionSince,
                ])
                .to_owned(),
        )
        .exec_without_returning(txn)
        .await?;
    Ok(())
}
