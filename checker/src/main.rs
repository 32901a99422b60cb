//! `delivery-check`: prints the invariant report for one stack and exits 1 on any mismatch.
//!
//! Reads the same variables as the other binaries: `TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`,
//! `DELIVERY_TASK_QUEUE`, `PAYMENT_DATABASE_URL`, `READMODEL_DATABASE_URL` (environment over the
//! `DELIVERY_CONFIG` file).

use anyhow::Context;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let var =
        |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
    let settings = checker::Settings {
        temporal_address: var("TEMPORAL_ADDRESS", "127.0.0.1:7233"),
        temporal_namespace: var("TEMPORAL_NAMESPACE", "default"),
        task_queue: var("DELIVERY_TASK_QUEUE", "deliveries"),
        payment_database_url: var("PAYMENT_DATABASE_URL", "sqlite://.data/payment.db?mode=rwc"),
        readmodel_database_url: var(
            "READMODEL_DATABASE_URL",
            "sqlite://.data/deliveries.db?mode=rwc",
        ),
    };
    let report = checker::check(&settings)
        .await
        .context("read the records")?;
    print!("{report}");
    if !report.is_consistent() {
        std::process::exit(1);
    }
    Ok(())
}
