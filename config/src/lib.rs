//! How every binary reads its settings, and when it stops.
//!
//! Each binary declares each of its settings once, as a `clap` derive field: its flag, its
//! environment variable, its default and its help. [`parse`] adds the one layer clap lacks, an
//! optional TOML config file whose keys are the variables' names, so one name documents a
//! setting everywhere (README, Kubernetes ConfigMap, compose, the file):
//!
//! ```toml
//! API_ADDR = "0.0.0.0:8080"
//! API_PAYMENT_WAIT_MS = 3000
//! ```
//!
//! The file is named by `--config FILE` or `DELIVERY_CONFIG`. Precedence: flag > environment >
//! file > default. The file's values become the arguments' defaults before clap parses
//! (`Command::mut_args`), so they go through the same value parsers and errors as every other
//! value, and `--help` shows them as the defaults in force. (figment would merge the layers too,
//! but its values would bypass clap's per-argument parsing: two parsers and two kinds of error
//! message for one setting. This keeps one, without touching the process environment.)
//!
//! A bad setting prints what and why, names the variable, and exits 2; `--help` and `--version`
//! print and exit 0. [`shutdown_signal`] is how every long-running binary learns to stop.

pub mod private;

/// A listening address, or none when it reads `off` (a process's metrics or health endpoint).
pub fn optional_addr(s: &str) -> Result<Option<std::net::SocketAddr>, String> {
    match s.trim() {
        "off" => Ok(None),
        addr => addr
            .parse()
            .map(Some)
            .map_err(|e| format!("{addr:?} is not a socket address or `off`: {e}")),
    }
}

use std::{
    collections::HashMap,
    ffi::OsString,
    path::{Path, PathBuf},
    time::Duration,
};

use clap::{
    Command, CommandFactory, FromArgMatches,
    error::{ContextKind, ContextValue, ErrorKind},
};

/// The variable naming the config file.
pub const CONFIG_VAR: &str = "DELIVERY_CONFIG";

/// The config file setting every binary flattens into its own.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ConfigFile {
    /// TOML file of settings keyed by the variables' names (e.g. `API_ADDR = "0.0.0.0:8080"`);
    /// flags and the environment win over it, it wins over the defaults
    #[arg(long = "config", env = CONFIG_VAR, value_name = "FILE", global = true)]
    pub path: Option<PathBuf>,
}

/// A config file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
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
}

/// Settings that cannot be used: the variable at fault (when one is) and clap's account of why.
#[derive(Debug)]
pub struct SettingsError {
    /// The environment variable (and config file key) of the setting at fault.
    pub variable: Option<String>,
    error: clap::Error,
}

impl SettingsError {
    /// Whether this is `--help` or `--version` rather than an error.
    pub fn is_information(&self) -> bool {
        matches!(
            self.error.kind(),
            ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
        )
    }

    /// Prints the help, the version or the error, and exits: 0 for help and version, 2 for an
    /// error (which names the variable first).
    pub fn exit(self) -> ! {
        if !self.is_information() {
            let bin = std::env::args_os()
                .next()
                .map(PathBuf::from)
                .and_then(|path| path.file_name().map(|n| n.to_string_lossy().into_owned()))
                .map(|name| format!("{name}: "))
                .unwrap_or_default();
            if let Some(variable) = &self.variable {
                eprintln!("{bin}invalid setting {variable}");
            }
        }
        self.error.exit()
    }
}

impl std::fmt::Display for SettingsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(variable) = &self.variable {
            writeln!(f, "invalid setting {variable}")?;
        }
        write!(f, "{}", self.error)
    }
}

impl std::error::Error for SettingsError {}

/// The settings `S` of this process, from its arguments, the environment and the config file.
/// On `--help` or `--version` prints and exits 0; on a bad setting prints what and why and
/// exits 2.
pub fn parse<S: CommandFactory + FromArgMatches>() -> S {
    try_parse_from(std::env::args_os()).unwrap_or_else(|e| e.exit())
}

/// [`parse`] over `args` (the first is the binary's name) instead of the process's arguments;
/// the environment is still the process's.
pub fn try_parse_from<S: CommandFactory + FromArgMatches>(
    args: impl IntoIterator<Item = impl Into<OsString>>,
) -> Result<S, SettingsError> {
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let command = S::command();
    let file = match config_path(&args) {
        None => HashMap::new(),
        Some(path) => read_file(&path).map_err(|e| SettingsError {
            variable: Some(CONFIG_VAR.to_owned()),
            error: clap::Error::raw(ErrorKind::Io, format!("{e}\n")).with_cmd(&command),
        })?,
    };
    let mut command = with_defaults_from(command, &file);
    let matches = command
        .try_get_matches_from_mut(args)
        .map_err(|e| blame(&command, e))?;
    S::from_arg_matches(&matches).map_err(|e| blame(&command, e.with_cmd(&command)))
}

/// `S` with every setting at its declared default: no arguments, environment or file. For
/// tests and embedding, which then set what they need.
pub fn defaults<S: CommandFactory + FromArgMatches>() -> S {
    let mut command = without_env(S::command());
    let name = command.get_name().to_owned();
    let matches = command
        .try_get_matches_from_mut([name])
        .expect("the declared defaults parse");
    S::from_arg_matches(&matches).expect("the declared defaults parse")
}

/// Every environment variable (and config file key) `command` reads, its subcommands' too,
/// sorted: the one list deployment files are checked against.
pub fn env_vars(command: &Command) -> Vec<String> {
    let mut vars: Vec<String> = command
        .get_arguments()
        .filter_map(|arg| arg.get_env()?.to_str().map(str::to_owned))
        .chain(command.get_subcommands().flat_map(env_vars))
        .collect();
    vars.sort();
    vars.dedup();
    vars
}

/// A whole number of milliseconds, as `API_PAYMENT_WAIT_MS=3000`.
pub fn millis(value: &str) -> Result<Duration, String> {
    whole_number(value).map(Duration::from_millis)
}

/// A whole number of milliseconds above zero, for a timeout that must let something through (a
/// zero deadline would fail every call).
pub fn positive_millis(value: &str) -> Result<Duration, String> {
    match millis(value)? {
        zero if zero.is_zero() => Err("must be above 0".to_owned()),
        duration => Ok(duration),
    }
}

/// A whole number of seconds, as `WORKER_SHUTDOWN_GRACE_SECS=10`.
pub fn seconds(value: &str) -> Result<Duration, String> {
    whole_number(value).map(Duration::from_secs)
}

fn whole_number(value: &str) -> Result<u64, String> {
    value
        .trim()
        .parse::<u64>()
        .map_err(|e| format!("not a whole number: {e}"))
}

/// Registers for SIGINT (Ctrl-C) and SIGTERM (how containers are asked to stop) right away, so
/// a signal arriving just after start is not lost, and returns a future that completes on
/// either.
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        let name = tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        };
        tracing::info!(signal = name, "shutting down: finishing in-flight work");
    })
}

/// The config file named by `--config FILE` / `--config=FILE` among `args`, else by
/// `DELIVERY_CONFIG`; none when neither names one.
fn config_path(args: &[OsString]) -> Option<PathBuf> {
    let mut rest = args.iter().skip(1);
    while let Some(arg) = rest.next() {
        let Some(text) = arg.to_str() else { continue };
        if text == "--" {
            break;
        }
        if text == "--config" {
            return rest.next().map(PathBuf::from);
        }
        if let Some(path) = text.strip_prefix("--config=") {
            return Some(PathBuf::from(path));
        }
    }
    std::env::var_os(CONFIG_VAR)
        .filter(|path| !path.is_empty())
        .map(PathBuf::from)
}

/// The file's settings by variable name, as text for clap to parse.
fn read_file(path: &Path) -> Result<HashMap<String, String>, FileError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| FileError::Read {
        path: shown.clone(),
        source,
    })?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| FileError::Parse {
            path: shown.clone(),
            message: e.message().to_owned(),
        })?;
    table
        .into_iter()
        .map(|(key, value)| {
            let value = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                _ => {
                    return Err(FileError::Value {
                        path: shown.clone(),
                        key,
                    });
                }
            };
            Ok((key, value))
        })
        .collect()
}

/// `command` with the file's value, where it has one, as each argument's default. Keys the
/// binary does not read are ignored: one file may serve every binary.
fn with_defaults_from(command: Command, file: &HashMap<String, String>) -> Command {
    if file.is_empty() {
        return command;
    }
    let command = command.mut_args(|arg| {
        let value = arg
            .get_env()
            .and_then(|name| name.to_str())
            .and_then(|name| file.get(name))
            .cloned();
        match (value, arg.get_value_delimiter()) {
            (None, _) => arg,
            (Some(value), Some(delimiter)) => {
                let parts: Vec<String> = value.split(delimiter).map(str::to_owned).collect();
                arg.default_values(parts)
            }
            (Some(value), None) => arg.default_value(value),
        }
    });
    each_subcommand(command, |sub| with_defaults_from(sub, file))
}

fn without_env(command: Command) -> Command {
    let command = command.mut_args(|arg| arg.env(None::<&'static str>));
    each_subcommand(command, without_env)
}

fn each_subcommand(mut command: Command, f: impl Fn(Command) -> Command) -> Command {
    let names: Vec<String> = command
        .get_subcommands()
        .map(|sub| sub.get_name().to_owned())
        .collect();
    for name in names {
        command = command.mut_subcommand(name, &f);
    }
    command
}

/// Names the variable behind the argument clap refused, when it has one.
fn blame(command: &Command, error: clap::Error) -> SettingsError {
    let variable = match error.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(shown)) => variable_of(command, shown),
        _ => None,
    };
    SettingsError { variable, error }
}

/// The variable of the argument clap shows as `shown` (`--addr <ADDR>`, `--roles`).
fn variable_of(command: &Command, shown: &str) -> Option<String> {
    let flag = shown.split([' ', '=', '<']).next()?;
    let long = flag.strip_prefix("--")?;
    command
        .get_arguments()
        .chain(command.get_subcommands().flat_map(Command::get_arguments))
        .find(|arg| arg.get_long() == Some(long))
        .and_then(|arg| arg.get_env()?.to_str().map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use clap::Parser;

    use super::*;

    /// A binary's settings, in miniature.
    #[derive(Parser, Debug)]
    #[command(name = "demo", version)]
    struct Demo {
        #[command(flatten)]
        config: ConfigFile,
        /// where to listen
        #[arg(long, env = "CONFIG_TEST_ADDR", default_value = "127.0.0.1:1")]
        addr: SocketAddr,
        /// how long to wait
        #[arg(long, env = "CONFIG_TEST_WAIT_MS", default_value = "5", value_parser = millis)]
        wait: Duration,
        /// which parts
        #[arg(
            long,
            env = "CONFIG_TEST_PARTS",
            value_delimiter = ',',
            default_value = "a,b"
        )]
        parts: Vec<String>,
        #[arg(long, env = "CONFIG_TEST_UNSET")]
        unset: Option<String>,
    }

    fn file(dir: &tempfile::TempDir, text: &str) -> String {
        let path = dir.path().join("delivery.toml");
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    #[test]
    fn the_file_fills_in_what_flags_do_not_set_and_the_defaults_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = file(
            &dir,
            "CONFIG_TEST_ADDR = \"127.0.0.1:2\"\nCONFIG_TEST_WAIT_MS = 42\nCONFIG_TEST_PARTS = \"c,d\"\nOTHER_BINARY = 1\n",
        );
        let demo: Demo = try_parse_from(["demo", "--config", &path]).unwrap();
        assert_eq!(demo.addr.port(), 2);
        assert_eq!(demo.wait, Duration::from_millis(42));
        assert_eq!(demo.parts, ["c", "d"]);
        assert_eq!(demo.unset, None);
        let flagged: Demo =
            try_parse_from(["demo", &format!("--config={path}"), "--addr", "127.0.0.1:3"]).unwrap();
        assert_eq!(flagged.addr.port(), 3, "a flag wins over the file");
    }

    #[test]
    fn a_bad_value_in_the_file_is_refused_naming_its_variable() {
        let dir = tempfile::tempdir().unwrap();
        let path = file(&dir, "CONFIG_TEST_WAIT_MS = \"soon\"\n");
        let error = try_parse_from::<Demo>(["demo", "--config", &path]).unwrap_err();
        assert_eq!(error.variable.as_deref(), Some("CONFIG_TEST_WAIT_MS"));
        assert!(error.to_string().contains("soon"), "{error}");
        assert!(!error.is_information());
    }

    #[test]
    fn a_broken_file_is_an_error_that_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = file(&dir, "CONFIG_TEST_ADDR = [1, 2]\n");
        let error = try_parse_from::<Demo>(["demo", "--config", &path]).unwrap_err();
        assert!(error.to_string().contains("CONFIG_TEST_ADDR"), "{error}");
        let path = file(&dir, "CONFIG_TEST_ADDR = \n");
        let error = try_parse_from::<Demo>(["demo", "--config", &path]).unwrap_err();
        assert!(error.to_string().contains("delivery.toml"), "{error}");
        assert_eq!(error.variable.as_deref(), Some(CONFIG_VAR));
        let missing = dir.path().join("missing.toml").display().to_string();
        assert!(try_parse_from::<Demo>(["demo", "--config", &missing]).is_err());
    }

    #[test]
    fn help_and_version_are_information_not_errors() {
        for flag in ["--help", "--version"] {
            let answer = try_parse_from::<Demo>(["demo", flag]).unwrap_err();
            assert!(answer.is_information(), "{flag}");
        }
    }

    #[test]
    fn a_bad_flag_names_the_variable_behind_it() {
        let error = try_parse_from::<Demo>(["demo", "--addr", "nowhere"]).unwrap_err();
        assert_eq!(error.variable.as_deref(), Some("CONFIG_TEST_ADDR"));
    }

    #[test]
    fn the_defaults_ignore_the_environment_and_the_variables_are_listed() {
        let demo: Demo = defaults();
        assert_eq!(demo.addr.port(), 1);
        assert_eq!(demo.parts, ["a", "b"]);
        assert_eq!(
            env_vars(&Demo::command()),
            [
                "CONFIG_TEST_ADDR",
                "CONFIG_TEST_PARTS",
                "CONFIG_TEST_UNSET",
                "CONFIG_TEST_WAIT_MS",
                CONFIG_VAR
            ]
        );
    }

    #[test]
    fn a_positive_duration_refuses_zero_and_non_numbers() {
        assert_eq!(positive_millis("250"), Ok(Duration::from_millis(250)));
        assert!(positive_millis("0").is_err());
        assert!(positive_millis("soon").is_err());
    }
}
