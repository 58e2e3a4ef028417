//! Unit tests of `state.rs`, kept out of the file that apply runs (test code may unwrap).

use super::*;
use crate::cluster::{ClusterCommand, ClusterResult};
use crate::kv::KvCommand;

#[test]
fn snapshot_restores_the_same_state() {
    let mut s = MoorState::default();
    s.apply(
        4,
        1,
        &Command::Kv(KvCommand::Put {
            key: "k".into(),
            value: b"v".to_vec(),
        }),
    );
    let data = s.encode().unwrap();
    let t = MoorState::decode(&data).unwrap();
    assert_eq!(s, t);
    assert_eq!(s.digest().unwrap(), t.digest().unwrap());
    assert!(MoorState::decode(b"\x01garbage").is_err());
}

#[test]
fn a_nested_batch_is_refused_and_changes_nothing() {
    let mut s = MoorState::default();
    let before = s.digest().unwrap();
    let put = Command::Kv(KvCommand::Put {
        key: "k".into(),
        value: b"v".to_vec(),
    });
    let r = s.apply(1, 1, &Command::Batch(vec![Command::Batch(vec![put])]));
    assert!(
        matches!(&r, CommandResult::Batch(v) if matches!(v[0], CommandResult::Refused(_))),
        "{r:?}"
    );
    assert_eq!(s.digest().unwrap(), before);
}

#[test]
fn a_command_needs_the_level_of_what_an_older_member_could_not_decode() {
    use crate::auth::audit::tests::stamp;
    use crate::auth::operation::Operation;
    use crate::auth::AuthCommand;
    use crate::feature::{FeatureLevel, BASE};

    let put = Command::Kv(KvCommand::Put {
        key: "k".into(),
        value: b"v".to_vec(),
    });
    assert_eq!(put.feature_level(), BASE);
    let raise = Command::Cluster(ClusterCommand::SetFeatureLevel { level: 2 });
    // The raise itself is proposed only by the finalize path, which checks every member.
    assert_eq!(raise.feature_level(), BASE);
    let audited = Command::Audited {
        stamp: stamp("t1", Operation::ClusterUpgradeFinalize, 1),
        command: Box::new(raise.clone()),
    };
    // A client's raise (audited, with its new operation) is the same exception.
    assert_eq!(audited.feature_level(), BASE);
    let other = Command::Audited {
        stamp: stamp("t1", Operation::ClusterUpgradeFinalize, 1),
        command: Box::new(put.clone()),
    };
    assert_eq!(other.feature_level(), FeatureLevel(2));
    let denied = Command::Auth(AuthCommand::RecordDenied {
        stamp: stamp("t1", Operation::ClusterUpgradeFinalize, 1),
        reason: "viewer".into(),
    });
    assert_eq!(denied.feature_level(), FeatureLevel(2));
    assert_eq!(
        Command::Batch(vec![put.clone(), denied]).feature_level(),
        FeatureLevel(2)
    );
    let old_denial = Command::Auth(AuthCommand::RecordDenied {
        stamp: stamp("t1", Operation::VarPut, 1),
        reason: "viewer".into(),
    });
    assert_eq!(Command::Batch(vec![put, old_denial]).feature_level(), BASE);
}

#[test]
fn the_level_rises_only_and_a_base_state_encodes_without_it() {
    let mut s = MoorState::default();
    let base = s.encode().unwrap();
    let r = s.apply(
        1,
        1,
        &Command::Cluster(ClusterCommand::SetFeatureLevel { level: 1 }),
    );
    assert!(
        matches!(r, CommandResult::Cluster(ClusterResult::Refused(_))),
        "{r:?}"
    );
    assert_eq!(s.encode().unwrap(), base, "a refused raise changes nothing");
    let r = s.apply(
        2,
        1,
        &Command::Cluster(ClusterCommand::SetFeatureLevel { level: 7 }),
    );
    assert_eq!(
        r,
        CommandResult::Cluster(ClusterResult::FeatureLevel {
            previous: 1,
            level: 7
        })
    );
    // Apply records a level this build does not support (moord stops the member); it
    // does not decide from the build, or two releases would disagree.
    assert_eq!(s.feature_level.0, 7);
    let t = MoorState::decode(&s.encode().unwrap()).unwrap();
    assert_eq!(t.feature_level.0, 7);
    assert_ne!(s.encode().unwrap(), base);
}
