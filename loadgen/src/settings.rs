//! `loadgen`'s settings, each declared once with its flag, variable and default.

use std::path::PathBuf;

use workflows::client::TemporalSettings;

/// `loadgen`'s settings, each with its flag, variable (`LOADGEN_*`, and Temporal's standard
/// ones) and default; the `DELIVERY_CONFIG` file may set them too.
#[derive(clap::Parser, Debug)]
#[command(
    name = "loadgen",
    version,
    about = "Drives the full delivery flow over the public HTTP API and reports throughput, latency per step and the stack's CPU and memory; --ceiling adds the Temporal server's own limit for the same interaction pattern, --park measures parked deliveries"
)]
pub struct Settings {
    #[command(flatten)]
    pub config: config::ConfigFile,
    /// The API under load
    #[arg(
        long,
        env = "LOADGEN_API",
        value_name = "URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub api: String,
    /// The operator account that signs in first and makes the restaurant and rider accounts
    /// the run acts as (an existing one's secret is rotated, ending its other sessions)
    #[arg(
        long,
        env = "LOADGEN_OPERATOR",
        value_name = "ID",
        default_value = "ops-1"
    )]
    pub operator: String,
    /// The operator's secret (the local run's demo operator's by default)
    #[arg(
        long = "operator-secret",
        env = "LOADGEN_OPERATOR_SECRET",
        value_name = "SECRET",
        default_value = "demo-ops-1",
        hide_env_values = true
    )]
    pub operator_secret: String,
    /// Deliveries to drive end to end
    #[arg(
        long,
        env = "LOADGEN_DELIVERIES",
        value_name = "N",
        default_value_t = 200
    )]
    pub deliveries: usize,
    /// Deliveries in flight at all times (closed model) [default: 20]
    #[arg(
        long,
        env = "LOADGEN_CONCURRENCY",
        value_name = "C",
        conflicts_with = "rate"
    )]
    pub concurrency: Option<usize>,
    /// New deliveries per second however long the others take (open model)
    #[arg(long, env = "LOADGEN_RATE", value_name = "R")]
    pub rate: Option<f64>,
    /// Also write the report as JSON to FILE
    #[arg(long, env = "LOADGEN_JSON", value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Then run the same load against a no-op workflow of the same shape on the same Temporal
    /// server, served by a worker inside loadgen, and report our throughput as a fraction of it
    #[arg(long, env = "LOADGEN_CEILING", conflicts_with = "ceiling_only")]
    pub ceiling: bool,
    /// Measure the Temporal server's ceiling alone, without the HTTP run
    #[arg(long = "ceiling-only", env = "LOADGEN_CEILING_ONLY")]
    pub ceiling_only: bool,
    #[command(flatten)]
    pub temporal: TemporalSettings,
    /// Park N calls nobody picks up and compare probe deliveries before and after (measures
    /// on its own: not with --ceiling)
    #[arg(long, env = "LOADGEN_PARK", value_name = "N", conflicts_with_all = ["ceiling", "ceiling_only"])]
    pub park: Option<usize>,
    /// Calls in flight at a time while parking
    #[arg(
        long = "park-concurrency",
        env = "LOADGEN_PARK_CONCURRENCY",
        value_name = "C",
        default_value_t = 50
    )]
    pub park_concurrency: usize,
    /// Probe deliveries driven end to end before parking, and again after
    #[arg(long, env = "LOADGEN_PROBE", value_name = "K", default_value_t = 20)]
    pub probe: usize,
    /// Seconds between parking and the loaded probe, for the last calls' workflow tasks
    #[arg(
        long = "park-settle",
        env = "LOADGEN_PARK_SETTLE",
        value_name = "SECONDS",
        default_value_t = 5.0
    )]
    pub park_settle: f64,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_settings_are_well_formed() {
        Settings::command().debug_assert();
        let settings: Settings = config::defaults();
        assert_eq!(settings.deliveries, 200);
        assert_eq!(settings.park, None);
        assert_eq!(
            (
                settings.operator.as_str(),
                settings.operator_secret.as_str()
            ),
            ("ops-1", "demo-ops-1")
        );
    }
}
