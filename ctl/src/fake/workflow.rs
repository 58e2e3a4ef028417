//! The fake member's `WorkflowApi`: a scripted execution watch, environments kept in the
//! shared state (`state.rs`), and fixed answers for the rest.

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use moor_proto::hooks::hook_api_server::HookApiServer;
use moor_proto::rollout::rollout_api_server::RolloutApiServer;
use moor_proto::workflow as pb;
use moor_proto::workflow::workflow_api_server::{WorkflowApi, WorkflowApiServer};
use tonic::{Request, Response, Status};

use super::hooks::FakeHooks;
use super::rollout::FakeRollout;
use super::state::{check_policy, diff, with_state, FakeState, Shared};

/// What a fake member streams to a `WatchExecution`.
#[derive(Clone, Debug)]
pub enum WatchScript {
    /// These updates, then the end of the stream (the last one should be terminal).
    End(Vec<pb::Execution>),
    /// These updates, then `UNAVAILABLE`, as a member that shuts down mid-watch.
    Break(Vec<pb::Execution>),
    /// `NOT_FOUND` as the first item, as a member does for an unknown id.
    NotFound,
    /// These updates, then the stream stays open, as a member's does for an execution that
    /// is not terminal (an interrupted one, waiting to be resumed).
    Hold(Vec<pb::Execution>),
}

/// A fake member serving `WorkflowApi`: the watch follows a script; environments live in
/// the shared state; the other calls give fixed answers, enough for the commands' tests (a
/// blueprint source containing `invalid` is refused with a multi-line diagnostic, as a
/// member refuses a bad blueprint; one containing [`problems_marker`] has that many
/// problems, see [`fake_problems`]).
struct FakeWorkflow {
    watch: WatchScript,
    calls: Arc<AtomicUsize>,
    state: Shared,
}

impl FakeWorkflow {
    fn answer<T>(&self, value: T) -> Result<Response<T>, Status> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(Response::new(value))
    }

    /// Counts the call and answers with what `f` makes of the state.
    fn with_state<T>(
        &self,
        f: impl FnOnce(&mut FakeState) -> Result<T, Status>,
    ) -> Result<Response<T>, Status> {
        with_state(&self.calls, &self.state, f)
    }
}

/// The executions a fake member lists: their ids and states.
pub const FAKE_EXECUTIONS: [(&str, &str); 3] = [
    ("x1", "succeeded"),
    ("x2", "interrupted"),
    ("x3", "running"),
];

/// The commit a fake member's Git source made revisions from.
pub const FAKE_COMMIT: &str = "c0ffee0123456789abcdef0123456789abcdef01";

/// The diagnostics a fake member gives for a blueprint containing `invalid`.
pub const FAKE_DIAGNOSTICS: &str = "webshop.yaml:3:5: error: unknown field `resorces`\n  \
                                    hint: did you mean `resources`?";

/// A line that gives a blueprint source `n` problems in a fake member's eyes.
pub fn problems_marker(n: usize) -> String {
    format!("# fake-problems: {n}\n")
}

/// The `n` of a [`problems_marker`] in `yaml`.
fn marked_problems(yaml: &str) -> Option<usize> {
    let rest = yaml.split("# fake-problems: ").nth(1)?;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// Most problems a fake member lists in a `validate_only` answer (the proto's limit); the
/// last one then counts the rest.
const FAKE_MAX_PROBLEMS: usize = 100;
/// Most problems a fake member lists in a refusal's status message.
const FAKE_PROBLEMS_IN_STATUS: usize = 20;

/// `n` problems in `source`, one a line, every other one with a hint, as a member lists
/// them: at most [`FAKE_MAX_PROBLEMS`], the last then counting the rest.
fn fake_problems(source: &str, n: usize) -> Vec<pb::BlueprintProblem> {
    let problem = |i: usize| pb::BlueprintProblem {
        source: source.to_string(),
        line: i as u32 + 1,
        column: 3,
        message: format!("unknown resource type `nope{i}`"),
        hint: if i % 2 == 0 {
            "known types: sim.resource, kubernetes.manifest".into()
        } else {
            String::new()
        },
    };
    if n <= FAKE_MAX_PROBLEMS {
        return (0..n).map(problem).collect();
    }
    let shown = FAKE_MAX_PROBLEMS - 1;
    let mut problems: Vec<_> = (0..shown).map(problem).collect();
    problems.push(pb::BlueprintProblem {
        message: format!("{} more problems from here on are not shown", n - shown),
        hint: "fix the ones above and push again".into(),
        ..problem(shown)
    });
    problems
}

/// A member's refusal of a blueprint with `n` problems: the first few, then how many more.
fn fake_refusal(source: &str, n: usize) -> Status {
    let mut message = format!("blueprint {source} is not valid: {n} problem(s)");
    for p in fake_problems(source, n)
        .iter()
        .take(FAKE_PROBLEMS_IN_STATUS)
    {
        let (line, column) = (p.line, p.column);
        message.push_str(&format!("\n{source}:{line}:{column}: error: {}", p.message));
    }
    if n > FAKE_PROBLEMS_IN_STATUS {
        message.push_str(&format!(
            "\n… and {} more: run `moorctl blueprint validate {source}` to list them all",
            n - FAKE_PROBLEMS_IN_STATUS
        ));
    }
    Status::invalid_argument(message)
}

type FakeStream = Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::Execution, Status>> + Send>>;

#[tonic::async_trait]
impl WorkflowApi for FakeWorkflow {
    async fn apply_blueprint(
        &self,
        r: Request<pb::ApplyBlueprintRequest>,
    ) -> Result<Response<pb::ApplyBlueprintResponse>, Status> {
        let r = r.into_inner();
        let marked = marked_problems(&r.yaml);
        if r.validate_only {
            let n = marked.unwrap_or(usize::from(r.yaml.contains("invalid")));
            return self.answer(pb::ApplyBlueprintResponse {
                name: if n == 0 {
                    "webshop".into()
                } else {
                    String::new()
                },
                problems: fake_problems(&r.source_name, n),
                ..Default::default()
            });
        }
        if let Some(n) = marked.filter(|n| *n > 0) {
            self.calls.fetch_add(1, Ordering::SeqCst);
            return Err(fake_refusal(&r.source_name, n));
        }
        if r.yaml.contains("invalid") {
            self.calls.fetch_add(1, Ordering::SeqCst);
            return Err(Status::invalid_argument(FAKE_DIAGNOSTICS));
        }
        self.answer(pb::ApplyBlueprintResponse {
            name: "webshop".into(),
            revision: 3,
            created: !r.yaml.contains("unchanged"),
            problems: Vec::new(),
        })
    }
    async fn list_blueprints(
        &self,
        _: Request<pb::ListBlueprintsRequest>,
    ) -> Result<Response<pb::ListBlueprintsResponse>, Status> {
        self.answer(pb::ListBlueprintsResponse::default())
    }
    async fn get_blueprint(
        &self,
        r: Request<pb::GetBlueprintRequest>,
    ) -> Result<Response<pb::GetBlueprintResponse>, Status> {
        // Revision 1 applied by hand, revision 2 made by the Git source `shop`.
        let origin = pb::RevisionOrigin {
            revision: 2,
            source: "shop".into(),
            commit: FAKE_COMMIT.into(),
            path: "blueprints/hello.yaml".into(),
            created_ms: 1,
        };
        self.answer(pb::GetBlueprintResponse {
            name: r.into_inner().name,
            revision: 2,
            source: "name: hello\n".into(),
            created_ms: 1,
            revisions: vec![1, 2],
            origin_source: origin.source.clone(),
            origin_commit: origin.commit.clone(),
            origin_path: origin.path.clone(),
            origins: vec![
                pb::RevisionOrigin {
                    revision: 1,
                    ..Default::default()
                },
                origin,
            ],
        })
    }
    async fn put_site(
        &self,
        r: Request<pb::PutSiteRequest>,
    ) -> Result<Response<pb::PutSiteResponse>, Status> {
        let created = r.into_inner().site.is_some_and(|s| s.name.ends_with('1'));
        self.answer(pb::PutSiteResponse { created })
    }
    async fn list_sites(
        &self,
        _: Request<pb::ListSitesRequest>,
    ) -> Result<Response<pb::ListSitesResponse>, Status> {
        self.answer(pb::ListSitesResponse::default())
    }
    async fn get_site(&self, r: Request<pb::GetSiteRequest>) -> Result<Response<pb::Site>, Status> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Err(Status::not_found(format!(
            "site {} not found",
            r.into_inner().name
        )))
    }
    async fn create_environment(
        &self,
        r: Request<pb::CreateEnvironmentRequest>,
    ) -> Result<Response<pb::ExecutionRef>, Status> {
        let r = r.into_inner();
        self.with_state(|state| {
            if let Some(p) = &r.drift {
                check_policy(p)?;
            }
            if state.environments.contains_key(&r.name) {
                return Err(Status::failed_precondition(format!(
                    "environment {} already exists: start an update on it instead",
                    r.name
                )));
            }
            let env = pb::Environment {
                name: r.name.clone(),
                site: r.site,
                blueprint: r.blueprint,
                revision: r.revision.max(1),
                status: "installing".into(),
                inputs_json: r.inputs_json,
                labels: r.labels,
                current_execution: "x1".into(),
                latest_execution: "x1".into(),
                drift: r.drift,
                ..Default::default()
            };
            state.environments.insert(r.name, env);
            state.resolve();
            Ok(pb::ExecutionRef {
                id: "x1".into(),
                state: "running".into(),
            })
        })
    }
    async fn list_environments(
        &self,
        _: Request<pb::ListEnvironmentsRequest>,
    ) -> Result<Response<pb::ListEnvironmentsResponse>, Status> {
        self.with_state(|state| {
            Ok(pb::ListEnvironmentsResponse {
                environments: state.environments.values().cloned().collect(),
            })
        })
    }
    async fn get_environment(
        &self,
        r: Request<pb::GetEnvironmentRequest>,
    ) -> Result<Response<pb::Environment>, Status> {
        self.with_state(|state| state.environment(&r.into_inner().name))
    }
    async fn set_environment_drift(
        &self,
        r: Request<pb::SetEnvironmentDriftRequest>,
    ) -> Result<Response<pb::Environment>, Status> {
        let r = r.into_inner();
        self.with_state(|state| {
            if let Some(p) = &r.drift {
                check_policy(p)?;
            }
            state.environment(&r.environment)?;
            if let Some(env) = state.environments.get_mut(&r.environment) {
                env.drift = r.drift;
            }
            state.resolve();
            state.environment(&r.environment)
        })
    }
    async fn diff_environment(
        &self,
        r: Request<pb::EnvironmentDiffRequest>,
    ) -> Result<Response<pb::EnvironmentDiffResponse>, Status> {
        self.with_state(|state| Ok(diff(&state.environment(&r.into_inner().name)?)))
    }
    async fn start_execution(
        &self,
        _: Request<pb::StartExecutionRequest>,
    ) -> Result<Response<pb::ExecutionRef>, Status> {
        self.answer(pb::ExecutionRef {
            id: "x1".into(),
            state: "queued".into(),
        })
    }
    /// [`FAKE_EXECUTIONS`], of every environment.
    async fn list_executions(
        &self,
        _: Request<pb::ListExecutionsRequest>,
    ) -> Result<Response<pb::ListExecutionsResponse>, Status> {
        let executions = FAKE_EXECUTIONS
            .iter()
            .map(|(id, state)| pb::Execution {
                id: id.to_string(),
                environment: "shop-1".into(),
                kind: "update".into(),
                state: state.to_string(),
                ..Default::default()
            })
            .collect();
        self.answer(pb::ListExecutionsResponse { executions })
    }
    async fn get_execution(
        &self,
        _: Request<pb::GetExecutionRequest>,
    ) -> Result<Response<pb::Execution>, Status> {
        self.answer(pb::Execution::default())
    }
    async fn resume_execution(
        &self,
        r: Request<pb::ExecutionActionRequest>,
    ) -> Result<Response<pb::ExecutionRef>, Status> {
        self.answer(pb::ExecutionRef {
            id: r.into_inner().id,
            state: "running".into(),
        })
    }
    async fn cancel_execution(
        &self,
        r: Request<pb::ExecutionActionRequest>,
    ) -> Result<Response<pb::ExecutionRef>, Status> {
        self.answer(pb::ExecutionRef {
            id: r.into_inner().id,
            state: "cancelled".into(),
        })
    }
    async fn rollback(
        &self,
        _: Request<pb::RollbackRequest>,
    ) -> Result<Response<pb::ExecutionRef>, Status> {
        self.answer(pb::ExecutionRef {
            id: "x2".into(),
            state: "running".into(),
        })
    }

    type WatchExecutionStream = FakeStream;

    async fn watch_execution(
        &self,
        r: Request<pb::WatchExecutionRequest>,
    ) -> Result<Response<FakeStream>, Status> {
        let id = r.into_inner().id;
        if let WatchScript::Hold(updates) = self.watch.clone() {
            use tokio_stream::StreamExt;
            let open =
                tokio_stream::iter(updates.into_iter().map(Ok)).chain(tokio_stream::pending());
            return self.answer(Box::pin(open) as FakeStream);
        }
        let items: Vec<Result<pb::Execution, Status>> = match self.watch.clone() {
            WatchScript::End(updates) => updates.into_iter().map(Ok).collect(),
            WatchScript::Break(updates) => updates
                .into_iter()
                .map(Ok)
                .chain([Err(Status::unavailable("member is shutting down"))])
                .collect(),
            WatchScript::NotFound => {
                vec![Err(Status::not_found(format!("execution {id} not found")))]
            }
            WatchScript::Hold(_) => unreachable!("answered above"),
        };
        self.answer(Box::pin(tokio_stream::iter(items)) as FakeStream)
    }
}

/// Serves a fake workflow member (`WorkflowApi` and `RolloutApi` over one state, and
/// `HookApi`) on a loopback port for the rest of the test; returns its address and its
/// request counter.
pub async fn fake_workflow(watch: WatchScript) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let calls = Arc::new(AtomicUsize::new(0));
    let state = FakeState::new();
    let fake = FakeWorkflow {
        watch,
        calls: calls.clone(),
        state: state.clone(),
    };
    let rollout = FakeRollout::new(calls.clone(), state);
    let hooks = FakeHooks::new(calls.clone());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(WorkflowApiServer::new(fake))
            .add_service(RolloutApiServer::new(rollout))
            .add_service(HookApiServer::new(hooks))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    (addr, calls)
}
