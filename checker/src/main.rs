//! `delivery-check`: prints the invariant report for one stack and exits 1 on any mismatch.
//!
//! Reads the same variables as the services whose records it checks (`delivery-check --help`):
//! Temporal's standard client configuration, `DELIVERY_TASK_QUEUE`, `PAYMENT_DATABASE_URL`,
//! `READMODEL_DATABASE_URL`; flags over the environment over the `DELIVERY_CONFIG` file.

use anyhow::Context;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings: checker::Settings = config::parse();
    let report = checker::check(&settings)
        .await
        .context("read the records")?;
    print!("{report}");
    if !report.is_consistent() {
        std::process::exit(1);
    }
    Ok(())
}
