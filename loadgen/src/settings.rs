//! `loadgen`'s settings, each declared once with its flag, variable and default.

use std::{path::PathBuf, time::Duration};

use workflows::client::TemporalSettings;

use crate::soak::Part;

/// `loadgen`'s settings, each with its flag, variable (`LOADGEN_*`, and Temporal's standard
/// ones) and default; the `DELIVERY_CONFIG` file may set them too.
#[derive(clap::Parser, Debug)]
#[command(
    name = "loadgen",
    version,
    about = "Drives the full delivery flow over the public HTTP API and reports throughput, latency per step and the stack's CPU and memory; --ceiling adds the Temporal server's own limit for the same interaction pattern, --park measures parked deliveries"
)]
pub struct Settings {
    #[command(subcommand)]
    pub command: Option<Command>,
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
    /// How the run's restaurants dispatch: `offer` makes them offer each call to one rider at
    /// a time (restaurants `load-offer-*`, in a zone of their own), and the rider offered
    /// accepts before picking up
    #[arg(
        long,
        env = "LOADGEN_DISPATCH",
        value_name = "MODE",
        value_enum,
        default_value_t = crate::Dispatch::Broadcast
    )]
    pub dispatch: crate::Dispatch,
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
    /// Meanwhile read deliveries (`GET /deliveries/{id}`, each as its restaurant) at R a
    /// second, drawn from the deliveries the run's restaurants already have (see --read-pool);
    /// reported as step `read`
    #[arg(long, env = "LOADGEN_READS", value_name = "R", value_parser = positive_rate)]
    pub reads: Option<f64>,
    /// How many existing deliveries --reads draws from, listed before the measured part
    /// (make them first with a run of as many deliveries)
    #[arg(
        long = "read-pool",
        env = "LOADGEN_READ_POOL",
        value_name = "N",
        default_value_t = 10_000,
        requires = "reads"
    )]
    pub read_pool: usize,
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

/// A run other than the load measurements of the flags above.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum Command {
    /// Deliveries at a fixed rate while a part of the run command's stack (./infra/run.sh) is
    /// SIGKILLed at random at a fixed interval; then waits for every delivery to settle, runs
    /// the invariant checker and exits 1 on a lost delivery, a double payment or a mismatch.
    /// The API, operator and Temporal settings above apply (give them before `soak`, or as
    /// variables)
    Soak(SoakSettings),
}

/// `loadgen soak`'s settings.
#[derive(clap::Args, Debug, Clone)]
pub struct SoakSettings {
    /// New deliveries per second, however long the others take (open model)
    #[arg(
        long,
        env = "LOADGEN_SOAK_RATE",
        value_name = "R",
        default_value_t = 20.0,
        value_parser = positive_rate
    )]
    pub rate: f64,
    /// How long new deliveries arrive (`10m`, `90s`, `1h`; a bare number is seconds)
    #[arg(
        long,
        env = "LOADGEN_SOAK_DURATION",
        value_name = "DURATION",
        default_value = "10m",
        value_parser = duration
    )]
    pub duration: Duration,
    /// Time between kills; the first comes one interval after the start, the last before the
    /// arrivals end
    #[arg(
        long = "kill-every",
        env = "LOADGEN_SOAK_KILL_EVERY",
        value_name = "DURATION",
        default_value = "30s",
        value_parser = duration
    )]
    pub kill_every: Duration,
    /// The parts that may be killed, each once per round in a random order (the names of the
    /// run command's processes)
    #[arg(
        long,
        env = "LOADGEN_SOAK_KILL",
        value_name = "PART,...",
        value_delimiter = ',',
        default_value = "temporal,payment-service,delivery-worker,delivery-api"
    )]
    pub kill: Vec<Part>,
    /// Seed of the kill order, to repeat a run's [default: from the clock; printed]
    #[arg(long, env = "LOADGEN_SOAK_SEED", value_name = "N")]
    pub seed: Option<u64>,
    /// How long a delivery may take from its arrival to settled, kills included, before it
    /// counts as lost; after the last arrival the soak waits at most this long
    #[arg(
        long = "settle-timeout",
        env = "LOADGEN_SOAK_SETTLE_TIMEOUT",
        value_name = "DURATION",
        default_value = "2m",
        value_parser = duration
    )]
    pub settle_timeout: Duration,
    /// The run command's data directory: the supervisor's pid files (`logs/<part>.pid`), the
    /// databases the checker reads (`payment.db`, `deliveries.db`) and, unless
    /// TEMPORAL_CODEC_KEYS_DIR says otherwise, the payload keys (`codec-keys/`)
    #[arg(
        long = "data-dir",
        env = "DATA_DIR",
        value_name = "DIR",
        default_value = ".data"
    )]
    pub data_dir: PathBuf,
    /// The invariant checker to run at the end [default: `delivery-check` beside this binary]
    #[arg(long, env = "LOADGEN_SOAK_CHECKER", value_name = "PATH")]
    pub checker: Option<PathBuf>,
    /// The payment ledger the checker reads [default: the data directory's `payment.db`]
    #[arg(
        long = "payment-database-url",
        env = "PAYMENT_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub payment_database_url: Option<String>,
    /// The delivery list the checker reads [default: the data directory's `deliveries.db`]
    #[arg(
        long = "readmodel-database-url",
        env = "READMODEL_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub readmodel_database_url: Option<String>,
}

/// A duration as `10m`, `90s`, `1h`, `500ms`, or a bare number of seconds.
fn duration(value: &str) -> Result<Duration, String> {
    let value = value.trim();
    let split = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{value:?} is not a duration such as 10m, 90s or 500ms"))?;
    let seconds = match unit.trim() {
        "" | "s" => number,
        "ms" => number / 1000.0,
        "m" | "min" => number * 60.0,
        "h" => number * 3600.0,
        other => return Err(format!("unknown unit {other:?} (ms, s, m or h)")),
    };
    match Duration::try_from_secs_f64(seconds) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err(format!("{value:?} must be above 0")),
    }
}

fn positive_rate(value: &str) -> Result<f64, String> {
    match value.trim().parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err(format!("{value:?} is not a rate above 0")),
    }
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
        assert!(settings.command.is_none());
        assert_eq!(
            (
                settings.operator.as_str(),
                settings.operator_secret.as_str()
            ),
            ("ops-1", "demo-ops-1")
        );
    }

    #[test]
    fn soak_takes_its_rate_duration_interval_and_parts() {
        let settings: Settings = config::try_parse_from([
            "loadgen",
            "soak",
            "--rate",
            "20",
            "--duration",
            "10m",
            "--kill-every",
            "30s",
            "--kill",
            "delivery-worker,delivery-api",
            "--seed",
            "7",
        ])
        .unwrap();
        let Some(Command::Soak(soak)) = settings.command else {
            panic!("not a soak: {:?}", settings.command);
        };
        assert_eq!(soak.rate, 20.0);
        assert_eq!(soak.duration, Duration::from_secs(600));
        assert_eq!(soak.kill_every, Duration::from_secs(30));
        assert_eq!(soak.kill, [Part::Worker, Part::Api]);
        assert_eq!(soak.seed, Some(7));
        assert_eq!(soak.data_dir, PathBuf::from(".data"));
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(duration("0s").is_err());
        assert!(duration("soon").is_err());
        assert!(duration("5d").is_err());
        assert!(positive_rate("0").is_err());
    }
}
