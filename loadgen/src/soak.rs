//! `loadgen soak`: deliveries at a fixed rate for a long time while a part of the run command's
//! stack is SIGKILLed at random every interval; nothing may be lost and nothing paid twice.
//!
//! The deliveries are the load test's flow ([`crate::run`]: call → pickup → complete → the
//! payment `Settled` and the delivery list `Completed`), arriving on a ticker (open model) and
//! meeting the kills as a persistent client would: a request
//! that gets no answer, a 5xx or a 429 is sent again after a pause, the call with the same
//! `Idempotency-Key`, so a call sent again never makes a second delivery.
//!
//! The kills: every `kill_every` (the first one interval after the arrivals start, the last
//! before they end) the next [`Part`] of a random order is SIGKILLed; each round of the order
//! holds every part once, and a part is never killed twice in a row. A part is found by the
//! pid file its supervisor (`infra/supervise.sh`) keeps beside its log, `<data
//! dir>/logs/<part>.pid`, and only killed when that pid is a process of that name; a part that
//! is down at its turn (still restarting) is skipped and reported. The supervisor restarts it;
//! the report says how soon (a new pid in the file).
//!
//! Then the soak waits for every delivery (each bounded by `settle_timeout` from its arrival),
//! and runs the invariant checker (`delivery-check`, beside this binary) on the stack's three
//! records. It fails when a delivery that arrived did not settle, or the checker finds a
//! mismatch (a payment registered or settled twice among them).

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use serde::Serialize;

use crate::{Credentials, Load, Plan, Report, Settings, SoakSettings};

/// A process of the run command's stack that a soak may kill: the name its supervisor gives it,
/// which is also its command name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Part {
    /// The Temporal dev server (its state is a SQLite file: it survives the kill).
    #[value(name = "temporal")]
    Temporal,
    #[value(name = "payment-service")]
    Payment,
    #[value(name = "delivery-worker")]
    Worker,
    #[value(name = "delivery-api")]
    Api,
}

impl Part {
    pub fn name(self) -> &'static str {
        match self {
            Part::Temporal => "temporal",
            Part::Payment => "payment-service",
            Part::Worker => "delivery-worker",
            Part::Api => "delivery-api",
        }
    }
}

impl std::fmt::Display for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One soak's parameters.
#[derive(Debug, Clone)]
pub struct SoakPlan {
    pub api: String,
    pub operator: Credentials,
    /// New deliveries per second.
    pub rate: f64,
    /// How long deliveries arrive.
    pub duration: Duration,
    pub kill_every: Duration,
    /// The parts that may be killed.
    pub parts: Vec<Part>,
    /// Seed of the kill order.
    pub seed: u64,
    /// How long a delivery may take from its arrival to settled.
    pub settle_timeout: Duration,
    /// Where the supervisor keeps the parts' pid files (`<data dir>/logs`).
    pub pid_dir: PathBuf,
    /// How to run the invariant checker on the stack's records.
    pub checker: CheckerCommand,
}

impl SoakPlan {
    /// The soak of `soak`, against the API, operator and Temporal server of `settings`.
    pub fn new(settings: &Settings, soak: &SoakSettings) -> Self {
        let data = &soak.data_dir;
        let sqlite = |file: &str| format!("sqlite://{}?mode=rwc", data.join(file).display());
        // As the run command: its data directory's keys unless the variable names others.
        let codec = &settings.temporal.codec.keys_dir;
        let codec_keys_dir = if codec == Path::new(workflows::client::DEFAULT_CODEC_KEYS_DIR) {
            data.join("codec-keys")
        } else {
            codec.clone()
        };
        let seed = soak.seed.unwrap_or_else(clock_seed);
        Self {
            api: settings.api.clone(),
            operator: Credentials::new(settings.operator.clone(), settings.operator_secret.clone()),
            rate: soak.rate,
            duration: soak.duration,
            kill_every: soak.kill_every,
            parts: soak.kill.clone(),
            seed,
            settle_timeout: soak.settle_timeout,
            pid_dir: data.join("logs"),
            checker: CheckerCommand {
                program: soak.checker.clone().unwrap_or_else(beside_me),
                temporal_address: settings.temporal.address.clone(),
                temporal_namespace: settings.temporal.namespace.clone(),
                codec_keys_dir,
                payment_database_url: soak
                    .payment_database_url
                    .clone()
                    .unwrap_or_else(|| sqlite("payment.db")),
                readmodel_database_url: soak
                    .readmodel_database_url
                    .clone()
                    .unwrap_or_else(|| sqlite("deliveries.db")),
            },
        }
    }

    /// Deliveries that arrive: `rate` × `duration`, at least one.
    pub fn deliveries(&self) -> usize {
        ((self.rate * self.duration.as_secs_f64()).round() as usize).max(1)
    }
}

/// `delivery-check` beside this binary (both are built together).
fn beside_me() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|me| Some(me.parent()?.join("delivery-check")))
        .unwrap_or_else(|| PathBuf::from("delivery-check"))
}

/// How `delivery-check` is run: the program, and the records it reads, given as the variables
/// the services that write them read.
#[derive(Debug, Clone)]
pub struct CheckerCommand {
    pub program: PathBuf,
    pub temporal_address: Option<String>,
    pub temporal_namespace: Option<String>,
    pub codec_keys_dir: PathBuf,
    pub payment_database_url: String,
    pub readmodel_database_url: String,
}

/// One kill, or one turn skipped because the part was down.
#[derive(Debug, Clone, Serialize)]
pub struct Kill {
    /// Seconds after the arrivals started.
    pub at_s: f64,
    pub part: String,
    /// The pid killed; `None` when the part was not running at its turn (nothing was killed).
    pub pid: Option<u32>,
    /// Seconds from the kill until the supervisor had started it again (a new pid in its pid
    /// file); `None` when that did not happen within a minute.
    pub restarted_after_s: Option<f64>,
}

/// What the invariant checker said.
#[derive(Debug, Clone, Serialize)]
pub struct CheckerOutcome {
    /// Its exit status: 0 when the records agree, 1 on a mismatch; `None` when it did not run.
    pub exit_code: Option<i32>,
    /// What it printed (its report), or why it could not run.
    pub output: String,
}

/// What a soak measured and found.
#[derive(Debug, Clone, Serialize)]
pub struct SoakReport {
    pub rate: f64,
    pub duration_s: f64,
    pub kill_every_s: f64,
    pub seed: u64,
    /// Deliveries that arrived (calls made).
    pub arrivals: usize,
    /// Deliveries whose call was answered 201 or 202.
    pub started: usize,
    /// Deliveries whose rider's `complete` was answered 200.
    pub completed: usize,
    /// Deliveries seen with the payment `Settled` and the list `Completed`.
    pub settled: usize,
    /// Arrivals that did not settle within the settle timeout.
    pub lost: usize,
    pub kills: Vec<Kill>,
    pub kills_by_part: BTreeMap<String, usize>,
    /// Latencies (retries included), final errors by kind, answers by status, and the ids of
    /// deliveries started but not settled.
    pub run: Report,
    pub checker: CheckerOutcome,
    /// Why the soak failed; empty when it passed.
    pub failures: Vec<String>,
}

impl SoakReport {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Runs the soak of `plan` against a stack of the run command (`./infra/run.sh`).
pub async fn run(plan: &SoakPlan) -> anyhow::Result<SoakReport> {
    for part in &plan.parts {
        if pid_of(&plan.pid_dir, *part).is_none() {
            bail!(
                "no running {part} found by its pid file {}: is ./infra/run.sh running with this \
                 data directory (--data-dir, DATA_DIR)?",
                pid_file(&plan.pid_dir, *part).display()
            );
        }
    }
    if !plan.checker.program.exists() {
        bail!(
            "the checker {} does not exist (build it with `cargo build --bins`, or name it with --checker)",
            plan.checker.program.display()
        );
    }
    let load = Plan {
        api: plan.api.clone(),
        deliveries: plan.deliveries(),
        load: Load::Rate(plan.rate),
        dispatch: crate::Dispatch::Broadcast,
        timeout: plan.settle_timeout,
        operator: plan.operator.clone(),
    };
    let http = crate::http_client()?;
    let signed_in = crate::sign_in(&http, &load).await?;
    eprintln!(
        "soak: {} deliveries at {}/s for {:.0} s, a kill every {:.0} s among {} (seed {})",
        load.deliveries,
        plan.rate,
        plan.duration.as_secs_f64(),
        plan.kill_every.as_secs_f64(),
        plan.parts
            .iter()
            .map(|p| p.name())
            .collect::<Vec<_>>()
            .join(", "),
        plan.seed
    );
    let started = tokio::time::Instant::now();
    let killer = tokio::spawn(kill_at_random(plan.clone(), started));
    // The processes change under the kills: none is measured.
    let run = crate::over_http(&load, &[], &http, signed_in, crate::Patience::Persist).await?;
    let kills = killer.await?;
    eprintln!(
        "soak: deliveries done after {:.1} s; checking the records",
        run.seconds
    );
    let checker = check(&plan.checker).await;

    let reached = |milestone: &str| run.reached.get(milestone).copied().unwrap_or(0);
    let arrivals = load.deliveries;
    let settled = run.completed;
    let mut kills_by_part = BTreeMap::new();
    for kill in kills.iter().filter(|k| k.pid.is_some()) {
        *kills_by_part.entry(kill.part.clone()).or_default() += 1;
    }
    let mut failures = Vec::new();
    if settled < arrivals {
        failures.push(format!(
            "{} of {arrivals} deliveries lost: {} never started, {} started but not settled",
            arrivals - settled,
            arrivals - reached("started"),
            reached("started").saturating_sub(settled)
        ));
    }
    match checker.exit_code {
        Some(0) => {}
        Some(code) => failures.push(format!(
            "the checker found a mismatch (exit {code}): a payment registered or settled twice, or records that disagree"
        )),
        None => failures.push("the checker did not run".to_owned()),
    }
    Ok(SoakReport {
        rate: plan.rate,
        duration_s: plan.duration.as_secs_f64(),
        kill_every_s: plan.kill_every.as_secs_f64(),
        seed: plan.seed,
        arrivals,
        started: reached("started"),
        completed: reached("delivered"),
        settled,
        lost: arrivals - settled.min(arrivals),
        kills,
        kills_by_part,
        run,
        checker,
        failures,
    })
}

/// The kills of `plan`, from `start`: one every `kill_every` while deliveries arrive.
async fn kill_at_random(plan: SoakPlan, start: tokio::time::Instant) -> Vec<Kill> {
    let turns = (1..)
        .map(|k| plan.kill_every * k)
        .take_while(|at| *at < plan.duration)
        .count();
    let order = kill_order(&plan.parts, plan.seed, turns);
    let pid_dir = Arc::new(plan.pid_dir.clone());
    let mut kills = Vec::with_capacity(turns);
    for (k, part) in order.into_iter().enumerate() {
        tokio::time::sleep_until(start + plan.kill_every * (k as u32 + 1)).await;
        let at_s = start.elapsed().as_secs_f64();
        let pid = match pid_of(&pid_dir, part) {
            Some(pid) => match sigkill(pid).await {
                Ok(()) => {
                    eprintln!("soak: {at_s:6.1} s  killed {part} (pid {pid})");
                    Some(pid)
                }
                Err(e) => {
                    eprintln!("soak: {at_s:6.1} s  could not kill {part} (pid {pid}): {e}");
                    None
                }
            },
            None => {
                eprintln!("soak: {at_s:6.1} s  {part} is not running (restarting?): skipped");
                None
            }
        };
        let pid_dir = pid_dir.clone();
        kills.push((
            Kill {
                at_s,
                part: part.name().to_owned(),
                pid,
                restarted_after_s: None,
            },
            tokio::spawn(async move {
                match pid {
                    Some(pid) => restarted(&pid_dir, part, pid, Instant::now()).await,
                    None => None,
                }
            }),
        ));
    }
    let mut done = Vec::with_capacity(kills.len());
    for (mut kill, restart) in kills {
        kill.restarted_after_s = restart.await.ok().flatten();
        done.push(kill);
    }
    done
}

/// Seconds from `killed` until `part` runs again under a pid other than `old`; `None` after a
/// minute.
async fn restarted(pid_dir: &Path, part: Part, old: u32, killed: Instant) -> Option<f64> {
    while killed.elapsed() < Duration::from_secs(60) {
        if pid_of(pid_dir, part).is_some_and(|pid| pid != old) {
            let after = killed.elapsed().as_secs_f64();
            eprintln!("soak: {part} is back ({after:.1} s after the kill)");
            return Some(after);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// The order of `turns` kills among `parts`: rounds that each hold every part once, shuffled
/// by `seed`, and never the same part twice in a row (so no part is killed again before its
/// supervisor's backoff is back to a second).
fn kill_order(parts: &[Part], seed: u64, turns: usize) -> Vec<Part> {
    let mut parts = parts.to_vec();
    parts.sort();
    parts.dedup();
    let mut rng = SplitMix64(seed);
    let mut order: Vec<Part> = Vec::with_capacity(turns);
    while order.len() < turns && !parts.is_empty() {
        let mut round = parts.clone();
        for i in (1..round.len()).rev() {
            round.swap(i, rng.below(i + 1));
        }
        if round.len() > 1 && order.last() == round.first() {
            let last = round.len() - 1;
            round.swap(0, 1 + rng.below(last));
        }
        order.extend(round);
    }
    order.truncate(turns);
    order
}

/// A seed from the clock, for runs not asked to repeat one.
pub(crate) fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// A small seeded generator (SplitMix64): the kill order (and the reads' targets) only need
/// to be varied and repeatable from its seed.
pub(crate) struct SplitMix64(pub(crate) u64);

impl SplitMix64 {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `n` (> 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Where the supervisor of `part` keeps its pid.
fn pid_file(pid_dir: &Path, part: Part) -> PathBuf {
    pid_dir.join(format!("{}.pid", part.name()))
}

/// The pid of `part` if it runs: the one in its pid file, when that is a process of its name
/// (a stale file, or a pid reused by another process, names nothing to kill).
fn pid_of(pid_dir: &Path, part: Part) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(pid_file(pid_dir, part))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    (comm.trim() == part.name()).then_some(pid)
}

async fn sigkill(pid: u32) -> anyhow::Result<()> {
    let status = tokio::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .await
        .context("run kill")?;
    if !status.success() {
        bail!("kill -KILL {pid}: {status}");
    }
    Ok(())
}

/// Runs the checker; a failure to read the records (Temporal still restarting) is tried again
/// for up to a minute.
async fn check(checker: &CheckerCommand) -> CheckerOutcome {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut command = tokio::process::Command::new(&checker.program);
        command
            .env("TEMPORAL_CODEC_KEYS_DIR", &checker.codec_keys_dir)
            .env("PAYMENT_DATABASE_URL", &checker.payment_database_url)
            .env("READMODEL_DATABASE_URL", &checker.readmodel_database_url)
            .env("RUST_BACKTRACE", "0")
            .stdin(std::process::Stdio::null());
        if let Some(address) = &checker.temporal_address {
            command.env("TEMPORAL_ADDRESS", address);
        }
        if let Some(namespace) = &checker.temporal_namespace {
            command.env("TEMPORAL_NAMESPACE", namespace);
        }
        let outcome = match command.output().await {
            Ok(out) => CheckerOutcome {
                exit_code: out.status.code(),
                output: format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
            },
            Err(e) => CheckerOutcome {
                exit_code: None,
                output: format!("could not run {}: {e}", checker.program.display()),
            },
        };
        // 0 and 1 are verdicts; anything else is a checker that could not read the records.
        if matches!(outcome.exit_code, Some(0 | 1)) || Instant::now() > deadline {
            return outcome;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

impl std::fmt::Display for SoakReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "soak: {}/s for {:.0} s, a kill every {:.0} s (seed {})",
            self.rate, self.duration_s, self.kill_every_s, self.seed
        )?;
        writeln!(
            f,
            "deliveries: {} arrived, {} started, {} completed, {} settled, {} lost",
            self.arrivals, self.started, self.completed, self.settled, self.lost
        )?;
        let by_part: Vec<String> = self
            .kills_by_part
            .iter()
            .map(|(part, n)| format!("{part} {n}"))
            .collect();
        writeln!(
            f,
            "kills: {} ({})",
            self.kills_by_part.values().sum::<usize>(),
            by_part.join(", ")
        )?;
        for kill in &self.kills {
            let what = match (kill.pid, kill.restarted_after_s) {
                (Some(pid), Some(after)) => format!("pid {pid}, restarted after {after:.1} s"),
                (Some(pid), None) => format!("pid {pid}, not restarted within a minute"),
                (None, _) => "not running at its turn: skipped".to_owned(),
            };
            writeln!(f, "  {:7.1} s  {:<16} {what}", kill.at_s, kill.part)?;
        }
        write!(f, "{}", self.run)?;
        writeln!(f, "answers:")?;
        for (answer, n) in &self.run.answers {
            writeln!(f, "  {answer:<40} {n:>8}")?;
        }
        if !self.run.unsettled.is_empty() {
            let shown: Vec<&str> = self
                .run
                .unsettled
                .iter()
                .take(20)
                .map(String::as_str)
                .collect();
            writeln!(
                f,
                "started but not settled ({}): {}",
                self.run.unsettled.len(),
                shown.join(" ")
            )?;
        }
        writeln!(
            f,
            "delivery-check (exit {}):",
            self.checker
                .exit_code
                .map_or("none".to_owned(), |c| c.to_string())
        )?;
        for line in self.checker.output.lines() {
            writeln!(f, "  {line}")?;
        }
        if self.passed() {
            writeln!(
                f,
                "soak passed: nothing lost, nothing paid twice, the checker agrees"
            )
        } else {
            for failure in &self.failures {
                writeln!(f, "FAILED: {failure}")?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Part; 4] = [Part::Temporal, Part::Payment, Part::Worker, Part::Api];

    #[test]
    fn every_round_of_the_kill_order_kills_each_part_once_and_none_twice_in_a_row() {
        for seed in 0..200 {
            let order = kill_order(&ALL, seed, 19);
            assert_eq!(order.len(), 19);
            for round in order.chunks(4) {
                let mut parts = round.to_vec();
                parts.sort();
                parts.dedup();
                assert_eq!(parts.len(), round.len(), "seed {seed}: {order:?}");
            }
            assert!(
                order.windows(2).all(|w| w[0] != w[1]),
                "seed {seed}: {order:?}"
            );
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_kill_order_and_another_seed_another() {
        assert_eq!(kill_order(&ALL, 7, 12), kill_order(&ALL, 7, 12));
        let orders: std::collections::BTreeSet<Vec<Part>> =
            (0..20).map(|seed| kill_order(&ALL, seed, 12)).collect();
        assert!(orders.len() > 10, "{orders:?}");
    }

    #[test]
    fn one_part_is_killed_at_every_turn() {
        assert_eq!(kill_order(&[Part::Worker], 3, 3), [Part::Worker; 3]);
        assert!(kill_order(&[], 3, 3).is_empty());
    }

    #[test]
    fn a_pid_file_naming_a_process_of_another_name_names_nothing_to_kill() {
        let dir = std::env::temp_dir().join(format!("loadgen-soak-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        // This test's own pid: alive, but not a delivery-api.
        std::fs::write(pid_file(&dir, Part::Api), std::process::id().to_string()).unwrap();
        assert_eq!(pid_of(&dir, Part::Api), None);
        assert_eq!(pid_of(&dir, Part::Worker), None, "no pid file");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_arrivals_are_the_rate_times_the_duration() {
        let settings: Settings = config::defaults();
        let soak = SoakSettings {
            rate: 20.0,
            duration: Duration::from_secs(600),
            ..soak_defaults()
        };
        let plan = SoakPlan::new(&settings, &soak);
        assert_eq!(plan.deliveries(), 12_000);
        assert_eq!(plan.pid_dir, PathBuf::from(".data/logs"));
        assert_eq!(
            plan.checker.codec_keys_dir,
            PathBuf::from(".data/codec-keys")
        );
        assert_eq!(
            plan.checker.payment_database_url,
            "sqlite://.data/payment.db?mode=rwc"
        );
    }

    fn soak_defaults() -> SoakSettings {
        SoakSettings {
            rate: 1.0,
            duration: Duration::from_secs(60),
            kill_every: Duration::from_secs(30),
            kill: ALL.to_vec(),
            seed: Some(1),
            settle_timeout: Duration::from_secs(120),
            data_dir: PathBuf::from(".data"),
            checker: None,
            payment_database_url: None,
            readmodel_database_url: None,
        }
    }
}
