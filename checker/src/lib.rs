//! The money and state invariant checker.
//!
//! For every delivery it reads three independent records and checks they tell one story:
//! the workflow (Temporal visibility: execution status and `DeliveryStatus`), the payment
//! ledger (its state and its journal of money movements) and the delivery list. It checks
//! that each payment is registered once and settled or voided at most once, and that the
//! totals balance: registered = settled + voided + open. Used by the `delivery-check`
//! command and at the end of every fault test.

use std::{
    collections::{BTreeMap, HashMap},
    fmt,
};

use futures::StreamExt;
use payment::{Ledger, Movement, Payment, PaymentStatus};
use readmodel::{DeliveryRow, ReadModel};
use temporalio_client::{WorkflowExecutionStatus, WorkflowListOptions};
use workflows::{
    client::{QueueSettings, TemporalSettings},
    names,
};

/// `delivery-check`: where to find the three records, each setting with its flag, variable
/// and default (the same variables as the services that write them).
#[derive(clap::Parser, Debug, Clone)]
#[command(
    name = "delivery-check",
    version,
    about = "Checks that the workflows, the payment ledger and the delivery list tell one story; exits 1 on any mismatch"
)]
pub struct Settings {
    #[command(flatten)]
    pub config: config::ConfigFile,
    #[command(flatten)]
    pub temporal: TemporalSettings,
    #[command(flatten)]
    pub queue: QueueSettings,
    #[command(flatten)]
    pub ledger: payment::LedgerSettings,
    #[command(flatten)]
    pub readmodel: readmodel::DatabaseSettings,
}

impl Settings {
    /// The records of a stack: its Temporal server and task queue, its two databases.
    pub fn new(
        temporal_address: &str,
        task_queue: &str,
        payment_database_url: &str,
        readmodel_database_url: &str,
    ) -> Self {
        let mut settings: Self = config::defaults();
        settings.temporal = TemporalSettings::at(temporal_address, "default");
        settings.queue.task_queue = task_queue.to_owned();
        settings.ledger.database_url = payment_database_url.to_owned();
        settings.readmodel.database_url = readmodel_database_url.to_owned();
        settings
    }
}

/// A record could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Temporal(#[from] workflows::client::ConnectError),
    #[error("listing workflows: {0}")]
    List(String),
    #[error("payment ledger: {0}")]
    Ledger(#[from] payment::LedgerError),
    #[error("delivery list: {0}")]
    ReadModel(#[from] readmodel::ReadModelError),
}

/// One delivery whose records disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub delivery_id: String,
    pub problem: String,
}

/// What the checker found.
#[derive(Debug, Default)]
pub struct Report {
    pub deliveries: usize,
    /// Deliveries by status, as the workflow reports it (`Running/Called`, `Completed`, ...).
    pub by_status: BTreeMap<String, usize>,
    pub payments: usize,
    pub registered_total: i64,
    pub settled_total: i64,
    pub voided_total: i64,
    pub open_total: i64,
    pub mismatches: Vec<Mismatch>,
}

impl Report {
    pub fn is_consistent(&self) -> bool {
        self.mismatches.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "deliveries: {}", self.deliveries)?;
        for (status, count) in &self.by_status {
            writeln!(f, "  {status}: {count}")?;
        }
        writeln!(f, "payments: {}", self.payments)?;
        writeln!(
            f,
            "money (KRW): registered {} = settled {} + voided {} + open {}",
            self.registered_total, self.settled_total, self.voided_total, self.open_total
        )?;
        writeln!(f, "mismatches: {}", self.mismatches.len())?;
        for m in &self.mismatches {
            writeln!(f, "  {}: {}", m.delivery_id, m.problem)?;
        }
        Ok(())
    }
}

/// One delivery as its workflow reports it.
struct WorkflowRecord {
    delivery_id: String,
    execution: WorkflowExecutionStatus,
    status: Option<String>,
}

/// Reads the three records and checks them against each other.
pub async fn check(settings: &Settings) -> Result<Report, CheckError> {
    let workflows = list_workflows(settings).await?;
    let ledger = Ledger::connect(&settings.ledger.database_url).await?;
    let payments: HashMap<String, Payment> = ledger
        .list_all()
        .await?
        .into_iter()
        .map(|p| (p.delivery_id.clone(), p))
        .collect();
    let mut movements: HashMap<String, Vec<Movement>> = HashMap::new();
    for m in ledger.movements().await? {
        movements.entry(m.delivery_id.clone()).or_default().push(m);
    }
    let list = ReadModel::connect(&settings.readmodel.database_url).await?;

    let mut report = Report {
        deliveries: workflows.len(),
        ..Report::default()
    };
    let mut seen = std::collections::HashSet::new();
    for wf in &workflows {
        seen.insert(wf.delivery_id.clone());
        // A workflow whose id is not a delivery id has no row by construction.
        let row = match wf.delivery_id.parse() {
            Ok(id) => list.delivery(&id).await?,
            Err(_) => None,
        };
        let label = match wf.execution {
            WorkflowExecutionStatus::Running => {
                format!("Running/{}", wf.status.as_deref().unwrap_or("?"))
            }
            _ => wf
                .status
                .clone()
                .unwrap_or_else(|| format!("{:?}", wf.execution)),
        };
        *report.by_status.entry(label).or_default() += 1;
        let moves = movements
            .get(&wf.delivery_id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for problem in check_delivery(wf, payments.get(&wf.delivery_id), moves, row.as_ref()) {
            report.mismatches.push(Mismatch {
                delivery_id: wf.delivery_id.clone(),
                problem,
            });
        }
    }
    for (delivery_id, moves) in &movements {
        if !seen.contains(delivery_id) {
            report.mismatches.push(Mismatch {
                delivery_id: delivery_id.clone(),
                problem: format!("{} money movement(s) but no delivery workflow", moves.len()),
            });
        }
    }
    report.payments = payments.len();
    for m in movements.values().flatten() {
        match m.kind {
            PaymentStatus::Registered => report.registered_total += m.amount,
            PaymentStatus::Settled => report.settled_total += m.amount,
            PaymentStatus::Voided => report.voided_total += m.amount,
        }
    }
    report.open_total = payments
        .values()
        .filter(|p| p.status == PaymentStatus::Registered)
        .map(|p| p.amount)
        .sum();
    if report.registered_total != report.settled_total + report.voided_total + report.open_total {
        report.mismatches.push(Mismatch {
            delivery_id: "(totals)".into(),
            problem: "registered != settled + voided + open".into(),
        });
    }
    report
        .mismatches
        .sort_by(|a, b| a.delivery_id.cmp(&b.delivery_id));
    Ok(report)
}

async fn list_workflows(settings: &Settings) -> Result<Vec<WorkflowRecord>, CheckError> {
    let client = workflows::client::connect_with(&settings.temporal, None, false).await?;
    let query = format!(
        "WorkflowType = 'DeliveryWorkflow' AND TaskQueue = '{}'",
        settings.queue.task_queue
    );
    let mut stream = client.list_workflows(query, WorkflowListOptions::default());
    let mut records = Vec::new();
    while let Some(item) = stream.next().await {
        let wf = item.map_err(|e| CheckError::List(e.to_string()))?;
        let Some(delivery_id) = wf.id().strip_prefix("delivery-") else {
            continue;
        };
        records.push(WorkflowRecord {
            delivery_id: delivery_id.to_owned(),
            execution: wf.status(),
            status: wf.search_attributes().get(&names::DELIVERY_STATUS),
        });
    }
    Ok(records)
}

/// The problems with one delivery; empty when its records agree.
fn check_delivery(
    wf: &WorkflowRecord,
    payment: Option<&Payment>,
    moves: &[Movement],
    row: Option<&DeliveryRow>,
) -> Vec<String> {
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

    let status = wf.status.as_deref().unwrap_or("?");
    let list_status = row.map(|r| r.status.as_str());
    let payment_status = payment.map(|p| p.status);
    match wf.execution {
        WorkflowExecutionStatus::Running => {
            // In flight: the list may lag one step, but never shows a state the workflow is not in.
            if list_status.is_some_and(|s| s != status && !(s == "Called" && status == "Picked")) {
                problems.push(format!(
                    "workflow is {status} but the list shows {}",
                    list_status.unwrap_or("nothing")
                ));
            }
            if matches!(
                payment_status,
                Some(PaymentStatus::Settled | PaymentStatus::Voided)
            ) && status != "Completed"
            {
                problems.push(format!(
                    "payment already final while the delivery is {status}"
                ));
            }
        }
        WorkflowExecutionStatus::Completed | WorkflowExecutionStatus::Canceled => match status {
            "Completed" => {
                let cost = payment.map(|p| p.amount);
                if payment_status != Some(PaymentStatus::Settled) {
                    problems.push(format!("completed but payment is {payment_status:?}"));
                }
                match row {
                    Some(r)
                        if r.status.as_str() == "Completed"
                            && r.settled == cost
                            && Some(r.call.cost.won()) == cost => {}
                    other => problems.push(format!(
                        "completed but the list shows {other:?} (payment {cost:?})"
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
        },
        other => problems.push(format!("workflow ended {other:?}")),
    }
    problems
}

#[cfg(test)]
mod settings_tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_settings_are_well_formed_and_share_the_services_variables() {
        Settings::command().debug_assert();
        let vars = config::env_vars(&Settings::command());
        for var in [
            "TEMPORAL_ADDRESS",
            "DELIVERY_TASK_QUEUE",
            "PAYMENT_DATABASE_URL",
            "READMODEL_DATABASE_URL",
            "DELIVERY_CONFIG",
        ] {
            assert!(vars.iter().any(|v| v == var), "{var}");
        }
    }
}
