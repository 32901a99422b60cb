//! `delivery-check` over a window: a disagreement in the window is reported, an older one is
//! not (the whole history still shows both), and a run from its state file starts where the
//! last one did.

use std::time::Duration;

use chrono::Utc;
use e2e::{Stack, StackOptions, drive_to_completion};
use identity::Role;
use sea_orm::ConnectionTrait as _;

fn flagged(report: &::checker::Report) -> Vec<&str> {
    let mut ids: Vec<&str> = report
        .mismatches
        .iter()
        .map(|m| m.delivery_id.as_str())
        .collect();
    ids.dedup();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_windowed_check_reports_a_mismatch_inside_its_window_and_not_an_older_one() {
    let stack = Stack::start(StackOptions::default()).await;
    let restaurant = stack.signed_in(Role::Restaurant, "r-window").await;
    let rider = stack.signed_in(Role::Rider, "rider-window").await;

    let old = restaurant.call_rider(1000).await;
    drive_to_completion(&rider, &old, Duration::from_secs(60)).await;
    stack.workflow_completed(&old).await;
    // Temporal compares close times in whole seconds: let the old one fall a second behind.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let window_start = Utc::now();
    let recent = restaurant.call_rider(2000).await;
    drive_to_completion(&rider, &recent, Duration::from_secs(60)).await;
    stack.workflow_completed(&recent).await;

    let mut settings = stack.checker_settings();
    assert!(
        ::checker::check(&settings)
            .await
            .expect("check")
            .is_consistent()
    );

    // Both rows lose their settlement, the time they were written left as it was: the old one
    // stands for a disagreement a run before this window already reported.
    let list = sea_orm::Database::connect(&stack.readmodel_database_url)
        .await
        .expect("open the delivery list");
    list.execute_unprepared(&format!(
        "UPDATE delivery_list SET settled = NULL WHERE delivery_id IN ('{old}', '{recent}')"
    ))
    .await
    .expect("break the rows");

    let whole = ::checker::check(&settings)
        .await
        .expect("check the whole history");
    let mut both = vec![old.as_str(), recent.as_str()];
    both.sort();
    assert_eq!(flagged(&whole), both, "{whole}");
    assert_eq!(whole.deliveries, 2, "{whole}");

    // `--since` reaching back to just before the recent delivery.
    let since = (Utc::now() - window_start).to_std().expect("elapsed");
    settings.scope.since = Some(since);
    let windowed = ::checker::check(&settings).await.expect("check the window");
    assert_eq!(flagged(&windowed), vec![recent.as_str()], "{windowed}");
    assert_eq!(windowed.deliveries, 1, "{windowed}");
    assert_eq!(windowed.payments, 1, "{windowed}");
    assert_eq!(windowed.settled_total, 2000, "{windowed}");
    assert!(!windowed.is_consistent());

    // With a state file: the first run has no state and covers `--since` (here the whole
    // history); the next one starts where it started, less the overlap, and finds nothing new.
    let dir = tempfile::tempdir().expect("temp dir");
    // The first run must start a second after the recent delivery closed (whole seconds, as
    // above), or the next run's window rightly takes that delivery in again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    settings.scope.since = None;
    settings.scope.overlap = Duration::ZERO;
    settings.scope.state_file = Some(dir.path().join("delivery-check.state"));
    let first = ::checker::check(&settings).await.expect("first run");
    assert_eq!(first.deliveries, 2, "{first}");
    let next = ::checker::check(&settings).await.expect("next run");
    assert_eq!(next.deliveries, 0, "{next}");
    assert!(next.is_consistent(), "{next}");
    assert!(matches!(next.window, ::checker::Window::Since(_)), "{next}");
}

/// Money moved by hand, behind the ledger's back: an extra entry paying the rider more on a
/// settlement (with the account's totals kept in step, so only the settlement's document
/// betrays it), then an entry with no totals at all. `delivery-check` reports both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checker_finds_a_movement_written_wrong_by_hand() {
    let stack = Stack::start(StackOptions::default()).await;
    let restaurant = stack.signed_in(Role::Restaurant, "r-by-hand").await;
    let rider = stack.signed_in(Role::Rider, "rider-by-hand").await;
    let id = restaurant.call_rider(3000).await;
    drive_to_completion(&rider, &id, Duration::from_secs(60)).await;
    stack.workflow_completed(&id).await;
    let settings = stack.checker_settings();
    let clean = ::checker::check(&settings).await.expect("check");
    assert!(clean.is_consistent(), "{clean}");

    let ledger = sea_orm::Database::connect(&stack.payment_database_url)
        .await
        .expect("open the ledger");
    for statement in [
        format!(
            "INSERT INTO ledger_entries (movement_id, debit_account, credit_account, amount) \
             VALUES ('settle:{id}', 'agency:commission', 'rider:rider-by-hand', 100)"
        ),
        "UPDATE ledger_accounts SET credits = credits + 100 WHERE id = 'rider:rider-by-hand'"
            .to_owned(),
        "UPDATE ledger_accounts SET debits = debits + 100 WHERE id = 'agency:commission'"
            .to_owned(),
    ] {
        ledger
            .execute_unprepared(&statement)
            .await
            .expect(&statement);
    }
    let report = ::checker::check(&settings).await.expect("check");
    let problems: Vec<String> = report
        .mismatches
        .iter()
        .map(|m| format!("{}: {}", m.delivery_id, m.problem))
        .collect();
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with(&format!("settle:{id}")) && p.contains("rider:rider-by-hand")),
        "{report}"
    );

    // An entry whose account totals were never kept: the account no longer sums.
    ledger
        .execute_unprepared(&format!(
            "INSERT INTO ledger_entries (movement_id, debit_account, credit_account, amount) \
             VALUES ('register:{id}', 'restaurant:r-by-hand', 'agency:held', 50)"
        ))
        .await
        .expect("an entry without its totals");
    let report = ::checker::check(&settings).await.expect("check");
    assert!(
        report
            .mismatches
            .iter()
            .any(|m| m.delivery_id == "agency:held" && m.problem.contains("entries")),
        "{report}"
    );
    assert!(!report.is_consistent());
}
