//! Showing a new execution and following it to its end over the `WatchExecution` stream,
//! across member failures; and the exit code of the end.
//!
//! A member streams the execution each time it changes and ends the stream after a terminal
//! state (`succeeded`, `failed`, `cancelled`). The watch also ends at `interrupted` (an
//! execution a restore from a backup stopped): nothing moves until someone resumes it, so
//! waiting would only wait for the time limit. When the stream breaks before an end — the
//! member died, shut down, lost its connection — the watch opens a new stream on the next
//! endpoint and goes on: the first message of a new stream is the execution as it is now, so
//! nothing is missed, and an update equal to the last one shown is not shown twice. A member
//! answers only after a read barrier through the leader, so a new stream never shows an
//! older state than the last one.
//!
//! Bounds: each (re)open is one failover call bounded by `--timeout-ms` (every endpoint
//! tried twice); at most [`MAX_REOPENS_WITHOUT_UPDATE`] reopens in a row may bring nothing
//! new; and the whole watch ends by `--watch-timeout-s`. A stream that is open but silent for
//! [`STALL_REOPEN`] is reopened too, because a member cut off from the leader keeps its
//! stream open but receives no more changes; reopening makes it prove, through its read
//! barrier, that it is still connected, or moves on to another member.

use std::time::Duration;

use anyhow::Result;
use moor_proto::names::{display, ExecKind, ExecState, WireName};
use moor_proto::workflow as pb;
use tokio::time::Instant;
use tonic::Streaming;

use super::hints::failed;
use crate::cli::{OutputFormat, WatchArgs};
use crate::client::{classify, describe_status, Access, Client, RpcError, Verdict};
use crate::exit::{Exit, Failure};
use crate::live::{exec_display, ExecDisplay};
use crate::views::exec::ExecRefView;
use crate::views::show;

/// How long an open stream may bring nothing before it is reopened.
pub const STALL_REOPEN: Duration = Duration::from_secs(20);

/// How many reopens in a row may bring no new update before the watch gives up.
pub const MAX_REOPENS_WITHOUT_UPDATE: u32 = 8;

/// Pause before the first reopen after a break; doubles up to [`MAX_REOPEN_PAUSE`]. (Short
/// in tests, which have no election to wait for.)
const REOPEN_PAUSE: Duration = Duration::from_millis(if cfg!(test) { 1 } else { 200 });
const MAX_REOPEN_PAUSE: Duration = Duration::from_millis(if cfg!(test) { 10 } else { 2000 });

/// Shows a new execution (`what` it is, e.g. `install of environment web-1`) and follows it
/// with `--watch`.
pub(super) async fn started(
    client: &mut Client,
    r: pb::ExecutionRef,
    what: String,
    watch: &WatchArgs,
    format: OutputFormat,
) -> Result<()> {
    let message = if ExecState::parse(&r.state) == Some(ExecState::Queued) {
        format!(
            "execution {} queued: {what}; it starts when the environment's running execution ends",
            r.id
        )
    } else {
        let state = display::<ExecState>(&r.state);
        format!("execution {} started: {what} ({state})", r.id)
    };
    let view = ExecRefView {
        id: r.id,
        state: r.state,
        message,
    };
    announce_and_watch(client, view, watch, format).await
}

/// Prints `view`, then with `--watch` follows the execution. With `-o json` / `-o yaml` and
/// `--watch` only the updates are printed, so the output is one kind of object.
pub(super) async fn announce_and_watch(
    client: &mut Client,
    view: ExecRefView,
    watch: &WatchArgs,
    format: OutputFormat,
) -> Result<()> {
    if !watch.watch {
        return show(&view, format);
    }
    if format == OutputFormat::Table {
        show(&view, format)?;
    }
    watch_to_end(client, &view.id, watch.watch_timeout_s, format).await
}

/// Follows execution `id` to its end: exit code 0 when it succeeded, 7 when it failed or was
/// cancelled.
pub(super) async fn watch_to_end(
    client: &mut Client,
    id: &str,
    watch_timeout_s: u64,
    format: OutputFormat,
) -> Result<()> {
    let mut display = exec_display(format);
    let end = follow(
        client,
        id,
        Duration::from_secs(watch_timeout_s),
        display.as_mut(),
    )
    .await
    .map_err(|e| match e.downcast::<RpcError>() {
        Ok(rpc) => failed(rpc, format!("cannot watch execution {id}")),
        Err(e) => e.context(format!("cannot watch execution {id}")),
    })?;
    drop(display);
    verdict(&end)
}

/// True when the execution reached an end: no step runs any more (unless resumed), or none
/// will until someone resumes it (`interrupted`). A state this build does not know is no
/// end: the watch goes on, and stops only by its limits (exit code 1), never as a success.
fn ended(exec: &pb::Execution) -> bool {
    ExecState::parse(&exec.state).is_some_and(|s| s.is_terminal() || s == ExecState::Interrupted)
}

/// The outcome of a watched execution that ended: success, or exit code 7 with what to do
/// next (failed, cancelled, interrupted). A state this build does not know is never a
/// success: exit code 1.
pub fn verdict(exec: &pb::Execution) -> Result<()> {
    let (id, env) = (&exec.id, &exec.environment);
    let kind = display::<ExecKind>(&exec.kind);
    match ExecState::parse(&exec.state) {
        Some(ExecState::Succeeded) => Ok(()),
        Some(ExecState::Failed) => {
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
                     or go back with `moorctl exec rollback {env}`"
                ),
            )
            .into())
        }
        Some(ExecState::Cancelled) => Err(Failure::new(
            Exit::NotSucceeded,
            format!(
                "execution {id} ({kind} of {env}) was cancelled; see what it did with \
                 `moorctl exec show {id}`"
            ),
        )
        .into()),
        Some(ExecState::Interrupted) => Err(Failure::new(
            Exit::NotSucceeded,
            format!(
                "execution {id} ({kind} of {env}) is interrupted: it was running when the \
                 backup this cluster was restored from was taken, and nothing of it runs until \
                 it is resumed; resume it with `moorctl exec resume {id}` (a step the old \
                 cluster already ran is not run twice) or cancel it with `moorctl exec cancel \
                 {id}`"
            ),
        )
        .into()),
        Some(state @ (ExecState::Queued | ExecState::Running)) => {
            unreachable!("verdict of an execution in the non-terminal state {state}")
        }
        None => Err(Failure::new(
            Exit::Error,
            format!(
                "execution {id} ({kind} of {env}) is in the state {}, which this moorctl does \
                 not know, so it cannot say whether it succeeded; see `moorctl exec show {id}`",
                display::<ExecState>(&exec.state)
            ),
        )
        .into()),
    }
}

/// Why one stream stopped before the execution ended.
enum Interrupted {
    /// It broke: the member went away or ended it early. Move on to the next endpoint.
    Broke(String),
    /// It was silent for [`STALL_REOPEN`]: reopen, starting with the same member.
    Stalled,
}

/// How reading one stream ended.
enum StreamEnd {
    /// The execution reached a terminal state.
    Ended(pb::Execution),
    /// The stream stopped first; `progressed` when it brought a new update.
    Interrupted { why: Interrupted, progressed: bool },
}

/// One watch of execution `id` until `until`, and the last update shown.
struct Watch<'a> {
    id: &'a str,
    limit: Duration,
    until: Instant,
    last: Option<pb::Execution>,
}

impl Watch<'_> {
    /// Shows the updates of one stream, from endpoint `addr`, until the execution ends or
    /// the stream stops.
    async fn read(
        &mut self,
        stream: &mut Streaming<pb::Execution>,
        addr: &str,
        display: &mut dyn ExecDisplay,
    ) -> Result<StreamEnd> {
        let mut progressed = false;
        let why = loop {
            let left = self.until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(self.timed_out());
            }
            match tokio::time::timeout(left.min(STALL_REOPEN), stream.message()).await {
                Err(_) if Instant::now() >= self.until => return Err(self.timed_out()),
                Err(_) => break Interrupted::Stalled,
                Ok(Ok(Some(exec))) => {
                    if self.last.as_ref() != Some(&exec) {
                        display.update(&exec)?;
                        progressed = true;
                    }
                    let done = ended(&exec);
                    self.last = Some(exec);
                    if done {
                        let exec = self.last.take().expect("just set");
                        display.finish(&exec)?;
                        return Ok(StreamEnd::Ended(exec));
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
                        let endpoint = addr.to_string();
                        return Err(RpcError::Rejected { endpoint, status }.into());
                    }
                },
            }
        };
        Ok(StreamEnd::Interrupted { why, progressed })
    }

    /// The error when `--watch-timeout-s` passed: the execution goes on.
    fn timed_out(&self) -> anyhow::Error {
        let id = self.id;
        let state = self.last.as_ref().map_or_else(String::new, |e| {
            format!(" (last seen: {})", display::<ExecState>(&e.state))
        });
        anyhow::anyhow!(
            "stopped watching execution {id} after --watch-timeout-s {}{state}; it goes on \
             without moorctl: watch it again with `moorctl exec watch {id}`",
            self.limit.as_secs()
        )
    }
}

/// Follows execution `id` until it ends or `limit` passes, showing each change on `display`.
/// Returns the execution in its terminal state; errors carry their exit code (3 when it
/// does not exist, 5 when no member can serve the watch, 1 when `limit` passed).
pub async fn follow(
    client: &mut Client,
    id: &str,
    limit: Duration,
    display: &mut dyn ExecDisplay,
) -> Result<pb::Execution> {
    let mut watch = Watch {
        id,
        limit,
        until: Instant::now() + limit,
        last: None,
    };
    let mut start = 0;
    let mut fruitless = 0u32;
    let mut pause = REOPEN_PAUSE;
    loop {
        let (mut stream, at) = client.open_watch(id, start, watch.until).await?;
        let addr = client.addr(at).to_string();
        let (why, progressed) = match watch.read(&mut stream, &addr, display).await? {
            StreamEnd::Ended(exec) => return Ok(exec),
            StreamEnd::Interrupted { why, progressed } => (why, progressed),
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
        match why {
            Interrupted::Stalled => start = at,
            Interrupted::Broke(why) => {
                client.disconnect(at);
                start = at + 1;
                let next = client.addr(start % client.endpoint_count());
                display.note(&format!(
                    "watch of {id} on {addr} interrupted ({why}); continuing on {next}"
                ));
                let left = watch.until.saturating_duration_since(Instant::now());
                tokio::time::sleep(pause.min(left)).await;
                pause = (pause * 2).min(MAX_REOPEN_PAUSE);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{count, fake_workflow, WatchScript};

    /// A display that records what it was given.
    #[derive(Default)]
    struct Recorder {
        updates: Vec<pb::Execution>,
        notes: Vec<String>,
        finished: Option<pb::Execution>,
    }

    impl ExecDisplay for Recorder {
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
        assert!(ended(&exec("failed", 1)));
        assert!(!ended(&exec("running", 1)) && !ended(&exec("queued", 0)));
    }

    #[test]
    fn an_interrupted_execution_ends_the_watch_and_says_to_resume_it() {
        let e = exec("interrupted", 1);
        assert!(
            ended(&e),
            "nothing moves until it is resumed: no reason to wait"
        );
        let err = verdict(&e).unwrap_err();
        assert_eq!(Exit::of_error(&err), Exit::NotSucceeded);
        let text = err.to_string();
        assert!(text.contains("is interrupted"), "{text}");
        assert!(text.contains("`moorctl exec resume x1`"), "{text}");
        assert!(text.contains("`moorctl exec cancel x1`"), "{text}");
    }

    #[tokio::test]
    async fn a_watch_of_an_interrupted_execution_does_not_wait() {
        // A member keeps the stream of an interrupted execution open (it is not terminal):
        // the watch ends at the first update all the same.
        let (a, a_calls) = fake_workflow(WatchScript::Hold(vec![exec("interrupted", 1)])).await;
        let mut client = crate::fake::client(&[a], Duration::from_secs(5));
        let mut rec = Recorder::default();
        let end = tokio::time::timeout(
            Duration::from_secs(10),
            follow(&mut client, "x1", Duration::from_secs(60), &mut rec),
        )
        .await
        .expect("the watch ends without waiting for the stream")
        .unwrap();
        assert_eq!(end.state, "interrupted");
        assert_eq!(rec.finished.unwrap().state, "interrupted");
        assert_eq!(count(&a_calls), 1);
        let err = verdict(&end).unwrap_err();
        assert_eq!(Exit::of_error(&err), Exit::NotSucceeded);
    }

    #[test]
    fn an_unknown_state_is_neither_an_end_nor_a_success() {
        let odd = exec("hibernating", 3);
        assert!(
            !ended(&odd),
            "a watch goes on through a state it does not know"
        );
        let err = verdict(&odd).unwrap_err();
        assert_eq!(Exit::of_error(&err), Exit::Error);
        assert!(err.to_string().contains("unknown(hibernating)"), "{err}");
    }

    #[tokio::test]
    async fn a_watch_never_ends_as_a_success_on_an_unknown_state() {
        // A newer member ends its stream after a state this build does not know: the watch
        // reconnects, sees nothing new (a new stream starts with the state as it is now),
        // and gives up with exit code 1, never 0.
        let (a, _) = fake_workflow(WatchScript::End(vec![exec("hibernating", 3)])).await;
        let mut client = crate::fake::client(&[a], Duration::from_secs(5));
        let mut rec = Recorder::default();
        let err = follow(&mut client, "x1", Duration::from_secs(60), &mut rec)
            .await
            .unwrap_err();
        assert_eq!(Exit::of_error(&err), Exit::Error, "{err:#}");
        assert!(err.to_string().contains("gave up"), "{err:#}");
        assert!(rec.finished.is_none());
        assert_eq!(rec.updates.len(), 1);
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
        let mut client = crate::fake::client(&[a, b], Duration::from_secs(5));
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
        assert_eq!((count(&a_calls), count(&b_calls)), (1, 1));
    }

    #[tokio::test]
    async fn a_failed_execution_ends_the_watch_with_code_7() {
        let (a, _) = fake_workflow(WatchScript::End(vec![
            exec("running", 0),
            exec("failed", 1),
        ]))
        .await;
        let mut client = crate::fake::client(&[a], Duration::from_secs(5));
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
        let mut client = crate::fake::client(&[a, b], Duration::from_secs(5));
        let mut rec = Recorder::default();
        let err = follow(&mut client, "x9", Duration::from_secs(30), &mut rec)
            .await
            .unwrap_err();
        assert_eq!(Exit::of_error(&err), Exit::NotFound, "{err:#}");
        assert_eq!((count(&a_calls), count(&b_calls)), (1, 0));
    }

    #[tokio::test]
    async fn members_that_keep_breaking_make_the_watch_give_up() {
        let (a, _) = fake_workflow(WatchScript::Break(vec![exec("running", 0)])).await;
        let mut client = crate::fake::client(&[a], Duration::from_secs(5));
        let mut rec = Recorder::default();
        let err = follow(&mut client, "x1", Duration::from_secs(60), &mut rec)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("gave up"), "{err:#}");
        assert_eq!(rec.updates.len(), 1);
        assert_eq!(rec.notes.len() as u32, MAX_REOPENS_WITHOUT_UPDATE + 1);
    }
}
