//! The double-entry book: accounts, and [`post`], the one way money moves.
//!
//! A movement is a set of entries written in one transaction; each entry takes one amount from a
//! debit account to a credit account, so a movement's debits equal its credits by construction.
//! Each account keeps running totals of its debits and credits, updated in the same transaction
//! (in a fixed order of account ids, so concurrent movements cannot deadlock); the schema refuses
//! a movement id seen before and lets the held account never give out more than it received.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ConnectionTrait, DbErr, EntityTrait, Statement,
    sea_query::{Expr, OnConflict, Query},
};

use super::entity::{account, entry, movement};

/// An account of the book, named `restaurant:{id}`, `rider:{id}` or `agency:{purpose}`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Account {
    /// What the restaurant owes the agency (debits: fees charged; credits: fees given back).
    Restaurant(String),
    /// What the agency owes the rider (credits: earnings; debits: payouts and claw-backs).
    Rider(String),
    /// Fees registered and not yet settled or voided.
    Held,
    /// The agency's commission.
    Commission,
    /// Money paid out to riders.
    Payouts,
    /// The other side of operators' adjustments.
    Adjustments,
}

impl Account {
    /// The account's id in the book.
    pub fn key(&self) -> String {
        match self {
            Account::Restaurant(id) => format!("restaurant:{id}"),
            Account::Rider(id) => format!("rider:{id}"),
            Account::Held => "agency:held".to_owned(),
            Account::Commission => "agency:commission".to_owned(),
            Account::Payouts => "agency:payouts".to_owned(),
            Account::Adjustments => "agency:adjustments".to_owned(),
        }
    }

    /// Whether the schema refuses debits beyond the account's credits: the held account can
    /// only give back what it received.
    fn limited(&self) -> bool {
        matches!(self, Account::Held)
    }
}

/// What kind of movement: the prefix of its id and the `kind` column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Register,
    Settle,
    Void,
    Payout,
    Adjustment,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Register => "register",
            Kind::Settle => "settle",
            Kind::Void => "void",
            Kind::Payout => "payout",
            Kind::Adjustment => "adjustment",
        }
    }
}

/// One entry: `amount` from `debit` to `credit`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leg {
    pub debit: Account,
    pub credit: Account,
    pub amount: i64,
}

impl Leg {
    pub fn new(debit: Account, credit: Account, amount: i64) -> Leg {
        Leg {
            debit,
            credit,
            amount,
        }
    }
}

/// A movement to post: its idempotency id, kind, delivery (if any), time and legs.
pub struct Movement<'a> {
    pub id: String,
    pub kind: Kind,
    pub delivery_id: Option<&'a str>,
    pub at: DateTime<Utc>,
    pub legs: Vec<Leg>,
}

/// Writes `movement` inside the caller's transaction; `false` (and nothing written) when a
/// movement with its id already exists. Legs of zero are left out (a 0% commission).
pub async fn post(txn: &impl ConnectionTrait, movement: Movement<'_>) -> Result<bool, DbErr> {
    let inserted = movement::Entity::insert(movement::ActiveModel {
        id: Set(movement.id.clone()),
        kind: Set(movement.kind.as_str().to_owned()),
        delivery_id: Set(movement.delivery_id.map(str::to_owned)),
        at: Set(movement.at),
    })
    .on_conflict(
        OnConflict::column(movement::Column::Id)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    if inserted == 0 {
        return Ok(false);
    }
    let legs: Vec<&Leg> = movement.legs.iter().filter(|leg| leg.amount != 0).collect();
    // Totals per account, applied in id order: two movements touching the same accounts lock
    // them in the same order, so they wait for each other instead of deadlocking.
    let mut totals: BTreeMap<String, (i64, i64, bool)> = BTreeMap::new();
    for leg in &legs {
        totals
            .entry(leg.debit.key())
            .or_insert((0, 0, leg.debit.limited()))
            .0 += leg.amount;
        totals
            .entry(leg.credit.key())
            .or_insert((0, 0, leg.credit.limited()))
            .1 += leg.amount;
    }
    for (id, (debits, credits, limited)) in totals {
        add_to_account(txn, &id, debits, credits, limited).await?;
    }
    if !legs.is_empty() {
        entry::Entity::insert_many(legs.iter().map(|leg| entry::ActiveModel {
            id: NotSet,
            movement_id: Set(movement.id.clone()),
            debit_account: Set(leg.debit.key()),
            credit_account: Set(leg.credit.key()),
            amount: Set(leg.amount),
        }))
        .exec_without_returning(txn)
        .await?;
    }
    Ok(true)
}

/// Adds to an account's totals, opening it on its first entry: an update, which is all it
/// takes once the account exists (the common case: one statement), else an insert. A racing
/// first entry makes the insert conflict; it then adds to the row the other one opened. (The
/// database checks an insert's values against the overdraft rule before it sees a conflict;
/// that only refuses what is an overdraft anyway: a debit to a held account that never
/// received anything.)
async fn add_to_account(
    txn: &impl ConnectionTrait,
    id: &str,
    debits: i64,
    credits: i64,
    limited: bool,
) -> Result<(), DbErr> {
    let backend = txn.get_database_backend();
    let add = Query::update()
        .table(account::Entity)
        .value(
            account::Column::Debits,
            Expr::col(account::Column::Debits).add(debits),
        )
        .value(
            account::Column::Credits,
            Expr::col(account::Column::Credits).add(credits),
        )
        .and_where(Expr::col(account::Column::Id).eq(id))
        .to_owned();
    if txn.execute(backend.build(&add)).await?.rows_affected() == 1 {
        return Ok(());
    }
    let open = Query::insert()
        .into_table(account::Entity)
        .columns([
            account::Column::Id,
            account::Column::Debits,
            account::Column::Credits,
            account::Column::DebitsMustNotExceedCredits,
        ])
        .values_panic([id.into(), debits.into(), credits.into(), limited.into()])
        .on_conflict(
            OnConflict::column(account::Column::Id)
                .value(
                    account::Column::Debits,
                    Expr::cust("ledger_accounts.debits + excluded.debits"),
                )
                .value(
                    account::Column::Credits,
                    Expr::cust("ledger_accounts.credits + excluded.credits"),
                )
                .to_owned(),
        )
        .to_owned();
    txn.execute(backend.build(&open)).await?;
    Ok(())
}

/// Takes the account's row lock until the transaction ends (a no-op update: a row lock on
/// PostgreSQL, the database's write lock on SQLite), so decisions read from its entries stay
/// true until they are written. `false` when the account has no entries yet.
pub async fn lock_account(txn: &impl ConnectionTrait, account: &Account) -> Result<bool, DbErr> {
    let lock = Query::update()
        .table(account::Entity)
        .value(account::Column::Debits, Expr::col(account::Column::Debits))
        .and_where(Expr::col(account::Column::Id).eq(account.key()))
        .to_owned();
    Ok(txn
        .execute(txn.get_database_backend().build(&lock))
        .await?
        .rows_affected()
        == 1)
}

/// A sum of `amount`s from a query of one column, 0 when no row matched.
pub async fn sum(txn: &impl ConnectionTrait, statement: Statement) -> Result<i64, DbErr> {
    let row = txn.query_one(statement).await?;
    Ok(row
        .and_then(|row| row.try_get_by_index::<Option<i64>>(0).ok().flatten())
        .unwrap_or(0))
}

/// A statement of our own SQL with `$1`, `$2`… placeholders, for either backend (SQLite reads
/// them as `?1`, `?2`…).
pub fn statement(
    backend: sea_orm::DatabaseBackend,
    sql: &str,
    values: impl IntoIterator<Item = sea_orm::Value>,
) -> Statement {
    let sql = match backend {
        sea_orm::DatabaseBackend::Sqlite => sql.replace('$', "?"),
        _ => sql.to_owned(),
    };
    Statement::from_sql_and_values(backend, sql, values)
}

/// A movement as booked, with its entries: for audits, tests and the checker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Booked {
    pub id: String,
    pub kind: String,
    pub delivery_id: Option<String>,
    pub at: DateTime<Utc>,
    /// `(debit account, credit account, amount)`, in the order written.
    pub entries: Vec<(String, String, i64)>,
}

/// Every movement with its entries, oldest first.
pub async fn journal(db: &impl ConnectionTrait) -> Result<Vec<Booked>, DbErr> {
    use sea_orm::{EntityTrait, QueryOrder};
    let movements = movement::Entity::find()
        .order_by_asc(movement::Column::At)
        .order_by_asc(movement::Column::Id)
        .all(db)
        .await?;
    let mut entries: BTreeMap<String, Vec<(String, String, i64)>> = BTreeMap::new();
    for e in entry::Entity::find()
        .order_by_asc(entry::Column::Id)
        .all(db)
        .await?
    {
        entries.entry(e.movement_id).or_default().push((
            e.debit_account,
            e.credit_account,
            e.amount,
        ));
    }
    Ok(movements
        .into_iter()
        .map(|m| Booked {
            entries: entries.remove(&m.id).unwrap_or_default(),
            id: m.id,
            kind: m.kind,
            delivery_id: m.delivery_id,
            at: m.at,
        })
        .collect())
}
