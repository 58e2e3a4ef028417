//! Moving an environment's sealed input values to another key (`ResealInputs`): the only
//! change apply makes to a sealed value, and one that cannot change what it holds (the
//! fingerprint must stay), so no digest, plan or resource changes with it.
// Runs inside replicated apply: a panic here would fire on every member at the same index.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::unreachable
    )
)]

use std::collections::BTreeMap;

use serde_json::Value;

use crate::environment::Inputs;
use crate::sealed;
use crate::workflow::types::{Res, WorkflowError, WorkflowResult, WorkflowState};

/// Most replacements one command may carry.
pub const MAX_RESEAL: usize = 1_000;

impl WorkflowState {
    pub(crate) fn reseal_inputs(
        &mut self,
        environment: &str,
        replace: &BTreeMap<String, String>,
        now_ms: u64,
    ) -> Res<WorkflowResult> {
        if replace.is_empty() || replace.len() > MAX_RESEAL {
            return Err(WorkflowError::Invalid(format!(
                "a reseal carries 1 to {MAX_RESEAL} replacements, not {}",
                replace.len()
            )));
        }
        for (old, new) in replace {
            let (Some(o), Some(n)) = (sealed::whole(old), sealed::whole(new)) else {
                return Err(WorkflowError::Invalid(
                    "a reseal replaces whole sealed values only".into(),
                ));
            };
            if o.fingerprint != n.fingerprint {
                return Err(WorkflowError::Invalid(format!(
                    "a reseal must keep the fingerprint (a sealed value under key {} would \
                     change): it moves a secret to another key, it never changes it",
                    o.key_id
                )));
            }
        }
        let env = self
            .environments
            .get_mut(environment)
            .ok_or_else(|| WorkflowError::NotFound(format!("environment {environment}")))?;
        let mut replaced = replace_in(&mut env.inputs, replace);
        for record in &mut env.history {
            replaced += replace_in(&mut record.inputs, replace);
        }
        if replaced > 0 {
            env.updated_ms = now_ms;
        }
        Ok(WorkflowResult::Done)
    }
}

/// Replaces whole-string input values found in `replace`; how many.
fn replace_in(inputs: &mut Inputs, replace: &BTreeMap<String, String>) -> usize {
    let mut n = 0;
    for value in inputs.values_mut() {
        if let Some(new) = value.as_str().and_then(|s| replace.get(s)) {
            *value = Value::String(new.clone());
            n += 1;
        }
    }
    n
}
