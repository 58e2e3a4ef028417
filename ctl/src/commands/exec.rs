//! `moorctl exec`: start, list, show, resume, cancel, roll back and watch executions.

use anyhow::Result;
use moor_proto::names::{display, ExecState, WireName};
use moor_proto::workflow as pb;

use super::exec_watch::{announce_and_watch, started, watch_to_end};
use super::hints::{say_if_empty, CallContext};
use super::inputs::inputs_json;
use crate::cli::{ExecCommand, ExecStartArgs, OutputFormat};
use crate::client::Client;
use crate::views::exec::{ExecListView, ExecRefView, ExecView};
use crate::views::show;
use crate::views::timeline::TimelineView;

pub(super) async fn run(
    command: ExecCommand,
    client: &mut Client,
    format: OutputFormat,
) -> Result<()> {
    match command {
        ExecCommand::Start(args) => start(args, client, format).await,
        ExecCommand::List { env, state, read } => {
            let r = client
                .list_executions(env.clone().unwrap_or_default(), read.stale)
                .await
                .or_say(|| "cannot list executions".into())?;
            let view = list_view(&r, state);
            let what = match state {
                Some(state) => format!("no execution is {state}"),
                None => "no executions".to_string(),
            };
            say_if_empty(view.executions.is_empty(), format, &what);
            show(&view, format)
        }
        ExecCommand::Show { id, read } => {
            let r = client
                .get_execution(id.clone(), read.stale)
                .await
                .or_say(|| format!("cannot show execution {id}"))?;
            show(&ExecView::from(&r), format)
        }
        ExecCommand::Timeline { id, read } => {
            let r = client
                .get_execution(id.clone(), read.stale)
                .await
                .or_say(|| format!("cannot show the timeline of execution {id}"))?;
            show(&TimelineView::from(&r), format)
        }
        ExecCommand::Resume { id, watch } => {
            let r = client
                .resume_execution(id.clone())
                .await
                .or_say(|| format!("cannot resume execution {id}"))?;
            let view = ExecRefView {
                message: format!(
                    "execution {} resumed ({})",
                    r.id,
                    display::<ExecState>(&r.state)
                ),
                id: r.id,
                state: r.state,
            };
            announce_and_watch(client, view, &watch, format).await
        }
        ExecCommand::Cancel { id } => {
            let r = client
                .cancel_execution(id.clone())
                .await
                .or_say(|| format!("cannot cancel execution {id}"))?;
            let view = ExecRefView {
                message: format!(
                    "execution {} {}; steps already dispatched finish, no new step starts",
                    r.id,
                    display::<ExecState>(&r.state)
                ),
                id: r.id,
                state: r.state,
            };
            show(&view, format)
        }
        ExecCommand::Rollback { env, watch } => {
            let r = client
                .rollback(env.clone())
                .await
                .or_say(|| format!("cannot roll back environment {env}"))?;
            let what = format!("rollback of environment {env}");
            started(client, r, what, &watch, format).await
        }
        ExecCommand::Watch {
            id,
            watch_timeout_s,
        } => watch_to_end(client, &id, watch_timeout_s, format).await,
    }
}

/// `exec list`: the executions in `state` (all without one), oldest first. Members list
/// every state, so the state is chosen here.
fn list_view(r: &pb::ListExecutionsResponse, state: Option<ExecState>) -> ExecListView {
    let mut executions: Vec<ExecView> = r
        .executions
        .iter()
        .filter(|e| state.is_none_or(|s| e.state == s.as_str()))
        .map(ExecView::from)
        .collect();
    // Ids are `x<n>`: by creation, then by number, not as text (x10 after x9).
    executions
        .sort_by(|a, b| (a.created_ms, a.id.len(), &a.id).cmp(&(b.created_ms, b.id.len(), &b.id)));
    ExecListView { executions }
}

/// `exec start`: the new execution is shown, and followed with `--watch`.
async fn start(args: ExecStartArgs, client: &mut Client, format: OutputFormat) -> Result<()> {
    let kind = args.kind.as_str();
    let env = args.env.clone();
    let msg = pb::StartExecutionRequest {
        environment: args.env,
        kind: kind.to_string(),
        revision: args.revision.unwrap_or(0),
        inputs_json: inputs_json(&args.inputs)?,
        retry: None,
    };
    let r = client
        .start_execution(msg)
        .await
        .or_say(|| format!("cannot start {kind} of environment {env}"))?;
    let what = format!("{kind} of environment {env}");
    started(client, r, what, &args.watch, format).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::Exit;
    use crate::fake::{cli_for, fake_workflow, WatchScript, FAKE_EXECUTIONS};

    #[test]
    fn list_keeps_the_state_asked_for() {
        let executions = FAKE_EXECUTIONS
            .iter()
            .map(|(id, state)| pb::Execution {
                id: id.to_string(),
                state: state.to_string(),
                ..Default::default()
            })
            .collect();
        let r = pb::ListExecutionsResponse { executions };
        let ids = |v: ExecListView| v.executions.into_iter().map(|e| e.id).collect::<Vec<_>>();
        assert_eq!(ids(list_view(&r, None)), ["x1", "x2", "x3"]);
        assert_eq!(ids(list_view(&r, Some(ExecState::Interrupted))), ["x2"]);
        assert!(ids(list_view(&r, Some(ExecState::Failed))).is_empty());
    }

    #[tokio::test]
    async fn list_takes_state_interrupted() {
        let (addr, calls) = fake_workflow(WatchScript::End(vec![])).await;
        let args = ["-o", "json", "exec", "list", "--state", "interrupted"];
        crate::commands::run(cli_for(&addr, &args)).await.unwrap();
        assert_eq!(crate::fake::count(&calls), 1);
        // A state moorctl does not know is a usage error that lists the states there are.
        let full = ["moorctl", "exec", "list", "--state", "paused"];
        let err = crate::cli::Cli::try_parse_validated(full).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("interrupted"), "{err}");
    }

    #[tokio::test]
    async fn start_with_watch_ends_with_the_executions_outcome() {
        let failed = pb::Execution {
            id: "x1".into(),
            environment: "web-1".into(),
            kind: "install".into(),
            state: "failed".into(),
            ..Default::default()
        };
        let (addr, _) = fake_workflow(WatchScript::End(vec![failed])).await;
        let err = crate::commands::run(cli_for(
            &addr,
            &[
                "env",
                "create",
                "web-1",
                "--site",
                "s1",
                "--blueprint",
                "hello@2",
                "--input",
                "replicas=3",
                "--watch",
            ],
        ))
        .await
        .unwrap_err();
        assert_eq!(Exit::of_error(&err), Exit::NotSucceeded, "{err:#}");

        let err = crate::commands::run(cli_for(&addr, &["exec", "watch", "x9"]))
            .await
            .unwrap_err();
        assert_eq!(Exit::of_error(&err), Exit::NotSucceeded, "{err:#}");
    }
}
