//! Unit tests of `audit.rs`, kept out of the file that apply runs (test code may unwrap).

use super::*;

/// A stamp for tests: a token principal, `var.put` on `key`, no retention limit.
pub(crate) fn stamp(id: &str, operation: Operation, at_ms: u64) -> AuditStamp {
    AuditStamp {
        principal: Principal::Token { id: id.into() },
        operation,
        target: Target::default(),
        object: "var k".into(),
        peer: "10.0.0.9:51234".into(),
        member: 2,
        at_ms,
        retention: Retention {
            max_entries: 1_000,
            max_age_ms: 0,
        },
    }
}

#[test]
fn retention_by_count_keeps_the_newest() {
    let mut a = AuditState::default();
    let mut s = stamp("0123456789ab", Operation::VarPut, 10);
    s.retention.max_entries = 3;
    for i in 0..5 {
        s.at_ms = 10 + i;
        a.append(&s, "ok");
    }
    let (page, next) = a.list(0, "", "", 0, 0);
    assert_eq!(page.iter().map(|r| r.seq).collect::<Vec<_>>(), [3, 4, 5]);
    assert_eq!(next, None);
    // A limit of 0 entries is clamped to 1: the record just written stays.
    s.retention.max_entries = 0;
    a.append(&s, "ok");
    assert_eq!(a.len(), 1);
    a.invariants().unwrap();
}

#[test]
fn retention_by_age_drops_what_is_older_than_the_newest_stamp_allows() {
    let mut a = AuditState::default();
    let mut s = stamp("0123456789ab", Operation::VarPut, 1_000);
    s.retention.max_age_ms = 500;
    for at_ms in [1_000, 1_200, 1_400, 1_600] {
        s.at_ms = at_ms;
        a.append(&s, "ok");
    }
    // At 1,600 the record of 1,000 is 600 ms old: gone; 1,100 would be kept (exactly 500).
    let (page, _) = a.list(0, "", "", 0, 0);
    assert_eq!(
        page.iter().map(|r| r.at_ms).collect::<Vec<_>>(),
        [1_200, 1_400, 1_600]
    );
}

#[test]
fn list_filters_and_pages() {
    let mut a = AuditState::default();
    for i in 0..7u64 {
        let id = if i % 2 == 0 {
            "aaaaaaaaaaaa"
        } else {
            "bbbbbbbbbbbb"
        };
        let op = if i < 4 {
            Operation::VarPut
        } else {
            Operation::RolloutStart
        };
        a.append(&stamp(id, op, 100 * i), "ok");
    }
    let (page, next) = a.list(0, "aaaa", "", 0, 2);
    assert_eq!(page.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 3]);
    assert_eq!(next, Some(3));
    let (page, next) = a.list(0, "aaaa", "", 3, 2);
    assert_eq!(page.iter().map(|r| r.seq).collect::<Vec<_>>(), [5, 7]);
    assert_eq!(next, None);
    let (page, _) = a.list(300, "", "rollout", 0, 0);
    assert_eq!(page.iter().map(|r| r.seq).collect::<Vec<_>>(), [5, 6, 7]);
    assert_eq!(page[0].who, "token:aaaaaaaaaaaa");
    assert_eq!(
        (page[0].operation.as_str(), page[0].member),
        ("rollout.start", 2)
    );
}

#[test]
fn long_text_is_bounded() {
    let mut a = AuditState::default();
    let mut s = stamp("0123456789ab", Operation::VarPut, 1);
    s.object = "o".repeat(1_000);
    a.append(&s, &"x".repeat(1_000));
    let (page, _) = a.list(0, "", "", 0, 0);
    assert_eq!(page[0].object.chars().count(), MAX_AUDIT_TEXT + 1);
    assert_eq!(page[0].outcome.chars().count(), MAX_AUDIT_TEXT + 1);
}
