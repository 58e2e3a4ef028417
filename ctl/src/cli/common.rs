//! Flag groups several commands share: inputs, `--watch`, `--stale`.

use std::path::PathBuf;

use clap::Args;

use super::values::{parse_input, parse_path};

/// Input values: `--input KEY=VALUE`... and `--inputs-file F.json`.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// An input value; VALUE is taken as JSON when it is valid JSON (3, true, ["a","b"],
    /// "quoted text"), else as a string (repeat for more; overrides --inputs-file)
    #[arg(long = "input", value_name = "KEY=VALUE", value_parser = parse_input)]
    pub inputs: Vec<(String, serde_json::Value)>,
    /// A JSON object of input values; `-` reads standard input
    #[arg(long, value_name = "FILE", value_parser = parse_path)]
    pub inputs_file: Option<PathBuf>,
}

impl InputArgs {
    /// True when no input was given.
    pub fn is_empty(&self) -> bool {
        self.inputs.is_empty() && self.inputs_file.is_none()
    }
}

/// `--watch` and its time limit.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Then follow the execution until it ends, like `moorctl exec watch` (exit code 7 when
    /// it does not succeed)
    #[arg(long)]
    pub watch: bool,
    /// With --watch: stop watching after this many seconds (the execution goes on)
    #[arg(
        long,
        requires = "watch",
        default_value_t = DEFAULT_WATCH_TIMEOUT_S,
        value_name = "S",
        value_parser = clap::value_parser!(u64).range(1..=MAX_WATCH_TIMEOUT_S)
    )]
    pub watch_timeout_s: u64,
}

/// Default of `--watch-timeout-s`: an hour.
pub const DEFAULT_WATCH_TIMEOUT_S: u64 = 3600;
/// Largest `--watch-timeout-s`: a week.
pub const MAX_WATCH_TIMEOUT_S: u64 = 7 * 24 * 3600;

/// Flags of the workflow reads.
#[derive(Debug, Args, Clone, Copy)]
pub struct ReadArgs {
    /// Answer from the member's local state, possibly behind the leader, instead of a
    /// linearizable read through the leader (works without a leader)
    #[arg(long)]
    pub stale: bool,
}
