//! The ledger's own audit: proves from the database alone that the book adds up and that every
//! document (payment, payout, adjustment, invoice) equals the movements booked for it. It reads
//! everything through plain queries, not through the code that wrote it, so a movement written
//! wrong by hand (or by a bug) is found.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use domain::{CommissionBps, Split};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter};

use super::adjustments::{Adjustment, Holder};
use super::book::{self, Account, Leg};
use super::entity::{account, adjustment, invoice, invoice_item, payment, payout};
use super::{Ledger, LedgerError, Payment, PaymentStatus};

/// One thing the audit found wrong: what it concerns (an account, a movement, a document) and
/// how it is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub subject: String,
    pub problem: String,
}

#[derive(Debug, FromQueryResult)]
struct EntryRow {
    movement_id: String,
    kind: String,
    delivery_id: Option<String>,
    debit_account: Option<String>,
    credit_account: Option<String>,
    amount: Option<i64>,
}

#[derive(Debug, FromQueryResult)]
struct TotalRow {
    id: String,
    debits: i64,
    credits: i64,
    entry_debits: Option<i64>,
    entry_credits: Option<i64>,
}

impl Ledger {
    /// Audits the book: every account's totals against its entries and the held account
    /// against the payments still registered (always all of them: both are sums), and the
    /// movements booked at or after `since` (all when `None`) against their documents.
    pub async fn audit(&self, since: Option<DateTime<Utc>>) -> Result<Vec<Finding>, LedgerError> {
        let db = self.db();
        let backend = db.get_database_backend();
        let mut findings = Vec::new();
        let mut found = |subject: &str, problem: String| {
            findings.push(Finding {
                subject: subject.to_owned(),
                problem,
            })
        };

        // 1. Each account's totals are the sums of its entries; debits equal credits overall.
        let totals = TotalRow::find_by_statement(book::statement(
            backend,
            "SELECT a.id AS id, a.debits AS debits, a.credits AS credits, \
                    CAST((SELECT SUM(amount) FROM ledger_entries WHERE debit_account = a.id) AS BIGINT) AS entry_debits, \
                    CAST((SELECT SUM(amount) FROM ledger_entries WHERE credit_account = a.id) AS BIGINT) AS entry_credits \
             FROM ledger_accounts a",
            [],
        ))
        .all(db)
        .await?;
        let (mut all_debits, mut all_credits) = (0i64, 0i64);
        let mut balances = HashMap::new();
        for row in &totals {
            let entries = (
                row.entry_debits.unwrap_or(0),
                row.entry_credits.unwrap_or(0),
            );
            if (row.debits, row.credits) != entries {
                found(
                    &row.id,
                    format!(
                        "totals say {} debited and {} credited, its entries {} and {}",
                        row.debits, row.credits, entries.0, entries.1
                    ),
                );
            }
            all_debits += entries.0;
            all_credits += entries.1;
            balances.insert(row.id.clone(), entries.1 - entries.0);
        }
        if all_debits != all_credits {
            found(
                "ledger",
                format!("debits {all_debits} do not equal credits {all_credits}"),
            );
        }

        // 2. The held account holds exactly the fees still registered.
        let registered: i64 = payment::Entity::find()
            .filter(payment::Column::Status.eq(PaymentStatus::Registered))
            .all(db)
            .await?
            .iter()
            .map(|p| p.amount)
            .sum();
        let held = balances.get(&Account::Held.key()).copied().unwrap_or(0);
        if held != registered {
            found(
                &Account::Held.key(),
                format!("holds {held} while the registered payments add up to {registered}"),
            );
        }

        // 3. Riders are never paid out more than they were credited.
        for row in account::Entity::find()
            .filter(account::Column::Id.starts_with("rider:"))
            .all(db)
            .await?
        {
            let paid = payout::Entity::find()
                .filter(payout::Column::RiderId.eq(row.id.trim_start_matches("rider:")))
                .all(db)
                .await?
                .iter()
                .map(|p| p.amount)
                .sum::<i64>();
            if paid > row.credits {
                found(
                    &row.id,
                    format!("paid out {paid}, more than the {} credited", row.credits),
                );
            }
        }

        // 4. Each movement since `since` is exactly what its document says.
        let since = since.unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
        let rows = EntryRow::find_by_statement(book::statement(
            backend,
            "SELECT m.id AS movement_id, m.kind AS kind, m.delivery_id AS delivery_id, \
                    e.debit_account AS debit_account, e.credit_account AS credit_account, \
                    e.amount AS amount \
             FROM ledger_movements m LEFT JOIN ledger_entries e ON e.movement_id = m.id \
             WHERE m.at >= $1 ORDER BY m.id, e.id",
            [since.into()],
        ))
        .all(db)
        .await?;
        let mut movements: BTreeMap<String, (String, Option<String>, Vec<Leg>)> = BTreeMap::new();
        for row in rows {
            let movement = movements
                .entry(row.movement_id)
                .or_insert_with(|| (row.kind, row.delivery_id, Vec::new()));
            if let (Some(debit), Some(credit), Some(amount)) =
                (row.debit_account, row.credit_account, row.amount)
            {
                movement
                    .2
                    .push(Leg::new(parse(&debit), parse(&credit), amount));
            }
        }
        let payouts: HashMap<String, payout::Model> = payout::Entity::find()
            .all(db)
            .await?
            .into_iter()
            .map(|p| (p.movement_id.clone(), p))
            .collect();
        let adjustments: HashMap<String, adjustment::Model> = adjustment::Entity::find()
            .all(db)
            .await?
            .into_iter()
            .map(|a| (a.movement_id.clone(), a))
            .collect();
        let mut payments: HashMap<String, Payment> = HashMap::new();
        for (id, (kind, delivery_id, legs)) in &movements {
            let expected: Option<Vec<Leg>> = match kind.as_str() {
                "register" | "settle" | "void" => {
                    let Some(delivery_id) = delivery_id else {
                        found(id, "names no delivery".to_owned());
                        continue;
                    };
                    if !payments.contains_key(delivery_id) {
                        match payment::Entity::find_by_id(delivery_id.clone())
                            .one(db)
                            .await?
                        {
                            Some(row) => {
                                payments.insert(delivery_id.clone(), row.into());
                            }
                            None => {
                                found(id, "has no payment".to_owned());
                                continue;
                            }
                        }
                    }
                    let payment = &payments[delivery_id];
                    payment_legs(kind, payment, &mut |problem| found(id, problem))
                }
                "payout" => payouts.get(id).map(|p| {
                    vec![Leg::new(
                        Account::Rider(p.rider_id.clone()),
                        Account::Payouts,
                        p.amount,
                    )]
                }),
                "adjustment" => adjustments.get(id).and_then(|a| {
                    let holder = match a.role.as_str() {
                        "rider" => Holder::Rider,
                        _ => Holder::Restaurant,
                    };
                    (a.amount != 0).then(|| vec![Adjustment::leg(holder, &a.account_id, a.amount)])
                }),
                other => {
                    found(id, format!("has an unknown kind {other:?}"));
                    continue;
                }
            };
            match expected {
                None => found(id, format!("is a {kind} with no document")),
                Some(mut expected) => {
                    expected.retain(|leg| leg.amount != 0);
                    if sorted(legs.clone()) != sorted(expected.clone()) {
                        found(
                            id,
                            format!(
                                "books {} where its document says {}",
                                show(legs),
                                show(&expected)
                            ),
                        );
                    }
                }
            }
        }
        // Every settled or voided payment has its movement (a missing one moved no money).
        for payment in payment::Entity::find()
            .filter(payment::Column::Status.ne(PaymentStatus::Registered))
            .all(db)
            .await?
        {
            let closed_at = payment
                .settled_at
                .or(payment.voided_at)
                .unwrap_or(payment.registered_at);
            let kind = match payment.status {
                PaymentStatus::Settled => "settle",
                _ => "void",
            };
            let id = format!("{kind}:{}", payment.delivery_id);
            if closed_at >= since && !movements.contains_key(&id) {
                found(
                    &id,
                    format!(
                        "payment is {} but nothing was booked",
                        payment.status.as_str()
                    ),
                );
            }
        }

        // 5. Invoices: totals are their items, items are what the book says, numbers have no gaps.
        let items = invoice_item::Entity::find().all(db).await?;
        let mut per_invoice: HashMap<&str, i64> = HashMap::new();
        for item in &items {
            *per_invoice.entry(&item.invoice_number).or_default() += item.amount;
            let expected = match item.movement_id.split_once(':') {
                Some(("settle", delivery_id)) => {
                    payment::Entity::find_by_id(delivery_id.to_owned())
                        .one(db)
                        .await?
                        .map(|p| p.amount)
                }
                Some(("adjustment", _)) => adjustments.get(&item.movement_id).map(|a| a.amount),
                _ => None,
            };
            if expected != Some(item.amount) {
                found(
                    &item.invoice_number,
                    format!(
                        "lists {} at {}, the book says {expected:?}",
                        item.movement_id, item.amount
                    ),
                );
            }
        }
        let mut seqs: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for header in invoice::Entity::find().all(db).await? {
            let listed = per_invoice
                .get(header.number.as_str())
                .copied()
                .unwrap_or(0);
            if listed != header.total {
                found(
                    &header.number,
                    format!("totals {} but its items add up to {listed}", header.total),
                );
            }
            seqs.entry(header.restaurant_id)
                .or_default()
                .push(header.seq);
        }
        for (restaurant, mut numbers) in seqs {
            numbers.sort_unstable();
            if numbers.iter().zip(1..).any(|(n, expected)| *n != expected) {
                found(
                    &format!("restaurant:{restaurant}"),
                    format!("invoice numbers {numbers:?} are not 1, 2, 3… without gaps"),
                );
            }
        }
        Ok(findings)
    }
}

/// The legs a payment's `kind` of movement must book.
fn payment_legs(kind: &str, payment: &Payment, found: &mut impl FnMut(String)) -> Option<Vec<Leg>> {
    let restaurant = Account::Restaurant(payment.restaurant_id.clone());
    match kind {
        "register" => Some(vec![Leg::new(restaurant, Account::Held, payment.amount)]),
        "settle" => {
            if payment.status != PaymentStatus::Settled {
                found(format!(
                    "is booked but the payment is {}",
                    payment.status.as_str()
                ));
            }
            let rate = CommissionBps::new(i64::from(payment.commission_bps)).unwrap_or_default();
            // Legacy payments settled whole, before commissions existed.
            let split = match payment.restaurant_id.as_str() {
                super::LEGACY => Split {
                    commission: 0,
                    earning: payment.amount,
                },
                _ => Split::of(payment.amount, rate),
            };
            if split.commission != payment.commission {
                found(format!(
                    "the payment's commission {} is not {} bps of {}",
                    payment.commission, payment.commission_bps, payment.amount
                ));
            }
            let rider = Account::Rider(payment.rider_id.clone().unwrap_or_default());
            Some(vec![
                Leg::new(Account::Held, rider, split.earning),
                Leg::new(Account::Held, Account::Commission, split.commission),
            ])
        }
        _ => {
            if payment.status != PaymentStatus::Voided {
                found(format!(
                    "is booked but the payment is {}",
                    payment.status.as_str()
                ));
            }
            Some(vec![Leg::new(Account::Held, restaurant, payment.amount)])
        }
    }
}

/// An account from its id in the book (an unknown name stays recognisable in a finding).
fn parse(key: &str) -> Account {
    match key.split_once(':') {
        Some(("restaurant", id)) => Account::Restaurant(id.to_owned()),
        Some(("rider", id)) => Account::Rider(id.to_owned()),
        _ => match key {
            "agency:held" => Account::Held,
            "agency:commission" => Account::Commission,
            "agency:payouts" => Account::Payouts,
            "agency:adjustments" => Account::Adjustments,
            other => Account::Restaurant(format!("?{other}")),
        },
    }
}

fn sorted(mut legs: Vec<Leg>) -> Vec<(String, String, i64)> {
    let mut keyed: Vec<_> = legs
        .drain(..)
        .map(|leg| (leg.debit.key(), leg.credit.key(), leg.amount))
        .collect();
    keyed.sort();
    keyed
}

fn show(legs: &[Leg]) -> String {
    let parts: Vec<String> = legs
        .iter()
        .map(|leg| format!("{} → {} {}", leg.debit.key(), leg.credit.key(), leg.amount))
        .collect();
    match parts.is_empty() {
        true => "nothing".to_owned(),
        false => parts.join(", "),
    }
}
