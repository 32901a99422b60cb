//! Runtime settings of the payment service, read from the environment.

use std::ffi::OsString;
use std::net::{AddrParseError, SocketAddr};

/// Env var holding the address to listen on.
pub const ADDR_VAR: &str = "PAYMENT_ADDR";
/// Env var holding the ledger database URL.
pub const DATABASE_URL_VAR: &str = "PAYMENT_DATABASE_URL";
/// Env var holding the address of the Prometheus endpoint, or `off`.
pub const METRICS_ADDR_VAR: &str = "PAYMENT_METRICS_ADDR";
/// Prometheus endpoint used when [`METRICS_ADDR_VAR`] is unset.
pub const DEFAULT_METRICS_ADDR: &str = "127.0.0.1:9103";
/// Listen address used when [`ADDR_VAR`] is unset.
pub const DEFAULT_ADDR: &str = "127.0.0.1:50051";
/// Database URL used when [`DATABASE_URL_VAR`] is unset.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://.data/payment.db?mode=rwc";

/// How the payment service is configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Address the gRPC server listens on (`PAYMENT_ADDR`).
    pub addr: SocketAddr,
    /// Ledger database, `sqlite:` or `postgres:` (`PAYMENT_DATABASE_URL`).
    pub database_url: String,
    /// Where `/metrics` is served (`PAYMENT_METRICS_ADDR`; `off`: nowhere).
    pub metrics_addr: Option<SocketAddr>,
}

/// Every variable the payment service reads (also valid as keys of the `DELIVERY_CONFIG` file).
pub const ENV_VARS: [&str; 4] = [
    ADDR_VAR,
    DATABASE_URL_VAR,
    METRICS_ADDR_VAR,
    "DELIVERY_CONFIG",
];

/// A setting is present but unusable.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The config file named by `DELIVERY_CONFIG` cannot be used.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The variable is not valid unicode.
    #[error("{name} is not valid unicode")]
    NotUnicode {
        /// The variable's name.
        name: &'static str,
    },
    /// The listen address does not parse.
    #[error("{name}={value:?} is not a socket address such as {DEFAULT_ADDR}: {source}")]
    InvalidAddr {
        /// The variable's name.
        name: &'static str,
        /// The rejected value.
        value: String,
        /// Why it did not parse.
        source: AddrParseError,
    },
    /// The database URL is not one the ledger can open.
    #[error("{name}={value:?} is not a sqlite: or postgres:// database url")]
    InvalidDatabaseUrl {
        /// The variable's name.
        name: &'static str,
        /// The rejected value.
        value: String,
    },
}

impl Settings {
    /// Reads the settings from the environment over the `DELIVERY_CONFIG` file, with
    /// defaults for what neither sets.
    pub fn from_env() -> Result<Settings, SettingsError> {
        let layers = config::Layers::load()?;
        Settings::from_lookup(|name| {
            std::env::var_os(name).or_else(|| layers.text(name).map(OsString::from))
        })
    }

    /// Reads the settings through `lookup` (a stand-in for the environment).
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<OsString>,
    ) -> Result<Settings, SettingsError> {
        let read = |name: &'static str, default: &str| match lookup(name) {
            None => Ok(default.to_owned()),
            Some(value) => value
                .into_string()
                .map_err(|_| SettingsError::NotUnicode { name }),
        };
        let addr_text = read(ADDR_VAR, DEFAULT_ADDR)?;
        let addr = addr_text
            .parse()
            .map_err(|source| SettingsError::InvalidAddr {
                name: ADDR_VAR,
                value: addr_text.clone(),
                source,
            })?;
        let metrics_text = read(METRICS_ADDR_VAR, DEFAULT_METRICS_ADDR)?;
        let metrics_addr = match metrics_text.trim() {
            "off" => None,
            text => Some(text.parse().map_err(|source| SettingsError::InvalidAddr {
                name: METRICS_ADDR_VAR,
                value: metrics_text.clone(),
                source,
            })?),
        };
        let database_url = read(DATABASE_URL_VAR, DEFAULT_DATABASE_URL)?;
        let known_scheme = ["sqlite:", "postgres://", "postgresql://"]
            .iter()
            .any(|scheme| database_url.starts_with(scheme));
        if !known_scheme {
            return Err(SettingsError::InvalidDatabaseUrl {
                name: DATABASE_URL_VAR,
                value: database_url,
            });
        }
        Ok(Settings {
            addr,
            database_url,
            metrics_addr,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings_from(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        Settings::from_lookup(|name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| OsString::from(value))
        })
    }

    #[test]
    fn unset_variables_fall_back_to_local_defaults() {
        let settings = settings_from(&[]).expect("defaults are valid");
        assert_eq!(settings.addr.to_string(), DEFAULT_ADDR);
        assert_eq!(settings.database_url, DEFAULT_DATABASE_URL);
    }

    #[test]
    fn set_variables_override_the_defaults() {
        let settings = settings_from(&[
            (ADDR_VAR, "0.0.0.0:6000"),
            (DATABASE_URL_VAR, "postgres://postgres@db:5432/payment"),
        ])
        .expect("valid settings");
        assert_eq!(settings.addr.to_string(), "0.0.0.0:6000");
        assert_eq!(settings.database_url, "postgres://postgres@db:5432/payment");
    }

    #[test]
    fn a_malformed_address_is_an_error_naming_the_variable() {
        let error = settings_from(&[(ADDR_VAR, "localhost")]).expect_err("not a socket address");
        assert!(matches!(error, SettingsError::InvalidAddr { .. }));
        assert!(error.to_string().contains("PAYMENT_ADDR=\"localhost\""));
    }

    #[test]
    fn an_unknown_database_scheme_is_an_error() {
        let error = settings_from(&[(DATABASE_URL_VAR, "mysql://db/payment")])
            .expect_err("mysql is not supported");
        assert!(matches!(error, SettingsError::InvalidDatabaseUrl { .. }));
    }
}
