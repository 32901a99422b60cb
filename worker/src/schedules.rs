//! The Temporal Schedules of the money runs: `payouts` starts a `PayoutRunWorkflow` and
//! `invoices` an `InvoiceRunWorkflow` at the end of each period. A worker serving deliveries
//! makes them at start, or brings them in line with its settings when they exist (so changing
//! a period is a redeploy); operators find, pause and trigger them in the Temporal UI.

use std::time::Duration;

use temporalio_client::{
    Client,
    schedules::{
        CreateScheduleOptions, ScheduleAction, ScheduleCalendarSpec, ScheduleError,
        ScheduleOverlapPolicy, ScheduleSpec,
    },
};
use workflows::{
    InvoiceRunWorkflow, PayoutRunWorkflow,
    model::{MoneyRunInput, PeriodLength},
    names,
};

/// When a schedule of `period`s fires: at each period's end (UTC midnight, the first of the
/// month, or every N seconds since the epoch).
fn spec(period: PeriodLength) -> ScheduleSpec {
    match period {
        PeriodLength::Monthly => ScheduleSpec::from_calendar(
            ScheduleCalendarSpec::builder()
                .second("0".to_owned())
                .minute("0".to_owned())
                .hour("0".to_owned())
                .day_of_month("1".to_owned())
                .month("*".to_owned())
                .day_of_week("*".to_owned())
                .year("*".to_owned())
                .comment("the first of each month, 00:00 UTC".to_owned())
                .build(),
        ),
        PeriodLength::Daily => ScheduleSpec::from_interval(Duration::from_secs(86_400)),
        PeriodLength::Seconds(seconds) => {
            ScheduleSpec::from_interval(Duration::from_secs(u64::from(seconds)))
        }
    }
}

/// Makes (or updates) both schedules for the workflows on `task_queue` (ids from
/// [`names::payouts_schedule`] and [`names::invoices_schedule`]).
pub async fn ensure(
    client: &Client,
    task_queue: &str,
    payouts: PeriodLength,
    invoices: PeriodLength,
) -> Result<(), ScheduleError> {
    let input = |period| MoneyRunInput { period };
    let payout_id = names::payouts_schedule(task_queue);
    let invoice_id = names::invoices_schedule(task_queue);
    let runs = [
        (
            payout_id.clone(),
            ScheduleAction::start_workflow(
                PayoutRunWorkflow::run,
                input(payouts),
                task_queue,
                payout_id,
            ),
            spec(payouts),
        ),
        (
            invoice_id.clone(),
            ScheduleAction::start_workflow(
                InvoiceRunWorkflow::run,
                input(invoices),
                task_queue,
                invoice_id,
            ),
            spec(invoices),
        ),
    ];
    for (id, action, spec) in runs {
        let options = CreateScheduleOptions::builder()
            .action(action.clone())
            .spec(spec.clone())
            // A run still paying when the next period ends: the next waits for it.
            .overlap_policy(ScheduleOverlapPolicy::BufferOne)
            .note("made by the delivery worker".to_owned())
            .build();
        match client.create_schedule(id.clone(), options).await {
            Ok(_) => tracing::info!(schedule = %id, "schedule made"),
            Err(ScheduleError::Rpc(status)) if status.code() == tonic::Code::AlreadyExists => {
                client
                    .get_schedule_handle(id.clone())
                    .update(
                        move |update| {
                            update
                                .set_spec(spec)
                                .set_action(action)
                                .set_overlap_policy(ScheduleOverlapPolicy::BufferOne);
                        },
                        Default::default(),
                    )
                    .await?;
                tracing::debug!(schedule = %id, "schedule brought in line with the settings");
            }
            Err(other) => return Err(other),
        }
    }
    Ok(())
}
