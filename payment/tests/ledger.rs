//! The ledger rules, each written once as an async fn over a [`Ledger`] and run
//! against SQLite (a fresh temp file per test) and PostgreSQL (a fresh
//! database per test; ignored unless asked for, and failing loudly if
//! `TEST_DATABASE_URL` is missing).

use payment::{Ledger, LedgerError, Payment, PaymentStatus};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};

/// Writes two `#[tokio::test]` wrappers per behaviour: `sqlite::<name>` and `postgres::<name>`.
macro_rules! on_both_backends {
    ($($behaviour:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $behaviour() {
                    let (ledger, _dir) = super::sqlite_ledger().await;
                    super::$behaviour(ledger).await;
                }
            )*
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                #[ignore = "set TEST_DATABASE_URL to run against PostgreSQL"]
                async fn $behaviour() {
                    let (ledger, database) = super::postgres_ledger().await;
                    super::$behaviour(ledger).await;
                    database.drop().await;
                }
            )*
        }
    };
}

/// Like `on_both_backends!`, for behaviours of the schema itself: each gets the URL of a
/// fresh, unmigrated database (`sqlite_schema::<name>`, `postgres_schema::<name>`).
macro_rules! on_both_databases {
    ($($behaviour:ident),* $(,)?) => {
        mod sqlite_schema {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $behaviour() {
                    let (url, _dir) = super::sqlite_database();
                    super::$behaviour(url).await;
                }
            )*
        }

        mod postgres_schema {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                #[ignore = "set TEST_DATABASE_URL to run against PostgreSQL"]
                async fn $behaviour() {
                    let (url, database) = super::postgres_database().await;
                    super::$behaviour(url).await;
                    database.drop().await;
                }
            )*
        }
    };
}

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
    the_constraints_migration_keeps_every_payment_and_movement,
);

async fn sqlite_ledger() -> (Ledger, tempfile::TempDir) {
    let (url, dir) = sqlite_database();
    Ledger::migrate(&url).await.expect("migrate sqlite");
    let ledger = Ledger::connect(&url).await.expect("connect to sqlite");
    (ledger, dir)
}

/// The URL of a SQLite file in a fresh temp dir (the file is created on first connect).
fn sqlite_database() -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("create temp dir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("payment.db").display()
    );
    (url, dir)
}

/// A PostgreSQL database created for one test, so tests can run in parallel.
struct PostgresDatabase {
    admin: DatabaseConnection,
    name: String,
}

impl PostgresDatabase {
    /// Removes the database; `FORCE` ends the ledger's pooled connections.
    async fn drop(self) {
        self.admin
            .execute_unprepared(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .await
            .expect("drop test database");
    }
}

async fn postgres_ledger() -> (Ledger, PostgresDatabase) {
    let (url, database) = postgres_database().await;
    Ledger::migrate(&url).await.expect("migrate test database");
    let ledger = Ledger::connect(&url)
        .await
        .expect("connect to test database");
    (ledger, database)
}

/// A fresh, empty database on the server at `TEST_DATABASE_URL`, and its URL.
async fn postgres_database() -> (String, PostgresDatabase) {
    let url = std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "TEST_DATABASE_URL is not set; point it at a PostgreSQL server, \
             e.g. postgres://postgres@127.0.0.1:5432/postgres"
        )
    });
    let admin = Database::connect(&url)
        .await
        .expect("connect to TEST_DATABASE_URL");
    let name = format!("payment_test_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create test database");
    (with_database(&url, &name), PostgresDatabase { admin, name })
}

/// Replaces the database name in a `postgres://user@host:port/db?params` URL.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let authority = base.find("://").map_or(0, |i| i + 3);
    let path = base[authority..]
        .find('/')
        .map_or(base.len(), |i| authority + i);
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    format!("{}/{database}{query}", &base[..path])
}

#[test]
fn the_database_name_in_a_postgres_url_is_replaced() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
        "postgres://postgres@127.0.0.1:5432/t1"
    );
    assert_eq!(
        with_database("postgres://u:p@db:5432/x?sslmode=disable", "t1"),
        "postgres://u:p@db:5432/t1?sslmode=disable"
    );
    assert_eq!(
        with_database("postgres://db:5432", "t1"),
        "postgres://db:5432/t1"
    );
}

#[tokio::test]
async fn migrating_creates_the_missing_parent_directory_of_a_sqlite_file() {
    let dir = tempfile::tempdir().expect("create temp dir");
    let file = dir.path().join("nested").join("deeper").join("payment.db");
    let url = format!("sqlite://{}?mode=rwc", file.display());
    Ledger::migrate(&url)
        .await
        .expect("migrate creates the directory");
    let ledger = Ledger::connect(&url).await.expect("connect");
    ledger.register("d-1", 10).await.expect("register");
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
    let registered = first.register("d-1", 10).await.expect("register");
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
    ledger.register("d-1", 10).await.expect("register");
    assert_eq!(ledger.list_all().await.expect("list").len(), 1);
}

async fn registering_a_payment_records_it_as_registered(ledger: Ledger) {
    let payment = ledger.register("d-1", 500).await.expect("register");
    assert_eq!(payment.delivery_id, "d-1");
    assert_eq!(payment.amount, 500);
    assert_eq!(payment.status, PaymentStatus::Registered);
    assert_eq!(payment.settled_at, None);
    assert_eq!(payment.voided_at, None);
    assert_eq!(ledger.get("d-1").await.expect("get"), payment);
}

async fn registering_again_with_the_same_amount_returns_the_existing_payment(ledger: Ledger) {
    let first = ledger.register("d-1", 500).await.expect("first register");
    let second = ledger.register("d-1", 500).await.expect("second register");
    assert_eq!(second, first);
    assert_eq!(ledger.list_all().await.expect("list"), vec![first]);
}

/// A delivery id that comes back once its payment is closed (a workflow started again under
/// an old id) must not get a stale "registered" answer: its new run would wait for a settlement
/// that never moves money.
async fn registering_again_after_settlement_is_refused_and_moves_no_money(ledger: Ledger) {
    ledger.register("d-1", 500).await.expect("register");
    let settled = ledger.settle("d-1").await.expect("settle");
    let journal = ledger.movements().await.expect("movements");
    let error = ledger
        .register("d-1", 500)
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
    assert_eq!(ledger.movements().await.expect("movements"), journal);
    assert_eq!(journal.len(), 2, "{journal:?}");
}

async fn registering_again_after_a_void_is_refused_and_moves_no_money(ledger: Ledger) {
    ledger.register("d-1", 500).await.expect("register");
    let voided = ledger.void("d-1").await.expect("void");
    let journal = ledger.movements().await.expect("movements");
    // A different amount is refused for the same reason: the delivery is over.
    for amount in [500, 600] {
        let error = ledger
            .register("d-1", amount)
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
    assert_eq!(ledger.movements().await.expect("movements"), journal);
}

async fn registering_again_with_a_different_amount_is_a_failed_precondition(ledger: Ledger) {
    let original = ledger.register("d-1", 500).await.expect("register");
    let error = ledger
        .register("d-1", 600)
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
        let result = ledger.register(delivery_id, amount).await;
        assert!(
            matches!(result, Err(LedgerError::InvalidArgument(_))),
            "register({delivery_id:?}, {amount}) gave {result:?}"
        );
    }
    for result in [
        ledger.settle("").await,
        ledger.void(&too_long).await,
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
        .register(&longest, 1)
        .await
        .expect("smallest amount, longest id");
    ledger
        .register("d-2", 1_000_000)
        .await
        .expect("largest amount");
    assert_eq!(ledger.list_all().await.expect("list").len(), 2);
}

async fn settling_a_registered_payment_settles_it_once(ledger: Ledger) {
    let registered = ledger.register("d-1", 500).await.expect("register");
    let settled = ledger.settle("d-1").await.expect("settle");
    assert_eq!(settled.status, PaymentStatus::Settled);
    assert_eq!(settled.amount, 500);
    assert_eq!(settled.registered_at, registered.registered_at);
    assert!(settled.settled_at.is_some());
    assert_eq!(settled.voided_at, None);
    // A repeat must not move money again, so not even the timestamp changes.
    assert_eq!(ledger.settle("d-1").await.expect("settle again"), settled);
    assert_eq!(ledger.get("d-1").await.expect("get"), settled);
}

async fn voiding_a_registered_payment_voids_it_once(ledger: Ledger) {
    ledger.register("d-1", 500).await.expect("register");
    let voided = ledger.void("d-1").await.expect("void");
    assert_eq!(voided.status, PaymentStatus::Voided);
    assert!(voided.voided_at.is_some());
    assert_eq!(voided.settled_at, None);
    assert_eq!(ledger.void("d-1").await.expect("void again"), voided);
    assert_eq!(ledger.get("d-1").await.expect("get"), voided);
}

async fn settling_a_voided_payment_is_a_failed_precondition(ledger: Ledger) {
    ledger.register("d-1", 500).await.expect("register");
    let voided = ledger.void("d-1").await.expect("void");
    let result = ledger.settle("d-1").await;
    assert!(
        matches!(result, Err(LedgerError::FailedPrecondition(_))),
        "gave {result:?}"
    );
    assert_eq!(ledger.get("d-1").await.expect("get"), voided);
}

async fn voiding_a_settled_payment_is_a_failed_precondition(ledger: Ledger) {
    ledger.register("d-1", 500).await.expect("register");
    let settled = ledger.settle("d-1").await.expect("settle");
    let result = ledger.void("d-1").await;
    assert!(
        matches!(result, Err(LedgerError::FailedPrecondition(_))),
        "gave {result:?}"
    );
    assert_eq!(ledger.get("d-1").await.expect("get"), settled);
}

async fn unknown_deliveries_are_not_found(ledger: Ledger) {
    for result in [
        ledger.settle("nope").await,
        ledger.void("nope").await,
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
            tokio::spawn(async move { ledger.register("d-1", 500).await })
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
        ledger.register(&delivery_id, 500).await.expect("register");
        let settle = tokio::spawn({
            let (ledger, delivery_id) = (ledger.clone(), delivery_id.clone());
            async move { ledger.settle(&delivery_id).await }
        });
        let void = tokio::spawn({
            let (ledger, delivery_id) = (ledger.clone(), delivery_id.clone());
            async move { ledger.void(&delivery_id).await }
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
    ledger.register("d-b", 2).await.expect("register b");
    ledger.register("d-c", 3).await.expect("register c");
    ledger.register("d-a", 1).await.expect("register a");
    ledger.settle("d-b").await.expect("settle b");
    ledger.void("d-c").await.expect("void c");
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
                "register" => ledger.register("d-1", 700).await.map(|_| ()),
                "settle" => ledger.settle("d-1").await.map(|_| ()),
                _ => ledger.void("d-1").await.map(|_| ()),
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
    let movements = ledger.movements().await.expect("movements");
    let kinds: Vec<_> = movements.iter().map(|m| m.kind).collect();
    assert_eq!(
        kinds.len(),
        2,
        "one registration and one final move: {movements:?}"
    );
    assert_eq!(kinds[0], PaymentStatus::Registered);
    assert_eq!(kinds[1], ledger.get("d-1").await.expect("get").status);
    assert!(
        movements
            .iter()
            .all(|m| m.amount == 700 && m.delivery_id == "d-1")
    );
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
    Ledger::migrate(url).await.ok();
    let db = Database::connect(url).await.expect("connect");
    if let Some(steps) = steps {
        // Back to the schema before the constraints: `down` of the newest migrations.
        let applied = payment::ledger::migration::Migrator::get_applied_migrations(&db)
            .await
            .expect("applied")
            .len();
        let newer = u32::try_from(applied).expect("few migrations") - steps;
        payment::ledger::migration::Migrator::down(&db, Some(newer))
            .await
            .expect("migrate down");
    }
    db
}

/// One settled payment and its two movements, written as SQL (what the code writes).
const SETTLED_D1: &str = "INSERT INTO payments (delivery_id, amount, status, registered_at, settled_at) \
     VALUES ('d-1', 500, 'Settled', '2026-11-30T10:00:00Z', '2026-11-30T10:05:00Z'); \
     INSERT INTO payment_movements (delivery_id, kind, amount, at) VALUES \
     ('d-1', 'Registered', 500, '2026-11-30T10:00:00Z'), ('d-1', 'Settled', 500, '2026-11-30T10:05:00Z')";

async fn a_second_movement_of_one_kind_for_one_delivery_is_refused_by_the_schema(url: String) {
    let db = migrated_to(&url, None).await;
    db.execute_unprepared(SETTLED_D1)
        .await
        .expect("one of each");
    for kind in ["Registered", "Settled"] {
        let refused = db
            .execute_unprepared(&format!(
                "INSERT INTO payment_movements (delivery_id, kind, amount, at) \
                 VALUES ('d-1', '{kind}', 500, '2026-11-30T11:00:00Z')"
            ))
            .await
            .expect_err("a second movement of one kind moves money twice");
        assert!(
            refused.to_string().to_lowercase().contains("unique"),
            "{refused}"
        );
    }
    // Another kind for the same delivery, or the same kind for another, is fine.
    db.execute_unprepared(
        "INSERT INTO payment_movements (delivery_id, kind, amount, at) VALUES \
         ('d-1', 'Voided', 500, '2026-11-30T11:00:00Z'), ('d-2', 'Registered', 500, '2026-11-30T11:00:00Z')",
    )
    .await
    .expect("distinct (delivery, kind)");
    let ledger = Ledger::connect(&url).await.expect("connect");
    assert_eq!(ledger.movements().await.expect("movements").len(), 4);
}

async fn a_payment_status_the_ledger_does_not_know_is_refused_by_the_schema(url: String) {
    let db = migrated_to(&url, None).await;
    db.execute_unprepared(SETTLED_D1)
        .await
        .expect("a settled payment");
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

/// A ledger written before the constraints keeps every row through the migration (SQLite
/// rebuilds `payments` to add its CHECK), and the ledger reads them back unchanged.
async fn the_constraints_migration_keeps_every_payment_and_movement(url: String) {
    let db = migrated_to(&url, Some(2)).await;
    db.execute_unprepared(SETTLED_D1).await.expect("old rows");
    db.execute_unprepared(
        "INSERT INTO payments (delivery_id, amount, status, registered_at, voided_at) \
         VALUES ('d-2', 700, 'Voided', '2026-11-30T10:00:00Z', '2026-11-30T10:01:00Z'), \
                ('d-3', 900, 'Registered', '2026-11-30T10:02:00Z', NULL)",
    )
    .await
    .expect("old rows");
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
                p.settled_at.is_some(),
                p.voided_at.is_some(),
            )
        })
        .collect();
    assert_eq!(
        payments,
        vec![
            ("d-1".into(), 500, PaymentStatus::Settled, true, false),
            ("d-2".into(), 700, PaymentStatus::Voided, false, true),
            ("d-3".into(), 900, PaymentStatus::Registered, false, false),
        ]
    );
    assert_eq!(ledger.movements().await.expect("movements").len(), 2);
    // The rebuilt table still works for the ledger, and its rules hold.
    ledger.settle("d-3").await.expect("settle d-3");
    assert!(matches!(
        ledger.register("d-3", 900).await,
        Err(LedgerError::AlreadyClosed { .. })
    ));
}
