//! Site reachability (feature level 3): recorded by the leader's drift checks, forgotten when
//! a step there succeeds or the site gets another driver, refused below the level.

use super::{create, finish, world, ApplyChecked};
use crate::command::Command;
use crate::feature::{self, FeatureLevel};
use crate::site::{Driver, MAX_REACHABILITY_ERROR};
use crate::workflow::{WorkflowCommand, WorkflowError, WorkflowResult};

fn reach(site: &str, error: Option<&str>, now_ms: u64) -> WorkflowCommand {
    WorkflowCommand::SiteReachability {
        site: site.into(),
        error: error.map(str::to_string),
        now_ms,
    }
}

#[test]
fn a_site_is_marked_until_it_answers_and_keeps_the_first_instant() {
    let (mut w, kv) = world();
    assert_eq!(
        w.apply_checked(&kv, 1, &reach("s1", Some("connection refused"), 100)),
        WorkflowResult::Done
    );
    assert_eq!(w.unreachable["s1"].since_ms, 100);
    // Still down later, another error: the instant stays, the error is the latest.
    w.apply_checked(&kv, 1, &reach("s1", Some("timed out"), 200));
    assert_eq!(
        (
            w.unreachable["s1"].since_ms,
            w.unreachable["s1"].error.as_str()
        ),
        (100, "timed out")
    );
    w.apply_checked(&kv, 1, &reach("s1", None, 300));
    assert!(w.unreachable.is_empty());
    // An unknown site is refused and changes nothing.
    let before = w.clone();
    assert!(matches!(
        w.apply_checked(&kv, 1, &reach("nowhere", Some("x"), 1)),
        WorkflowResult::Rejected(WorkflowError::NotFound(_))
    ));
    assert_eq!(w, before);
    // A long error is kept bounded.
    w.apply_checked(&kv, 1, &reach("s1", Some(&"é".repeat(1000)), 400));
    assert!(w.unreachable["s1"].error.len() <= MAX_REACHABILITY_ERROR + "…".len());
}

#[test]
fn below_level_3_the_command_is_refused_and_needs_level_3() {
    let (mut w, kv) = world();
    let r = w.apply_at(&kv, 1, FeatureLevel(2), &reach("s1", Some("down"), 1));
    assert!(
        matches!(&r, WorkflowResult::Rejected(WorkflowError::FailedPrecondition(why)) if why.contains("feature level 3")),
        "{r:?}"
    );
    assert!(w.unreachable.is_empty());
    let c = Command::Workflow(reach("s1", None, 1));
    assert_eq!(c.feature_level(), feature::SITE_REACHABILITY);
}

#[test]
fn a_step_done_at_the_site_or_a_new_driver_forgets_the_mark() {
    let (mut w, kv) = world();
    let WorkflowResult::Execution { id, .. } = create(&mut w, &kv, "e1") else {
        panic!()
    };
    w.apply_checked(&kv, 1, &reach("s1", Some("down"), 5));
    finish(&mut w, &kv, &id, 1);
    assert!(w.unreachable.is_empty(), "a step got an answer there");

    w.apply_checked(&kv, 1, &reach("s1", Some("down"), 6));
    let mut site = w.sites["s1"].clone();
    site.labels.insert("tier".into(), "edge".into());
    let put = |site| WorkflowCommand::PutSite { site, now_ms: 7 };
    w.apply_checked(&kv, 1, &put(site.clone()));
    assert!(
        w.unreachable.contains_key("s1"),
        "new labels say nothing about reaching it"
    );
    site.driver = Driver::Agent {
        endpoint: "127.0.0.1:10".into(),
    };
    w.apply_checked(&kv, 1, &put(site.clone()));
    assert!(w.unreachable.is_empty(), "a new address is checked afresh");
    // Below the level neither rule applies (an older member would not apply them).
    w.apply_checked(&kv, 1, &reach("s1", Some("down"), 8));
    site.driver = Driver::Agent {
        endpoint: "127.0.0.1:11".into(),
    };
    w.apply_at(&kv, 1, FeatureLevel(2), &put(site));
    assert!(w.unreachable.contains_key("s1"));
}
