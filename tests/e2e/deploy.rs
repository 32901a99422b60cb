//! What a platform engineer relies on: settings layered and validated at start.

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
