//! The `[storage]` and `[metadata]` sections: which engines hold the registry's state. The
//! embedded default is the filesystem and SQLite under `data_dir`; a deployment of several
//! stateless nodes shares an S3-compatible bucket and a PostgreSQL database.
//!
//! Secrets (the S3 secret key, the database URL's password) may also come from a file named by
//! the `*_file` key (as container secrets are mounted), and never appear in the logged
//! configuration.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Where blobs live.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    /// Under `<data_dir>/blobs` and `<data_dir>/uploads`.
    #[default]
    Filesystem,
    /// In an S3-compatible bucket (`[storage.s3]`): AWS S3, Garage, MinIO, Ceph RGW.
    S3,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// `filesystem` (default) or `s3`.
    pub backend: StorageBackend,
    /// Flush blob data and directory entries to disk before a blob becomes visible, so a
    /// committed blob survives power loss (a process crash never loses one either way).
    /// Filesystem only.
    pub fsync: bool,
    /// Answer blob GETs with `307` to a short-lived presigned URL of the object store instead
    /// of streaming the bytes through the node (s3 only). The object store's URL is outside
    /// the registry's network conditions: see docs/deployment.md before turning it on.
    pub redirect: bool,
    /// How long a presigned redirect URL stays valid, in seconds (ECR's are minutes).
    pub redirect_ttl_secs: u64,
    pub s3: S3Config,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            backend: StorageBackend::Filesystem,
            fsync: true,
            redirect: false,
            redirect_ttl_secs: 300,
            s3: S3Config::default(),
        }
    }
}

/// `[storage.s3]`: the bucket blobs and uploads are kept in.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct S3Config {
    /// `http(s)://host:port` of the S3 API. Unset: AWS S3 of `region`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    pub region: String,
    pub bucket: String,
    /// Prepended to every key, so one bucket can hold several registries (`registry/`).
    pub prefix: String,
    /// `endpoint/bucket/key` addressing instead of `bucket.endpoint/key` (Garage, MinIO).
    pub path_style: bool,
    /// Unset (with the secret): the usual AWS credential chain (environment, profile, IMDS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "super::redact"
    )]
    pub secret_access_key: Option<String>,
    /// A file holding the secret access key (its first line), instead of `secret_access_key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_access_key_file: Option<PathBuf>,
    /// The object store's address as clients see it, for presigned redirect URLs, when it
    /// differs from `endpoint` (which is how the nodes reach it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_endpoint: Option<String>,
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            endpoint: None,
            region: "us-east-1".into(),
            bucket: String::new(),
            prefix: String::new(),
            path_style: false,
            access_key_id: None,
            secret_access_key: None,
            secret_access_key_file: None,
            redirect_endpoint: None,
        }
    }
}

/// `[metadata]`: where everything but blob bytes lives.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MetadataConfig {
    /// `postgres://user:password@host:5432/db`. Unset: SQLite in `<data_dir>/meta.sqlite`.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "redact_url")]
    pub url: Option<String>,
    /// A file holding the URL (its first line), instead of `url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url_file: Option<PathBuf>,
    /// Apply schema migrations at start. Off: start only on a database `portcullis migrate`
    /// has brought up to date (for deployments that migrate in a separate step).
    pub migrate_on_start: bool,
    /// How long `serve` waits for an unreachable database at start before giving up (PostgreSQL
    /// only). Meanwhile the node does not listen, so a load balancer counts it as not ready.
    pub connect_wait_secs: u64,
}

impl Default for MetadataConfig {
    fn default() -> Self {
        MetadataConfig {
            url: None,
            url_file: None,
            migrate_on_start: true,
            connect_wait_secs: 120,
        }
    }
}

/// Logs a database URL without its password.
fn redact_url<S: serde::Serializer>(v: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(url) => s.serialize_str(&url_without_password(url)),
        None => s.serialize_none(),
    }
}

/// `scheme://user:***@host/db`: the part between `:` and the last `@` of the authority hidden.
pub fn url_without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "***".into();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{path}"),
            None => format!("{scheme}://{userinfo}@{host}{path}"),
        },
        None => url.to_owned(),
    }
}

/// The first line of a secret file, without its line break.
pub fn read_secret_file(path: &Path) -> std::io::Result<String> {
    let text = std::fs::read_to_string(path)?;
    Ok(text.lines().next().unwrap_or_default().trim().to_owned())
}

impl MetadataConfig {
    /// The PostgreSQL URL, from `url` or `url_file`; `None` for the embedded SQLite.
    pub fn resolved_url(&self) -> Result<Option<String>, String> {
        match (&self.url, &self.url_file) {
            (Some(_), Some(_)) => Err("[metadata] sets both url and url_file; keep one".into()),
            (Some(url), None) => Ok(Some(url.clone())),
            (None, Some(file)) => read_secret_file(file)
                .map(Some)
                .map_err(|e| format!("[metadata] url_file `{}`: {e}", file.display())),
            (None, None) => Ok(None),
        }
    }

    /// Refuses what cannot be a PostgreSQL URL before anything connects.
    pub fn check(&self) -> Result<(), String> {
        if let Some(url) = self.resolved_url()? {
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                return Err(format!(
                    "[metadata] url `{}` is not a postgres:// URL (leave it unset for SQLite)",
                    url_without_password(&url)
                ));
            }
        }
        Ok(())
    }
}

impl S3Config {
    /// The secret access key, from the config or `secret_access_key_file`.
    pub fn resolved_secret(&self) -> Result<Option<String>, String> {
        match (&self.secret_access_key, &self.secret_access_key_file) {
            (Some(_), Some(_)) => Err(
                "[storage.s3] sets both secret_access_key and secret_access_key_file; keep one"
                    .into(),
            ),
            (Some(s), None) => Ok(Some(s.clone())),
            (None, Some(file)) => read_secret_file(file).map(Some).map_err(|e| {
                format!(
                    "[storage.s3] secret_access_key_file `{}`: {e}",
                    file.display()
                )
            }),
            (None, None) => Ok(None),
        }
    }
}

impl StorageConfig {
    /// Refuses combinations that cannot work, naming the key to change.
    pub fn check(&self) -> Result<(), String> {
        if self.redirect && !(1..=604_800).contains(&self.redirect_ttl_secs) {
            // SigV4 presigned URLs live at most 7 days.
            return Err("[storage] redirect_ttl_secs must be between 1 and 604800".into());
        }
        match self.backend {
            StorageBackend::Filesystem => {
                if self.redirect {
                    return Err(
                        "[storage] redirect needs backend = \"s3\" (the filesystem has no URLs to redirect to)"
                            .into(),
                    );
                }
            }
            StorageBackend::S3 => {
                let s3 = &self.s3;
                if s3.bucket.is_empty() {
                    return Err("[storage] backend = \"s3\" needs [storage.s3] bucket".into());
                }
                for (key, value) in [
                    ("endpoint", &s3.endpoint),
                    ("redirect_endpoint", &s3.redirect_endpoint),
                ] {
                    if let Some(v) = value {
                        if !(v.starts_with("http://") || v.starts_with("https://")) {
                            return Err(format!(
                                "[storage.s3] {key} `{v}` must start with http:// or https://"
                            ));
                        }
                    }
                }
                let secret = s3.resolved_secret()?;
                if s3.access_key_id.is_some() != secret.is_some() {
                    return Err(
                        "[storage.s3] access_key_id and secret_access_key go together (set both, or neither for the AWS credential chain)"
                            .into(),
                    );
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden_in_urls() {
        assert_eq!(
            url_without_password("postgres://app:s3cr:et@db.internal:5432/portcullis"),
            "postgres://app:***@db.internal:5432/portcullis"
        );
        assert_eq!(
            url_without_password("postgres://app@db/p"),
            "postgres://app@db/p"
        );
        assert_eq!(
            url_without_password("postgres://db/p?password=x"),
            "postgres://db/p?password=x"
        );
        assert_eq!(url_without_password("not a url"), "***");
    }

    #[test]
    fn s3_needs_a_bucket_and_both_halves_of_a_key() {
        let mut c = StorageConfig {
            backend: StorageBackend::S3,
            ..StorageConfig::default()
        };
        assert!(c.check().unwrap_err().contains("bucket"));
        c.s3.bucket = "b".into();
        c.check().unwrap();
        c.s3.access_key_id = Some("GK1".into());
        assert!(c.check().unwrap_err().contains("go together"));
        c.s3.secret_access_key = Some("x".into());
        c.check().unwrap();
        c.s3.endpoint = Some("127.0.0.1:3900".into());
        assert!(c.check().unwrap_err().contains("http://"));
    }

    #[test]
    fn redirect_needs_s3() {
        let c = StorageConfig {
            redirect: true,
            ..StorageConfig::default()
        };
        assert!(c.check().unwrap_err().contains("backend"));
    }

    #[test]
    fn secrets_come_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("url");
        std::fs::write(&file, "postgres://u:p@h/d\n").unwrap();
        let m = MetadataConfig {
            url_file: Some(file.clone()),
            ..MetadataConfig::default()
        };
        assert_eq!(
            m.resolved_url().unwrap().as_deref(),
            Some("postgres://u:p@h/d")
        );
        m.check().unwrap();
        let bad = MetadataConfig {
            url: Some("mysql://x".into()),
            ..MetadataConfig::default()
        };
        assert!(bad.check().unwrap_err().contains("postgres://"));
    }
}
