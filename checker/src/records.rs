//! The two databases, read in bounded batches: the payment ledger (payments and the movements
//! booked for them) and the delivery list, for a set of delivery ids at a time (`IN (…)`), and
//! the ids whose records changed since a point in time, a page at a time.
//!
//! Read-only SQL over the tables the payment service and the projection own (`payments`,
//! `ledger_movements`, `ledger_entries`, `delivery_list`), built with sea-query so it runs on SQLite and
//! PostgreSQL alike. The schemas are checked first through [`payment::Ledger::connect`] and
//! [`readmodel::ReadModel::connect`], which name the migration command when one is missing.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use payment::{Payment, PaymentStatus};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbErr, QueryResult,
    sea_query::{Alias, Cond, Expr, JoinType, Order, Query, SelectStatement},
};

/// A movement of a delivery's fee, as the checks count it: `kind` is the status it moved the
/// payment to, `amount` what its entries moved in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Movement {
    pub delivery_id: String,
    pub kind: PaymentStatus,
    pub amount: i64,
    pub at: DateTime<Utc>,
}

/// The payment status a movement kind moves to; `None` for movements of no delivery's fee.
fn moved_to(kind: &str) -> Option<PaymentStatus> {
    match kind {
        "register" => Some(PaymentStatus::Registered),
        "settle" => Some(PaymentStatus::Settled),
        "void" => Some(PaymentStatus::Voided),
        _ => None,
    }
}

/// The kinds of movement of a delivery's fee.
const FEE_KINDS: [&str; 3] = ["register", "settle", "void"];

use crate::CheckError;

/// Ids per `IN (…)` list: far under every backend's limit on bound parameters.
pub const BATCH: usize = 500;

/// A delivery-list row, as much of it as the checks compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListRow {
    pub status: String,
    pub cost: i64,
    pub settled: Option<i64>,
    pub updated_at: DateTime<Utc>,
}

/// What the ledger and the list hold for one batch of deliveries.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub payments: HashMap<String, Payment>,
    pub movements: HashMap<String, Vec<Movement>>,
    pub rows: HashMap<String, ListRow>,
}

/// A page of ids whose records changed, and where the next page starts.
pub(crate) struct Page<C> {
    pub ids: Vec<String>,
    pub next: Option<C>,
}

/// Handles on both databases.
pub(crate) struct Records {
    ledger: DatabaseConnection,
    list: DatabaseConnection,
}

fn col(name: &str) -> Alias {
    Alias::new(name)
}

async fn all(db: &DatabaseConnection, query: &SelectStatement) -> Result<Vec<QueryResult>, DbErr> {
    db.query_all(db.get_database_backend().build(query)).await
}

impl Records {
    /// Opens both databases, refusing one whose schema is not migrated.
    pub(crate) async fn open(ledger_url: &str, readmodel_url: &str) -> Result<Records, CheckError> {
        // The services' own handles check the schemas; the queries below are the checker's.
        drop(payment::Ledger::connect(ledger_url).await?);
        drop(readmodel::ReadModel::connect(readmodel_url).await?);
        let options = db::PoolOptions {
            max_connections: 2,
            ..db::PoolOptions::default()
        };
        let open = |url: &str, what: &'static str| {
            let url = url.to_owned();
            let options = options.clone();
            async move {
                db::connect(&url, &options)
                    .await
                    .map_err(|e| CheckError::Records(what, e.to_string()))
            }
        };
        Ok(Records {
            ledger: open(ledger_url, "payment ledger").await?,
            list: open(readmodel_url, "delivery list").await?,
        })
    }

    /// The payments, journals and list rows of `ids` (at most [`BATCH`]).
    pub(crate) async fn batch(&self, ids: &[String]) -> Result<Batch, CheckError> {
        let ledger = |e: DbErr| CheckError::Records("payment ledger", e.to_string());
        let list = |e: DbErr| CheckError::Records("delivery list", e.to_string());
        let mut batch = Batch::default();
        if ids.is_empty() {
            return Ok(batch);
        }
        let in_ids = || Expr::col(col("delivery_id")).is_in(ids.iter().cloned());

        let query = Query::select()
            .columns([
                "delivery_id",
                "amount",
                "status",
                "registered_at",
                "settled_at",
                "voided_at",
                "restaurant_id",
                "commission_bps",
                "commission",
                "rider_id",
                "failure_reason",
            ])
            .from(col("payments"))
            .and_where(in_ids())
            .to_owned();
        for row in all(&self.ledger, &query).await.map_err(ledger)? {
            let payment = Payment {
                delivery_id: row.try_get("", "delivery_id").map_err(ledger)?,
                amount: row.try_get("", "amount").map_err(ledger)?,
                status: status(&row).map_err(ledger)?,
                registered_at: row.try_get("", "registered_at").map_err(ledger)?,
                settled_at: row.try_get("", "settled_at").map_err(ledger)?,
                voided_at: row.try_get("", "voided_at").map_err(ledger)?,
                restaurant_id: row
                    .try_get::<Option<String>>("", "restaurant_id")
                    .map_err(ledger)?
                    .unwrap_or_default(),
                commission_bps: row
                    .try_get::<i32>("", "commission_bps")
                    .map_err(ledger)?
                    .try_into()
                    .unwrap_or_default(),
                commission: row.try_get("", "commission").map_err(ledger)?,
                rider_id: row.try_get("", "rider_id").map_err(ledger)?,
                failure_reason: row.try_get("", "failure_reason").map_err(ledger)?,
            };
            batch.payments.insert(payment.delivery_id.clone(), payment);
        }

        let m = || col("m");
        let query = Query::select()
            .column((m(), col("delivery_id")))
            .column((m(), col("kind")))
            .column((m(), col("at")))
            .expr_as(Expr::cust("CAST(SUM(e.amount) AS BIGINT)"), col("amount"))
            .from_as(col("ledger_movements"), m())
            .join_as(
                JoinType::LeftJoin,
                col("ledger_entries"),
                col("e"),
                Expr::col((col("e"), col("movement_id"))).equals((m(), col("id"))),
            )
            .and_where(Expr::col((m(), col("delivery_id"))).is_in(ids.iter().cloned()))
            .and_where(Expr::col((m(), col("kind"))).is_in(FEE_KINDS))
            .group_by_columns([
                (m(), col("id")),
                (m(), col("delivery_id")),
                (m(), col("kind")),
                (m(), col("at")),
            ])
            .order_by((m(), col("at")), Order::Asc)
            .order_by((m(), col("id")), Order::Asc)
            .to_owned();
        for row in all(&self.ledger, &query).await.map_err(ledger)? {
            let kind: String = row.try_get("", "kind").map_err(ledger)?;
            let Some(kind) = moved_to(&kind) else {
                continue;
            };
            let movement = Movement {
                delivery_id: row.try_get("", "delivery_id").map_err(ledger)?,
                kind,
                amount: row
                    .try_get::<Option<i64>>("", "amount")
                    .map_err(ledger)?
                    .unwrap_or(0),
                at: row.try_get("", "at").map_err(ledger)?,
            };
            batch
                .movements
                .entry(movement.delivery_id.clone())
                .or_default()
                .push(movement);
        }

        let query = Query::select()
            .columns(["delivery_id", "status", "cost", "settled", "updated_at"])
            .from(col("delivery_list"))
            .and_where(in_ids())
            .to_owned();
        for row in all(&self.list, &query).await.map_err(list)? {
            let id: String = row.try_get("", "delivery_id").map_err(list)?;
            batch.rows.insert(
                id,
                ListRow {
                    status: row.try_get("", "status").map_err(list)?,
                    cost: row.try_get("", "cost").map_err(list)?,
                    settled: row.try_get("", "settled").map_err(list)?,
                    updated_at: row.try_get("", "updated_at").map_err(list)?,
                },
            );
        }
        Ok(batch)
    }

    /// The deliveries whose fee moved at or after `since` (every movement when `None`), after
    /// the movement `after` in (time, id) order, a page of movements at a time. An id is listed
    /// on the page of its last movement only, so each comes once a run.
    pub(crate) async fn moved(
        &self,
        since: Option<DateTime<Utc>>,
        after: Option<(DateTime<Utc>, String)>,
    ) -> Result<Page<(DateTime<Utc>, String)>, CheckError> {
        let ledger = |e: DbErr| CheckError::Records("payment ledger", e.to_string());
        let mut query = Query::select()
            .columns(["at", "id", "delivery_id"])
            .from(col("ledger_movements"))
            .and_where(Expr::col(col("kind")).is_in(FEE_KINDS))
            .order_by(col("at"), Order::Asc)
            .order_by(col("id"), Order::Asc)
            .limit(BATCH as u64)
            .to_owned();
        if let Some(since) = since {
            query.and_where(Expr::col(col("at")).gte(since));
        }
        if let Some((at, id)) = &after {
            query.cond_where(
                Cond::any().add(Expr::col(col("at")).gt(*at)).add(
                    Cond::all()
                        .add(Expr::col(col("at")).eq(*at))
                        .add(Expr::col(col("id")).gt(id.clone())),
                ),
            );
        }
        let rows = all(&self.ledger, &query).await.map_err(ledger)?;
        let full = rows.len() == BATCH;
        let mut page: Vec<(DateTime<Utc>, String, String)> = Vec::with_capacity(rows.len());
        for row in rows {
            page.push((
                row.try_get("", "at").map_err(ledger)?,
                row.try_get("", "id").map_err(ledger)?,
                row.try_get("", "delivery_id").map_err(ledger)?,
            ));
        }
        let Some((last_at, last_id, _)) = page.last().cloned() else {
            return Ok(Page {
                ids: Vec::new(),
                next: None,
            });
        };
        let next = full.then(|| (last_at, last_id.clone()));
        // Ids moved again later are left to the page of their later movement.
        let mut ids: Vec<String> = page.into_iter().map(|(_, _, id)| id).collect();
        ids.sort();
        ids.dedup();
        let query = Query::select()
            .column("delivery_id")
            .from(col("ledger_movements"))
            .and_where(Expr::col(col("delivery_id")).is_in(ids.iter().cloned()))
            .cond_where(
                Cond::any().add(Expr::col(col("at")).gt(last_at)).add(
                    Cond::all()
                        .add(Expr::col(col("at")).eq(last_at))
                        .add(Expr::col(col("id")).gt(last_id)),
                ),
            )
            .to_owned();
        let mut later = std::collections::HashSet::new();
        for row in all(&self.ledger, &query).await.map_err(ledger)? {
            later.insert(row.try_get::<String>("", "delivery_id").map_err(ledger)?);
        }
        ids.retain(|id| !later.contains(id));
        Ok(Page { ids, next })
    }

    /// The deliveries whose list row was written at or after `since` (every row when
    /// `None`), after the row `after` in (update time, id) order, a page at a time.
    pub(crate) async fn listed(
        &self,
        since: Option<DateTime<Utc>>,
        after: Option<(DateTime<Utc>, String)>,
    ) -> Result<Page<(DateTime<Utc>, String)>, CheckError> {
        let list = |e: DbErr| CheckError::Records("delivery list", e.to_string());
        let mut query = Query::select()
            .columns(["delivery_id", "updated_at"])
            .from(col("delivery_list"))
            .order_by(col("updated_at"), Order::Asc)
            .order_by(col("delivery_id"), Order::Asc)
            .limit(BATCH as u64)
            .to_owned();
        if let Some(since) = since {
            query.and_where(Expr::col(col("updated_at")).gte(since));
        }
        if let Some((at, id)) = after {
            query.cond_where(
                Cond::any().add(Expr::col(col("updated_at")).gt(at)).add(
                    Cond::all()
                        .add(Expr::col(col("updated_at")).eq(at))
                        .add(Expr::col(col("delivery_id")).gt(id)),
                ),
            );
        }
        let rows = all(&self.list, &query).await.map_err(list)?;
        let full = rows.len() == BATCH;
        let mut ids = Vec::with_capacity(rows.len());
        let mut last = None;
        for row in rows {
            let id: String = row.try_get("", "delivery_id").map_err(list)?;
            let at: DateTime<Utc> = row.try_get("", "updated_at").map_err(list)?;
            last = Some((at, id.clone()));
            ids.push(id);
        }
        Ok(Page {
            ids,
            next: last.filter(|_| full),
        })
    }
}

fn status(row: &QueryResult) -> Result<PaymentStatus, DbErr> {
    let status: String = row.try_get("", "status")?;
    sea_orm::ActiveEnum::try_from_value(&status)
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use sea_orm::sea_query::Query;

    use super::*;

    async fn stores() -> (
        Records,
        payment::Ledger,
        DatabaseConnection,
        std::path::PathBuf,
    ) {
        let dir = std::env::temp_dir().join(format!(
            "delivery-check-records-{}-{}",
            std::process::id(),
            Utc::now().timestamp_nanos_opt().unwrap_or(0)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let ledger_url = format!("sqlite://{}?mode=rwc", dir.join("ledger.db").display());
        let list_url = format!("sqlite://{}?mode=rwc", dir.join("list.db").display());
        let ledger = payment::Ledger::open_migrated(&ledger_url).await.unwrap();
        drop(
            readmodel::ReadModel::open_migrated(&list_url)
                .await
                .unwrap(),
        );
        let list = db::connect(&list_url, &db::PoolOptions::default())
            .await
            .unwrap();
        let records = Records::open(&ledger_url, &list_url).await.unwrap();
        (records, ledger, list, dir)
    }

    async fn list_row(list: &DatabaseConnection, id: &str, status: &str, at: DateTime<Utc>) {
        let insert = Query::insert()
            .into_table(col("delivery_list"))
            .columns([
                "delivery_id",
                "restaurant_id",
                "destination",
                "cost",
                "status",
                "settled",
                "updated_at",
                "seq",
            ])
            .values_panic([
                id.into(),
                "r-1".into(),
                "Seoul".into(),
                1000i64.into(),
                status.into(),
                Option::<i64>::None.into(),
                at.into(),
                1i64.into(),
            ])
            .to_owned();
        list.execute(list.get_database_backend().build(&insert))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn batches_and_pages_read_only_the_ids_and_the_window_asked_for() {
        let (records, ledger, list, dir) = stores().await;
        let registration = |id: &str, amount| payment::Registration {
            delivery_id: id.to_owned(),
            restaurant_id: "r-1".to_owned(),
            amount,
            commission: domain::CommissionBps::DEFAULT,
        };
        ledger.register(&registration("d-1", 1000)).await.unwrap();
        ledger.settle("d-1", "k-1", None).await.unwrap();
        ledger.register(&registration("d-2", 2000)).await.unwrap();
        let now = Utc::now();
        list_row(&list, "d-1", "Completed", now - TimeDelta::hours(3)).await;
        list_row(&list, "d-2", "Called", now).await;

        let batch = records
            .batch(&["d-1".to_owned(), "d-9".to_owned()])
            .await
            .unwrap();
        assert_eq!(batch.payments.len(), 1);
        assert_eq!(batch.payments["d-1"].status, PaymentStatus::Settled);
        assert_eq!(batch.movements["d-1"].len(), 2);
        assert_eq!(batch.rows["d-1"].status, "Completed");
        assert!(!batch.rows.contains_key("d-2"));

        // Every movement: each id once, on the page of its last movement.
        let page = records.moved(None, None).await.unwrap();
        assert_eq!(page.ids, vec!["d-1".to_owned(), "d-2".to_owned()]);
        assert!(page.next.is_none());
        // Nothing moved in the future; all of it in the last hour.
        let later = records
            .moved(Some(now + TimeDelta::minutes(1)), None)
            .await
            .unwrap();
        assert!(later.ids.is_empty());
        let recent = records
            .moved(Some(now - TimeDelta::hours(1)), None)
            .await
            .unwrap();
        assert_eq!(recent.ids.len(), 2);

        // List rows written in the last hour: only d-2.
        let listed = records
            .listed(Some(now - TimeDelta::hours(1)), None)
            .await
            .unwrap();
        assert_eq!(listed.ids, vec!["d-2".to_owned()]);
        let all = records.listed(None, None).await.unwrap();
        assert_eq!(all.ids, vec!["d-1".to_owned(), "d-2".to_owned()]);
        let rest = records
            .listed(None, Some((now - TimeDelta::hours(3), "d-1".to_owned())))
            .await
            .unwrap();
        assert_eq!(rest.ids, vec!["d-2".to_owned()]);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
