//! The invariants of one delivery, as pure functions of its three records.

use std::time::Duration;

use chrono::{DateTime, Utc};
use payment::{Payment, PaymentStatus};
use temporalio_client::WorkflowExecutionStatus;

use crate::{
    records::{ListRow, Movement},
    temporal::WorkflowRecord,
    window::delta,
};

/// The problems with one delivery whose workflow Temporal has; empty when its records agree.
pub(crate) fn check_delivery(
    wf: &WorkflowRecord,
    payment: Option<&Payment>,
    moves: &[Movement],
    row: Option<&ListRow>,
) -> Vec<String> {
    let mut problems = check_journal(payment, moves);
    let status = wf.status.as_deref().unwrap_or("?");
    let list_status = row.map(|r| r.status.as_str());
    let payment_status = payment.map(|p| p.status);
    match wf.execution {
        WorkflowExecutionStatus::Running => {
            // In flight: the list may lag a step, but never shows a state the workflow is not in.
            if list_status.is_some_and(|s| s != status && !lags(s, status)) {
                problems.push(format!(
                    "workflow is {status} but the list shows {}",
                    list_status.unwrap_or("nothing")
                ));
            }
            if matches!(
                payment_status,
                Some(PaymentStatus::Settled | PaymentStatus::Voided)
            ) && !matches!(status, "Completed" | "Failed")
            {
                problems.push(format!(
                    "payment already final while the delivery is {status}"
                ));
            }
        }
        WorkflowExecutionStatus::Completed | WorkflowExecutionStatus::Canceled => {
            problems.extend(check_closed(status, payment, row));
        }
        other => problems.push(format!("workflow ended {other:?}")),
    }
    problems
}

/// The problems with one delivery Temporal no longer has (or never had): none only when it
/// is over in both other records, they agree, and it ended longer ago than `retention`, so
/// that Temporal deleted its closed run. A delivery still open anywhere, or closed recently,
/// must have its workflow.
pub(crate) fn check_without_workflow(
    payment: Option<&Payment>,
    moves: &[Movement],
    row: Option<&ListRow>,
    now: DateTime<Utc>,
    retention: Duration,
) -> Vec<String> {
    let mut problems = check_journal(payment, moves);
    let Some(row) = row else {
        let money = match payment {
            Some(p) => format!("payment {}", p.status.as_str()),
            None => format!("{} money movement(s)", moves.len()),
        };
        problems.push(format!("{money} but no delivery workflow and no list row"));
        return problems;
    };
    if !matches!(row.status.as_str(), "Completed" | "Failed" | "Cancelled") {
        problems.push(format!(
            "no delivery workflow while the list shows {}",
            row.status
        ));
        return problems;
    }
    if payment.is_some_and(|p| p.status == PaymentStatus::Registered) {
        problems.push("no delivery workflow while the payment is still Registered".into());
        return problems;
    }
    problems.extend(check_closed(&row.status, payment, Some(row)));
    let ended = last_change(payment, moves, row);
    if now - ended < delta(retention) {
        problems.push(format!(
            "no delivery workflow, though it ended at {} (within Temporal's retention of {}s)",
            ended.to_rfc3339(),
            retention.as_secs()
        ));
    }
    problems
}

/// When the delivery's records last changed: its workflow closed right after.
fn last_change(payment: Option<&Payment>, moves: &[Movement], row: &ListRow) -> DateTime<Utc> {
    let paid = payment.into_iter().flat_map(|p| {
        [Some(p.registered_at), p.settled_at, p.voided_at]
            .into_iter()
            .flatten()
    });
    moves
        .iter()
        .map(|m| m.at)
        .chain(paid)
        .fold(row.updated_at, DateTime::max)
}

/// Each payment registered once and settled or voided at most once, its status as its
/// journal says.
fn check_journal(payment: Option<&Payment>, moves: &[Movement]) -> Vec<String> {
    let mut problems = Vec::new();
    let count = |kind| moves.iter().filter(|m| m.kind == kind).count();
    let (registered, settled, voided) = (
        count(PaymentStatus::Registered),
        count(PaymentStatus::Settled),
        count(PaymentStatus::Voided),
    );
    if registered > 1 {
        problems.push(format!("payment registered {registered} times"));
    }
    if settled + voided > 1 {
        problems.push(format!(
            "payment settled {settled} and voided {voided} times"
        ));
    }
    if let Some(p) = payment {
        let journaled = match p.status {
            PaymentStatus::Registered => registered == 1 && settled + voided == 0,
            PaymentStatus::Settled => registered == 1 && settled == 1,
            PaymentStatus::Voided => registered == 1 && voided == 1,
        };
        if !journaled {
            problems.push(format!(
                "ledger says {} but the journal has {registered}/{settled}/{voided}",
                p.status.as_str()
            ));
        }
    } else if !moves.is_empty() {
        problems.push("journal has movements but the ledger has no payment".into());
    }
    problems
}

/// Whether a list showing `listed` is only behind a workflow in `live`: the steps before
/// pickup may be seen late.
fn lags(listed: &str, live: &str) -> bool {
    matches!(
        (listed, live),
        ("Called", "Assigned" | "Picked") | ("Assigned", "Picked")
    )
}

/// A delivery that ended `status`: completed and paid, with the list showing the settlement;
/// failed with its fee settled or voided (as its reason or an operator said), the list showing
/// it; or cancelled with nothing paid.
fn check_closed(status: &str, payment: Option<&Payment>, row: Option<&ListRow>) -> Vec<String> {
    let mut problems = Vec::new();
    let list_status = row.map(|r| r.status.as_str());
    let payment_status = payment.map(|p| p.status);
    match status {
        "Completed" => {
            let cost = payment.map(|p| p.amount);
            if payment_status != Some(PaymentStatus::Settled) {
                problems.push(format!("completed but payment is {payment_status:?}"));
            }
            match row {
                Some(r) if r.status == "Completed" && r.settled == cost && Some(r.cost) == cost => {
                }
                other => problems.push(format!(
                    "completed but the list shows {other:?} (payment {cost:?})"
                )),
            }
        }
        "Failed" => {
            let settled = payment
                .filter(|p| p.status == PaymentStatus::Settled)
                .map(|p| p.amount);
            if !matches!(
                payment_status,
                Some(PaymentStatus::Settled | PaymentStatus::Voided)
            ) {
                problems.push(format!("failed but payment is {payment_status:?}"));
            }
            match row {
                Some(r) if r.status == "Failed" && r.settled == settled => {}
                other => problems.push(format!(
                    "failed but the list shows {other:?} (settled {settled:?})"
                )),
            }
        }
        "Cancelled" => {
            if !matches!(payment_status, None | Some(PaymentStatus::Voided)) {
                problems.push(format!("cancelled but payment is {payment_status:?}"));
            }
            if list_status != Some("Cancelled") {
                problems.push(format!("cancelled but the list shows {list_status:?}"));
            }
        }
        other => problems.push(format!("closed while {other}")),
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn payment(status: PaymentStatus, when: DateTime<Utc>) -> (Payment, Vec<Movement>) {
        let mut moves = vec![Movement {
            delivery_id: "d-1".into(),
            kind: PaymentStatus::Registered,
            amount: 2000,
            at: when,
        }];
        if status != PaymentStatus::Registered {
            moves.push(Movement {
                kind: status,
                ..moves[0].clone()
            });
        }
        let payment = Payment {
            delivery_id: "d-1".into(),
            amount: 2000,
            status,
            registered_at: when,
            settled_at: (status == PaymentStatus::Settled).then_some(when),
            voided_at: (status == PaymentStatus::Voided).then_some(when),
            restaurant_id: "r-1".into(),
            commission_bps: 1_000,
            commission: 200,
            rider_id: (status == PaymentStatus::Settled).then(|| "k-1".into()),
            failure_reason: None,
        };
        (payment, moves)
    }

    fn row(status: &str, settled: Option<i64>, when: DateTime<Utc>) -> ListRow {
        ListRow {
            status: status.into(),
            cost: 2000,
            settled,
            updated_at: when,
        }
    }

    fn workflow(execution: WorkflowExecutionStatus, status: &str) -> WorkflowRecord {
        WorkflowRecord {
            delivery_id: "d-1".into(),
            execution,
            status: Some(status.into()),
            task_queue: "deliveries".into(),
            close_time: None,
        }
    }

    #[test]
    fn a_settled_and_completed_delivery_past_retention_is_not_missing_its_workflow() {
        let ended = at("2026-11-01T10:00:00Z");
        let now = at("2026-11-09T10:00:00Z");
        let (p, moves) = payment(PaymentStatus::Settled, ended);
        let row = row("Completed", Some(2000), ended);
        assert_eq!(
            check_without_workflow(Some(&p), &moves, Some(&row), now, 7 * DAY),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_voided_or_rejected_cancelled_delivery_past_retention_is_not_missing_its_workflow() {
        let ended = at("2026-11-01T10:00:00Z");
        let now = at("2026-11-03T10:00:00Z");
        let (p, moves) = payment(PaymentStatus::Voided, ended);
        let cancelled = row("Cancelled", None, ended);
        assert!(check_without_workflow(Some(&p), &moves, Some(&cancelled), now, DAY).is_empty());
        // Payment refused on the merits: nothing in the ledger at all.
        assert!(check_without_workflow(None, &[], Some(&cancelled), now, DAY).is_empty());
    }

    #[test]
    fn a_final_delivery_that_ended_within_retention_still_needs_its_workflow() {
        let ended = at("2026-11-01T10:00:00Z");
        let now = at("2026-11-01T22:00:00Z");
        let (p, moves) = payment(PaymentStatus::Settled, ended);
        let row = row("Completed", Some(2000), ended);
        let problems = check_without_workflow(Some(&p), &moves, Some(&row), now, DAY);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("within Temporal's retention"),
            "{problems:?}"
        );
    }

    #[test]
    fn an_open_delivery_without_its_workflow_is_a_mismatch_however_old() {
        let then = at("2026-01-01T10:00:00Z");
        let now = at("2026-11-01T10:00:00Z");
        let (registered, moves) = payment(PaymentStatus::Registered, then);
        let picked = row("Picked", None, then);
        let problems = check_without_workflow(Some(&registered), &moves, Some(&picked), now, DAY);
        assert_eq!(
            problems,
            vec!["no delivery workflow while the list shows Picked".to_owned()]
        );
        // The list says it is over but the money is still open.
        let completed = row("Completed", None, then);
        let problems =
            check_without_workflow(Some(&registered), &moves, Some(&completed), now, DAY);
        assert!(problems[0].contains("still Registered"), "{problems:?}");
        // Money without any list row.
        let (settled, moves) = payment(PaymentStatus::Settled, then);
        let problems = check_without_workflow(Some(&settled), &moves, None, now, DAY);
        assert!(problems[0].contains("no list row"), "{problems:?}");
    }

    #[test]
    fn a_delivery_past_retention_whose_records_disagree_is_still_reported() {
        let then = at("2026-01-01T10:00:00Z");
        let now = at("2026-11-01T10:00:00Z");
        let (voided, moves) = payment(PaymentStatus::Voided, then);
        let completed = row("Completed", Some(2000), then);
        let problems = check_without_workflow(Some(&voided), &moves, Some(&completed), now, DAY);
        assert!(
            problems.iter().any(|p| p.contains("completed but payment")),
            "{problems:?}"
        );
        // Paid twice: the journal is checked whether or not the workflow is there.
        let (settled, mut moves) = payment(PaymentStatus::Settled, then);
        moves.push(moves[1].clone());
        let done = row("Completed", Some(2000), then);
        let problems = check_without_workflow(Some(&settled), &moves, Some(&done), now, DAY);
        assert!(
            problems.iter().any(|p| p.contains("settled 2")),
            "{problems:?}"
        );
    }

    #[test]
    fn the_last_change_of_any_record_dates_the_end() {
        let (p, moves) = payment(PaymentStatus::Settled, at("2026-11-01T10:00:00Z"));
        // The list was written last, a day after the settlement.
        let late = row("Completed", Some(2000), at("2026-11-02T10:00:00Z"));
        let now = at("2026-11-02T20:00:00Z");
        let problems = check_without_workflow(Some(&p), &moves, Some(&late), now, DAY);
        assert!(problems[0].contains("within"), "{problems:?}");
    }

    #[test]
    fn a_completed_workflow_needs_a_settled_payment_and_a_matching_list_row() {
        let when = at("2026-11-01T10:00:00Z");
        let wf = workflow(WorkflowExecutionStatus::Completed, "Completed");
        let (settled, moves) = payment(PaymentStatus::Settled, when);
        let done = row("Completed", Some(2000), when);
        assert!(check_delivery(&wf, Some(&settled), &moves, Some(&done)).is_empty());
        let unpaid = row("Completed", None, when);
        assert_eq!(
            check_delivery(&wf, Some(&settled), &moves, Some(&unpaid)).len(),
            1
        );
        let running = workflow(WorkflowExecutionStatus::Running, "Picked");
        let called = row("Called", None, when);
        let (registered, moves) = payment(PaymentStatus::Registered, when);
        assert!(check_delivery(&running, Some(&registered), &moves, Some(&called)).is_empty());
    }

    #[test]
    fn a_failed_delivery_is_settled_or_voided_as_the_list_shows() {
        let when = at("2026-11-01T10:00:00Z");
        let wf = workflow(WorkflowExecutionStatus::Completed, "Failed");
        let (settled, moves) = payment(PaymentStatus::Settled, when);
        let paid = row("Failed", Some(2000), when);
        assert!(check_delivery(&wf, Some(&settled), &moves, Some(&paid)).is_empty());
        let (voided, void_moves) = payment(PaymentStatus::Voided, when);
        let unpaid = row("Failed", None, when);
        assert!(check_delivery(&wf, Some(&voided), &void_moves, Some(&unpaid)).is_empty());
        // The list disagreeing with the money, or the money still open, is a mismatch.
        assert_eq!(
            check_delivery(&wf, Some(&voided), &void_moves, Some(&paid)).len(),
            1
        );
        let (registered, open_moves) = payment(PaymentStatus::Registered, when);
        assert_eq!(
            check_delivery(&wf, Some(&registered), &open_moves, Some(&unpaid)).len(),
            1
        );
        // While it runs (an operator deciding), the list shows it failed with the money open.
        let deciding = workflow(WorkflowExecutionStatus::Running, "Failed");
        assert!(
            check_delivery(&deciding, Some(&registered), &open_moves, Some(&unpaid)).is_empty()
        );
        let picked = row("Picked", None, when);
        assert_eq!(
            check_delivery(&deciding, Some(&registered), &open_moves, Some(&picked)).len(),
            1
        );
    }
}
