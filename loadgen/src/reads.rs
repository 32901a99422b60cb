//! Reads beside the load: `GET /deliveries/{id}` at a fixed rate over deliveries the run's
//! restaurants already have, each read as its restaurant (as restaurant screens polling their
//! deliveries would), recorded as step `read` in the run's report.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context as _;
use serde_json::Value;

use crate::{
    Recorder, Report,
    accounts::SignedIn,
    percentiles,
    soak::{SplitMix64, clock_seed},
};

/// Reads to make while a run's deliveries go on.
#[derive(Debug, Clone, Copy)]
pub struct Reads {
    /// Reads per second (open model: sent on a ticker however long the others take).
    pub per_second: f64,
    /// How many existing deliveries to read from, listed before the measured part: a real
    /// spread of ids (most of them evicted from the worker's cache), not the few in flight.
    pub pool: usize,
}

/// One delivery to read, and the token of the restaurant that may.
type Target = (Arc<str>, String);

/// Lists up to `size` deliveries of `restaurants` (spread evenly over them), newest first,
/// with each restaurant's token from `signed_in`.
pub(crate) async fn pool(
    http: &reqwest::Client,
    api: &str,
    signed_in: &SignedIn,
    restaurants: &[String],
    size: usize,
) -> anyhow::Result<Vec<Target>> {
    let each = size.div_ceil(restaurants.len().max(1));
    let mut pool = Vec::with_capacity(size);
    for restaurant in restaurants {
        let token = signed_in.token(restaurant);
        let mut cursor: Option<String> = None;
        let mut taken = 0;
        while taken < each {
            let mut request = http
                .get(format!("{api}/delivery-list"))
                .bearer_auth(&*token)
                .query(&[("limit", "200")]);
            if let Some(cursor) = &cursor {
                request = request.query(&[("cursor", cursor)]);
            }
            let page: Value = request
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .with_context(|| format!("list the deliveries of {restaurant}"))?
                .json()
                .await
                .with_context(|| format!("the delivery list of {restaurant}"))?;
            let ids = page["items"].as_array().into_iter().flatten();
            for id in ids
                .filter_map(|row| row["deliveryId"].as_str())
                .take(each - taken)
            {
                pool.push((token.clone(), id.to_owned()));
                taken += 1;
            }
            match page["nextCursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
    }
    Ok(pool)
}

/// Reads going on in the background until [`Reader::finish`].
pub(crate) struct Reader {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Recorder>,
}

impl Reader {
    /// Starts reading `pool` at `per_second`, each read a uniformly drawn target.
    pub(crate) fn start(
        http: reqwest::Client,
        api: Arc<String>,
        pool: Vec<Target>,
        per_second: f64,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let recorder = Recorder::default();
            if pool.is_empty() {
                return recorder;
            }
            let mut rng = SplitMix64(clock_seed());
            let mut ticks =
                tokio::time::interval(Duration::from_secs_f64(1.0 / per_second.max(0.001)));
            let mut reads = tokio::task::JoinSet::new();
            while !stopped.load(Ordering::Relaxed) {
                ticks.tick().await;
                let (token, id) = pool[rng.below(pool.len())].clone();
                let (http, api, recorder) = (http.clone(), api.clone(), recorder.clone());
                reads.spawn(async move {
                    let t = Instant::now();
                    let answer = http
                        .get(format!("{api}/deliveries/{id}"))
                        .bearer_auth(&*token)
                        .send()
                        .await;
                    match answer {
                        Ok(response) => {
                            let status = response.status().as_u16();
                            let whole = response.bytes().await.is_ok();
                            recorder.answer("read", status);
                            if status == 200 && whole {
                                recorder.record("read", t.elapsed());
                            }
                        }
                        Err(e) => {
                            recorder.answer("read", format!("transport: {}", crate::kind(&e)))
                        }
                    }
                });
                // Reap the finished ones as we go: a long run makes hundreds of thousands.
                while reads.try_join_next().is_some() {}
            }
            reads.join_all().await;
            recorder
        });
        Self { stop, task }
    }

    /// Stops reading, waits for the reads in flight, and adds them to `report`: the `read`
    /// latencies (answers 200 only) and every answer by status; a read not answered 200 is
    /// an error of the run.
    pub(crate) async fn finish(self, report: &mut Report) -> anyhow::Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        let recorder = self.task.await.context("the reader")?;
        let s = recorder.samples();
        if let Some(latency) = s.latency.get("read") {
            report
                .latency_ms
                .insert("read".to_owned(), percentiles(latency));
        }
        for (answer, n) in &s.answers {
            *report.answers.entry(answer.clone()).or_default() += n;
            if answer != "read 200" {
                *report.errors.entry(answer.clone()).or_default() += n;
            }
        }
        Ok(())
    }
}
