//! `ProcStack`: the stack as real processes (the release-shaped binaries of this workspace,
//! built in `target/debug`), on a Temporal dev server of its own, so a test can SIGKILL,
//! SIGTERM and restart any part of it.

use std::{
    fs::File,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use crate::{ApiClient, TemporalServer, free_port, init_test_log};

/// The directory holding this workspace's binaries (next to the test executable).
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/debug/deps/e2e-<hash> → target/debug
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_owned()
}

/// The path of this workspace's binary `name`, which must have been built.
pub fn binary(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: build the binaries first with `cargo build --bins` (./infra/test.sh does)",
        path.display()
    );
    path
}

/// A child process with its output in a log file; SIGKILLed when dropped.
pub struct Proc {
    child: Child,
    pub log: PathBuf,
}

impl Proc {
    fn spawn(name: &str, env: &[(String, String)], log: PathBuf) -> Self {
        let out = File::create(&log).expect("create log");
        let err = out.try_clone().expect("clone log");
        let child = Command::new(binary(name))
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env(
                "RUST_LOG",
                std::env::var("TEST_PROC_LOG")
                    .unwrap_or_else(|_| "info,temporalio_sdk_core=warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        Self { child, log }
    }

    /// How the process ended, if it has.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no chance to clean up, as in a crash.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait up to `within` for a clean exit.
    pub fn terminate(&mut self, within: Duration) -> Option<ExitStatus> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status();
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
        // A failing test shows what its processes said last.
        if std::thread::panicking() {
            eprintln!(
                "--- {}\n{}",
                self.log.display(),
                last_words(&self.log_text())
            );
        }
    }
}

/// The last 20 lines of a process's log without the frames of a backtrace, so the error a
/// process exited with is shown rather than the bottom of its stack.
fn last_words(log: &str) -> String {
    let frame = |line: &str| {
        let line = line.trim_start();
        line.starts_with("at ")
            || line
                .split_once(": ")
                .is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    let lines: Vec<_> = log.lines().filter(|line| !frame(line)).collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// What a process stack starts with.
#[derive(Debug, Clone)]
pub struct ProcOptions {
    /// Worker processes to start, each with its `WORKER_ROLES`.
    pub workers: Vec<&'static str>,
    pub payment_up: bool,
    pub api_payment_wait_ms: u64,
    pub api_update_wait_ms: u64,
    /// Where every process sends its spans (`OTEL_EXPORTER_OTLP_ENDPOINT`); none by default.
    pub otlp_endpoint: Option<String>,
    /// More variables for every process.
    pub env: Vec<(String, String)>,
}

impl Default for ProcOptions {
    fn default() -> Self {
        Self {
            workers: vec!["deliveries,payments,dispatch,projections"],
            payment_up: true,
            api_payment_wait_ms: 5000,
            api_update_wait_ms: 3000,
            otlp_endpoint: None,
            env: Vec::new(),
        }
    }
}

pub struct ProcStack {
    pub api_client: ApiClient,
    temporal_port: u16,
    pub task_queue: String,
    api_port: u16,
    payment_port: u16,
    /// The payment service's plaintext health port (`PAYMENT_HEALTH_ADDR`).
    pub payment_health_port: u16,
    /// The Prometheus endpoints: the API's, the payment service's, and each worker's by slot.
    pub api_metrics_port: u16,
    pub payment_metrics_port: u16,
    pub worker_metrics_ports: Vec<u16>,
    options: ProcOptions,
    pub payment: Option<Proc>,
    pub api: Option<Proc>,
    /// Worker processes by slot; `None` while stopped.
    pub workers: Vec<Option<Proc>>,
    spawned: usize,
    // Dropped last, in this order: the processes above stop before their server and their
    // files go away.
    pub temporal: Option<TemporalServer>,
    pub dir: tempfile::TempDir,
}

impl std::ops::Deref for ProcStack {
    type Target = ApiClient;

    fn deref(&self) -> &ApiClient {
        &self.api_client
    }
}

impl ProcStack {
    pub async fn start(options: ProcOptions) -> Self {
        init_test_log();
        let dir = tempfile::tempdir().expect("temp dir");
        let temporal_port = free_port();
        let temporal =
            TemporalServer::start_on(&dir.path().join("temporal.db"), temporal_port).await;
        let api_port = free_port();
        let mut stack = Self {
            api_client: ApiClient::new(format!("http://127.0.0.1:{api_port}")),
            temporal: Some(temporal),
            temporal_port,
            task_queue: workflows::names::DELIVERIES_QUEUE.to_owned(),
            api_port,
            payment_port: free_port(),
            payment_health_port: free_port(),
            api_metrics_port: free_port(),
            payment_metrics_port: free_port(),
            worker_metrics_ports: Vec::new(),
            options: options.clone(),
            dir,
            payment: None,
            api: None,
            workers: Vec::new(),
            spawned: 0,
        };
        // The stack's own PKI, as the local default makes it (the processes would make it too,
        // at first start; made here, the test can present the worker's certificate).
        payment_api::tls::ensure_local(&stack.payment_tls_dir()).expect("generate the payment pki");
        stack.migrate();
        if options.payment_up {
            stack.start_payment().await;
        }
        for roles in &options.workers {
            stack.start_worker(roles).await;
        }
        stack.start_api().await;
        stack
    }

    /// The one-off step before the services start, as a deployment runs it:
    /// `delivery-api migrate` and `payment-service migrate`, with the services' settings.
    pub fn migrate(&self) {
        for (binary, what) in [
            ("delivery-api", "the delivery list"),
            ("payment-service", "the ledger"),
        ] {
            let out = Command::new(crate::procs::binary(binary))
                .arg("migrate")
                .envs(self.env())
                .stdin(Stdio::null())
                .output()
                .unwrap_or_else(|e| panic!("run {binary} migrate: {e}"));
            assert!(
                out.status.success(),
                "{binary} migrate ({what}) failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    /// Where the payment service listens (gRPC), as `host:port`.
    pub fn payment_addr(&self) -> String {
        format!("127.0.0.1:{}", self.payment_port)
    }

    /// The payment PKI directory every process of the stack reads (`PAYMENT_TLS_DIR`).
    pub fn payment_tls_dir(&self) -> PathBuf {
        self.dir.path().join("pki")
    }

    /// The delivery list's database, as the API and worker open it.
    pub fn readmodel_database_url(&self) -> String {
        self.sqlite("deliveries.db")
    }

    /// An API client signed in as account `id` of `role`, made on first use in the accounts
    /// (the delivery list's database, as the API opens it) with the secret `test-<id>`.
    pub async fn signed_in(&self, role: identity::Role, id: &str) -> ApiClient {
        crate::stack::create_account(&self.readmodel_database_url(), role, id).await;
        self.api_client.signed_in(id, &format!("test-{id}")).await
    }

    fn sqlite(&self, name: &str) -> String {
        format!("sqlite://{}?mode=rwc", self.dir.path().join(name).display())
    }

    fn env(&self) -> Vec<(String, String)> {
        [
            (
                "TEMPORAL_ADDRESS",
                format!("127.0.0.1:{}", self.temporal_port),
            ),
            ("DELIVERY_TASK_QUEUE", self.task_queue.clone()),
            ("PAYMENT_ADDR", format!("127.0.0.1:{}", self.payment_port)),
            (
                "PAYMENT_URL",
                format!("https://127.0.0.1:{}", self.payment_port),
            ),
            (
                "PAYMENT_TLS_DIR",
                self.payment_tls_dir().display().to_string(),
            ),
            (
                "PAYMENT_HEALTH_ADDR",
                format!("127.0.0.1:{}", self.payment_health_port),
            ),
            ("PAYMENT_DATABASE_URL", self.sqlite("payment.db")),
            ("READMODEL_DATABASE_URL", self.sqlite("deliveries.db")),
            ("API_ADDR", format!("127.0.0.1:{}", self.api_port)),
            (
                "API_SIGNING_KEYS_DIR",
                self.dir.path().join("keys").display().to_string(),
            ),
            (
                "TEMPORAL_CODEC_KEYS_DIR",
                crate::temporal_server::codec_keys()
                    .keys_dir
                    .display()
                    .to_string(),
            ),
            (
                "API_PAYMENT_WAIT_MS",
                self.options.api_payment_wait_ms.to_string(),
            ),
            (
                "API_UPDATE_WAIT_MS",
                self.options.api_update_wait_ms.to_string(),
            ),
            ("API_QUERY_TIMEOUT_MS", "2000".to_owned()),
            ("WORKER_SHUTDOWN_GRACE_SECS", "5".to_owned()),
            (
                "API_METRICS_ADDR",
                format!("127.0.0.1:{}", self.api_metrics_port),
            ),
            (
                "PAYMENT_METRICS_ADDR",
                format!("127.0.0.1:{}", self.payment_metrics_port),
            ),
            // Batches of spans leave every 100 ms, so a test sees them soon.
            ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .chain(
            self.options
                .otlp_endpoint
                .clone()
                .map(|endpoint| ("OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(), endpoint)),
        )
        .chain(self.options.env.iter().cloned())
        .collect()
    }

    fn log_path(&mut self, name: &str) -> PathBuf {
        self.spawned += 1;
        self.dir
            .path()
            .join(format!("{:02}-{name}.log", self.spawned))
    }

    pub async fn start_payment(&mut self) {
        let log = self.log_path("payment");
        self.payment = Some(Proc::spawn("payment-service", &self.env(), log));
        let (addr, tls_dir) = (self.payment_addr(), self.payment_tls_dir());
        wait_until(
            "the payment service to report SERVING over gRPC health",
            Duration::from_secs(30),
            || async { payment_serving(&addr, Some(&tls_dir)).await },
        )
        .await;
    }

    /// Starts a worker process serving `roles` (comma-separated) and waits until it polls.
    /// Returns its slot.
    pub async fn start_worker(&mut self, roles: &'static str) -> usize {
        let log = self.log_path("worker");
        let mut env = self.env();
        env.push(("WORKER_ROLES".into(), roles.into()));
        let metrics_port = free_port();
        env.push((
            "WORKER_METRICS_ADDR".into(),
            format!("127.0.0.1:{metrics_port}"),
        ));
        let proc = Proc::spawn("delivery-worker", &env, log);
        let expected = roles.split(',').count();
        let log = proc.log.clone();
        wait_until("the worker to poll", Duration::from_secs(30), || {
            let log = log.clone();
            async move {
                std::fs::read_to_string(&log)
                    .unwrap_or_default()
                    .matches("worker polling")
                    .count()
                    >= expected
            }
        })
        .await;
        self.workers.push(Some(proc));
        self.worker_metrics_ports.push(metrics_port);
        self.workers.len() - 1
    }

    pub async fn start_api(&mut self) {
        let log = self.log_path("api");
        self.api = Some(Proc::spawn("delivery-api", &self.env(), log));
        let health = self.url("/healthz");
        // Generous: on a loaded 2-core CI machine a debug API has taken over 30 s to start.
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Some(status) = self.api.as_mut().and_then(Proc::exited) {
                panic!("the API exited at start ({status}); its log follows");
            }
            let answered = self.http.get(&health).send().await;
            if answered.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after 90 s waiting for the API to answer"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILLs the worker in `slot`.
    pub fn kill_worker(&mut self, slot: usize) {
        if let Some(mut w) = self.workers[slot].take() {
            w.kill();
        }
    }

    /// Stops the Temporal server; its state stays in its database file.
    pub fn stop_temporal(&mut self) {
        if let Some(server) = self.temporal.take() {
            server.stop();
        }
    }

    /// Starts Temporal again on the same port and database file.
    pub async fn restart_temporal(&mut self) {
        let db = self.dir.path().join("temporal.db");
        self.temporal = Some(TemporalServer::start_on(&db, self.temporal_port).await);
    }

    /// The invariant checker's view of this stack.
    pub fn checker_settings(&self) -> checker::Settings {
        let mut settings = checker::Settings::new(
            &format!("127.0.0.1:{}", self.temporal_port),
            &self.task_queue,
            &self.sqlite("payment.db"),
            &self.sqlite("deliveries.db"),
        );
        settings.temporal.codec = crate::temporal_server::codec_keys();
        settings
    }
}

/// Whether the payment service at `addr` (`host:port`) answers the standard gRPC health check
/// with `SERVING`, for the server as a whole and for `payment.v2.PaymentService`: over mutual
/// TLS with the worker's certificate from `tls_dir`, or in plaintext (the health port) without.
pub async fn payment_serving(addr: &str, tls_dir: Option<&Path>) -> bool {
    use tonic_health::pb::{
        HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
    };
    let scheme = if tls_dir.is_some() { "https" } else { "http" };
    let Ok(mut endpoint) = tonic::transport::Endpoint::from_shared(format!("{scheme}://{addr}"))
    else {
        return false;
    };
    if let Some(dir) = tls_dir {
        let tls = payment_api::tls::client_config(dir, payment_api::tls::Caller::Worker);
        match tls.map(|tls| endpoint.clone().tls_config(tls)) {
            Ok(Ok(with_tls)) => endpoint = with_tls,
            _ => return false,
        }
    }
    let Ok(channel) = endpoint.connect().await else {
        return false;
    };
    let mut health = HealthClient::new(channel);
    for service in ["", payment_api::SERVICE_NAME] {
        let answer = health
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await;
        match answer {
            Ok(answer) if answer.get_ref().status() == ServingStatus::Serving => {}
            _ => return false,
        }
    }
    true
}

/// Polls `ready` until true, or fails the test after `within` (see [`crate::eventually`]).
pub async fn wait_until<F, Fut>(what: &str, within: Duration, mut ready: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let ready = &mut ready;
    crate::eventually(what, within, || {
        let check = ready();
        async move { check.await.then_some(()) }
    })
    .await
}
