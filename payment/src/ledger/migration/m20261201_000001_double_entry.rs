//! Turns the ledger into a double-entry book: accounts, movements and their entries, and the
//! documents built on them (payouts, adjustments, invoices). Payments gain the restaurant, the
//! commission fixed at the call, the rider paid and the failure reason.
//!
//! Every entry moves one amount from a debit account to a credit account, so a movement's debits
//! equal its credits by construction; a movement's id is its idempotency id (primary key), a
//! delivery settles or voids at most once (a unique partial index), the held account can never
//! pay out more than it holds (a CHECK on the account's totals), and the journal and documents
//! refuse `UPDATE` and `DELETE` (triggers): corrections are new movements.
//!
//! The v1 journal (`payment_movements`) is carried over and dropped: it recorded no restaurant or
//! rider, so its registrations are booked to `restaurant:legacy` and its settlements, whole (no
//! commission was fixed then), to `rider:legacy`.

use sea_orm::{DatabaseBackend, TransactionTrait};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

/// The tables nothing may update or delete from.
const APPEND_ONLY: [&str; 6] = [
    "ledger_movements",
    "ledger_entries",
    "payouts",
    "adjustments",
    "invoices",
    "invoice_items",
];

const TABLES: &str = r#"
CREATE TABLE ledger_accounts (
    id VARCHAR(300) NOT NULL PRIMARY KEY,
    debits BIGINT NOT NULL DEFAULT 0 CHECK (debits >= 0),
    credits BIGINT NOT NULL DEFAULT 0 CHECK (credits >= 0),
    debits_must_not_exceed_credits BOOLEAN NOT NULL DEFAULT FALSE,
    CONSTRAINT ledger_accounts_no_overdraft
        CHECK (NOT debits_must_not_exceed_credits OR debits <= credits)
);
CREATE TABLE ledger_movements (
    id VARCHAR(300) NOT NULL PRIMARY KEY,
    kind VARCHAR(16) NOT NULL
        CHECK (kind IN ('register', 'settle', 'void', 'payout', 'adjustment')),
    delivery_id VARCHAR(256),
    at TIMESTAMP WITH TIME ZONE NOT NULL
);
CREATE UNIQUE INDEX ledger_movements_one_outcome ON ledger_movements (delivery_id)
    WHERE kind IN ('settle', 'void');
CREATE UNIQUE INDEX ledger_movements_one_registration ON ledger_movements (delivery_id)
    WHERE kind = 'register';
CREATE TABLE ledger_entries (
    id BIGINT_AUTOINCREMENT_PRIMARY_KEY,
    movement_id VARCHAR(300) NOT NULL REFERENCES ledger_movements (id),
    debit_account VARCHAR(300) NOT NULL REFERENCES ledger_accounts (id),
    credit_account VARCHAR(300) NOT NULL REFERENCES ledger_accounts (id),
    amount BIGINT NOT NULL CHECK (amount > 0),
    CONSTRAINT ledger_entries_two_accounts CHECK (debit_account <> credit_account)
);
CREATE INDEX ledger_entries_movement ON ledger_entries (movement_id);
CREATE INDEX ledger_entries_debit_account ON ledger_entries (debit_account);
CREATE INDEX ledger_entries_credit_account ON ledger_entries (credit_account);
CREATE TABLE payouts (
    movement_id VARCHAR(300) NOT NULL PRIMARY KEY REFERENCES ledger_movements (id),
    rider_id VARCHAR(256) NOT NULL,
    period VARCHAR(64) NOT NULL,
    period_start TIMESTAMP WITH TIME ZONE NOT NULL,
    period_end TIMESTAMP WITH TIME ZONE NOT NULL,
    amount BIGINT NOT NULL CHECK (amount > 0),
    paid_at TIMESTAMP WITH TIME ZONE NOT NULL,
    CONSTRAINT payouts_one_per_rider_and_period UNIQUE (rider_id, period),
    CHECK (period_start < period_end)
);
CREATE TABLE adjustments (
    movement_id VARCHAR(300) NOT NULL PRIMARY KEY REFERENCES ledger_movements (id),
    role VARCHAR(16) NOT NULL CHECK (role IN ('rider', 'restaurant')),
    account_id VARCHAR(256) NOT NULL,
    amount BIGINT NOT NULL CHECK (amount <> 0),
    reason VARCHAR(1024) NOT NULL,
    delivery_id VARCHAR(256),
    created_by VARCHAR(256) NOT NULL,
    at TIMESTAMP WITH TIME ZONE NOT NULL
);
CREATE INDEX adjustments_account ON adjustments (role, account_id, at);
CREATE TABLE invoices (
    number VARCHAR(300) NOT NULL PRIMARY KEY,
    restaurant_id VARCHAR(256) NOT NULL,
    seq BIGINT NOT NULL CHECK (seq >= 1),
    period VARCHAR(64) NOT NULL,
    period_start TIMESTAMP WITH TIME ZONE NOT NULL,
    period_end TIMESTAMP WITH TIME ZONE NOT NULL,
    total BIGINT NOT NULL,
    issued_at TIMESTAMP WITH TIME ZONE NOT NULL,
    CONSTRAINT invoices_numbered_once UNIQUE (restaurant_id, seq),
    CONSTRAINT invoices_one_per_period UNIQUE (restaurant_id, period)
);
CREATE TABLE invoice_items (
    movement_id VARCHAR(300) NOT NULL PRIMARY KEY REFERENCES ledger_movements (id),
    invoice_number VARCHAR(300) NOT NULL REFERENCES invoices (number),
    delivery_id VARCHAR(256),
    amount BIGINT NOT NULL,
    at TIMESTAMP WITH TIME ZONE NOT NULL
);
CREATE INDEX invoice_items_invoice ON invoice_items (invoice_number);
ALTER TABLE payments ADD COLUMN restaurant_id VARCHAR(256);
ALTER TABLE payments ADD COLUMN commission_bps INTEGER NOT NULL DEFAULT 0;
ALTER TABLE payments ADD COLUMN commission BIGINT NOT NULL DEFAULT 0;
ALTER TABLE payments ADD COLUMN rider_id VARCHAR(256);
ALTER TABLE payments ADD COLUMN failure_reason VARCHAR(32);
CREATE INDEX payments_rider_settled ON payments (rider_id, settled_at);
CREATE INDEX payments_restaurant_settled ON payments (restaurant_id, settled_at);
"#;

/// v1's journal, booked the only way it can be: see the module's comment.
const CARRY_OVER: &str = r#"
INSERT INTO ledger_accounts (id, debits_must_not_exceed_credits)
    SELECT 'restaurant:legacy', FALSE WHERE EXISTS (SELECT 1 FROM payment_movements)
    UNION ALL SELECT 'rider:legacy', FALSE WHERE EXISTS (SELECT 1 FROM payment_movements)
    UNION ALL SELECT 'agency:held', TRUE WHERE EXISTS (SELECT 1 FROM payment_movements);
INSERT INTO ledger_movements (id, kind, delivery_id, at)
    SELECT CASE kind WHEN 'Registered' THEN 'register:' WHEN 'Settled' THEN 'settle:'
                     ELSE 'void:' END || delivery_id,
           CASE kind WHEN 'Registered' THEN 'register' WHEN 'Settled' THEN 'settle'
                     ELSE 'void' END,
           delivery_id, at
    FROM payment_movements;
INSERT INTO ledger_entries (movement_id, debit_account, credit_account, amount)
    SELECT 'register:' || delivery_id, 'restaurant:legacy', 'agency:held', amount
        FROM payment_movements WHERE kind = 'Registered'
    UNION ALL SELECT 'settle:' || delivery_id, 'agency:held', 'rider:legacy', amount
        FROM payment_movements WHERE kind = 'Settled'
    UNION ALL SELECT 'void:' || delivery_id, 'agency:held', 'restaurant:legacy', amount
        FROM payment_movements WHERE kind = 'Voided';
UPDATE ledger_accounts SET
    debits = (SELECT COALESCE(SUM(amount), 0) FROM ledger_entries WHERE debit_account = ledger_accounts.id),
    credits = (SELECT COALESCE(SUM(amount), 0) FROM ledger_entries WHERE credit_account = ledger_accounts.id);
UPDATE payments SET restaurant_id = 'legacy';
UPDATE payments SET rider_id = 'legacy' WHERE status = 'Settled';
DROP TABLE payment_movements;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let txn = manager.get_connection().begin().await?;
        let backend = manager.get_database_backend();
        let serial = match backend {
            DatabaseBackend::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
            _ => "BIGSERIAL PRIMARY KEY",
        };
        for statement in statements(&TABLES.replace("BIGINT_AUTOINCREMENT_PRIMARY_KEY", serial)) {
            txn.execute_unprepared(statement).await?;
        }
        for statement in statements(CARRY_OVER) {
            txn.execute_unprepared(statement).await?;
        }
        for statement in append_only(backend) {
            txn.execute_unprepared(&statement).await?;
        }
        txn.commit().await
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration(
            "the double-entry ledger cannot be turned back into the v1 journal: restore a backup"
                .to_owned(),
        ))
    }
}

/// The `;`-separated statements of a script (none of ours has a `;` inside a statement).
fn statements(script: &str) -> impl Iterator<Item = &str> {
    script.split(';').map(str::trim).filter(|s| !s.is_empty())
}

/// Triggers that refuse changing or removing a row of the journal or of an issued document.
fn append_only(backend: DatabaseBackend) -> Vec<String> {
    match backend {
        DatabaseBackend::Sqlite => APPEND_ONLY
            .iter()
            .flat_map(|table| {
                ["UPDATE", "DELETE"].map(|op| {
                    format!(
                        "CREATE TRIGGER {table}_no_{op} BEFORE {op} ON {table} \
                         BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                    )
                })
            })
            .collect(),
        _ => std::iter::once(
            "CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"
                .to_owned(),
        )
        .chain(APPEND_ONLY.iter().map(|table| {
            format!(
                "CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} \
                 FOR EACH ROW EXECUTE FUNCTION ledger_append_only()"
            )
        }))
        .collect(),
    }
}
