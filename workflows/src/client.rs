//! How the API, the worker, the checker and loadgen reach Temporal.
//!
//! The connection is Temporal's standard client configuration, unchanged: the SDK's envconfig
//! reads `TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`, `TEMPORAL_API_KEY`, the `TEMPORAL_TLS*`
//! variables and the `temporal.toml` profile (`TEMPORAL_PROFILE`, `TEMPORAL_CONFIG_FILE`,
//! else `~/.config/temporalio/temporal.toml`), as the Temporal CLI and the other SDKs do, so
//! the same binaries run against a local dev server, a self-hosted cluster with mTLS, or
//! Temporal Cloud. [`TemporalSettings`] only overrides the address and namespace when one is
//! given explicitly (a flag, or the `DELIVERY_CONFIG` file); with nothing set anywhere the
//! address is `127.0.0.1:7233` and the namespace `default`.
//!
//! Every client made here encrypts its payloads with [`codec::EncryptionCodec`] (keys from
//! [`CodecSettings`]), and the workers built from it inherit its data converter (the SDK's
//! `Worker::new` takes the client's options): the histories hold no readable destination or
//! customer id, and every process of a deployment must be given the same key directory.

use std::{collections::HashMap, path::PathBuf};

use codec::{CodecError, EncryptionCodec};
use temporalio_client::{Client, ClientOptions, ConnectionOptions, errors::ClientConnectError};
use temporalio_common::{
    envconfig::{LoadClientConfigProfileOptions, load_client_config_profile},
    telemetry::metrics::TemporalMeter,
};
use temporalio_sdk::opentelemetry::OpenTelemetryPlugin;

use crate::names;

/// Where the payload encryption keys are when nothing else says (beside `.data/keys`, the
/// API's token signing keys).
pub const DEFAULT_CODEC_KEYS_DIR: &str = ".data/codec-keys";
/// Where the binaries find Temporal when nothing else says: the dev server of the run command.
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:7233";
/// The namespace when nothing else says.
pub const DEFAULT_NAMESPACE: &str = "default";

/// Temporal's standard client variables that the SDK's envconfig reads itself, beside
/// `TEMPORAL_ADDRESS` and `TEMPORAL_NAMESPACE` (which [`TemporalSettings`] declares).
pub const TEMPORAL_ENV_VARS: [&str; 8] = [
    "TEMPORAL_TLS",
    "TEMPORAL_TLS_CLIENT_CERT_PATH",
    "TEMPORAL_TLS_CLIENT_KEY_PATH",
    "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
    "TEMPORAL_TLS_SERVER_NAME",
    "TEMPORAL_API_KEY",
    "TEMPORAL_PROFILE",
    "TEMPORAL_CONFIG_FILE",
];

/// Overrides of Temporal's standard client configuration. The variables are the standard
/// ones: what the environment sets here is what envconfig would apply anyway.
#[derive(clap::Args, Debug, Clone, Default)]
#[command(
    after_help = "Temporal connection: Temporal's standard client configuration (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS*, TEMPORAL_PROFILE, TEMPORAL_CONFIG_FILE and temporal.toml), as the Temporal CLI reads it."
)]
pub struct TemporalSettings {
    /// The Temporal frontend, `host:port` or a URL [default: the temporal.toml profile's,
    /// else 127.0.0.1:7233]
    #[arg(
        long = "temporal-address",
        visible_alias = "temporal",
        env = "TEMPORAL_ADDRESS",
        value_name = "ADDRESS"
    )]
    pub address: Option<String>,
    /// The Temporal namespace [default: the temporal.toml profile's, else `default`]
    #[arg(
        long = "temporal-namespace",
        env = "TEMPORAL_NAMESPACE",
        value_name = "NAMESPACE"
    )]
    pub namespace: Option<String>,
    #[command(flatten)]
    pub codec: CodecSettings,
}

impl TemporalSettings {
    /// The server at `address`, namespace `namespace`, whatever else is configured, with the
    /// default payload encryption keys.
    pub fn at(address: &str, namespace: &str) -> Self {
        Self {
            address: Some(address.to_owned()),
            namespace: Some(namespace.to_owned()),
            codec: CodecSettings::default(),
        }
    }
}

/// The keys that encrypt what every process sends to Temporal: the API, the workers, the
/// checker and loadgen must all be given the same directory.
#[derive(clap::Args, Debug, Clone)]
pub struct CodecSettings {
    /// Directory of the payload encryption keys, one `<key-id>.key` per key (32 random bytes,
    /// raw or base64; mode 0600); every key decrypts, the greatest key id encrypts unless
    /// `--codec-key-id` says; a key is generated there when it holds none
    #[arg(
        long = "codec-keys-dir",
        env = "TEMPORAL_CODEC_KEYS_DIR",
        value_name = "DIR",
        default_value = DEFAULT_CODEC_KEYS_DIR
    )]
    pub keys_dir: PathBuf,
    /// The key id that encrypts new payloads (its file must exist; nothing is generated)
    /// [default: the greatest key id in the directory]
    #[arg(
        long = "codec-key-id",
        env = "TEMPORAL_CODEC_KEY_ID",
        value_name = "KEY_ID"
    )]
    pub key_id: Option<String>,
}

impl Default for CodecSettings {
    fn default() -> Self {
        Self {
            keys_dir: PathBuf::from(DEFAULT_CODEC_KEYS_DIR),
            key_id: None,
        }
    }
}

impl CodecSettings {
    /// The keys of a directory, the greatest id encrypting (tests, tools).
    pub fn in_dir(keys_dir: impl Into<PathBuf>) -> Self {
        Self {
            keys_dir: keys_dir.into(),
            key_id: None,
        }
    }

    /// Loads the keys: with a key id, exactly the directory's keys (refused when that id is not
    /// among them); without, the local default that generates a key in an empty directory.
    pub fn load(&self) -> Result<EncryptionCodec, CodecError> {
        match &self.key_id {
            Some(id) => EncryptionCodec::load(&self.keys_dir, Some(id)),
            None => EncryptionCodec::ensure_local(&self.keys_dir),
        }
    }
}

/// The workflow task queue of the deliveries: the API starts deliveries on it, the worker
/// polls it, the checker lists what ran on it.
#[derive(clap::Args, Debug, Clone)]
pub struct QueueSettings {
    /// The workflow task queue; the activity queues take its prefix (`payments`, `dispatch`,
    /// `projections`)
    #[arg(
        long = "task-queue",
        env = "DELIVERY_TASK_QUEUE",
        value_name = "QUEUE",
        default_value = names::DELIVERIES_QUEUE,
        value_parser = task_queue
    )]
    pub task_queue: String,
}

fn task_queue(queue: &str) -> Result<String, String> {
    if queue.ends_with(names::DELIVERIES_QUEUE) {
        Ok(queue.to_owned())
    } else {
        Err(format!(
            "{queue:?} must end with {:?}",
            names::DELIVERIES_QUEUE
        ))
    }
}

/// Errors reaching the Temporal server.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("invalid Temporal client configuration: {0}")]
    Config(String),
    #[error("payload encryption keys: {0}")]
    Codec(#[from] CodecError),
    #[error("cannot reach Temporal at {address}: {source}")]
    Connect {
        address: String,
        #[source]
        source: ClientConnectError,
    },
}

/// What to connect to: the standard configuration, then `settings` over it. `env` stands in
/// for the process environment (tests); `None` reads the real one.
pub fn resolve(
    settings: &TemporalSettings,
    env: Option<&HashMap<String, String>>,
) -> Result<(ConnectionOptions, String), ConnectError> {
    let mut profile = load_client_config_profile(LoadClientConfigProfileOptions::default(), env)
        .map_err(|e| ConnectError::Config(e.to_string()))?;
    if let Some(address) = &settings.address {
        profile.address = Some(address.clone());
    }
    if let Some(namespace) = &settings.namespace {
        profile.namespace = Some(namespace.clone());
    }
    // The SDK's own fallback is `localhost`, which may resolve to ::1 first: the dev server
    // listens on 127.0.0.1.
    profile
        .address
        .get_or_insert_with(|| DEFAULT_ADDRESS.to_owned());
    let namespace = profile
        .namespace
        .clone()
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
    let connection =
        ConnectionOptions::try_from(profile).map_err(|e| ConnectError::Config(e.to_string()))?;
    Ok((connection, namespace))
}

/// Connects as `settings` and the standard configuration say, recording the client's own
/// metrics into `metrics`, and with `traced`, carrying the OpenTelemetry plugin: starts,
/// updates and queries continue the caller's trace, and the workers built on the client trace
/// workflows and activities.
///
/// Tracing is for processes that export their spans: the plugin puts trace context in the
/// header of every command the workflow sends, which the server stores in every history
/// event (measured: about 11% more server CPU per delivery).
pub async fn connect_with(
    settings: &TemporalSettings,
    metrics: Option<TemporalMeter>,
    traced: bool,
) -> Result<Client, ConnectError> {
    let codec = settings.codec.load()?;
    connect_with_codec(settings, codec, metrics, traced).await
}

/// [`connect_with`], with keys already loaded (the API keeps them for its codec server).
pub async fn connect_with_codec(
    settings: &TemporalSettings,
    codec: EncryptionCodec,
    metrics: Option<TemporalMeter>,
    traced: bool,
) -> Result<Client, ConnectError> {
    let (mut connection, namespace) = resolve(settings, None)?;
    let address = connection.target.to_string();
    connection.metrics_meter = metrics;
    // Key ids only: never the keys.
    tracing::info!(
        key_ids = ?codec.key_ids().collect::<Vec<_>>(),
        encrypting = codec.encrypting_key_id(),
        "payloads to Temporal are encrypted"
    );
    let mut options = ClientOptions::new(namespace).data_converter(codec.data_converter());
    if traced {
        options = options.plugin(OpenTelemetryPlugin::builder().build());
    }
    Client::connect(connection, options.build())
        .await
        .map_err(|source| ConnectError::Connect { address, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// An environment of `pairs` only, whose config file (unless `pairs` names one) does not
    /// exist, so no file of the machine's is read.
    fn isolated(dir: &tempfile::TempDir, pairs: &[(&str, &str)]) -> HashMap<String, String> {
        let absent = dir.path().join("absent.toml").display().to_string();
        let mut vars = env(&[("TEMPORAL_CONFIG_FILE", &absent)]);
        vars.extend(env(pairs));
        vars
    }

    #[test]
    fn with_nothing_configured_the_local_dev_server_is_used() {
        let dir = tempfile::tempdir().unwrap();
        let (connection, namespace) =
            resolve(&TemporalSettings::default(), Some(&isolated(&dir, &[]))).unwrap();
        assert_eq!(connection.target.as_str(), "http://127.0.0.1:7233/");
        assert_eq!(namespace, "default");
        assert!(connection.tls_options.is_none());
    }

    #[test]
    fn a_temporal_toml_profile_is_honoured_and_flags_override_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("temporal.toml");
        std::fs::write(
            &file,
            "[profile.default]\naddress = \"frontend.example:7233\"\nnamespace = \"agency\"\n\n\
             [profile.cloud]\naddress = \"agency.a1b2c.tmprl.cloud:7233\"\nnamespace = \"agency.a1b2c\"\napi_key = \"secret\"\n",
        )
        .unwrap();
        let path = file.display().to_string();
        let vars = isolated(&dir, &[("TEMPORAL_CONFIG_FILE", &path)]);
        let (connection, namespace) = resolve(&TemporalSettings::default(), Some(&vars)).unwrap();
        assert_eq!(connection.target.as_str(), "http://frontend.example:7233/");
        assert_eq!(namespace, "agency");

        let cloud = isolated(
            &dir,
            &[
                ("TEMPORAL_CONFIG_FILE", &path),
                ("TEMPORAL_PROFILE", "cloud"),
            ],
        );
        let (connection, namespace) = resolve(&TemporalSettings::default(), Some(&cloud)).unwrap();
        assert_eq!(
            connection.target.scheme(),
            "https",
            "an API key turns TLS on"
        );
        assert_eq!(connection.api_key.as_deref(), Some("secret"));
        assert_eq!(namespace, "agency.a1b2c");

        let flagged = TemporalSettings {
            address: Some("127.0.0.1:7300".into()),
            namespace: None,
            codec: CodecSettings::default(),
        };
        let (connection, namespace) = resolve(&flagged, Some(&vars)).unwrap();
        assert_eq!(connection.target.as_str(), "http://127.0.0.1:7300/");
        assert_eq!(namespace, "agency", "what the flag leaves alone stays");
    }

    #[test]
    fn the_standard_variables_win_over_the_profile() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("temporal.toml");
        std::fs::write(
            &file,
            "[profile.default]\naddress = \"frontend.example:7233\"\n",
        )
        .unwrap();
        let path = file.display().to_string();
        let vars = isolated(
            &dir,
            &[
                ("TEMPORAL_CONFIG_FILE", &path),
                ("TEMPORAL_ADDRESS", "10.0.0.1:7233"),
                ("TEMPORAL_NAMESPACE", "ops"),
            ],
        );
        let (connection, namespace) = resolve(&TemporalSettings::default(), Some(&vars)).unwrap();
        assert_eq!(connection.target.as_str(), "http://10.0.0.1:7233/");
        assert_eq!(namespace, "ops");
    }

    #[test]
    fn the_codec_keys_are_generated_locally_unless_a_key_id_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("codec-keys");
        let named = CodecSettings {
            keys_dir: keys.clone(),
            key_id: Some("prod-2026".into()),
        };
        let refused = named.load().unwrap_err();
        assert!(
            refused.to_string().contains("no payload encryption keys"),
            "{refused}"
        );
        let local = CodecSettings::in_dir(&keys).load().unwrap();
        assert!(local.encrypting_key_id().starts_with("local-"));
        codec::write_new_key(&keys, "prod-2026").unwrap();
        let rotated = named.load().unwrap();
        assert_eq!(rotated.encrypting_key_id(), "prod-2026");
        assert_eq!(rotated.key_ids().count(), 2, "the old key still decrypts");
    }

    #[test]
    fn a_task_queue_must_end_with_deliveries() {
        assert!(task_queue("t1-deliveries").is_ok());
        assert!(task_queue("riders").is_err());
    }
}
