//! Git sources and triggers, on the leader only.
//!
//! - **Fetches.** A source is fetched when the state asks for it (`pending`: a matching
//!   push, a sync, a changed source, its creation) and every poll interval. The fetch runs
//!   on a blocking thread through `moor-git` into this member's cache
//!   (`<data_dir>/git-cache/<source>-v<version>`), bounded by [`FETCH_TIMEOUT`] and at most
//!   [`PARALLEL_FETCHES`] at once, one per source. Every blueprint file under the source's
//!   path is parsed and validated here, as a client's blueprint is on arrival; one invalid
//!   file fails the whole commit, reported on the source as `file:line:col: …`, and nothing
//!   of it is applied. Otherwise `SourceFetched` carries all the files, and apply makes
//!   revisions of the changed ones and fires the triggers.
//! - **Quiet polls.** A poll that finds the commit already applied, or the same failure
//!   again, proposes nothing: polling does not grow the log.
//! - **Triggers.** When a trigger's running rollout has ended, the leader proposes
//!   `AdvanceTrigger`, which starts the revision queued behind it.
//!
//! A fetch whose source changed meanwhile (URL, branch, path, credentials) is discarded by
//! apply; a push that arrived during a fetch keeps the source pending, so it gets a fetch of
//! its own. The poll schedule lives in the leader's memory: a new leader polls every source
//! once soon after it takes over.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use moor_domain::auth::Retention;
use moor_domain::command::{Command, CommandResult};
use moor_domain::hooks::source::{FetchBasis, FetchedFile, Source};
use moor_domain::hooks::{AuditNote, HooksCommand, HooksResult};
use moor_git::{Credentials, Limits, Remote};
use openraft::ServerState;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::api::blueprint_check::parse_blueprint;
use crate::exec::executor::now_ms;
use crate::raft::member::{LeaderRequest, Member};

/// Most fetches at once.
pub const PARALLEL_FETCHES: usize = 4;
/// Longest a fetch may take before it is interrupted and reported as failed.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(120);
/// How often the sources and triggers are looked at: a pending ask waits at most this long
/// for its fetch to start (the scan reads a few maps under the state's read lock).
const TICK: Duration = Duration::from_millis(25);
/// Problems listed in a failed commit's error (the rest are counted).
const MAX_PROBLEMS: usize = 10;

/// What the worker needs besides the member.
#[derive(Debug, Clone)]
pub struct SourceSettings {
    /// Where fetched repositories are kept (one bare repository per source and version).
    pub cache_dir: PathBuf,
    /// The audit trail's retention, carried in the commands like a client's stamp.
    pub retention: Retention,
    /// Cache directories a fetch is using now. A fetch's blocking thread outlives a lost
    /// term, so if this member leads again before it ends, the new term must not fetch into
    /// the same repository at the same time (moor-git's rule); it waits for the next tick.
    pub busy: Arc<Mutex<HashSet<PathBuf>>>,
}

/// Runs fetches and trigger advances whenever this member leads, until `shutdown`.
pub async fn run(
    member: Arc<Member>,
    settings: SourceSettings,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut metrics = member.raft.metrics();
    loop {
        let leading = {
            let m = metrics.borrow_and_update();
            (m.state == ServerState::Leader).then_some(m.current_term)
        };
        if let Some(term) = leading {
            let mut run = TermRun::new(member.clone(), settings.clone(), term);
            tokio::select! {
                () = run.run() => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
        }
        tokio::select! {
            changed = metrics.changed() => if changed.is_err() { return },
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}

/// What a fetch found, ready to propose.
enum Outcome {
    Fetched {
        commit: String,
        files: Vec<FetchedFile>,
    },
    Failed {
        commit: Option<String>,
        error: String,
    },
}

struct FetchDone {
    source: String,
    basis: FetchBasis,
    outcome: Outcome,
}

struct TermRun {
    member: Arc<Member>,
    settings: SourceSettings,
    term: u64,
    /// Sources with a fetch under way.
    fetching: HashSet<String>,
    fetches: JoinSet<FetchDone>,
    /// When each source was last fetched by this leader (polls are due from there).
    last_fetch: HashMap<String, Instant>,
    /// Triggers whose advance was proposed for this rollout (not proposed twice).
    advanced: HashMap<String, String>,
}

impl TermRun {
    fn new(member: Arc<Member>, settings: SourceSettings, term: u64) -> Self {
        TermRun {
            member,
            settings,
            term,
            fetching: HashSet::new(),
            fetches: JoinSet::new(),
            last_fetch: HashMap::new(),
            advanced: HashMap::new(),
        }
    }

    fn still_leader(&self) -> bool {
        let m = self.member.raft.metrics();
        let m = m.borrow();
        m.state == ServerState::Leader && m.current_term == self.term
    }

    fn note(&self) -> AuditNote {
        AuditNote {
            member: self.member.id,
            peer: String::new(),
            retention: self.settings.retention,
        }
    }

    async fn run(&mut self) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while self.still_leader() {
            tokio::select! {
                _ = tick.tick() => {
                    self.start_due();
                    self.advance_triggers().await;
                }
                Some(done) = self.fetches.join_next(), if !self.fetches.is_empty() => {
                    match done {
                        Ok(done) => self.settle(done).await,
                        Err(e) => tracing::error!(error = %e, "a source fetch task failed"),
                    }
                }
            }
        }
    }

    /// Starts a fetch of every source that is pending or due for a poll, within the cap.
    fn start_due(&mut self) {
        let due: Vec<Source> = {
            let state = self.member.state.read().expect("state lock poisoned");
            state
                .hooks
                .sources
                .values()
                .filter(|s| !self.fetching.contains(&s.spec.name))
                .filter(|s| {
                    s.pending.is_some()
                        || (s.spec.poll_ms > 0
                            && self.last_fetch.get(&s.spec.name).is_none_or(|at| {
                                at.elapsed() >= Duration::from_millis(s.spec.poll_ms)
                            }))
                })
                .cloned()
                .collect()
        };
        for source in due {
            if self.fetching.len() >= PARALLEL_FETCHES {
                break;
            }
            let name = source.spec.name.clone();
            let cache = self
                .settings
                .cache_dir
                .join(format!("{name}-v{}", source.version));
            let claimed = self
                .settings
                .busy
                .lock()
                .expect("busy caches poisoned")
                .insert(cache.clone());
            if !claimed {
                continue;
            }
            self.fetching.insert(name.clone());
            self.last_fetch.insert(name, Instant::now());
            self.fetches
                .spawn(fetch(source, cache, self.settings.busy.clone()));
        }
    }

    /// Proposes what a fetch found, unless it would change nothing.
    async fn settle(&mut self, done: FetchDone) {
        self.fetching.remove(&done.source);
        let current = {
            let state = self.member.state.read().expect("state lock poisoned");
            state.hooks.sources.get(&done.source).cloned()
        };
        let Some(source) = current else { return };
        let pending = source.pending.is_some();
        let command = match done.outcome {
            Outcome::Fetched { commit, files } => {
                // Unchanged and nothing to clear: a quiet poll writes nothing.
                if !pending
                    && source.error.is_none()
                    && source.commit.as_deref() == Some(commit.as_str())
                {
                    return;
                }
                tracing::info!(source = %done.source, %commit, files = files.len(), "source fetched");
                HooksCommand::SourceFetched {
                    source: done.source.clone(),
                    basis: done.basis,
                    commit,
                    files,
                    note: self.note(),
                    now_ms: now_ms(),
                }
            }
            Outcome::Failed { commit, error } => {
                let same = source
                    .error
                    .as_ref()
                    .is_some_and(|e| e.message == error && e.commit == commit);
                if !pending && same {
                    return;
                }
                tracing::warn!(source = %done.source, %error, "source fetch failed; nothing applied");
                HooksCommand::SourceFailed {
                    source: done.source.clone(),
                    basis: done.basis,
                    commit,
                    error,
                    note: self.note(),
                    now_ms: now_ms(),
                }
            }
        };
        match self.propose(command).await {
            Ok(HooksResult::Fetched {
                revisions,
                rollouts,
            }) => {
                if !revisions.is_empty() {
                    tracing::info!(source = %done.source, ?revisions, ?rollouts, "source made new revisions");
                }
            }
            Ok(HooksResult::Rejected(e)) => {
                tracing::info!(source = %done.source, reason = %e, "fetch result not applied")
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(source = %done.source, error = %e, "could not commit a fetch result; it will be fetched again");
                // Fetch again at the next tick if still pending.
            }
        }
    }

    /// Proposes `AdvanceTrigger` for every trigger whose running rollout has ended.
    async fn advance_triggers(&mut self) {
        let ended: Vec<(String, String)> = {
            let state = self.member.state.read().expect("state lock poisoned");
            state
                .hooks
                .triggers
                .values()
                .filter_map(|t| {
                    let (id, _) = t.running.as_ref()?;
                    let ended = state
                        .workflow
                        .rollouts
                        .rollouts
                        .get(id)
                        .is_none_or(|r| r.state.is_ended());
                    ended.then(|| (t.spec.name.clone(), id.clone()))
                })
                .collect()
        };
        for (name, rollout) in ended {
            if self.advanced.get(&name) == Some(&rollout) {
                continue;
            }
            let command = HooksCommand::AdvanceTrigger {
                name: name.clone(),
                note: self.note(),
                now_ms: now_ms(),
            };
            match self.propose(command).await {
                Ok(_) => {
                    self.advanced.insert(name, rollout);
                }
                Err(e) => {
                    tracing::warn!(trigger = %name, error = %e, "could not advance a trigger")
                }
            }
        }
    }

    async fn propose(&self, command: HooksCommand) -> Result<HooksResult, String> {
        let reply = self
            .member
            .execute_local(LeaderRequest::Write(Box::new(Command::Hooks(command))))
            .await
            .map_err(|e| e.to_string())?;
        match reply {
            crate::raft::member::LeaderReply::Written {
                result: CommandResult::Hooks(r),
                ..
            } => Ok(r),
            other => Err(format!("unexpected answer {other:?}")),
        }
    }
}

/// Fetches `source` into `cache` and parses its blueprint files.
async fn fetch(source: Source, cache: PathBuf, busy: Arc<Mutex<HashSet<PathBuf>>>) -> FetchDone {
    let basis = source.basis();
    let name = source.spec.name.clone();
    let interrupt = Arc::new(AtomicBool::new(false));
    let flag = interrupt.clone();
    let spec = source.spec.clone();
    let task = tokio::task::spawn_blocking(move || {
        let result = fetch_blocking(&spec, &cache, &flag);
        busy.lock().expect("busy caches poisoned").remove(&cache);
        result
    });
    let snapshot = match tokio::time::timeout(FETCH_TIMEOUT, task).await {
        Ok(Ok(result)) => result,
        Ok(Err(join)) => Err(format!("the fetch task failed: {join}")),
        Err(_) => {
            interrupt.store(true, Ordering::Relaxed);
            Err(format!(
                "the fetch took longer than {} s and was interrupted: check the repository's size and the network",
                FETCH_TIMEOUT.as_secs()
            ))
        }
    };
    let outcome = match snapshot {
        Err(error) => Outcome::Failed {
            commit: None,
            error,
        },
        Ok(snapshot) => parse_files(snapshot),
    };
    FetchDone {
        source: name,
        basis,
        outcome,
    }
}

/// The fetch itself, on a blocking thread: credentials read now (the file may have been
/// rotated), then moor-git.
fn fetch_blocking(
    spec: &moor_domain::hooks::source::SourceSpec,
    cache: &std::path::Path,
    interrupt: &AtomicBool,
) -> Result<moor_git::Snapshot, String> {
    let credentials: Option<Credentials> = match &spec.credentials_file {
        Some(path) => Some(
            moor_git::read_credentials_file(std::path::Path::new(path))
                .map_err(|e| format!("{e} (the file must be readable by moord on every member)"))?,
        ),
        None => None,
    };
    let remote = Remote {
        credentials,
        ..Remote::new(spec.url.clone(), spec.branch.clone())
    };
    moor_git::fetch(cache, &remote, &spec.path, &Limits::default(), interrupt)
        .map_err(|e| e.to_string())
}

/// Every file of `snapshot` as a validated blueprint, or every problem (as
/// `path:line:col: error: …`) and no file at all.
fn parse_files(snapshot: moor_git::Snapshot) -> Outcome {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    let mut names: HashMap<String, String> = HashMap::new();
    for file in snapshot.files {
        let text = match String::from_utf8(file.bytes) {
            Ok(t) => t,
            Err(_) => {
                problems.push(format!("{}:1:1: error: not UTF-8 text", file.path));
                continue;
            }
        };
        match parse_blueprint(&file.path, &text) {
            Ok(spec) => {
                if let Some(other) = names.insert(spec.name.clone(), file.path.clone()) {
                    problems.push(format!(
                        "{}:1:1: error: blueprint {} is also defined in {other}: one file per blueprint",
                        file.path, spec.name
                    ));
                }
                files.push(FetchedFile {
                    path: file.path,
                    spec,
                    text,
                });
            }
            Err(diagnostics) => problems.extend(diagnostics.iter().map(|d| d.to_string())),
        }
    }
    if problems.is_empty() {
        return Outcome::Fetched {
            commit: snapshot.commit,
            files,
        };
    }
    let more = problems.len().saturating_sub(MAX_PROBLEMS);
    let mut error = problems
        .into_iter()
        .take(MAX_PROBLEMS)
        .collect::<Vec<_>>()
        .join("\n");
    if more > 0 {
        error.push_str(&format!("\n… and {more} more"));
    }
    Outcome::Failed {
        commit: Some(snapshot.commit),
        error: format!("commit not applied: {error}"),
    }
}
