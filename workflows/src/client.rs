//! How the API and the worker reach Temporal.

use temporalio_client::{Client, ClientOptions, ConnectionOptions, errors::ClientConnectError};

/// Errors reaching the Temporal server.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("invalid Temporal address {address:?}: {reason}")]
    Address { address: String, reason: String },
    #[error("cannot reach Temporal at {address}: {source}")]
    Connect {
        address: String,
        #[source]
        source: ClientConnectError,
    },
}

/// Normalises `TEMPORAL_ADDRESS`-style values: `host:port` gains an `http://` scheme.
pub fn temporal_url(address: &str) -> Result<url::Url, ConnectError> {
    let with_scheme = if address.contains("://") {
        address.to_owned()
    } else {
        format!("http://{address}")
    };
    url::Url::parse(&with_scheme).map_err(|e| ConnectError::Address {
        address: address.to_owned(),
        reason: e.to_string(),
    })
}

/// Connects a client bound to `namespace`.
pub async fn connect(address: &str, namespace: &str) -> Result<Client, ConnectError> {
    let url = temporal_url(address)?;
    Client::connect(
        ConnectionOptions::new(url).build(),
        ClientOptions::new(namespace).build(),
    )
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
    fn a_bare_host_and_port_is_reached_over_http() {
        assert_eq!(
            temporal_url("127.0.0.1:7233").unwrap().as_str(),
            "http://127.0.0.1:7233/"
        );
        assert_eq!(
            temporal_url("https://x.tmprl.cloud:7233").unwrap().scheme(),
            "https"
        );
    }
}
