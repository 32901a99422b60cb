//! Rider statements: what a rider earned over a range of days (UTC), from the book.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::adjustments::{Adjustment, Holder};
use super::entity::{payment, payout};
use super::{Ledger, LedgerError, PaymentStatus, validate_account_id};

/// Longest range a statement covers, in days.
pub const MAX_DAYS: i64 = 366;

/// A delivery settled to the rider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementLine {
    pub delivery_id: String,
    pub completed_at: DateTime<Utc>,
    pub cost: i64,
    pub commission: i64,
    pub earning: i64,
    pub failure_reason: Option<String>,
}

/// A rider's statement for `from..=to`: `total` = Σ earnings + Σ adjustments, `paid_out` = the
/// payouts for periods starting in the range, `balance` = `total − paid_out`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub rider_id: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub lines: Vec<StatementLine>,
    pub adjustments: Vec<Adjustment>,
    pub total: i64,
    pub paid_out: i64,
    pub balance: i64,
}

impl Ledger {
    /// `rider_id`'s statement for the days `from` to `to`, both included.
    pub async fn statement(
        &self,
        rider_id: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Statement, LedgerError> {
        validate_account_id("rider_id", rider_id)?;
        let days = (to - from).num_days();
        if !(0..MAX_DAYS).contains(&days) {
            return Err(LedgerError::InvalidArgument(format!(
                "a statement covers 1 to {MAX_DAYS} days, from no later than to"
            )));
        }
        let start = midnight(from);
        let end = midnight(to + chrono::Days::new(1));
        let lines: Vec<StatementLine> = payment::Entity::find()
            .filter(payment::Column::RiderId.eq(rider_id))
            .filter(payment::Column::Status.eq(PaymentStatus::Settled))
            .filter(payment::Column::SettledAt.gte(start))
            .filter(payment::Column::SettledAt.lt(end))
            .order_by_asc(payment::Column::SettledAt)
            .order_by_asc(payment::Column::DeliveryId)
            .all(self.db())
            .await?
            .into_iter()
            .map(|row| StatementLine {
                completed_at: row.settled_at.unwrap_or(row.registered_at),
                cost: row.amount,
                commission: row.commission,
                earning: row.amount - row.commission,
                failure_reason: row.failure_reason,
                delivery_id: row.delivery_id,
            })
            .collect();
        let adjustments = self
            .adjustments_of(Holder::Rider, rider_id, start, end)
            .await?;
        let paid_out: i64 = payout::Entity::find()
            .filter(payout::Column::RiderId.eq(rider_id))
            .filter(payout::Column::PeriodStart.gte(start))
            .filter(payout::Column::PeriodStart.lt(end))
            .all(self.db())
            .await?
            .iter()
            .map(|p| p.amount)
            .sum();
        let total = lines.iter().map(|l| l.earning).sum::<i64>()
            + adjustments.iter().map(|a| a.amount).sum::<i64>();
        Ok(Statement {
            rider_id: rider_id.to_owned(),
            from,
            to,
            lines,
            adjustments,
            total,
            paid_out,
            balance: total - paid_out,
        })
    }
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&day.and_time(Default::default()))
}
