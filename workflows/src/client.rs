//! How the API, the worker and the checker reach Temporal.
//!
//! The connection honours Temporal's standard client configuration (the same variables and
//! `temporal.toml` profile as the Temporal CLI and other SDKs): `TEMPORAL_TLS`,
//! `TEMPORAL_TLS_CLIENT_CERT_PATH`, `TEMPORAL_TLS_CLIENT_KEY_PATH`,
//! `TEMPORAL_TLS_SERVER_CA_CERT_PATH`, `TEMPORAL_TLS_SERVER_NAME`, `TEMPORAL_API_KEY`,
//! `TEMPORAL_PROFILE`, `TEMPORAL_CONFIG_FILE`, so the same binaries run against a local dev
//! server, a self-hosted cluster with mTLS, or Temporal Cloud. The address and namespace
//! come from each binary's own settings (which default to `TEMPORAL_ADDRESS` and
//! `TEMPORAL_NAMESPACE`).

use temporalio_client::{
    Client, ClientOptions, envconfig::LoadClientConfigProfileOptions, errors::ClientConnectError,
};
use temporalio_common::telemetry::metrics::TemporalMeter;
use temporalio_sdk::opentelemetry::OpenTelemetryPlugin;

/// The Temporal client variables the binaries read, beside `TEMPORAL_ADDRESS` and
/// `TEMPORAL_NAMESPACE`.
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

/// Errors reaching the Temporal server.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("invalid Temporal address {address:?}: {reason}")]
    Address { address: String, reason: String },
    #[error("invalid Temporal client configuration: {0}")]
    Config(String),
    #[error("cannot reach Temporal at {address}: {source}")]
    Connect {
        address: String,
        #[source]
        source: ClientConnectError,
    },
}

/// Normalises `TEMPORAL_ADDRESS`-style values: `host:port` gains a scheme, `https` when TLS
/// is on.
pub fn temporal_url(address: &str, tls: bool) -> Result<url::Url, ConnectError> {
    let with_scheme = match (address.contains("://"), tls) {
        (true, _) => address.to_owned(),
        (false, true) => format!("https://{address}"),
        (false, false) => format!("http://{address}"),
    };
    url::Url::parse(&with_scheme).map_err(|e| ConnectError::Address {
        address: address.to_owned(),
        reason: e.to_string(),
    })
}

/// Connects a client bound to `namespace` at `address`, with TLS and credentials from
/// Temporal's standard configuration.
pub async fn connect(address: &str, namespace: &str) -> Result<Client, ConnectError> {
    connect_with(address, namespace, None, false).await
}

/// [`connect`], recording the client's own metrics into `metrics`, and with `traced`, carrying
/// the OpenTelemetry plugin: starts, updates and queries continue the caller's trace, and the
/// workers built on the client trace workflows and activities.
///
/// Tracing is for processes that export their spans: the plugin puts trace context in the
/// header of every command the workflow sends, which the server stores in every history
/// event (measured: about a third more server CPU per delivery).
pub async fn connect_with(
    address: &str,
    namespace: &str,
    metrics: Option<TemporalMeter>,
    traced: bool,
) -> Result<Client, ConnectError> {
    let (mut connection, _) =
        ClientOptions::load_from_config(LoadClientConfigProfileOptions::default())
            .map_err(|e| ConnectError::Config(e.to_string()))?;
    let tls = connection.tls_options.is_some() || connection.api_key.is_some();
    connection.target = temporal_url(address, tls)?;
    connection.metrics_meter = metrics;
    let mut options = ClientOptions::new(namespace);
    if traced {
        options = options.plugin(OpenTelemetryPlugin::builder().build());
    }
    Client::connect(connection, options.build())
        .await
        .map_err(|source| ConnectError::Connect {
            address: address.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_host_and_port_is_reached_over_http_or_https_with_tls() {
        assert_eq!(
            temporal_url("127.0.0.1:7233", false).unwrap().as_str(),
            "http://127.0.0.1:7233/"
        );
        assert_eq!(
            temporal_url("ns.tmprl.cloud:7233", true).unwrap().scheme(),
            "https"
        );
        assert_eq!(
            temporal_url("http://x:7233", true).unwrap().scheme(),
            "http"
        );
    }
}
