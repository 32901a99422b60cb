//! The money and state invariant checker.
//!
//! For each delivery it reads three independent records and checks they tell one story:
//! the workflow (Temporal visibility: execution status and `DeliveryStatus`), the payment
//! ledger (its state and its journal of money movements) and the delivery list. It checks
//! that each payment is registered once and settled or voided at most once, and that the
//! totals balance: registered = settled + voided + open. Used by the `delivery-check`
//! command (scheduled every few minutes over a recent window) and at the end of every fault
//! test (over the whole history).
//!
//! A run reads in pages of [`BATCH`] deliveries, so its memory does not grow with the history
//! or the window: first the workflows Temporal lists (the running ones and, with a window,
//! those closed in it), each page compared with the ledger and the list by `IN (…)` queries;
//! then the records Temporal may not have listed: deliveries with a ledger movement or a list
//! write in the window whose workflow was not among those listed, looked up by id. A delivery
//! without a workflow is a mismatch unless it is over in both records, they agree, and it
//! ended longer ago than the namespace's retention (Temporal deleted its closed run).

mod records;
mod rules;
mod temporal;
pub mod window;

use std::{collections::BTreeMap, fmt, path::PathBuf, time::Duration};

use chrono::{DateTime, Utc};
use payment::{Payment, PaymentStatus};
pub use records::BATCH;
use records::{Batch, Movement, Records};
use temporal::{Temporal, WorkflowRecord};
use temporalio_client::WorkflowExecutionStatus;
pub use window::Window;
use window::parse_duration;
use workflows::client::{QueueSettings, TemporalSettings};

/// `delivery-check`: where to find the three records, each setting with its flag, variable
/// and default (the same variables as the services that write them), and which deliveries
/// to check.
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
    #[command(flatten)]
    pub scope: Scope,
}

/// Which deliveries a run checks, and how long Temporal keeps the closed ones.
#[derive(clap::Args, Debug, Clone)]
pub struct Scope {
    /// Check only the running deliveries and those whose workflow closed, or whose ledger
    /// journal or list row changed, in this window before now: `90s`, `15m`, `2h`, `7d`
    /// [default: the whole history]
    #[arg(
        long = "since",
        env = "DELIVERY_CHECK_SINCE",
        value_name = "DURATION",
        value_parser = parse_duration
    )]
    pub since: Option<Duration>,
    /// A file keeping when the last complete run started: a run starts from there (less
    /// --overlap), `--since` then applies only to the first run, and a complete run records
    /// its own start [default: none, each run stands alone]
    #[arg(
        long = "state-file",
        env = "DELIVERY_CHECK_STATE_FILE",
        value_name = "FILE"
    )]
    pub state_file: Option<PathBuf>,
    /// How far before the last run's start a run from the state file begins: writes that
    /// committed late, the projection's lag, clocks that differ
    #[arg(
        long = "overlap",
        env = "DELIVERY_CHECK_OVERLAP",
        value_name = "DURATION",
        default_value = "5m",
        value_parser = parse_duration
    )]
    pub overlap: Duration,
    /// How long Temporal keeps a closed workflow before deleting it: a delivery that ended
    /// longer ago may have no workflow [default: the namespace's retention, asked of Temporal]
    #[arg(
        long = "retention",
        env = "DELIVERY_CHECK_RETENTION",
        value_name = "DURATION",
        value_parser = parse_duration
    )]
    pub retention: Option<Duration>,
}

impl Settings {
    /// The records of a stack: its Temporal server and task queue, its two databases; the
    /// whole history.
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
    #[error("the namespace's retention: {0}")]
    Retention(String),
    #[error("payment ledger: {0}")]
    Ledger(#[from] payment::LedgerError),
    #[error("delivery list: {0}")]
    ReadModel(#[from] readmodel::ReadModelError),
    #[error("{0}: {1}")]
    Records(&'static str, String),
    #[error("state file: {0}")]
    State(#[from] std::io::Error),
}

/// One delivery whose records disagree.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Mismatch {
    pub delivery_id: String,
    pub problem: String,
}

/// What the checker found.
#[derive(Debug)]
pub struct Report {
    /// The deliveries looked at.
    pub window: Window,
    /// Deliveries checked against their workflow.
    pub deliveries: usize,
    /// Deliveries by status, as the workflow reports it (`Running/Called`, `Completed`, ...).
    pub by_status: BTreeMap<String, usize>,
    /// Deliveries without a workflow, over in both other records, that ended longer ago than
    /// Temporal's retention: their closed runs were deleted, as expected.
    pub past_retention: usize,
    /// Payments of the deliveries checked, and their money.
    pub payments: usize,
    pub registered_total: i64,
    pub settled_total: i64,
    pub voided_total: i64,
    pub open_total: i64,
    pub mismatches: Vec<Mismatch>,
}

impl Report {
    fn new(window: Window) -> Self {
        Self {
            window,
            deliveries: 0,
            by_status: BTreeMap::new(),
            past_retention: 0,
            payments: 0,
            registered_total: 0,
            settled_total: 0,
            voided_total: 0,
            open_total: 0,
            mismatches: Vec::new(),
        }
    }

    pub fn is_consistent(&self) -> bool {
        self.mismatches.is_empty()
    }

    /// Counts the money of one delivery checked.
    fn account(&mut self, payment: Option<&Payment>, moves: &[Movement]) {
        if let Some(p) = payment {
            self.payments += 1;
            if p.status == PaymentStatus::Registered {
                self.open_total += p.amount;
            }
        }
        for m in moves {
            match m.kind {
                PaymentStatus::Registered => self.registered_total += m.amount,
                PaymentStatus::Settled => self.settled_total += m.amount,
                PaymentStatus::Voided => self.voided_total += m.amount,
            }
        }
    }

    fn flag(&mut self, delivery_id: &str, problems: Vec<String>) {
        self.mismatches
            .extend(problems.into_iter().map(|problem| Mismatch {
                delivery_id: delivery_id.to_owned(),
                problem,
            }));
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "window: {}", self.window)?;
        writeln!(f, "deliveries: {}", self.deliveries)?;
        for (status, count) in &self.by_status {
            writeln!(f, "  {status}: {count}")?;
        }
        writeln!(
            f,
            "ended before Temporal's retention (no workflow): {}",
            self.past_retention
        )?;
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

/// Checks the deliveries `settings` select: the window from the state file or `--since`,
/// else the whole history. A complete run records its start in the state file, mismatches
/// or not (they are in its report and its exit code; the next run starts after them).
pub async fn check(settings: &Settings) -> Result<Report, CheckError> {
    let started = Utc::now();
    let last_run = match &settings.scope.state_file {
        Some(path) => window::read_state(path)?,
        None => None,
    };
    let window = Window::starting(
        started,
        settings.scope.since,
        settings.scope.overlap,
        last_run,
    );
    let report = check_window(settings, window).await?;
    if let Some(path) = &settings.scope.state_file {
        window::write_state(path, started)?;
    }
    Ok(report)
}

/// Reads the three records of the deliveries in `window` and checks them against each other.
pub async fn check_window(settings: &Settings, window: Window) -> Result<Report, CheckError> {
    let client = workflows::client::connect_with(&settings.temporal, None, false).await?;
    let mut run = Run {
        temporal: Temporal::new(client, &settings.queue.task_queue),
        records: Records::open(
            &settings.ledger.database_url,
            &settings.readmodel.database_url,
        )
        .await?,
        window,
        now: Utc::now(),
        retention: settings.scope.retention,
        report: Report::new(window),
    };

    // The workflows Temporal lists for the window, a page at a time.
    let query = run.temporal.query(&window);
    let mut token = Vec::new();
    loop {
        let (page, next) = run.temporal.page(&query, token).await?;
        let ids: Vec<String> = page.iter().map(|wf| wf.delivery_id.clone()).collect();
        let batch = run.records.batch(&ids).await?;
        for listed in page {
            // Visibility can trail Temporal's own records (a step just finished, its search
            // attributes not indexed yet): a disagreement is judged on those.
            let wf = match Run::problems(&listed, &batch).is_empty() {
                true => listed,
                false => run
                    .temporal
                    .describe(&listed.delivery_id)
                    .await?
                    .unwrap_or(listed),
            };
            run.check_workflow(&wf, &batch);
        }
        if next.is_empty() {
            break;
        }
        token = next;
    }

    // Money that moved in the window, for deliveries the listing did not include.
    let mut after = None;
    loop {
        let page = run.records.moved(window.start(), after).await?;
        run.check_unlisted(&page.ids, false).await?;
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }

    // List rows written in the window, but for those whose money moved in it (done above).
    let mut after = None;
    loop {
        let page = run.records.listed(window.start(), after).await?;
        run.check_unlisted(&page.ids, true).await?;
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }

    let mut report = run.report;
    // The book itself: every account sums right, and each movement booked in the window (the
    // payouts, invoices and adjustments too) is what its document says.
    let ledger = payment::Ledger::connect(&settings.ledger.database_url).await?;
    for finding in ledger.audit(window.start()).await? {
        report.mismatches.push(Mismatch {
            delivery_id: finding.subject,
            problem: finding.problem,
        });
    }
    if report.registered_total != report.settled_total + report.voided_total + report.open_total {
        report.mismatches.push(Mismatch {
            delivery_id: "(totals)".into(),
            problem: "registered != settled + voided + open".into(),
        });
    }
    // A list row rewritten while the run paged may come twice.
    report.mismatches.sort();
    report.mismatches.dedup();
    Ok(report)
}

/// One run's connections, window and findings.
struct Run {
    temporal: Temporal,
    records: Records,
    window: Window,
    now: DateTime<Utc>,
    retention: Option<Duration>,
    report: Report,
}

impl Run {
    fn check_workflow(&mut self, wf: &WorkflowRecord, batch: &Batch) {
        let id = &wf.delivery_id;
        let payment = batch.payments.get(id);
        let moves = batch
            .movements
            .get(id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let label = match wf.execution {
            WorkflowExecutionStatus::Running => {
                format!("Running/{}", wf.status.as_deref().unwrap_or("?"))
            }
            _ => wf
                .status
                .clone()
                .unwrap_or_else(|| format!("{:?}", wf.execution)),
        };
        *self.report.by_status.entry(label).or_default() += 1;
        self.report.deliveries += 1;
        self.report.account(payment, moves);
        self.report.flag(id, Self::problems(wf, batch));
    }

    /// What the rules find wrong with the delivery of `wf`, by the records in `batch`.
    fn problems(wf: &WorkflowRecord, batch: &Batch) -> Vec<String> {
        let id = &wf.delivery_id;
        let moves = batch
            .movements
            .get(id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        rules::check_delivery(wf, batch.payments.get(id), moves, batch.rows.get(id))
    }

    /// Checks those of `ids` (from the ledger or the list) whose workflow the listing did not
    /// include; with `skip_moved`, not those whose money moved in the window either.
    async fn check_unlisted(&mut self, ids: &[String], skip_moved: bool) -> Result<(), CheckError> {
        let batch = self.records.batch(ids).await?;
        let window = self.window;
        let ids: Vec<String> = ids
            .iter()
            .filter(|id| {
                !(skip_moved
                    && batch
                        .movements
                        .get(*id)
                        .is_some_and(|moves| moves.iter().any(|m| window.contains(m.at))))
            })
            .cloned()
            .collect();
        let found = self.temporal.lookup(&ids).await?;
        for id in &ids {
            if let Some(wf) = found.get(id) {
                if !self.temporal.listed_in(wf, &window) {
                    self.check_workflow(wf, &batch);
                }
                continue;
            }
            let payment = batch.payments.get(id);
            let moves = batch
                .movements
                .get(id)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let retention = self.retention().await?;
            let problems = rules::check_without_workflow(
                payment,
                moves,
                batch.rows.get(id),
                self.now,
                retention,
            );
            if problems.is_empty() {
                self.report.past_retention += 1;
                self.report.account(payment, moves);
                continue;
            }
            // Visibility can trail Temporal's own records (a run just started): ask those.
            match self.temporal.describe(id).await? {
                Some(wf) if self.temporal.listed_in(&wf, &window) => {}
                Some(wf) => self.check_workflow(&wf, &batch),
                None => {
                    self.report.account(payment, moves);
                    self.report.flag(id, problems);
                }
            }
        }
        Ok(())
    }

    /// The retention setting, else the namespace's, asked once.
    async fn retention(&mut self) -> Result<Duration, CheckError> {
        if let Some(retention) = self.retention {
            return Ok(retention);
        }
        let retention = self.temporal.retention().await?;
        self.retention = Some(retention);
        Ok(retention)
    }
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
            "DELIVERY_CHECK_SINCE",
            "DELIVERY_CHECK_STATE_FILE",
            "DELIVERY_CHECK_OVERLAP",
            "DELIVERY_CHECK_RETENTION",
        ] {
            assert!(vars.iter().any(|v| v == var), "{var}");
        }
    }

    #[test]
    fn by_default_a_run_covers_the_whole_history_and_since_narrows_it() {
        let settings: Settings = config::defaults();
        assert_eq!(settings.scope.since, None);
        assert_eq!(settings.scope.state_file, None);
        assert_eq!(settings.scope.overlap, Duration::from_secs(300));
        let settings: Settings =
            config::try_parse_from(["delivery-check", "--since", "1h", "--retention", "3d"])
                .unwrap();
        assert_eq!(settings.scope.since, Some(Duration::from_secs(3600)));
        assert_eq!(
            settings.scope.retention,
            Some(Duration::from_secs(3 * 86_400))
        );
        assert!(config::try_parse_from::<Settings>(["delivery-check", "--since", "1"]).is_err());
    }
}
