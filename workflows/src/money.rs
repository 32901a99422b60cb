//! The money runs: `PayoutRunWorkflow` pays every rider what it is due for a period, and
//! `InvoiceRunWorkflow` bills every restaurant for one. Their Schedules (`payouts`, `invoices`)
//! start one run per period; each run settles the period that ended last before it started,
//! one activity per rider or restaurant, each idempotent by (account, period) in the ledger:
//! a run retried, restarted on another worker or started twice for a period pays and bills
//! nothing twice.
//!
//! The accounts are handled one after another: a run's history holds three events per account,
//! so a run of a few thousand accounts stays far below Temporal's limits.

use std::time::Duration;

use temporalio_common::{ActivityCloseTimeouts, ActivityDefinition, RetryPolicy};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{ActivityOptions, WorkflowContext, WorkflowContextView, WorkflowResult};

use crate::{
    activities::PaymentActivities,
    model::{
        IssueInvoiceInput, MoneyDocument, MoneyRunInput, MoneyRunReport, PayRiderInput, Period,
    },
    names,
};

/// How long one account's payout or invoice is retried (the payment service down) before the
/// run gives up on that account and reports it; the next run picks the balance up.
const ACCOUNT_BUDGET: Duration = Duration::from_secs(30 * 60);

/// Pays every rider its balance for the period that ended last before the run started.
#[workflow]
pub struct PayoutRunWorkflow {
    period: Period,
}

#[workflow_methods]
impl PayoutRunWorkflow {
    #[init]
    pub fn new(ctx: &WorkflowContextView, input: MoneyRunInput) -> Self {
        Self {
            period: period_of(ctx, input),
        }
    }

    #[run(name = "PayoutRunWorkflow")]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<MoneyRunReport> {
        let period = ctx.state(|w| w.period.clone());
        let queue = ctx.info().task_queue().to_owned();
        let riders = ctx
            .execute_activity(
                PaymentActivities::list_riders_with_balance,
                (),
                options(&queue),
            )
            .await?;
        Ok(
            each_account(ctx, &queue, period, riders, |rider_id, period| {
                (
                    PaymentActivities::pay_rider,
                    PayRiderInput { rider_id, period },
                )
            })
            .await,
        )
    }

    /// The period this run pays.
    #[query(name = "period")]
    pub fn period(&self, _ctx: &WorkflowContextView) -> Period {
        self.period.clone()
    }
}

/// Bills every restaurant for the period that ended last before the run started.
#[workflow]
pub struct InvoiceRunWorkflow {
    period: Period,
}

#[workflow_methods]
impl InvoiceRunWorkflow {
    #[init]
    pub fn new(ctx: &WorkflowContextView, input: MoneyRunInput) -> Self {
        Self {
            period: period_of(ctx, input),
        }
    }

    #[run(name = "InvoiceRunWorkflow")]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<MoneyRunReport> {
        let period = ctx.state(|w| w.period.clone());
        let queue = ctx.info().task_queue().to_owned();
        let restaurants = ctx
            .execute_activity(
                PaymentActivities::list_restaurants_to_invoice,
                period.clone(),
                options(&queue),
            )
            .await?;
        Ok(
            each_account(ctx, &queue, period, restaurants, |restaurant_id, period| {
                (
                    PaymentActivities::issue_invoice,
                    IssueInvoiceInput {
                        restaurant_id,
                        period,
                    },
                )
            })
            .await,
        )
    }

    /// The period this run bills.
    #[query(name = "period")]
    pub fn period(&self, _ctx: &WorkflowContextView) -> Period {
        self.period.clone()
    }
}

/// Settles each of `accounts` for `period`, one after another, with the activity `call` names
/// for it; an account whose activity fails for good is reported, and the run goes on.
async fn each_account<W, T, A>(
    ctx: &mut WorkflowContext<W>,
    queue: &str,
    period: Period,
    accounts: Vec<T>,
    call: impl Fn(T, Period) -> (A, A::Input),
) -> MoneyRunReport
where
    T: Clone + std::fmt::Display,
    A: ActivityDefinition<Output = Option<MoneyDocument>>,
{
    let mut report = MoneyRunReport {
        period: period.clone(),
        documents: 0,
        total: 0,
        failed: Vec::new(),
    };
    for account in accounts {
        let (activity, input) = call(account.clone(), period.clone());
        match ctx.execute_activity(activity, input, options(queue)).await {
            Ok(Some(document)) => {
                report.documents += 1;
                report.total += document.amount;
            }
            Ok(None) => {}
            Err(_) => report.failed.push(account.to_string()),
        }
    }
    report
}

/// The period a run started now settles: the last one that ended (the start time is in the
/// history, so replay computes the same).
fn period_of(ctx: &WorkflowContextView, input: MoneyRunInput) -> Period {
    let started = ctx
        .start_time()
        .map(chrono::DateTime::<chrono::Utc>::from)
        .unwrap_or_default();
    input.period.last_ended(started)
}

/// Remote activities on the payment queue, retried with backoff for [`ACCOUNT_BUDGET`]; a
/// refusal on the merits is not retried.
fn options(workflow_queue: &str) -> ActivityOptions {
    ActivityOptions::with_close_timeouts(ActivityCloseTimeouts::ScheduleAndStartToClose {
        schedule_to_close: ACCOUNT_BUDGET,
        start_to_close: Duration::from_secs(10),
    })
    .task_queue(names::activity_queue(workflow_queue, names::PAYMENTS_QUEUE))
    .retry_policy(
        RetryPolicy::builder()
            .initial_interval(Duration::from_millis(500))
            .backoff_coefficient(2.0)
            .maximum_interval(Duration::from_secs(30))
            .build(),
    )
    .build()
}
