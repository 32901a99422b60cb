//! The ledger's invariants under random work: interleavings of registrations, settlements,
//! voids, adjustments, payouts and invoices over a few deliveries, riders, restaurants and
//! periods, some repeated and some run at once. After each case the book must audit clean,
//! balance, close each delivery at most once, never pay a rider more than it was credited, hold
//! exactly the open fees, and agree with a model of the operations that succeeded.
//!
//! SQLite runs by default (a fresh file per case); PostgreSQL (a fresh database per case) is
//! ignored unless asked for with `TEST_DATABASE_URL` and `--include-ignored`. `PROPTEST_CASES`
//! raises the number of cases of either.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, SubsecRound, Utc};
use domain::{CommissionBps, Period, Split};
use payment::ledger::adjustments::{Adjustment, AdjustmentRequest, Holder};
use payment::ledger::invoices::Invoice;
use payment::ledger::payouts::Payout;
use payment::{Ledger, LedgerError, Payment, PaymentStatus, Registration};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};

mod common;

const DELIVERIES: usize = 6;
const RIDERS: usize = 2;
const RESTAURANTS: usize = 2;
const ADJUSTMENTS: usize = 4;
/// Periods of a case: one ended before it started, one ending while it runs, one after.
const PERIODS: usize = 3;
const SETTLE_REASONS: [Option<&str>; 5] = [
    None,
    Some("customer_unreachable"),
    Some("address_not_found"),
    Some("customer_refused"),
    Some("other"),
];
const VOID_REASONS: [Option<&str>; 3] = [None, Some("damaged"), Some("other")];

/// A delivery's fee, as every registration of it asks (but a conflicting one, which asks 1 more).
#[derive(Clone, Debug)]
struct Fee {
    restaurant: usize,
    amount: i64,
    bps: i64,
}

/// An adjustment, as every booking of its id asks (but a conflicting one, which asks 1 more).
#[derive(Clone, Debug)]
struct Correction {
    rider: bool,
    account: usize,
    amount: i64,
}

#[derive(Clone, Debug)]
enum Op {
    Register {
        delivery: usize,
        conflicting: bool,
    },
    Settle {
        delivery: usize,
        rider: usize,
        reason: usize,
    },
    Void {
        delivery: usize,
        reason: usize,
    },
    Adjust {
        id: usize,
        conflicting: bool,
    },
    Pay {
        rider: usize,
        period: usize,
    },
    Invoice {
        restaurant: usize,
        period: usize,
    },
}

/// One case: the fees and adjustments it draws on, and its steps, each a few operations run at
/// once.
#[derive(Clone, Debug)]
struct Case {
    fees: Vec<Fee>,
    corrections: Vec<Correction>,
    steps: Vec<Vec<Op>>,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..DELIVERIES, prop::bool::weighted(0.1))
            .prop_map(|(delivery, conflicting)| Op::Register { delivery, conflicting }),
        4 => (0..DELIVERIES, 0..RIDERS, 0..SETTLE_REASONS.len())
            .prop_map(|(delivery, rider, reason)| Op::Settle { delivery, rider, reason }),
        2 => (0..DELIVERIES, 0..VOID_REASONS.len())
            .prop_map(|(delivery, reason)| Op::Void { delivery, reason }),
        2 => (0..ADJUSTMENTS, prop::bool::weighted(0.15))
            .prop_map(|(id, conflicting)| Op::Adjust { id, conflicting }),
        3 => (0..RIDERS, 0..PERIODS).prop_map(|(rider, period)| Op::Pay { rider, period }),
        2 => (0..RESTAURANTS, 0..PERIODS)
            .prop_map(|(restaurant, period)| Op::Invoice { restaurant, period }),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    let fee = (
        0..RESTAURANTS,
        1..=100_000i64,
        prop_oneof![
            Just(0i64),
            Just(1),
            Just(1_000),
            Just(1_500),
            Just(10_000),
            0..=10_000i64
        ],
    )
        .prop_map(|(restaurant, amount, bps)| Fee {
            restaurant,
            amount,
            bps,
        });
    let correction = (
        any::<bool>(),
        0..RIDERS.max(RESTAURANTS),
        prop_oneof![-5_000..=-1i64, 1..=5_000i64],
    )
        .prop_map(|(rider, account, amount)| Correction {
            rider,
            account,
            amount,
        });
    (
        prop::collection::vec(fee, DELIVERIES),
        prop::collection::vec(correction, ADJUSTMENTS),
        prop::collection::vec(prop::collection::vec(op(), 1..=4), 1..=20),
    )
        .prop_map(|(fees, corrections, steps)| Case {
            fees,
            corrections,
            steps,
        })
}

fn delivery(i: usize) -> String {
    format!("d-{i}")
}

fn rider(i: usize) -> String {
    format!("k-{i}")
}

fn restaurant(i: usize) -> String {
    format!("r-{i}")
}

/// What one case asks of the ledger, with names and times fixed.
struct World {
    case: Case,
    periods: Vec<Period>,
    /// A period after everything: its payouts and invoices sweep up what is left.
    last: Period,
}

impl World {
    fn new(case: Case) -> World {
        let base = Utc::now().trunc_subsecs(6);
        let period = |label: &str, start: DateTime<Utc>, end: DateTime<Utc>| Period {
            label: label.to_owned(),
            start,
            end,
        };
        let middle = base + Duration::milliseconds(25);
        World {
            case,
            periods: vec![
                period("p0", base - Duration::days(1), base),
                period("p1", base, middle),
                period("p2", middle, base + Duration::days(1)),
            ],
            last: period("final", base + Duration::days(1), base + Duration::days(2)),
        }
    }

    fn registration(&self, i: usize, conflicting: bool) -> Registration {
        let fee = &self.case.fees[i];
        Registration {
            delivery_id: delivery(i),
            restaurant_id: restaurant(fee.restaurant),
            amount: fee.amount + i64::from(conflicting),
            commission: CommissionBps::new(fee.bps).expect("a valid rate"),
        }
    }

    fn adjustment(&self, i: usize, conflicting: bool) -> AdjustmentRequest {
        let c = &self.case.corrections[i];
        let (holder, account_id) = match c.rider {
            true => (Holder::Rider, rider(c.account % RIDERS)),
            false => (Holder::Restaurant, restaurant(c.account % RESTAURANTS)),
        };
        AdjustmentRequest {
            id: format!("adj-{i}"),
            holder,
            account_id,
            // Further from zero: a conflicting amount is never 0 (invalid).
            amount: c.amount + i64::from(conflicting) * c.amount.signum(),
            reason: format!("correction {i}"),
            delivery_id: None,
            created_by: "ops-1".to_owned(),
        }
    }
}

/// What an operation answered.
#[derive(Debug)]
enum Answer {
    Payment(Payment),
    Adjustment(Adjustment),
    Payout(Option<Payout>),
    Invoice(Option<Invoice>),
}

async fn perform(ledger: Ledger, world: &World, op: &Op) -> Result<Answer, LedgerError> {
    match *op {
        Op::Register {
            delivery,
            conflicting,
        } => ledger
            .register(&world.registration(delivery, conflicting))
            .await
            .map(Answer::Payment),
        Op::Settle {
            delivery: d,
            rider: k,
            reason,
        } => ledger
            .settle(&delivery(d), &rider(k), SETTLE_REASONS[reason])
            .await
            .map(Answer::Payment),
        Op::Void {
            delivery: d,
            reason,
        } => ledger
            .void(&delivery(d), VOID_REASONS[reason])
            .await
            .map(Answer::Payment),
        Op::Adjust { id, conflicting } => ledger
            .adjust(&world.adjustment(id, conflicting))
            .await
            .map(Answer::Adjustment),
        Op::Pay { rider: k, period } => ledger
            .pay_rider(&rider(k), &world.periods[period])
            .await
            .map(Answer::Payout),
        Op::Invoice {
            restaurant: r,
            period,
        } => ledger
            .issue_invoice(&restaurant(r), &world.periods[period])
            .await
            .map(Answer::Invoice),
    }
}

/// How a payment ended, as the model knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    Settled(String),
    Voided,
}

/// What the operations that succeeded say the ledger holds, and the refusals to check against
/// the final state.
#[derive(Default, Debug)]
struct Model {
    registered: BTreeMap<usize, Payment>,
    closed: BTreeMap<usize, Outcome>,
    adjustments: BTreeMap<usize, Adjustment>,
    payouts: BTreeMap<(usize, usize), Payout>,
    invoices: BTreeMap<(usize, usize), String>,
    /// (operation, why it was refused), checked once the case is over.
    refusals: Vec<(Op, LedgerError)>,
}

fn fail(message: String) -> TestCaseError {
    TestCaseError::fail(message)
}

/// Two answers for one payout: equal but for `paid_at` below the microsecond (PostgreSQL keeps
/// microseconds; the first answer is not read back).
fn same_payout(a: &Payout, b: &Payout) -> bool {
    let stored = |p: &Payout| Payout {
        paid_at: p.paid_at.trunc_subsecs(6),
        ..p.clone()
    };
    stored(a) == stored(b)
}

impl Model {
    /// Takes in one answer; `before` is what the model knew when the operation's step started.
    fn record(
        &mut self,
        world: &World,
        before: &BTreeMap<usize, Payment>,
        op: &Op,
        answer: Result<Answer, LedgerError>,
    ) -> Result<(), TestCaseError> {
        let unexpected = |answer: &dyn std::fmt::Debug| {
            fail(format!("{op:?} answered {answer:?}, which it never may"))
        };
        match (op, answer) {
            (
                Op::Register {
                    delivery,
                    conflicting,
                },
                Ok(Answer::Payment(p)),
            ) => {
                let asked = world.registration(*delivery, *conflicting);
                let split = Split::of(asked.amount, asked.commission);
                prop_assert_eq!(
                    (
                        p.amount,
                        &p.restaurant_id,
                        p.commission_bps,
                        p.commission,
                        p.status
                    ),
                    (
                        asked.amount,
                        &asked.restaurant_id,
                        asked.commission.bps(),
                        split.commission,
                        PaymentStatus::Registered
                    ),
                    "{:?}",
                    op
                );
                if let Some(known) = self.registered.get(delivery) {
                    prop_assert_eq!(
                        (known.amount, &known.restaurant_id, known.commission_bps),
                        (p.amount, &p.restaurant_id, p.commission_bps),
                        "two registrations of one delivery accepted with different fees"
                    );
                } else {
                    self.registered.insert(*delivery, p);
                }
            }
            (
                Op::Settle {
                    delivery, rider: k, ..
                },
                Ok(Answer::Payment(p)),
            ) => {
                prop_assert_eq!(p.status, PaymentStatus::Settled);
                prop_assert_eq!(p.rider_id.clone(), Some(rider(*k)), "{:?}", op);
                let outcome = Outcome::Settled(rider(*k));
                match self.closed.get(delivery) {
                    Some(known) => prop_assert_eq!(known, &outcome, "{:?} closed twice", op),
                    None => {
                        self.closed.insert(*delivery, outcome);
                    }
                }
            }
            (Op::Void { delivery, .. }, Ok(Answer::Payment(p))) => {
                prop_assert_eq!(p.status, PaymentStatus::Voided);
                match self.closed.get(delivery) {
                    Some(known) => {
                        prop_assert_eq!(known, &Outcome::Voided, "{:?} closed twice", op)
                    }
                    None => {
                        self.closed.insert(*delivery, Outcome::Voided);
                    }
                }
            }
            (Op::Adjust { id, conflicting }, Ok(Answer::Adjustment(a))) => {
                let asked = world.adjustment(*id, *conflicting);
                prop_assert_eq!(
                    (&a.id, a.holder, &a.account_id, a.amount, &a.reason),
                    (
                        &asked.id,
                        asked.holder,
                        &asked.account_id,
                        asked.amount,
                        &asked.reason
                    )
                );
                match self.adjustments.get(id) {
                    Some(known) => prop_assert_eq!(known, &a, "one id booked twice"),
                    None => {
                        self.adjustments.insert(*id, a);
                    }
                }
            }
            (Op::Pay { rider: k, period }, Ok(Answer::Payout(payout))) => {
                if let Some(p) = payout {
                    prop_assert!(p.amount > 0, "a payout of nothing: {:?}", p);
                    prop_assert_eq!(
                        (&p.rider_id, &p.period),
                        (&rider(*k), &world.periods[*period])
                    );
                    match self.payouts.get(&(*k, *period)) {
                        Some(known) => prop_assert!(
                            same_payout(known, &p),
                            "a period paid twice: {:?} then {:?}",
                            known,
                            p
                        ),
                        None => {
                            self.payouts.insert((*k, *period), p);
                        }
                    }
                }
            }
            (
                Op::Invoice {
                    restaurant: r,
                    period,
                },
                Ok(Answer::Invoice(invoice)),
            ) => {
                if let Some(invoice) = invoice {
                    prop_assert_eq!(&invoice.restaurant_id, &restaurant(*r));
                    prop_assert_eq!(
                        invoice.total,
                        invoice.lines.iter().map(|l| l.cost).sum::<i64>()
                            + invoice.adjustments.iter().map(|a| a.amount).sum::<i64>()
                    );
                    match self.invoices.get(&(*r, *period)) {
                        Some(known) => prop_assert_eq!(known, &invoice.number),
                        None => {
                            self.invoices.insert((*r, *period), invoice.number);
                        }
                    }
                }
            }
            // Not registered (yet): only if no earlier step registered it.
            (
                Op::Settle { delivery, .. } | Op::Void { delivery, .. },
                Err(LedgerError::NotFound(id)),
            ) => {
                prop_assert_eq!(id, self::delivery(*delivery));
                prop_assert!(
                    !before.contains_key(delivery),
                    "{:?} found no payment registered in an earlier step",
                    op
                );
            }
            // Refusals that the final state must explain.
            (
                Op::Register { .. } | Op::Settle { .. } | Op::Void { .. } | Op::Adjust { .. },
                Err(e @ LedgerError::FailedPrecondition(_)),
            )
            | (Op::Register { .. }, Err(e @ LedgerError::AlreadyClosed { .. })) => {
                self.refusals.push((op.clone(), e));
            }
            (_, Ok(answer)) => return Err(unexpected(&answer)),
            (_, Err(e)) => return Err(unexpected(&e)),
        }
        Ok(())
    }

    /// Every refusal is explained by how things ended.
    fn check_refusals(&mut self, world: &World) -> Result<(), TestCaseError> {
        for (op, why) in &self.refusals {
            match op {
                Op::Register {
                    delivery,
                    conflicting,
                } => {
                    let asked = world.registration(*delivery, *conflicting);
                    let known = self.registered.get(delivery).ok_or_else(|| {
                        fail(format!("{op:?} refused ({why}) but never registered"))
                    })?;
                    let differs = (known.amount, &known.restaurant_id, known.commission_bps)
                        != (asked.amount, &asked.restaurant_id, asked.commission.bps());
                    prop_assert!(
                        differs || self.closed.contains_key(delivery),
                        "{:?} refused ({}) though it asked what was registered and the payment is open",
                        op,
                        why
                    );
                }
                Op::Settle {
                    delivery, rider: k, ..
                } => prop_assert!(
                    matches!(self.closed.get(delivery), Some(o) if *o != Outcome::Settled(rider(*k))),
                    "{:?} refused ({}) but the payment ended {:?}",
                    op,
                    why,
                    self.closed.get(delivery)
                ),
                Op::Void { delivery, .. } => prop_assert!(
                    matches!(self.closed.get(delivery), Some(Outcome::Settled(_))),
                    "{:?} refused ({}) but the payment ended {:?}",
                    op,
                    why,
                    self.closed.get(delivery)
                ),
                Op::Adjust { id, conflicting } => {
                    let asked = world.adjustment(*id, *conflicting);
                    let known = self
                        .adjustments
                        .get(id)
                        .ok_or_else(|| fail(format!("{op:?} refused ({why}) but never booked")))?;
                    prop_assert!(
                        known.amount != asked.amount,
                        "{:?} refused ({}) though it asked what was booked",
                        op,
                        why
                    );
                }
                Op::Pay { .. } | Op::Invoice { .. } => {
                    return Err(fail(format!("{op:?} refused: {why}")));
                }
            }
        }
        Ok(())
    }

    /// Every account's `(debits, credits)` as the model has it.
    fn balances(&self) -> BTreeMap<String, (i64, i64)> {
        let mut book: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        let mut leg = |debit: String, credit: String, amount: i64| {
            book.entry(debit).or_default().0 += amount;
            book.entry(credit).or_default().1 += amount;
        };
        let held = || "agency:held".to_owned();
        for (d, p) in &self.registered {
            let restaurant = format!("restaurant:{}", p.restaurant_id);
            leg(restaurant.clone(), held(), p.amount);
            match self.closed.get(d) {
                Some(Outcome::Settled(k)) => {
                    leg(held(), format!("rider:{k}"), p.amount - p.commission);
                    leg(held(), "agency:commission".to_owned(), p.commission);
                }
                Some(Outcome::Voided) => leg(held(), restaurant, p.amount),
                None => {}
            }
        }
        for a in self.adjustments.values() {
            let account = match a.holder {
                Holder::Rider => format!("rider:{}", a.account_id),
                Holder::Restaurant => format!("restaurant:{}", a.account_id),
            };
            let adjustments = "agency:adjustments".to_owned();
            // Rider: + is owed more (a credit). Restaurant: + owes more (a debit).
            match (a.holder, a.amount > 0) {
                (Holder::Rider, true) | (Holder::Restaurant, false) => {
                    leg(adjustments, account, a.amount.abs())
                }
                (Holder::Rider, false) | (Holder::Restaurant, true) => {
                    leg(account, adjustments, a.amount.abs())
                }
            }
        }
        for p in self.payouts.values() {
            leg(
                format!("rider:{}", p.rider_id),
                "agency:payouts".to_owned(),
                p.amount,
            );
        }
        book.retain(|_, totals| *totals != (0, 0));
        book
    }
}

async fn balances(ledger: &Ledger) -> Result<BTreeMap<String, (i64, i64)>, TestCaseError> {
    Ok(ledger
        .balances()
        .await
        .map_err(|e| fail(format!("balances: {e}")))?
        .into_iter()
        .filter(|b| (b.debits, b.credits) != (0, 0))
        .map(|b| (b.account, (b.debits, b.credits)))
        .collect())
}

async fn payouts_of(ledger: &Ledger, rider_id: &str) -> Result<Vec<Payout>, TestCaseError> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let (page, next) = ledger
            .payouts_of(rider_id, cursor.as_deref(), 2)
            .await
            .map_err(|e| fail(format!("payouts_of: {e}")))?;
        all.extend(page);
        match next {
            Some(next) => cursor = Some(next),
            None => return Ok(all),
        }
    }
}

async fn invoices_of(ledger: &Ledger, restaurant_id: &str) -> Result<Vec<Invoice>, TestCaseError> {
    let (headers, _) = ledger
        .invoices_of(restaurant_id, None, 200)
        .await
        .map_err(|e| fail(format!("invoices_of: {e}")))?;
    let mut invoices = Vec::new();
    for header in headers {
        invoices.push(
            ledger
                .invoice(&header.number)
                .await
                .map_err(|e| fail(format!("invoice: {e}")))?,
        );
    }
    Ok(invoices)
}

/// Runs one case on `ledger` and checks every invariant.
async fn property(ledger: Ledger, case: Case) -> Result<(), TestCaseError> {
    let world = std::sync::Arc::new(World::new(case));
    let mut model = Model::default();
    for step in &world.case.steps {
        let before = model.registered.clone();
        let tasks: Vec<_> = step
            .iter()
            .map(|op| {
                let (ledger, world, op) = (ledger.clone(), world.clone(), op.clone());
                tokio::spawn(async move {
                    let answer = perform(ledger, &world, &op).await;
                    (op, answer)
                })
            })
            .collect();
        for task in tasks {
            let (op, answer) = task.await.map_err(|e| fail(format!("task: {e}")))?;
            model.record(&world, &before, &op, answer)?;
        }
    }
    let payments = ledger
        .list_all()
        .await
        .map_err(|e| fail(format!("list: {e}")))?;
    model.check_refusals(&world)?;
    let audit = |ledger: Ledger| async move {
        ledger
            .audit(None)
            .await
            .map_err(|e| fail(format!("audit: {e}")))
    };

    // The audit finds nothing, and the book balances.
    let findings = audit(ledger.clone()).await?;
    prop_assert!(findings.is_empty(), "audit: {:?}", findings);
    let book = balances(&ledger).await?;
    prop_assert_eq!(
        book.values().map(|t| t.0).sum::<i64>(),
        book.values().map(|t| t.1).sum::<i64>(),
        "debits and credits differ: {:?}",
        book
    );

    // Each delivery registers once and settles or voids at most once.
    let journal = ledger
        .journal()
        .await
        .map_err(|e| fail(format!("journal: {e}")))?;
    let mut outcomes: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for movement in &journal {
        if let Some(d) = &movement.delivery_id {
            outcomes.entry(d).or_default().push(&movement.kind);
        }
    }
    for (d, kinds) in &outcomes {
        let closes = kinds
            .iter()
            .filter(|k| ["settle", "void"].contains(k))
            .count();
        let registers = kinds.iter().filter(|k| **k == "register").count();
        prop_assert!(
            closes <= 1 && registers == 1,
            "{} has movements {:?}",
            d,
            kinds
        );
    }

    // The payments are what the model says.
    prop_assert_eq!(
        payments
            .iter()
            .map(|p| p.delivery_id.clone())
            .collect::<BTreeSet<_>>(),
        model
            .registered
            .keys()
            .map(|d| delivery(*d))
            .collect::<BTreeSet<_>>()
    );
    for p in &payments {
        let d: usize = p.delivery_id[2..].parse().expect("d-N");
        let expected = match model.closed.get(&d) {
            None => (PaymentStatus::Registered, None),
            Some(Outcome::Voided) => (PaymentStatus::Voided, None),
            Some(Outcome::Settled(k)) => (PaymentStatus::Settled, Some(k.clone())),
        };
        prop_assert_eq!((p.status, p.rider_id.clone()), expected, "{:?}", p);
    }

    // The held account holds exactly the open fees.
    let open: i64 = payments
        .iter()
        .filter(|p| p.status == PaymentStatus::Registered)
        .map(|p| p.amount)
        .sum();
    let held = book.get("agency:held").copied().unwrap_or((0, 0));
    prop_assert_eq!(held.1 - held.0, open, "held {:?}", held);

    // Riders are never paid more than they were credited; payouts are the model's.
    for k in 0..RIDERS {
        let paid = payouts_of(&ledger, &rider(k)).await?;
        let credited = book.get(&format!("rider:{}", rider(k))).map_or(0, |t| t.1);
        let total: i64 = paid.iter().map(|p| p.amount).sum();
        prop_assert!(
            total <= credited,
            "{} paid {} of {} credited",
            rider(k),
            total,
            credited
        );
        let mut listed: Vec<String> = paid.iter().map(|p| p.period.label.clone()).collect();
        listed.sort();
        let mut expected: Vec<String> = model
            .payouts
            .keys()
            .filter(|(rk, _)| *rk == k)
            .map(|(_, period)| world.periods[*period].label.clone())
            .collect();
        expected.sort();
        prop_assert_eq!(listed, expected, "payouts of {}", rider(k));
    }

    // Every account's totals are the model's.
    prop_assert_eq!(&book, &model.balances());

    // A payout for a period after everything pays each rider exactly what it is owed, and an
    // invoice for it bills each restaurant the rest: everything is paid and billed exactly once.
    for k in 0..RIDERS {
        let account = format!("rider:{}", rider(k));
        let (debits, credits) = book.get(&account).copied().unwrap_or((0, 0));
        let paid = ledger
            .pay_rider(&rider(k), &world.last)
            .await
            .map_err(|e| fail(format!("final payout: {e}")))?;
        prop_assert_eq!(
            paid.map_or(0, |p| p.amount),
            (credits - debits).max(0),
            "final payout of {}",
            rider(k)
        );
    }
    for r in 0..RESTAURANTS {
        ledger
            .issue_invoice(&restaurant(r), &world.last)
            .await
            .map_err(|e| fail(format!("final invoice: {e}")))?;
        let invoices = invoices_of(&ledger, &restaurant(r)).await?;
        let mut billed: Vec<String> = invoices
            .iter()
            .flat_map(|i| i.lines.iter().map(|l| l.delivery_id.clone()))
            .collect();
        billed.sort();
        let mut settled: Vec<String> = payments
            .iter()
            .filter(|p| p.restaurant_id == restaurant(r) && p.status == PaymentStatus::Settled)
            .map(|p| p.delivery_id.clone())
            .collect();
        settled.sort();
        prop_assert_eq!(billed, settled, "settlements billed to {}", restaurant(r));
        let adjusted: i64 = model
            .adjustments
            .values()
            .filter(|a| a.holder == Holder::Restaurant && a.account_id == restaurant(r))
            .map(|a| a.amount)
            .sum();
        let settled_costs: i64 = payments
            .iter()
            .filter(|p| p.restaurant_id == restaurant(r) && p.status == PaymentStatus::Settled)
            .map(|p| p.amount)
            .sum();
        prop_assert_eq!(
            invoices.iter().map(|i| i.total).sum::<i64>(),
            settled_costs + adjusted,
            "invoices of {}",
            restaurant(r)
        );
    }
    let findings = audit(ledger.clone()).await?;
    prop_assert!(findings.is_empty(), "audit after the sweep: {:?}", findings);
    Ok(())
}

fn config(default_cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default_cases);
    Config {
        cases,
        // Cases need a database each: shrink for a while, not forever.
        max_shrink_iters: 256,
        max_shrink_time: 120_000,
        // Nothing written beside the sources: a failure prints its case.
        failure_persistence: None,
        ..Config::default()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn check(result: Result<(), TestError<Case>>) {
    if let Err(error) = result {
        panic!("{error}");
    }
}

#[test]
fn the_ledger_keeps_its_invariants_under_random_concurrent_work_on_sqlite() {
    let mut runner = TestRunner::new(config(32));
    check(runner.run(&case(), |case| {
        runtime().block_on(async {
            let (ledger, _dir) = common::sqlite_ledger().await;
            property(ledger, case).await
        })
    }));
}

#[test]
#[ignore = "set TEST_DATABASE_URL to run against PostgreSQL"]
fn the_ledger_keeps_its_invariants_under_random_concurrent_work_on_postgres() {
    let mut runner = TestRunner::new(config(8));
    check(runner.run(&case(), |case| {
        runtime().block_on(async {
            let (ledger, database) = common::postgres_ledger().await;
            let result = property(ledger, case).await;
            database.drop().await;
            result
        })
    }));
}
