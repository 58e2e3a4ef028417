//! The arguments of `moorctl cluster snapshot`: backups of the whole replicated state.

use std::path::PathBuf;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// Save a backup of the whole replicated state (admin only: it holds secrets) from the
    /// first member that answers. The file is written as FILE.partial (mode 0600), verified,
    /// synced to disk and only then renamed to FILE, so FILE is always a whole, verified
    /// backup. The whole save ends by --timeout-ms: give a larger one for a large state
    Save {
        /// The backup file to write (never replaced without --force)
        #[arg(value_name = "FILE", value_parser = parse_backup_path)]
        file: PathBuf,
        /// Replace FILE (and a FILE.partial left by an earlier save) if it exists
        #[arg(long)]
        force: bool,
    },
    /// Show what a backup file holds and verify its checksum; needs no member (exit code 1
    /// when the file is damaged or not a backup)
    Inspect {
        /// The backup file to read
        #[arg(value_name = "FILE", value_parser = parse_backup_path)]
        file: PathBuf,
    },
}

/// A backup file's path: not empty, and a file rather than standard input (a backup is
/// written under a temporary name and renamed, and read whole to be verified).
pub fn parse_backup_path(s: &str) -> Result<PathBuf, String> {
    match s {
        "" => Err("a file name must not be empty".to_string()),
        "-" => Err("a backup is a file: standard input and output are not supported".to_string()),
        _ => Ok(PathBuf::from(s)),
    }
}
