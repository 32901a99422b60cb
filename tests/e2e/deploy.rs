//! What a platform engineer relies on: every binary's settings declared once, layered (flag >
//! environment > config file > default) and validated at start (exit 2 naming the variable);
//! `--help` and `--version`; migrations as a one-off step; health endpoints; and deployment
//! files that set only variables our binaries read.

use serde::Deserialize;
use std::{
    process::{Command, Output, Stdio},
    time::Duration,
};

use e2e::{
    Stack, StackOptions, eventually, free_port,
    procs::{ProcOptions, ProcStack, binary, payment_serving, wait_until},
};

/// Every binary of ours, as the image ships it.
const BINARIES: [&str; 5] = [
    "delivery-api",
    "delivery-worker",
    "payment-service",
    "delivery-check",
    "loadgen",
];

/// Runs `bin` with `args` and `env`, none of our settings inherited, and waits for it (up to
/// `within`: a binary that starts serving instead of answering is a failure, not a hang).
fn run(bin: &str, args: &[&str], env: &[(&str, &str)], within: Duration) -> Output {
    let mut command = Command::new(binary(bin));
    command.args(args).stdin(Stdio::null());
    for var in reads(bin).iter().chain(reads("loadgen").iter()) {
        command.env_remove(var);
    }
    command.envs(env.iter().copied());
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {bin}: {e} (build with `cargo build --bins`)"));
    let deadline = std::time::Instant::now() + within;
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("{bin} {args:?} did not exit within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

#[test]
fn every_binary_answers_help_and_version_without_starting() {
    for bin in BINARIES {
        let help = run(bin, &["--help"], &[], Duration::from_secs(10));
        let text = String::from_utf8_lossy(&help.stdout);
        assert_eq!(help.status.code(), Some(0), "{bin} --help: {text}");
        assert!(text.contains("Usage:"), "{bin} --help: {text}");
        assert!(text.contains("--config <FILE>"), "{bin} --help: {text}");
        assert!(
            text.contains("[env: DELIVERY_CONFIG="),
            "{bin} --help: {text}"
        );
        let version = run(bin, &["--version"], &[], Duration::from_secs(10));
        let text = String::from_utf8_lossy(&version.stdout);
        assert_eq!(version.status.code(), Some(0), "{bin} --version: {text}");
        assert!(
            text.starts_with(&format!("{bin} {}", env!("CARGO_PKG_VERSION"))),
            "{bin} --version: {text}"
        );
    }
    // The services document their migrate step.
    for bin in ["delivery-api", "payment-service"] {
        let help = run(bin, &["migrate", "--help"], &[], Duration::from_secs(10));
        assert_eq!(help.status.code(), Some(0), "{bin} migrate --help");
    }
}

#[test]
fn a_bad_setting_stops_each_binary_at_start_naming_the_variable() {
    let cases = [
        ("delivery-api", "API_ADDR", "not-an-address"),
        ("delivery-api", "API_PAYMENT_WAIT_MS", "soon"),
        ("delivery-api", "READMODEL_DATABASE_URL", "mysql://x"),
        ("delivery-worker", "WORKER_ROLES", "riders"),
        ("delivery-worker", "WORKER_SHUTDOWN_GRACE_SECS", "-1"),
        ("delivery-worker", "WORKER_METRICS_ADDR", "nowhere"),
        ("payment-service", "PAYMENT_ADDR", "nowhere"),
        ("payment-service", "PAYMENT_DATABASE_URL", "mysql://x"),
        ("delivery-check", "DELIVERY_TASK_QUEUE", "riders"),
        ("delivery-check", "PAYMENT_DATABASE_URL", "mysql://x"),
        ("loadgen", "LOADGEN_DELIVERIES", "many"),
    ];
    for (bin, name, value) in cases {
        let out = run(bin, &[], &[(name, value)], Duration::from_secs(10));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{bin} with {name}={value}: {stderr}"
        );
        assert!(
            stderr.contains(name),
            "{bin}: the message names {name}: {stderr}"
        );
    }
}

#[test]
fn a_broken_config_file_stops_the_binary_naming_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("delivery.toml");
    std::fs::write(&file, "API_ADDR = [\n").expect("write");
    let path = file.display().to_string();
    for bin in BINARIES {
        let out = run(
            bin,
            &[],
            &[("DELIVERY_CONFIG", &path)],
            Duration::from_secs(10),
        );
        assert_eq!(out.status.code(), Some(2), "{bin}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("delivery.toml"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_check_reads_its_settings_from_the_config_file() {
    let stack = Stack::start(StackOptions::default()).await;
    let restaurant = stack
        .signed_in(identity::Role::Restaurant, "r-config")
        .await;
    let id = restaurant.call_rider(1500).await;
    let settings = stack.checker_settings();
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("check.toml");
    std::fs::write(
        &file,
        format!(
            "TEMPORAL_ADDRESS = \"{}\"\nTEMPORAL_CODEC_KEYS_DIR = \"{}\"\nDELIVERY_TASK_QUEUE = \"{}\"\nPAYMENT_DATABASE_URL = \"{}\"\nREADMODEL_DATABASE_URL = \"{}\"\n",
            stack.temporal_address,
            settings.temporal.codec.keys_dir.display(),
            settings.queue.task_queue,
            settings.ledger.database_url,
            settings.readmodel.database_url,
        ),
    )
    .expect("write");
    let config = file.display().to_string();
    // The delivery is registered before the checker looks, so the ledger has its payment.
    eventually("the payment", Duration::from_secs(20), || async {
        let (status, _) = restaurant.get(&format!("/payments/{id}")).await;
        (status == 200).then_some(())
    })
    .await;
    let out = tokio::task::spawn_blocking(move || {
        run(
            "delivery-check",
            &["--config", &config],
            &[],
            Duration::from_secs(60),
        )
    })
    .await
    .expect("run the checker");
    let report = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(report.contains("deliveries: 1\n"), "{report}");
    assert!(report.contains("payments: 1\n"), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_environment_overrides_the_config_file_which_overrides_the_defaults() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (file_port, env_port) = (free_port(), free_port());
    let file = dir.path().join("payment.toml");
    let pki = dir.path().join("pki");
    let db = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("ledger.db").display()
    );
    std::fs::write(
        &file,
        format!(
            "PAYMENT_ADDR = \"127.0.0.1:{file_port}\"\nPAYMENT_DATABASE_URL = \"{db}\"\nPAYMENT_METRICS_ADDR = \"off\"\nPAYMENT_HEALTH_ADDR = \"off\"\nPAYMENT_TLS_DIR = \"{}\"\n",
            pki.display()
        ),
    )
    .expect("write");

    // A service refuses a ledger nobody migrated, naming the command that does...
    let path = file.display().to_string();
    let refused = run(
        "payment-service",
        &[],
        &[("DELIVERY_CONFIG", &path)],
        Duration::from_secs(20),
    );
    assert_eq!(refused.status.code(), Some(1));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&refused.stdout),
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(said.contains("payment-service migrate"), "{said}");
    // ...which reads the same file and exits 0.
    let migrated = run(
        "payment-service",
        &["migrate"],
        &[("DELIVERY_CONFIG", &path)],
        Duration::from_secs(20),
    );
    assert_eq!(migrated.status.code(), Some(0), "{migrated:?}");

    // The file alone sets the address...
    let mut from_file = e2e_child(
        Command::new(binary("payment-service"))
            .env("DELIVERY_CONFIG", &file)
            .env_remove("PAYMENT_ADDR")
            .env_remove("PAYMENT_DATABASE_URL")
            .env_remove("PAYMENT_METRICS_ADDR"),
    );
    let file_addr = format!("127.0.0.1:{file_port}");
    wait_until(
        "the file's port to serve",
        Duration::from_secs(20),
        || async { payment_serving(&file_addr, Some(&pki)).await },
    )
    .await;
    let _ = from_file.kill();
    let _ = from_file.wait();

    // ...and the environment wins over it.
    let mut from_env = e2e_child(
        Command::new(binary("payment-service"))
            .env("DELIVERY_CONFIG", &file)
            .env_remove("PAYMENT_DATABASE_URL")
            .env_remove("PAYMENT_METRICS_ADDR")
            .env("PAYMENT_ADDR", format!("127.0.0.1:{env_port}")),
    );
    let env_addr = format!("127.0.0.1:{env_port}");
    wait_until(
        "the environment's port to serve",
        Duration::from_secs(20),
        || async { payment_serving(&env_addr, Some(&pki)).await },
    )
    .await;
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", file_port))
            .await
            .is_err()
    );
    let _ = from_env.kill();
    let _ = from_env.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_answers_healthz_and_readyz_and_payment_answers_grpc_health() {
    let stack = ProcStack::start(ProcOptions::default()).await;
    // ProcStack waits for the payment service's gRPC health to report SERVING (over mutual
    // TLS); probes without a certificate ask the plaintext health port...
    let health = format!("127.0.0.1:{}", stack.payment_health_port);
    assert!(payment_serving(&health, None).await);
    // ...which serves nothing else, while the service's port speaks TLS only.
    assert!(!payment_serving(&stack.payment_addr(), None).await);
    let mut over_health = payment_api::client(
        tonic::transport::Endpoint::from_shared(format!("http://{health}"))
            .expect("endpoint")
            .connect_lazy(),
        None,
    );
    let answer = over_health
        .get_payment(payment_api::proto::GetPaymentRequest {
            delivery_id: "d-1".to_owned(),
        })
        .await;
    assert_eq!(
        answer.map(|_| ()).unwrap_err().code(),
        tonic::Code::Unimplemented
    );
    let worker = stack.worker_metrics_ports[0];
    for path in ["/healthz", "/readyz"] {
        let status = eventually(path, Duration::from_secs(20), || async {
            let answer = reqwest::get(format!("http://127.0.0.1:{worker}{path}")).await;
            answer
                .ok()
                .filter(|r| r.status().is_success())
                .map(|r| r.status().as_u16())
        })
        .await;
        assert_eq!(status, 200, "{path}");
    }
}

fn e2e_child(command: &mut Command) -> std::process::Child {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn")
}

/// The variables a binary of ours reads: derived from its settings' declarations, plus
/// Temporal's standard client variables for the binaries that connect to Temporal.
fn reads(binary: &str) -> Vec<String> {
    use clap::CommandFactory;
    let command = match binary {
        "delivery-api" => api::Settings::command(),
        "delivery-worker" => worker::Settings::command(),
        "delivery-check" => checker::Settings::command(),
        "payment-service" => payment::Settings::command(),
        "loadgen" => loadgen::Settings::command(),
        other => panic!("unknown binary {other}"),
    };
    let mut vars = config::env_vars(&command);
    if vars.iter().any(|v| v == "TEMPORAL_ADDRESS") {
        vars.extend(workflows::client::TEMPORAL_ENV_VARS.map(str::to_owned));
    }
    vars
}

#[test]
fn each_binarys_variables_come_from_its_settings() {
    let api = reads("delivery-api");
    for var in [
        "API_ADDR",
        "API_PAYMENT_WAIT_MS",
        "READMODEL_DATABASE_URL",
        "PAYMENT_URL",
        "TEMPORAL_ADDRESS",
        "TEMPORAL_API_KEY",
        "LOG_FORMAT",
        "DELIVERY_CONFIG",
    ] {
        assert!(api.iter().any(|v| v == var), "delivery-api reads {var}");
    }
    let payment = reads("payment-service");
    assert!(payment.iter().any(|v| v == "PAYMENT_DATABASE_URL"));
    assert!(
        !payment.iter().any(|v| v.starts_with("TEMPORAL_")),
        "payment-service knows nothing of Temporal: {payment:?}"
    );
    let check = reads("delivery-check");
    assert!(check.iter().any(|v| v == "PAYMENT_DATABASE_URL"));
    assert!(!check.iter().any(|v| v == "LOG_FORMAT"), "{check:?}");
}

fn infra(path: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../infra")
        .join(path)
}

fn command_binary(command: &serde_yaml::Value) -> Option<String> {
    command.as_sequence()?.first()?.as_str().map(str::to_owned)
}

/// `environment:` as a map or as a `KEY=value` list.
fn environment_keys(env: &serde_yaml::Value) -> Vec<String> {
    match env {
        serde_yaml::Value::Mapping(map) => map
            .keys()
            .filter_map(|k| k.as_str().map(str::to_owned))
            .collect(),
        serde_yaml::Value::Sequence(list) => list
            .iter()
            .filter_map(|item| item.as_str()?.split('=').next().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

#[test]
fn docker_compose_sets_only_variables_our_binaries_read() {
    let text = std::fs::read_to_string(infra("docker-compose.yml")).expect("read compose");
    let mut doc: serde_yaml::Value = serde_yaml::from_str(&text).expect("parse compose");
    doc.apply_merge().expect("merge anchors");
    let mut checked = 0;
    for (name, service) in doc["services"].as_mapping().expect("services") {
        let Some(binary) = command_binary(&service["command"]) else {
            continue;
        };
        if !service["image"]
            .as_str()
            .is_some_and(|i| i.starts_with("delivery-agency"))
        {
            continue;
        }
        let allowed = reads(&binary);
        for key in environment_keys(&service["environment"]) {
            assert!(
                allowed.contains(&key),
                "compose service {name:?} ({binary}) sets {key}, which it never reads"
            );
            checked += 1;
        }
    }
    assert!(
        checked > 10,
        "compose sets variables on our services ({checked} checked)"
    );
}

#[test]
fn kubernetes_manifests_set_only_variables_our_binaries_read() {
    let mut docs = Vec::new();
    for entry in std::fs::read_dir(infra("k8s/manifests")).expect("read manifests") {
        let text = std::fs::read_to_string(entry.expect("entry").path()).expect("read manifest");
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let value = serde_yaml::Value::deserialize(doc).expect("parse manifest");
            if !value.is_null() {
                docs.push(value);
            }
        }
    }
    // ConfigMap and Secret keys, by name, as envFrom brings them in whole.
    let mut sources = std::collections::HashMap::new();
    for doc in &docs {
        if matches!(doc["kind"].as_str(), Some("ConfigMap" | "Secret")) {
            let mut keys = Vec::new();
            for field in ["data", "stringData"] {
                if let Some(map) = doc[field].as_mapping() {
                    keys.extend(map.keys().filter_map(|k| k.as_str().map(str::to_owned)));
                }
            }
            let kind = doc["kind"].as_str().unwrap_or_default().to_owned();
            let name = doc["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            sources.insert((kind, name), keys);
        }
    }
    let mut checked = 0;
    for doc in &docs {
        let pod = match doc["kind"].as_str() {
            Some("Deployment" | "Job") => &doc["spec"]["template"]["spec"],
            Some("CronJob") => &doc["spec"]["jobTemplate"]["spec"]["template"]["spec"],
            _ => continue,
        };
        let containers = pod["containers"].as_sequence().into_iter().flatten();
        for container in containers {
            if !container["image"]
                .as_str()
                .is_some_and(|i| i.starts_with("delivery-agency"))
            {
                continue;
            }
            let binary =
                command_binary(&container["command"]).expect("our containers name their binary");
            let allowed = reads(&binary);
            let mut keys: Vec<String> = container["env"]
                .as_sequence()
                .into_iter()
                .flatten()
                .filter_map(|e| e["name"].as_str().map(str::to_owned))
                .collect();
            for from in container["envFrom"].as_sequence().into_iter().flatten() {
                // A ConfigMap and a Secret may share a name: look each up by its kind.
                let source = match (
                    from["configMapRef"]["name"].as_str(),
                    from["secretRef"]["name"].as_str(),
                ) {
                    (Some(name), _) => ("ConfigMap".to_owned(), name.to_owned()),
                    (None, Some(name)) => ("Secret".to_owned(), name.to_owned()),
                    (None, None) => panic!("envFrom without a source: {from:?}"),
                };
                let defined = sources
                    .get(&source)
                    .unwrap_or_else(|| panic!("envFrom {source:?} is not defined"));
                keys.extend(defined.iter().cloned());
            }
            let name = doc["metadata"]["name"].as_str().unwrap_or_default();
            for key in keys {
                assert!(
                    allowed.contains(&key),
                    "{name} ({binary}) is given {key}, which it never reads"
                );
                checked += 1;
            }
        }
    }
    assert!(
        checked > 10,
        "the manifests set variables on our containers ({checked} checked)"
    );
}
