// Test code only (the parent declares it under `#[cfg(test)]` too).
#![cfg(test)]

use super::*;
use crate::command::{Command, CommandResult};

fn set(id: &str) -> Command {
    Command::Cluster(ClusterCommand::SetIdentity { id: id.into() })
}

#[test]
fn the_first_identity_wins_and_later_ones_change_nothing() {
    let mut s = MoorState::default();
    assert_eq!(
        s.apply(1, 1, &set("abc")),
        CommandResult::Cluster(ClusterResult::Identity {
            id: "abc".into(),
            set_now: true
        })
    );
    let before = s.clone();
    assert_eq!(
        s.apply(2, 2, &set("def")),
        CommandResult::Cluster(ClusterResult::Identity {
            id: "abc".into(),
            set_now: false
        })
    );
    assert_eq!(s, before);
}

#[test]
fn invalid_identities_are_refused() {
    let mut s = MoorState::default();
    for bad in ["", "a b", &"x".repeat(65), "é"] {
        let r = s.apply(1, 1, &set(bad));
        assert!(
            matches!(r, CommandResult::Cluster(ClusterResult::Refused(_))),
            "{bad:?}: {r:?}"
        );
    }
    assert_eq!(s, MoorState::default());
}

#[test]
fn an_empty_identity_leaves_the_encoding_unchanged() {
    let s = MoorState::default();
    let mut with = s.clone();
    with.cluster.id = "abc".into();
    assert_ne!(s.encode().unwrap(), with.encode().unwrap());
    assert_eq!(MoorState::decode(&with.encode().unwrap()).unwrap(), with);
    assert!(s.cluster.is_empty());
}
