//! What an audited command came to, as its audit record says it: `ok`, or `refused: …`.
//! Its own file: it reads every kind of result (auth's among them), which the audit trail
//! itself need not know.
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

use super::apply::AuthResult;
use super::audit::bounded;
use crate::command::CommandResult;
use crate::kv::KvResult;
use crate::workflow::WorkflowResult;

/// The audit outcome of an applied command: `ok`, or `refused: <reason>` when apply
/// refused or rejected it (bounded to [`MAX_AUDIT_TEXT`] characters).
pub fn outcome_of(result: &CommandResult) -> String {
    match refusal_of(result) {
        Some(reason) => bounded(&format!("refused: {reason}")),
        None => "ok".to_string(),
    }
}

/// Why `result` is a refusal, if it is one (the first refusal, for a batch).
fn refusal_of(result: &CommandResult) -> Option<String> {
    match result {
        CommandResult::Refused(reason) => Some(reason.clone()),
        CommandResult::Workflow(WorkflowResult::Rejected(e)) => Some(e.to_string()),
        CommandResult::Kv(KvResult {
            succeeded: false, ..
        }) => Some("compare-and-swap: the value is not the expected one".into()),
        CommandResult::Auth(AuthResult::Refused(reason)) => Some(reason.clone()),
        CommandResult::Batch(results) => results.iter().find_map(refusal_of),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::audit::MAX_AUDIT_TEXT;
    use crate::workflow::WorkflowError;

    #[test]
    fn outcomes_are_ok_or_the_refusal_bounded() {
        assert_eq!(outcome_of(&CommandResult::Empty), "ok");
        let rejected = CommandResult::Workflow(WorkflowResult::Rejected(WorkflowError::NotFound(
            "group edge".into(),
        )));
        assert_eq!(outcome_of(&rejected), "refused: group edge not found");
        let cas = CommandResult::Kv(KvResult {
            succeeded: false,
            prev: None,
        });
        assert!(outcome_of(&cas).starts_with("refused: compare-and-swap"));
        let long = CommandResult::Refused("é".repeat(500));
        assert_eq!(outcome_of(&long).chars().count(), MAX_AUDIT_TEXT + 1);
        let batch = CommandResult::Batch(vec![CommandResult::Empty, long]);
        assert!(outcome_of(&batch).starts_with("refused: éé"));
    }
}
