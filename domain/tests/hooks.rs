//! Webhook deliveries, Git source fetches and triggers through `MoorState::apply`: exactly
//! once by delivery id, a commit applied whole or not at all, one rollout at a time per
//! trigger. Every test checks the invariants after every command.

use std::collections::BTreeMap;

use moor_domain::auth::Retention;
use moor_domain::blueprint;
use moor_domain::command::{Command, CommandResult};
use moor_domain::execution::RetryPolicy;
use moor_domain::hooks::receiver::{
    repo_key, DeliveryIn, DeliveryVerdict, Payload, ReceiverKind, ReceiverSpec,
};
use moor_domain::hooks::source::{FetchedFile, SourceSpec};
use moor_domain::hooks::trigger::{FiringOutcome, TriggerPolicy, TriggerSpec};
use moor_domain::hooks::{AuditNote, HooksCommand, HooksResult};
use moor_domain::rollout::{
    FailureBudget, Group, GroupKind, RolloutAction, RolloutOp, RolloutSpec, Selector, WavesSpec,
};
use moor_domain::site::{Driver, Site};
use moor_domain::state::MoorState;
use moor_domain::workflow::{WorkflowCommand, WorkflowResult};

const URL: &str = "https://git.example/acme/bp.git";

struct World {
    state: MoorState,
    index: u64,
    now: u64,
}

fn note() -> AuditNote {
    AuditNote {
        member: 2,
        peer: "10.0.0.9:5555".into(),
        retention: Retention {
            max_entries: 1_000,
            max_age_ms: 0,
        },
    }
}

fn app(v: u32) -> (String, moor_domain::blueprint::BlueprintSpec) {
    let text = format!(
        "name: app\nresources:\n  - name: a\n    type: sim.resource\n    properties: {{ v: {v} }}\n"
    );
    let spec = blueprint::parse("app.yaml", &text).expect("valid blueprint");
    (text, spec)
}

impl World {
    fn apply(&mut self, c: Command) -> CommandResult {
        self.index += 1;
        self.now += 10;
        let r = self.state.apply(self.index, 1, &c);
        self.state.invariants().expect("invariants hold");
        r
    }

    fn hooks(&mut self, c: HooksCommand) -> HooksResult {
        match self.apply(Command::Hooks(c)) {
            CommandResult::Hooks(r) => r,
            other => panic!("not a hooks result: {other:?}"),
        }
    }

    fn workflow(&mut self, c: WorkflowCommand) -> WorkflowResult {
        match self.apply(Command::Workflow(c)) {
            CommandResult::Workflow(r) => r,
            other => panic!("not a workflow result: {other:?}"),
        }
    }

    /// A site, blueprint app@1, two environments of it, group `g` of them, source `src`,
    /// receiver `gh`, trigger `t` with `policy`.
    fn new(policy: TriggerPolicy) -> World {
        let mut w = World {
            state: MoorState::default(),
            index: 0,
            now: 1_000,
        };
        let now = w.now;
        w.workflow(WorkflowCommand::PutSite {
            site: Site {
                name: "s1".into(),
                region: "eu".into(),
                latitude: 1.0,
                longitude: 2.0,
                labels: Default::default(),
                driver: Driver::Agent {
                    endpoint: "127.0.0.1:9".into(),
                },
            },
            now_ms: now,
        });
        let (text, spec) = app(1);
        w.workflow(WorkflowCommand::PutBlueprint {
            spec,
            source: text,
            now_ms: now,
        });
        for e in ["e1", "e2"] {
            let r = w.workflow(WorkflowCommand::CreateEnvironment {
                name: e.into(),
                site: "s1".into(),
                blueprint: "app".into(),
                revision: None,
                inputs: Default::default(),
                labels: BTreeMap::new(),
                retry: RetryPolicy::default(),
                now_ms: now,
                drift: None,
            });
            assert!(matches!(r, WorkflowResult::Execution { .. }), "{r:?}");
        }
        w.workflow(WorkflowCommand::PutGroup {
            group: Group {
                name: "g".into(),
                kind: GroupKind::Environments,
                selector: Selector {
                    match_labels: BTreeMap::new(),
                    names: vec!["e1".into(), "e2".into()],
                },
                created_ms: now,
                updated_ms: now,
                drift: None,
            },
            now_ms: now,
        });
        let r = w.hooks(HooksCommand::PutReceiver {
            spec: ReceiverSpec {
                name: "gh".into(),
                kind: ReceiverKind::Github,
                secret: "s3cret-s3cret-s3cret".into(),
                max_body_bytes: 0,
                rate_per_minute: 0,
                tolerance_s: 0,
            },
            now_ms: now,
        });
        assert_eq!(r, HooksResult::Put { created: true });
        let r = w.hooks(HooksCommand::PutSource {
            spec: SourceSpec {
                name: "src".into(),
                url: URL.into(),
                branch: "main".into(),
                path: "blueprints".into(),
                credentials_file: None,
                poll_ms: 0,
            },
            now_ms: now,
        });
        assert_eq!(r, HooksResult::Put { created: true });
        let r = w.hooks(HooksCommand::PutTrigger {
            spec: TriggerSpec {
                name: "t".into(),
                source: "src".into(),
                blueprint: "app".into(),
                rollout: RolloutSpec {
                    group: "g".into(),
                    action: RolloutAction::Update {
                        revision: None,
                        inputs: None,
                    },
                    retry: RetryPolicy::default(),
                    max_parallel: 5,
                    waves: WavesSpec::parse("1,100%").unwrap(),
                    require_approval: false,
                    budget: FailureBudget {
                        max_failed: None,
                        max_failed_percent: Some(10),
                    },
                },
                policy,
            },
            now_ms: now,
        });
        assert_eq!(r, HooksResult::Put { created: true });
        w
    }

    fn push(&mut self, id: &str, url: &str, git_ref: &str, commit: &str) -> HooksResult {
        let now = self.now;
        self.hooks(HooksCommand::RecordDelivery {
            receiver: "gh".into(),
            delivery: DeliveryIn {
                id: id.into(),
                event: "push".into(),
                payload: Payload::Push {
                    repository: "acme/bp".into(),
                    urls: vec![url.into()],
                    git_ref: git_ref.into(),
                    commit: commit.into(),
                },
            },
            note: note(),
            now_ms: now,
        })
    }

    fn fetched(&mut self, commit: &str, v: u32) -> HooksResult {
        let basis = self.state.hooks.sources["src"].basis();
        self.fetched_at(basis, commit, v)
    }

    fn fetched_at(
        &mut self,
        basis: moor_domain::hooks::source::FetchBasis,
        commit: &str,
        v: u32,
    ) -> HooksResult {
        let (text, spec) = app(v);
        let now = self.now;
        self.hooks(HooksCommand::SourceFetched {
            source: "src".into(),
            basis,
            commit: commit.into(),
            files: vec![FetchedFile {
                path: "blueprints/app.yaml".into(),
                spec,
                text,
            }],
            note: note(),
            now_ms: now,
        })
    }

    fn audit_ops(&self) -> Vec<(String, String)> {
        self.state
            .auth
            .audit
            .list(0, "", "", 0, 1_000)
            .0
            .iter()
            .map(|r| (r.who.clone(), r.operation.clone()))
            .collect()
    }
}

#[test]
fn repository_urls_match_in_every_form_a_payload_gives() {
    let want = "git.example/acme/bp";
    for url in [
        "https://git.example/acme/bp.git",
        "https://GIT.example/acme/bp",
        "https://git.example/acme/bp/",
        "git@git.example:acme/bp.git",
        "ssh://git@git.example/acme/bp.git",
        "https://git.example:443/acme/bp.git",
    ] {
        assert_eq!(repo_key(url), want, "{url}");
    }
    assert_eq!(repo_key("file:///srv/Repo.git"), "file:/srv/Repo");
    assert_ne!(repo_key("https://git.example/acme/bp2"), want);
    assert_ne!(repo_key("https://other.example/acme/bp"), want);
}

#[test]
fn a_delivery_is_recorded_once_and_a_redelivery_gets_the_original() {
    let mut w = World::new(TriggerPolicy::Queue);
    let asks_before = w.state.hooks.sources["src"].asks;
    let first = w.push(
        "d-1",
        "https://git.example/acme/bp",
        "refs/heads/main",
        "c1",
    );
    let HooksResult::Delivery {
        delivery,
        duplicate: false,
    } = first.clone()
    else {
        panic!("{first:?}")
    };
    assert_eq!(delivery.verdict, DeliveryVerdict::Accepted);
    assert_eq!(delivery.sources, ["src"]);
    assert_eq!(delivery.member, 2);
    let src = &w.state.hooks.sources["src"];
    assert_eq!(src.asks, asks_before + 1);
    assert_eq!(
        src.pending.as_ref().and_then(|p| p.commit.as_deref()),
        Some("c1")
    );
    let audits = w.audit_ops().len();
    // The same id again, even with another body: the original record, nothing asked.
    let again = w.push("d-1", "https://git.example/acme/bp", "refs/heads/dev", "c9");
    assert_eq!(
        again,
        HooksResult::Delivery {
            delivery,
            duplicate: true
        }
    );
    assert_eq!(w.state.hooks.sources["src"].asks, asks_before + 1);
    assert_eq!(w.state.hooks.receivers["gh"].recorded, 1);
    assert_eq!(
        w.audit_ops().len(),
        audits,
        "a duplicate writes no audit record"
    );
}

#[test]
fn pushes_that_name_nothing_followed_are_recorded_as_ignored_with_the_reason() {
    let mut w = World::new(TriggerPolicy::Queue);
    let asks = w.state.hooks.sources["src"].asks;
    let cases = [
        ("d-b", URL, "refs/heads/dev", "c1", "no source follows"),
        ("d-t", URL, "refs/tags/v1", "c1", "is not a branch"),
        (
            "d-r",
            "https://git.example/acme/other",
            "refs/heads/main",
            "c1",
            "no source follows",
        ),
        (
            "d-x",
            URL,
            "refs/heads/main",
            "0000000000000000000000000000000000000000",
            "was deleted",
        ),
    ];
    for (id, url, r, c, why) in cases {
        let HooksResult::Delivery { delivery, .. } = w.push(id, url, r, c) else {
            panic!()
        };
        assert_eq!(delivery.verdict, DeliveryVerdict::Ignored, "{id}");
        assert!(delivery.detail.contains(why), "{id}: {}", delivery.detail);
    }
    assert_eq!(w.state.hooks.sources["src"].asks, asks);
    let now = w.now;
    let r = w.hooks(HooksCommand::RecordDelivery {
        receiver: "gh".into(),
        delivery: DeliveryIn {
            id: "p".into(),
            event: "ping".into(),
            payload: Payload::Ping,
        },
        note: note(),
        now_ms: now,
    });
    assert!(
        matches!(&r, HooksResult::Delivery { delivery, .. } if delivery.verdict == DeliveryVerdict::Ping),
        "{r:?}"
    );
    // Every delivery is audited with the receiver as the identity.
    let delivered = w
        .audit_ops()
        .into_iter()
        .filter(|(who, op)| who == "receiver:gh" && op == "hook.deliver")
        .count();
    assert_eq!(delivered, 5);
}

#[test]
fn a_fetch_makes_revisions_with_provenance_and_fires_the_trigger_once() {
    let mut w = World::new(TriggerPolicy::Queue);
    // The first fetch finds app unchanged from what a client applied: no revision, no rollout.
    let (text1, _) = app(1);
    assert_eq!(w.state.workflow.blueprints["app"][0].source, text1);
    let r = w.fetched("c0", 1);
    assert_eq!(
        r,
        HooksResult::Fetched {
            revisions: vec![],
            rollouts: vec![]
        }
    );
    assert!(w.state.hooks.sources["src"].pending.is_none());
    // A push, then the fetch of its commit: app@2 from c1, one rollout to it.
    w.push("d-1", URL, "refs/heads/main", "c1");
    let r = w.fetched("c1", 2);
    let HooksResult::Fetched {
        revisions,
        rollouts,
    } = r
    else {
        panic!("{r:?}")
    };
    assert_eq!(revisions, [("app".to_string(), 2)]);
    assert_eq!(rollouts.len(), 1);
    let rev = &w.state.workflow.blueprints["app"][1];
    let origin = rev.origin.as_ref().expect("provenance");
    assert_eq!(
        (
            origin.source.as_str(),
            origin.commit.as_str(),
            origin.path.as_str()
        ),
        ("src", "c1", "blueprints/app.yaml")
    );
    let rollout = &w.state.workflow.rollouts.rollouts[&rollouts[0]];
    assert!(matches!(
        rollout.action,
        RolloutAction::Update {
            revision: Some(2),
            ..
        }
    ));
    let src = &w.state.hooks.sources["src"];
    assert_eq!(src.commit.as_deref(), Some("c1"));
    assert_eq!(
        src.blueprints["blueprints/app.yaml"],
        ("app".to_string(), 2)
    );
    // The same commit fetched again (a redelivery's or a poll's fetch): nothing new.
    let r = w.fetched("c1", 2);
    assert_eq!(
        r,
        HooksResult::Fetched {
            revisions: vec![],
            rollouts: vec![]
        }
    );
    assert_eq!(w.state.workflow.rollouts.rollouts.len(), 1);
    let ops = w.audit_ops();
    assert!(ops.contains(&("source:src".into(), "source.fetch".into())));
    assert!(ops.contains(&("source:src".into(), "trigger.fire".into())));
}

#[test]
fn a_stale_fetch_is_discarded_and_an_ask_during_a_fetch_stays_pending() {
    let mut w = World::new(TriggerPolicy::Queue);
    let basis = w.state.hooks.sources["src"].basis();
    // A push arrives while the fetch started at `basis` runs.
    w.push("d-1", URL, "refs/heads/main", "c2");
    let r = w.fetched_at(basis, "c1", 2);
    assert!(matches!(r, HooksResult::Fetched { .. }), "{r:?}");
    assert!(
        w.state.hooks.sources["src"].pending.is_some(),
        "the push's ask gets a fetch of its own"
    );
    // The source moves to another branch while a fetch runs: its result is discarded.
    let basis = w.state.hooks.sources["src"].basis();
    let now = w.now;
    w.hooks(HooksCommand::PutSource {
        spec: SourceSpec {
            name: "src".into(),
            url: URL.into(),
            branch: "release".into(),
            path: "blueprints".into(),
            credentials_file: None,
            poll_ms: 0,
        },
        now_ms: now,
    });
    let revisions_before = w.state.workflow.blueprints["app"].len();
    let r = w.fetched_at(basis, "c3", 7);
    assert!(matches!(r, HooksResult::Rejected(_)), "{r:?}");
    assert_eq!(w.state.workflow.blueprints["app"].len(), revisions_before);
}

#[test]
fn a_commit_is_applied_whole_or_not_at_all() {
    let mut w = World::new(TriggerPolicy::Queue);
    let (t1, s1) = app(5);
    let (t2, s2) = app(6);
    let basis = w.state.hooks.sources["src"].basis();
    let now = w.now;
    let r = w.hooks(HooksCommand::SourceFetched {
        source: "src".into(),
        basis,
        commit: "c1".into(),
        files: vec![
            FetchedFile {
                path: "blueprints/a.yaml".into(),
                spec: s1,
                text: t1,
            },
            FetchedFile {
                path: "blueprints/b.yaml".into(),
                spec: s2,
                text: t2,
            },
        ],
        note: note(),
        now_ms: now,
    });
    let HooksResult::Rejected(e) = r else {
        panic!("{r:?}")
    };
    assert!(e.to_string().contains("both define blueprint app"), "{e}");
    assert_eq!(w.state.workflow.blueprints["app"].len(), 1);
    assert!(w.state.workflow.rollouts.rollouts.is_empty());
    // A failure is reported on the source, and applies nothing.
    let now = w.now;
    w.hooks(HooksCommand::SourceFailed {
        source: "src".into(),
        basis,
        commit: Some("c1".into()),
        error: "blueprints/b.yaml:3:5: unknown field".into(),
        note: note(),
        now_ms: now,
    });
    let src = &w.state.hooks.sources["src"];
    let err = src.error.as_ref().expect("error recorded");
    assert!(err.message.contains("b.yaml:3:5"));
    assert_eq!(err.commit.as_deref(), Some("c1"));
    assert!(src.pending.is_none());
    assert_eq!(w.state.workflow.blueprints["app"].len(), 1);
}

#[test]
fn queue_policy_runs_one_rollout_at_a_time_and_keeps_the_newest_waiting() {
    let mut w = World::new(TriggerPolicy::Queue);
    let HooksResult::Fetched { rollouts, .. } = w.fetched("c1", 2) else {
        panic!()
    };
    let first = rollouts[0].clone();
    assert!(
        matches!(w.fetched("c2", 3), HooksResult::Fetched { rollouts, .. } if rollouts.is_empty())
    );
    assert!(
        matches!(w.fetched("c3", 4), HooksResult::Fetched { rollouts, .. } if rollouts.is_empty())
    );
    let t = &w.state.hooks.triggers["t"];
    assert_eq!(t.queued, Some(4));
    let outcomes: Vec<(u64, FiringOutcome)> =
        t.firings.iter().map(|f| (f.revision, f.outcome)).collect();
    assert_eq!(
        outcomes,
        [
            (2, FiringOutcome::Started),
            (3, FiringOutcome::Superseded),
            (4, FiringOutcome::Queued)
        ]
    );
    // Advancing while the first still runs does nothing.
    let now = w.now;
    assert_eq!(
        w.hooks(HooksCommand::AdvanceTrigger {
            name: "t".into(),
            note: note(),
            now_ms: now
        }),
        HooksResult::Done
    );
    // It ends (cancelled here); the queued revision starts.
    let now = w.now;
    w.workflow(WorkflowCommand::ControlRollout {
        id: first.clone(),
        op: RolloutOp::Cancel,
        now_ms: now,
    });
    let now = w.now;
    let r = w.hooks(HooksCommand::AdvanceTrigger {
        name: "t".into(),
        note: note(),
        now_ms: now,
    });
    let HooksResult::Fetched { rollouts, .. } = r else {
        panic!("{r:?}")
    };
    assert_eq!(rollouts.len(), 1);
    let r = &w.state.workflow.rollouts.rollouts[&rollouts[0]];
    assert!(matches!(
        r.action,
        RolloutAction::Update {
            revision: Some(4),
            ..
        }
    ));
    assert_eq!(w.state.hooks.triggers["t"].queued, None);
}

#[test]
fn supersede_policy_cancels_the_running_rollout() {
    let mut w = World::new(TriggerPolicy::Supersede);
    let HooksResult::Fetched { rollouts, .. } = w.fetched("c1", 2) else {
        panic!()
    };
    let first = rollouts[0].clone();
    let HooksResult::Fetched { rollouts, .. } = w.fetched("c2", 3) else {
        panic!()
    };
    assert_eq!(rollouts.len(), 1);
    assert!(w.state.workflow.rollouts.rollouts[&first].state.is_ended());
    let last = w.state.hooks.triggers["t"].firings.back().unwrap().clone();
    assert_eq!(last.outcome, FiringOutcome::Started);
    assert!(last.error.contains(&format!("cancelled rollout {first}")));
}

#[test]
fn a_trigger_refuses_a_group_of_other_blueprints_and_records_why() {
    let mut w = World::new(TriggerPolicy::Queue);
    let text =
        "name: db\nresources:\n  - name: x\n    type: sim.resource\n    properties: { v: 1 }\n";
    let now = w.now;
    w.workflow(WorkflowCommand::PutBlueprint {
        spec: blueprint::parse("db.yaml", text).unwrap(),
        source: text.into(),
        now_ms: now,
    });
    w.workflow(WorkflowCommand::CreateEnvironment {
        name: "d1".into(),
        site: "s1".into(),
        blueprint: "db".into(),
        revision: None,
        inputs: Default::default(),
        labels: BTreeMap::new(),
        retry: RetryPolicy::default(),
        now_ms: now,
        drift: None,
    });
    w.workflow(WorkflowCommand::PutGroup {
        group: Group {
            name: "g".into(),
            kind: GroupKind::Environments,
            selector: Selector {
                match_labels: BTreeMap::new(),
                names: vec!["e1".into(), "d1".into()],
            },
            created_ms: now,
            updated_ms: now,
            drift: None,
        },
        now_ms: now,
    });
    let r = w.fetched("c1", 2);
    assert!(
        matches!(r, HooksResult::Fetched { ref rollouts, .. } if rollouts.is_empty()),
        "{r:?}"
    );
    let f = w.state.hooks.triggers["t"].firings.back().unwrap().clone();
    assert_eq!(f.outcome, FiringOutcome::Failed);
    assert!(
        f.error.contains("other blueprints than app (d1)"),
        "{}",
        f.error
    );
    // The revision itself was made: a refused rollout does not undo the fetch.
    assert_eq!(w.state.workflow.blueprints["app"].len(), 2);
}

#[test]
fn a_source_used_by_a_trigger_is_not_deleted_and_bad_specs_are_refused() {
    let mut w = World::new(TriggerPolicy::Queue);
    let r = w.hooks(HooksCommand::DeleteSource { name: "src".into() });
    assert!(
        matches!(&r, HooksResult::Rejected(e) if e.to_string().contains("used by trigger(s) t")),
        "{r:?}"
    );
    let now = w.now;
    let r = w.hooks(HooksCommand::PutSource {
        spec: SourceSpec {
            name: "bad".into(),
            url: "https://me:pw@git.example/acme/bp.git".into(),
            branch: "main..x".into(),
            path: "../etc".into(),
            credentials_file: Some("relative/creds".into()),
            poll_ms: 5,
        },
        now_ms: now,
    });
    let HooksResult::Rejected(e) = r else {
        panic!("{r:?}")
    };
    let e = e.to_string();
    for want in [
        "holds credentials",
        "branch",
        "no ..",
        "absolute path",
        "poll interval",
    ] {
        assert!(e.contains(want), "{want}: {e}");
    }
    let r = w.hooks(HooksCommand::PutReceiver {
        spec: ReceiverSpec {
            name: "short".into(),
            kind: ReceiverKind::Standard,
            secret: "abc".into(),
            max_body_bytes: 0,
            rate_per_minute: 0,
            tolerance_s: 0,
        },
        now_ms: now,
    });
    assert!(
        matches!(&r, HooksResult::Rejected(e) if e.to_string().contains("at least 16")),
        "{r:?}"
    );
}
