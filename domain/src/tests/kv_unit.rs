//! Unit tests of `kv.rs`, kept out of the file that apply runs (test code may unwrap).

use super::*;

fn put(k: &str, v: &str) -> KvCommand {
    KvCommand::Put {
        key: k.into(),
        value: v.as_bytes().to_vec(),
    }
}

#[test]
fn put_tracks_create_and_mod_index() {
    let mut s = KvState::default();
    assert_eq!(s.apply(3, &put("a", "1")).prev, None);
    let r = s.apply(5, &put("a", "2"));
    assert_eq!(r.prev.unwrap().value, b"1");
    let e = s.get("a").unwrap();
    assert_eq!((e.create_index, e.mod_index), (3, 5));
}

#[test]
fn cas_only_swaps_when_expected_matches() {
    let mut s = KvState::default();
    let absent = KvCommand::Cas {
        key: "k".into(),
        expected: None,
        new_value: Some(b"x".to_vec()),
    };
    assert!(s.apply(1, &absent).succeeded);
    // The key now exists, so "must be absent" fails and changes nothing.
    let r = s.apply(2, &absent);
    assert!(!r.succeeded);
    assert_eq!(r.prev.unwrap().value, b"x");
    assert_eq!(s.get("k").unwrap().mod_index, 1);

    let wrong = KvCommand::Cas {
        key: "k".into(),
        expected: Some(b"y".to_vec()),
        new_value: Some(b"z".to_vec()),
    };
    assert!(!s.apply(3, &wrong).succeeded);
    assert_eq!(s.get("k").unwrap().value, b"x");

    let delete = KvCommand::Cas {
        key: "k".into(),
        expected: Some(b"x".to_vec()),
        new_value: None,
    };
    assert!(s.apply(4, &delete).succeeded);
    assert!(s.get("k").is_none());
}

#[test]
fn list_pages_by_prefix() {
    let mut s = KvState::default();
    for (i, k) in ["a/1", "a/2", "a/3", "b/1"].iter().enumerate() {
        s.apply(i as u64 + 1, &put(k, "v"));
    }
    let (page, more) = s.list("a/", "", 2);
    assert_eq!(
        page.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        ["a/1", "a/2"]
    );
    assert!(more);
    let (page, more) = s.list("a/", "a/2", 2);
    assert_eq!(
        page.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        ["a/3"]
    );
    assert!(!more);
}

#[test]
fn delete_resets_create_index() {
    let mut s = KvState::default();
    s.apply(1, &put("a", "1"));
    s.apply(2, &KvCommand::Delete { key: "a".into() });
    s.apply(7, &put("a", "2"));
    assert_eq!(s.get("a").unwrap().create_index, 7);
}
