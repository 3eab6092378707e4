//! Configuration: defaults < TOML file (`--config`) < `PORTCULLIS_*` environment variables
//! (nested keys joined by `__`, e.g. `PORTCULLIS_STORAGE__FSYNC=false`) < command-line flags.
//! The doc comment of each field is its reference documentation.

#![expect(
    clippy::result_large_err,
    reason = "figment's error type is large, and its test Jail requires closures to return it"
)]

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use portcullis_api::listener::{self, ListenerSpec, TlsFiles};
use serde::{Deserialize, Deserializer, Serialize};

mod backends;
pub use backends::{url_without_password, MetadataConfig, StorageBackend, StorageConfig};

/// The whole configuration of `portcullis serve`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Addresses to listen on (`host:port`); one string or a list.
    #[serde(deserialize_with = "one_or_many")]
    pub listen: Vec<String>,
    /// More listeners, each with its own options (TLS, network endpoint tags, trusted
    /// proxies); served alongside `listen`. See [`ListenerConfig`].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub listeners: Vec<ListenerConfig>,
    /// Directory holding all state of the embedded default: blobs, uploads and `meta.sqlite`.
    pub data_dir: PathBuf,
    /// The URL clients reach this registry at (`https://registry.example.com`), used in
    /// `repositoryUri`, `proxyEndpoint`, download URLs and the login challenge. Unset: the
    /// first listener's address when it is a specific one, else each request's `Host`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    pub storage: StorageConfig,
    pub metadata: MetadataConfig,
    pub quotas: QuotasConfig,
    pub limits: LimitsConfig,
    pub uploads: UploadsConfig,
    pub gc: GcConfig,
    pub lifecycle: LifecycleConfig,
    pub metrics: MetricsConfig,
    pub log: LogConfig,
    pub auth: AuthConfig,
    pub audit: AuditConfig,
}

/// Identity and access: where the registry lives in ARNs and the key that protects secrets.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// The 12-digit account id of this registry, as in ARNs and `registryId`.
    #[serde(deserialize_with = "account_id")]
    pub account_id: String,
    /// The region name used in ARNs and accepted in signatures.
    pub region: String,
    /// Base64 of 32 random bytes: seals access-key secrets at rest and signs registry tokens.
    /// When unset, a key is generated once into `<data_dir>/master.key` (mode 0600); set it
    /// (for example through `PORTCULLIS_AUTH__MASTER_KEY`) to keep it apart from the data.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "redact")]
    pub master_key: Option<String>,
    /// Serve registry requests that carry no credentials (`docker pull` of a public
    /// repository), as far as repository and registry policies allow `Principal: "*"` to.
    /// Off, as in ECR: every request without credentials is answered 401 with a challenge,
    /// and `Principal: "*"` means any authenticated principal. See docs/policy.md.
    pub anonymous_access: bool,
}

/// The audit log of every authentication and authorization decision (JSON lines).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// File the events are appended to; `-` for standard output, `off` to disable. Default:
    /// `<data_dir>/audit.log`.
    pub path: Option<String>,
    /// Serve requests even when their audit event cannot be written (disk full, file gone).
    /// Off: such a request fails with a server error, so no decision escapes the trail.
    pub fail_open: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            account_id: "123456789012".into(),
            region: "us-east-1".into(),
            master_key: None,
            anonymous_access: false,
        }
    }
}

pub(crate) fn redact<S: serde::Serializer>(v: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(_) => s.serialize_str("***"),
        None => s.serialize_none(),
    }
}

/// One `[[listeners]]` entry:
///
/// ```toml
/// [[listeners]]
/// address = "0.0.0.0:5443"
/// tls_cert = "/etc/portcullis/tls/chain.pem"
/// tls_key = "/etc/portcullis/tls/key.pem"
/// endpoint_id = "vpce-0a1b2c3d"
/// vpc_id = "vpc-1a2b3c4d"
/// trusted_proxies = ["10.0.0.0/8"]
/// proxy_protocol = false
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// `host:port` to listen on; port 0 picks a free port (the log says which).
    pub address: String,
    /// PEM certificate chain (leaf first) for HTTPS; needs `tls_key`. Plain HTTP without both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) for `tls_cert`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    /// The network endpoint this listener stands for: requests through it carry
    /// `aws:SourceVpce` = this value. `vpce-` and lowercase hex digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_id: Option<String>,
    /// The VPC of that endpoint, `aws:SourceVpc`. `vpc-` and lowercase hex digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    /// CIDRs (or single addresses) of proxies and load balancers in front of this listener.
    /// Only from these peers is `X-Forwarded-For` (and, with `proxy_protocol`, the PROXY
    /// header) believed for `aws:SourceIp`; from anyone else the TCP peer is the source.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted_proxies: Vec<String>,
    /// Every connection must open with a PROXY protocol v1 or v2 header from a peer in
    /// `trusted_proxies`; other connections are closed. Needs `trusted_proxies`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub proxy_protocol: bool,
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
    /// Upload sessions one principal (an IAM user's or role's ARN) may have open at once;
    /// every anonymous caller counts as one principal, `anonymous`. One more is refused with
    /// `429 TOOMANYREQUESTS` (registry API) or `LimitExceededException` (ECR API) until some
    /// are finished, cancelled or reaped (`[uploads] max_idle_hours`). Clients push a few
    /// layers at a time (docker: 5 by default), so 100 leaves room for many parallel pushes.
    pub max_uploads_per_principal: u64,
    /// Upload sessions open in the whole registry at once, refused as above beyond it.
    pub max_uploads: u64,
    /// Largest blob (layer, config) accepted, in bytes: 10 GiB by default. A push that
    /// announces more (`Content-Length`, `Content-Range`, a layer part's last byte) or streams
    /// more is refused with `413 SIZE_INVALID` (registry API) or `LimitExceededException`
    /// (ECR API) as soon as it passes the limit, and its upload session is discarded. ECR
    /// takes layers up to 52,000 MiB; raise this to that for very large layers (ML images).
    pub max_blob_bytes: u64,
    /// Seconds one upload request (POST with a whole blob, PATCH, PUT) may take to send its
    /// body, however steadily it trickles; then it fails with `400 BLOB_UPLOAD_INVALID` and
    /// the session keeps what was received. `body_idle_timeout_secs` only bounds pauses. The
    /// default lets a 10 GiB blob through at about 3 MB/s in one request; clients that push in
    /// chunks need it per chunk only.
    pub upload_request_timeout_secs: u64,
}

/// The registry's soft quotas (ECR's adjustable service quotas); going over one is refused
/// with `LimitExceededException` (ECR API) or `DENIED` (registry API).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct QuotasConfig {
    pub repositories: u64,
    pub images_per_repository: u64,
    pub tags_per_image: u64,
}

impl Default for QuotasConfig {
    fn default() -> Self {
        QuotasConfig {
            repositories: 10_000,
            images_per_repository: 10_000,
            tags_per_image: 1_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct UploadsConfig {
    /// Upload sessions idle for longer than this many hours are discarded.
    pub max_idle_hours: u64,
}

/// Online garbage collection of blobs no manifest references (see docs/gc.md).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GcConfig {
    /// Run a collection round every `interval_minutes` on one node of the deployment.
    pub enabled: bool,
    pub interval_minutes: u64,
    /// A blob is deleted only after no manifest has referenced it for this long; it covers a
    /// push between its layers and its manifest, so keep it above the longest push.
    pub grace_minutes: u64,
    /// The most blobs one round deletes (the rest wait for the next round).
    pub max_blobs_per_round: u64,
    /// Replace `interval_minutes` / `grace_minutes` with seconds (tests, demos, registries
    /// whose pushes are short); unset by default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grace_seconds: Option<u64>,
}

impl Default for GcConfig {
    fn default() -> Self {
        GcConfig {
            enabled: true,
            interval_minutes: 60,
            grace_minutes: 60,
            max_blobs_per_round: 100_000,
            interval_seconds: None,
            grace_seconds: None,
        }
    }
}

impl GcConfig {
    pub fn check(&self) -> Result<(), String> {
        if self.interval_minutes == 0 {
            return Err("[gc] interval_minutes must be at least 1".into());
        }
        if self.interval_seconds == Some(0) {
            return Err("[gc] interval_seconds must be at least 1".into());
        }
        if self.max_blobs_per_round == 0 {
            return Err("[gc] max_blobs_per_round must be at least 1".into());
        }
        Ok(())
    }

    pub fn options(&self) -> portcullis_core::registry::gc::GcOptions {
        portcullis_core::registry::gc::GcOptions {
            grace: self.grace(),
            max_blobs_per_round: self.max_blobs_per_round,
        }
    }

    pub fn grace(&self) -> std::time::Duration {
        std::time::Duration::from_secs(
            self.grace_seconds
                .unwrap_or(self.grace_minutes.saturating_mul(60)),
        )
    }

    pub fn interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs(
            self.interval_seconds
                .unwrap_or(self.interval_minutes.saturating_mul(60)),
        )
    }
}

/// Repositories' lifecycle policies, applied on a schedule (see docs/gc.md).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LifecycleConfig {
    /// Apply every repository's lifecycle policy every `interval_hours` on one node.
    pub enabled: bool,
    pub interval_hours: u64,
    /// Replace `interval_hours` with seconds (tests, demos); unset by default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval_seconds: Option<u64>,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        LifecycleConfig {
            enabled: true,
            interval_hours: 24,
            interval_seconds: None,
        }
    }
}

impl LifecycleConfig {
    pub fn check(&self) -> Result<(), String> {
        if self.interval_hours == 0 {
            return Err("[lifecycle] interval_hours must be at least 1".into());
        }
        if self.interval_seconds == Some(0) {
            return Err("[lifecycle] interval_seconds must be at least 1".into());
        }
        Ok(())
    }

    pub fn interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs(
            self.interval_seconds
                .unwrap_or(self.interval_hours.saturating_mul(3600)),
        )
    }
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
            listeners: Vec::new(),
            data_dir: PathBuf::from("./portcullis-data"),
            public_url: None,
            storage: StorageConfig::default(),
            metadata: MetadataConfig::default(),
            quotas: QuotasConfig::default(),
            limits: LimitsConfig::default(),
            uploads: UploadsConfig::default(),
            gc: GcConfig::default(),
            lifecycle: LifecycleConfig::default(),
            metrics: MetricsConfig::default(),
            log: LogConfig::default(),
            auth: AuthConfig::default(),
            audit: AuditConfig::default(),
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            header_timeout_secs: 30,
            body_idle_timeout_secs: 60,
            shutdown_grace_secs: 30,
            max_uploads_per_principal: 100,
            max_uploads: 10_000,
            max_blob_bytes: 10 * 1024 * 1024 * 1024,
            upload_request_timeout_secs: 3600,
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

/// An account id as text, also when it arrives as a number: the environment provider reads
/// `PORTCULLIS_AUTH__ACCOUNT_ID=111122223333` as an integer, and a TOML file may too. Account
/// ids are twelve digits, so the leading zeros a number lost are put back.
fn account_id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum TextOrNumber {
        Text(String),
        Number(u64),
    }
    let id = match TextOrNumber::deserialize(d)? {
        TextOrNumber::Text(s) => s,
        TextOrNumber::Number(n) => format!("{n:012}"),
    };
    if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(serde::de::Error::custom(format!(
            "an account id is 12 digits, not `{id}`"
        )));
    }
    Ok(id)
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
const ENV_KEYS: &[&str] = &[
    "auth",
    "audit",
    "listen",
    "listeners",
    "data_dir",
    "public_url",
    "storage",
    "metadata",
    "quotas",
    "limits",
    "uploads",
    "metrics",
    "log",
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
        let top = key
            .as_str()
            .split("__")
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        let top = top.split('.').next().unwrap_or("");
        ENV_KEYS.contains(&top)
    });
    figment
        .merge(env)
        .merge(Serialized::defaults(overrides))
        .extract()
}

impl Config {
    /// Every listener to bind: the plain `listen` addresses first, then `[[listeners]]`,
    /// each checked.
    pub fn listener_specs(&self) -> Result<Vec<ListenerSpec>, String> {
        let mut specs = Vec::new();
        for address in &self.listen {
            check_host_port(address).map_err(|e| format!("--listen: {e}"))?;
            specs.push(ListenerSpec::plain(address));
        }
        for (i, l) in self.listeners.iter().enumerate() {
            let spec = l
                .to_spec()
                .map_err(|e| format!("listeners[{i}] (`{}`): {e}", l.address))?;
            specs.push(spec);
        }
        Ok(specs)
    }
}

/// A listen address must name its host as well as its port: `5000` alone would otherwise be
/// taken for a host name and fail at bind with a resolver error.
fn check_host_port(address: &str) -> Result<(), String> {
    let wanted = || {
        format!("`{address}` is not HOST:PORT; for example 0.0.0.0:5000 (every interface), 127.0.0.1:5000 or [::]:5000")
    };
    let (host, port) = address.rsplit_once(':').ok_or_else(wanted)?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(wanted());
    }
    Ok(())
}

impl ListenerConfig {
    fn to_spec(&self) -> Result<ListenerSpec, String> {
        if self.address.trim().is_empty() {
            return Err("`address` is required".into());
        }
        check_host_port(&self.address)?;
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            }),
            (None, None) => None,
            _ => return Err("`tls_cert` and `tls_key` go together: give both or neither".into()),
        };
        if let Some(id) = &self.endpoint_id {
            if !listener::is_endpoint_id(id) {
                return Err(format!(
                    "endpoint_id `{id}` is not `vpce-` followed by lowercase hex digits"
                ));
            }
        }
        if let Some(id) = &self.vpc_id {
            if !listener::is_vpc_id(id) {
                return Err(format!(
                    "vpc_id `{id}` is not `vpc-` followed by lowercase hex digits"
                ));
            }
        }
        let trusted_proxies = self
            .trusted_proxies
            .iter()
            .map(|p| listener::parse_trusted_proxy(p).map_err(|e| format!("trusted_proxies: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        if self.proxy_protocol && trusted_proxies.is_empty() {
            return Err(
                "`proxy_protocol = true` needs `trusted_proxies`: PROXY headers are accepted only from them"
                    .into(),
            );
        }
        Ok(ListenerSpec {
            address: self.address.clone(),
            tls,
            endpoint_id: self.endpoint_id.clone(),
            vpc_id: self.vpc_id.clone(),
            trusted_proxies,
            proxy_protocol: self.proxy_protocol,
        })
    }
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
            assert_eq!(c.limits.max_uploads_per_principal, 100);
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
    fn an_account_id_from_the_environment_stays_text() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("PORTCULLIS_AUTH__ACCOUNT_ID", "011122223333");
            jail.set_env("PORTCULLIS_AUTH__REGION", "eu-west-3");
            let c = load(None, &Overrides::default()).unwrap();
            assert_eq!(c.auth.account_id, "011122223333", "leading zeros kept");
            assert_eq!(c.auth.region, "eu-west-3");
            jail.set_env("PORTCULLIS_AUTH__ACCOUNT_ID", "1234567890123");
            let e = load(None, &Overrides::default()).unwrap_err().to_string();
            assert!(e.contains("12 digits"), "{e}");
            Ok(())
        });
    }

    #[test]
    fn backends_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("PORTCULLIS_STORAGE__BACKEND", "s3");
            jail.set_env("PORTCULLIS_STORAGE__S3__BUCKET", "blobs");
            jail.set_env("PORTCULLIS_STORAGE__S3__SECRET_ACCESS_KEY", "hunter2");
            jail.set_env("PORTCULLIS_METADATA__URL", "postgres://u:pw@127.0.0.1/p");
            let c = load(None, &Overrides::default()).unwrap();
            assert_eq!(c.storage.backend, StorageBackend::S3);
            assert_eq!(c.storage.s3.bucket, "blobs");
            assert_eq!(c.storage.s3.secret_access_key.as_deref(), Some("hunter2"));
            let logged = serde_json::to_string(&c).unwrap();
            assert!(
                !logged.contains("hunter2") && !logged.contains(":pw@"),
                "{logged}"
            );
            assert!(logged.contains("postgres://u:***@127.0.0.1/p"), "{logged}");
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
    fn listeners_from_the_file_come_after_listen() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "p.toml",
                r#"
listen = "127.0.0.1:5000"
[[listeners]]
address = "127.0.0.2:5001"
endpoint_id = "vpce-0a1b2c3d"
vpc_id = "vpc-1a2b3c4d"
trusted_proxies = ["10.0.0.0/8", "192.0.2.1"]
proxy_protocol = true
[[listeners]]
address = "127.0.0.1:5443"
tls_cert = "/tls/chain.pem"
tls_key = "/tls/key.pem"
"#,
            )?;
            let flags = Overrides {
                listen: Some(vec!["127.0.0.1:1".into(), "127.0.0.1:2".into()]),
                data_dir: None,
            };
            let c = load(Some(Path::new("p.toml")), &flags).unwrap();
            let specs = c.listener_specs().unwrap();
            let addresses: Vec<&str> = specs.iter().map(|s| s.address.as_str()).collect();
            assert_eq!(
                addresses,
                [
                    "127.0.0.1:1",
                    "127.0.0.1:2",
                    "127.0.0.2:5001",
                    "127.0.0.1:5443"
                ]
            );
            assert_eq!(specs[0], ListenerSpec::plain("127.0.0.1:1"));
            assert_eq!(specs[2].endpoint_id.as_deref(), Some("vpce-0a1b2c3d"));
            assert_eq!(specs[2].vpc_id.as_deref(), Some("vpc-1a2b3c4d"));
            assert_eq!(specs[2].trusted_proxies.len(), 2);
            assert!(specs[2].proxy_protocol);
            assert_eq!(
                specs[3].tls,
                Some(TlsFiles {
                    cert: "/tls/chain.pem".into(),
                    key: "/tls/key.pem".into()
                })
            );
            Ok(())
        });
    }

    #[test]
    fn listeners_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.set_env(
                "PORTCULLIS_LISTENERS",
                r#"[{address = "127.0.0.1:7", endpoint_id = "vpce-1f", trusted_proxies = ["10.0.0.0/8"]}]"#,
            );
            let c = load(None, &Overrides::default()).unwrap();
            let specs = c.listener_specs().unwrap();
            assert_eq!(specs.len(), 2);
            assert_eq!(specs[1].address, "127.0.0.1:7");
            assert_eq!(specs[1].endpoint_id.as_deref(), Some("vpce-1f"));
            assert_eq!(specs[1].trusted_proxies.len(), 1);
            Ok(())
        });
    }

    #[test]
    fn bad_listeners_are_refused_by_name() {
        let cases = [
            ("tls_cert = \"/c.pem\"", "tls_cert` and `tls_key"),
            ("tls_key = \"/k.pem\"", "tls_cert` and `tls_key"),
            ("endpoint_id = \"vpce-XYZ\"", "endpoint_id `vpce-XYZ`"),
            ("endpoint_id = \"vpc-0a1b\"", "endpoint_id"),
            ("vpc_id = \"vpce-0a1b\"", "vpc_id `vpce-0a1b`"),
            (
                "trusted_proxies = [\"10.0.0.0/33\"]",
                "`10.0.0.0/33` is not a CIDR",
            ),
            ("proxy_protocol = true", "needs `trusted_proxies`"),
        ];
        for (line, expected) in cases {
            figment::Jail::expect_with(|jail| {
                jail.create_file(
                    "p.toml",
                    &format!("[[listeners]]\naddress = \"127.0.0.1:0\"\n[[listeners]]\naddress = \"127.0.0.9:7\"\n{line}\n"),
                )?;
                let c = load(Some(Path::new("p.toml")), &Overrides::default()).unwrap();
                let err = c.listener_specs().unwrap_err();
                assert!(err.starts_with("listeners[1] (`127.0.0.9:7`): "), "{err}");
                assert!(err.contains(expected), "{line}: {err}");
                Ok(())
            });
        }
        figment::Jail::expect_with(|jail| {
            jail.create_file("p.toml", "[[listeners]]\naddress = \"x:1\"\ntls = true\n")?;
            assert!(load(Some(Path::new("p.toml")), &Overrides::default()).is_err());
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

    #[test]
    fn listen_addresses_must_be_host_and_port() {
        for bad in [
            "5000",
            ":5000",
            "localhost",
            "0.0.0.0:http",
            "0.0.0.0:70000",
        ] {
            let config = Config {
                listen: vec![bad.into()],
                ..Config::default()
            };
            let e = config.listener_specs().expect_err(bad);
            assert!(e.contains("is not HOST:PORT"), "{bad}: {e}");
        }
        for good in ["0.0.0.0:5000", "127.0.0.1:0", "[::]:5000", "localhost:5000"] {
            let config = Config {
                listen: vec![good.into()],
                ..Config::default()
            };
            assert!(config.listener_specs().is_ok(), "{good}");
        }
    }
}
