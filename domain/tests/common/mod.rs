//! The seeded command generator shared by the property test and the golden files: long
//! random sequences of commands — valid, stale, duplicated, out of order, naming things that
//! do not exist — driven by the state they are applied to.

#![allow(dead_code)]

use std::collections::BTreeMap;

use moor_domain::auth::Retention;
use moor_domain::blueprint::{self, BlueprintSpec};
use moor_domain::cluster::ClusterCommand;
use moor_domain::command::Command;
use moor_domain::drift::{DriftPolicy, OnDrift};
use moor_domain::environment::Inputs;
use moor_domain::execution::{ExecKind, RetryPolicy, StepOutcome, StepState};
use moor_domain::hooks::receiver::{DeliveryIn, Payload, ReceiverKind, ReceiverSpec};
use moor_domain::hooks::source::{FetchBasis, FetchedFile, SourceSpec};
use moor_domain::hooks::trigger::{TriggerPolicy, TriggerSpec};
use moor_domain::hooks::{AuditNote, HooksCommand};
use moor_domain::kv::KvCommand;
use moor_domain::names::WireName;
use moor_domain::rollout::{
    FailureBudget, Group, GroupKind, RolloutAction, RolloutOp, RolloutSpec, Selector, WaveSize,
    WavesSpec,
};
use moor_domain::site::{Driver, Site};
use moor_domain::state::MoorState;
use moor_domain::workflow::{Checkpoint, ObserveBasis, WorkflowCommand};

pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const BP_A: &str = "name: app\ninputs:\n  size: { type: number, default: 1 }\nresources:\n  - name: a\n    type: sim.resource\n    properties: { v: \"${inputs.size}\" }\n  - name: b\n    type: sim.resource\n    depends_on: [a]\n    properties: { v: 2 }\n  - name: c\n    type: sim.resource\n    depends_on: [a]\n    properties: { w: \"${var:color}\" }\n";
const BP_B: &str = "name: app\ninputs:\n  size: { type: number, default: 1 }\nresources:\n  - name: a\n    type: sim.resource\n    properties: { v: 10 }\n  - name: d\n    type: sim.resource\n    depends_on: [a]\n    properties: { v: 20 }\n";
const BP_C: &str =
    "name: db\nresources:\n  - name: x\n    type: sim.resource\n    properties: { v: 1 }\n";

pub struct World {
    specs: Vec<(BlueprintSpec, String)>,
}

fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

impl World {
    pub fn new() -> Self {
        let specs = [BP_A, BP_B, BP_C]
            .iter()
            .map(|src| {
                (
                    blueprint::parse("bp.yaml", src).expect("valid"),
                    src.to_string(),
                )
            })
            .collect();
        World { specs }
    }

    fn inputs(&self, rng: &mut Rng) -> Inputs {
        match rng.below(5) {
            0 => Inputs::new(),
            1 => [("size".to_string(), serde_json::json!(rng.below(5)))].into(),
            2 => [("size".to_string(), serde_json::json!("not a number"))].into(),
            // A value a member sealed (any type passes: the member checked it).
            3 => [("size".to_string(), serde_json::json!(sealed_token(rng)))].into(),
            _ => [("nope".to_string(), serde_json::json!(true))].into(),
        }
    }

    /// A reseal of one of the few tokens [`sealed_token`] makes: usually to the same
    /// fingerprint under another key, sometimes (refused) to another fingerprint.
    fn reseal(&self, rng: &mut Rng, envs: &[String], now_ms: u64) -> WorkflowCommand {
        let fp = rng.below(3);
        let from = *rng.pick(&["k1", "k2"]);
        let to = *rng.pick(&["k2", "k3"]);
        let old = token(from, fp);
        let new_fp = if rng.chance(80) { fp } else { (fp + 1) % 3 };
        WorkflowCommand::ResealInputs {
            environment: rng.pick(envs).clone(),
            replace: [(old, token(to, new_fp))].into(),
            now_ms,
        }
    }

    fn site(&self, rng: &mut Rng) -> Site {
        Site {
            name: rng.pick(&names("s", 4)).clone(),
            region: rng.pick(&["eu".to_string(), "us".to_string()]).clone(),
            latitude: if rng.chance(10) { 123.0 } else { 10.0 },
            longitude: 20.0,
            labels: [("tier".to_string(), rng.pick(&["edge", "core"]).to_string())]
                .into_iter()
                .collect(),
            driver: if rng.chance(15) {
                Driver::Kubernetes {
                    kubeconfig: "/etc/moor/k.kubeconfig".into(),
                    context: rng.chance(50).then(|| "prod".to_string()),
                }
            } else {
                Driver::Agent {
                    endpoint: if rng.chance(5) {
                        "nowhere".into()
                    } else {
                        "127.0.0.1:9".into()
                    },
                }
            },
        }
    }

    /// A checkpoint that the state makes plausible (a ready step, the latest attempt's
    /// result), or a stale / duplicated / made-up one.
    fn checkpoint(&self, rng: &mut Rng, state: &MoorState) -> Checkpoint {
        let running: Vec<&String> = state.workflow.running.iter().collect();
        let execs = names("x", 40);
        let plausible = !running.is_empty() && rng.chance(80);
        let execution = if plausible {
            (*rng.pick(&running)).clone()
        } else {
            rng.pick(&execs).clone()
        };
        let exec = state.workflow.executions.get(&execution);
        let n = exec.map_or(3, |e| e.steps.len().max(1)) as u64;
        let step = if plausible {
            rng.below(n)
        } else {
            rng.below(n + 2)
        } as u32;
        let current = exec.and_then(|e| e.steps.get(step as usize));
        if current.is_some_and(|s| s.state == StepState::Dispatched) && rng.chance(75) {
            let attempt = current.map_or(1, |s| s.attempt);
            let attempt = if rng.chance(90) {
                attempt
            } else {
                attempt.saturating_sub(1)
            };
            let outcome = if rng.chance(80) {
                StepOutcome::Done {
                    observed_digest: format!("d{}", rng.below(3)),
                }
            } else {
                StepOutcome::Failed {
                    error: format!("boom {}", rng.below(3)),
                    retryable: rng.chance(50),
                }
            };
            Checkpoint::Result {
                execution,
                step,
                attempt,
                outcome,
            }
        } else {
            Checkpoint::Dispatch { execution, step }
        }
    }

    fn rollout(&self, rng: &mut Rng) -> RolloutSpec {
        let action = match rng.below(5) {
            0 => RolloutAction::Install {
                blueprint: rng.pick(&["app", "db", "missing"]).to_string(),
                revision: rng.below(3) + 1,
                inputs: self.inputs(rng),
                environment_name: rng.pick(&["{blueprint}-{site}", "fixed"]).to_string(),
                labels: BTreeMap::new(),
            },
            1 => RolloutAction::Update {
                revision: rng.chance(50).then(|| rng.below(4)),
                inputs: rng.chance(30).then(|| self.inputs(rng)),
            },
            2 => RolloutAction::Uninstall,
            3 => RolloutAction::Heal,
            _ => RolloutAction::Rollback,
        };
        let waves = match rng.below(4) {
            0 => vec![],
            1 => vec![WaveSize::Count(1), WaveSize::Percent(100)],
            2 => vec![WaveSize::Percent(50), WaveSize::Percent(10)],
            _ => vec![WaveSize::Count(rng.below(3) as u32), WaveSize::Percent(100)],
        };
        RolloutSpec {
            group: rng.pick(&names("g", 3)).clone(),
            action,
            retry: RetryPolicy {
                max_attempts: rng.below(3) as u32 + 1,
                backoff_base_ms: rng.below(50),
                backoff_max_ms: 100,
                step_timeout_ms: if rng.chance(5) { u64::MAX } else { 1_000 },
            },
            max_parallel: rng.below(4) as u32,
            waves: WavesSpec {
                text: format!("{waves:?}"),
                waves,
            },
            require_approval: rng.chance(30),
            budget: FailureBudget {
                max_failed: rng.chance(30).then(|| rng.below(3) as u32),
                max_failed_percent: rng.chance(20).then(|| rng.below(150) as u32),
            },
        }
    }

    /// Usually none; sometimes notify or heal with a small cap (so the cap is reached), and
    /// now and then an invalid one (refused).
    fn drift_policy(&self, rng: &mut Rng) -> Option<DriftPolicy> {
        if !rng.chance(40) {
            return None;
        }
        Some(DriftPolicy {
            check_every_ms: if rng.chance(90) { 60_000 } else { 5 },
            on_drift: if rng.chance(70) {
                OnDrift::Heal
            } else {
                OnDrift::Notify
            },
            max_heals_per_hour: rng.below(3) as u32,
        })
    }

    fn workflow(&self, rng: &mut Rng, state: &MoorState, now_ms: u64) -> WorkflowCommand {
        let envs = names("e", 8);
        let execs = names("x", 40);
        let rollouts = names("r", 6);
        match rng.below(18) {
            17 => self.reseal(rng, &envs, now_ms),
            0 => {
                let (spec, source) = rng.pick(&self.specs).clone();
                WorkflowCommand::PutBlueprint {
                    spec,
                    source,
                    now_ms,
                }
            }
            1 => WorkflowCommand::PutSite {
                site: self.site(rng),
                now_ms,
            },
            2 => WorkflowCommand::CreateEnvironment {
                name: rng.pick(&envs).clone(),
                site: rng.pick(&names("s", 5)).clone(),
                blueprint: rng.pick(&["app", "db", "missing"]).to_string(),
                revision: rng.chance(30).then(|| rng.below(4)),
                inputs: self.inputs(rng),
                labels: [("tier".to_string(), "edge".to_string())].into(),
                retry: RetryPolicy::default(),
                now_ms,
                drift: self.drift_policy(rng),
            },
            3 => WorkflowCommand::StartExecution {
                environment: rng.pick(&envs).clone(),
                kind: *rng.pick(&[
                    ExecKind::Install,
                    ExecKind::Update,
                    ExecKind::Uninstall,
                    ExecKind::Heal,
                    ExecKind::Rollback,
                ]),
                revision: rng.chance(50).then(|| rng.below(4)),
                inputs: rng.chance(30).then(|| self.inputs(rng)),
                retry: RetryPolicy {
                    max_attempts: rng.below(3) as u32 + 1,
                    ..RetryPolicy::default()
                },
                now_ms,
            },
            4 => WorkflowCommand::Resume {
                execution: rng.pick(&execs).clone(),
                now_ms,
            },
            5 => WorkflowCommand::Cancel {
                execution: rng.pick(&execs).clone(),
                now_ms,
            },
            6..=9 => WorkflowCommand::Checkpoints {
                now_ms,
                items: (0..rng.below(4) + 1)
                    .map(|_| self.checkpoint(rng, state))
                    .collect(),
                dispatch_budget: rng.below(6) as u32,
            },
            10 => {
                let environment = rng.pick(&envs).clone();
                let latest = state
                    .workflow
                    .environments
                    .get(&environment)
                    .and_then(|e| e.latest_execution.clone());
                WorkflowCommand::Observed {
                    environment,
                    resources: [(
                        rng.pick(&["a", "b", "c", "zz"]).to_string(),
                        rng.chance(70).then(|| format!("d{}", rng.below(3))),
                    )]
                    .into(),
                    now_ms,
                    // Mostly the environment's real latest execution (the observation counts),
                    // sometimes another (it raced an execution and is discarded).
                    basis: rng.chance(70).then(|| ObserveBasis {
                        latest_execution: if rng.chance(80) {
                            latest
                        } else {
                            Some(rng.pick(&execs).clone())
                        },
                    }),
                }
            }
            11 => {
                if rng.chance(80) {
                    let kind = if rng.chance(50) {
                        GroupKind::Sites
                    } else {
                        GroupKind::Environments
                    };
                    WorkflowCommand::PutGroup {
                        group: Group {
                            name: rng.pick(&names("g", 3)).clone(),
                            kind,
                            selector: Selector {
                                match_labels: if rng.chance(50) {
                                    [("tier".to_string(), "edge".to_string())].into()
                                } else {
                                    BTreeMap::new()
                                },
                                names: if rng.chance(20) {
                                    vec![rng.pick(&envs).clone()]
                                } else {
                                    vec![]
                                },
                            },
                            created_ms: 0,
                            updated_ms: 0,
                            drift: self.drift_policy(rng),
                        },
                        now_ms,
                    }
                } else {
                    WorkflowCommand::DeleteGroup {
                        name: rng.pick(&names("g", 3)).clone(),
                    }
                }
            }
            12 => WorkflowCommand::StartRollout {
                spec: self.rollout(rng),
                now_ms,
            },
            13 => {
                let cap = rng.below(3) as u32;
                WorkflowCommand::ControlRollout {
                    id: rng.pick(&rollouts).clone(),
                    op: *rng.pick(&[
                        RolloutOp::Pause,
                        RolloutOp::Resume,
                        RolloutOp::Cancel,
                        RolloutOp::Approve,
                        RolloutOp::SetMaxParallel(cap),
                        RolloutOp::Rollback,
                    ]),
                    now_ms,
                }
            }
            15 => WorkflowCommand::SetDriftPolicy {
                environment: rng.pick(&envs).clone(),
                policy: self.drift_policy(rng),
                now_ms,
            },
            16 => WorkflowCommand::SiteReachability {
                site: rng.pick(&names("s", 6)).clone(),
                error: rng.chance(60).then(|| "connection refused".to_string()),
                now_ms,
            },
            _ => WorkflowCommand::SetRolloutLimits {
                max_parallel_total: rng.below(6) as u32,
                now_ms,
            },
        }
    }

    /// Webhook, source and trigger commands: deliveries with repeated ids, fetches against
    /// current and stale bases, triggers on groups that may hold other blueprints.
    fn hooks(&self, rng: &mut Rng, state: &MoorState, now_ms: u64) -> HooksCommand {
        let note = AuditNote {
            member: rng.below(3) + 1,
            peer: "127.0.0.1:1".into(),
            retention: Retention {
                max_entries: 50,
                max_age_ms: 0,
            },
        };
        let source = rng.pick(&names("src", 2)).clone();
        let basis = match state.hooks.sources.get(&source) {
            Some(s) if rng.chance(80) => s.basis(),
            _ => FetchBasis {
                version: rng.below(3),
                asks: rng.below(3),
            },
        };
        let url = |rng: &mut Rng| {
            rng.pick(&[
                "https://git.example/acme/bp.git",
                "https://GIT.example/acme/bp",
                "file:///srv/other.git",
            ])
            .to_string()
        };
        match rng.below(9) {
            0 => HooksCommand::PutReceiver {
                spec: ReceiverSpec {
                    name: rng.pick(&names("r", 2)).clone(),
                    kind: *rng.pick(ReceiverKind::ALL),
                    secret: if rng.chance(90) {
                        "0123456789abcdef0123".into()
                    } else {
                        String::new()
                    },
                    max_body_bytes: 0,
                    rate_per_minute: 0,
                    tolerance_s: 0,
                },
                now_ms,
            },
            1 => HooksCommand::PutSource {
                spec: SourceSpec {
                    name: source,
                    url: url(rng),
                    branch: rng.pick(&["main", "dev"]).to_string(),
                    path: "blueprints".into(),
                    credentials_file: None,
                    poll_ms: 0,
                },
                now_ms,
            },
            2 => HooksCommand::RecordDelivery {
                receiver: rng.pick(&names("r", 2)).clone(),
                delivery: DeliveryIn {
                    id: rng.pick(&names("d", 6)).clone(),
                    event: "push".into(),
                    payload: match rng.below(4) {
                        0 => Payload::Ping,
                        1 => Payload::Other {
                            reason: "issues event".into(),
                        },
                        _ => Payload::Push {
                            repository: "acme/bp".into(),
                            urls: vec![url(rng)],
                            git_ref: rng
                                .pick(&["refs/heads/main", "refs/heads/dev", "refs/tags/v1"])
                                .to_string(),
                            commit: format!("{:040x}", rng.below(5)),
                        },
                    },
                },
                note,
                now_ms,
            },
            3 | 4 => {
                let files = (0..rng.below(3))
                    .map(|i| {
                        let (spec, text) = rng.pick(&self.specs).clone();
                        FetchedFile {
                            path: format!("blueprints/{i}.yaml"),
                            spec,
                            text,
                        }
                    })
                    .collect();
                HooksCommand::SourceFetched {
                    source,
                    basis,
                    commit: format!("{:040x}", rng.below(5)),
                    files,
                    note,
                    now_ms,
                }
            }
            5 => HooksCommand::SourceFailed {
                source,
                basis,
                commit: None,
                error: "unreachable".into(),
                note,
                now_ms,
            },
            6 => HooksCommand::PutTrigger {
                spec: TriggerSpec {
                    name: rng.pick(&names("t", 2)).clone(),
                    source,
                    blueprint: rng.pick(&["app", "db"]).to_string(),
                    rollout: RolloutSpec {
                        action: RolloutAction::Update {
                            revision: None,
                            inputs: None,
                        },
                        ..self.rollout(rng)
                    },
                    policy: *rng.pick(TriggerPolicy::ALL),
                },
                now_ms,
            },
            7 => HooksCommand::AdvanceTrigger {
                name: rng.pick(&names("t", 2)).clone(),
                note,
                now_ms,
            },
            _ => match rng.below(4) {
                0 => HooksCommand::DeleteSource { name: source },
                1 => HooksCommand::DeleteTrigger {
                    name: rng.pick(&names("t", 2)).clone(),
                },
                2 => HooksCommand::DeleteReceiver {
                    name: rng.pick(&names("r", 2)).clone(),
                },
                _ => HooksCommand::SyncSource {
                    name: source,
                    now_ms,
                },
            },
        }
    }

    pub fn command(&self, rng: &mut Rng, state: &MoorState, now_ms: u64) -> Command {
        match rng.below(20) {
            0 => Command::Kv(KvCommand::Put {
                key: "color".into(),
                value: rng.pick(&["red", "blue"]).as_bytes().to_vec(),
            }),
            1 => Command::Kv(KvCommand::Delete {
                key: "color".into(),
            }),
            2 => Command::Batch(
                (0..rng.below(3) + 1)
                    .map(|_| Command::Workflow(self.workflow(rng, state, now_ms)))
                    .collect(),
            ),
            3 if rng.chance(20) => Command::Batch(vec![Command::Batch(vec![])]),
            4 if rng.chance(70) => Command::Hooks(self.hooks(rng, state, now_ms)),
            5 if rng.chance(10) => Command::Cluster(ClusterCommand::SetIdentity {
                id: rng.pick(&["c-1", "c-2", "", "not valid!"]).to_string(),
            }),
            // Now and then a level rises (or a raise to an equal or lower one is refused),
            // so commands gated by a level meet states below and above it.
            6 if rng.chance(10) => Command::Cluster(ClusterCommand::SetFeatureLevel {
                level: rng.below(4) as u32 + 1,
            }),
            _ => Command::Workflow(self.workflow(rng, state, now_ms)),
        }
    }
}

/// One of six tokens: three fingerprints under two keys.
fn sealed_token(rng: &mut Rng) -> String {
    let key = *rng.pick(&["k1", "k2"]);
    token(key, rng.below(3))
}

fn token(key: &str, fp: u64) -> String {
    moor_domain::sealed::format(key, &format!("{fp:032x}"), &format!("cGF5{key}{fp}"))
}
