//! `moorctl rollout`: start a rollout over a group, read rollouts, control them (pause,
//! resume, cancel, approve, roll back, change the parallelism), and follow one with
//! `--watch` or `rollout watch` (`rollout_watch.rs`).

use std::time::Duration;

use anyhow::Result;
use moor_proto::names::{display, RolloutActionKind, RolloutState, WireName};
use moor_proto::rollout as pb;

use super::hints::rollout_failed as failed;
use super::inputs::inputs_json;
use super::rollout_request::rollout_request;
use super::rollout_watch::watch;
use crate::cli::{OutputFormat, RolloutCommand, RolloutStartArgs, TargetFilter};
use crate::client::{Client, RolloutOp};
use crate::exit::{Exit, Failure};
use crate::views::message::MessageView;
use crate::views::rollout::{what, RolloutJson, RolloutListView, RolloutView};
use crate::views::{emit, show};

pub(super) async fn run(
    command: RolloutCommand,
    client: &mut Client,
    format: OutputFormat,
) -> Result<()> {
    match command {
        RolloutCommand::Start(args) => start(*args, client, format).await,
        RolloutCommand::List { read } => list(client, read.stale, format).await,
        RolloutCommand::Show { id, targets, read } => {
            let r = client
                .get_rollout(id.clone(), targets_word(targets), read.stale)
                .await
                .map_err(|e| failed(e, format!("cannot show rollout {id}")))?;
            show(
                &RolloutView {
                    rollout: RolloutJson::from(&r),
                },
                format,
            )
        }
        RolloutCommand::Pause { id } => control(client, id, RolloutOp::Pause, None, format).await,
        RolloutCommand::Cancel { id } => control(client, id, RolloutOp::Cancel, None, format).await,
        RolloutCommand::Resume { id, watch } => {
            control(client, id, RolloutOp::Resume, watch.limit(), format).await
        }
        RolloutCommand::Approve { id, watch } => {
            control(client, id, RolloutOp::Approve, watch.limit(), format).await
        }
        RolloutCommand::Rollback { id, watch } => {
            control(client, id, RolloutOp::Rollback, watch.limit(), format).await
        }
        RolloutCommand::Parallel { id, max_parallel } => {
            let r = client
                .set_rollout_parallel(id.clone(), max_parallel)
                .await
                .map_err(|e| failed(e, format!("cannot change the parallelism of rollout {id}")))?;
            let message = format!(
                "rollout {} now runs up to {} targets at once",
                r.id, r.max_parallel
            );
            show(&MessageView { message }, format)
        }
        RolloutCommand::Limits { max_parallel_total } => {
            let r = client
                .set_rollout_limits(max_parallel_total)
                .await
                .map_err(|e| failed(e, "cannot set the rollout limits".into()))?;
            let message = format!(
                "at most {} targets run at once over all rollouts",
                r.max_parallel_total
            );
            show(&MessageView { message }, format)
        }
        RolloutCommand::Watch {
            id,
            watch_timeout_s,
        } => watch(client, &id, Duration::from_secs(watch_timeout_s), format).await,
    }
}

/// What `GetRollout` takes for `--targets`: "" (none), "all" or a target state.
fn targets_word(targets: Option<TargetFilter>) -> String {
    targets.map_or_else(String::new, |t| t.as_str().to_string())
}

/// `rollout list`, by id in creation order (r10 after r9).
async fn list(client: &mut Client, stale: bool, format: OutputFormat) -> Result<()> {
    let r = client
        .list_rollouts(stale)
        .await
        .map_err(|e| failed(e, "cannot list rollouts".into()))?;
    let mut rollouts: Vec<RolloutJson> = r.rollouts.iter().map(RolloutJson::from).collect();
    rollouts.sort_by(|a, b| (a.id.len(), &a.id).cmp(&(b.id.len(), &b.id)));
    show(
        &RolloutListView {
            rollouts,
            max_parallel_total: r.max_parallel_total,
            running_total: r.running_total,
        },
        format,
    )
}

/// `rollout start`: the new rollout is shown, and followed with `--watch`.
async fn start(args: RolloutStartArgs, client: &mut Client, format: OutputFormat) -> Result<()> {
    let inputs = inputs_json(&args.inputs)?;
    let (blueprint, revision) = match (&args.blueprint, args.revision) {
        (Some(b), None) => (b.name.clone(), b.revision.unwrap_or(0)),
        (None, r) => (String::new(), r.unwrap_or(0)),
        (Some(_), Some(_)) => {
            return Err(Failure::new(
                Exit::Usage,
                "--revision: give the revision of an install as --blueprint NAME@REV",
            )
            .into())
        }
    };
    let install = args.action == RolloutActionKind::Install;
    let msg = pb::StartRolloutRequest {
        blueprint,
        revision,
        inputs_json: inputs.unwrap_or_default(),
        environment_name: if install {
            args.env_name
        } else {
            String::new()
        },
        labels: args.labels.into_iter().collect(),
        ..rollout_request(&args.group, args.action, &args.plan)
    };
    let r = client.start_rollout(msg).await.map_err(|e| {
        let action = args.action.as_str();
        failed(
            e,
            format!("cannot start the {action} rollout on group {}", args.group),
        )
    })?;
    announce(client, &r, "started", args.watch.limit(), format).await
}

/// Pause, resume, cancel, approve or roll back rollout `id`; with `watch_s`, then follow it.
async fn control(
    client: &mut Client,
    id: String,
    op: RolloutOp,
    watch_s: Option<u64>,
    format: OutputFormat,
) -> Result<()> {
    let r = client
        .control_rollout(id.clone(), op)
        .await
        .map_err(|e| failed(e, format!("cannot {} rollout {id}", op.verb())))?;
    let done = match op {
        RolloutOp::Pause => "paused: running targets finish, none starts".to_string(),
        RolloutOp::Resume => "resumed".to_string(),
        RolloutOp::Cancel => {
            "cancelled: queued targets skipped, running ones stop dispatching".to_string()
        }
        RolloutOp::Approve => "approved: the next wave runs".to_string(),
        // A rollback is a new rollout: `r` is that one.
        RolloutOp::Rollback => format!("started, rolling back {id}"),
    };
    announce(client, &r, &done, watch_s, format).await
}

/// Prints what happened to rollout `r`, then follows it with `--watch`.
async fn announce(
    client: &mut Client,
    r: &pb::Rollout,
    done: &str,
    watch_s: Option<u64>,
    format: OutputFormat,
) -> Result<()> {
    let j = RolloutJson::from(r);
    if format == OutputFormat::Table {
        emit(&format!(
            "rollout {} {done}: {} ({} targets, {})\n",
            j.id,
            what(&j),
            j.total,
            display::<RolloutState>(&j.state)
        ))?;
    } else if watch_s.is_none() {
        // With --watch, programs get only the updates: one kind of object.
        show(&RolloutView { rollout: j }, format)?;
    }
    match watch_s {
        Some(s) => watch(client, &r.id, Duration::from_secs(s), format).await,
        None => Ok(()),
    }
}
