//! The payment ledger: the service's own database, a double-entry book ([`book`]) and the
//! documents built on it: payments (one per delivery, [`Ledger::register`], settle, void),
//! payouts ([`payouts`]), adjustments ([`adjustments`]), invoices ([`invoices`]), rider
//! statements ([`statements`]) and its own audit ([`audit`]).
//!
//! Every operation is idempotent by its movement's id (`register:{deliveryId}`,
//! `settle:{deliveryId}`, `void:{deliveryId}`, `payout:{riderId}:{period}`,
//! `adjustment:{id}`) and safe under concurrency: a payment's transitions are conditional
//! updates (`WHERE status = 'Registered'`) written in the same transaction as their movement,
//! and decisions that read balances (a payout, an invoice) first lock the account they concern.
//! Both behave the same on SQLite and PostgreSQL.

use chrono::{DateTime, Utc};
use domain::{CommissionBps, Split};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, DeriveActiveEnum, EntityTrait,
    EnumIter, QueryFilter, QueryOrder, TransactionTrait, sea_query::StringLen,
};

pub mod adjustments;
pub mod audit;
pub mod book;
mod entity;
pub mod invoices;
pub mod migration;
pub mod payouts;
pub mod statements;

use book::{Account, Kind, Leg};

/// Longest delivery id accepted, in characters.
pub const MAX_DELIVERY_ID_CHARS: usize = 256;
/// Smallest amount accepted, in minor currency units.
pub const MIN_AMOUNT: i64 = 1;
/// Largest amount accepted, in minor currency units.
pub const MAX_AMOUNT: i64 = 1_000_000;

/// Where a payment is in its life: registered, then either settled or voided, never both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum PaymentStatus {
    /// Recorded and awaiting settlement or voiding.
    #[sea_orm(string_value = "Registered")]
    Registered,
    /// Money moved; final.
    #[sea_orm(string_value = "Settled")]
    Settled,
    /// Cancelled before money moved; final.
    #[sea_orm(string_value = "Voided")]
    Voided,
}

/// What registering a delivery's fee needs: the delivery, who pays, how much, and the
/// commission rate fixed now for the life of the delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub delivery_id: String,
    pub restaurant_id: String,
    pub amount: i64,
    pub commission: CommissionBps,
}

/// A payment as stored in the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    /// The delivery this payment belongs to; unique in the ledger.
    pub delivery_id: String,
    /// Amount in minor currency units, within `MIN_AMOUNT..=MAX_AMOUNT`.
    pub amount: i64,
    /// Current status.
    pub status: PaymentStatus,
    /// Who pays (`legacy` for payments registered before the double-entry ledger).
    pub restaurant_id: String,
    /// The commission rate fixed at registration, and the commission it makes of `amount`.
    pub commission_bps: u16,
    pub commission: i64,
    /// The rider paid, once settled.
    pub rider_id: Option<String>,
    /// The rider's reason when a failed delivery settled or voided.
    pub failure_reason: Option<String>,
    /// When the payment was first registered.
    pub registered_at: DateTime<Utc>,
    /// When the payment was settled, if it was.
    pub settled_at: Option<DateTime<Utc>>,
    /// When the payment was voided, if it was.
    pub voided_at: Option<DateTime<Utc>>,
}

impl Payment {
    /// What the rider earns once it settles: the amount less the commission.
    pub fn earning(&self) -> i64 {
        self.amount - self.commission
    }
}

impl From<entity::payment::Model> for Payment {
    fn from(row: entity::payment::Model) -> Self {
        Payment {
            delivery_id: row.delivery_id,
            amount: row.amount,
            status: row.status,
            restaurant_id: row.restaurant_id.unwrap_or_else(|| LEGACY.to_owned()),
            commission_bps: u16::try_from(row.commission_bps).unwrap_or_default(),
            commission: row.commission,
            rider_id: row.rider_id,
            failure_reason: row.failure_reason,
            registered_at: row.registered_at,
            settled_at: row.settled_at,
            voided_at: row.voided_at,
        }
    }
}

/// The restaurant and rider of the payments carried over from the v1 journal, which named
/// neither (see the double-entry migration).
pub const LEGACY: &str = "legacy";

/// The time of a write, to the microsecond: what PostgreSQL stores, so an answer made from the
/// values written is the answer a repeat reads back (SQLite would keep the nanoseconds).
fn now() -> DateTime<Utc> {
    use chrono::SubsecRound as _;
    Utc::now().trunc_subsecs(6)
}

/// Why a ledger operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The request itself is malformed (bad delivery id or amount).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// No payment is registered for this delivery id.
    #[error("no payment registered for delivery {0:?}")]
    NotFound(String),
    /// The payment exists but is in a state that forbids the request.
    #[error("failed precondition: {0}")]
    FailedPrecondition(String),
    /// A registration for a delivery whose payment is already settled or voided: that
    /// delivery is over, and its id is never registered (charged) again. Nothing moved.
    #[error(
        "payment for delivery {delivery_id:?} is already {} and cannot be registered again",
        status.as_str()
    )]
    AlreadyClosed {
        delivery_id: String,
        status: PaymentStatus,
    },
    /// The database failed or could not be reached; retrying may succeed.
    #[error("database error: {0}")]
    Database(#[from] DbErr),
    /// The database cannot be opened, or its schema was not migrated.
    #[error(transparent)]
    Open(#[from] db::DbError),
}

/// The command that migrates the ledger, named when a service finds it unmigrated.
pub const MIGRATE_COMMAND: &str = "payment-service migrate";

/// The two one-way moves out of `Registered`.
#[derive(Debug, Clone, Copy)]
enum Transition<'a> {
    Settle {
        rider_id: &'a str,
        failure_reason: Option<&'a str>,
    },
    Void {
        failure_reason: Option<&'a str>,
    },
}

impl Transition<'_> {
    fn target(self) -> PaymentStatus {
        match self {
            Transition::Settle { .. } => PaymentStatus::Settled,
            Transition::Void { .. } => PaymentStatus::Voided,
        }
    }

    fn failure_reason(&self) -> Option<&str> {
        match self {
            Transition::Settle { failure_reason, .. } | Transition::Void { failure_reason } => {
                *failure_reason
            }
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Transition::Settle { .. } => "settled",
            Transition::Void { .. } => "voided",
        }
    }
}

/// A handle on the ledger database; cheap to clone (it shares one pool).
#[derive(Debug, Clone)]
pub struct Ledger {
    db: DatabaseConnection,
}

impl Ledger {
    /// Connects to `database_url` (`sqlite://...` or `postgres://...`) with the shared pool
    /// options ([`db::connect`]). Refuses a database whose schema is not up to date, naming
    /// [`MIGRATE_COMMAND`]: services never migrate.
    pub async fn connect(database_url: &str) -> Result<Ledger, LedgerError> {
        Self::connect_with(database_url, &db::PoolOptions::default()).await
    }

    /// [`Ledger::connect`] with a pool sized and timed by `options` (the service's
    /// [`LedgerSettings::pool_options`](crate::LedgerSettings::pool_options)).
    pub async fn connect_with(
        database_url: &str,
        options: &db::PoolOptions,
    ) -> Result<Ledger, LedgerError> {
        let db = db::connect(database_url, options).await?;
        db::check_schema::<migration::Migrator>(&db, "payment ledger", MIGRATE_COMMAND).await?;
        Ok(Ledger { db })
    }

    /// Brings the ledger's schema at `database_url` up to date: the one-off step
    /// (`payment-service migrate`) before the services start.
    pub async fn migrate(database_url: &str) -> Result<(), LedgerError> {
        let db = db::connect(database_url, &db::PoolOptions::default()).await?;
        db::migrate::<migration::Migrator>(&db).await?;
        db.close().await?;
        Ok(())
    }

    /// Migrates and connects in one pool: for tests and in-memory databases, which live only as
    /// long as their connection.
    pub async fn open_migrated(database_url: &str) -> Result<Ledger, LedgerError> {
        let db = db::connect(database_url, &db::PoolOptions::default()).await?;
        db::migrate::<migration::Migrator>(&db).await?;
        Ok(Ledger { db })
    }

    /// Registers `registration`'s fee: the restaurant owes it, the agency holds it
    /// (`restaurant` → `agency:held`), and the commission is fixed at its rate now.
    ///
    /// Repeating it unchanged while the payment is still registered returns it; a different
    /// amount, restaurant or rate is `FailedPrecondition`; once the payment is settled or
    /// voided it is `AlreadyClosed`: a delivery id that came back (a workflow started again
    /// under an old id) is never charged again.
    pub async fn register(&self, registration: &Registration) -> Result<Payment, LedgerError> {
        let Registration {
            delivery_id,
            restaurant_id,
            amount,
            commission: rate,
        } = registration;
        validate_delivery_id(delivery_id)?;
        validate_account_id("restaurant_id", restaurant_id)?;
        validate_amount(*amount)?;
        let split = Split::of(*amount, *rate);
        let now = now();
        let row = entity::payment::ActiveModel {
            delivery_id: Set(delivery_id.clone()),
            amount: Set(*amount),
            status: Set(PaymentStatus::Registered),
            registered_at: Set(now),
            settled_at: Set(None),
            voided_at: Set(None),
            restaurant_id: Set(Some(restaurant_id.clone())),
            commission_bps: Set(i32::from(rate.bps())),
            commission: Set(split.commission),
            rider_id: Set(None),
            failure_reason: Set(None),
        };
        // Losing a race to a concurrent register is not an error: the row that won is read
        // back below and judged like any repeat.
        let txn = self.db.begin().await?;
        let inserted = entity::payment::Entity::insert(row)
            .on_conflict(
                OnConflict::column(entity::payment::Column::DeliveryId)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
        if inserted == 1 {
            book::post(
                &txn,
                book::Movement {
                    id: format!("register:{delivery_id}"),
                    kind: Kind::Register,
                    delivery_id: Some(delivery_id),
                    at: now,
                    legs: vec![Leg::new(
                        Account::Restaurant(restaurant_id.clone()),
                        Account::Held,
                        *amount,
                    )],
                },
            )
            .await?;
        }
        txn.commit().await?;
        let payment = self.get(delivery_id).await?;
        if inserted == 1 {
            // This call booked the fee: that is its answer, even when a settle or void that
            // raced it has already closed the payment since.
            tracing::info!(delivery_id, amount, "payment registered");
            return Ok(payment);
        }
        if payment.status != PaymentStatus::Registered {
            tracing::warn!(
                delivery_id,
                status = payment.status.as_str(),
                "registration of a closed payment refused"
            );
            return Err(LedgerError::AlreadyClosed {
                delivery_id: delivery_id.clone(),
                status: payment.status,
            });
        }
        if (
            payment.amount,
            &payment.restaurant_id,
            payment.commission_bps,
        ) != (*amount, restaurant_id, rate.bps())
        {
            return Err(LedgerError::FailedPrecondition(format!(
                "delivery {delivery_id:?} is already registered with amount {} for {} at {} bps",
                payment.amount, payment.restaurant_id, payment.commission_bps
            )));
        }
        Ok(payment)
    }

    /// Settles a registered payment to `rider_id`: the held fee goes to the rider less the
    /// commission fixed at registration (`agency:held` → `rider`, → `agency:commission`).
    /// `failure_reason` is the rider's when a failed delivery settles. Settling again to the
    /// same rider returns the payment unchanged; settling a voided payment, or one settled to
    /// another rider, is `FailedPrecondition`.
    pub async fn settle(
        &self,
        delivery_id: &str,
        rider_id: &str,
        failure_reason: Option<&str>,
    ) -> Result<Payment, LedgerError> {
        validate_account_id("rider_id", rider_id)?;
        validate_failure_reason(failure_reason)?;
        let payment = self
            .transition(
                delivery_id,
                Transition::Settle {
                    rider_id,
                    failure_reason,
                },
            )
            .await?;
        if payment.rider_id.as_deref() != Some(rider_id) {
            return Err(LedgerError::FailedPrecondition(format!(
                "payment for delivery {delivery_id:?} is already settled to another rider"
            )));
        }
        Ok(payment)
    }

    /// Voids a registered payment: the held fee goes back to the restaurant. Voiding a voided
    /// payment returns it unchanged, voiding a settled one is `FailedPrecondition`.
    pub async fn void(
        &self,
        delivery_id: &str,
        failure_reason: Option<&str>,
    ) -> Result<Payment, LedgerError> {
        validate_failure_reason(failure_reason)?;
        self.transition(delivery_id, Transition::Void { failure_reason })
            .await
    }

    /// Returns the payment for `delivery_id`, or `NotFound`.
    pub async fn get(&self, delivery_id: &str) -> Result<Payment, LedgerError> {
        validate_delivery_id(delivery_id)?;
        entity::payment::Entity::find_by_id(delivery_id.to_owned())
            .one(&self.db)
            .await?
            .map(Payment::from)
            .ok_or_else(|| LedgerError::NotFound(delivery_id.to_owned()))
    }

    /// Returns every payment, ordered by delivery id.
    pub async fn list_all(&self) -> Result<Vec<Payment>, LedgerError> {
        let rows = entity::payment::Entity::find()
            .order_by_asc(entity::payment::Column::DeliveryId)
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(Payment::from).collect())
    }

    /// Every account's totals, by id: what the book says each holds.
    pub async fn balances(&self) -> Result<Vec<Balance>, LedgerError> {
        let rows = entity::account::Entity::find()
            .order_by_asc(entity::account::Column::Id)
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| Balance {
                account: row.id,
                debits: row.debits,
                credits: row.credits,
            })
            .collect())
    }

    /// Every movement with its entries, oldest first.
    pub async fn journal(&self) -> Result<Vec<book::Booked>, LedgerError> {
        Ok(book::journal(&self.db).await?)
    }

    /// Checks that the database answers, for readiness probes.
    pub async fn ping(&self) -> Result<(), LedgerError> {
        Ok(self.db.ping().await?)
    }

    /// The connection, for the document modules.
    fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    async fn transition(
        &self,
        delivery_id: &str,
        transition: Transition<'_>,
    ) -> Result<Payment, LedgerError> {
        let current = self.get(delivery_id).await?;
        let target = transition.target();
        if current.status == PaymentStatus::Registered {
            let now = now();
            let mut update = entity::payment::Entity::update_many()
                .col_expr(entity::payment::Column::Status, Expr::value(target))
                .col_expr(
                    entity::payment::Column::FailureReason,
                    Expr::value(transition.failure_reason().map(str::to_owned)),
                );
            let (kind, legs) = match transition {
                Transition::Settle { rider_id, .. } => {
                    update = update
                        .col_expr(entity::payment::Column::SettledAt, Expr::value(now))
                        .col_expr(
                            entity::payment::Column::RiderId,
                            Expr::value(rider_id.to_owned()),
                        );
                    let legs = vec![
                        Leg::new(
                            Account::Held,
                            Account::Rider(rider_id.to_owned()),
                            current.earning(),
                        ),
                        Leg::new(Account::Held, Account::Commission, current.commission),
                    ];
                    (Kind::Settle, legs)
                }
                Transition::Void { .. } => {
                    update = update.col_expr(entity::payment::Column::VoidedAt, Expr::value(now));
                    let legs = vec![Leg::new(
                        Account::Held,
                        Account::Restaurant(current.restaurant_id.clone()),
                        current.amount,
                    )];
                    (Kind::Void, legs)
                }
            };
            // The WHERE on status makes the move atomic: of two racing transitions only one
            // can match the Registered row, and only that one posts its movement.
            let txn = self.db.begin().await?;
            let updated = update
                .filter(entity::payment::Column::DeliveryId.eq(delivery_id))
                .filter(entity::payment::Column::Status.eq(PaymentStatus::Registered))
                .exec(&txn)
                .await?
                .rows_affected;
            if updated == 1 {
                book::post(
                    &txn,
                    book::Movement {
                        id: format!("{}:{delivery_id}", kind.as_str()),
                        kind,
                        delivery_id: Some(delivery_id),
                        at: now,
                        legs,
                    },
                )
                .await?;
            }
            txn.commit().await?;
            if updated == 1 {
                tracing::info!(delivery_id, "payment {}", transition.verb());
            }
        }
        // Statuses only ever leave Registered, so this read is final: either we (or an earlier
        // repeat) reached the target, or the other final state won.
        let payment = self.get(delivery_id).await?;
        if payment.status == target {
            Ok(payment)
        } else {
            Err(LedgerError::FailedPrecondition(format!(
                "payment for delivery {delivery_id:?} is {} and cannot be {}",
                payment.status.as_str(),
                transition.verb()
            )))
        }
    }
}

/// An account's totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balance {
    pub account: String,
    pub debits: i64,
    pub credits: i64,
}

impl PaymentStatus {
    /// The lowercase word for this status, for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Registered => "registered",
            PaymentStatus::Settled => "settled",
            PaymentStatus::Voided => "voided",
        }
    }
}

fn validate_delivery_id(delivery_id: &str) -> Result<(), LedgerError> {
    if delivery_id.is_empty() {
        return Err(LedgerError::InvalidArgument(
            "delivery_id must not be empty".to_owned(),
        ));
    }
    let chars = delivery_id.chars().count();
    if chars > MAX_DELIVERY_ID_CHARS {
        return Err(LedgerError::InvalidArgument(format!(
            "delivery_id must be at most {MAX_DELIVERY_ID_CHARS} characters, got {chars}"
        )));
    }
    Ok(())
}

/// A restaurant's or rider's id: the agency's id grammar, which has no `:` (the book's account
/// names stay unambiguous).
fn validate_account_id(field: &str, id: &str) -> Result<(), LedgerError> {
    domain::AccountId::parse(id)
        .map(drop)
        .map_err(|e| LedgerError::InvalidArgument(format!("{field} {e}, got {id:?}")))
}

fn validate_failure_reason(reason: Option<&str>) -> Result<(), LedgerError> {
    match reason.map(str::parse::<domain::FailureReason>) {
        Some(Err(e)) => Err(LedgerError::InvalidArgument(format!("failure_reason {e}"))),
        _ => Ok(()),
    }
}

fn validate_amount(amount: i64) -> Result<(), LedgerError> {
    if !(MIN_AMOUNT..=MAX_AMOUNT).contains(&amount) {
        return Err(LedgerError::InvalidArgument(format!(
            "amount must be between {MIN_AMOUNT} and {MAX_AMOUNT}, got {amount}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_ids_must_be_non_empty_and_at_most_256_characters() {
        assert!(validate_delivery_id("d-1").is_ok());
        assert!(validate_delivery_id(&"é".repeat(256)).is_ok());
        assert!(matches!(
            validate_delivery_id(""),
            Err(LedgerError::InvalidArgument(_))
        ));
        assert!(matches!(
            validate_delivery_id(&"x".repeat(257)),
            Err(LedgerError::InvalidArgument(_))
        ));
    }

    #[test]
    fn amounts_must_lie_between_one_and_a_million() {
        for ok in [1, 500, 1_000_000] {
            assert!(validate_amount(ok).is_ok(), "{ok} should be accepted");
        }
        for bad in [i64::MIN, -1, 0, 1_000_001, i64::MAX] {
            assert!(
                matches!(validate_amount(bad), Err(LedgerError::InvalidArgument(_))),
                "{bad} should be rejected"
            );
        }
    }
}
