//! Secrets and first start: the master key, the bootstrap administrator, the audit sink.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use portcullis_core::{AuditLog, Iam, MasterKey, Secret};

use crate::config::Config;

const MASTER_KEY_FILE: &str = "master.key";

fn decode_key(text: &str, origin: &str) -> anyhow::Result<MasterKey> {
    let bytes = STANDARD
        .decode(text.trim())
        .with_context(|| format!("{origin}: the master key is not base64"))?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("{origin}: the master key must be 32 bytes"))?;
    Ok(MasterKey::from_bytes(bytes))
}

/// The configured master key, or the one in `<data_dir>/master.key`, created on first start.
pub fn master_key(config: &Config) -> anyhow::Result<MasterKey> {
    if let Some(text) = &config.auth.master_key {
        return decode_key(text, "auth.master_key");
    }
    let path = config.data_dir.join(MASTER_KEY_FILE);
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading `{}`", path.display()))?;
        return decode_key(&text, &path.display().to_string());
    }
    let key = MasterKey::generate();
    write_private(&path, &STANDARD.encode(key.as_bytes()))?;
    tracing::warn!(
        path = %path.display(),
        "generated a master key beside the data; set auth.master_key to keep it elsewhere"
    );
    Ok(key)
}

/// Writes a file only the owner can read, atomically (a crash leaves the old state or the new).
fn write_private(path: &Path, content: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("creating `{}`", tmp.display()))?;
    f.write_all(content.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing `{}`", path.display()))?;
    Ok(())
}

/// The bootstrap key from `PORTCULLIS_BOOTSTRAP_ACCESS_KEY_ID` and
/// `PORTCULLIS_BOOTSTRAP_SECRET_ACCESS_KEY`, when both are set.
pub fn bootstrap_key_from_env() -> anyhow::Result<Option<(String, Secret)>> {
    let id = std::env::var("PORTCULLIS_BOOTSTRAP_ACCESS_KEY_ID").ok();
    let secret = std::env::var("PORTCULLIS_BOOTSTRAP_SECRET_ACCESS_KEY").ok();
    match (id, secret) {
        (Some(id), Some(secret)) => {
            let id_ok = (16..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric());
            if !id_ok {
                bail!("PORTCULLIS_BOOTSTRAP_ACCESS_KEY_ID must be 16 to 128 letters and digits");
            }
            if secret.len() < 16 {
                bail!("PORTCULLIS_BOOTSTRAP_SECRET_ACCESS_KEY must be at least 16 characters");
            }
            Ok(Some((id, Secret::new(secret))))
        }
        (None, None) => Ok(None),
        _ => bail!(
            "set both PORTCULLIS_BOOTSTRAP_ACCESS_KEY_ID and PORTCULLIS_BOOTSTRAP_SECRET_ACCESS_KEY, or neither"
        ),
    }
}

/// Creates the administrator on a registry without identities; a generated secret is printed
/// once to standard error, since it is stored only sealed.
pub async fn bootstrap(iam: &Iam) -> anyhow::Result<()> {
    let given = bootstrap_key_from_env()?;
    let from_env = given.is_some();
    if let Some(key) = iam
        .bootstrap(given)
        .await
        .context("bootstrapping the administrator")?
    {
        tracing::info!(
            user = "admin",
            access_key_id = %key.access_key_id,
            "created the administrator (full access)"
        );
        if !from_env {
            eprintln!();
            eprintln!("portcullis: created user `admin` with full access. Its access key is shown only now:");
            eprintln!("  aws_access_key_id     = {}", key.access_key_id);
            eprintln!(
                "  aws_secret_access_key = {}",
                key.secret_access_key.expose()
            );
            eprintln!();
        }
    }
    Ok(())
}

pub fn audit_log(config: &Config) -> anyhow::Result<AuditLog> {
    let log = match config.audit.path.as_deref() {
        Some("off") => AuditLog::disabled(),
        Some("-") => AuditLog::to_writer(Box::new(std::io::stdout())),
        other => {
            let path = other
                .map(std::path::PathBuf::from)
                .unwrap_or_else(|| config.data_dir.join("audit.log"));
            use std::os::unix::fs::OpenOptionsExt;
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(portcullis_storage::layout::FILE_MODE)
                .open(&path)
                .with_context(|| format!("opening the audit log `{}`", path.display()))?;
            AuditLog::to_writer(Box::new(file))
        }
    };
    Ok(log.fail_open(config.audit.fail_open))
}
