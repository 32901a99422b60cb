//! Parked deliveries: what many open calls that nobody picks up cost the stack.
//!
//! [`run`] drives a few probe deliveries end to end, one after another, on the idle stack
//! (the same flow over HTTP as [`crate::run`], after one unmeasured warm-up delivery); then parks many calls (`POST /deliveries`
//! only, from restaurants `park-<n % 50>`), each leaving a workflow waiting for a pickup; then
//! drives as many probes again. Every account it acts as is made and signed in first, before
//! anything is measured (see [`crate::run`]). The report sets the loaded probes' call → settled latency beside the
//! idle ones and each process's resident memory before and after parking: the two figures
//! the requirement bounds (with 5,000 parked, worker RSS ≤ 100 MB and a new delivery within
//! 2× of the idle latency).
//!
//! Parked deliveries stay open until their pickup deadline cancels them (the API's
//! `DELIVERY_PICKUP_DEADLINE_SECS`, 30 minutes by default): a parking run longer than that
//! measures fewer parked deliveries than it made, which the report's sample of parked
//! statuses shows.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use serde::Serialize;

use crate::{
    Credentials, Dispatch, Load, Percentiles, Plan, Report, Rider, Tokens, accounts::SignedIn,
};

/// Restaurants the parked calls are spread over: call `n` is restaurant `park-<n % 50>`'s.
const PARK_RESTAURANTS: usize = 50;

/// How many parked deliveries the report looks up after the loaded probe.
const SAMPLE: usize = 10;

/// The step whose latency the probes compare.
const PROBE_STEP: &str = "call_to_settled";

/// One parked-deliveries measurement.
#[derive(Debug, Clone)]
pub struct ParkPlan {
    pub api: String,
    /// Calls to park.
    pub parked: usize,
    /// Calls in flight at a time while parking.
    pub concurrency: usize,
    /// Deliveries driven end to end before parking, and again after.
    pub probes: usize,
    /// The pause between parking and the loaded probe, so the probe measures the parked
    /// stack rather than the last calls' workflow tasks still running.
    pub settle: Duration,
    /// How long one call or one probe delivery may take before it counts as an error.
    pub timeout: Duration,
    /// The operator account that makes and signs in the restaurants and riders.
    pub operator: Credentials,
}

/// What a parked-deliveries measurement found.
#[derive(Debug, Clone, Serialize)]
pub struct ParkReport {
    /// Calls made while parking.
    pub requested: usize,
    /// Calls answered 201 or 202: deliveries left waiting for a pickup.
    pub parked: usize,
    pub parking_seconds: f64,
    pub parking_calls_per_second: f64,
    /// Failed parking calls by kind.
    pub parking_errors: BTreeMap<String, usize>,
    /// Call → settled of the probes on the idle stack, in milliseconds.
    pub idle_probe_ms: Percentiles,
    /// Call → settled of the probes with the calls parked, in milliseconds.
    pub loaded_probe_ms: Percentiles,
    /// Loaded p50 ÷ idle p50; `None` when either probe settled no delivery.
    pub p50_ratio: Option<f64>,
    /// Loaded p95 ÷ idle p95; `None` when either probe settled no delivery.
    pub p95_ratio: Option<f64>,
    /// Probe deliveries (idle and loaded) that did not settle.
    pub probe_failures: usize,
    /// Each process of the stack, before and after parking.
    pub processes: Vec<ParkedProcess>,
    /// The delivery-list status of up to ten parked deliveries, oldest first among them,
    /// looked up after the loaded probe: all `Called` unless a pickup deadline or someone
    /// else closed them (`not listed` when the list has no row).
    pub parked_sample: BTreeMap<String, usize>,
    /// The three phases' own reports (steps, errors, processes).
    pub phases: Phases,
}

/// The phases of a parked-deliveries measurement, in order.
#[derive(Debug, Clone, Serialize)]
pub struct Phases {
    pub idle_probe: Report,
    pub parking: Report,
    pub loaded_probe: Report,
}

/// A process of the stack, around parking.
#[derive(Debug, Clone, Serialize)]
pub struct ParkedProcess {
    pub name: String,
    pub pid: u32,
    /// Resident set when the idle probe ended, before parking (`VmRSS`).
    pub idle_rss_mb: f64,
    /// Resident set when parking ended (`VmRSS`).
    pub rss_mb: f64,
    /// Highest resident set of the process's life, read when parking ended (`VmHWM`).
    pub peak_rss_mb: f64,
    /// CPU seconds spent while parking.
    pub cpu_seconds: f64,
    /// Resident growth over parking per parked delivery, in KiB; `None` when none parked.
    pub kb_per_parked: Option<f64>,
}

/// Probes the idle stack, parks `plan.parked` calls, probes again; measures the processes in
/// `watch` (name, pid) throughout. Failed calls and probes are counted in the report.
pub async fn run(plan: &ParkPlan, watch: &[(String, u32)]) -> anyhow::Result<ParkReport> {
    let http = crate::http_client()?;
    let api = Arc::new(plan.api.clone());
    // Every account first: the warm-up's, the probes' (idle, then loaded), the parking ones.
    let restaurants = std::iter::once("probe-warm-up".to_owned())
        .chain((0..2 * plan.probes).map(|n| format!("probe-{n}")))
        .chain((0..plan.parked.min(PARK_RESTAURANTS)).map(|n| format!("park-{n}")))
        .map(|id| crate::accounts::Restaurant {
            id,
            dispatch: Dispatch::Broadcast,
        });
    let riders = (0..plan.probes.max(1)).map(crate::rider_of);
    let signed_in =
        crate::accounts::sign_in(&http, &plan.api, &plan.operator, restaurants, riders).await?;

    // A fresh stack's first delivery pays for connections and caches: not a probe's business.
    let unmeasured = crate::Recorder::default();
    let warm_up_tokens = Tokens {
        restaurant: signed_in.token("probe-warm-up"),
        rider: Rider::Fixed(signed_in.token(&crate::rider_of(0))),
    };
    let warm_up = crate::delivery(&http, &api, &warm_up_tokens, &unmeasured);
    match tokio::time::timeout(plan.timeout, warm_up).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => eprintln!("warm-up delivery failed: {e}"),
        Err(_) => eprintln!("warm-up delivery timed out"),
    }
    eprintln!("idle probe: {} deliveries end to end", plan.probes);
    let idle_probe = probe(plan, "idle probe", &http, &api, &signed_in, 0, watch).await?;

    eprintln!(
        "parking {} calls at concurrency {}",
        plan.parked, plan.concurrency
    );
    let ids = Arc::new(Mutex::new(Vec::with_capacity(plan.parked)));
    let done = Arc::new(AtomicUsize::new(0));
    let progress = tokio::spawn({
        let (done, total) = (done.clone(), plan.parked);
        async move {
            let mut every = tokio::time::interval(Duration::from_secs(10));
            every.tick().await;
            loop {
                every.tick().await;
                eprintln!("parked {}/{total}", done.load(Ordering::Relaxed));
            }
        }
    });
    let parking = Plan {
        api: plan.api.clone(),
        deliveries: plan.parked,
        load: Load::Concurrency(plan.concurrency),
        dispatch: Dispatch::Broadcast,
        timeout: plan.timeout,
        operator: plan.operator.clone(),
    };
    let mode = format!("parking, concurrency {}", plan.concurrency);
    let parking = crate::drive(&parking, mode, watch, {
        let (http, api, ids) = (http.clone(), api.clone(), ids.clone());
        let signed_in = signed_in.clone();
        move |i, recorder| {
            let (http, api, ids, done) = (http.clone(), api.clone(), ids.clone(), done.clone());
            let restaurant = signed_in.token(&format!("park-{}", i % PARK_RESTAURANTS));
            async move {
                let id = crate::call(&http, &api, &restaurant, &recorder).await?;
                lock(&ids).push((i, id));
                done.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
        }
    })
    .await;
    progress.abort();
    let parking = parking?;

    tokio::time::sleep(plan.settle).await;
    eprintln!("loaded probe: {} deliveries end to end", plan.probes);
    let loaded_probe = probe(
        plan,
        "loaded probe",
        &http,
        &api,
        &signed_in,
        plan.probes,
        watch,
    )
    .await?;

    let mut ids = std::mem::take(&mut *lock(&ids));
    ids.sort_unstable();
    let parked_sample = sample_statuses(&http, &api, &signed_in.operator, &ids).await;
    Ok(ParkReport::new(
        idle_probe,
        parking,
        loaded_probe,
        parked_sample,
    ))
}

/// `plan.probes` deliveries end to end, one at a time, restaurants `probe-<n>` from `first`.
async fn probe(
    plan: &ParkPlan,
    mode: &str,
    http: &reqwest::Client,
    api: &Arc<String>,
    signed_in: &SignedIn,
    first: usize,
    watch: &[(String, u32)],
) -> Result<Report, tokio::task::JoinError> {
    let probes = Plan {
        api: plan.api.clone(),
        deliveries: plan.probes,
        load: Load::Concurrency(1),
        dispatch: Dispatch::Broadcast,
        timeout: plan.timeout,
        operator: plan.operator.clone(),
    };
    crate::drive(&probes, mode.to_owned(), watch, |i, recorder| {
        let (http, api) = (http.clone(), api.clone());
        let tokens = Tokens {
            restaurant: signed_in.token(&format!("probe-{}", first + i)),
            rider: Rider::Fixed(signed_in.token(&crate::rider_of(i))),
        };
        async move { crate::delivery(&http, &api, &tokens, &recorder).await }
    })
    .await
}

/// The delivery-list statuses of up to [`SAMPLE`] of `ids` (sorted by parking order), spread
/// evenly from the first parked, which is the nearest to its pickup deadline; read as the
/// operator (`operator`, its token), who sees every restaurant's rows.
async fn sample_statuses(
    http: &reqwest::Client,
    api: &str,
    operator: &str,
    ids: &[(usize, String)],
) -> BTreeMap<String, usize> {
    let mut statuses = BTreeMap::new();
    let every = ids.len().div_ceil(SAMPLE).max(1);
    for (_, id) in ids.iter().step_by(every) {
        let url = format!("{api}/delivery-list/{id}");
        let status = match crate::get(http, &url, operator).await {
            Ok(row) => row["status"].as_str().unwrap_or("not listed").to_owned(),
            Err(kind) => kind,
        };
        *statuses.entry(status).or_default() += 1;
    }
    statuses
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ParkReport {
    fn new(
        idle_probe: Report,
        parking: Report,
        loaded_probe: Report,
        parked_sample: BTreeMap<String, usize>,
    ) -> Self {
        let settled = |r: &Report| {
            r.latency_ms
                .get(PROBE_STEP)
                .cloned()
                .unwrap_or_else(|| crate::percentiles(&[]))
        };
        let (idle, loaded) = (settled(&idle_probe), settled(&loaded_probe));
        let ratio = |of: fn(&Percentiles) -> f64| {
            (idle.count > 0 && loaded.count > 0 && of(&idle) > 0.0).then(|| of(&loaded) / of(&idle))
        };
        let unsettled = |r: &Report| r.deliveries - r.completed;
        let parked = parking.completed;
        let processes = parking
            .processes
            .iter()
            .map(|p| {
                let idle_rss_mb = idle_probe
                    .processes
                    .iter()
                    .find(|q| q.pid == p.pid)
                    .map_or(0.0, |q| q.rss_mb);
                ParkedProcess {
                    name: p.name.clone(),
                    pid: p.pid,
                    idle_rss_mb,
                    rss_mb: p.rss_mb,
                    peak_rss_mb: p.peak_rss_mb,
                    cpu_seconds: p.cpu_seconds,
                    kb_per_parked: (parked > 0)
                        .then(|| (p.rss_mb - idle_rss_mb) * 1024.0 / parked as f64),
                }
            })
            .collect();
        Self {
            requested: parking.deliveries,
            parked,
            parking_seconds: parking.seconds,
            parking_calls_per_second: parking.deliveries_per_second,
            parking_errors: parking.errors.clone(),
            p50_ratio: ratio(|p| p.p50),
            p95_ratio: ratio(|p| p.p95),
            idle_probe_ms: idle,
            loaded_probe_ms: loaded,
            probe_failures: unsettled(&idle_probe) + unsettled(&loaded_probe),
            processes,
            parked_sample,
            phases: Phases {
                idle_probe,
                parking,
                loaded_probe,
            },
        }
    }
}

impl std::fmt::Display for ParkReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let errors = |e: &BTreeMap<String, usize>| match e.is_empty() {
            true => "none".to_owned(),
            false => format!("{e:?}"),
        };
        writeln!(
            f,
            "{}: {}/{} calls parked in {:.1} s = {:.1} calls/s; errors: {}",
            self.phases.parking.mode,
            self.parked,
            self.requested,
            self.parking_seconds,
            self.parking_calls_per_second,
            errors(&self.parking_errors)
        )?;
        if let Some(call) = self.phases.parking.latency_ms.get("call") {
            writeln!(
                f,
                "parking call (ms): p50 {:.1}  p95 {:.1}  p99 {:.1}  max {:.1}",
                call.p50, call.p95, call.p99, call.max
            )?;
        }
        writeln!(
            f,
            "{:<22} {:>6} {:>9} {:>9} {:>9} {:>9}",
            "call → settled (ms)", "count", "p50", "p95", "p99", "max"
        )?;
        for (name, p, run) in [
            ("idle probe", &self.idle_probe_ms, &self.phases.idle_probe),
            (
                "loaded probe",
                &self.loaded_probe_ms,
                &self.phases.loaded_probe,
            ),
        ] {
            writeln!(
                f,
                "{name:<22} {:>6} {:>9.1} {:>9.1} {:>9.1} {:>9.1}  errors: {}",
                p.count,
                p.p50,
                p.p95,
                p.p99,
                p.max,
                errors(&run.errors)
            )?;
        }
        let ratio = |r: Option<f64>| r.map_or("-".to_owned(), |r| format!("{r:.2}×"));
        writeln!(
            f,
            "{:<22} {:>6} {:>9} {:>9}",
            "loaded ÷ idle",
            "",
            ratio(self.p50_ratio),
            ratio(self.p95_ratio)
        )?;
        writeln!(
            f,
            "{:<16} {:>7} {:>12} {:>12} {:>12} {:>10} {:>11}",
            "process", "pid", "idle rss MB", "rss MB", "peak rss MB", "cpu s", "KiB/parked"
        )?;
        for p in &self.processes {
            writeln!(
                f,
                "{:<16} {:>7} {:>12.1} {:>12.1} {:>12.1} {:>10.2} {:>11}",
                p.name,
                p.pid,
                p.idle_rss_mb,
                p.rss_mb,
                p.peak_rss_mb,
                p.cpu_seconds,
                p.kb_per_parked
                    .map_or("-".to_owned(), |k| format!("{k:.1}"))
            )?;
        }
        writeln!(
            f,
            "(rss and peak rss when parking ended; cpu s while parking)"
        )?;
        writeln!(
            f,
            "parked deliveries sampled after the loaded probe: {:?}",
            self.parked_sample
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ProcessUsage;

    fn phase(deliveries: usize, completed: usize, settled_ms: &[f64], rss_mb: f64) -> Report {
        Report {
            mode: "test".into(),
            deliveries,
            completed,
            seconds: 2.0,
            deliveries_per_second: completed as f64 / 2.0,
            latency_ms: BTreeMap::from([(PROBE_STEP.to_owned(), crate::percentiles(settled_ms))]),
            errors: BTreeMap::new(),
            answers: BTreeMap::new(),
            reached: BTreeMap::new(),
            unsettled: Vec::new(),
            processes: vec![ProcessUsage {
                name: "delivery-worker".into(),
                pid: 7,
                cpu_seconds: 1.5,
                rss_mb,
                peak_rss_mb: rss_mb + 1.0,
            }],
            ceiling: None,
        }
    }

    #[test]
    fn the_ratios_compare_loaded_with_idle_probes_and_memory_growth_is_per_parked_call() {
        let report = ParkReport::new(
            phase(2, 2, &[100.0, 200.0], 40.0),
            phase(1024, 1024, &[], 50.0),
            phase(2, 2, &[150.0, 500.0], 51.0),
            BTreeMap::new(),
        );
        assert_eq!(report.p50_ratio, Some(1.5));
        assert_eq!(report.p95_ratio, Some(2.5));
        assert_eq!(report.probe_failures, 0);
        assert_eq!(report.parked, 1024);
        let worker = &report.processes[0];
        assert_eq!((worker.idle_rss_mb, worker.rss_mb), (40.0, 50.0));
        assert_eq!(worker.kb_per_parked, Some(10.0));
    }

    #[test]
    fn a_probe_that_settled_nothing_has_no_ratio_and_counts_as_failed() {
        let report = ParkReport::new(
            phase(2, 2, &[100.0, 200.0], 40.0),
            phase(0, 0, &[], 40.0),
            phase(2, 0, &[], 40.0),
            BTreeMap::new(),
        );
        assert_eq!(report.p50_ratio, None);
        assert_eq!(report.probe_failures, 2);
        assert_eq!(report.processes[0].kb_per_parked, None);
    }
}
