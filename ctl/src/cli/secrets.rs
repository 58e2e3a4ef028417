//! The arguments of `moorctl secrets`: where the cluster's stored secrets are sealed, and
//! moving them to the current sealing key after a key rotation.

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Which keys sealed how many stored secrets (variables, environment inputs, rollout and
    /// trigger inputs, steps of running executions), as the answering member sees them; exit
    /// 0 only when every one is under the sealing key (admin)
    #[command(after_help = SECRETS_EXIT_HELP)]
    Status,
    /// Move every stored secret under an older key, or stored in clear, to the sealing key;
    /// values keep their fingerprints, so nothing is re-applied (admin; safe to repeat)
    #[command(after_help = SECRETS_EXIT_HELP)]
    Reseal,
}

/// The exit codes of `secrets status` and `secrets reseal`, after their `--help`.
pub const SECRETS_EXIT_HELP: &str = "\
Exit codes:
  0   every stored secret is under the sealing key (the first key of the key file): the
      other keys may be removed from the key file
  10  not yet: some secret is under an older key or in clear (`status`), or `reseal` could
      not move some (it says which and why); keep the older keys
  11  some secret is under a key the answering member's key file does not hold: it cannot
      be opened there; put that key back in the key file of every member (`status` only)
  other codes as in `moorctl --help` (e.g. 8: these credentials are not an admin's)";
