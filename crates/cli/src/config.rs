//! Configuration: defaults < TOML file (`--config`) < `PORTCULLIS_*` environment variables
//! (nested keys joined by `__`, e.g. `PORTCULLIS_STORAGE__FSYNC=false`) < command-line flags.
//! The doc comment of each field is its reference documentation.

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Deserializer, Serialize};

/// The whole configuration of `portcullis serve`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Addresses to listen on (`host:port`); one string or a list.
    #[serde(deserialize_with = "one_or_many")]
    pub listen: Vec<String>,
    /// Directory holding all state of the embedded default: blobs, uploads and `meta.sqlite`.
    pub data_dir: PathBuf,
    pub storage: StorageConfig,
    pub limits: LimitsConfig,
    pub uploads: UploadsConfig,
    pub metrics: MetricsConfig,
    pub log: LogConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Flush blob data and directory entries to disk before a blob becomes visible, so a
    /// committed blob survives power loss (a process crash never loses one either way).
    pub fsync: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Seconds a client has to send request headers; also how long an idle keep-alive
    /// connection is kept.
    pub header_timeout_secs: u64,
    /// Seconds a request body may pause before the request is failed.
    pub body_idle_timeout_secs: u64,
    /// Seconds shutdown (SIGTERM, Ctrl-C) waits for in-flight requests.
    pub shutdown_grace_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct UploadsConfig {
    /// Upload sessions idle for longer than this many hours are discarded.
    pub max_idle_hours: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Address of a separate listener serving Prometheus metrics at `/metrics`; off when unset.
    pub listen: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` for people, `json` for log pipelines.
    pub format: LogFormat,
    /// Default filter when `RUST_LOG` is unset, e.g. `info` or `portcullis=debug`.
    pub level: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: vec!["127.0.0.1:5000".into()],
            data_dir: PathBuf::from("./portcullis-data"),
            storage: StorageConfig::default(),
            limits: LimitsConfig::default(),
            uploads: UploadsConfig::default(),
            metrics: MetricsConfig::default(),
            log: LogConfig::default(),
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig { fsync: true }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            header_timeout_secs: 30,
            body_idle_timeout_secs: 60,
            shutdown_grace_secs: 30,
        }
    }
}

impl Default for UploadsConfig {
    fn default() -> Self {
        UploadsConfig { max_idle_hours: 24 }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => s.split(',').map(|p| p.trim().to_owned()).collect(),
        OneOrMany::Many(v) => v,
    })
}

/// Top-level keys read from `PORTCULLIS_*`; other variables with that prefix belong to other
/// tools (or to later features) and are ignored rather than refused.
const ENV_KEYS: [&str; 7] = [
    "listen", "data_dir", "storage", "limits", "uploads", "metrics", "log",
];

/// Values given on the command line, which win over everything else.
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
}

pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, figment::Error> {
    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    if let Some(file) = file {
        if !file.exists() {
            return Err(figment::Error::from(format!(
                "config file `{}` does not exist",
                file.display()
            )));
        }
        figment = figment.merge(Toml::file(file));
    }
    let env = Env::prefixed("PORTCULLIS_").split("__").filter(|key| {
        // The filter sees the key as written (`DATA_DIR`, `STORAGE__FSYNC`), before mapping.
        let top = key.as_str().split("__").next().unwrap_or("").to_ascii_lowercase();
        let top = top.split('.').next().unwrap_or("");
        ENV_KEYS.contains(&top)
    });
    figment
        .merge(env)
        .merge(Serialized::defaults(overrides))
        .extract()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_file_env_and_flags() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "p.toml",
                "listen = \"127.0.0.1:6000\"\ndata_dir = \"/from-file\"\n[storage]\nfsync = false\n",
            )?;
            jail.set_env("PORTCULLIS_DATA_DIR", "/from-env");
            jail.set_env("PORTCULLIS_LIMITS__HEADER_TIMEOUT_SECS", "7");
            jail.set_env("PORTCULLIS_BIN", "/ignored");
            let c = load(Some(Path::new("p.toml")), &Overrides::default()).unwrap();
            assert_eq!(c.listen, ["127.0.0.1:6000"]);
            assert_eq!(c.data_dir, PathBuf::from("/from-env"));
            assert!(!c.storage.fsync);
            assert_eq!(c.limits.header_timeout_secs, 7);
            let flags = Overrides {
                listen: Some(vec!["127.0.0.1:1".into(), "[::1]:2".into()]),
                data_dir: Some("/from-flag".into()),
            };
            let c = load(Some(Path::new("p.toml")), &flags).unwrap();
            assert_eq!(c.listen, ["127.0.0.1:1", "[::1]:2"]);
            assert_eq!(c.data_dir, PathBuf::from("/from-flag"));
            Ok(())
        });
    }

    #[test]
    fn the_committed_example_is_the_defaults() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/portcullis.toml");
        figment::Jail::expect_with(|_| {
            let c = load(Some(&example), &Overrides::default()).unwrap();
            assert_eq!(c, Config::default());
            Ok(())
        });
    }

    #[test]
    fn rejects_unknown_keys() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("p.toml", "lisen = \"x\"\n")?;
            assert!(load(Some(Path::new("p.toml")), &Overrides::default()).is_err());
            Ok(())
        });
    }
}
