//! The `portcullis` binary: command line, configuration, telemetry, and the wiring of concrete
//! backends. The only crate that may use `anyhow`.

mod audit_cmd;
mod backends;
mod config;
mod doctor;
mod gc_cmd;
mod keys;
mod lifecycle_cmd;
mod offline;
mod policy_cmd;
mod redact;
mod serve;
mod telemetry;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Portcullis: a private container registry with the access control of a cloud registry.
///
/// Run `portcullis serve` to start the registry on 127.0.0.1:5000 with its data under
/// ./portcullis-data, then push to it: `skopeo copy oci:./image docker://127.0.0.1:5000/app:v1
/// --dest-tls-verify=false`.
#[derive(Debug, Parser)]
#[command(version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the registry.
    ///
    /// Configuration comes from defaults, then the TOML file given with --config, then
    /// PORTCULLIS_* environment variables (nested keys joined by `__`, for example
    /// PORTCULLIS_STORAGE__FSYNC=false), then these flags. The effective configuration is
    /// logged at start-up.
    ///
    /// Endpoint listeners (an `endpoint_id` for aws:SourceVpce) and TLS are set per listener in
    /// the config file's `[[listeners]]` tables; --listen only adds plain listeners.
    ///
    /// On first start with an empty data directory an admin access key is created and printed
    /// once. To choose it instead, set both PORTCULLIS_BOOTSTRAP_ACCESS_KEY_ID and
    /// PORTCULLIS_BOOTSTRAP_SECRET_ACCESS_KEY.
    ///
    /// Example: portcullis serve --listen 0.0.0.0:5000 --data-dir /var/lib/portcullis
    Serve(ServeArgs),
    /// Validate and simulate IAM policies offline.
    #[command(subcommand)]
    Policy(policy_cmd::PolicyCommand),
    /// Registry tokens (docker login passwords), made offline from the data directory.
    #[command(subcommand)]
    Token(offline::TokenCommand),
    /// Operator commands that work on the data directory while the server is down (or up).
    #[command(subcommand)]
    Admin(offline::AdminCommand),
    /// Filter the audit log by principal, action, decision, repository and time.
    ///
    /// Example: portcullis audit --file ./portcullis-data/audit.log --decision deny --since
    /// 2026-11-23T00:00:00Z
    Audit(audit_cmd::AuditArgs),
    /// Check the data directory: file modes, stored policies that no longer parse (each
    /// denies every action it governs until fixed or removed), access keys the master key
    /// cannot open. Exits 1 when it finds a problem. Safe while the server runs.
    ///
    /// Example: portcullis doctor --data-dir /var/lib/portcullis
    Doctor(doctor::DoctorArgs),
    /// Bring the metadata store's schema up to this version and exit: SQLite in the data
    /// directory, or PostgreSQL from [metadata] url. `serve` does the same at start unless
    /// [metadata] migrate_on_start = false (deployments that upgrade in a separate step).
    /// Prints each migration applied.
    ///
    /// Example: portcullis migrate --config /etc/portcullis/portcullis.toml
    Migrate(offline::DataArgs),
    /// Run one garbage collection round now and report what it deleted (blobs, bytes), or
    /// with --dry-run what it would delete. A blob is deleted only when no manifest in any
    /// repository references it and it has been unreferenced for longer than [gc]
    /// grace_minutes (default 60); pushes running meanwhile are safe. Servers run the same
    /// round every [gc] interval_minutes on one node; this command waits for no one and
    /// exits 1 if a server's collector is running now. Every deletion is audited.
    ///
    /// Example: portcullis gc --dry-run --config /etc/portcullis/portcullis.toml
    Gc(gc_cmd::GcArgs),
    /// Apply repositories' lifecycle policies now (servers do it every [lifecycle]
    /// interval_hours).
    #[command(subcommand)]
    Lifecycle(lifecycle_cmd::LifecycleCommand),
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Address to listen on, `host:port`; repeat for several listeners. Port 0 picks a free
    /// port (the log says which). [default: 127.0.0.1:5000]
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Vec<String>,
    /// Directory for all registry state (blobs, uploads, metadata). [default: ./portcullis-data]
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// TOML configuration file.
    #[arg(long, value_name = "FILE", env = "PORTCULLIS_CONFIG")]
    config: Option<PathBuf>,
}

fn offline_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Serve(args) => {
            let overrides = config::Overrides {
                listen: (!args.listen.is_empty()).then_some(args.listen),
                data_dir: args.data_dir,
            };
            let config = config::load(args.config.as_deref(), &overrides)?;
            telemetry::init_logging(&config.log);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(serve::run(config))?;
            0
        }
        Command::Policy(cmd) => policy_cmd::run(cmd)?,
        Command::Token(cmd) => offline_runtime()?.block_on(offline::token(cmd))?,
        Command::Admin(cmd) => offline_runtime()?.block_on(offline::admin(cmd))?,
        Command::Audit(args) => audit_cmd::run(args)?,
        Command::Doctor(args) => offline_runtime()?.block_on(doctor::run(args))?,
        Command::Migrate(args) => offline_runtime()?.block_on(offline::migrate(args))?,
        Command::Gc(args) => offline_runtime()?.block_on(gc_cmd::run(args))?,
        Command::Lifecycle(cmd) => offline_runtime()?.block_on(lifecycle_cmd::run(cmd))?,
    };
    std::process::exit(code);
}
