//! Where every binary reads its settings from: the environment over an optional config file
//! over the built-in defaults.
//!
//! The config file is TOML whose keys are the environment variables' names, so one name
//! documents a setting everywhere (README, Kubernetes ConfigMap, compose, the file):
//!
//! ```toml
//! API_ADDR = "0.0.0.0:8080"
//! API_PAYMENT_WAIT_MS = 3000
//! ```
//!
//! Its path comes from `DELIVERY_CONFIG` (or `--config`, where a binary takes arguments).

use std::{collections::HashMap, path::Path};

/// The variable naming the config file.
pub const CONFIG_VAR: &str = "DELIVERY_CONFIG";

/// A config file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {message}")]
    Parse { path: String, message: String },
    #[error("config file {path}: {key} must be a string, number or boolean")]
    Value { path: String, key: String },
    #[error("{name} is not valid unicode")]
    NotUnicode { name: String },
}

/// The layered settings source.
#[derive(Debug, Default, Clone)]
pub struct Layers {
    file: HashMap<String, String>,
}

impl Layers {
    /// The environment over the file named by `DELIVERY_CONFIG`, if any.
    pub fn load() -> Result<Self, ConfigError> {
        match std::env::var_os(CONFIG_VAR) {
            None => Ok(Self::default()),
            Some(path) => Self::with_file(Path::new(&path)),
        }
    }

    /// The environment over the file at `path`.
    pub fn with_file(path: &Path) -> Result<Self, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: shown.clone(),
            source,
        })?;
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::Parse {
                path: shown.clone(),
                message: e.message().to_owned(),
            })?;
        let mut file = HashMap::new();
        for (key, value) in table {
            let value = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                _ => return Err(ConfigError::Value { path: shown, key }),
            };
            file.insert(key, value);
        }
        Ok(Self { file })
    }

    /// The value of `name`: the environment first, then the file; `None` when neither sets it.
    pub fn get(&self, name: &str) -> Result<Option<String>, ConfigError> {
        match std::env::var(name) {
            Ok(value) => Ok(Some(value)),
            Err(std::env::VarError::NotUnicode(_)) => Err(ConfigError::NotUnicode {
                name: name.to_owned(),
            }),
            Err(std::env::VarError::NotPresent) => Ok(self.file.get(name).cloned()),
        }
    }

    /// Like [`Layers::get`], with blank values treated as unset and bad unicode as unset.
    pub fn text(&self, name: &str) -> Option<String> {
        self.get(name)
            .ok()
            .flatten()
            .filter(|v| !v.trim().is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_fills_in_what_the_environment_does_not_set() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("delivery.toml");
        std::fs::write(&path, "CONFIG_TEST_ONLY_IN_FILE = \"from-file\"\nCONFIG_TEST_NUMBER = 42\nPATH = \"not-used\"\n").unwrap();
        let layers = Layers::with_file(&path).unwrap();
        assert_eq!(
            layers.text("CONFIG_TEST_ONLY_IN_FILE").as_deref(),
            Some("from-file")
        );
        assert_eq!(layers.text("CONFIG_TEST_NUMBER").as_deref(), Some("42"));
        // The environment wins over the file.
        assert_ne!(layers.text("PATH").as_deref(), Some("not-used"));
        assert_eq!(layers.text("CONFIG_TEST_UNSET"), None);
    }

    #[test]
    fn a_broken_file_is_an_error_that_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "API_ADDR = [1, 2]\n").unwrap();
        assert!(
            Layers::with_file(&path)
                .unwrap_err()
                .to_string()
                .contains("API_ADDR")
        );
        std::fs::write(&path, "API_ADDR = \n").unwrap();
        assert!(
            Layers::with_file(&path)
                .unwrap_err()
                .to_string()
                .contains("bad.toml")
        );
        assert!(Layers::with_file(&dir.path().join("missing.toml")).is_err());
    }
}
