//! The `portcullis` binary: command line, configuration, telemetry, and the wiring of concrete
//! backends. The only crate that may use `anyhow`.

mod policy_cmd;

use clap::{Parser, Subcommand};

/// Portcullis: a private container registry with the access control of a cloud registry.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate and simulate IAM policies offline.
    #[command(subcommand)]
    Policy(policy_cmd::PolicyCommand),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Policy(cmd) => policy_cmd::run(cmd)?,
    };
    std::process::exit(code);
}
