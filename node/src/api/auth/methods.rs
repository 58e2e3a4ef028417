//! The permission table's first column: each client RPC's gRPC path and the operation it
//! is. A path missing here is refused by the gate, so a new RPC is unusable until someone
//! decides which operation it is (the test below fails first).

use moor_domain::auth::operation::Operation as Op;

/// (gRPC path, operation) for every client RPC.
pub const METHODS: &[(&str, Op)] = &[
    ("/moor.api.v1.MoorApi/ClusterStatus", Op::ClusterStatus),
    ("/moor.api.v1.MoorApi/ClusterInit", Op::ClusterInit),
    ("/moor.api.v1.MoorApi/AddMember", Op::ClusterMemberAdd),
    (
        "/moor.api.v1.MoorApi/PromoteMember",
        Op::ClusterMemberPromote,
    ),
    ("/moor.api.v1.MoorApi/RemoveMember", Op::ClusterMemberRemove),
    ("/moor.api.v1.MoorApi/SaveSnapshot", Op::ClusterSnapshotSave),
    (
        "/moor.api.v1.MoorApi/UpgradeFinalize",
        Op::ClusterUpgradeFinalize,
    ),
    ("/moor.api.v1.MoorApi/Put", Op::VarPut),
    ("/moor.api.v1.MoorApi/PutSecret", Op::VarPutSecret),
    ("/moor.api.v1.MoorApi/SecretsStatus", Op::SecretsStatus),
    ("/moor.api.v1.MoorApi/ResealSecrets", Op::SecretsReseal),
    ("/moor.api.v1.MoorApi/Get", Op::VarGet),
    ("/moor.api.v1.MoorApi/Delete", Op::VarDelete),
    ("/moor.api.v1.MoorApi/CompareAndSwap", Op::VarCas),
    ("/moor.api.v1.MoorApi/List", Op::VarList),
    (
        "/moor.workflow.v1.WorkflowApi/ApplyBlueprint",
        Op::BlueprintApply,
    ),
    (
        "/moor.workflow.v1.WorkflowApi/ListBlueprints",
        Op::BlueprintList,
    ),
    (
        "/moor.workflow.v1.WorkflowApi/GetBlueprint",
        Op::BlueprintGet,
    ),
    ("/moor.workflow.v1.WorkflowApi/PutSite", Op::SitePut),
    ("/moor.workflow.v1.WorkflowApi/ListSites", Op::SiteList),
    ("/moor.workflow.v1.WorkflowApi/GetSite", Op::SiteGet),
    (
        "/moor.workflow.v1.WorkflowApi/CreateEnvironment",
        Op::EnvironmentCreate,
    ),
    (
        "/moor.workflow.v1.WorkflowApi/ListEnvironments",
        Op::EnvironmentList,
    ),
    (
        "/moor.workflow.v1.WorkflowApi/GetEnvironment",
        Op::EnvironmentGet,
    ),
    (
        "/moor.workflow.v1.WorkflowApi/SetEnvironmentDrift",
        Op::EnvironmentSetDrift,
    ),
    (
        "/moor.workflow.v1.WorkflowApi/DiffEnvironment",
        Op::EnvironmentDiff,
    ),
    (
        "/moor.workflow.v1.WorkflowApi/StartExecution",
        Op::ExecutionStart,
    ),
    (
        "/moor.workflow.v1.WorkflowApi/ListExecutions",
        Op::ExecutionList,
    ),
    (
        "/moor.workflow.v1.WorkflowApi/GetExecution",
        Op::ExecutionGet,
    ),
    (
        "/moor.workflow.v1.WorkflowApi/ResumeExecution",
        Op::ExecutionResume,
    ),
    (
        "/moor.workflow.v1.WorkflowApi/CancelExecution",
        Op::ExecutionCancel,
    ),
    (
        "/moor.workflow.v1.WorkflowApi/Rollback",
        Op::ExecutionRollback,
    ),
    (
        "/moor.workflow.v1.WorkflowApi/WatchExecution",
        Op::ExecutionWatch,
    ),
    ("/moor.rollout.v1.RolloutApi/PutGroup", Op::GroupPut),
    ("/moor.rollout.v1.RolloutApi/GetGroup", Op::GroupGet),
    ("/moor.rollout.v1.RolloutApi/ListGroups", Op::GroupList),
    ("/moor.rollout.v1.RolloutApi/DeleteGroup", Op::GroupDelete),
    ("/moor.rollout.v1.RolloutApi/StartRollout", Op::RolloutStart),
    ("/moor.rollout.v1.RolloutApi/GetRollout", Op::RolloutGet),
    ("/moor.rollout.v1.RolloutApi/ListRollouts", Op::RolloutList),
    ("/moor.rollout.v1.RolloutApi/PauseRollout", Op::RolloutPause),
    (
        "/moor.rollout.v1.RolloutApi/ResumeRollout",
        Op::RolloutResume,
    ),
    (
        "/moor.rollout.v1.RolloutApi/CancelRollout",
        Op::RolloutCancel,
    ),
    (
        "/moor.rollout.v1.RolloutApi/ApproveRollout",
        Op::RolloutApprove,
    ),
    (
        "/moor.rollout.v1.RolloutApi/RollbackRollout",
        Op::RolloutRollback,
    ),
    (
        "/moor.rollout.v1.RolloutApi/SetRolloutParallel",
        Op::RolloutSetParallel,
    ),
    (
        "/moor.rollout.v1.RolloutApi/SetRolloutLimits",
        Op::RolloutSetLimits,
    ),
    ("/moor.auth.v1.AuthApi/CreateToken", Op::AuthTokenCreate),
    ("/moor.auth.v1.AuthApi/ListTokens", Op::AuthTokenList),
    ("/moor.auth.v1.AuthApi/RevokeToken", Op::AuthTokenRevoke),
    ("/moor.auth.v1.AuthApi/WhoAmI", Op::AuthWhoami),
    ("/moor.auth.v1.AuthApi/PutRole", Op::AuthRolePut),
    ("/moor.auth.v1.AuthApi/ListRoles", Op::AuthRoleList),
    ("/moor.auth.v1.AuthApi/DeleteRole", Op::AuthRoleDelete),
    ("/moor.auth.v1.AuthApi/ListAudit", Op::AuditList),
    ("/moor.hooks.v1.HookApi/PutReceiver", Op::ReceiverPut),
    ("/moor.hooks.v1.HookApi/GetReceiver", Op::ReceiverGet),
    ("/moor.hooks.v1.HookApi/ListReceivers", Op::ReceiverList),
    ("/moor.hooks.v1.HookApi/DeleteReceiver", Op::ReceiverDelete),
    (
        "/moor.hooks.v1.HookApi/ListDeliveries",
        Op::ReceiverDeliveries,
    ),
    ("/moor.hooks.v1.HookApi/PutSource", Op::SourcePut),
    ("/moor.hooks.v1.HookApi/GetSource", Op::SourceGet),
    ("/moor.hooks.v1.HookApi/ListSources", Op::SourceList),
    ("/moor.hooks.v1.HookApi/DeleteSource", Op::SourceDelete),
    ("/moor.hooks.v1.HookApi/SyncSource", Op::SourceSync),
    ("/moor.hooks.v1.HookApi/PutTrigger", Op::TriggerPut),
    ("/moor.hooks.v1.HookApi/GetTrigger", Op::TriggerGet),
    ("/moor.hooks.v1.HookApi/ListTriggers", Op::TriggerList),
    ("/moor.hooks.v1.HookApi/DeleteTrigger", Op::TriggerDelete),
];

/// Paths under this prefix are HTTP endpoints that authenticate their callers themselves
/// (a webhook delivery carries the receiver's signature, not a token): the gate lets them
/// through, and the handler refuses anything it cannot verify.
pub const SELF_AUTHENTICATED_PREFIX: &str = "/hooks/";

/// `GET /metrics`: served without a credential, like etcd's and Kubernetes' components', so
/// Prometheus needs no token; it shows counts and levels, no names but receivers' and the
/// RPC list (restrict the client port with network policy if that is too much).
pub const METRICS_PATH: &str = "/metrics";

/// The map view's pages: each is a read of sites (`site.list`; the rollout pages a read of
/// rollouts) or one of its actions ([`ui_operation`]), with the token from the
/// `moor_token` cookie when no header carries one.
pub const UI_PREFIX: &str = "/ui";

/// The map view's rollout actions, `POST /ui/rollouts/{id}/{word}`: each is the operation
/// of the RPC whose handler it calls. (The words are `moor_dashboard::ROLLOUT_ACTIONS`.)
pub const UI_ROLLOUT_ACTIONS: [(&str, Op); 5] = [
    ("pause", Op::RolloutPause),
    ("resume", Op::RolloutResume),
    ("approve", Op::RolloutApprove),
    ("cancel", Op::RolloutCancel),
    ("parallel", Op::RolloutSetParallel),
];

/// The map view's start form, `POST /ui/rollouts`: a rollout started.
pub const UI_ROLLOUT_START: (&str, Op) = ("start", Op::RolloutStart);

/// The map view's environment actions, `POST /ui/environments/{name}/{word}`: `heal`
/// starts a heal execution, `rollback` a rollback (the words are
/// `moor_dashboard::ENVIRONMENT_ACTIONS`).
pub const UI_ENVIRONMENT_ACTIONS: [(&str, Op); 2] = [
    ("heal", Op::ExecutionStart),
    ("rollback", Op::ExecutionRollback),
];

/// The heal action alone, as the site page offers it.
pub const UI_HEAL: (&str, Op) = UI_ENVIRONMENT_ACTIONS[0];

/// The map view's execution actions, `POST /ui/executions/{id}/{word}` (the words are
/// `moor_dashboard::EXECUTION_ACTIONS`).
pub const UI_EXECUTION_ACTIONS: [(&str, Op); 2] = [
    ("resume", Op::ExecutionResume),
    ("cancel", Op::ExecutionCancel),
];

/// The operation of action `word` in `table`, if it is one.
fn action_in(table: &[(&str, Op)], word: &str) -> Option<Op> {
    table.iter().find(|(w, _)| *w == word).map(|(_, op)| *op)
}

/// The operation of environment action `word`, if it is one.
pub fn ui_environment_action(word: &str) -> Option<Op> {
    action_in(&UI_ENVIRONMENT_ACTIONS, word)
}

/// The operation of execution action `word`, if it is one.
pub fn ui_execution_action(word: &str) -> Option<Op> {
    action_in(&UI_EXECUTION_ACTIONS, word)
}

/// The operation of rollout action `word`, if it is one.
pub fn ui_rollout_action(word: &str) -> Option<Op> {
    action_in(&UI_ROLLOUT_ACTIONS, word)
}

/// The operation a request of the map view is: an action (a POST) is the operation of the
/// RPC it calls, so the gate checks the same permission as for `moorctl`; a page is the
/// read its RPC is (the rollout pages read rollouts, an environment's page
/// `environment.get`, its diff `environment.diff`, an execution's `execution.get`); the
/// map and site pages read sites. A POST that is no action is checked as the page's read
/// (its handler answers 404).
pub fn ui_operation(post: bool, path: &str) -> Op {
    if let Some(rest) = path.strip_prefix("/ui/rollouts") {
        let rest = rest.trim_start_matches('/');
        if rest.is_empty() {
            return if post {
                UI_ROLLOUT_START.1
            } else {
                Op::RolloutList
            };
        }
        if let (true, Some((_, word))) = (post, rest.split_once('/')) {
            if let Some(op) = ui_rollout_action(word) {
                return op;
            }
        }
        return Op::RolloutGet;
    }
    // Names are percent-encoded in paths, so the only raw '/' after the name is the one
    // before an action word or `diff`.
    if let Some(rest) = path.strip_prefix("/ui/environments/") {
        return match rest.split_once('/') {
            Some((_, word)) if post => ui_environment_action(word).unwrap_or(Op::EnvironmentGet),
            Some((_, "diff")) => Op::EnvironmentDiff,
            _ => Op::EnvironmentGet,
        };
    }
    if let Some(rest) = path.strip_prefix("/ui/executions/") {
        return match rest.split_once('/') {
            Some((_, word)) if post => ui_execution_action(word).unwrap_or(Op::ExecutionGet),
            _ => Op::ExecutionGet,
        };
    }
    Op::SiteList
}

/// The map view's login and logout: served without a credential (they make one).
pub const UI_OPEN: [&str; 2] = ["/ui/login", "/ui/logout"];

/// The operation a gRPC path is; None for a path no client RPC has.
pub fn operation_of(path: &str) -> Option<Op> {
    METHODS.iter().find(|(p, _)| *p == path).map(|(_, op)| *op)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Every operation has exactly one RPC and every RPC one operation.
    #[test]
    fn the_table_covers_every_operation_once() {
        let ops: BTreeSet<Op> = METHODS.iter().map(|(_, op)| *op).collect();
        let all: BTreeSet<Op> = Op::ALL.iter().copied().collect();
        assert_eq!(ops, all);
        assert_eq!(METHODS.len(), all.len());
        let paths: BTreeSet<&str> = METHODS.iter().map(|(p, _)| *p).collect();
        assert_eq!(paths.len(), METHODS.len());
    }

    #[test]
    fn map_view_requests_are_the_operations_of_their_rpcs() {
        assert_eq!(ui_operation(false, "/ui/"), Op::SiteList);
        assert_eq!(ui_operation(false, "/ui/sites/a"), Op::SiteList);
        assert_eq!(ui_operation(false, "/ui/rollouts"), Op::RolloutList);
        assert_eq!(ui_operation(true, "/ui/rollouts"), Op::RolloutStart);
        assert_eq!(ui_operation(true, "/ui/rollouts/"), Op::RolloutStart);
        assert_eq!(ui_operation(false, "/ui/rollouts/r1"), Op::RolloutGet);
        assert_eq!(
            ui_operation(true, "/ui/rollouts/r1/pause"),
            Op::RolloutPause
        );
        assert_eq!(
            ui_operation(true, "/ui/rollouts/r1/resume"),
            Op::RolloutResume
        );
        assert_eq!(
            ui_operation(true, "/ui/rollouts/r1/approve"),
            Op::RolloutApprove
        );
        assert_eq!(
            ui_operation(true, "/ui/rollouts/r1/cancel"),
            Op::RolloutCancel
        );
        assert_eq!(ui_operation(false, "/ui/rollouts/r1/pause"), Op::RolloutGet);
        assert_eq!(
            ui_operation(true, "/ui/rollouts/r1/explode"),
            Op::RolloutGet
        );
        assert_eq!(
            ui_operation(true, "/ui/environments/e%2F1/heal"),
            Op::ExecutionStart
        );
        assert_eq!(
            ui_operation(true, "/ui/environments/e%2F1/rollback"),
            Op::ExecutionRollback
        );
        assert_eq!(
            ui_operation(false, "/ui/environments/e%2F1"),
            Op::EnvironmentGet
        );
        assert_eq!(
            ui_operation(false, "/ui/environments/e1/diff"),
            Op::EnvironmentDiff
        );
        assert_eq!(
            ui_operation(true, "/ui/environments/e1/explode"),
            Op::EnvironmentGet
        );
        assert_eq!(ui_operation(false, "/ui/executions/x1"), Op::ExecutionGet);
        assert_eq!(
            ui_operation(true, "/ui/executions/x1/resume"),
            Op::ExecutionResume
        );
        assert_eq!(
            ui_operation(true, "/ui/executions/x1/cancel"),
            Op::ExecutionCancel
        );
        assert_eq!(
            ui_operation(false, "/ui/executions/x1/cancel"),
            Op::ExecutionGet
        );
        assert_eq!(
            ui_operation(false, "/ui/environments/e1/heal"),
            Op::EnvironmentGet
        );
        assert_eq!(ui_operation(true, "/ui/login"), Op::SiteList);
        // The words the pages post are the words the gate knows.
        let words: Vec<&str> = UI_ROLLOUT_ACTIONS.iter().map(|(w, _)| *w).collect();
        assert_eq!(words, moor_dashboard::ROLLOUT_ACTIONS);
        assert!(moor_dashboard::forms::heal_href("e").ends_with(&format!("/{}", UI_HEAL.0)));
        let words: Vec<&str> = UI_ENVIRONMENT_ACTIONS.iter().map(|(w, _)| *w).collect();
        assert_eq!(words, moor_dashboard::ENVIRONMENT_ACTIONS);
        let words: Vec<&str> = UI_EXECUTION_ACTIONS.iter().map(|(w, _)| *w).collect();
        assert_eq!(words, moor_dashboard::EXECUTION_ACTIONS);
    }

    /// Every path names an RPC the generated services serve: checked against the .proto
    /// files, so a renamed RPC cannot silently become unreachable.
    #[test]
    fn every_path_is_an_rpc_of_the_protos() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../proto/proto/moor");
        let mut rpcs = BTreeSet::new();
        for (file, package) in [
            ("api.proto", "moor.api.v1"),
            ("workflow.proto", "moor.workflow.v1"),
            ("rollout.proto", "moor.rollout.v1"),
            ("auth.proto", "moor.auth.v1"),
            ("hooks.proto", "moor.hooks.v1"),
        ] {
            let text = std::fs::read_to_string(format!("{dir}/{file}")).unwrap();
            let mut service = "";
            for line in text.lines().map(str::trim) {
                if let Some(rest) = line.strip_prefix("service ") {
                    service = rest.split_whitespace().next().unwrap();
                } else if let Some(rest) = line.strip_prefix("rpc ") {
                    let name = rest.split('(').next().unwrap().trim();
                    rpcs.insert(format!("/{package}.{service}/{name}"));
                }
            }
        }
        let table: BTreeSet<String> = METHODS.iter().map(|(p, _)| p.to_string()).collect();
        assert_eq!(table, rpcs);
    }
}
