//! The load generator: drives call → pickup → complete → settled over the public HTTP API,
//! at a fixed concurrency (closed model) or a fixed arrival rate (open model, so latency
//! under a given load is honest), and reports deliveries/s, latency percentiles per step,
//! errors by kind, and the CPU seconds and resident memory of each process of the stack.
//!
//! Every request is signed in ([`accounts`]): before a run, the operator of [`Plan::operator`]
//! makes the restaurant (`load-<i % 50>`) and rider (`load-rider-<i % 100>`) accounts the run acts
//! as and each signs in; restaurants call and read their deliveries, riders pick up and
//! complete. That setup is not part of the measured time.
//!
//! With [`Dispatch::Offer`] the restaurants (`load-offer-<i % 50>`, in a zone of their own)
//! offer each call to one rider at a time: a delivery waits for its offer, and the rider it
//! names accepts, picks up and completes.
//!
//! [`park`] parks many calls that nobody picks up and measures what they cost: resident
//! memory, and a new delivery's latency beside the idle stack's.
//!
//! [`ceiling`] drives the same number of deliveries under the same load against a no-op
//! workflow of the same client-visible shape on the same Temporal server, so a report can
//! state its throughput as a fraction of what the server itself sustains ([`Ceiling`]).
//!
//! [`soak`] drives the same flow at a fixed rate for a long time while a part of the run
//! command's stack is SIGKILLed at random at a fixed interval, retrying what the kills cause,
//! and ends with the invariant checker: nothing lost, nothing paid twice.

mod accounts;
pub mod ceiling;
pub mod park;
pub mod reads;
mod settings;
pub mod soak;

pub use accounts::Credentials;
pub use settings::{Command, Settings, SoakSettings};

use std::{
    collections::{BTreeMap, BTreeSet},
    future::Future,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde::Serialize;
use serde_json::{Value, json};

/// How deliveries arrive.
#[derive(Debug, Clone, Copy)]
pub enum Load {
    /// `n` deliveries in flight at all times.
    Concurrency(usize),
    /// A new delivery every `1/r` seconds, however long the others take.
    Rate(f64),
}

/// How the run's restaurants dispatch their calls (their `dispatchMode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Dispatch {
    /// Every rider sees the call; delivery `i`'s rider picks it up.
    #[default]
    Broadcast,
    /// The workflow offers the call to one rider at a time; the rider it names accepts.
    Offer,
}

impl Dispatch {
    /// The restaurants' `dispatchMode`.
    fn mode(self) -> &'static str {
        match self {
            Dispatch::Broadcast => "broadcast",
            Dispatch::Offer => "offer",
        }
    }

    /// The restaurants' zone. In offer mode one no demo rider works in (their offers would
    /// wait out their timeout), while the run's riders work in every zone.
    fn zone(self) -> &'static str {
        match self {
            Dispatch::Broadcast => "gangnam",
            Dispatch::Offer => "loadgen",
        }
    }
}

/// One run's parameters.
#[derive(Debug, Clone)]
pub struct Plan {
    pub api: String,
    pub deliveries: usize,
    pub load: Load,
    pub dispatch: Dispatch,
    /// How long one delivery may take end to end before it counts as an error.
    pub timeout: Duration,
    /// The operator account that makes and signs in the run's restaurants and riders (the
    /// ceiling mode, which does not use the API, ignores it).
    pub operator: Credentials,
}

/// Restaurants a run spreads its calls over: delivery `i` is restaurant `load-<i % 50>`'s.
const RESTAURANTS: usize = 50;

/// Riders a run spreads its deliveries over: delivery `i` is rider `load-rider-<i % 100>`'s (never a demo account, whose secret a run would rotate).
const RIDERS: usize = 100;

/// The rider of delivery `i` of a run, a probe or the warm-up.
fn rider_of(i: usize) -> String {
    format!("load-rider-{}", i % RIDERS)
}

/// Latency percentiles of one step, in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Percentiles {
    pub count: usize,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

/// A process of the stack, measured over the run.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessUsage {
    pub name: String,
    pub pid: u32,
    pub cpu_seconds: f64,
    /// Resident set when the run ended (`VmRSS`).
    pub rss_mb: f64,
    /// Highest resident set of the process's life so far (`VmHWM`).
    pub peak_rss_mb: f64,
}

/// What a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub mode: String,
    pub deliveries: usize,
    pub completed: usize,
    pub seconds: f64,
    pub deliveries_per_second: f64,
    /// Per step: `call`, `pickup`, `complete`, and `call_to_settled` over HTTP; `start`,
    /// `pickup`, `complete` and `start_to_done` in a ceiling run.
    pub latency_ms: BTreeMap<String, Percentiles>,
    pub errors: BTreeMap<String, usize>,
    /// Over HTTP: every answer by step and status (`call 201`, `pickup 503`), and every request
    /// that got none by step and kind (`call transport: connect`); steps `call`, `pickup`,
    /// `complete`, and the polls `payment` and `delivery-list`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub answers: BTreeMap<String, usize>,
    /// Over HTTP: how many deliveries got how far: `started` (the call answered 201 or 202),
    /// `delivered` (the rider's `complete` answered 200) and `settled` (as `completed`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub reached: BTreeMap<String, usize>,
    /// Soak runs: the ids of deliveries that were started but not seen settled (other runs do
    /// not list them: a `--park` run leaves thousands open on purpose).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unsettled: Vec<String>,
    pub processes: Vec<ProcessUsage>,
    /// The ceiling run measured after this one on the same server (`--ceiling`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ceiling: Option<Box<Ceiling>>,
}

/// A ceiling run beside the run it bounds.
#[derive(Debug, Clone, Serialize)]
pub struct Ceiling {
    /// The run's deliveries/s ÷ the ceiling's: the share of the server's limit for this
    /// interaction pattern that the whole system reaches (at a fixed rate, both runs are
    /// offered the same rate: how far we fall behind it). `None` when the ceiling run
    /// completed nothing.
    pub fraction_of_ceiling: Option<f64>,
    #[serde(flatten)]
    pub run: Report,
}

impl Report {
    /// This report with `ceiling` (a [`ceiling::run`] of the same plan) attached.
    pub fn with_ceiling(mut self, ceiling: Report) -> Self {
        let fraction = (ceiling.deliveries_per_second > 0.0)
            .then(|| self.deliveries_per_second / ceiling.deliveries_per_second);
        self.ceiling = Some(Box::new(Ceiling {
            fraction_of_ceiling: fraction,
            run: ceiling,
        }));
        self
    }
}

#[derive(Default)]
struct Samples {
    latency: BTreeMap<&'static str, Vec<f64>>,
    errors: BTreeMap<String, usize>,
    completed: usize,
    answers: BTreeMap<String, usize>,
    reached: BTreeMap<&'static str, usize>,
    /// Started and not yet seen settled.
    open: BTreeSet<String>,
}

/// Where one delivery records how long each of its steps took.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Samples>>);

impl Recorder {
    fn record(&self, step: &'static str, took: Duration) {
        self.samples()
            .latency
            .entry(step)
            .or_default()
            .push(took.as_secs_f64() * 1000.0);
    }

    /// An answer to a request of `step`: its status code, or why there was none.
    fn answer(&self, step: &'static str, answer: impl std::fmt::Display) {
        *self
            .samples()
            .answers
            .entry(format!("{step} {answer}"))
            .or_default() += 1;
    }

    /// A delivery got as far as `milestone` (`started`, `delivered`, `settled`); with its `id`,
    /// it is listed as unsettled from its start until it settles.
    fn reached(&self, milestone: &'static str, id: Option<&str>) {
        let mut s = self.samples();
        *s.reached.entry(milestone).or_default() += 1;
        match (milestone, id) {
            ("started", Some(id)) => s.open.insert(id.to_owned()),
            ("settled", Some(id)) => s.open.remove(id),
            _ => false,
        };
    }

    fn samples(&self) -> std::sync::MutexGuard<'_, Samples> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Runs `plan` over the HTTP API, measuring the processes in `watch` (name, pid) as it goes;
/// first (not measured) makes and signs in the accounts it acts as.
pub async fn run(plan: &Plan, watch: &[(String, u32)]) -> anyhow::Result<Report> {
    run_reading(plan, None, watch).await
}

/// [`run`], with `reads` going on meanwhile (see [`reads`]): their pool is listed after the
/// sign-in, before the measured part.
pub async fn run_reading(
    plan: &Plan,
    reads: Option<reads::Reads>,
    watch: &[(String, u32)],
) -> anyhow::Result<Report> {
    let http = http_client()?;
    let signed_in = sign_in(&http, plan).await?;
    let reader = match reads {
        Some(r) => {
            let restaurants: Vec<String> = (0..plan.deliveries.min(RESTAURANTS))
                .map(|i| restaurant_of(i, plan.dispatch))
                .collect();
            let pool = reads::pool(&http, &plan.api, &signed_in, &restaurants, r.pool).await?;
            let api = Arc::new(plan.api.clone());
            Some(reads::Reader::start(http.clone(), api, pool, r.per_second))
        }
        None => None,
    };
    let mut report = over_http(plan, watch, &http, signed_in, Patience::Measure).await?;
    if let Some(reader) = reader {
        reader.finish(&mut report).await?;
    }
    Ok(report)
}

/// The restaurant of delivery `i` of a run dispatching as `dispatch`.
fn restaurant_of(i: usize, dispatch: Dispatch) -> String {
    match dispatch {
        Dispatch::Broadcast => format!("load-{}", i % RESTAURANTS),
        Dispatch::Offer => format!("load-offer-{}", i % RESTAURANTS),
    }
}

/// Makes and signs in the restaurants and riders `plan`'s deliveries act as. In offer mode
/// every rider of [`RIDERS`]: an offer may go to any of them (earlier runs made them all).
async fn sign_in(http: &reqwest::Client, plan: &Plan) -> anyhow::Result<accounts::SignedIn> {
    let riders = match plan.dispatch {
        Dispatch::Broadcast => plan.deliveries,
        Dispatch::Offer => RIDERS,
    };
    let restaurants = (0..plan.deliveries).map(|i| accounts::Restaurant {
        id: restaurant_of(i, plan.dispatch),
        dispatch: plan.dispatch,
    });
    accounts::sign_in(
        http,
        &plan.api,
        &plan.operator,
        restaurants,
        (0..riders).map(rider_of),
    )
    .await
}

/// Drives `plan` over the HTTP API as the accounts of `signed_in` (see [`sign_in`]), meeting
/// failures with `patience`; under [`Patience::Persist`] the call of delivery `i` carries the
/// `Idempotency-Key` `soak-<run>-<i>`, `<run>` new for each run (a key names its delivery for
/// good: a second run must not find the first one's deliveries).
async fn over_http(
    plan: &Plan,
    watch: &[(String, u32)],
    http: &reqwest::Client,
    signed_in: accounts::SignedIn,
    patience: Patience,
) -> Result<Report, tokio::task::JoinError> {
    let api = Arc::new(plan.api.clone());
    let run = uuid::Uuid::new_v4().simple().to_string();
    let mode = match patience {
        Patience::Measure => load_name(plan.load),
        Patience::Persist => format!("soak, {}", load_name(plan.load)),
    };
    let mode = match plan.dispatch {
        Dispatch::Broadcast => mode,
        Dispatch::Offer => format!("{mode}, offer mode"),
    };
    let dispatch = plan.dispatch;
    drive(plan, mode, watch, move |i, recorder| {
        let (http, api) = (http.clone(), api.clone());
        let tokens = Tokens {
            restaurant: signed_in.token(&restaurant_of(i, dispatch)),
            rider: match dispatch {
                Dispatch::Broadcast => Rider::Fixed(signed_in.token(&rider_of(i))),
                Dispatch::Offer => Rider::Offered(signed_in.clone()),
            },
        };
        let key = (patience == Patience::Persist).then(|| format!("soak-{run}-{i}"));
        async move {
            let flow = Flow {
                http: &http,
                api: &api,
                tokens: &tokens,
                recorder: &recorder,
                patience,
            };
            flow.delivery(key.as_deref()).await
        }
    })
    .await
}

/// What a delivery does when a request fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Patience {
    /// A measurement: a request that gets no answer, or an answer the flow does not expect, is
    /// the delivery's error; only pickup and completion wait out `503 worker_unavailable` (every
    /// 100 ms), as a rider would.
    Measure,
    /// A soak, while parts of the stack are killed: a request that gets no answer, a 5xx or a
    /// 429 is sent again after a pause (100 ms, doubling up to the API's `Retry-After` of 5 s:
    /// quick while a part restarts, and no retry storm from thousands of waiting deliveries
    /// when the stack falls behind), until the delivery's deadline. The
    /// call carries an `Idempotency-Key`, so a call sent again never makes a second delivery.
    Persist,
}

impl Patience {
    /// The pause after `pause` while a delivery polls for something to happen (its call to
    /// open, its payment to settle): half as long again, up to 200 ms in a measurement (the
    /// figures are accurate to it) and a second in a soak, as often as the rider app polls.
    /// Faster polling in a soak is a retry storm once the stack falls behind: thousands of
    /// waiting deliveries each asking five times a second (1.4 million requests answered 409
    /// or 503 in a 10-minute soak) take the CPU the stack needs to catch up.
    fn next_poll(self, pause: Duration) -> Duration {
        let longest = match self {
            Patience::Measure => Duration::from_millis(200),
            Patience::Persist => Duration::from_secs(1),
        };
        (pause * 3 / 2).min(longest)
    }
}

/// One delivery's way through the API: the client, the tokens, where it records, and how it
/// meets failures.
struct Flow<'a> {
    http: &'a reqwest::Client,
    api: &'a str,
    tokens: &'a Tokens,
    recorder: &'a Recorder,
    patience: Patience,
}

/// The first pause before a request is sent again under [`Patience::Persist`], and the longest.
const RETRY_PAUSE: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(5));

/// The bearer tokens one delivery is driven with.
struct Tokens {
    /// The restaurant's: it calls, then reads the payment and the delivery list.
    restaurant: Arc<str>,
    /// The rider who picks up and completes.
    rider: Rider,
}

/// Who picks a delivery up.
enum Rider {
    /// This rider (its token), from the broadcast.
    Fixed(Arc<str>),
    /// The rider the call is offered to, one of these, once it accepts.
    Offered(accounts::SignedIn),
}

fn http_client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(30))
        .build()
}

fn load_name(load: Load) -> String {
    match load {
        Load::Concurrency(n) => format!("concurrency {n}"),
        Load::Rate(r) => format!("rate {r}/s"),
    }
}

/// The load model every run shares: `plan.deliveries` calls of `delivery(i, recorder)` at
/// `plan.load`, each bounded by `plan.timeout` (its `Err` names what went wrong), measuring
/// the processes in `watch` over the run.
async fn drive<D, F>(
    plan: &Plan,
    mode: String,
    watch: &[(String, u32)],
    delivery: D,
) -> Result<Report, tokio::task::JoinError>
where
    D: Fn(usize, Recorder) -> F,
    F: Future<Output = Result<(), String>> + Send + 'static,
{
    let recorder = Recorder::default();
    let before: Vec<_> = watch
        .iter()
        .map(|(name, pid)| (name.clone(), *pid, cpu_seconds(*pid)))
        .collect();
    let started = Instant::now();
    let one = |i: usize| {
        let (recorder, timeout) = (recorder.clone(), plan.timeout);
        let attempt = delivery(i, recorder.clone());
        async move {
            let outcome = tokio::time::timeout(timeout, attempt).await;
            let mut s = recorder.samples();
            match outcome {
                Ok(Ok(())) => s.completed += 1,
                Ok(Err(kind)) => *s.errors.entry(kind).or_default() += 1,
                Err(_) => *s.errors.entry("timeout".into()).or_default() += 1,
            }
        }
    };
    match plan.load {
        Load::Concurrency(n) => {
            let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let lanes = (0..n.max(1)).map(|_| {
                let next = next.clone();
                let one = &one;
                async move {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= plan.deliveries {
                            break;
                        }
                        one(i).await;
                    }
                }
            });
            futures::future::join_all(lanes).await;
        }
        Load::Rate(per_second) => {
            // A ticker, not a sleep after each arrival: the rate holds however long spawning
            // takes, and arrivals a busy moment delayed are sent at once (the open model).
            let gap = Duration::from_secs_f64(1.0 / per_second.max(0.001));
            let mut ticks = tokio::time::interval(gap);
            let mut arrivals = Vec::with_capacity(plan.deliveries);
            for i in 0..plan.deliveries {
                ticks.tick().await;
                arrivals.push(tokio::spawn(one(i)));
            }
            for a in arrivals {
                a.await?;
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let processes = before
        .into_iter()
        .map(|(name, pid, cpu)| ProcessUsage {
            cpu_seconds: cpu_seconds(pid) - cpu,
            rss_mb: rss_kb(pid) as f64 / 1024.0,
            peak_rss_mb: peak_rss_kb(pid) as f64 / 1024.0,
            name,
            pid,
        })
        .collect();
    let s = recorder.samples();
    Ok(Report {
        mode,
        deliveries: plan.deliveries,
        completed: s.completed,
        seconds,
        deliveries_per_second: s.completed as f64 / seconds,
        latency_ms: s
            .latency
            .iter()
            .map(|(step, v)| (step.to_string(), percentiles(v)))
            .collect(),
        errors: s.errors.clone(),
        answers: s.answers.clone(),
        reached: s
            .reached
            .iter()
            .map(|(milestone, n)| (milestone.to_string(), *n))
            .collect(),
        unsettled: s.open.iter().cloned().collect(),
        processes,
        ceiling: None,
    })
}

/// One delivery through the whole flow, the restaurant and the rider each with its own
/// token; `Err` names what went wrong.
async fn delivery(
    http: &reqwest::Client,
    api: &str,
    tokens: &Tokens,
    recorder: &Recorder,
) -> Result<(), String> {
    let flow = Flow {
        http,
        api,
        tokens,
        recorder,
        patience: Patience::Measure,
    };
    flow.delivery(None).await
}

/// `POST /deliveries` as the restaurant signed in with `restaurant` (a bearer token), recorded
/// as step `call` when the API answers: the new delivery's id, or what went wrong.
async fn call(
    http: &reqwest::Client,
    api: &str,
    restaurant: &str,
    recorder: &Recorder,
) -> Result<String, String> {
    let tokens = Tokens {
        restaurant: restaurant.into(),
        rider: Rider::Fixed("".into()),
    };
    let flow = Flow {
        http,
        api,
        tokens: &tokens,
        recorder,
        patience: Patience::Measure,
    };
    flow.call(None).await
}

impl Flow<'_> {
    /// Call, (in offer mode: accept), pickup, complete, then wait until the payment is settled
    /// and the delivery list shows the delivery completed; the call under `key` (an
    /// `Idempotency-Key`), if any.
    async fn delivery(&self, key: Option<&str>) -> Result<(), String> {
        let (api, recorder) = (self.api, self.recorder);
        let t0 = Instant::now();
        let id = self.call(key).await?;
        let rider = match &self.tokens.rider {
            Rider::Fixed(token) => token.clone(),
            Rider::Offered(riders) => self.accept_offer(&id, riders).await?,
        };
        for step in ["pickup", "complete"] {
            let mut pause = Duration::from_millis(20);
            loop {
                let t = Instant::now();
                // The rider is the token's account: no body.
                let url = format!("{api}/deliveries/{id}/{step}");
                let (status, _) = self
                    .send(step, || self.http.post(&url).bearer_auth(&*rider))
                    .await?;
                match status {
                    200 => {
                        recorder.record(step, t.elapsed());
                        break;
                    }
                    // Not open yet (payment still registering): retry.
                    409 if step == "pickup" => {
                        tokio::time::sleep(pause).await;
                        pause = self.patience.next_poll(pause);
                    }
                    // No worker answered (only under `Measure`: `send` retried it otherwise).
                    503 => tokio::time::sleep(Duration::from_millis(100)).await,
                    other => return Err(format!("{step} {other}")),
                }
            }
        }
        self.reached("delivered", &id);
        // Backing off (see `Patience::next_poll`): finer polling would measure the load
        // generator (its reads cost the API and the payment service CPU the server then lacks)
        // more than the system; the settle time is accurate to the current pause.
        let mut pause = Duration::from_millis(20);
        loop {
            let payment = self.get("payment", &format!("{api}/payments/{id}")).await?;
            if payment["status"] == "Settled" {
                let row = self
                    .get("delivery-list", &format!("{api}/delivery-list/{id}"))
                    .await?;
                if row["status"] == "Completed" {
                    recorder.record("call_to_settled", t0.elapsed());
                    self.reached("settled", &id);
                    return Ok(());
                }
            }
            tokio::time::sleep(pause).await;
            pause = self.patience.next_poll(pause);
        }
    }

    /// Waits for delivery `id`'s call to be offered (reading it as the restaurant, step
    /// `offer`), then accepts as the rider named, one of `riders` (step `accept`): that
    /// rider's token. An offer that moved on meanwhile (`403`, or `409` from a rider who
    /// filled up) is looked for again.
    async fn accept_offer(
        &self,
        id: &str,
        riders: &accounts::SignedIn,
    ) -> Result<Arc<str>, String> {
        let url = format!("{}/deliveries/{id}", self.api);
        let mut pause = Duration::from_millis(20);
        loop {
            let view = self.get("offer", &url).await?;
            if view["dispatch"]["unassigned"] == true {
                return Err("offers ran out: the call went to every rider".into());
            }
            if let Some(rider) = view["dispatch"]["offer"]["riderId"].as_str() {
                let token = riders
                    .get(rider)
                    .ok_or_else(|| format!("offered to {rider}, whom this run did not sign in"))?;
                let t = Instant::now();
                let accept = format!("{url}/accept");
                let (status, _) = self
                    .send("accept", || self.http.post(&accept).bearer_auth(&*token))
                    .await?;
                match status {
                    200 => {
                        self.recorder.record("accept", t.elapsed());
                        return Ok(token);
                    }
                    403 | 409 | 503 => {}
                    other => return Err(format!("accept {other}")),
                }
            }
            tokio::time::sleep(pause).await;
            pause = self.patience.next_poll(pause);
        }
    }

    /// `POST /deliveries` as the restaurant, under `key` if any, recorded as step `call` when
    /// the API answers (under `Persist`, the whole wait, retries included): the new delivery's
    /// id, or what went wrong.
    async fn call(&self, key: Option<&str>) -> Result<String, String> {
        let body = json!({"destination": "Seoul, Gangnam-gu", "cost": 10_000});
        let url = format!("{}/deliveries", self.api);
        let t = Instant::now();
        let (status, called) = self
            .send("call", || {
                let request = self
                    .http
                    .post(&url)
                    .bearer_auth(&*self.tokens.restaurant)
                    .json(&body);
                match key {
                    Some(key) => request.header("Idempotency-Key", key),
                    None => request,
                }
            })
            .await?;
        self.recorder.record("call", t.elapsed());
        if status != 201 && status != 202 {
            return Err(format!("call {status}"));
        }
        let id = called["deliveryId"]
            .as_str()
            .ok_or("call without deliveryId")?
            .to_owned();
        self.reached("started", &id);
        Ok(id)
    }

    /// Delivery `id` got as far as `milestone`; a soak lists it while it is unsettled.
    fn reached(&self, milestone: &'static str, id: &str) {
        let listed = (self.patience == Patience::Persist).then_some(id);
        self.recorder.reached(milestone, listed);
    }

    /// `GET url` as the restaurant, recorded as step `step`: the JSON answer (`Null` when none).
    async fn get(&self, step: &'static str, url: &str) -> Result<Value, String> {
        let (_, answer) = self
            .send(step, || {
                self.http.get(url).bearer_auth(&*self.tokens.restaurant)
            })
            .await?;
        Ok(answer)
    }

    /// Sends the request `make` builds, recording its answer under `step`: the status and the
    /// JSON answer (`Null` when none), or the kind of transport failure. Under `Persist`, a
    /// request that got no answer, a 5xx or a 429 is sent again after a pause.
    async fn send(
        &self,
        step: &'static str,
        make: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<(u16, Value), String> {
        let mut pause = RETRY_PAUSE.0;
        loop {
            let answer = match make().send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    // The body too: a process killed mid-answer cuts it off.
                    match response.bytes().await {
                        Ok(body) => Ok((status, body)),
                        Err(e) => Err(format!("transport: {}", kind(&e))),
                    }
                }
                Err(e) => Err(format!("transport: {}", kind(&e))),
            };
            let again = match &answer {
                Ok((status, _)) => {
                    self.recorder.answer(step, status);
                    *status >= 500 || *status == 429
                }
                Err(failure) => {
                    self.recorder.answer(step, failure);
                    true
                }
            };
            if !(again && self.patience == Patience::Persist) {
                return answer.map(|(status, body)| {
                    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(RETRY_PAUSE.1);
        }
    }
}

/// `GET url` with `token` as the bearer token: the JSON answer (`Null` when none).
async fn get(http: &reqwest::Client, url: &str, token: &str) -> Result<Value, String> {
    let response = http
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| format!("transport: {}", kind(&e)))?;
    Ok(response.json().await.unwrap_or(Value::Null))
}

fn kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else {
        "other"
    }
}

fn percentiles(values: &[f64]) -> Percentiles {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| {
        v.get(((v.len() as f64 * q).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or(0.0)
    };
    Percentiles {
        count: v.len(),
        p50: at(0.50),
        p95: at(0.95),
        p99: at(0.99),
        max: v.last().copied().unwrap_or(0.0),
    }
}

/// User + system CPU seconds of `pid` so far (Linux `/proc`); 0 when unreadable.
pub fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15, i.e. 11 and 12 after the state field.
    (ticks(11) + ticks(12)) / 100.0
}

/// Peak resident set size of `pid` in KiB (`VmHWM`); 0 when unreadable.
pub fn peak_rss_kb(pid: u32) -> u64 {
    status_kb(pid, "VmHWM:")
}

/// Current resident set size of `pid` in KiB (`VmRSS`); 0 when unreadable.
pub fn rss_kb(pid: u32) -> u64 {
    status_kb(pid, "VmRSS:")
}

/// The KiB figure of `field` (e.g. `"VmRSS:"`) in `/proc/<pid>/status`; 0 when unreadable.
fn status_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// The processes of a stack, found by their command names under `/proc`.
pub fn find_stack_processes() -> Vec<(String, u32)> {
    let wanted = [
        "temporal",
        "delivery-worker",
        "delivery-api",
        "payment-service",
    ];
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        if let Some(name) = wanted.iter().find(|w| comm.trim() == **w) {
            found.push(((*name).to_owned(), pid));
        }
    }
    found.sort();
    found
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{}: {}/{} deliveries in {:.1} s = {:.1} deliveries/s",
            self.mode, self.completed, self.deliveries, self.seconds, self.deliveries_per_second
        )?;
        writeln!(
            f,
            "{:<16} {:>6} {:>9} {:>9} {:>9} {:>9}",
            "step (ms)", "count", "p50", "p95", "p99", "max"
        )?;
        for (step, p) in &self.latency_ms {
            writeln!(
                f,
                "{step:<16} {:>6} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
                p.count, p.p50, p.p95, p.p99, p.max
            )?;
        }
        writeln!(
            f,
            "errors: {}",
            if self.errors.is_empty() {
                "none".to_owned()
            } else {
                format!("{:?}", self.errors)
            }
        )?;
        for p in &self.processes {
            writeln!(
                f,
                "{:<16} pid {:>7}  cpu {:>7.2} s  rss {:>7.1} MB  peak rss {:>7.1} MB",
                p.name, p.pid, p.cpu_seconds, p.rss_mb, p.peak_rss_mb
            )?;
        }
        if let Some(ceiling) = &self.ceiling {
            write!(f, "\n{}", ceiling.run)?;
            match ceiling.fraction_of_ceiling {
                Some(fraction) => writeln!(
                    f,
                    "fraction of ceiling: {fraction:.2} ({:.1} of {:.1} deliveries/s)",
                    self.deliveries_per_second, ceiling.run.deliveries_per_second
                )?,
                None => writeln!(
                    f,
                    "fraction of ceiling: unknown (the ceiling completed none)"
                )?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pauses a polling delivery takes, from the first 20 ms: the `n`th and the longest.
    fn polls(patience: Patience, n: usize) -> Vec<Duration> {
        std::iter::successors(Some(Duration::from_millis(20)), |&p| {
            Some(patience.next_poll(p))
        })
        .take(n)
        .collect()
    }

    #[test]
    fn a_soak_polls_no_more_than_once_a_second_once_it_has_waited() {
        let pauses = polls(Patience::Persist, 30);
        assert_eq!(pauses.last(), Some(&Duration::from_secs(1)));
        assert!(pauses.iter().all(|p| *p <= Duration::from_secs(1)));
        // Still quick at first: a call usually opens within tens of milliseconds.
        assert!(pauses[..3].iter().all(|p| *p < Duration::from_millis(50)));
    }

    #[test]
    fn a_measurement_polls_at_least_five_times_a_second() {
        let pauses = polls(Patience::Measure, 30);
        assert_eq!(pauses.last(), Some(&Duration::from_millis(200)));
    }
}
