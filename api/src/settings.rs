//! The API's settings: each declared once, with its flag, environment variable, default and
//! help (`delivery-api --help`); read by `config::parse`, which adds the `DELIVERY_CONFIG` file
//! layer.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use telemetry::metrics::MetricsAddr;
use workflows::client::{QueueSettings, TemporalSettings};

/// `delivery-api [migrate]`: everything the API reads at start.
#[derive(clap::Parser, Debug, Clone)]
#[command(
    name = "delivery-api",
    version,
    about = "The delivery agency's HTTP API: restaurant and rider requests as Temporal workflow starts, updates and queries; the delivery list; payment lookups"
)]
pub struct Settings {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub config: config::ConfigFile,
    /// Where the HTTP API listens
    #[arg(long = "addr", env = "API_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    #[command(flatten)]
    pub temporal: TemporalSettings,
    #[command(flatten)]
    pub queue: QueueSettings,
    #[command(flatten)]
    pub payment: payment_api::ClientSettings,
    #[command(flatten)]
    pub readmodel: readmodel::DatabaseSettings,
    /// How long `POST /deliveries` waits for the payment registration before answering 202,
    /// in milliseconds
    #[arg(
        long = "payment-wait-ms",
        env = "API_PAYMENT_WAIT_MS",
        value_name = "MS",
        default_value = "3000",
        value_parser = config::millis
    )]
    pub payment_wait: Duration,
    /// How long pickup, complete and cancel wait for a worker before answering 503, in
    /// milliseconds
    #[arg(
        long = "update-wait-ms",
        env = "API_UPDATE_WAIT_MS",
        value_name = "MS",
        default_value = "5000",
        value_parser = config::millis
    )]
    pub update_wait: Duration,
    /// How long a read waits for the workflow before falling back to the delivery list, in
    /// milliseconds
    #[arg(
        long = "query-timeout-ms",
        env = "API_QUERY_TIMEOUT_MS",
        value_name = "MS",
        default_value = "2000",
        value_parser = config::millis
    )]
    pub query_timeout: Duration,
    /// Seconds a new delivery waits for a pickup before it is cancelled [default: the
    /// workflow's, 1800]
    #[arg(
        long = "pickup-deadline-secs",
        env = "DELIVERY_PICKUP_DEADLINE_SECS",
        value_name = "SECS"
    )]
    pub pickup_deadline_secs: Option<u64>,
    /// Seconds a picked-up delivery has to complete before it is flagged overdue [default: the
    /// workflow's, 7200]
    #[arg(
        long = "completion-deadline-secs",
        env = "DELIVERY_COMPLETION_DEADLINE_SECS",
        value_name = "SECS"
    )]
    pub completion_deadline_secs: Option<u64>,
    /// Seconds a failing step of a new delivery is retried before the delivery is flagged
    /// for an operator's decision [default: the workflow's, 900]
    #[arg(
        long = "step-retry-budget-secs",
        env = "DELIVERY_STEP_RETRY_BUDGET_SECS",
        value_name = "SECS"
    )]
    pub step_retry_budget_secs: Option<u64>,
    /// Seconds an offer waits for its rider's answer (restaurants in offer mode)
    #[arg(
        long = "offer-timeout-secs",
        env = "DELIVERY_OFFER_TIMEOUT_SECS",
        value_name = "SECS",
        default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub offer_timeout_secs: u64,
    /// Offers of a call, one rider at a time, before it goes to every rider and is flagged
    /// unassigned (restaurants in offer mode)
    #[arg(
        long = "offer-rounds",
        env = "DELIVERY_OFFER_ROUNDS",
        value_name = "N",
        default_value_t = 3,
        value_parser = clap::value_parser!(u32).range(0..=100)
    )]
    pub offer_rounds: u32,
    /// Where Prometheus `/metrics` is served; `off` for nowhere
    #[arg(
        long = "metrics-addr",
        env = "API_METRICS_ADDR",
        value_name = "ADDR",
        default_value = "127.0.0.1:9101"
    )]
    pub metrics_addr: MetricsAddr,
    /// How long the delivery list may trail Temporal before `GET /ops/summary` reports a
    /// delivery as drifted, in milliseconds
    #[arg(
        long = "drift-grace-ms",
        env = "OPS_DRIFT_GRACE_MS",
        value_name = "MS",
        default_value = "3000",
        value_parser = config::millis
    )]
    pub drift_grace: Duration,
    #[command(flatten)]
    pub identity: IdentitySettings,
    /// Origins of the Temporal Web UI that may call the codec server (`/codec/*`) with
    /// credentials, comma-separated
    #[arg(
        long = "codec-cors-origins",
        env = "API_CODEC_CORS_ORIGINS",
        value_name = "ORIGINS",
        value_delimiter = ',',
        default_value = "http://127.0.0.1:8233,http://localhost:8233",
        value_parser = cors_origin
    )]
    pub codec_cors_origins: Vec<axum::http::HeaderValue>,
    /// The Temporal Web UI's address, where the operators' page links each delivery's
    /// workflow and the money runs; `off` for no links
    #[arg(
        long = "temporal-ui-url",
        env = "API_TEMPORAL_UI_URL",
        value_name = "URL",
        default_value = "http://127.0.0.1:8233",
        value_parser = temporal_ui_url
    )]
    pub temporal_ui_url: TemporalUiUrl,
    #[command(flatten)]
    pub limits: crate::LimitSettings,
    #[command(flatten)]
    pub telemetry: telemetry::Settings,
}

/// Who may call: our own tokens' keys, issuer and lifetime, and an optional external OpenID
/// provider whose tokens are accepted too.
#[derive(clap::Args, Debug, Clone)]
pub struct IdentitySettings {
    /// Directory of the token signing keys, one PKCS#8 PEM Ed25519 key per `<kid>.pem`; every
    /// key verifies, the newest (greatest key id) signs unless `--signing-key-id` says; a key is
    /// generated there when it holds none
    #[arg(
        long = "signing-keys-dir",
        env = "API_SIGNING_KEYS_DIR",
        value_name = "DIR",
        default_value = ".data/keys"
    )]
    pub signing_keys_dir: PathBuf,
    /// The key id that signs new tokens [default: the greatest key id in the directory]
    #[arg(
        long = "signing-key-id",
        env = "API_SIGNING_KEY_ID",
        value_name = "KID"
    )]
    pub signing_key_id: Option<String>,
    /// The `iss` of our tokens: the API's public URL
    #[arg(
        long = "token-issuer",
        env = "API_TOKEN_ISSUER",
        value_name = "URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub token_issuer: String,
    /// The `aud` our tokens carry and an external provider's tokens must carry
    #[arg(
        long = "token-audience",
        env = "API_TOKEN_AUDIENCE",
        value_name = "AUD",
        default_value = "delivery-api"
    )]
    pub token_audience: String,
    /// How long an access token is valid, in seconds
    #[arg(
        long = "token-ttl-secs",
        env = "API_TOKEN_TTL_SECS",
        value_name = "SECS",
        default_value = "3600",
        value_parser = clap::value_parser!(u64).range(1..=86_400)
    )]
    pub token_ttl_secs: u64,
    /// An external OpenID provider's issuer URL: its access tokens are accepted too, for
    /// accounts created here with `"external": true` [default: none]
    #[arg(long = "oidc-issuer", env = "API_OIDC_ISSUER", value_name = "URL")]
    pub oidc_issuer: Option<String>,
    /// The claim of the provider's tokens that holds the role
    #[arg(
        long = "oidc-role-claim",
        env = "API_OIDC_ROLE_CLAIM",
        value_name = "CLAIM",
        default_value = "role"
    )]
    pub oidc_role_claim: String,
    /// The claim of the provider's tokens that holds the account id
    #[arg(
        long = "oidc-id-claim",
        env = "API_OIDC_ID_CLAIM",
        value_name = "CLAIM",
        default_value = "sub"
    )]
    pub oidc_id_claim: String,
}

/// An origin as a browser sends it: `http(s)://host[:port]`, nothing after.
/// The Temporal Web UI's base address, or none (`off`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemporalUiUrl(pub Option<String>);

fn temporal_ui_url(url: &str) -> Result<TemporalUiUrl, String> {
    if url == "off" {
        return Ok(TemporalUiUrl(None));
    }
    let url = url.trim_end_matches('/');
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.contains(['?', '#', ' ', '"']) => {
            Ok(TemporalUiUrl(Some(url.to_owned())))
        }
        _ => Err(format!("{url:?} is not an http(s) address, nor `off`")),
    }
}

fn cors_origin(origin: &str) -> Result<axum::http::HeaderValue, String> {
    let rest = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains('/') => {
            axum::http::HeaderValue::from_str(origin).map_err(|e| e.to_string())
        }
        _ => Err(format!(
            "{origin:?} is not an origin (http(s)://host[:port], no path)"
        )),
    }
}

impl IdentitySettings {
    pub fn token_ttl(&self) -> Duration {
        Duration::from_secs(self.token_ttl_secs)
    }
}

/// What `delivery-api` does instead of serving.
#[derive(clap::Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Bring the delivery list, dispatch store and accounts database's schema up to date, then
    /// exit: run it once before the API and the workers start (and before each upgrade), with
    /// the same settings
    Migrate,
    /// Manage accounts from the command line (everything else goes through `/accounts`)
    #[command(subcommand)]
    Accounts(AccountsCommand),
}

/// `delivery-api accounts …`
#[derive(clap::Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum AccountsCommand {
    /// Create the first operator and print its secret, once; refused when the id exists
    CreateOperator {
        /// The operator's account id
        #[arg(long, value_name = "ID", default_value = "ops-1")]
        id: String,
        /// The operator's name
        #[arg(long, value_name = "NAME", default_value = "Operator")]
        name: String,
    },
    /// Create the demo accounts of a local run (restaurants r-1 and r-2, riders rider-7 and
    /// rider-8, operator ops-1; secret `demo-<id>`); those that exist are left alone. The run
    /// command's local default calls it; never run it on a deployment
    CreateDemo,
}

impl Settings {
    /// The defaults, with the given Temporal server, payment service and delivery-list
    /// database, and no metrics endpoint (for tests and embedding).
    pub fn new(temporal_address: &str, payment_url: &str, readmodel_database_url: &str) -> Self {
        let mut settings: Self = config::defaults();
        settings.temporal = TemporalSettings::at(temporal_address, "default");
        settings.payment.payment_url = payment_url.to_owned();
        settings.readmodel.database_url = readmodel_database_url.to_owned();
        settings.metrics_addr = MetricsAddr(None);
        settings
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_settings_are_well_formed_and_their_defaults_parse() {
        Settings::command().debug_assert();
        let settings: Settings = config::defaults();
        assert_eq!(settings.addr.to_string(), "127.0.0.1:8080");
        assert_eq!(settings.payment_wait, Duration::from_millis(3000));
        assert_eq!(settings.queue.task_queue, "deliveries");
        assert_eq!(settings.pickup_deadline_secs, None);
        assert_eq!(
            settings.codec_cors_origins,
            ["http://127.0.0.1:8233", "http://localhost:8233"]
        );
        assert_eq!(
            settings.temporal.codec.keys_dir,
            std::path::Path::new(".data/codec-keys")
        );
        let refused = config::try_parse_from::<Settings>([
            "delivery-api",
            "--codec-cors-origins",
            "http://127.0.0.1:8233/ui",
        ])
        .unwrap_err();
        assert_eq!(refused.variable.as_deref(), Some("API_CODEC_CORS_ORIGINS"));
        assert_eq!(
            settings.temporal_ui_url.0.as_deref(),
            Some("http://127.0.0.1:8233")
        );
    }

    #[test]
    fn the_temporal_ui_address_is_an_http_address_or_off() {
        let parse = |value: &str| {
            config::try_parse_from::<Settings>(["delivery-api", "--temporal-ui-url", value])
                .map(|s| s.temporal_ui_url.0)
        };
        assert_eq!(
            parse("https://temporal.example.com/ui/")
                .unwrap()
                .as_deref(),
            Some("https://temporal.example.com/ui")
        );
        assert_eq!(parse("off").unwrap(), None);
        let refused = parse("javascript:alert(1)").unwrap_err();
        assert_eq!(refused.variable.as_deref(), Some("API_TEMPORAL_UI_URL"));
    }

    #[test]
    fn migrate_is_a_subcommand_and_a_bad_value_names_its_variable() {
        let migrate: Settings = config::try_parse_from(["delivery-api", "migrate"]).unwrap();
        assert_eq!(migrate.command, Some(Command::Migrate));
        let operator: Settings = config::try_parse_from([
            "delivery-api",
            "accounts",
            "create-operator",
            "--id",
            "ops-9",
        ])
        .unwrap();
        assert_eq!(
            operator.command,
            Some(Command::Accounts(AccountsCommand::CreateOperator {
                id: "ops-9".into(),
                name: "Operator".into()
            }))
        );
        let refused =
            config::try_parse_from::<Settings>(["delivery-api", "--payment-wait-ms", "soon"])
                .unwrap_err();
        assert_eq!(refused.variable.as_deref(), Some("API_PAYMENT_WAIT_MS"));
    }
}
