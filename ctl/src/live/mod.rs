//! The watch displays: how `exec watch` and `rollout watch` (and `--watch`) show what they
//! follow, in each output form.
//!
//! - On a terminal (`-o table`): bars redrawn in place (indicatif) — [`ExecBars`],
//!   [`RolloutBars`] — replaced at the end by the final table, as `show` prints it.
//! - Elsewhere (a pipe, a CI log): one line per change, with the time, so a log reads as a
//!   history — [`ExecLines`], [`RolloutLines`].
//! - `-o json` / `-o yaml`: the whole object at each change, one compact JSON object per
//!   line or one YAML document each — [`Machine`].
//!
//! Notes (a reconnect to another member) go to standard error in every form.
//!
//! Why a folder: a display only shows what it is given. Following an execution across
//! member failures, polling a rollout, and deciding the exit code are the commands' job
//! (`commands/exec_watch.rs`, `commands/rollout_watch.rs`); the displays are kept apart so
//! that logic is tested without a terminal and every display shares the views' formats.

mod exec_bars;
mod exec_lines;
mod machine;
mod rate;
mod rollout_bars;
mod rollout_lines;

use std::io::IsTerminal;

use anyhow::Result;
use moor_proto::rollout::Rollout;
use moor_proto::workflow::Execution;

use crate::cli::OutputFormat;

pub use exec_bars::{ExecBars, MAX_STEP_LINES};
pub use exec_lines::ExecLines;
pub use machine::Machine;
pub use rate::Rate;
pub use rollout_bars::RolloutBars;
pub use rollout_lines::RolloutLines;

/// Where the updates of an execution watch go.
pub trait ExecDisplay {
    /// The execution changed (the first call shows it as it is when the watch starts).
    fn update(&mut self, exec: &Execution) -> Result<()>;
    /// Something people should know that is not an update, e.g. a reconnect.
    fn note(&mut self, text: &str);
    /// The execution reached an end: a terminal state, or `interrupted` (after its last
    /// `update`).
    fn finish(&mut self, exec: &Execution) -> Result<()>;
}

/// Where the polls of a rollout watch go.
pub trait RolloutDisplay {
    /// The rollout as one poll found it (changed or not: the rate counts every poll).
    fn update(&mut self, rollout: &Rollout) -> Result<()>;
    /// The rollout settled (after its last `update`).
    fn finish(&mut self, rollout: &Rollout) -> Result<()>;
}

/// The execution display for `format`, live when standard output is a terminal.
pub fn exec_display(format: OutputFormat) -> Box<dyn ExecDisplay> {
    match format {
        OutputFormat::Json | OutputFormat::Yaml => Box::new(Machine::new(format)),
        OutputFormat::Table if std::io::stdout().is_terminal() => Box::new(ExecBars::new()),
        OutputFormat::Table => Box::new(ExecLines::default()),
    }
}

/// The rollout display for `format`, live when standard output is a terminal.
pub fn rollout_display(format: OutputFormat) -> Box<dyn RolloutDisplay> {
    match format {
        OutputFormat::Json | OutputFormat::Yaml => Box::new(Machine::new(format)),
        OutputFormat::Table if std::io::stdout().is_terminal() => Box::new(RolloutBars::new()),
        OutputFormat::Table => Box::new(RolloutLines::default()),
    }
}

#[cfg(test)]
mod fixtures;
