//! Following an execution to its end over the `WatchExecution` stream, across member
//! failures.
//!
//! A member streams the execution each time it changes and ends the stream after a terminal
//! state (`succeeded`, `failed`, `cancelled`). When the stream breaks before that — the member
//! died, shut down, lost its connection — the watch opens a new stream on the next endpoint
//! and goes on: the first message of a new stream is the execution as it is now, so nothing
//! is missed, and an update equal to the last one shown is not shown twice. A member answers
//! only after a read barrier through the leader, so a new stream never shows an older state
//! than the last one.
//!
//! Bounds: each (re)open is one failover call bounded by `--timeout-ms` (every endpoint
//! tried twice); at most [`MAX_REOPENS_WITHOUT_UPDATE`] reopens in a row may bring nothing
//! new; and the whole watch ends by `--watch-timeout-s`. A stream that is open but silent for
//! [`STALL_REOPEN`] is reopened too, because a member cut off from the leader keeps its
//! stream open but receives no more changes; reopening makes it prove, through its read
//! barrier, that it is still connected, or moves on to another member.

use std::time::Duration;

use anyhow::Result;
use moor_proto::workflow as pb;
use tokio::time::Instant;

use crate::client::{classify, describe_status, Access, Client, RpcError, Verdict};
use crate::exit::{Exit, Failure};

/// How long an open stream may bring nothing before it is reopened.
pub const STALL_REOPEN: Duration = Duration::from_secs(20);

/// How many reopens in a row may bring no new update before the watch gives up.
pub const MAX_REOPENS_WITHOUT_UPDATE: u32 = 8;

/// Pause before the first reopen after a break; doubles up to [`MAX_REOPEN_PAUSE`]. (Short
/// in tests, which have no election to wait for.)
const REOPEN_PAUSE: Duration = Duration::from_millis(if cfg!(test) { 1 } else { 200 });
const MAX_REOPEN_PAUSE: Duration = Duration::from_millis(if cfg!(test) { 10 } else { 2000 });

/// Where the updates of a watch go.
pub trait Display {
    /// The execution changed (the first call shows it as it is when the watch starts).
    fn update(&mut self, exec: &pb::Execution) -> Result<()>;
    /// Something people should know that is not an update, e.g. a reconnect.
    fn note(&mut self, text: &str);
    /// The execution reached a terminal state (after its last `update`).
    fn finish(&mut self, exec: &pb::Execution) -> Result<()>;
}

/// True for the states after which no step runs any more (unless resumed).
pub fn is_terminal(state: &str) -> bool {
    matches!(state, "succeeded" | "failed" | "cancelled")
}

/// The outcome of a watched execution that ended: success, or exit code 7 with what to do
/// next.
pub fn verdict(exec: &pb::Execution) -> Result<()> {
    match exec.state.as_str() {
        "succeeded" => Ok(()),
        "failed" => {
            let why = if exec.error.is_empty() {
                String::new()
            } else {
                format!(": {}", exec.error)
            };
            Err(Failure::new(
                Exit::NotSucceeded,
                format!(
                    "execution {id} ({kind} of {env}) failed{why}; see the failed steps with \
                     `moorctl exec show {id}`, then retry them with `moorctl exec resume {id}` \
                     or go back with `moorctl exec rollback {env}`",
                    id = exec.id,
                    kind = exec.kind,
                    env = exec.environment,
                ),
            )
            .into())
        }
        "cancelled" => Err(Failure::new(
            Exit::NotSucceeded,
            format!(
                "execution {id} ({kind} of {env}) was cancelled; see what it did with \
                 `moorctl exec show {id}`",
                id = exec.id,
                kind = exec.kind,
                env = exec.environment,
            ),
        )
        .into()),
        other => unreachable!("verdict of an execution in the non-terminal state {other:?}"),
    }
}

/// Why one stream stopped before the execution ended.
enum Interrupted {
    /// It broke: the member went away or ended it early. Move on to the next endpoint.
    Broke(String),
    /// It was silent for [`STALL_REOPEN`]: reopen, starting with the same member.
    Stalled,
}

/// Follows execution `id` until it ends or `limit` passes, showing each change on `display`.
/// Returns the execution in its terminal state; errors carry their exit code (3 when it
/// does not exist, 5 when no member can serve the watch, 1 when `limit` passed).
pub async fn follow(
    client: &mut Client,
    id: &str,
    limit: Duration,
    display: &mut dyn Display,
) -> Result<pb::Execution> {
    let until = Instant::now() + limit;
    let mut start = 0;
    let mut last: Option<pb::Execution> = None;
    let mut fruitless = 0u32;
    let mut pause = REOPEN_PAUSE;
    loop {
        let (mut stream, at) = client.open_watch(id, start, until).await?;
        let addr = client.addr(at).to_string();
        let mut progressed = false;
        let interrupted = loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(timed_out(id, limit, last.as_ref()));
            }
            match tokio::time::timeout(left.min(STALL_REOPEN), stream.message()).await {
                Err(_) if Instant::now() >= until => {
                    return Err(timed_out(id, limit, last.as_ref()))
                }
                Err(_) => break Interrupted::Stalled,
                Ok(Ok(Some(exec))) => {
                    if last.as_ref() != Some(&exec) {
                        display.update(&exec)?;
                        progressed = true;
                    }
                    let done = is_terminal(&exec.state);
                    last = Some(exec);
                    if done {
                        let exec = last.take().expect("just set");
                        display.finish(&exec)?;
                        return Ok(exec);
                    }
                }
                Ok(Ok(None)) => {
                    break Interrupted::Broke("the stream ended before the execution did".into())
                }
                Ok(Err(status)) => match classify(&status, Access::Read) {
                    Verdict::Retry => break Interrupted::Broke(describe_status(&status)),
                    // A read is never "unknown"; anything else the member says is final
                    // (NOT_FOUND: no such execution).
                    Verdict::Unknown | Verdict::Final => {
                        return Err(RpcError::Rejected {
                            endpoint: addr,
                            status,
                        }
                        .into())
                    }
                },
            }
        };
        if progressed {
            fruitless = 0;
            pause = REOPEN_PAUSE;
        } else {
            fruitless += 1;
            if fruitless > MAX_REOPENS_WITHOUT_UPDATE {
                return Err(anyhow::anyhow!(
                    "gave up after {MAX_REOPENS_WITHOUT_UPDATE} reconnects in a row brought no \
                     update; the execution goes on: watch it again with `moorctl exec watch {id}`"
                ));
            }
        }
        match interrupted {
            Interrupted::Stalled => start = at,
            Interrupted::Broke(why) => {
                client.disconnect(at);
                start = at + 1;
                let next = client.addr(start % client.endpoint_count());
                display.note(&format!(
                    "watch of {id} on {addr} interrupted ({why}); continuing on {next}"
                ));
                tokio::time::sleep(pause.min(until.saturating_duration_since(Instant::now())))
                    .await;
                pause = (pause * 2).min(MAX_REOPEN_PAUSE);
            }
        }
    }
}

/// The error when `--watch-timeout-s` passed: the execution goes on.
fn timed_out(id: &str, limit: Duration, last: Option<&pb::Execution>) -> anyhow::Error {
    let state = last.map_or_else(String::new, |e| format!(" (last seen: {})", e.state));
    anyhow::anyhow!(
        "stopped watching execution {id} after --watch-timeout-s {}{state}; it goes on without \
         moorctl: watch it again with `moorctl exec watch {id}`",
        limit.as_secs()
    )
}

/// A display that records what it was given, for tests.
#[cfg(test)]
#[derive(Default)]
pub struct Recorder {
    pub updates: Vec<pb::Execution>,
    pub notes: Vec<String>,
    pub finished: Option<pb::Execution>,
}

#[cfg(test)]
impl Display for Recorder {
    fn update(&mut self, exec: &pb::Execution) -> Result<()> {
        self.updates.push(exec.clone());
        Ok(())
    }
    fn note(&mut self, text: &str) {
        self.notes.push(text.to_string());
    }
    fn finish(&mut self, exec: &pb::Execution) -> Result<()> {
        self.finished = Some(exec.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{fake_workflow, WatchScript};

    fn exec(state: &str, succeeded: u32) -> pb::Execution {
        pb::Execution {
            id: "x1".into(),
            environment: "web-1".into(),
            kind: "install".into(),
            state: state.into(),
            steps_total: 3,
            steps_succeeded: succeeded,
            ..Default::default()
        }
    }

    #[test]
    fn only_success_exits_zero() {
        assert!(verdict(&exec("succeeded", 3)).is_ok());
        let err = verdict(&exec("failed", 1)).unwrap_err();
        assert_eq!(Exit::of_error(&err), Exit::NotSucceeded);
        assert!(err.to_string().contains("moorctl exec resume x1"), "{err}");
        let err = verdict(&exec("cancelled", 1)).unwrap_err();
        assert_eq!(Exit::of_error(&err), Exit::NotSucceeded);
        assert!(is_terminal("failed") && !is_terminal("running") && !is_terminal("queued"));
    }

    #[tokio::test]
    async fn a_broken_stream_continues_on_the_next_member() {
        // The first member streams two updates and dies; the second one starts with the
        // state already shown, then the rest.
        let (a, a_calls) = fake_workflow(WatchScript::Break(vec![
            exec("running", 0),
            exec("running", 1),
        ]))
        .await;
        let (b, b_calls) = fake_workflow(WatchScript::End(vec![
            exec("running", 1),
            exec("running", 2),
            exec("succeeded", 3),
        ]))
        .await;
        let mut client = Client::new(&[a, b], Duration::from_secs(5));
        let mut rec = Recorder::default();
        let end = follow(&mut client, "x1", Duration::from_secs(30), &mut rec)
            .await
            .unwrap();
        assert_eq!(end.state, "succeeded");
        let seen: Vec<u32> = rec.updates.iter().map(|e| e.steps_succeeded).collect();
        assert_eq!(seen, vec![0, 1, 2, 3], "no update shown twice");
        assert_eq!(rec.notes.len(), 1, "{:?}", rec.notes);
        assert!(rec.notes[0].contains("interrupted"), "{:?}", rec.notes);
        assert_eq!(rec.finished.unwrap().state, "succeeded");
        assert_eq!(
            (crate::fake::count(&a_calls), crate::fake::count(&b_calls)),
            (1, 1)
        );
    }

    #[tokio::test]
    async fn a_failed_execution_ends_the_watch_with_code_7() {
        let (a, _) = fake_workflow(WatchScript::End(vec![
            exec("running", 0),
            exec("failed", 1),
        ]))
        .await;
        let mut client = Client::new(&[a], Duration::from_secs(5));
        let mut rec = Recorder::default();
        let end = follow(&mut client, "x1", Duration::from_secs(30), &mut rec)
            .await
            .unwrap();
        let err = verdict(&end).unwrap_err();
        assert_eq!(Exit::of_error(&err), Exit::NotSucceeded);
    }

    #[tokio::test]
    async fn a_missing_execution_is_not_found() {
        let (a, a_calls) = fake_workflow(WatchScript::NotFound).await;
        let (b, b_calls) = fake_workflow(WatchScript::NotFound).await;
        let mut client = Client::new(&[a, b], Duration::from_secs(5));
        let mut rec = Recorder::default();
        let err = follow(&mut client, "x9", Duration::from_secs(30), &mut rec)
            .await
            .unwrap_err();
        assert_eq!(Exit::of_error(&err), Exit::NotFound, "{err:#}");
        assert_eq!(
            (crate::fake::count(&a_calls), crate::fake::count(&b_calls)),
            (1, 0)
        );
    }

    #[tokio::test]
    async fn members_that_keep_breaking_make_the_watch_give_up() {
        let (a, _) = fake_workflow(WatchScript::Break(vec![exec("running", 0)])).await;
        let mut client = Client::new(&[a], Duration::from_secs(5));
        let mut rec = Recorder::default();
        let err = follow(&mut client, "x1", Duration::from_secs(60), &mut rec)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("gave up"), "{err:#}");
        assert_eq!(rec.updates.len(), 1);
        assert_eq!(rec.notes.len() as u32, MAX_REOPENS_WITHOUT_UPDATE + 1);
    }
}
