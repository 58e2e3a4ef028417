//! [`ExecLines`]: an execution watch in a pipe or a log — a line when the execution's state
//! or counts change and a line per step that changed, each with the time of day (UTC).

use anyhow::Result;
use moor_proto::names::{display, ExecKind, StepState, WireName};
use moor_proto::workflow as pb;

use super::ExecDisplay;
use crate::views::cells::escape_controls;
use crate::views::emit;
use crate::views::exec::{exec_line, step_line};
use crate::views::time::{now_ms, utc};

/// One line per change, with the time of day (UTC).
#[derive(Default)]
pub struct ExecLines {
    last: Option<pb::Execution>,
}

/// The time of day now, UTC, `HH:MM:SS`.
fn now() -> String {
    utc(now_ms())[11..19].to_string()
}

impl ExecLines {
    /// The lines `exec` adds to what `self.last` showed.
    pub fn lines(&self, exec: &pb::Execution) -> Vec<String> {
        let id = escape_controls(&exec.id);
        let mut out = Vec::new();
        match &self.last {
            None => out.push(format!(
                "{id}: {} of {}, {}",
                display::<ExecKind>(&exec.kind),
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
                None => {
                    StepState::parse(&step.state) != Some(StepState::Pending) || step.attempt > 0
                }
            };
            if changed {
                out.push(format!("{id}: {}", step_line(step)));
            }
        }
        out
    }
}

impl ExecDisplay for ExecLines {
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

#[cfg(test)]
mod tests {
    use super::super::fixtures::{exec, step};
    use super::*;

    #[test]
    fn lines_show_only_what_changed() {
        let mut d = ExecLines::default();
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
}
