//! [`RolloutBars`]: a rollout watch on a terminal — a header line, a bar per wave, the
//! failures by error — redrawn in place.

use std::time::Duration;

use anyhow::Result;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use moor_proto::names::{display, RolloutState};
use moor_proto::rollout::Rollout;
use tokio::time::Instant;

use super::{Rate, RolloutDisplay};
use crate::cli::OutputFormat;
use crate::views::cells::escape_controls;
use crate::views::rollout::{counts_line, what, FailureJson, RolloutJson, RolloutView};
use crate::views::show;

/// Kinds of failure the display lists; the rest are counted in one line.
const MAX_FAILURE_LINES: usize = 5;

/// The live display: a header line, a bar per wave, the failures by error.
pub struct RolloutBars {
    multi: MultiProgress,
    header: ProgressBar,
    waves: Vec<ProgressBar>,
    failures: ProgressBar,
    rate: Rate,
}

impl RolloutBars {
    pub fn new() -> RolloutBars {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stdout());
        let header = multi.add(ProgressBar::new(0));
        header.set_style(
            ProgressStyle::with_template("{spinner} {msg}  {elapsed}").expect("valid template"),
        );
        header.enable_steady_tick(Duration::from_millis(120));
        let failures = multi.add(ProgressBar::new(0));
        failures.set_style(ProgressStyle::with_template("{msg}").expect("valid template"));
        RolloutBars {
            multi,
            header,
            waves: Vec::new(),
            failures,
            rate: Rate::default(),
        }
    }

    /// One bar per wave, in wave order, added as waves appear.
    fn sync_waves(&mut self, r: &RolloutJson) {
        while self.waves.len() < r.waves.len() {
            let bar = ProgressBar::new(0).with_style(
                ProgressStyle::with_template(
                    "  wave {prefix:>2} [{bar:30}] {pos:>6}/{len:6} {msg}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            let bar = self.multi.insert_before(&self.failures, bar);
            bar.set_prefix((self.waves.len() + 1).to_string());
            self.waves.push(bar);
        }
        for (bar, w) in self.waves.iter().zip(&r.waves) {
            bar.set_length(w.size as u64);
            bar.set_position((w.succeeded + w.failed + w.skipped) as u64);
            bar.set_message(format!(
                "{} failed, {} running, {} queued",
                w.failed, w.running, w.queued
            ));
        }
    }
}

impl Default for RolloutBars {
    fn default() -> Self {
        RolloutBars::new()
    }
}

/// The most frequent failures, one line each.
fn failure_lines(failures: &[FailureJson]) -> String {
    if failures.is_empty() {
        return String::new();
    }
    let mut t = String::from("  failures:");
    for f in failures.iter().take(MAX_FAILURE_LINES) {
        t.push_str(&format!(
            "\n    {:>5}  {}",
            f.count,
            escape_controls(&f.error)
        ));
    }
    if failures.len() > MAX_FAILURE_LINES {
        t.push_str(&format!(
            "\n    … {} more kinds",
            failures.len() - MAX_FAILURE_LINES
        ));
    }
    t
}

impl RolloutDisplay for RolloutBars {
    fn update(&mut self, rollout: &Rollout) -> Result<()> {
        let r = RolloutJson::from(rollout);
        self.rate.add(Instant::now(), r.finished());
        self.header.set_message(format!(
            "rollout {} {} [{}]: {}  {}",
            r.id,
            what(&r),
            display::<RolloutState>(&r.state),
            counts_line(&r),
            self.rate.line(r.left())
        ));
        self.sync_waves(&r);
        self.failures.set_message(failure_lines(&r.failures));
        Ok(())
    }

    fn finish(&mut self, rollout: &Rollout) -> Result<()> {
        for b in &self.waves {
            b.finish();
        }
        self.header.finish_and_clear();
        self.failures.finish_and_clear();
        let _ = self.multi.clear();
        let view = RolloutView {
            rollout: RolloutJson::from(rollout),
        };
        show(&view, OutputFormat::Table)
    }
}
