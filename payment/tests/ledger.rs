//! The ledger rules, each written once as an async fn over a [`Ledger`] and run
//! against SQLite (a fresh temp file per test) and PostgreSQL (a fresh
//! database per test; ignored unless asked for, and failing loudly if
//! `TEST_DATABASE_URL` is missing).

use payment::{Ledger, LedgerError, Payment, PaymentStatus};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};

mod common;
use common::{PostgresDatabase, RIDER, reg, with_database};

on_both_backends!(
    registering_a_payment_records_it_as_registered,
    registering_again_with_the_same_amount_returns_the_existing_payment,
    registering_again_after_settlement_is_refused_and_moves_no_money,
    registering_again_after_a_void_is_refused_and_moves_no_money,
    registering_again_with_a_different_amount_is_a_failed_precondition,
    malformed_delivery_ids_and_amounts_are_rejected_without_writing,
    settling_a_registered_payment_settles_it_once,
    voiding_a_registered_payment_voids_it_once,
    settling_a_voided_payment_is_a_failed_precondition,
    voiding_a_settled_payment_is_a_failed_precondition,
    unknown_deliveries_are_not_found,
    ten_concurrent_registrations_produce_exactly_one_payment,
    concurrent_settle_and_void_have_exactly_one_winner,
    list_all_returns_every_payment_in_delivery_id_order,
    a_connected_ledger_answers_ping,
    repeated_and_racing_calls_journal_each_money_movement_once,
);

on_both_databases!(
    a_second_movement_of_one_kind_for_one_delivery_is_refused_by_the_schema,
    a_payment_status_the_ledger_does_not_know_is_refused_by_the_schema,
    the_double_entry_migration_carries_every_v1_payment_and_movement,
);

#[tokio::test]
async fn migrating_creates_the_missing_parent_directory_of_a_sqlite_file() {
    let dir = tempfile::tempdir().expect("create temp dir");
    let file = dir.path().join("nested").join("deeper").join("payment.db");
    let url = format!("sqlite://{}?mode=rwc", file.display());
    Ledger::migrate(&url)
        .await
        .expect("migrate creates the directory");
    let ledger = Ledger::connect(&url).await.expect("connect");
    ledger.register(&reg("d-1", 10)).await.expect("register");
    assert!(file.exists(), "{} should exist", file.display());
}

#[tokio::test]
async fn reconnecting_to_an_existing_sqlite_ledger_keeps_its_payments() {
    let dir = tempfile::tempdir().expect("create temp dir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("payment.db").display()
    );
    Ledger::migrate(&url).await.expect("migrate");
    let first = Ledger::connect(&url).await.expect("first connect");
    let registered = first.register(&reg("d-1", 10)).await.expect("register");
    drop(first);
    Ledger::migrate(&url)
        .await
        .expect("migrating again is harmless");
    let second = Ledger::connect(&url).await.expect("second connect");
    assert_eq!(second.get("d-1").await.expect("get"), registered);
}

#[tokio::test]
async fn the_service_refuses_a_ledger_that_was_not_migrated_naming_the_migrate_command() {
    let dir = tempfile::tempdir().expect("create temp dir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("payment.db").display()
    );
    let refused = Ledger::connect(&url).await.expect_err("not migrated");
    assert!(
        refused.to_string().contains("payment-service migrate"),
        "{refused}"
    );
}

#[tokio::test]
async fn an_in_memory_sqlite_ledger_works() {
    let ledger = Ledger::open_migrated("sqlite::memory:")
        .await
        .expect("connect");
    ledger.register(&reg("d-1", 10)).await.expect("register");
    assert_eq!(ledger.list_all().await.expect("list").len(), 1);
}

async fn registering_a_payment_records_it_as_registered(ledger: Ledger) {
    let payment = ledger.register(&reg("d-1", 500)).await.expect("register");
    assert_eq!(payment.delivery_id, "d-1");
    assert_eq!(payment.amount, 500);
    assert_eq!(payment.status, PaymentStatus::Registered);
    assert_eq!(payment.settled_at, None);
    assert_eq!(payment.voided_at, None);
    assert_eq!(ledger.get("d-1").await.expect("get"), payment);
}

async fn registering_again_with_the_same_amount_returns_the_existing_payment(ledger: Ledger) {
    let first = ledger
        .register(&reg("d-1", 500))
        .await
        .expect("first register");
    let second = ledger
        .register(&reg("d-1", 500))
        .await
        .expect("second register");
    assert_eq!(second, first);
    assert_eq!(ledger.list_all().await.expect("list"), vec![first]);
}

/// A delivery id that comes back once its payment is closed (a workflow started again under
/// an old id) must not get a stale "registered" answer: its new run would wait for a settlement
/// that never moves money.
async fn registering_again_after_settlement_is_refused_and_moves_no_money(ledger: Ledger) {
    ledger.register(&reg("d-1", 500)).await.expect("register");
    let settled = ledger.settle("d-1", RIDER, None).await.expect("settle");
    let journal = ledger.journal().await.expect("journal");
    let error = ledger
        .register(&reg("d-1", 500))
        .await
        .expect_err("a settled delivery cannot be registered again");
    match error {
        LedgerError::AlreadyClosed {
            delivery_id,
            status,
        } => assert_eq!(
            (delivery_id.as_str(), status),
            ("d-1", PaymentStatus::Settled)
        ),
        other => panic!("expected AlreadyClosed, got {other:?}"),
    }
    assert_eq!(ledger.get("d-1").await.expect("get"), settled);
    assert_eq!(ledger.journal().await.expect("journal"), journal);
    assert_eq!(journal.len(), 2, "{journal:?}");
}

async fn registering_again_after_a_void_is_refused_and_moves_no_money(ledger: Ledger) {
    ledger.register(&reg("d-1", 500)).await.expect("register");
    let voided = ledger.void("d-1", None).await.expect("void");
    let journal = ledger.journal().await.expect("journal");
    // A different amount is refused for the same reason: the delivery is over.
    for amount in [500, 600] {
        let error = ledger
            .register(&reg("d-1", amount))
            .await
            .expect_err("a voided delivery cannot be registered again");
        assert!(
            matches!(
                error,
                LedgerError::AlreadyClosed {
                    status: PaymentStatus::Voided,
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(error.to_string().contains("already voided"), "{error}");
    }
    assert_eq!(ledger.get("d-1").await.expect("get"), voided);
    assert_eq!(ledger.journal().await.expect("journal"), journal);
}

async fn registering_again_with_a_different_amount_is_a_failed_precondition(ledger: Ledger) {
    let original = ledger.register(&reg("d-1", 500)).await.expect("register");
    let error = ledger
        .register(&reg("d-1", 600))
        .await
        .expect_err("different amount must be refused");
    match error {
        LedgerError::FailedPrecondition(message) => assert!(
            message.contains("already registered with amount 500"),
            "unexpected message: {message}"
        ),
        other => panic!("expected failed precondition, got {other:?}"),
    }
    assert_eq!(ledger.list_all().await.expect("list"), vec![original]);
}

async fn malformed_delivery_ids_and_amounts_are_rejected_without_writing(ledger: Ledger) {
    let too_long = "x".repeat(257);
    let rejected: [(&str, i64); 6] = [
        ("", 10),
        (&too_long, 10),
        ("d-1", 0),
        ("d-1", -5),
        ("d-1", 1_000_001),
        ("d-1", i64::MAX),
    ];
    for (delivery_id, amount) in rejected {
        let result = ledger.register(&reg(delivery_id, amount)).await;
        assert!(
            matches!(result, Err(LedgerError::InvalidArgument(_))),
            "register({delivery_id:?}, {amount}) gave {result:?}"
        );
    }
    for result in [
        ledger.settle("", RIDER, None).await,
        ledger.void(&too_long, None).await,
        ledger.get("").await,
    ] {
        assert!(
            matches!(result, Err(LedgerError::InvalidArgument(_))),
            "gave {result:?}"
        );
    }
    assert_eq!(
        ledger.list_all().await.expect("list"),
        Vec::<Payment>::new()
    );

    let longest = "y".repeat(256);
    ledger
        .register(&reg(&longest, 1))
        .await
        .expect("smallest amount, longest id");
    ledger
        .register(&reg("d-2", 1_000_000))
        .await
        .expect("largest amount");
    assert_eq!(ledger.list_all().await.expect("list").len(), 2);
}

async fn settling_a_registered_payment_settles_it_once(ledger: Ledger) {
    let registered = ledger.register(&reg("d-1", 500)).await.expect("register");
    let settled = ledger.settle("d-1", RIDER, None).await.expect("settle");
    assert_eq!(settled.status, PaymentStatus::Settled);
    assert_eq!(settled.amount, 500);
    assert_eq!(settled.registered_at, registered.registered_at);
    assert!(settled.settled_at.is_some());
    assert_eq!(settled.voided_at, None);
    // A repeat must not move money again, so not even the timestamp changes.
    assert_eq!(
        ledger
            .settle("d-1", RIDER, None)
            .await
            .expect("settle again"),
        settled
    );
    assert_eq!(ledger.get("d-1").await.expect("get"), settled);
}

async fn voiding_a_registered_payment_voids_it_once(ledger: Ledger) {
    ledger.register(&reg("d-1", 500)).await.expect("register");
    let voided = ledger.void("d-1", None).await.expect("void");
    assert_eq!(voided.status, PaymentStatus::Voided);
    assert!(voided.voided_at.is_some());
    assert_eq!(voided.settled_at, None);
    assert_eq!(ledger.void("d-1", None).await.expect("void again"), voided);
    assert_eq!(ledger.get("d-1").await.expect("get"), voided);
}

async fn settling_a_voided_payment_is_a_failed_precondition(ledger: Ledger) {
    ledger.register(&reg("d-1", 500)).await.expect("register");
    let voided = ledger.void("d-1", None).await.expect("void");
    let result = ledger.settle("d-1", RIDER, None).await;
    assert!(
        matches!(result, Err(LedgerError::FailedPrecondition(_))),
        "gave {result:?}"
    );
    assert_eq!(ledger.get("d-1").await.expect("get"), voided);
}

async fn voiding_a_settled_payment_is_a_failed_precondition(ledger: Ledger) {
    ledger.register(&reg("d-1", 500)).await.expect("register");
    let settled = ledger.settle("d-1", RIDER, None).await.expect("settle");
    let result = ledger.void("d-1", None).await;
    assert!(
        matches!(result, Err(LedgerError::FailedPrecondition(_))),
        "gave {result:?}"
    );
    assert_eq!(ledger.get("d-1").await.expect("get"), settled);
}

async fn unknown_deliveries_are_not_found(ledger: Ledger) {
    for result in [
        ledger.settle("nope", RIDER, None).await,
        ledger.void("nope", None).await,
        ledger.get("nope").await,
    ] {
        assert!(
            matches!(result, Err(LedgerError::NotFound(ref id)) if id == "nope"),
            "gave {result:?}"
        );
    }
    assert_eq!(
        ledger.list_all().await.expect("list"),
        Vec::<Payment>::new()
    );
}

async fn ten_concurrent_registrations_produce_exactly_one_payment(ledger: Ledger) {
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let ledger = ledger.clone();
            tokio::spawn(async move { ledger.register(&reg("d-1", 500)).await })
        })
        .collect();
    let mut payments = Vec::new();
    for task in tasks {
        payments.push(task.await.expect("task").expect("register"));
    }
    let stored = ledger.list_all().await.expect("list");
    assert_eq!(stored.len(), 1);
    for payment in payments {
        assert_eq!(payment, stored[0]);
    }
}

async fn concurrent_settle_and_void_have_exactly_one_winner(ledger: Ledger) {
    // Several deliveries give the race several chances to go either way.
    for i in 0..10 {
        let delivery_id = format!("d-{i}");
        ledger
            .register(&reg(&delivery_id, 500))
            .await
            .expect("register");
        let settle = tokio::spawn({
            let (ledger, delivery_id) = (ledger.clone(), delivery_id.clone());
            async move { ledger.settle(&delivery_id, RIDER, None).await }
        });
        let void = tokio::spawn({
            let (ledger, delivery_id) = (ledger.clone(), delivery_id.clone());
            async move { ledger.void(&delivery_id, None).await }
        });
        let settle = settle.await.expect("settle task");
        let void = void.await.expect("void task");
        let stored = ledger.get(&delivery_id).await.expect("get");
        match (settle, void) {
            (Ok(settled), Err(LedgerError::FailedPrecondition(_))) => {
                assert_eq!(settled, stored);
                assert_eq!(stored.status, PaymentStatus::Settled);
                assert_eq!(stored.voided_at, None);
            }
            (Err(LedgerError::FailedPrecondition(_)), Ok(voided)) => {
                assert_eq!(voided, stored);
                assert_eq!(stored.status, PaymentStatus::Voided);
                assert_eq!(stored.settled_at, None);
            }
            other => panic!("expected exactly one winner for {delivery_id}, got {other:?}"),
        }
    }
}

async fn list_all_returns_every_payment_in_delivery_id_order(ledger: Ledger) {
    ledger.register(&reg("d-b", 2)).await.expect("register b");
    ledger.register(&reg("d-c", 3)).await.expect("register c");
    ledger.register(&reg("d-a", 1)).await.expect("register a");
    ledger.settle("d-b", RIDER, None).await.expect("settle b");
    ledger.void("d-c", None).await.expect("void c");
    let all = ledger.list_all().await.expect("list");
    let summary: Vec<_> = all
        .iter()
        .map(|p| (p.delivery_id.as_str(), p.amount, p.status))
        .collect();
    assert_eq!(
        summary,
        [
            ("d-a", 1, PaymentStatus::Registered),
            ("d-b", 2, PaymentStatus::Settled),
            ("d-c", 3, PaymentStatus::Voided),
        ]
    );
}

async fn a_connected_ledger_answers_ping(ledger: Ledger) {
    ledger.ping().await.expect("ping");
}

async fn repeated_and_racing_calls_journal_each_money_movement_once(ledger: Ledger) {
    let race = |op: &'static str| {
        let ledger = ledger.clone();
        tokio::spawn(async move {
            match op {
                "register" => ledger.register(&reg("d-1", 700)).await.map(|_| ()),
                "settle" => ledger.settle("d-1", RIDER, None).await.map(|_| ()),
                _ => ledger.void("d-1", None).await.map(|_| ()),
            }
        })
    };
    for task in (0..8).map(|_| race("register")).collect::<Vec<_>>() {
        task.await.expect("task").expect("register");
    }
    let outcomes: Vec<_> = (0..8)
        .map(|i| race(if i % 2 == 0 { "settle" } else { "void" }))
        .collect();
    for task in outcomes {
        // Half of these lose the race with a FailedPrecondition; none may move money again.
        let _ = task.await.expect("task");
    }
    let journal = ledger.journal().await.expect("journal");
    let kinds: Vec<&str> = journal.iter().map(|m| m.kind.as_str()).collect();
    let outcome = match ledger.get("d-1").await.expect("get").status {
        PaymentStatus::Settled => "settle",
        _ => "void",
    };
    assert_eq!(
        kinds,
        ["register", outcome],
        "one registration and one final move: {journal:?}"
    );
    // Each moves the 700 once, settled or voided.
    for movement in &journal {
        let moved: i64 = movement.entries.iter().map(|e| e.2).sum();
        assert_eq!(moved, 700, "{movement:?}");
    }
}

/// Replicas starting together on a freshly migrated database all come up. Migrating is the
/// one-off step before them (`payment-service migrate`), so they never race on the schema.
async fn replicas_starting_together_on_a_fresh_database_all_connect(url: String) {
    Ledger::migrate(&url).await.expect("migrate once");
    let connects = (0..4).map(|_| Ledger::connect(&url));
    for ledger in futures::future::join_all(connects).await {
        ledger
            .expect("connect while others migrate")
            .ping()
            .await
            .expect("ping");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_replicas_starting_together_on_a_fresh_database_all_connect() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("fresh.db").display()
    );
    replicas_starting_together_on_a_fresh_database_all_connect(url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "set TEST_DATABASE_URL to run against PostgreSQL"]
async fn postgres_replicas_starting_together_on_a_fresh_database_all_connect() {
    let url = std::env::var("TEST_DATABASE_URL").expect("TEST_DATABASE_URL is not set");
    let admin = Database::connect(&url)
        .await
        .expect("connect to TEST_DATABASE_URL");
    let name = format!("payment_test_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create");
    replicas_starting_together_on_a_fresh_database_all_connect(with_database(&url, &name)).await;
    PostgresDatabase { admin, name }.drop().await;
}

/// Opens `url` and applies the ledger's migrations up to the `steps`-th (all when `None`).
async fn migrated_to(url: &str, steps: Option<u32>) -> DatabaseConnection {
    use sea_orm_migration::MigratorTrait;
    let db = Database::connect(url).await.expect("connect");
    payment::ledger::migration::Migrator::up(&db, steps)
        .await
        .expect("migrate up");
    db
}

/// One settled payment and its movements, written as SQL (what the code writes).
const SETTLED_D1: &str = "INSERT INTO payments (delivery_id, amount, status, registered_at, settled_at, \
        restaurant_id, commission_bps, commission, rider_id) \
     VALUES ('d-1', 500, 'Settled', '2026-11-30T10:00:00Z', '2026-11-30T10:05:00Z', 'r-1', 1000, 50, 'k-1'); \
     INSERT INTO ledger_accounts (id, debits, credits, debits_must_not_exceed_credits) VALUES \
     ('restaurant:r-1', 500, 0, FALSE), ('agency:held', 500, 500, TRUE), \
     ('rider:k-1', 0, 450, FALSE), ('agency:commission', 0, 50, FALSE); \
     INSERT INTO ledger_movements (id, kind, delivery_id, at) VALUES \
     ('register:d-1', 'register', 'd-1', '2026-11-30T10:00:00Z'), \
     ('settle:d-1', 'settle', 'd-1', '2026-11-30T10:05:00Z'); \
     INSERT INTO ledger_entries (movement_id, debit_account, credit_account, amount) VALUES \
     ('register:d-1', 'restaurant:r-1', 'agency:held', 500), \
     ('settle:d-1', 'agency:held', 'rider:k-1', 450), \
     ('settle:d-1', 'agency:held', 'agency:commission', 50)";

async fn execute_all(db: &DatabaseConnection, script: &str) {
    for statement in script.split("; ") {
        db.execute_unprepared(statement).await.expect(statement);
    }
}

async fn a_second_movement_of_one_kind_for_one_delivery_is_refused_by_the_schema(url: String) {
    let db = migrated_to(&url, None).await;
    execute_all(&db, SETTLED_D1).await;
    let ledger = Ledger::connect(&url).await.expect("connect");
    assert_eq!(
        ledger.audit(None).await.expect("audit"),
        vec![],
        "the SQL is what the code writes"
    );
    for (id, kind) in [
        ("register:d-1", "register"),
        ("settle:d-1", "settle"),
        ("again:d-1", "register"),
        ("again:d-1", "void"),
        ("again:d-1", "settle"),
    ] {
        let refused = db
            .execute_unprepared(&format!(
                "INSERT INTO ledger_movements (id, kind, delivery_id, at) \
                 VALUES ('{id}', '{kind}', 'd-1', '2026-11-30T11:00:00Z')"
            ))
            .await
            .expect_err("a second registration or outcome moves money twice");
        assert!(
            refused.to_string().to_lowercase().contains("unique"),
            "{id} {kind}: {refused}"
        );
    }
    // An entry must move something between two accounts.
    for (debit, credit, amount) in [
        ("agency:held", "agency:held", 5),
        ("agency:held", "rider:k-1", 0),
        ("agency:held", "rider:k-1", -5),
    ] {
        db.execute_unprepared(&format!(
            "INSERT INTO ledger_entries (movement_id, debit_account, credit_account, amount) \
             VALUES ('settle:d-1', '{debit}', '{credit}', {amount})"
        ))
        .await
        .expect_err("an entry that moves nothing, or within one account");
    }
    // The held account cannot give out more than it received.
    db.execute_unprepared("UPDATE ledger_accounts SET debits = 501 WHERE id = 'agency:held'")
        .await
        .expect_err("held overdrawn");
    // Nothing booked is changed or removed: corrections are new movements.
    for change in [
        "UPDATE ledger_entries SET amount = 1 WHERE movement_id = 'settle:d-1'",
        "DELETE FROM ledger_entries WHERE movement_id = 'settle:d-1'",
        "UPDATE ledger_movements SET at = '2026-11-30T12:00:00Z' WHERE id = 'settle:d-1'",
        "DELETE FROM ledger_movements WHERE id = 'settle:d-1'",
    ] {
        let refused = db.execute_unprepared(change).await.expect_err(change);
        assert!(
            refused.to_string().contains("append-only"),
            "{change}: {refused}"
        );
    }
    // Another delivery's movements are fine.
    db.execute_unprepared(
        "INSERT INTO ledger_movements (id, kind, delivery_id, at) VALUES \
         ('register:d-2', 'register', 'd-2', '2026-11-30T11:00:00Z')",
    )
    .await
    .expect("another delivery");
}

async fn a_payment_status_the_ledger_does_not_know_is_refused_by_the_schema(url: String) {
    let db = migrated_to(&url, None).await;
    execute_all(&db, SETTLED_D1).await;
    for bad in ["Refunded", "settled", ""] {
        let refused = db
            .execute_unprepared(&format!(
                "INSERT INTO payments (delivery_id, amount, status, registered_at) \
                 VALUES ('d-2', 500, '{bad}', '2026-11-30T10:00:00Z')"
            ))
            .await
            .expect_err("an unknown status is refused on insert");
        assert!(
            refused.to_string().to_lowercase().contains("check"),
            "{refused}"
        );
        db.execute_unprepared(&format!(
            "UPDATE payments SET status = '{bad}' WHERE delivery_id = 'd-1'"
        ))
        .await
        .expect_err("an unknown status is refused on update");
    }
    let ledger = Ledger::connect(&url).await.expect("connect");
    let payment = ledger.get("d-1").await.expect("get");
    assert_eq!(
        (payment.status, payment.amount),
        (PaymentStatus::Settled, 500)
    );
    assert_eq!(ledger.list_all().await.expect("list").len(), 1);
}

/// A v1 ledger (payments and their single-entry journal) keeps every payment through the
/// double-entry migration; its movements are booked to the legacy accounts, the book audits
/// clean, and the ledger's rules hold for the old payments.
async fn the_double_entry_migration_carries_every_v1_payment_and_movement(url: String) {
    let db = migrated_to(&url, Some(3)).await;
    db.execute_unprepared(
        "INSERT INTO payments (delivery_id, amount, status, registered_at, settled_at, voided_at) VALUES \
         ('d-1', 500, 'Settled', '2026-11-30T10:00:00Z', '2026-11-30T10:05:00Z', NULL), \
         ('d-2', 700, 'Voided', '2026-11-30T10:00:00Z', NULL, '2026-11-30T10:01:00Z'), \
         ('d-3', 900, 'Registered', '2026-11-30T10:02:00Z', NULL, NULL)",
    )
    .await
    .expect("old payments");
    db.execute_unprepared(
        "INSERT INTO payment_movements (delivery_id, kind, amount, at) VALUES \
         ('d-1', 'Registered', 500, '2026-11-30T10:00:00Z'), ('d-1', 'Settled', 500, '2026-11-30T10:05:00Z'), \
         ('d-2', 'Registered', 700, '2026-11-30T10:00:00Z'), ('d-2', 'Voided', 700, '2026-11-30T10:01:00Z'), \
         ('d-3', 'Registered', 900, '2026-11-30T10:02:00Z')",
    )
    .await
    .expect("old journal");
    db.close().await.expect("close");
    Ledger::migrate(&url).await.expect("migrate with rows");
    let ledger = Ledger::connect(&url).await.expect("connect");
    let payments: Vec<_> = ledger
        .list_all()
        .await
        .expect("list")
        .into_iter()
        .map(|p| {
            (
                p.delivery_id,
                p.amount,
                p.status,
                p.restaurant_id,
                p.rider_id,
            )
        })
        .collect();
    assert_eq!(
        payments,
        vec![
            (
                "d-1".into(),
                500,
                PaymentStatus::Settled,
                "legacy".into(),
                Some("legacy".into())
            ),
            (
                "d-2".into(),
                700,
                PaymentStatus::Voided,
                "legacy".into(),
                None
            ),
            (
                "d-3".into(),
                900,
                PaymentStatus::Registered,
                "legacy".into(),
                None
            ),
        ]
    );
    assert_eq!(ledger.journal().await.expect("journal").len(), 5);
    assert_eq!(ledger.audit(None).await.expect("audit"), vec![]);
    // What v1 moved was paid and billed outside the ledger: no run pays or bills `legacy`.
    assert_eq!(
        ledger.riders_with_balance().await.expect("riders"),
        Vec::<String>::new()
    );
    assert_eq!(
        ledger
            .restaurants_to_invoice(chrono::Utc::now())
            .await
            .expect("restaurants"),
        Vec::<String>::new()
    );
    // The old payments follow the rules: d-3 settles (whole: no commission was fixed), once.
    ledger.settle("d-3", RIDER, None).await.expect("settle d-3");
    assert!(matches!(
        ledger.register(&reg("d-3", 900)).await,
        Err(LedgerError::AlreadyClosed { .. })
    ));
    assert_eq!(ledger.audit(None).await.expect("audit"), vec![]);
}
