//! The ledger's money, behaviour by behaviour: how a fee splits, what failure reasons do with
//! it, adjustments, payouts, statements, invoices and the audit. Each behaviour is an async fn
//! over a [`Ledger`] (or, for the audit's tamper tests, the URL of a fresh database) and runs on
//! SQLite and on PostgreSQL (ignored unless asked for, with `TEST_DATABASE_URL`).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Days, Duration, SubsecRound, Utc};
use domain::{CommissionBps, FailureMoney, FailureReason, Period, Split};
use payment::ledger::adjustments::{AdjustmentRequest, Holder};
use payment::ledger::audit::Finding;
use payment::ledger::payouts::Payout;
use payment::{Ledger, LedgerError, PaymentStatus, Registration};
use sea_orm::{ConnectionTrait, Database};

mod common;
use common::{RIDER, reg};

on_both_backends!(
    payouts_of_lists_every_payout_when_two_periods_start_together,
    a_registration_that_booked_the_fee_never_answers_already_closed,
    a_repeated_payout_answers_exactly_what_the_first_call_answered,
    settling_splits_the_fee_into_commission_and_earning_at_the_rate_fixed_at_registration,
    a_zero_commission_books_the_whole_fee_to_the_rider_and_no_commission_entry,
    registering_again_at_another_rate_or_for_another_restaurant_is_refused,
    settling_to_another_rider_after_settling_is_a_failed_precondition,
    a_bad_rider_id_or_unknown_failure_reason_is_invalid_and_writes_nothing,
    failure_reasons_are_recorded_on_the_payment_and_on_statement_lines,
    every_failure_reason_moves_the_money_its_rule_says,
    an_adjustment_books_once_and_its_id_reused_with_other_details_is_refused,
    adjustments_of_either_sign_move_rider_and_restaurant_balances_as_their_documents_show,
    malformed_adjustments_are_invalid_and_write_nothing,
    a_payout_pays_exactly_what_was_earned_before_the_period_end_and_only_once,
    concurrent_payouts_for_one_rider_and_period_pay_once,
    a_payout_with_nothing_due_is_none_and_moves_nothing,
    a_negative_adjustment_reduces_the_next_payout,
    a_payout_never_pays_more_than_was_earned,
    a_settlement_after_the_period_end_waits_for_the_next_period,
    payouts_of_pages_newest_period_first_with_a_cursor,
    riders_with_balance_lists_the_riders_owed_something,
    a_statement_sums_lines_adjustments_and_payouts_of_its_days,
    a_statement_of_a_quiet_range_is_empty_and_a_bad_range_is_invalid,
    invoices_are_numbered_per_restaurant_without_gaps_one_per_period,
    an_invoice_bills_settlements_only_not_voided_or_open_payments,
    a_late_settlement_lands_on_the_next_invoice,
    an_adjustment_appears_on_exactly_one_invoice,
    invoices_of_pages_newest_first_and_invoice_returns_the_lines,
    restaurants_to_invoice_lists_those_with_something_unbilled_before_a_time,
    concurrent_invoices_bill_each_settlement_once_with_gapless_numbers,
    the_audit_is_clean_after_every_kind_of_movement,
);

on_both_databases!(
    the_audit_finds_an_extra_held_entry_on_a_settlement_whose_totals_were_kept,
    the_audit_finds_a_settlement_booking_more_than_its_payment_when_only_the_document_disagrees,
    the_audit_finds_an_entry_written_without_its_account_totals,
    the_audit_finds_a_payment_closed_without_its_movement,
);

// ---------------------------------------------------------------------------------------------
// Helpers

fn rate(bps: i64) -> CommissionBps {
    CommissionBps::new(bps).expect("a valid rate")
}

fn reg_at(delivery_id: &str, restaurant_id: &str, amount: i64, bps: i64) -> Registration {
    Registration {
        delivery_id: delivery_id.to_owned(),
        restaurant_id: restaurant_id.to_owned(),
        amount,
        commission: rate(bps),
    }
}

fn period(label: &str, start: DateTime<Utc>, end: DateTime<Utc>) -> Period {
    Period {
        label: label.to_owned(),
        start,
        end,
    }
}

fn adjustment(id: &str, holder: Holder, account_id: &str, amount: i64) -> AdjustmentRequest {
    AdjustmentRequest {
        id: id.to_owned(),
        holder,
        account_id: account_id.to_owned(),
        amount,
        reason: format!("correction {id}"),
        delivery_id: None,
        created_by: "ops-1".to_owned(),
    }
}

/// What 10% (the tests' default rate) leaves the rider of `amount`.
fn earning(amount: i64) -> i64 {
    Split::of(amount, CommissionBps::DEFAULT).earning
}

/// Every account's `(debits, credits)`, by id.
async fn balances(ledger: &Ledger) -> BTreeMap<String, (i64, i64)> {
    ledger
        .balances()
        .await
        .expect("balances")
        .into_iter()
        .map(|b| (b.account, (b.debits, b.credits)))
        .collect()
}

/// One account's `(debits, credits)`; `(0, 0)` for one never touched.
async fn totals(ledger: &Ledger, account: &str) -> (i64, i64) {
    balances(ledger)
        .await
        .get(account)
        .copied()
        .unwrap_or((0, 0))
}

/// What the agency owes a rider now: credits less debits.
async fn owed(ledger: &Ledger, rider: &str) -> i64 {
    let (debits, credits) = totals(ledger, &format!("rider:{rider}")).await;
    credits - debits
}

async fn register_and_settle(ledger: &Ledger, delivery_id: &str, amount: i64, rider: &str) {
    ledger
        .register(&reg(delivery_id, amount))
        .await
        .expect("register");
    ledger
        .settle(delivery_id, rider, None)
        .await
        .expect("settle");
}

/// Now, to the microsecond: what both databases store of a time, so a period read back is the
/// period written.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Two answers for one payout: equal, but for `paid_at` below the microsecond (see
/// `a_repeated_payout_answers_exactly_what_the_first_call_answered`).
fn same_payout(a: &Payout, b: &Payout) -> bool {
    let stored = |p: &Payout| Payout {
        paid_at: p.paid_at.trunc_subsecs(6),
        ..p.clone()
    };
    stored(a) == stored(b)
}

/// A moment strictly after everything booked so far, and strictly before anything booked next.
async fn cut() -> DateTime<Utc> {
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let at = now();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    at
}

async fn assert_clean(ledger: &Ledger) {
    assert_eq!(
        ledger.audit(None).await.expect("audit"),
        Vec::<Finding>::new()
    );
}

fn subjects(findings: &[Finding]) -> BTreeSet<&str> {
    findings.iter().map(|f| f.subject.as_str()).collect()
}

// ---------------------------------------------------------------------------------------------
// Settlement

async fn settling_splits_the_fee_into_commission_and_earning_at_the_rate_fixed_at_registration(
    ledger: Ledger,
) {
    let registered = ledger
        .register(&reg_at("d-1", "r-1", 999, 1500))
        .await
        .expect("register");
    assert_eq!(
        (registered.commission_bps, registered.commission),
        (1500, 149)
    );
    assert_eq!(registered.earning(), 850);
    let settled = ledger.settle("d-1", RIDER, None).await.expect("settle");
    assert_eq!(settled.status, PaymentStatus::Settled);
    assert_eq!(settled.rider_id.as_deref(), Some(RIDER));
    assert_eq!((settled.commission, settled.earning()), (149, 850));
    assert_eq!(
        balances(&ledger).await,
        BTreeMap::from([
            ("agency:commission".to_owned(), (0, 149)),
            ("agency:held".to_owned(), (999, 999)),
            ("restaurant:r-1".to_owned(), (999, 0)),
            ("rider:k-1".to_owned(), (0, 850)),
        ])
    );
    let settle = ledger
        .journal()
        .await
        .expect("journal")
        .into_iter()
        .find(|m| m.kind == "settle")
        .expect("a settle movement");
    let mut entries = settle.entries.clone();
    entries.sort();
    assert_eq!(
        entries,
        [
            (
                "agency:held".to_owned(),
                "agency:commission".to_owned(),
                149
            ),
            ("agency:held".to_owned(), "rider:k-1".to_owned(), 850),
        ]
    );
    assert_clean(&ledger).await;
}

async fn a_zero_commission_books_the_whole_fee_to_the_rider_and_no_commission_entry(
    ledger: Ledger,
) {
    ledger
        .register(&reg_at("d-1", "r-1", 1234, 0))
        .await
        .expect("register");
    let settled = ledger.settle("d-1", RIDER, None).await.expect("settle");
    assert_eq!((settled.commission, settled.earning()), (0, 1234));
    let journal = ledger.journal().await.expect("journal");
    let settle = journal.iter().find(|m| m.kind == "settle").expect("settle");
    assert_eq!(
        settle.entries,
        [("agency:held".to_owned(), "rider:k-1".to_owned(), 1234)]
    );
    assert_eq!(totals(&ledger, "agency:commission").await, (0, 0));
    assert_eq!(totals(&ledger, "rider:k-1").await, (0, 1234));
    assert_clean(&ledger).await;
}

async fn registering_again_at_another_rate_or_for_another_restaurant_is_refused(ledger: Ledger) {
    let first = ledger
        .register(&reg_at("d-1", "r-1", 1000, 1500))
        .await
        .expect("register");
    for other in [
        reg_at("d-1", "r-1", 1000, 1000),
        reg_at("d-1", "r-2", 1000, 1500),
    ] {
        let refused = ledger.register(&other).await;
        assert!(
            matches!(refused, Err(LedgerError::FailedPrecondition(_))),
            "{other:?} gave {refused:?}"
        );
    }
    // The rate fixed first holds when it settles.
    let settled = ledger.settle("d-1", RIDER, None).await.expect("settle");
    assert_eq!(
        (settled.commission_bps, settled.commission),
        (first.commission_bps, 150)
    );
    assert_eq!(totals(&ledger, "restaurant:r-2").await, (0, 0));
    assert_clean(&ledger).await;
}

async fn settling_to_another_rider_after_settling_is_a_failed_precondition(ledger: Ledger) {
    ledger.register(&reg("d-1", 500)).await.expect("register");
    let settled = ledger.settle("d-1", RIDER, None).await.expect("settle");
    let journal = ledger.journal().await.expect("journal");
    let result = ledger.settle("d-1", "k-2", None).await;
    assert!(
        matches!(result, Err(LedgerError::FailedPrecondition(_))),
        "gave {result:?}"
    );
    assert_eq!(ledger.get("d-1").await.expect("get"), settled);
    assert_eq!(ledger.journal().await.expect("journal"), journal);
    assert_eq!(totals(&ledger, "rider:k-2").await, (0, 0));
    // The same rider again is a harmless repeat.
    assert_eq!(
        ledger.settle("d-1", RIDER, None).await.expect("repeat"),
        settled
    );
}

async fn a_bad_rider_id_or_unknown_failure_reason_is_invalid_and_writes_nothing(ledger: Ledger) {
    ledger.register(&reg("d-1", 500)).await.expect("register");
    let registered = ledger.get("d-1").await.expect("get");
    let journal = ledger.journal().await.expect("journal");
    let long = "k".repeat(65);
    for rider in ["", "k:1", " k-1", "k 1", "-k", long.as_str()] {
        let result = ledger.settle("d-1", rider, None).await;
        assert!(
            matches!(result, Err(LedgerError::InvalidArgument(_))),
            "rider {rider:?} gave {result:?}"
        );
    }
    for reason in ["", "lost", "Damaged", "customer unreachable"] {
        let settle = ledger.settle("d-1", RIDER, Some(reason)).await;
        assert!(
            matches!(settle, Err(LedgerError::InvalidArgument(_))),
            "settle with {reason:?} gave {settle:?}"
        );
        let void = ledger.void("d-1", Some(reason)).await;
        assert!(
            matches!(void, Err(LedgerError::InvalidArgument(_))),
            "void with {reason:?} gave {void:?}"
        );
    }
    // A bad restaurant id is refused at registration the same way.
    let bad_restaurant = ledger.register(&reg_at("d-2", "r:1", 500, 1000)).await;
    assert!(
        matches!(bad_restaurant, Err(LedgerError::InvalidArgument(_))),
        "gave {bad_restaurant:?}"
    );
    assert_eq!(ledger.get("d-1").await.expect("get"), registered);
    assert_eq!(ledger.list_all().await.expect("list").len(), 1);
    assert_eq!(ledger.journal().await.expect("journal"), journal);
    assert_clean(&ledger).await;
}

async fn failure_reasons_are_recorded_on_the_payment_and_on_statement_lines(ledger: Ledger) {
    for (delivery, amount) in [("d-1", 1000), ("d-2", 2000), ("d-3", 3000)] {
        ledger
            .register(&reg(delivery, amount))
            .await
            .expect("register");
    }
    let unreachable = ledger
        .settle("d-1", RIDER, Some("customer_unreachable"))
        .await
        .expect("settle with a reason");
    assert_eq!(
        unreachable.failure_reason.as_deref(),
        Some("customer_unreachable")
    );
    let delivered = ledger.settle("d-2", RIDER, None).await.expect("settle");
    assert_eq!(delivered.failure_reason, None);
    let damaged = ledger.void("d-3", Some("damaged")).await.expect("void");
    assert_eq!(damaged.failure_reason.as_deref(), Some("damaged"));
    assert_eq!(
        ledger
            .get("d-3")
            .await
            .expect("get")
            .failure_reason
            .as_deref(),
        Some("damaged")
    );

    let today = now().date_naive();
    let statement = ledger
        .statement(RIDER, today - Days::new(1), today + Days::new(1))
        .await
        .expect("statement");
    let lines: BTreeMap<&str, Option<&str>> = statement
        .lines
        .iter()
        .map(|l| (l.delivery_id.as_str(), l.failure_reason.as_deref()))
        .collect();
    assert_eq!(
        lines,
        BTreeMap::from([("d-1", Some("customer_unreachable")), ("d-2", None)]),
        "the voided delivery is not the rider's: {statement:?}"
    );
}

/// The ledger's half of the failure rules: the three reasons where the trip was made settle
/// with the reason, `damaged` voids, `other` waits registered until an operator settles or
/// voids it.
async fn every_failure_reason_moves_the_money_its_rule_says(ledger: Ledger) {
    let mut expected_rider = 0;
    let mut expected_voided = 0;
    let mut expected_commission = 0;
    let mut registered_total = 0;
    for (i, reason) in FailureReason::ALL.into_iter().enumerate() {
        let delivery = format!("d-{i}");
        let amount = 1_001 + 100 * i64::try_from(i).expect("small");
        registered_total += amount;
        ledger
            .register(&reg(&delivery, amount))
            .await
            .expect("register");
        let split = Split::of(amount, CommissionBps::DEFAULT);
        match reason.money() {
            FailureMoney::Settle => {
                let paid = ledger
                    .settle(&delivery, RIDER, Some(reason.as_str()))
                    .await
                    .expect("settle");
                assert_eq!(paid.status, PaymentStatus::Settled, "{reason}");
                assert_eq!(paid.failure_reason.as_deref(), Some(reason.as_str()));
                expected_rider += split.earning;
                expected_commission += split.commission;
            }
            FailureMoney::Void => {
                let voided = ledger
                    .void(&delivery, Some(reason.as_str()))
                    .await
                    .expect("void");
                assert_eq!(voided.status, PaymentStatus::Voided, "{reason}");
                assert_eq!(voided.failure_reason.as_deref(), Some(reason.as_str()));
                expected_voided += amount;
            }
            FailureMoney::Decide => {
                assert_eq!(
                    ledger.get(&delivery).await.expect("get").status,
                    PaymentStatus::Registered
                );
            }
        }
    }
    let still_held = registered_total - expected_rider - expected_commission - expected_voided;
    assert_eq!(
        totals(&ledger, "rider:k-1").await,
        (0, expected_rider),
        "the three trip-made reasons pay the rider"
    );
    assert_eq!(
        totals(&ledger, "agency:commission").await,
        (0, expected_commission)
    );
    assert_eq!(
        totals(&ledger, "restaurant:r-1").await,
        (registered_total, expected_voided),
        "damaged gives the fee back to the restaurant"
    );
    let (held_debits, held_credits) = totals(&ledger, "agency:held").await;
    assert_eq!(held_credits - held_debits, still_held, "`other` stays held");
    // An operator's decision on `other`, with the reason kept.
    let other = FailureReason::ALL
        .iter()
        .position(|r| r.money() == FailureMoney::Decide)
        .expect("a reason to decide");
    let decided = ledger
        .void(&format!("d-{other}"), Some("other"))
        .await
        .expect("void other");
    assert_eq!(decided.failure_reason.as_deref(), Some("other"));
    assert_eq!(
        totals(&ledger, "agency:held").await,
        (held_debits + still_held, held_credits),
        "nothing is held once `other` is decided"
    );
    assert_clean(&ledger).await;
}

// ---------------------------------------------------------------------------------------------
// Adjustments

async fn an_adjustment_books_once_and_its_id_reused_with_other_details_is_refused(ledger: Ledger) {
    let request = adjustment("adj-1", Holder::Rider, RIDER, 300);
    let booked = ledger.adjust(&request).await.expect("adjust");
    assert_eq!(
        (
            booked.id.as_str(),
            booked.holder,
            booked.account_id.as_str(),
            booked.amount
        ),
        ("adj-1", Holder::Rider, RIDER, 300)
    );
    let journal = ledger.journal().await.expect("journal");
    assert_eq!(ledger.adjust(&request).await.expect("repeat"), booked);
    assert_eq!(ledger.journal().await.expect("journal"), journal);
    for other in [
        AdjustmentRequest {
            amount: 301,
            ..request.clone()
        },
        AdjustmentRequest {
            amount: -300,
            ..request.clone()
        },
        AdjustmentRequest {
            account_id: "k-2".to_owned(),
            ..request.clone()
        },
        AdjustmentRequest {
            holder: Holder::Restaurant,
            ..request.clone()
        },
        AdjustmentRequest {
            reason: "another reason".to_owned(),
            ..request.clone()
        },
    ] {
        let refused = ledger.adjust(&other).await;
        assert!(
            matches!(refused, Err(LedgerError::FailedPrecondition(_))),
            "{other:?} gave {refused:?}"
        );
    }
    assert_eq!(ledger.journal().await.expect("journal"), journal);
    assert_eq!(totals(&ledger, "rider:k-1").await, (0, 300));
    assert_eq!(totals(&ledger, "rider:k-2").await, (0, 0));
    assert_clean(&ledger).await;
}

async fn adjustments_of_either_sign_move_rider_and_restaurant_balances_as_their_documents_show(
    ledger: Ledger,
) {
    register_and_settle(&ledger, "d-1", 1000, RIDER).await;
    let before_rider = owed(&ledger, RIDER).await;
    let (r_debits, r_credits) = totals(&ledger, "restaurant:r-1").await;
    let before_restaurant = r_debits - r_credits;

    // A rider paid more, then some taken back.
    ledger
        .adjust(&adjustment("a-1", Holder::Rider, RIDER, 250))
        .await
        .expect("rider +");
    assert_eq!(owed(&ledger, RIDER).await, before_rider + 250);
    ledger
        .adjust(&adjustment("a-2", Holder::Rider, RIDER, -100))
        .await
        .expect("rider -");
    assert_eq!(owed(&ledger, RIDER).await, before_rider + 150);
    // A restaurant billed more, then credited.
    ledger
        .adjust(&adjustment("a-3", Holder::Restaurant, "r-1", 70))
        .await
        .expect("restaurant +");
    let (d, c) = totals(&ledger, "restaurant:r-1").await;
    assert_eq!(d - c, before_restaurant + 70, "a restaurant owes more");
    ledger
        .adjust(&adjustment("a-4", Holder::Restaurant, "r-1", -500))
        .await
        .expect("restaurant -");
    let (d, c) = totals(&ledger, "restaurant:r-1").await;
    assert_eq!(
        d - c,
        before_restaurant + 70 - 500,
        "a restaurant owes less"
    );

    // The other side of all of them is the agency's adjustments account.
    assert_eq!(
        totals(&ledger, "agency:adjustments").await,
        (250 + 500, 100 + 70)
    );
    // A rider never seen before can be adjusted too.
    ledger
        .adjust(&adjustment("a-5", Holder::Rider, "k-9", -40))
        .await
        .expect("new rider");
    assert_eq!(owed(&ledger, "k-9").await, -40);

    let at = now();
    let rider_adjustments: Vec<i64> = ledger
        .adjustments_of(
            Holder::Rider,
            RIDER,
            at - Duration::hours(1),
            at + Duration::hours(1),
        )
        .await
        .expect("adjustments_of")
        .iter()
        .map(|a| a.amount)
        .collect();
    assert_eq!(rider_adjustments, [250, -100]);
    assert_clean(&ledger).await;
}

async fn malformed_adjustments_are_invalid_and_write_nothing(ledger: Ledger) {
    let good = adjustment("a-1", Holder::Rider, RIDER, 100);
    let bad = [
        AdjustmentRequest {
            amount: 0,
            ..good.clone()
        },
        AdjustmentRequest {
            amount: 10_000_001,
            ..good.clone()
        },
        AdjustmentRequest {
            amount: -10_000_001,
            ..good.clone()
        },
        AdjustmentRequest {
            id: String::new(),
            ..good.clone()
        },
        AdjustmentRequest {
            id: "has space".to_owned(),
            ..good.clone()
        },
        AdjustmentRequest {
            account_id: "k:1".to_owned(),
            ..good.clone()
        },
        AdjustmentRequest {
            reason: "   ".to_owned(),
            ..good.clone()
        },
        AdjustmentRequest {
            created_by: String::new(),
            ..good.clone()
        },
        AdjustmentRequest {
            delivery_id: Some(String::new()),
            ..good.clone()
        },
    ];
    for request in bad {
        let result = ledger.adjust(&request).await;
        assert!(
            matches!(result, Err(LedgerError::InvalidArgument(_))),
            "{request:?} gave {result:?}"
        );
    }
    assert_eq!(ledger.journal().await.expect("journal"), vec![]);
    assert_eq!(ledger.balances().await.expect("balances"), vec![]);
    // The largest either way is fine.
    for (id, amount) in [("max", 10_000_000), ("min", -10_000_000)] {
        ledger
            .adjust(&AdjustmentRequest {
                id: id.to_owned(),
                amount,
                ..good.clone()
            })
            .await
            .expect("largest adjustment");
    }
    assert_clean(&ledger).await;
}

// ---------------------------------------------------------------------------------------------
// Payouts

async fn a_payout_pays_exactly_what_was_earned_before_the_period_end_and_only_once(ledger: Ledger) {
    register_and_settle(&ledger, "d-1", 1000, RIDER).await;
    register_and_settle(&ledger, "d-2", 2000, RIDER).await;
    let end = cut().await;
    // Settled after the period's end: not this period's.
    register_and_settle(&ledger, "d-3", 4000, RIDER).await;
    let week = period("w1", end - Duration::days(7), end);

    let payout = ledger
        .pay_rider(RIDER, &week)
        .await
        .expect("pay")
        .expect("something is due");
    assert_eq!(payout.amount, earning(1000) + earning(2000));
    assert_eq!(
        (
            payout.payout_id.as_str(),
            payout.rider_id.as_str(),
            &payout.period
        ),
        ("payout:k-1:w1", RIDER, &week)
    );
    assert_eq!(owed(&ledger, RIDER).await, earning(4000));
    assert_eq!(totals(&ledger, "agency:payouts").await, (0, payout.amount));

    let journal = ledger.journal().await.expect("journal");
    let again = ledger
        .pay_rider(RIDER, &week)
        .await
        .expect("pay again")
        .expect("the same payout");
    assert!(same_payout(&again, &payout), "{again:?} is not {payout:?}");
    assert_eq!(
        ledger.journal().await.expect("journal"),
        journal,
        "no new movement"
    );
    assert_eq!(
        journal.iter().filter(|m| m.kind == "payout").count(),
        1,
        "{journal:?}"
    );
    assert_clean(&ledger).await;
}

async fn concurrent_payouts_for_one_rider_and_period_pay_once(ledger: Ledger) {
    for i in 0..5 {
        register_and_settle(&ledger, &format!("d-{i}"), 1000, RIDER).await;
    }
    let end = cut().await;
    let week = period("w1", end - Duration::days(7), end);
    let runs: Vec<_> = (0..8)
        .map(|_| {
            let (ledger, week) = (ledger.clone(), week.clone());
            tokio::spawn(async move { ledger.pay_rider(RIDER, &week).await })
        })
        .collect();
    let mut payouts = Vec::new();
    for run in runs {
        payouts.push(run.await.expect("task").expect("pay").expect("due"));
    }
    assert!(
        payouts.iter().all(|p| same_payout(p, &payouts[0])),
        "every run returns the one payout: {payouts:?}"
    );
    assert_eq!(payouts[0].amount, 5 * earning(1000));
    assert_eq!(owed(&ledger, RIDER).await, 0);
    let journal = ledger.journal().await.expect("journal");
    assert_eq!(journal.iter().filter(|m| m.kind == "payout").count(), 1);
    assert_clean(&ledger).await;
}

async fn a_payout_with_nothing_due_is_none_and_moves_nothing(ledger: Ledger) {
    let at = now();
    let week = period("w1", at - Duration::days(7), at + Duration::days(1));
    // A rider the ledger has never seen.
    assert_eq!(ledger.pay_rider("k-7", &week).await.expect("pay"), None);
    // A rider whose only delivery is registered, not settled.
    ledger.register(&reg("d-1", 1000)).await.expect("register");
    assert_eq!(ledger.pay_rider(RIDER, &week).await.expect("pay"), None);
    // A rider paid everything already.
    register_and_settle(&ledger, "d-2", 1000, RIDER).await;
    ledger
        .pay_rider(RIDER, &week)
        .await
        .expect("pay")
        .expect("due");
    let journal = ledger.journal().await.expect("journal");
    let next = period("w2", week.end, week.end + Duration::days(7));
    assert_eq!(ledger.pay_rider(RIDER, &next).await.expect("pay"), None);
    assert_eq!(ledger.journal().await.expect("journal"), journal);
    assert_eq!(
        ledger
            .payouts_of(RIDER, None, 10)
            .await
            .expect("payouts")
            .0
            .len(),
        1,
        "no payout of 0 is recorded"
    );
    // A period the ledger cannot take.
    for bad in [
        period("", at - Duration::days(1), at),
        period("w 3", at - Duration::days(1), at),
        period("w3", at, at),
        period("w3", at, at - Duration::days(1)),
    ] {
        assert!(
            matches!(
                ledger.pay_rider(RIDER, &bad).await,
                Err(LedgerError::InvalidArgument(_))
            ),
            "{bad:?}"
        );
    }
    assert_clean(&ledger).await;
}

async fn a_negative_adjustment_reduces_the_next_payout(ledger: Ledger) {
    register_and_settle(&ledger, "d-1", 1000, RIDER).await;
    register_and_settle(&ledger, "d-2", 2000, RIDER).await;
    ledger
        .adjust(&adjustment("claw-1", Holder::Rider, RIDER, -300))
        .await
        .expect("claw back");
    let end = cut().await;
    let payout = ledger
        .pay_rider(RIDER, &period("w1", end - Duration::days(7), end))
        .await
        .expect("pay")
        .expect("due");
    assert_eq!(payout.amount, earning(1000) + earning(2000) - 300);
    assert_eq!(owed(&ledger, RIDER).await, 0);

    // A claw-back booked after a period's end still comes off that payout (it takes from what
    // the account holds), and a bonus after the end waits for the next.
    register_and_settle(&ledger, "d-3", 1000, RIDER).await;
    let end2 = cut().await;
    ledger
        .adjust(&adjustment("claw-2", Holder::Rider, RIDER, -100))
        .await
        .expect("late claw back");
    ledger
        .adjust(&adjustment("bonus-1", Holder::Rider, RIDER, 50))
        .await
        .expect("late bonus");
    let second = ledger
        .pay_rider(RIDER, &period("w2", end, end2))
        .await
        .expect("pay")
        .expect("due");
    assert_eq!(second.amount, earning(1000) - 100);
    assert_eq!(owed(&ledger, RIDER).await, 50);
    assert_clean(&ledger).await;
}

async fn a_payout_never_pays_more_than_was_earned(ledger: Ledger) {
    register_and_settle(&ledger, "d-1", 1000, RIDER).await;
    ledger
        .adjust(&adjustment("claw-1", Holder::Rider, RIDER, -2000))
        .await
        .expect("claw back more than earned");
    let end = cut().await;
    assert_eq!(
        ledger
            .pay_rider(RIDER, &period("w1", end - Duration::days(7), end))
            .await
            .expect("pay"),
        None,
        "the rider owes the agency"
    );
    assert_eq!(owed(&ledger, RIDER).await, earning(1000) - 2000);
    // Later earnings first make up the debt; only the rest is paid.
    register_and_settle(&ledger, "d-2", 3000, RIDER).await;
    let end2 = cut().await;
    let payout = ledger
        .pay_rider(RIDER, &period("w2", end, end2))
        .await
        .expect("pay")
        .expect("due");
    assert_eq!(payout.amount, earning(1000) + earning(3000) - 2000);
    assert_eq!(owed(&ledger, RIDER).await, 0);
    let (debits, credits) = totals(&ledger, "rider:k-1").await;
    assert_eq!(debits, credits);
    let paid: i64 = ledger
        .payouts_of(RIDER, None, 10)
        .await
        .expect("payouts")
        .0
        .iter()
        .map(|p| p.amount)
        .sum();
    assert!(paid <= credits, "paid {paid} of {credits} credited");
    assert_clean(&ledger).await;
}

async fn a_settlement_after_the_period_end_waits_for_the_next_period(ledger: Ledger) {
    ledger.register(&reg("d-1", 1000)).await.expect("register");
    ledger.register(&reg("d-2", 3000)).await.expect("register");
    ledger.settle("d-1", RIDER, None).await.expect("settle");
    let end = cut().await;
    // d-2 settles after the period ended but before its payout runs.
    ledger.settle("d-2", RIDER, None).await.expect("settle");
    let first = period("p1", end - Duration::days(1), end);
    let second = period("p2", end, end + Duration::days(1));
    let paid_first = ledger
        .pay_rider(RIDER, &first)
        .await
        .expect("pay")
        .expect("due");
    assert_eq!(paid_first.amount, earning(1000));
    let paid_second = ledger
        .pay_rider(RIDER, &second)
        .await
        .expect("pay")
        .expect("due");
    assert_eq!(paid_second.amount, earning(3000));
    assert_eq!(owed(&ledger, RIDER).await, 0);
    assert_clean(&ledger).await;
}

async fn payouts_of_pages_newest_period_first_with_a_cursor(ledger: Ledger) {
    let base = now() - Duration::days(30);
    for i in 0..5 {
        register_and_settle(&ledger, &format!("d-{i}"), 1000 * (i + 1), RIDER).await;
        let end = cut().await;
        ledger
            .pay_rider(
                RIDER,
                &period(&format!("p{i}"), base + Duration::days(i), end),
            )
            .await
            .expect("pay")
            .expect("due");
    }
    // Another rider's payout is not on this rider's pages.
    register_and_settle(&ledger, "x-1", 1000, "k-2").await;
    ledger
        .pay_rider("k-2", &period("p4", base, cut().await))
        .await
        .expect("pay")
        .expect("due");

    let mut labels = Vec::new();
    let mut amounts = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let (page, next) = ledger
            .payouts_of(RIDER, cursor.as_deref(), 2)
            .await
            .expect("page");
        pages += 1;
        assert!(page.len() <= 2);
        labels.extend(page.iter().map(|p| p.period.label.clone()));
        amounts.extend(page.iter().map(|p| p.amount));
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
        assert!(pages < 10, "paging does not end");
    }
    assert_eq!(pages, 3);
    assert_eq!(labels, ["p4", "p3", "p2", "p1", "p0"]);
    assert_eq!(
        amounts,
        (0..5)
            .rev()
            .map(|i| earning(1000 * (i + 1)))
            .collect::<Vec<_>>()
    );
    let (all, next) = ledger.payouts_of(RIDER, None, 50).await.expect("one page");
    assert_eq!((all.len(), next), (5, None));
    assert!(matches!(
        ledger.payouts_of(RIDER, Some("not a time"), 2).await,
        Err(LedgerError::InvalidArgument(_))
    ));
}

async fn riders_with_balance_lists_the_riders_owed_something(ledger: Ledger) {
    assert_eq!(
        ledger.riders_with_balance().await.expect("riders"),
        Vec::<String>::new()
    );
    register_and_settle(&ledger, "d-1", 1000, RIDER).await;
    register_and_settle(&ledger, "d-2", 1000, "k-2").await;
    ledger
        .adjust(&adjustment("claw", Holder::Rider, "k-3", -10))
        .await
        .expect("a rider in debt");
    assert_eq!(
        ledger.riders_with_balance().await.expect("riders"),
        ["k-1", "k-2"]
    );
    let end = cut().await;
    ledger
        .pay_rider(RIDER, &period("w1", end - Duration::days(1), end))
        .await
        .expect("pay")
        .expect("due");
    assert_eq!(ledger.riders_with_balance().await.expect("riders"), ["k-2"]);
}

// ---------------------------------------------------------------------------------------------
// Statements

async fn a_statement_sums_lines_adjustments_and_payouts_of_its_days(ledger: Ledger) {
    let started = now();
    ledger.register(&reg("d-1", 1000)).await.expect("register");
    ledger
        .register(&reg_at("d-2", "r-2", 555, 1500))
        .await
        .expect("register");
    ledger.register(&reg("d-3", 700)).await.expect("register");
    ledger.register(&reg("d-4", 800)).await.expect("register");
    ledger.settle("d-1", RIDER, None).await.expect("settle");
    ledger
        .settle("d-2", RIDER, Some("customer_refused"))
        .await
        .expect("settle");
    ledger
        .settle("d-3", "k-2", None)
        .await
        .expect("other rider");
    ledger
        .adjust(&adjustment("bonus", Holder::Rider, RIDER, 200))
        .await
        .expect("bonus");
    ledger
        .adjust(&adjustment("claw", Holder::Rider, RIDER, -50))
        .await
        .expect("claw");
    ledger
        .adjust(&adjustment("other", Holder::Rider, "k-2", 999))
        .await
        .expect("another rider's");
    let end = cut().await;
    let paid = ledger
        .pay_rider(RIDER, &period("p1", started - Duration::hours(1), end))
        .await
        .expect("pay")
        .expect("due");
    let d2 = Split::of(555, rate(1500));
    assert_eq!(paid.amount, earning(1000) + d2.earning + 200 - 50);
    ledger.settle("d-4", RIDER, None).await.expect("settle");

    let today = now().date_naive();
    let statement = ledger
        .statement(RIDER, today - Days::new(1), today + Days::new(1))
        .await
        .expect("statement");
    assert_eq!(statement.rider_id, RIDER);
    let lines: Vec<(&str, i64, i64, i64)> = statement
        .lines
        .iter()
        .map(|l| (l.delivery_id.as_str(), l.cost, l.commission, l.earning))
        .collect();
    assert_eq!(
        lines,
        [
            ("d-1", 1000, 100, 900),
            ("d-2", 555, d2.commission, d2.earning),
            ("d-4", 800, 80, 720),
        ]
    );
    assert!(
        statement.lines.iter().all(|l| l.completed_at >= started),
        "{statement:?}"
    );
    let adjustments: Vec<(&str, i64)> = statement
        .adjustments
        .iter()
        .map(|a| (a.id.as_str(), a.amount))
        .collect();
    assert_eq!(adjustments, [("bonus", 200), ("claw", -50)]);
    let total = 900 + d2.earning + 720 + 200 - 50;
    assert_eq!(statement.total, total);
    assert_eq!(statement.paid_out, paid.amount);
    assert_eq!(statement.balance, total - paid.amount);
    assert_eq!(
        statement.balance,
        owed(&ledger, RIDER).await,
        "what is left is what the book owes"
    );
}

async fn a_statement_of_a_quiet_range_is_empty_and_a_bad_range_is_invalid(ledger: Ledger) {
    let before = now().date_naive();
    register_and_settle(&ledger, "d-1", 1000, RIDER).await;
    let today = now().date_naive();
    let later = ledger
        .statement(RIDER, today + Days::new(2), today + Days::new(3))
        .await
        .expect("statement");
    assert_eq!(
        (
            later.lines.len(),
            later.adjustments.len(),
            later.total,
            later.paid_out,
            later.balance
        ),
        (0, 0, 0, 0, 0)
    );
    // The last day is included.
    register_and_settle(&ledger, "d-2", 2000, RIDER).await;
    let after = now().date_naive();
    if before == after {
        let day = ledger
            .statement(RIDER, after, after)
            .await
            .expect("statement");
        assert_eq!(
            day.lines
                .iter()
                .map(|l| l.delivery_id.as_str())
                .collect::<Vec<_>>(),
            ["d-1", "d-2"]
        );
        let yesterday = ledger
            .statement(RIDER, after - Days::new(1), after - Days::new(1))
            .await
            .expect("statement");
        assert!(yesterday.lines.is_empty(), "{yesterday:?}");
    }
    let nobody = ledger
        .statement("k-5", today, today)
        .await
        .expect("statement");
    assert!(nobody.lines.is_empty() && nobody.total == 0);
    for (from, to) in [
        (today, today - Days::new(1)),
        (today - Days::new(366), today),
    ] {
        assert!(
            matches!(
                ledger.statement(RIDER, from, to).await,
                Err(LedgerError::InvalidArgument(_))
            ),
            "{from}..={to}"
        );
    }
    assert!(matches!(
        ledger.statement("k:1", today, today).await,
        Err(LedgerError::InvalidArgument(_))
    ));
    // 366 days, both included, is the longest range.
    ledger
        .statement(RIDER, today - Days::new(365), today)
        .await
        .expect("a year");
}

// ---------------------------------------------------------------------------------------------
// Invoices

async fn invoices_are_numbered_per_restaurant_without_gaps_one_per_period(ledger: Ledger) {
    let start = now() - Duration::days(1);
    register_and_settle(&ledger, "d-1", 1000, RIDER).await;
    let t1 = cut().await;
    let p1 = period("p1", start, t1);
    let first = ledger
        .issue_invoice("r-1", &p1)
        .await
        .expect("issue")
        .expect("something to bill");
    assert_eq!(first.number, "r-1-1");
    assert_eq!((first.restaurant_id.as_str(), &first.period), ("r-1", &p1));
    assert_eq!(first.total, 1000);
    let journal = ledger.journal().await.expect("journal");
    assert_eq!(
        ledger
            .issue_invoice("r-1", &p1)
            .await
            .expect("repeat")
            .expect("the same invoice"),
        first,
        "one invoice per period"
    );

    register_and_settle(&ledger, "d-2", 2000, RIDER).await;
    let t2 = cut().await;
    let second = ledger
        .issue_invoice("r-1", &period("p2", t1, t2))
        .await
        .expect("issue")
        .expect("due");
    assert_eq!((second.number.as_str(), second.total), ("r-1-2", 2000));

    // Nothing to bill takes no number.
    let t3 = cut().await;
    assert_eq!(
        ledger
            .issue_invoice("r-1", &period("p3", t2, t3))
            .await
            .expect("issue"),
        None
    );
    register_and_settle(&ledger, "d-3", 3000, RIDER).await;
    let t4 = cut().await;
    let third = ledger
        .issue_invoice("r-1", &period("p4", t3, t4))
        .await
        .expect("issue")
        .expect("due");
    assert_eq!(third.number, "r-1-3");

    // Another restaurant counts from 1.
    ledger
        .register(&reg_at("e-1", "r-2", 500, 1000))
        .await
        .expect("register");
    ledger.settle("e-1", RIDER, None).await.expect("settle");
    let other = ledger
        .issue_invoice("r-2", &period("p4", t3, cut().await))
        .await
        .expect("issue")
        .expect("due");
    assert_eq!((other.number.as_str(), other.total), ("r-2-1", 500));
    // An unknown restaurant has nothing to bill.
    assert_eq!(ledger.issue_invoice("r-9", &p1).await.expect("issue"), None);
    // Invoices move no money.
    assert_eq!(
        ledger.journal().await.expect("journal").len(),
        journal.len() + 6
    );
    assert_clean(&ledger).await;
}

async fn an_invoice_bills_settlements_only_not_voided_or_open_payments(ledger: Ledger) {
    let start = now() - Duration::days(1);
    for (d, amount) in [("d-1", 1000), ("d-2", 2000), ("d-3", 4000)] {
        ledger.register(&reg(d, amount)).await.expect("register");
    }
    ledger
        .settle("d-1", RIDER, Some("address_not_found"))
        .await
        .expect("settle");
    ledger.void("d-2", Some("damaged")).await.expect("void");
    let end = cut().await;
    let invoice = ledger
        .issue_invoice("r-1", &period("p1", start, end))
        .await
        .expect("issue")
        .expect("due");
    let lines: Vec<(&str, i64)> = invoice
        .lines
        .iter()
        .map(|l| (l.delivery_id.as_str(), l.cost))
        .collect();
    assert_eq!(lines, [("d-1", 1000)]);
    assert_eq!(invoice.total, 1000);
    assert!(invoice.adjustments.is_empty());
    // The open one is billed once it settles.
    ledger.settle("d-3", RIDER, None).await.expect("settle");
    let end2 = cut().await;
    let next = ledger
        .issue_invoice("r-1", &period("p2", end, end2))
        .await
        .expect("issue")
        .expect("due");
    assert_eq!(
        next.lines
            .iter()
            .map(|l| (l.delivery_id.as_str(), l.cost))
            .collect::<Vec<_>>(),
        [("d-3", 4000)]
    );
    assert_clean(&ledger).await;
}

async fn a_late_settlement_lands_on_the_next_invoice(ledger: Ledger) {
    let start = now() - Duration::days(1);
    ledger.register(&reg("d-1", 1000)).await.expect("register");
    ledger.register(&reg("d-2", 2000)).await.expect("register");
    ledger.settle("d-1", RIDER, None).await.expect("settle");
    let end = cut().await;
    // Settled after the period's end, before its invoice is issued.
    ledger.settle("d-2", RIDER, None).await.expect("settle");
    let first = ledger
        .issue_invoice("r-1", &period("p1", start, end))
        .await
        .expect("issue")
        .expect("due");
    assert_eq!(
        first
            .lines
            .iter()
            .map(|l| l.delivery_id.as_str())
            .collect::<Vec<_>>(),
        ["d-1"]
    );
    let second = ledger
        .issue_invoice("r-1", &period("p2", end, end + Duration::days(1)))
        .await
        .expect("issue")
        .expect("due");
    assert_eq!(
        second
            .lines
            .iter()
            .map(|l| (l.delivery_id.as_str(), l.cost))
            .collect::<Vec<_>>(),
        [("d-2", 2000)]
    );
    assert!(second.lines[0].completed_at >= end);
    assert_clean(&ledger).await;
}

async fn an_adjustment_appears_on_exactly_one_invoice(ledger: Ledger) {
    let start = now() - Duration::days(1);
    register_and_settle(&ledger, "d-1", 1000, RIDER).await;
    ledger
        .adjust(&AdjustmentRequest {
            delivery_id: Some("d-1".to_owned()),
            ..adjustment("extra-1", Holder::Restaurant, "r-1", 300)
        })
        .await
        .expect("bill more");
    ledger
        .adjust(&adjustment("credit-1", Holder::Restaurant, "r-1", -100))
        .await
        .expect("credit");
    // A rider's adjustment is not the restaurant's to pay.
    ledger
        .adjust(&adjustment("rider-1", Holder::Rider, RIDER, 77))
        .await
        .expect("rider");
    // Another restaurant's is not on this invoice.
    ledger
        .adjust(&adjustment("other-1", Holder::Restaurant, "r-2", 55))
        .await
        .expect("other restaurant");
    let end = cut().await;
    let first = ledger
        .issue_invoice("r-1", &period("p1", start, end))
        .await
        .expect("issue")
        .expect("due");
    let adjustments: BTreeMap<&str, (i64, &str)> = first
        .adjustments
        .iter()
        .map(|a| (a.id.as_str(), (a.amount, a.reason.as_str())))
        .collect();
    assert_eq!(
        adjustments,
        BTreeMap::from([
            ("credit-1", (-100, "correction credit-1")),
            ("extra-1", (300, "correction extra-1")),
        ])
    );
    assert_eq!(
        first
            .lines
            .iter()
            .map(|l| l.delivery_id.as_str())
            .collect::<Vec<_>>(),
        ["d-1"],
        "an adjustment naming a delivery is not a line of its own"
    );
    assert_eq!(first.total, 1000 + 300 - 100);

    // A later adjustment goes on the next invoice; the first ones do not come back.
    ledger
        .adjust(&adjustment("extra-2", Holder::Restaurant, "r-1", 40))
        .await
        .expect("bill more");
    let end2 = cut().await;
    let second = ledger
        .issue_invoice("r-1", &period("p2", end, end2))
        .await
        .expect("issue")
        .expect("due");
    assert_eq!(
        second
            .adjustments
            .iter()
            .map(|a| (a.id.as_str(), a.amount))
            .collect::<Vec<_>>(),
        [("extra-2", 40)]
    );
    assert!(second.lines.is_empty());
    assert_eq!(second.total, 40);
    let other = ledger
        .issue_invoice("r-2", &period("p1", start, end))
        .await
        .expect("issue")
        .expect("due");
    assert_eq!(
        (
            other.number.as_str(),
            other.total,
            other.adjustments.len(),
            other.lines.len()
        ),
        ("r-2-1", 55, 1, 0)
    );
    assert_clean(&ledger).await;
}

async fn invoices_of_pages_newest_first_and_invoice_returns_the_lines(ledger: Ledger) {
    let mut start = now() - Duration::days(1);
    for i in 1..=3 {
        register_and_settle(&ledger, &format!("d-{i}"), 100 * i, RIDER).await;
        let end = cut().await;
        ledger
            .issue_invoice("r-1", &period(&format!("p{i}"), start, end))
            .await
            .expect("issue")
            .expect("due");
        start = end;
    }
    let (page, next) = ledger.invoices_of("r-1", None, 2).await.expect("page 1");
    assert_eq!(
        page.iter().map(|i| i.number.as_str()).collect::<Vec<_>>(),
        ["r-1-3", "r-1-2"]
    );
    assert!(
        page.iter().all(|i| i.lines.is_empty()),
        "pages list headers"
    );
    assert_eq!(page.iter().map(|i| i.total).collect::<Vec<_>>(), [300, 200]);
    let next = next.expect("a second page");
    let (page2, last) = ledger
        .invoices_of("r-1", Some(&next), 2)
        .await
        .expect("page 2");
    assert_eq!(
        page2.iter().map(|i| i.number.as_str()).collect::<Vec<_>>(),
        ["r-1-1"]
    );
    assert_eq!(last, None);
    assert!(
        ledger
            .invoices_of("r-2", None, 2)
            .await
            .expect("none")
            .0
            .is_empty()
    );
    assert!(matches!(
        ledger.invoices_of("r-1", Some("x"), 2).await,
        Err(LedgerError::InvalidArgument(_))
    ));

    let second = ledger.invoice("r-1-2").await.expect("invoice");
    assert_eq!(second.period.label, "p2");
    assert_eq!(
        second
            .lines
            .iter()
            .map(|l| (l.delivery_id.as_str(), l.cost))
            .collect::<Vec<_>>(),
        [("d-2", 200)]
    );
    assert_eq!(second.total, 200);
    assert!(matches!(
        ledger.invoice("r-1-9").await,
        Err(LedgerError::NotFound(_))
    ));
}

async fn concurrent_invoices_bill_each_settlement_once_with_gapless_numbers(ledger: Ledger) {
    let mut start = now() - Duration::days(1);
    let mut periods = Vec::new();
    for i in 1..=4 {
        register_and_settle(&ledger, &format!("d-{i}"), 1000 * i, RIDER).await;
        let end = cut().await;
        periods.push(period(&format!("p{i}"), start, end));
        start = end;
    }
    let runs: Vec<_> = periods
        .iter()
        .flat_map(|p| [p.clone(), p.clone()])
        .map(|p| {
            let ledger = ledger.clone();
            tokio::spawn(async move { ledger.issue_invoice("r-1", &p).await })
        })
        .collect();
    for run in runs {
        run.await.expect("task").expect("issue");
    }
    let (invoices, _) = ledger.invoices_of("r-1", None, 50).await.expect("list");
    let mut numbers: Vec<String> = invoices.iter().map(|i| i.number.clone()).collect();
    numbers.sort();
    let expected: Vec<String> = (1..=invoices.len()).map(|n| format!("r-1-{n}")).collect();
    assert_eq!(numbers, expected, "numbered without gaps");
    let mut billed = Vec::new();
    let mut total = 0;
    for header in &invoices {
        let invoice = ledger.invoice(&header.number).await.expect("invoice");
        billed.extend(invoice.lines.iter().map(|l| l.delivery_id.clone()));
        total += invoice.total;
    }
    billed.sort();
    assert_eq!(billed, ["d-1", "d-2", "d-3", "d-4"], "each billed once");
    assert_eq!(total, 10_000);
    assert_clean(&ledger).await;
}

async fn restaurants_to_invoice_lists_those_with_something_unbilled_before_a_time(ledger: Ledger) {
    let start = now() - Duration::days(1);
    ledger
        .register(&reg_at("d-1", "r-1", 1000, 1000))
        .await
        .expect("register");
    ledger
        .register(&reg_at("d-2", "r-2", 1000, 1000))
        .await
        .expect("register");
    ledger
        .register(&reg_at("d-3", "r-3", 1000, 1000))
        .await
        .expect("register");
    ledger.settle("d-1", RIDER, None).await.expect("settle");
    ledger
        .adjust(&adjustment("a-1", Holder::Restaurant, "r-4", 10))
        .await
        .expect("adjust");
    let end = cut().await;
    ledger
        .settle("d-2", RIDER, None)
        .await
        .expect("settle late");
    // r-3's fee is open: nothing to bill yet.
    assert_eq!(
        ledger.restaurants_to_invoice(end).await.expect("list"),
        ["r-1", "r-4"]
    );
    let later = cut().await;
    assert_eq!(
        ledger.restaurants_to_invoice(later).await.expect("list"),
        ["r-1", "r-2", "r-4"]
    );
    ledger
        .issue_invoice("r-1", &period("p1", start, end))
        .await
        .expect("issue")
        .expect("due");
    assert_eq!(
        ledger.restaurants_to_invoice(later).await.expect("list"),
        ["r-2", "r-4"],
        "an invoiced restaurant has nothing left"
    );
}

// ---------------------------------------------------------------------------------------------
// Audit

async fn the_audit_is_clean_after_every_kind_of_movement(ledger: Ledger) {
    let start = now() - Duration::days(1);
    for i in 0..6 {
        ledger
            .register(&reg_at(
                &format!("d-{i}"),
                if i % 2 == 0 { "r-1" } else { "r-2" },
                1_001 + 333 * i,
                [0, 1000, 10_000, 1500][usize::try_from(i % 4).expect("small")],
            ))
            .await
            .expect("register");
    }
    ledger.settle("d-0", RIDER, None).await.expect("settle");
    ledger
        .settle("d-1", "k-2", Some("customer_unreachable"))
        .await
        .expect("settle");
    ledger.settle("d-2", RIDER, None).await.expect("settle");
    ledger.void("d-3", Some("damaged")).await.expect("void");
    ledger.void("d-4", None).await.expect("void");
    // d-5 stays registered.
    for (id, holder, account, amount) in [
        ("a-1", Holder::Rider, RIDER, 120),
        ("a-2", Holder::Rider, "k-2", -90),
        ("a-3", Holder::Restaurant, "r-1", 60),
        ("a-4", Holder::Restaurant, "r-2", -30),
    ] {
        ledger
            .adjust(&adjustment(id, holder, account, amount))
            .await
            .expect("adjust");
    }
    let end = cut().await;
    let p1 = period("p1", start, end);
    for rider in [RIDER, "k-2"] {
        ledger.pay_rider(rider, &p1).await.expect("pay");
    }
    for restaurant in ["r-1", "r-2"] {
        ledger
            .issue_invoice(restaurant, &p1)
            .await
            .expect("invoice");
    }
    let since = now();
    ledger
        .settle("d-5", RIDER, None)
        .await
        .expect("settle late");
    let p2 = period("p2", end, cut().await);
    ledger.pay_rider(RIDER, &p2).await.expect("pay");
    ledger.issue_invoice("r-2", &p2).await.expect("invoice");

    assert_clean(&ledger).await;
    assert_eq!(ledger.audit(Some(since)).await.expect("audit"), vec![]);
    let balances = ledger.balances().await.expect("balances");
    assert_eq!(
        balances.iter().map(|b| b.debits).sum::<i64>(),
        balances.iter().map(|b| b.credits).sum::<i64>()
    );
}

/// Connects to a freshly migrated ledger at `url`, and separately to the same database for
/// writing by hand.
async fn ledger_and_raw(url: &str) -> (Ledger, sea_orm::DatabaseConnection) {
    Ledger::migrate(url).await.expect("migrate");
    let ledger = Ledger::connect(url).await.expect("connect");
    let raw = Database::connect(url).await.expect("raw connection");
    (ledger, raw)
}

async fn execute(raw: &sea_orm::DatabaseConnection, sql: &str) {
    raw.execute_unprepared(sql).await.expect(sql);
}

async fn the_audit_finds_an_extra_held_entry_on_a_settlement_whose_totals_were_kept(url: String) {
    let (ledger, raw) = ledger_and_raw(&url).await;
    ledger.register(&reg("d-1", 500)).await.expect("register");
    // Another fee still held, so the held account can give out 100 more.
    ledger.register(&reg("d-2", 1000)).await.expect("register");
    ledger.settle("d-1", RIDER, None).await.expect("settle");
    assert_clean(&ledger).await;
    let since = cut().await;

    execute(
        &raw,
        "INSERT INTO ledger_entries (movement_id, debit_account, credit_account, amount) \
         VALUES ('settle:d-1', 'agency:held', 'rider:k-1', 100)",
    )
    .await;
    execute(
        &raw,
        "UPDATE ledger_accounts SET debits = debits + 100 WHERE id = 'agency:held'",
    )
    .await;
    execute(
        &raw,
        "UPDATE ledger_accounts SET credits = credits + 100 WHERE id = 'rider:k-1'",
    )
    .await;

    let findings = ledger.audit(None).await.expect("audit");
    assert!(
        !findings.iter().any(|f| f.problem.contains("totals say")),
        "the totals were kept: {findings:?}"
    );
    assert_eq!(
        subjects(&findings),
        BTreeSet::from(["agency:held", "settle:d-1"]),
        "{findings:?}"
    );
    let settle = findings
        .iter()
        .find(|f| f.subject == "settle:d-1")
        .expect("the settlement's finding");
    assert!(
        settle.problem.contains("100") && settle.problem.contains("rider:k-1"),
        "{settle:?}"
    );
    // The held account is a sum over everything, audited whatever `since` says; the document
    // check covers only movements booked since.
    let recent = ledger.audit(Some(since)).await.expect("audit");
    assert_eq!(
        subjects(&recent),
        BTreeSet::from(["agency:held"]),
        "{recent:?}"
    );
}

async fn the_audit_finds_a_settlement_booking_more_than_its_payment_when_only_the_document_disagrees(
    url: String,
) {
    let (ledger, raw) = ledger_and_raw(&url).await;
    register_and_settle(&ledger, "d-1", 500, RIDER).await;
    assert_clean(&ledger).await;
    // Commission handed to the rider inside the settlement, every total kept in step: the book
    // balances, the held account holds what it should; only the payment says otherwise.
    execute(
        &raw,
        "INSERT INTO ledger_entries (movement_id, debit_account, credit_account, amount) \
         VALUES ('settle:d-1', 'agency:commission', 'rider:k-1', 20)",
    )
    .await;
    execute(
        &raw,
        "UPDATE ledger_accounts SET debits = debits + 20 WHERE id = 'agency:commission'",
    )
    .await;
    execute(
        &raw,
        "UPDATE ledger_accounts SET credits = credits + 20 WHERE id = 'rider:k-1'",
    )
    .await;
    let findings = ledger.audit(None).await.expect("audit");
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0].subject, "settle:d-1");
    assert!(
        findings[0]
            .problem
            .contains("agency:commission → rider:k-1 20"),
        "{findings:?}"
    );
}

async fn the_audit_finds_an_entry_written_without_its_account_totals(url: String) {
    let (ledger, raw) = ledger_and_raw(&url).await;
    register_and_settle(&ledger, "d-1", 500, RIDER).await;
    ledger.register(&reg("d-2", 800)).await.expect("register");
    assert_clean(&ledger).await;
    execute(
        &raw,
        "INSERT INTO ledger_entries (movement_id, debit_account, credit_account, amount) \
         VALUES ('register:d-2', 'restaurant:r-1', 'rider:k-1', 50)",
    )
    .await;
    let findings = ledger.audit(None).await.expect("audit");
    let totals_off: BTreeSet<&str> = findings
        .iter()
        .filter(|f| f.problem.contains("totals say"))
        .map(|f| f.subject.as_str())
        .collect();
    assert_eq!(
        totals_off,
        BTreeSet::from(["restaurant:r-1", "rider:k-1"]),
        "{findings:?}"
    );
    let restaurant = findings
        .iter()
        .find(|f| f.subject == "restaurant:r-1")
        .expect("restaurant finding");
    assert!(
        restaurant.problem.contains("1300") && restaurant.problem.contains("1350"),
        "{restaurant:?}"
    );
    assert!(
        findings.iter().any(|f| f.subject == "register:d-2"),
        "the registration books more than its payment: {findings:?}"
    );
}

async fn the_audit_finds_a_payment_closed_without_its_movement(url: String) {
    let (ledger, raw) = ledger_and_raw(&url).await;
    ledger.register(&reg("d-1", 500)).await.expect("register");
    assert_clean(&ledger).await;
    execute(
        &raw,
        "UPDATE payments SET status = 'Settled', rider_id = 'k-1', settled_at = registered_at \
         WHERE delivery_id = 'd-1'",
    )
    .await;
    let findings = ledger.audit(None).await.expect("audit");
    assert_eq!(
        subjects(&findings),
        BTreeSet::from(["agency:held", "settle:d-1"]),
        "{findings:?}"
    );
    assert!(
        findings
            .iter()
            .any(|f| f.subject == "settle:d-1" && f.problem.contains("nothing was booked")),
        "{findings:?}"
    );
}

/// A schedule changed from daily to monthly pays a rider for `2026-11-01` and for `2026-11`:
/// two periods that start at the same moment. Paging must list both.
async fn payouts_of_lists_every_payout_when_two_periods_start_together(ledger: Ledger) {
    let start = now() - Duration::days(1);
    register_and_settle(&ledger, "d-1", 1000, RIDER).await;
    let day = period("day", start, cut().await);
    ledger
        .pay_rider(RIDER, &day)
        .await
        .expect("pay")
        .expect("due");
    register_and_settle(&ledger, "d-2", 2000, RIDER).await;
    let month = period("month", start, cut().await);
    ledger
        .pay_rider(RIDER, &month)
        .await
        .expect("pay")
        .expect("due");
    let (all, _) = ledger.payouts_of(RIDER, None, 10).await.expect("one page");
    assert_eq!(all.len(), 2, "{all:?}");

    let mut labels = BTreeSet::new();
    let mut cursor: Option<String> = None;
    for _ in 0..5 {
        let (page, next) = ledger
            .payouts_of(RIDER, cursor.as_deref(), 1)
            .await
            .expect("page");
        labels.extend(page.into_iter().map(|p| p.period.label));
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(
        labels,
        BTreeSet::from(["day".to_owned(), "month".to_owned()])
    );
}

/// An idempotent call answers the same each time: the payout made now is the payout read back
/// by a repeat and by `payouts_of`, to the last digit of `paid_at`.
async fn a_repeated_payout_answers_exactly_what_the_first_call_answered(ledger: Ledger) {
    register_and_settle(&ledger, "d-1", 1000, RIDER).await;
    let end = cut().await;
    let week = period("w1", end - Duration::days(7), end);
    let first = ledger
        .pay_rider(RIDER, &week)
        .await
        .expect("pay")
        .expect("due");
    let again = ledger
        .pay_rider(RIDER, &week)
        .await
        .expect("pay again")
        .expect("the same payout");
    assert_eq!(again, first);
    let (listed, _) = ledger.payouts_of(RIDER, None, 10).await.expect("list");
    assert_eq!(listed, [first]);
}

/// `AlreadyClosed` means "that delivery is over, nothing moved". A registration racing the
/// delivery's own settlement (which waits for the payment to exist) is the call that booked the
/// fee, so it must not answer that; today it can, when the settlement lands between its commit
/// and its read-back.
async fn a_registration_that_booked_the_fee_never_answers_already_closed(ledger: Ledger) {
    let mut misreported = Vec::new();
    for i in 0..200 {
        let delivery = format!("d-{i}");
        let register = tokio::spawn({
            let (ledger, delivery) = (ledger.clone(), delivery.clone());
            async move { ledger.register(&reg(&delivery, 500)).await }
        });
        let settle = tokio::spawn({
            let (ledger, delivery) = (ledger.clone(), delivery.clone());
            async move {
                loop {
                    match ledger.settle(&delivery, RIDER, None).await {
                        Err(LedgerError::NotFound(_)) => tokio::task::yield_now().await,
                        other => return other,
                    }
                }
            }
        });
        let registered = register.await.expect("register task");
        settle.await.expect("settle task").expect("settle");
        if let Err(error) = registered {
            misreported.push(format!("{delivery}: {error}"));
        }
    }
    assert_eq!(
        misreported,
        Vec::<String>::new(),
        "each of these registrations booked its fee (nobody else registered it)"
    );
    assert_clean(&ledger).await;
}
