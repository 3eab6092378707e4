//! `portcullis policy ...`: validate and simulate IAM policies offline.

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Check policy files and print findings with their JSON paths; exit 1 on errors.
    Validate {
        /// Policy documents (JSON) to check.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
    },
}

/// Runs a policy subcommand and returns the process exit code.
pub fn run(cmd: PolicyCommand) -> anyhow::Result<i32> {
    match cmd {
        PolicyCommand::Validate { files } => {
            anyhow::bail!("policy validation is not built yet ({} files)", files.len())
        }
    }
}
