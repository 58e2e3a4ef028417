//! [`RolloutLines`]: a rollout watch in a pipe or a log, one line each time the counts change.

use anyhow::Result;
use moor_proto::names::{display, RolloutState};
use moor_proto::rollout::Rollout;
use tokio::time::Instant;

use super::{Rate, RolloutDisplay};
use crate::cli::OutputFormat;
use crate::views::rollout::{counts_line, RolloutJson, RolloutView};
use crate::views::time::{now_ms, utc};
use crate::views::{emit, show};

/// `2024-05-01T10:00:00Z rollout r3 running: 12/300 succeeded, ... (8.0/s, ETA 36s)`, when
/// the state or the counts changed; the rollout's table at the end.
#[derive(Default)]
pub struct RolloutLines {
    rate: Rate,
    /// `state: counts` of the last line printed.
    last: String,
}

impl RolloutDisplay for RolloutLines {
    fn update(&mut self, rollout: &Rollout) -> Result<()> {
        let r = RolloutJson::from(rollout);
        self.rate.add(Instant::now(), r.finished());
        let line = format!("{}: {}", display::<RolloutState>(&r.state), counts_line(&r));
        if line != self.last {
            emit(&format!(
                "{} rollout {} {line} ({})\n",
                utc(now_ms()),
                r.id,
                self.rate.line(r.left())
            ))?;
            self.last = line;
        }
        Ok(())
    }

    fn finish(&mut self, rollout: &Rollout) -> Result<()> {
        let view = RolloutView {
            rollout: RolloutJson::from(rollout),
        };
        show(&view, OutputFormat::Table)
    }
}
