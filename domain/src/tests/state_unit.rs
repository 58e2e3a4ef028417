//! Unit tests of `state.rs`, kept out of the file that apply runs (test code may unwrap).

use super::*;
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
