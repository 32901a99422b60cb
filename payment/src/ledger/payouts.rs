//! Payouts: what the agency pays each rider for a period (`rider` → `agency:payouts`).
//!
//! A payout for (rider, period) pays what the rider earned until the period's end less
//! everything already taken from the account (earlier payouts, claw-backs): never more than was
//! earned, and an earning settled after a period's run is paid by the next. Its id
//! `payout:{riderId}:{period}` makes it once-only; the rider's account is locked while the
//! amount is decided, so two runs cannot both pay the same earnings.

use chrono::{DateTime, Utc};
use domain::Period;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};

use super::book::{self, Account, Kind, Leg};
use super::entity::{account, payout};
use super::{Ledger, LedgerError, validate_account_id};

/// Most payouts one page lists.
pub const MAX_PAGE: u64 = 200;

/// One payout to a rider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payout {
    /// Its movement's id, `payout:{riderId}:{period}`.
    pub payout_id: String,
    pub rider_id: String,
    pub period: Period,
    pub amount: i64,
    pub paid_at: DateTime<Utc>,
}

impl From<payout::Model> for Payout {
    fn from(row: payout::Model) -> Self {
        Payout {
            payout_id: row.movement_id,
            rider_id: row.rider_id,
            period: Period {
                label: row.period,
                start: row.period_start,
                end: row.period_end,
            },
            amount: row.amount,
            paid_at: row.paid_at,
        }
    }
}

impl Ledger {
    /// Pays `rider_id` what it is due for `period`, once: the payout (made now or by an earlier
    /// call for the same period), or `None` when nothing is due.
    pub async fn pay_rider(
        &self,
        rider_id: &str,
        period: &Period,
    ) -> Result<Option<Payout>, LedgerError> {
        validate_account_id("rider_id", rider_id)?;
        validate_period(period)?;
        let rider = Account::Rider(rider_id.to_owned());
        let txn = self.db().begin().await?;
        if !book::lock_account(&txn, &rider).await? {
            return Ok(None);
        }
        if let Some(done) = payout::Entity::find()
            .filter(payout::Column::RiderId.eq(rider_id))
            .filter(payout::Column::Period.eq(&period.label))
            .one(&txn)
            .await?
        {
            return Ok(Some(done.into()));
        }
        let backend = txn.get_database_backend();
        let earned = book::sum(
            &txn,
            book::statement(
                backend,
                "SELECT CAST(SUM(e.amount) AS BIGINT) FROM ledger_entries e \
                 JOIN ledger_movements m ON m.id = e.movement_id \
                 WHERE e.credit_account = $1 AND m.at < $2",
                [rider.key().into(), period.end.into()],
            ),
        )
        .await?;
        let taken = book::sum(
            &txn,
            book::statement(
                backend,
                "SELECT CAST(SUM(amount) AS BIGINT) FROM ledger_entries WHERE debit_account = $1",
                [rider.key().into()],
            ),
        )
        .await?;
        let due = earned - taken;
        if due <= 0 {
            return Ok(None);
        }
        let now = super::now();
        let id = format!("payout:{rider_id}:{}", period.label);
        book::post(
            &txn,
            book::Movement {
                id: id.clone(),
                kind: Kind::Payout,
                delivery_id: None,
                at: now,
                legs: vec![Leg::new(rider, Account::Payouts, due)],
            },
        )
        .await?;
        let row = payout::Model {
            movement_id: id,
            rider_id: rider_id.to_owned(),
            period: period.label.clone(),
            period_start: period.start,
            period_end: period.end,
            amount: due,
            paid_at: now,
        };
        payout::Entity::insert(payout::ActiveModel::from(row.clone()))
            .exec_without_returning(&txn)
            .await?;
        txn.commit().await?;
        tracing::info!(rider_id, period = %period.label, amount = due, "rider paid out");
        Ok(Some(row.into()))
    }

    /// The riders who may be due a payout: those the agency owes something now (a superset of
    /// those due for any period that has ended), by id. Not `legacy`: the settlements carried
    /// over from before the double-entry ledger were paid outside it.
    pub async fn riders_with_balance(&self) -> Result<Vec<String>, LedgerError> {
        let rows: Vec<String> = account::Entity::find()
            .select_only()
            .column(account::Column::Id)
            .filter(account::Column::Id.starts_with("rider:"))
            .filter(account::Column::Id.ne(Account::Rider(super::LEGACY.to_owned()).key()))
            .filter(
                sea_orm::sea_query::Expr::col(account::Column::Credits)
                    .gt(sea_orm::sea_query::Expr::col(account::Column::Debits)),
            )
            .order_by_asc(account::Column::Id)
            .into_tuple()
            .all(self.db())
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|id| id.strip_prefix("rider:").map(str::to_owned))
            .collect())
    }

    /// A rider's payouts, newest period first: up to `limit` after `cursor` (the
    /// `next_cursor` of the page before), and the cursor of the next page if there is one. The
    /// cursor is `{period start, µs since the epoch}.{payout id}`: two payouts may share a start
    /// (a daily and a monthly period, after the schedule changed).
    pub async fn payouts_of(
        &self,
        rider_id: &str,
        cursor: Option<&str>,
        limit: u64,
    ) -> Result<(Vec<Payout>, Option<String>), LedgerError> {
        validate_account_id("rider_id", rider_id)?;
        let limit = limit.clamp(1, MAX_PAGE);
        let mut query = payout::Entity::find().filter(payout::Column::RiderId.eq(rider_id));
        if let Some(cursor) = cursor {
            let bad = || LedgerError::InvalidArgument(format!("bad cursor {cursor:?}"));
            let (micros, id) = cursor.split_once('.').ok_or_else(bad)?;
            let start = micros
                .parse::<i64>()
                .ok()
                .and_then(DateTime::<Utc>::from_timestamp_micros)
                .ok_or_else(bad)?;
            query = query.filter(
                Condition::any()
                    .add(payout::Column::PeriodStart.lt(start))
                    .add(
                        Condition::all()
                            .add(payout::Column::PeriodStart.eq(start))
                            .add(payout::Column::MovementId.lt(id)),
                    ),
            );
        }
        let mut rows = query
            .order_by_desc(payout::Column::PeriodStart)
            .order_by_desc(payout::Column::MovementId)
            .limit(limit + 1)
            .all(self.db())
            .await?;
        let next = (rows.len() as u64 > limit).then(|| {
            rows.truncate(limit as usize);
            rows.last().map(|last| {
                format!(
                    "{}.{}",
                    last.period_start.timestamp_micros(),
                    last.movement_id
                )
            })
        });
        Ok((rows.into_iter().map(Payout::from).collect(), next.flatten()))
    }
}

/// A period the ledger accepts: a label of 1 to 64 characters and a start before its end.
pub(super) fn validate_period(period: &Period) -> Result<(), LedgerError> {
    let label_ok = (1..=64).contains(&period.label.len())
        && period.label.chars().all(|c| c.is_ascii_graphic());
    if !label_ok || period.start >= period.end {
        return Err(LedgerError::InvalidArgument(format!(
            "a period needs a label of 1 to 64 visible characters and a start before its end, got {period:?}"
        )));
    }
    Ok(())
}
