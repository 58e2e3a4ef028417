//! [`ExecBars`]: an execution watch on a terminal — one progress bar of the steps succeeded
//! out of all, and below it one line per step that is running, waiting to be retried or
//! failed, updated in place; at the end it is replaced by the execution's table, as
//! `moorctl exec show` prints it.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use moor_proto::names::{display, ExecKind, ExecState, StepState, WireName};
use moor_proto::workflow as pb;

use super::ExecDisplay;
use crate::views::cells::escape_controls;
use crate::views::exec::{step_line, ExecView};
use crate::views::{emit, View};

/// Most step lines a live display shows; the rest are counted in one line.
pub const MAX_STEP_LINES: usize = 20;

/// How often the live display redraws (spinner, elapsed time).
const TICK_MS: u64 = 120;

/// Whether a step gets its own line: it is under way, waiting to be retried, or failed.
/// A step in a state this build does not know is shown too: it is news, and its line says
/// `unknown(...)` rather than passing for a state it is not.
fn noteworthy(step: &pb::Step) -> bool {
    match StepState::parse(&step.state) {
        Some(StepState::Dispatched | StepState::Failed) | None => true,
        Some(StepState::Pending) => step.attempt > 0,
        Some(StepState::Succeeded | StepState::Skipped) => false,
    }
}

/// Progress bar and step lines, redrawn in place on standard output.
pub struct ExecBars {
    multi: MultiProgress,
    main: ProgressBar,
    /// Lines of noteworthy steps, by step index.
    steps: BTreeMap<u32, ProgressBar>,
    /// The line counting the noteworthy steps beyond [`MAX_STEP_LINES`].
    more: Option<ProgressBar>,
}

impl ExecBars {
    pub fn new() -> ExecBars {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stdout());
        let main = multi.add(ProgressBar::new(0));
        main.set_style(
            ProgressStyle::with_template(
                "{spinner} {prefix} [{bar:30}] {pos}/{len} steps  {msg}  {elapsed}",
            )
            .expect("the template is valid")
            .progress_chars("=> "),
        );
        ExecBars {
            multi,
            main,
            steps: BTreeMap::new(),
            more: None,
        }
    }

    fn line_style() -> ProgressStyle {
        ProgressStyle::with_template("    {msg}").expect("the template is valid")
    }

    /// Adds a line right after `after` (the main bar when `None`).
    fn add_line(&self, after: Option<&ProgressBar>, text: String) -> ProgressBar {
        let bar = ProgressBar::new(0).with_style(Self::line_style());
        let bar = self.multi.insert_after(after.unwrap_or(&self.main), bar);
        bar.set_message(text);
        bar
    }

    fn remove(&self, bar: &ProgressBar) {
        bar.finish_and_clear();
        self.multi.remove(bar);
    }

    /// The main bar: which execution, how many steps succeeded, its state.
    fn set_main(&self, exec: &pb::Execution) {
        self.main.set_prefix(format!(
            "{} {} of {}",
            escape_controls(&exec.id),
            display::<ExecKind>(&exec.kind),
            escape_controls(&exec.environment)
        ));
        self.main.set_length(u64::from(exec.steps_total));
        self.main.set_position(u64::from(exec.steps_succeeded));
        let mut msg = display::<ExecState>(&exec.state);
        if exec.steps_failed > 0 {
            msg.push_str(&format!(", {} failed", exec.steps_failed));
        }
        self.main.set_message(msg);
        // Ticking starts once the bar has its length, so no empty bar is drawn first.
        self.main.enable_steady_tick(Duration::from_millis(TICK_MS));
    }

    /// One line per shown step, in step order: kept, changed, added or removed.
    fn set_step_lines(&mut self, shown: &[&pb::Step]) {
        let keep: BTreeMap<u32, String> = shown.iter().map(|s| (s.index, step_line(s))).collect();
        for (index, bar) in std::mem::take(&mut self.steps) {
            if keep.contains_key(&index) {
                self.steps.insert(index, bar);
            } else {
                self.remove(&bar);
            }
        }
        for (index, text) in keep {
            if let Some(bar) = self.steps.get(&index) {
                bar.set_message(text);
                continue;
            }
            let before = self
                .steps
                .range(..index)
                .next_back()
                .map(|(_, b)| b.clone());
            let bar = self.add_line(before.as_ref(), text);
            self.steps.insert(index, bar);
        }
    }

    /// The line counting the `hidden` noteworthy steps, when there are any.
    fn set_more(&mut self, hidden: usize) {
        match (hidden, &self.more) {
            (0, Some(bar)) => {
                self.remove(bar);
                self.more = None;
            }
            (0, None) => {}
            (n, Some(bar)) => bar.set_message(format!("... and {n} more")),
            (n, None) => {
                let bar = ProgressBar::new(0).with_style(Self::line_style());
                let bar = self.multi.add(bar);
                bar.set_message(format!("... and {n} more"));
                self.more = Some(bar);
            }
        }
    }
}

impl Default for ExecBars {
    fn default() -> Self {
        ExecBars::new()
    }
}

impl ExecDisplay for ExecBars {
    fn update(&mut self, exec: &pb::Execution) -> Result<()> {
        self.set_main(exec);
        let wanted: Vec<&pb::Step> = exec.steps.iter().filter(|s| noteworthy(s)).collect();
        let (shown, hidden) = wanted.split_at(wanted.len().min(MAX_STEP_LINES));
        self.set_step_lines(shown);
        self.set_more(hidden.len());
        Ok(())
    }

    fn note(&mut self, text: &str) {
        self.multi.suspend(|| eprintln!("moorctl: {text}"));
    }

    fn finish(&mut self, exec: &pb::Execution) -> Result<()> {
        for bar in std::mem::take(&mut self.steps).into_values() {
            self.remove(&bar);
        }
        if let Some(bar) = self.more.take() {
            self.remove(&bar);
        }
        self.main.finish_and_clear();
        self.multi.clear()?;
        emit(&format!("{}\n", ExecView::from(exec).table()))
    }
}

impl Drop for ExecBars {
    /// A watch that ends without `finish` (an error, the time limit) leaves the last state
    /// on screen instead of wiping it.
    fn drop(&mut self) {
        if !self.main.is_finished() {
            self.main.abandon();
            for bar in self.steps.values() {
                bar.abandon();
            }
            if let Some(bar) = &self.more {
                bar.abandon();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{exec, step};
    use super::*;

    #[test]
    fn noteworthy_steps() {
        assert!(noteworthy(&step(0, "dispatched", 1)));
        assert!(noteworthy(&step(0, "failed", 3)));
        assert!(noteworthy(&step(0, "pending", 1)));
        assert!(!noteworthy(&step(0, "pending", 0)));
        assert!(!noteworthy(&step(0, "succeeded", 1)));
        assert!(!noteworthy(&step(0, "skipped", 0)));
        // A state this build does not know is shown, as unknown, and counted as nothing.
        assert!(noteworthy(&step(0, "quarantined", 0)));
        assert_eq!(
            step_line(&step(3, "quarantined", 0)),
            "step 3 r3 (create): unknown(quarantined)"
        );
        assert_eq!(
            step_line(&step(2, "pending", 1)),
            "step 2 r2 (create): pending, waiting to retry, attempt 1, token 3"
        );
    }

    #[test]
    fn live_display_draws_hidden() {
        // Drawn to nowhere: checks the bookkeeping of step lines, not the terminal.
        let mut d = ExecBars::new();
        d.multi.set_draw_target(ProgressDrawTarget::hidden());
        let many: Vec<pb::Step> = (0..25).map(|i| step(i, "dispatched", 1)).collect();
        d.update(&exec("running", many)).unwrap();
        assert_eq!(d.steps.len(), MAX_STEP_LINES);
        assert!(d.more.is_some());
        d.update(&exec(
            "running",
            vec![step(0, "succeeded", 1), step(1, "failed", 1)],
        ))
        .unwrap();
        assert_eq!(d.steps.keys().copied().collect::<Vec<_>>(), vec![1]);
        assert!(d.more.is_none());
        assert_eq!(d.main.position(), 1);
        assert_eq!(d.main.length(), Some(2));
    }
}
