//! Test support for the end-to-end suite: a Temporal dev server and whole stacks on free
//! loopback ports, each with its own task queues and databases.

pub mod fleet;
pub mod http;
pub mod metrics;
pub mod otlp;
pub mod procs;
pub mod stack;
pub mod temporal_server;

pub use http::ApiClient;
pub use stack::{Stack, StackOptions};
pub use temporal_server::TemporalServer;

use std::{future::Future, time::Duration};

/// Polls `check` until it returns `Some`, or fails the test after `within`.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {within:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A free loopback port for a component a test starts.
///
/// Taken below the kernel's ephemeral range (32768 and up by default), so that no other
/// process's `bind(0)` or outgoing connection can take it between this check and its use:
/// every Temporal dev server picks several ports that way, and CI saw an API fail to start
/// when a port was taken from under it. A counter with a start that differs per test process
/// keeps the ports one process hands out distinct.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const COUNT: u32 = 12_000;
    static NEXT: std::sync::OnceLock<AtomicU32> = std::sync::OnceLock::new();
    let next = NEXT.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        AtomicU32::new(std::process::id().wrapping_mul(7919).wrapping_add(nanos) % COUNT)
    });
    for _ in 0..COUNT {
        let port = (FIRST + next.fetch_add(1, Ordering::Relaxed) % COUNT) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {FIRST}..{}", FIRST + COUNT)
}

/// Logs to stderr when `TEST_LOG` is set; silent otherwise.
pub fn init_test_log() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_env("TEST_LOG")
                    .unwrap_or_else(|_| "info".into()),
            )
            .with_test_writer()
            .try_init();
    }
}

/// Runs the invariant checker; fails the test with its report when anything disagrees.
pub async fn assert_invariants(settings: &checker::Settings) -> checker::Report {
    let report = checker::check(settings)
        .await
        .expect("run the invariant checker");
    assert!(report.is_consistent(), "invariants broken:\n{report}");
    report
}

/// A small deterministic generator: each simulated rider acts differently, every run alike.
pub struct Dice(pub u64);

impl Dice {
    /// A number below `n` (xorshift).
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// The delivery `id` as `client` sees it, once `ready` holds (within a minute).
pub async fn view_when(
    client: &ApiClient,
    id: &str,
    what: &str,
    ready: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    eventually(what, Duration::from_secs(60), || async {
        let (status, view) = client.get(&format!("/deliveries/{id}")).await;
        (status == 200 && ready(&view)).then_some(view)
    })
    .await
}

/// Drives one delivery through pickup and completion as a patient rider would (`rider`, a
/// client signed in as that rider): retrying while no worker or API answers (503, connection
/// refused) or the rate limit says wait (429), and accepting that a request whose answer was
/// lost may already have applied.
pub async fn drive_to_completion(rider: &ApiClient, id: &str, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    for step in ["pickup", "complete"] {
        loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{id}: {step} did not get through in {within:?}"
            );
            let sent = rider
                .request(reqwest::Method::POST, &format!("/deliveries/{id}/{step}"))
                .send()
                .await;
            let (status, answer) = match sent {
                Ok(response) => ApiClient::read(response).await,
                Err(_) => (0, serde_json::Value::Null),
            };
            match (step, status) {
                (_, 200) => break,
                // An earlier attempt went through but its answer was lost: completed already.
                ("complete", 409) => {
                    let (_, live) = rider.get(&format!("/deliveries/{id}")).await;
                    assert_eq!(
                        live["status"], "Completed",
                        "{id}: complete refused: {live}"
                    );
                    break;
                }
                // Not open yet (payment still registering), or nobody answered: retry.
                ("pickup", 409) | (_, 0 | 429 | 502 | 503 | 504) => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                (_, other) => panic!("{id}: {step} answered {other}: {answer}"),
            }
        }
    }
}
