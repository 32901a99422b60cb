//! The payment ledger: the service's own database of payments, one per delivery.
//!
//! Every operation is idempotent by delivery id and safe under concurrency
//! without explicit transactions: registration is `INSERT ... ON CONFLICT DO
//! NOTHING` followed by a read, and transitions are a conditional
//! `UPDATE ... WHERE status = 'Registered'` followed by a read. Both behave the
//! same on SQLite and PostgreSQL. Each change that happens is journaled in
//! `payment_movements` within the same transaction, so every money movement
//! can be counted afterwards.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, DeriveActiveEnum, EntityTrait,
    EnumIter, QueryFilter, QueryOrder, TransactionTrait,
    sea_query::StringLen,
};

mod entity;
pub mod migration;
mod movement;

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

/// A payment as stored in the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    /// The delivery this payment belongs to; unique in the ledger.
    pub delivery_id: String,
    /// Amount in minor currency units, within `MIN_AMOUNT..=MAX_AMOUNT`.
    pub amount: i64,
    /// Current status.
    pub status: PaymentStatus,
    /// When the payment was first registered.
    pub registered_at: DateTime<Utc>,
    /// When the payment was settled, if it was.
    pub settled_at: Option<DateTime<Utc>>,
    /// When the payment was voided, if it was.
    pub voided_at: Option<DateTime<Utc>>,
}

/// One money movement from the journal: `kind` is the status the payment moved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Movement {
    pub delivery_id: String,
    pub kind: PaymentStatus,
    pub amount: i64,
    pub at: DateTime<Utc>,
}

impl From<entity::Model> for Payment {
    fn from(row: entity::Model) -> Self {
        Payment {
            delivery_id: row.delivery_id,
            amount: row.amount,
            status: row.status,
            registered_at: row.registered_at,
            settled_at: row.settled_at,
            voided_at: row.voided_at,
        }
    }
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
enum Transition {
    Settle,
    Void,
}

impl Transition {
    fn target(self) -> PaymentStatus {
        match self {
            Transition::Settle => PaymentStatus::Settled,
            Transition::Void => PaymentStatus::Voided,
        }
    }

    fn timestamp_column(self) -> entity::Column {
        match self {
            Transition::Settle => entity::Column::SettledAt,
            Transition::Void => entity::Column::VoidedAt,
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Transition::Settle => "settled",
            Transition::Void => "voided",
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

    /// Registers a payment of `amount` for `delivery_id`.
    ///
    /// Repeating it with the same amount while the payment is still registered
    /// returns it unchanged; a different amount is `FailedPrecondition`; once the
    /// payment is settled or voided it is `AlreadyClosed`: a delivery id that
    /// came back (a workflow started again under an old id) is never charged
    /// again, and its rider is never left unpaid by a stale "success".
    pub async fn register(&self, delivery_id: &str, amount: i64) -> Result<Payment, LedgerError> {
        validate_delivery_id(delivery_id)?;
        validate_amount(amount)?;
        let row = entity::ActiveModel {
            delivery_id: Set(delivery_id.to_owned()),
            amount: Set(amount),
            status: Set(PaymentStatus::Registered),
            registered_at: Set(Utc::now()),
            settled_at: Set(None),
            voided_at: Set(None),
        };
        // Losing a race to a concurrent register is not an error: the row that
        // won is read back below and judged like any repeat. The journal's unique
        // (delivery, kind) index would refuse a second registration movement anyway.
        let txn = self.db.begin().await?;
        let inserted = entity::Entity::insert(row)
            .on_conflict(
                OnConflict::column(entity::Column::DeliveryId)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
        if inserted == 1 {
            journal(&txn, delivery_id, PaymentStatus::Registered, amount).await?;
        }
        txn.commit().await?;
        let payment = self.find(delivery_id).await?.ok_or_else(|| {
            // Rows are never deleted, so a missing row after the insert means
            // the database is not behaving.
            DbErr::RecordNotFound(format!("payment {delivery_id:?} vanished after insert"))
        })?;
        if payment.status != PaymentStatus::Registered {
            tracing::warn!(
                delivery_id,
                status = payment.status.as_str(),
                "registration of a closed payment refused"
            );
            return Err(LedgerError::AlreadyClosed {
                delivery_id: delivery_id.to_owned(),
                status: payment.status,
            });
        }
        if payment.amount != amount {
            return Err(LedgerError::FailedPrecondition(format!(
                "delivery {delivery_id:?} already registered with amount {}",
                payment.amount
            )));
        }
        if inserted == 1 {
            tracing::info!(delivery_id, amount, "payment registered");
        }
        Ok(payment)
    }

    /// Settles a registered payment; settling a settled payment returns it
    /// unchanged, settling a voided one is `FailedPrecondition`.
    pub async fn settle(&self, delivery_id: &str) -> Result<Payment, LedgerError> {
        self.transition(delivery_id, Transition::Settle).await
    }

    /// Voids a registered payment; voiding a voided payment returns it
    /// unchanged, voiding a settled one is `FailedPrecondition`.
    pub async fn void(&self, delivery_id: &str) -> Result<Payment, LedgerError> {
        self.transition(delivery_id, Transition::Void).await
    }

    /// Returns the payment for `delivery_id`, or `NotFound`.
    pub async fn get(&self, delivery_id: &str) -> Result<Payment, LedgerError> {
        validate_delivery_id(delivery_id)?;
        self.find(delivery_id)
            .await?
            .ok_or_else(|| LedgerError::NotFound(delivery_id.to_owned()))
    }

    /// Returns every payment, ordered by delivery id.
    pub async fn list_all(&self) -> Result<Vec<Payment>, LedgerError> {
        let rows = entity::Entity::find()
            .order_by_asc(entity::Column::DeliveryId)
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(Payment::from).collect())
    }

    /// Returns the journal of money movements, oldest first.
    pub async fn movements(&self) -> Result<Vec<Movement>, LedgerError> {
        let rows = movement::Entity::find()
            .order_by_asc(movement::Column::Id)
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|m| Movement {
                delivery_id: m.delivery_id,
                kind: m.kind,
                amount: m.amount,
                at: m.at,
            })
            .collect())
    }

    /// Checks that the database answers, for readiness probes.
    pub async fn ping(&self) -> Result<(), LedgerError> {
        Ok(self.db.ping().await?)
    }

    async fn transition(
        &self,
        delivery_id: &str,
        transition: Transition,
    ) -> Result<Payment, LedgerError> {
        let current = self.get(delivery_id).await?;
        let target = transition.target();
        if current.status == PaymentStatus::Registered {
            // The WHERE on status makes the move atomic: of two racing
            // transitions only one can match the Registered row.
            let txn = self.db.begin().await?;
            let updated = entity::Entity::update_many()
                .col_expr(entity::Column::Status, Expr::value(target))
                .col_expr(transition.timestamp_column(), Expr::value(Utc::now()))
                .filter(entity::Column::DeliveryId.eq(delivery_id))
                .filter(entity::Column::Status.eq(PaymentStatus::Registered))
                .exec(&txn)
                .await?
                .rows_affected;
            if updated == 1 {
                journal(&txn, delivery_id, target, current.amount).await?;
            }
            txn.commit().await?;
            if updated == 1 {
                tracing::info!(delivery_id, "payment {}", transition.verb());
            }
        }
        // Statuses only ever leave Registered, so this read is final: either
        // we (or an earlier repeat) reached the target, or the other final
        // state won.
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

    async fn find(&self, delivery_id: &str) -> Result<Option<Payment>, DbErr> {
        Ok(entity::Entity::find_by_id(delivery_id.to_owned())
            .one(&self.db)
            .await?
            .map(Payment::from))
    }
}

/// Records one money movement inside the transaction that made it.
async fn journal(
    txn: &impl ConnectionTrait,
    delivery_id: &str,
    kind: PaymentStatus,
    amount: i64,
) -> Result<(), DbErr> {
    movement::Entity::insert(movement::ActiveModel {
        id: NotSet,
        delivery_id: Set(delivery_id.to_owned()),
        kind: Set(kind),
        amount: Set(amount),
        at: Set(Utc::now()),
    })
    .exec_without_returning(txn)
    .await?;
    Ok(())
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
