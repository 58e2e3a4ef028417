//! `Command::Audited` through the whole state's apply: the identity and permission are
//! checked again at the entry's index, a denial changes only the audit log, and the audit
//! log records every outcome.

use crate::auth::apply::tests::record;
use crate::auth::apply::{AuthCommand, AuthResult};
use crate::auth::audit::tests::stamp;
use crate::auth::audit::AuditStamp;
use crate::auth::operation::Operation;
use crate::auth::permission::Target;
use crate::command::{Command, CommandResult};
use crate::execution::RetryPolicy;
use crate::kv::KvCommand;
use crate::rollout::{FailureBudget, RolloutAction, RolloutSpec, WavesSpec};
use crate::state::MoorState;
use crate::workflow::{WorkflowCommand, WorkflowResult};

const ADMIN: &str = "aaaaaaaaaaaa";
const OPERATOR: &str = "0b0b0b0b0b0b";
const DEPLOYER: &str = "dddddddddddd";

/// A state with an admin, an operator (expiring at 10,000 ms) and a deployer scoped to
/// groups `edge-*` and blueprints `web`.
fn state() -> MoorState {
    let mut s = MoorState::default();
    let mut operator = record(OPERATOR, "operator");
    operator.expires_at_ms = 10_000;
    let mut deployer = record(DEPLOYER, "deployer");
    deployer.groups = vec!["edge-*".into()];
    deployer.blueprints = vec!["web".into()];
    for r in [record(ADMIN, "admin"), operator, deployer] {
        let result = s.apply(1, 1, &Command::Auth(AuthCommand::CreateToken { record: r }));
        assert!(
            matches!(result, CommandResult::Auth(AuthResult::Token(_))),
            "{result:?}"
        );
    }
    s
}

fn put(key: &str) -> Command {
    Command::Kv(KvCommand::Put {
        key: key.into(),
        value: b"v".to_vec(),
    })
}

fn audited(stamp: AuditStamp, command: Command) -> Command {
    Command::Audited {
        stamp,
        command: Box::new(command),
    }
}

fn put_by(id: &str, key: &str, at_ms: u64) -> Command {
    let mut st = stamp(id, Operation::VarPut, at_ms);
    st.target.name = Some(key.into());
    audited(st, put(key))
}

fn outcomes(s: &MoorState) -> Vec<String> {
    let (page, _) = s.auth.audit.list(0, "", "", 0, 0);
    page.into_iter().map(|r| r.outcome).collect()
}

fn rollout_by(id: &str, group: &str, blueprint: &str) -> Command {
    let spec = RolloutSpec {
        group: group.into(),
        action: RolloutAction::Install {
            blueprint: blueprint.into(),
            revision: 1,
            inputs: Default::default(),
            environment_name: "{blueprint}-{site}".into(),
            labels: Default::default(),
        },
        retry: RetryPolicy::default(),
        max_parallel: 1,
        waves: WavesSpec::parse("100%").unwrap(),
        require_approval: false,
        budget: FailureBudget::default(),
    };
    let mut st = stamp(id, Operation::RolloutStart, 500);
    st.target = Target {
        name: None,
        group: Some(group.into()),
        blueprint: Some(blueprint.into()),
    };
    audited(
        st,
        Command::Workflow(WorkflowCommand::StartRollout { spec, now_ms: 500 }),
    )
}

#[test]
fn an_allowed_command_applies_and_is_audited_ok() {
    let mut s = state();
    let result = s.apply(2, 1, &put_by(OPERATOR, "k", 500));
    assert!(
        matches!(result, CommandResult::Kv(ref r) if r.succeeded),
        "{result:?}"
    );
    assert_eq!(s.kv.get("k").unwrap().value, b"v");
    let (page, _) = s.auth.audit.list(0, "", "", 0, 0);
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].who, "token:0b0b0b0b0b0b");
    assert_eq!(
        (page[0].operation.as_str(), page[0].outcome.as_str()),
        ("var.put", "ok")
    );
    s.invariants().unwrap();
}

#[test]
fn a_revoked_token_changes_nothing_but_the_audit_log() {
    let mut s = state();
    let revoke = AuthCommand::RevokeToken {
        id: OPERATOR.into(),
        now_ms: 1_740_830_400_000,
    };
    s.apply(2, 1, &Command::Auth(revoke));
    let before = s.clone();
    // Stamped before the revocation's time, by a member that had not seen it: the
    // committed revocation still wins.
    let result = s.apply(3, 1, &put_by(OPERATOR, "k", 600));
    let CommandResult::Refused(reason) = &result else {
        panic!("not refused: {result:?}");
    };
    assert!(
        reason.contains("token 0b0b0b0b0b0b revoked at 2025-03-01T12:00:00Z"),
        "{reason}"
    );
    assert!(s.kv.get("k").is_none());
    assert_eq!(outcomes(&s), [format!("denied: {reason}")]);
    let mut without_audit = s.clone();
    without_audit.auth.audit = before.auth.audit.clone();
    assert_eq!(without_audit, before);
    s.invariants().unwrap();
}

#[test]
fn a_token_expired_by_the_stamps_time_is_denied() {
    let mut s = state();
    assert!(matches!(
        s.apply(2, 1, &put_by(OPERATOR, "a", 9_999)),
        CommandResult::Kv(_)
    ));
    let result = s.apply(3, 1, &put_by(OPERATOR, "b", 10_000));
    assert!(
        matches!(&result, CommandResult::Refused(r) if r.contains("expired")),
        "{result:?}"
    );
    assert!(s.kv.get("b").is_none());
}

#[test]
fn a_deployer_outside_its_group_scope_is_refused() {
    let mut s = state();
    let result = s.apply(2, 1, &rollout_by(DEPLOYER, "core-1", "web"));
    let want =
        "token dddddddddddd may start rollouts only on groups matching [edge-*], not \"core-1\"";
    assert_eq!(result, CommandResult::Refused(want.into()));
    // Inside its scope the rollout is admitted; the group does not exist, so the workflow
    // refuses it, and the audit log says so.
    let result = s.apply(3, 1, &rollout_by(DEPLOYER, "edge-1", "web"));
    assert!(
        matches!(result, CommandResult::Workflow(WorkflowResult::Rejected(_))),
        "{result:?}"
    );
    let outcomes = outcomes(&s);
    assert_eq!(outcomes[0], format!("denied: {want}"));
    assert!(outcomes[1].starts_with("refused: "), "{outcomes:?}");
    // Nor may a deployer write variables, scope or not.
    let result = s.apply(4, 1, &put_by(DEPLOYER, "k", 500));
    assert_eq!(
        result,
        CommandResult::Refused("role \"deployer\" lacks \"var.put\"".into())
    );
}

#[test]
fn a_stamp_that_does_not_describe_its_command_is_refused() {
    let mut s = state();
    let mut st = stamp(DEPLOYER, Operation::VarGet, 500);
    st.target.name = Some("k".into());
    let result = s.apply(2, 1, &audited(st, put("k")));
    assert!(
        matches!(&result, CommandResult::Refused(r) if r.contains("mislabelled")),
        "{result:?}"
    );
    assert!(s.kv.get("k").is_none());
    // The rollout's group is the target group, or nothing runs.
    let mut cmd = rollout_by(DEPLOYER, "edge-1", "web");
    if let Command::Audited { command, .. } = &mut cmd {
        if let Command::Workflow(WorkflowCommand::StartRollout { spec, .. }) = command.as_mut() {
            spec.group = "core-1".into();
        }
    }
    let result = s.apply(3, 1, &cmd);
    assert!(
        matches!(&result, CommandResult::Refused(r) if r.contains("\"core-1\"")),
        "{result:?}"
    );
    assert!(outcomes(&s).iter().all(|o| o.starts_with("refused: ")));
}

#[test]
fn audited_commands_work_inside_a_batch() {
    let mut s = state();
    s.apply(
        2,
        1,
        &Command::Auth(AuthCommand::RevokeToken {
            id: OPERATOR.into(),
            now_ms: 1,
        }),
    );
    let batch = Command::Batch(vec![
        put_by(ADMIN, "a", 500),
        put_by(OPERATOR, "b", 500),
        put("c"),
    ]);
    let CommandResult::Batch(results) = s.apply(3, 1, &batch) else {
        panic!("not a batch result");
    };
    assert!(matches!(results[0], CommandResult::Kv(_)));
    assert!(matches!(results[1], CommandResult::Refused(_)));
    assert!(matches!(results[2], CommandResult::Kv(_)));
    assert!(s.kv.get("a").is_some() && s.kv.get("b").is_none() && s.kv.get("c").is_some());
    assert_eq!(outcomes(&s).len(), 2);
}

#[test]
fn nested_audited_commands_and_batches_are_refused() {
    let mut s = state();
    for inner in [put_by(ADMIN, "k", 500), Command::Batch(vec![put("k")])] {
        let result = s.apply(2, 1, &audited(stamp(ADMIN, Operation::VarPut, 500), inner));
        assert!(
            matches!(&result, CommandResult::Refused(r) if r.contains("one command")),
            "{result:?}"
        );
    }
    assert!(s.kv.get("k").is_none());
    assert_eq!(outcomes(&s).len(), 2);
    assert!(outcomes(&s)
        .iter()
        .all(|o| o.starts_with("refused: an audited command")));
}

#[test]
fn retention_is_applied_by_each_audited_stamp() {
    let mut s = state();
    for (i, at_ms) in [1_000u64, 2_000, 3_000, 4_000].into_iter().enumerate() {
        let mut cmd = put_by(ADMIN, "k", at_ms);
        if let Command::Audited { stamp, .. } = &mut cmd {
            stamp.retention.max_entries = 3;
            stamp.retention.max_age_ms = if i == 3 { 1_500 } else { 0 };
        }
        s.apply(2 + i as u64, 1, &cmd);
    }
    let (page, _) = s.auth.audit.list(0, "", "", 0, 0);
    // By count: 1,000 went at the fourth append; by age (1,500 ms before 4,000): 2,000 too.
    assert_eq!(
        page.iter().map(|r| r.at_ms).collect::<Vec<_>>(),
        [3_000, 4_000]
    );
    assert_eq!(page.iter().map(|r| r.seq).collect::<Vec<_>>(), [3, 4]);
}

#[test]
fn replicas_agree_and_auth_survives_a_snapshot() {
    let commands = [
        put_by(ADMIN, "a", 100),
        Command::Auth(AuthCommand::RevokeToken {
            id: ADMIN.into(),
            now_ms: 150,
        }),
        put_by(ADMIN, "b", 200),
        rollout_by(DEPLOYER, "core-1", "web"),
    ];
    let (mut a, mut b) = (state(), state());
    for (i, c) in commands.iter().enumerate() {
        assert_eq!(a.apply(2 + i as u64, 1, c), b.apply(2 + i as u64, 1, c));
    }
    assert_eq!(a.digest().unwrap(), b.digest().unwrap());
    let restored = MoorState::decode(&a.encode().unwrap()).unwrap();
    assert_eq!(restored, a);
    assert_eq!(outcomes(&restored).len(), 3);
    // An empty auth state is left out of the encoding altogether: a state that never
    // used auth encodes exactly as the state did before auth existed.
    #[derive(serde::Serialize)]
    struct BeforeAuth {
        kv: crate::kv::KvState,
        workflow: crate::workflow::WorkflowState,
    }
    let before = BeforeAuth {
        kv: Default::default(),
        workflow: Default::default(),
    };
    assert_eq!(
        MoorState::default().encode().unwrap(),
        crate::codec::encode("state snapshot", &before).unwrap()
    );
}
