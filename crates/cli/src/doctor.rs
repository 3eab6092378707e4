//! `portcullis doctor`, and the checks `serve` makes of the data dir at start-up: file modes
//! (fixed by `serve`, reported by `doctor`), stored policies that no longer parse (which deny
//! everything they govern until fixed), access keys the master key cannot open.

use std::path::Path;

use anyhow::Context;
use portcullis_core::{BrokenPolicy, Iam, Repositories};
use portcullis_storage::iam::PolicyOrigin;
use portcullis_storage::layout::{self, FILE_MODE, META_DB};
use portcullis_storage::PrincipalKind;

use crate::offline::DataArgs;

/// How many changed paths `serve` names one by one before it only counts them.
const NAMED_CHANGES: usize = 20;

/// Creates the data dir 0700, removes group and other access from everything in it (logging
/// what changed), and creates the metadata database file 0600 so that SQLite's `-wal` and
/// `-shm` files, which take the database file's mode, are private too.
/// `embedded_db`: the metadata is SQLite in the data dir, whose file is created here with its
/// private mode (a deployment on PostgreSQL keeps no database file there).
pub fn secure_data_dir(data_dir: &Path, embedded_db: bool) -> anyhow::Result<()> {
    layout::create_private_dir_all(data_dir)
        .with_context(|| format!("creating data dir `{}`", data_dir.display()))?;
    let changed = layout::tighten_modes(data_dir)
        .with_context(|| format!("fixing file modes under `{}`", data_dir.display()))?;
    for c in changed.iter().take(NAMED_CHANGES) {
        tracing::warn!(
            path = %c.path.display(),
            from = format!("{:o}", c.found),
            to = format!("{:o}", c.tightened),
            "removed group and other access"
        );
    }
    if !changed.is_empty() {
        tracing::warn!(
            paths = changed.len(),
            data_dir = %data_dir.display(),
            "the data dir was readable by others: fixed the modes of every path in it"
        );
    }
    if !embedded_db {
        return Ok(());
    }
    let db = data_dir.join(META_DB);
    {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(FILE_MODE)
            .open(&db)
            .with_context(|| format!("creating `{}`", db.display()))?;
    }
    Ok(())
}

/// Logs every stored policy that does not parse, once, at start-up.
pub async fn log_broken_policies(iam: &Iam) -> anyhow::Result<()> {
    let broken = iam
        .broken_policies()
        .await
        .context("checking stored policies")?;
    for (_, b) in &broken {
        tracing::error!(
            policy = %b.id,
            error = %b.error,
            "stored policy does not parse: every action it governs is denied until it is fixed or removed"
        );
    }
    Ok(())
}

fn describe(b: &BrokenPolicy) -> String {
    format!(
        "policy `{}` does not parse ({}): while it applies, every action it governs is denied",
        b.id, b.error
    )
}

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// Delete the repository, registry and inline identity policies that do not parse, after
    /// listing them. What they allowed is lost, and so are their Denies: the remaining
    /// policies decide from then on. Managed policy versions and role trust policies are only
    /// reported.
    #[arg(long)]
    remove_broken: bool,
    #[command(flatten)]
    data: DataArgs,
}

/// Deletes one broken policy; `false` when it is of a kind only reported.
async fn remove(
    iam: &Iam,
    repositories: &Repositories,
    origin: &PolicyOrigin,
    b: &BrokenPolicy,
) -> anyhow::Result<bool> {
    match origin {
        PolicyOrigin::Repository(repo) => {
            repositories.set_policy(repo, None).await?;
        }
        PolicyOrigin::Registry => {
            repositories.set_registry_policy(None).await?;
        }
        PolicyOrigin::Identity => {
            // Inline policies are `<kind>/<owner>/<name>`; IAM names hold no `/`.
            let mut parts = b.id.splitn(3, '/');
            let kind = match parts.next() {
                Some("user") => PrincipalKind::User,
                Some("group") => PrincipalKind::Group,
                Some("role") => PrincipalKind::Role,
                _ => return Ok(false),
            };
            let (Some(owner), Some(name)) = (parts.next(), parts.next()) else {
                return Ok(false);
            };
            iam.delete_inline_policy(kind, owner, name).await?;
        }
        PolicyOrigin::RoleTrust => return Ok(false),
    }
    Ok(true)
}

/// Checks the data dir; returns the exit code (1 when a problem was found).
pub async fn run(args: DoctorArgs) -> anyhow::Result<i32> {
    let data = args.data;
    let (config, iam, repositories) = crate::offline::open_with_repositories(&data).await?;
    let mut problems = Vec::new();

    for l in layout::loose_modes(&config.data_dir).context("reading file modes")? {
        problems.push(format!(
            "`{}` has mode {:o}: group or others can read it (`portcullis serve` fixes it at start)",
            l.path.display(),
            l.found
        ));
    }
    for (origin, b) in iam.broken_policies().await? {
        if args.remove_broken && remove(&iam, &repositories, &origin, &b).await? {
            println!("removed: {}", describe(&b));
        } else {
            problems.push(describe(&b));
        }
    }
    for user in iam.list_users().await? {
        for key in iam.access_keys_of(&user.name).await? {
            if key.active {
                if let Err(e) = iam.active_key_secret(&key.access_key_id).await {
                    problems.push(format!(
                        "access key `{}` of user `{}`: {e}",
                        key.access_key_id, user.name
                    ));
                }
            }
        }
    }

    if problems.is_empty() {
        println!("ok: `{}` has no problems", config.data_dir.display());
        return Ok(0);
    }
    for p in &problems {
        println!("problem: {p}");
    }
    println!(
        "{} problem(s) in `{}`",
        problems.len(),
        config.data_dir.display()
    );
    Ok(1)
}
