//! Does an audited command's stamp describe the command it carries? Apply checks the
//! permission of the stamp's operation on the stamp's target, so both must be the command's
//! own: a `var.get` stamp on a variable put, or a rollout stamped with another group than
//! the one it runs on, would let a member's mistake widen what a role allows.
//!
//! The table below is the one mapping from commands to operations; the match is exhaustive,
//! so a new command does not compile until someone decides which operation carries it.
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

use super::apply::AuthCommand;
use super::operation::Operation as Op;
use super::permission::Target;
use crate::cluster::ClusterCommand;
use crate::command::Command;
use crate::execution::ExecKind;
use crate::hooks::HooksCommand;
use crate::kv::KvCommand;
use crate::rollout::{RolloutAction, RolloutOp};
use crate::workflow::{WorkflowCommand, WorkflowState};

/// Refuses `command` unless `op` is an operation that carries it out and `target` names
/// the objects the command acts on (a target field left unset is checked by the permission
/// itself, which refuses a scoped identity when it needs that field).
pub fn check(
    op: Op,
    target: &Target,
    command: &Command,
    workflow: &WorkflowState,
) -> Result<(), String> {
    if matches!(command, Command::Batch(_) | Command::Audited { .. }) {
        return Err("an audited command carries one command: the proposer never puts a batch or another audited command inside one".into());
    }
    let carriers = carriers(command);
    if !carriers.contains(&op) {
        let names: Vec<&str> = carriers.iter().map(|o| o.name()).collect();
        return Err(format!(
            "the request was stamped {:?}, but its command is carried out by [{}]: the receiving member mislabelled it",
            op.name(),
            names.join(", ")
        ));
    }
    agrees(target, command, workflow)
}

/// The operations that carry out `command` (none: no client may send it).
fn carriers(command: &Command) -> Vec<Op> {
    match command {
        Command::Kv(KvCommand::Put { .. }) => vec![Op::VarPut, Op::VarPutSecret],
        Command::Kv(KvCommand::Delete { .. }) => vec![Op::VarDelete],
        // `secrets reseal` moves sealed variables to the new key by compare-and-swap.
        Command::Kv(KvCommand::Cas { .. }) => vec![Op::VarCas, Op::SecretsReseal],
        Command::Workflow(c) => workflow_carriers(c),
        Command::Auth(c) => match c {
            AuthCommand::CreateToken { .. } => vec![Op::AuthTokenCreate],
            AuthCommand::RevokeToken { .. } => vec![Op::AuthTokenRevoke],
            AuthCommand::PutRole { .. } => vec![Op::AuthRolePut],
            AuthCommand::DeleteRole { .. } => vec![Op::AuthRoleDelete],
            AuthCommand::RecordDenied { .. } => vec![],
        },
        Command::Hooks(c) => match c {
            HooksCommand::PutReceiver { .. } => vec![Op::ReceiverPut],
            HooksCommand::DeleteReceiver { .. } => vec![Op::ReceiverDelete],
            HooksCommand::PutSource { .. } => vec![Op::SourcePut],
            HooksCommand::DeleteSource { .. } => vec![Op::SourceDelete],
            HooksCommand::SyncSource { .. } => vec![Op::SourceSync],
            HooksCommand::PutTrigger { .. } => vec![Op::TriggerPut],
            HooksCommand::DeleteTrigger { .. } => vec![Op::TriggerDelete],
            // Authenticated by the receiver's secret, or the leader's own: no client
            // request carries them.
            HooksCommand::RecordDelivery { .. }
            | HooksCommand::SourceFetched { .. }
            | HooksCommand::SourceFailed { .. }
            | HooksCommand::AdvanceTrigger { .. } => vec![],
        },
        Command::Cluster(ClusterCommand::SetFeatureLevel { .. }) => {
            vec![Op::ClusterUpgradeFinalize]
        }
        // Proposed by a leader that finds the state without an identity.
        Command::Cluster(_) => vec![],
        Command::Batch(_) | Command::Audited { .. } => vec![],
    }
}

fn workflow_carriers(command: &WorkflowCommand) -> Vec<Op> {
    match command {
        WorkflowCommand::PutBlueprint { .. } => vec![Op::BlueprintApply],
        WorkflowCommand::PutSite { .. } => vec![Op::SitePut],
        WorkflowCommand::CreateEnvironment { .. } => vec![Op::EnvironmentCreate],
        WorkflowCommand::SetDriftPolicy { .. } => vec![Op::EnvironmentSetDrift],
        WorkflowCommand::StartExecution { kind, .. } => match kind {
            ExecKind::Rollback => vec![Op::ExecutionStart, Op::ExecutionRollback],
            _ => vec![Op::ExecutionStart],
        },
        WorkflowCommand::Resume { .. } => vec![Op::ExecutionResume],
        WorkflowCommand::Cancel { .. } => vec![Op::ExecutionCancel],
        // The executor's own commands: no client request carries them.
        WorkflowCommand::Checkpoints { .. }
        | WorkflowCommand::Observed { .. }
        | WorkflowCommand::SiteReachability { .. } => vec![],
        WorkflowCommand::PutGroup { .. } => vec![Op::GroupPut],
        WorkflowCommand::DeleteGroup { .. } => vec![Op::GroupDelete],
        WorkflowCommand::StartRollout { .. } => vec![Op::RolloutStart],
        WorkflowCommand::ControlRollout { op, .. } => vec![match op {
            RolloutOp::Pause => Op::RolloutPause,
            RolloutOp::Resume => Op::RolloutResume,
            RolloutOp::Cancel => Op::RolloutCancel,
            RolloutOp::Approve => Op::RolloutApprove,
            RolloutOp::SetMaxParallel(_) => Op::RolloutSetParallel,
            RolloutOp::Rollback => Op::RolloutRollback,
        }],
        WorkflowCommand::SetRolloutLimits { .. } => vec![Op::RolloutSetLimits],
        WorkflowCommand::ResealInputs { .. } => vec![Op::SecretsReseal],
    }
}

/// What the command itself says of its object: (name, group, blueprint), each `None` when
/// the command does not determine it. A rollout must name its group in the target: the
/// deployer rule skips the group check when the target has none.
fn agrees(target: &Target, command: &Command, workflow: &WorkflowState) -> Result<(), String> {
    let (name, group, blueprint): (Option<&str>, Option<&str>, Option<&str>) = match command {
        Command::Kv(KvCommand::Put { key, .. })
        | Command::Kv(KvCommand::Delete { key })
        | Command::Kv(KvCommand::Cas { key, .. }) => (Some(key), None, None),
        Command::Workflow(c) => match c {
            WorkflowCommand::PutBlueprint { spec, .. } => {
                (Some(&spec.name), None, Some(&spec.name))
            }
            WorkflowCommand::PutSite { site, .. } => (Some(&site.name), None, None),
            WorkflowCommand::CreateEnvironment {
                name, blueprint, ..
            } => (Some(name), None, Some(blueprint)),
            WorkflowCommand::StartExecution { environment, .. }
            | WorkflowCommand::SetDriftPolicy { environment, .. } => {
                let blueprint = workflow
                    .environments
                    .get(environment)
                    .map(|e| e.blueprint.as_str());
                (Some(environment), None, blueprint)
            }
            WorkflowCommand::Resume { execution, .. }
            | WorkflowCommand::Cancel { execution, .. } => (Some(execution), None, None),
            WorkflowCommand::PutGroup { group, .. } => (Some(&group.name), Some(&group.name), None),
            WorkflowCommand::DeleteGroup { name } => (Some(name), Some(name), None),
            WorkflowCommand::StartRollout { spec, .. } => {
                if target.group.as_deref() != Some(spec.group.as_str()) {
                    return Err(format!(
                        "a rollout stamp must name the rollout's group {:?} as its target group: the receiving member mislabelled it",
                        spec.group
                    ));
                }
                let blueprint = match &spec.action {
                    RolloutAction::Install { blueprint, .. } => Some(blueprint.as_str()),
                    _ => None,
                };
                (None, Some(&spec.group), blueprint)
            }
            WorkflowCommand::ControlRollout { id, .. } => (Some(id), None, None),
            _ => (None, None, None),
        },
        Command::Auth(AuthCommand::RevokeToken { id, .. }) => (Some(id), None, None),
        Command::Auth(AuthCommand::PutRole { role }) => (Some(&role.name), None, None),
        Command::Auth(AuthCommand::DeleteRole { name }) => (Some(name), None, None),
        Command::Hooks(c) => match c {
            HooksCommand::PutReceiver { spec, .. } => (Some(&spec.name), None, None),
            HooksCommand::PutSource { spec, .. } => (Some(&spec.name), None, None),
            HooksCommand::PutTrigger { spec, .. } => (
                Some(&spec.name),
                Some(&spec.rollout.group),
                Some(&spec.blueprint),
            ),
            HooksCommand::DeleteReceiver { name }
            | HooksCommand::DeleteSource { name }
            | HooksCommand::SyncSource { name, .. }
            | HooksCommand::DeleteTrigger { name } => (Some(name), None, None),
            _ => (None, None, None),
        },
        _ => (None, None, None),
    };
    for (field, stamped, actual) in [
        ("name", &target.name, name),
        ("group", &target.group, group),
        ("blueprint", &target.blueprint, blueprint),
    ] {
        if let (Some(stamped), Some(actual)) = (stamped, actual) {
            if stamped != actual {
                return Err(format!(
                    "the request's target {field} {stamped:?} is not its command's {actual:?}: the receiving member mislabelled it"
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "tests/fit_unit.rs"]
mod tests;
