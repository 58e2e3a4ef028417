//! How a watched execution is shown: a live display on a terminal, plain lines in a pipe or a
//! log, one JSON object (or YAML document) per update for programs.
//!
//! - [`LiveDisplay`] (table output on a terminal): one progress bar of the steps succeeded
//!   out of all, and below it one line per step that is running, waiting to be retried or
//!   failed, updated in place; at the end it is replaced by the execution's table, as
//!   `moorctl exec show` prints it.
//! - [`LineDisplay`] (table output elsewhere): a line when the execution's state or counts
//!   change and a line per step that changed, each with the time, so a CI log reads as a
//!   history.
//! - [`JsonDisplay`] / [`YamlDisplay`] (`-o json` / `-o yaml`): the whole execution at each
//!   update, as in `moorctl exec show -o json`, one compact JSON object per line (or one YAML
//!   document each).
//!
//! Notes (a reconnect to another member) go to standard error in every form.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::Duration;

use anyhow::Result;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use moor_proto::workflow as pb;

use crate::cli::OutputFormat;
use crate::views::cells::escape_controls;
use crate::views::exec::{exec_line, step_line, ExecView};
use crate::views::time::{now_ms, utc};
use crate::views::{emit, View};
use crate::watch::Display;

/// Most step lines a live display shows; the rest are counted in one line.
pub const MAX_STEP_LINES: usize = 20;

/// How often the live display redraws (spinner, elapsed time).
const TICK_MS: u64 = 120;

/// The display for `format`, live when standard output is a terminal.
pub fn display_for(format: OutputFormat) -> Box<dyn Display> {
    match format {
        OutputFormat::Json => Box::new(JsonDisplay),
        OutputFormat::Yaml => Box::new(YamlDisplay),
        OutputFormat::Table if std::io::stdout().is_terminal() => Box::new(LiveDisplay::new()),
        OutputFormat::Table => Box::new(LineDisplay::default()),
    }
}

/// Whether a step gets its own line: it is under way, waiting to be retried, or failed.
fn noteworthy(step: &pb::Step) -> bool {
    match step.state.as_str() {
        "dispatched" | "failed" => true,
        "pending" => step.attempt > 0,
        _ => false,
    }
}

// ---- live ----

/// Progress bar and step lines, redrawn in place on standard output.
pub struct LiveDisplay {
    multi: MultiProgress,
    main: ProgressBar,
    /// Lines of noteworthy steps, by step index.
    steps: BTreeMap<u32, ProgressBar>,
    /// The line counting the noteworthy steps beyond [`MAX_STEP_LINES`].
    more: Option<ProgressBar>,
}

impl LiveDisplay {
    pub fn new() -> LiveDisplay {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stdout());
        let main = multi.add(ProgressBar::new(0));
        main.set_style(
            ProgressStyle::with_template(
                "{spinner} {prefix} [{bar:30}] {pos}/{len} steps  {msg}  {elapsed}",
            )
            .expect("the template is valid")
            .progress_chars("=> "),
        );
        LiveDisplay {
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
}

impl Default for LiveDisplay {
    fn default() -> Self {
        LiveDisplay::new()
    }
}

impl Display for LiveDisplay {
    fn update(&mut self, exec: &pb::Execution) -> Result<()> {
        // Ticking starts with the first update, so no empty bar is drawn before it.
        self.main.enable_steady_tick(Duration::from_millis(TICK_MS));
        self.main.set_prefix(format!(
            "{} {} of {}",
            escape_controls(&exec.id),
            exec.kind,
            escape_controls(&exec.environment)
        ));
        self.main.set_length(u64::from(exec.steps_total));
        self.main.set_position(u64::from(exec.steps_succeeded));
        let mut msg = exec.state.clone();
        if exec.steps_failed > 0 {
            msg.push_str(&format!(", {} failed", exec.steps_failed));
        }
        self.main.set_message(msg);
        // Ticking starts once the bar has its length, so no empty bar is drawn first.
        self.main.enable_steady_tick(Duration::from_millis(TICK_MS));

        let wanted: Vec<&pb::Step> = exec.steps.iter().filter(|s| noteworthy(s)).collect();
        let (shown, hidden) = wanted.split_at(wanted.len().min(MAX_STEP_LINES));
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
        match (hidden.len(), &self.more) {
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

impl Drop for LiveDisplay {
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

// ---- lines ----

/// One line per change, with the time of day (UTC).
#[derive(Default)]
pub struct LineDisplay {
    last: Option<pb::Execution>,
}

/// The time of day now, UTC, `HH:MM:SS`.
fn now() -> String {
    utc(now_ms())[11..19].to_string()
}

impl LineDisplay {
    /// The lines `exec` adds to what `self.last` showed.
    pub fn lines(&self, exec: &pb::Execution) -> Vec<String> {
        let id = escape_controls(&exec.id);
        let mut out = Vec::new();
        match &self.last {
            None => out.push(format!(
                "{id}: {} of {}, {}",
                exec.kind,
                escape_controls(&exec.environment),
                exec_line(exec)
            )),
            Some(prev) => {
                if exec_line(prev) != exec_line(exec) {
                    out.push(format!("{id}: {}", exec_line(exec)));
                }
            }
        }
        for step in &exec.steps {
            let before = self
                .last
                .as_ref()
                .and_then(|p| p.steps.iter().find(|s| s.index == step.index));
            let changed = match before {
                Some(b) => step_line(b) != step_line(step),
                // A step that has not started yet is not news.
                None => step.state != "pending" || step.attempt > 0,
            };
            if changed {
                out.push(format!("{id}: {}", step_line(step)));
            }
        }
        out
    }
}

impl Display for LineDisplay {
    fn update(&mut self, exec: &pb::Execution) -> Result<()> {
        let time = now();
        let mut text = String::new();
        for line in self.lines(exec) {
            text.push_str(&format!("{time} {line}\n"));
        }
        self.last = Some(exec.clone());
        emit(&text)
    }

    fn note(&mut self, text: &str) {
        eprintln!("moorctl: {text}");
    }

    fn finish(&mut self, _: &pb::Execution) -> Result<()> {
        Ok(())
    }
}

// ---- machine formats ----

/// One compact JSON object per update.
pub struct JsonDisplay;

impl Display for JsonDisplay {
    fn update(&mut self, exec: &pb::Execution) -> Result<()> {
        let mut line = serde_json::to_string(&ExecView::from(exec))?;
        line.push('\n');
        emit(&line)
    }

    fn note(&mut self, text: &str) {
        eprintln!("moorctl: {text}");
    }

    fn finish(&mut self, _: &pb::Execution) -> Result<()> {
        Ok(())
    }
}

/// One YAML document per update.
pub struct YamlDisplay;

impl Display for YamlDisplay {
    fn update(&mut self, exec: &pb::Execution) -> Result<()> {
        let doc = serde_yaml_ng::to_string(&ExecView::from(exec))?;
        emit(&format!("---\n{doc}"))
    }

    fn note(&mut self, text: &str) {
        eprintln!("moorctl: {text}");
    }

    fn finish(&mut self, _: &pb::Execution) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(index: u32, state: &str, attempt: u32) -> pb::Step {
        pb::Step {
            index,
            resource: format!("r{index}"),
            resource_type: "sim.resource".into(),
            action: "create".into(),
            state: state.into(),
            attempt,
            fence_token: if attempt > 0 { 3 } else { 0 },
            ..Default::default()
        }
    }

    fn exec(state: &str, steps: Vec<pb::Step>) -> pb::Execution {
        let count = |s: &str| steps.iter().filter(|x| x.state == s).count() as u32;
        pb::Execution {
            id: "x4".into(),
            environment: "web-1".into(),
            kind: "update".into(),
            state: state.into(),
            steps_total: steps.len() as u32,
            steps_succeeded: count("succeeded"),
            steps_failed: count("failed"),
            steps_running: count("dispatched"),
            steps,
            ..Default::default()
        }
    }

    #[test]
    fn lines_show_only_what_changed() {
        let mut d = LineDisplay::default();
        let first = exec(
            "running",
            vec![step(0, "dispatched", 1), step(1, "pending", 0)],
        );
        assert_eq!(
            d.lines(&first),
            vec![
                "x4: update of web-1, running, 0/2 succeeded, 0 failed, 1 running",
                "x4: step 0 r0 (create): dispatched, attempt 1, token 3",
            ]
        );
        d.last = Some(first);
        let mut failed = step(1, "failed", 2);
        failed.last_error = "disk full".into();
        let second = exec("failed", vec![step(0, "succeeded", 1), failed]);
        assert_eq!(
            d.lines(&second),
            vec![
                "x4: failed, 1/2 succeeded, 1 failed, 0 running",
                "x4: step 0 r0 (create): succeeded, attempt 1, token 3",
                "x4: step 1 r1 (create): failed, attempt 2, token 3: disk full",
            ]
        );
        d.last = Some(second.clone());
        assert!(d.lines(&second).is_empty());
    }

    #[test]
    fn noteworthy_steps() {
        assert!(noteworthy(&step(0, "dispatched", 1)));
        assert!(noteworthy(&step(0, "failed", 3)));
        assert!(noteworthy(&step(0, "pending", 1)));
        assert!(!noteworthy(&step(0, "pending", 0)));
        assert!(!noteworthy(&step(0, "succeeded", 1)));
        assert!(!noteworthy(&step(0, "skipped", 0)));
        assert_eq!(
            step_line(&step(2, "pending", 1)),
            "step 2 r2 (create): pending, waiting to retry, attempt 1, token 3"
        );
    }

    #[test]
    fn json_is_one_object_per_line() {
        let e = exec("running", vec![step(0, "dispatched", 1)]);
        let line = serde_json::to_string(&ExecView::from(&e)).unwrap();
        assert!(!line.contains('\n'));
        let back: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(back["steps"][0]["state"], "dispatched");
    }

    #[test]
    fn live_display_draws_hidden() {
        // Drawn to nowhere: checks the bookkeeping of step lines, not the terminal.
        let mut d = LiveDisplay::new();
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
