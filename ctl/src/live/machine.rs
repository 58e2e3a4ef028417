//! [`Machine`]: the watch display of `-o json` / `-o yaml`, for executions and rollouts alike.

use anyhow::Result;
use moor_proto::rollout::Rollout;
use moor_proto::workflow::Execution;
use serde::Serialize;

use super::{ExecDisplay, RolloutDisplay};
use crate::cli::OutputFormat;
use crate::views::emit;
use crate::views::exec::ExecView;
use crate::views::rollout::RolloutJson;

/// The whole object at each change: one compact JSON object per line, or one YAML document.
pub struct Machine {
    yaml: bool,
    /// The JSON form of the last object printed, so an unchanged poll prints nothing.
    last: Option<String>,
}

impl Machine {
    /// The display for `format` (YAML for `-o yaml`, else JSON).
    pub fn new(format: OutputFormat) -> Machine {
        Machine {
            yaml: format == OutputFormat::Yaml,
            last: None,
        }
    }

    /// Prints `value` unless it equals the last one printed.
    fn print<T: Serialize>(&mut self, value: &T) -> Result<()> {
        let json = serde_json::to_string(value)?;
        if self.last.as_deref() == Some(json.as_str()) {
            return Ok(());
        }
        if self.yaml {
            emit(&format!("---\n{}", serde_yaml_ng::to_string(value)?))?;
        } else {
            emit(&format!("{json}\n"))?;
        }
        self.last = Some(json);
        Ok(())
    }
}

impl ExecDisplay for Machine {
    fn update(&mut self, exec: &Execution) -> Result<()> {
        self.print(&ExecView::from(exec))
    }

    fn note(&mut self, text: &str) {
        eprintln!("moorctl: {text}");
    }

    fn finish(&mut self, _: &Execution) -> Result<()> {
        Ok(())
    }
}

impl RolloutDisplay for Machine {
    fn update(&mut self, rollout: &Rollout) -> Result<()> {
        self.print(&RolloutJson::from(rollout))
    }

    fn finish(&mut self, _: &Rollout) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{exec, step};
    use super::*;

    #[test]
    fn json_is_one_object_per_line() {
        let e = exec("running", vec![step(0, "dispatched", 1)]);
        let line = serde_json::to_string(&ExecView::from(&e)).unwrap();
        assert!(!line.contains('\n'));
        let back: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(back["steps"][0]["state"], "dispatched");
    }

    #[test]
    fn an_unchanged_object_is_printed_once() {
        let mut m = Machine::new(OutputFormat::Json);
        let e = exec("running", vec![step(0, "dispatched", 1)]);
        ExecDisplay::update(&mut m, &e).unwrap();
        let first = m.last.clone();
        ExecDisplay::update(&mut m, &e).unwrap();
        assert_eq!(m.last, first);
        ExecDisplay::update(&mut m, &exec("succeeded", vec![step(0, "succeeded", 1)])).unwrap();
        assert_ne!(m.last, first);
    }
}
