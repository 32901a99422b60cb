//! What a platform engineer relies on: settings layered and validated at start.

use serde::Deserialize;
use std::{
    process::{Command, Stdio},
    time::Duration,
};

use e2e::{
    free_port,
    procs::{binary, wait_until},
};

#[test]
fn a_bad_setting_stops_each_binary_at_start_naming_the_variable() {
    let cases = [
        ("delivery-api", "API_ADDR", "not-an-address"),
        ("delivery-api", "API_PAYMENT_WAIT_MS", "soon"),
        ("delivery-worker", "WORKER_ROLES", "riders"),
        ("delivery-worker", "WORKER_SHUTDOWN_GRACE_SECS", "-1"),
        ("payment-service", "PAYMENT_ADDR", "nowhere"),
        ("payment-service", "PAYMENT_DATABASE_URL", "mysql://x"),
    ];
    for (bin, name, value) in cases {
        let out = Command::new(binary(bin))
            .env(name, value)
            .env_remove("DELIVERY_CONFIG")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run {bin}: {e} (build with `cargo build --bins`)"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{bin} accepted {name}={value}");
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
    let out = Command::new(binary("delivery-api"))
        .env("DELIVERY_CONFIG", &file)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("delivery.toml"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_environment_overrides_the_config_file_which_overrides_the_defaults() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (file_port, env_port) = (free_port(), free_port());
    let file = dir.path().join("payment.toml");
    let db = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("ledger.db").display()
    );
    std::fs::write(
        &file,
        format!("PAYMENT_ADDR = \"127.0.0.1:{file_port}\"\nPAYMENT_DATABASE_URL = \"{db}\"\n"),
    )
    .expect("write");

    // The file alone sets the address...
    let mut from_file = e2e_child(
        Command::new(binary("payment-service"))
            .env("DELIVERY_CONFIG", &file)
            .env_remove("PAYMENT_ADDR"),
    );
    wait_until(
        "the file's port to listen",
        Duration::from_secs(20),
        || async {
            tokio::net::TcpStream::connect(("127.0.0.1", file_port))
                .await
                .is_ok()
        },
    )
    .await;
    let _ = from_file.kill();
    let _ = from_file.wait();

    // ...and the environment wins over it.
    let mut from_env = e2e_child(
        Command::new(binary("payment-service"))
            .env("DELIVERY_CONFIG", &file)
            .env("PAYMENT_ADDR", format!("127.0.0.1:{env_port}")),
    );
    wait_until(
        "the environment's port to listen",
        Duration::from_secs(20),
        || async {
            tokio::net::TcpStream::connect(("127.0.0.1", env_port))
                .await
                .is_ok()
        },
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

fn e2e_child(command: &mut Command) -> std::process::Child {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn")
}

/// The variables a binary of ours reads (its own, and Temporal's standard client ones).
fn reads(binary: &str) -> Vec<&'static str> {
    let mut vars: Vec<&'static str> = match binary {
        "delivery-api" => api::ENV_VARS.to_vec(),
        // delivery-check runs from the same image with the worker's settings.
        "delivery-worker" | "delivery-check" => worker::ENV_VARS.to_vec(),
        "payment-service" => payment::settings::ENV_VARS.to_vec(),
        other => panic!("unknown binary {other}"),
    };
    if binary != "payment-service" {
        vars.extend(workflows::client::TEMPORAL_ENV_VARS);
    }
    vars.extend(telemetry::ENV_VARS);
    vars
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
                allowed.contains(&key.as_str()),
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
                    allowed.contains(&key.as_str()),
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
