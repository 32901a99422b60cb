//! Invoices: what each restaurant is billed for a period, numbered `{restaurantId}-{n}` with
//! `n` counting 1, 2, 3… per restaurant without gaps (a number is taken only in the
//! transaction that issues the invoice, under the restaurant's account lock), and never changed
//! once issued (the tables are append-only).
//!
//! An invoice lists every settlement and adjustment of the restaurant booked before the
//! period's end that no earlier invoice listed (a movement is on at most one invoice, by the
//! schema), so nothing is billed twice and a late one goes on the next invoice.

use chrono::{DateTime, Utc};
use domain::Period;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};

use super::book::{self, Account};
use super::entity::{invoice, invoice_item};
use super::payouts::validate_period;
use super::{Ledger, LedgerError, validate_account_id};

/// Most invoices one page lists.
pub const MAX_PAGE: u64 = 200;

/// A delivery an invoice charges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceLine {
    pub delivery_id: String,
    pub completed_at: DateTime<Utc>,
    pub cost: i64,
}

/// An adjustment an invoice carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceAdjustment {
    pub id: String,
    pub amount: i64,
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// An issued invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    pub number: String,
    pub restaurant_id: String,
    pub period: Period,
    pub lines: Vec<InvoiceLine>,
    pub adjustments: Vec<InvoiceAdjustment>,
    pub total: i64,
    pub issued_at: DateTime<Utc>,
}

/// An item not invoiced yet: a settlement (with its delivery) or an adjustment (with its reason).
#[derive(Debug, FromQueryResult)]
struct Pending {
    movement_id: String,
    delivery_id: Option<String>,
    amount: i64,
    at: DateTime<Utc>,
}

impl Ledger {
    /// Issues `restaurant_id`'s invoice for `period`, once: the invoice (issued now or by an
    /// earlier call for the same period), or `None` when there is nothing to bill.
    pub async fn issue_invoice(
        &self,
        restaurant_id: &str,
        period: &Period,
    ) -> Result<Option<Invoice>, LedgerError> {
        validate_account_id("restaurant_id", restaurant_id)?;
        validate_period(period)?;
        let txn = self.db().begin().await?;
        if !book::lock_account(&txn, &Account::Restaurant(restaurant_id.to_owned())).await? {
            return Ok(None);
        }
        if let Some(issued) = invoice::Entity::find()
            .filter(invoice::Column::RestaurantId.eq(restaurant_id))
            .filter(invoice::Column::Period.eq(&period.label))
            .one(&txn)
            .await?
        {
            let number = issued.number.clone();
            drop(txn);
            return self.invoice(&number).await.map(Some);
        }
        let pending = pending_items(&txn, Some(restaurant_id), period.end).await?;
        if pending.is_empty() {
            return Ok(None);
        }
        let seq = invoice::Entity::find()
            .select_only()
            .column_as(invoice::Column::Seq.max(), "seq")
            .filter(invoice::Column::RestaurantId.eq(restaurant_id))
            .into_tuple::<Option<i64>>()
            .one(&txn)
            .await?
            .flatten()
            .unwrap_or(0)
            + 1;
        let number = format!("{restaurant_id}-{seq}");
        let now = super::now();
        invoice::Entity::insert(invoice::ActiveModel::from(invoice::Model {
            number: number.clone(),
            restaurant_id: restaurant_id.to_owned(),
            seq,
            period: period.label.clone(),
            period_start: period.start,
            period_end: period.end,
            total: pending.iter().map(|item| item.amount).sum(),
            issued_at: now,
        }))
        .exec_without_returning(&txn)
        .await?;
        invoice_item::Entity::insert_many(pending.into_iter().map(|item| {
            invoice_item::ActiveModel::from(invoice_item::Model {
                movement_id: item.movement_id,
                invoice_number: number.clone(),
                delivery_id: item.delivery_id,
                amount: item.amount,
                at: item.at,
            })
        }))
        .exec_without_returning(&txn)
        .await?;
        txn.commit().await?;
        tracing::info!(restaurant_id, number, period = %period.label, "invoice issued");
        self.invoice(&number).await.map(Some)
    }

    /// The restaurants with something to bill before `before`, by id. Not `legacy`: the fees
    /// carried over from before the double-entry ledger were billed outside it.
    pub async fn restaurants_to_invoice(
        &self,
        before: DateTime<Utc>,
    ) -> Result<Vec<String>, LedgerError> {
        let mut ids: Vec<String> = pending_items(self.db(), None, before)
            .await?
            .into_iter()
            .filter_map(|item| item.delivery_id)
            .filter(|id| id != super::LEGACY)
            .collect();
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    /// One invoice by number, or `NotFound`.
    pub async fn invoice(&self, number: &str) -> Result<Invoice, LedgerError> {
        let header = invoice::Entity::find_by_id(number.to_owned())
            .one(self.db())
            .await?
            .ok_or_else(|| LedgerError::NotFound(format!("invoice {number}")))?;
        let backend = self.db().get_database_backend();
        let lines = LineRow::find_by_statement(book::statement(
            backend,
            "SELECT i.delivery_id AS delivery_id, i.at AS at, i.amount AS amount, \
                    a.movement_id AS adjustment, a.reason AS reason \
             FROM invoice_items i LEFT JOIN adjustments a ON a.movement_id = i.movement_id \
             WHERE i.invoice_number = $1 ORDER BY i.at, i.movement_id",
            [number.into()],
        ))
        .all(self.db())
        .await?;
        let mut invoice = Invoice {
            number: header.number,
            restaurant_id: header.restaurant_id,
            period: Period {
                label: header.period,
                start: header.period_start,
                end: header.period_end,
            },
            lines: Vec::new(),
            adjustments: Vec::new(),
            total: header.total,
            issued_at: header.issued_at,
        };
        for line in lines {
            match line.adjustment {
                Some(id) => invoice.adjustments.push(InvoiceAdjustment {
                    id: id.strip_prefix("adjustment:").unwrap_or(&id).to_owned(),
                    amount: line.amount,
                    reason: line.reason.unwrap_or_default(),
                    at: line.at,
                }),
                None => invoice.lines.push(InvoiceLine {
                    delivery_id: line.delivery_id.unwrap_or_default(),
                    completed_at: line.at,
                    cost: line.amount,
                }),
            }
        }
        Ok(invoice)
    }

    /// A restaurant's invoices, newest first (headers: lines are read one invoice at a time):
    /// up to `limit` after `cursor`, and the next page's cursor if there is one.
    pub async fn invoices_of(
        &self,
        restaurant_id: &str,
        cursor: Option<&str>,
        limit: u64,
    ) -> Result<(Vec<Invoice>, Option<String>), LedgerError> {
        validate_account_id("restaurant_id", restaurant_id)?;
        let limit = limit.clamp(1, MAX_PAGE);
        let mut query =
            invoice::Entity::find().filter(invoice::Column::RestaurantId.eq(restaurant_id));
        if let Some(cursor) = cursor {
            let before: i64 = cursor
                .parse()
                .map_err(|_| LedgerError::InvalidArgument(format!("bad cursor {cursor:?}")))?;
            query = query.filter(invoice::Column::Seq.lt(before));
        }
        let mut rows = query
            .order_by_desc(invoice::Column::Seq)
            .limit(limit + 1)
            .all(self.db())
            .await?;
        let next = (rows.len() as u64 > limit).then(|| {
            rows.truncate(limit as usize);
            rows.last().map(|last| last.seq.to_string())
        });
        let invoices = rows
            .into_iter()
            .map(|row| Invoice {
                number: row.number,
                restaurant_id: row.restaurant_id,
                period: Period {
                    label: row.period,
                    start: row.period_start,
                    end: row.period_end,
                },
                lines: Vec::new(),
                adjustments: Vec::new(),
                total: row.total,
                issued_at: row.issued_at,
            })
            .collect();
        Ok((invoices, next.flatten()))
    }
}

#[derive(Debug, FromQueryResult)]
struct LineRow {
    delivery_id: Option<String>,
    at: DateTime<Utc>,
    amount: i64,
    adjustment: Option<String>,
    reason: Option<String>,
}

/// Settlements and adjustments booked before `before` that no invoice lists yet, of one
/// restaurant or of all. For the list of restaurants, `delivery_id` carries the restaurant's id.
async fn pending_items(
    db: &impl ConnectionTrait,
    restaurant_id: Option<&str>,
    before: DateTime<Utc>,
) -> Result<Vec<Pending>, LedgerError> {
    let backend = db.get_database_backend();
    let (settled_filter, adjusted_filter, values) = match restaurant_id {
        Some(id) => (
            "AND p.restaurant_id = $2",
            "AND a.account_id = $2",
            vec![before.into(), id.into()],
        ),
        None => ("", "", vec![before.into()]),
    };
    let delivery = match restaurant_id {
        Some(_) => ("p.delivery_id", "a.delivery_id"),
        None => ("p.restaurant_id", "a.account_id"),
    };
    let sql = format!(
        "SELECT m.id AS movement_id, {d1} AS delivery_id, p.amount AS amount, m.at AS at \
         FROM ledger_movements m JOIN payments p ON p.delivery_id = m.delivery_id \
         WHERE m.kind = 'settle' AND m.at < $1 {settled_filter} \
           AND NOT EXISTS (SELECT 1 FROM invoice_items i WHERE i.movement_id = m.id) \
         UNION ALL \
         SELECT a.movement_id AS movement_id, {d2} AS delivery_id, a.amount AS amount, a.at AS at \
         FROM adjustments a \
         WHERE a.role = 'restaurant' AND a.at < $1 {adjusted_filter} \
           AND NOT EXISTS (SELECT 1 FROM invoice_items i WHERE i.movement_id = a.movement_id) \
         ORDER BY at, movement_id",
        d1 = delivery.0,
        d2 = delivery.1,
    );
    Ok(
        Pending::find_by_statement(book::statement(backend, &sql, values))
            .all(db)
            .await?,
    )
}
