//! `moorctl group` and `moorctl rollout`: turn arguments into rollout API calls, answers into
//! views, and follow a rollout live.
//!
//! `rollout watch` polls the rollout (any member answers, so it survives a failover without
//! a stream to re-open) and shows, on a terminal, a bar per wave with its counts, the rate
//! of targets finishing, an ETA and the failures grouped by error; in a pipe, a line each
//! time the counts change; with `-o json`, one object per change.

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::time::Duration;

use anyhow::Result;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use moor_proto::rollout as pb;
use tokio::time::Instant;

use crate::cli::OutputFormat;
use crate::cli::{GroupCommand, GroupKindArg, RolloutCommand, RolloutStartArgs};
use crate::client::{Client, RolloutOp, RpcError};
use crate::exit::{Exit, Failure};
use crate::views::cells::escape_controls;
use crate::views::group::{GroupListView, GroupView};
use crate::views::message::MessageView;
use crate::views::rollout::{counts_line, what, RolloutJson, RolloutListView, RolloutView};
use crate::views::time::{now_ms, utc};
use crate::views::{emit, show};
use crate::workflow_commands::inputs_json;

/// How often `rollout watch` asks for the rollout.
const POLL: Duration = Duration::from_millis(500);
/// Finished-target samples the rate is computed over (one per poll: the last ~15 s).
const RATE_WINDOW: usize = 30;

fn failed(err: RpcError, what: String) -> anyhow::Error {
    let hint = match err.code() {
        Some(tonic::Code::NotFound) => {
            Some("`moorctl rollout list` and `moorctl group list` show what exists; create a group with `moorctl group put`")
        }
        _ => None,
    };
    match hint {
        Some(h) => anyhow::Error::new(err).context(format!("{what}; {h}")),
        None => anyhow::Error::new(err).context(what),
    }
}

pub async fn group(command: GroupCommand, client: &mut Client, format: OutputFormat) -> Result<()> {
    match command {
        GroupCommand::Put(a) => {
            let name = a.name.clone();
            let g = pb::Group {
                name: a.name,
                kind: match a.of {
                    GroupKindArg::Sites => "sites",
                    GroupKindArg::Environments => "environments",
                }
                .into(),
                match_labels: a.labels.into_iter().collect(),
                names: a.names,
                ..Default::default()
            };
            let r = client
                .put_group(g)
                .await
                .map_err(|e| failed(e, format!("cannot put group {name}")))?;
            show(
                &MessageView {
                    message: format!(
                        "group {name} {}; it selects {} now",
                        if r.created { "created" } else { "replaced" },
                        r.matches
                    ),
                },
                format,
            )
        }
        GroupCommand::List { read } => {
            let r = client
                .list_groups(read.stale)
                .await
                .map_err(|e| failed(e, "cannot list groups".into()))?;
            show(
                &GroupListView {
                    groups: r.groups.iter().map(GroupView::from).collect(),
                },
                format,
            )
        }
        GroupCommand::Show { name, read } => {
            let g = client
                .get_group(name.clone(), read.stale)
                .await
                .map_err(|e| failed(e, format!("cannot show group {name}")))?;
            show(&GroupView::from(&g), format)
        }
        GroupCommand::Delete { name } => {
            client
                .delete_group(name.clone())
                .await
                .map_err(|e| failed(e, format!("cannot delete group {name}")))?;
            show(
                &MessageView {
                    message: format!("group {name} deleted"),
                },
                format,
            )
        }
    }
}

pub async fn rollout(
    command: RolloutCommand,
    client: &mut Client,
    format: OutputFormat,
) -> Result<()> {
    match command {
        RolloutCommand::Start(args) => start(*args, client, format).await,
        RolloutCommand::List { read } => {
            let r = client
                .list_rollouts(read.stale)
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
        RolloutCommand::Show { id, targets, read } => {
            let r = client
                .get_rollout(id.clone(), targets.unwrap_or_default(), read.stale)
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
            show(
                &MessageView {
                    message: format!(
                        "rollout {} now runs up to {} targets at once",
                        r.id, r.max_parallel
                    ),
                },
                format,
            )
        }
        RolloutCommand::Limits { max_parallel_total } => {
            let r = client
                .set_rollout_limits(max_parallel_total)
                .await
                .map_err(|e| failed(e, "cannot set the rollout limits".into()))?;
            show(
                &MessageView {
                    message: format!(
                        "at most {} targets run at once over all rollouts",
                        r.max_parallel_total
                    ),
                },
                format,
            )
        }
        RolloutCommand::Watch {
            id,
            watch_timeout_s,
        } => watch(client, &id, Duration::from_secs(watch_timeout_s), format).await,
    }
}

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
    let install = args.action.as_str() == "install";
    let msg = pb::StartRolloutRequest {
        group: args.group.clone(),
        action: args.action.as_str().into(),
        blueprint,
        revision,
        inputs_json: inputs.unwrap_or_default(),
        environment_name: if install {
            args.env_name
        } else {
            String::new()
        },
        labels: args.labels.into_iter().collect(),
        max_parallel: args.max_parallel as i64,
        waves: args.waves,
        require_approval: args.approval,
        max_failed: args.max_failed.map(i64::from),
        max_failed_percent: args.max_failed_percent.map(i64::from),
        max_attempts: args.max_attempts.unwrap_or(0),
        backoff_base_ms: 0,
        backoff_max_ms: 0,
        step_timeout_ms: args.step_timeout_ms.unwrap_or(0),
    };
    let r = client.start_rollout(msg).await.map_err(|e| {
        failed(
            e,
            format!(
                "cannot start the {} rollout on group {}",
                args.action.as_str(),
                args.group
            ),
        )
    })?;
    announce(client, &r, "started", args.watch.limit(), format).await
}

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
        RolloutOp::Pause => "paused: running targets finish, none starts",
        RolloutOp::Resume => "resumed",
        RolloutOp::Cancel => "cancelled: queued targets skipped, running ones stop dispatching",
        RolloutOp::Approve => "approved: the next wave runs",
        RolloutOp::Rollback => "started to roll back",
    };
    if op == RolloutOp::Rollback {
        return announce(
            client,
            &r,
            &format!("started, rolling back {id}"),
            watch_s,
            format,
        )
        .await;
    }
    announce(client, &r, done, watch_s, format).await
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
    if format == OutputFormat::Table || watch_s.is_none() {
        if format == OutputFormat::Table {
            emit(&format!(
                "rollout {} {done}: {} ({} targets, {})\n",
                j.id,
                what(&j),
                j.total,
                j.state
            ))?;
        } else {
            show(&RolloutView { rollout: j }, format)?;
        }
    }
    match watch_s {
        Some(s) => watch(client, &r.id, Duration::from_secs(s), format).await,
        None => Ok(()),
    }
}

/// The exit of a watch that saw the rollout stop moving.
fn verdict(r: &RolloutJson) -> Result<()> {
    let id = &r.id;
    match r.state.as_str() {
        "succeeded" => Ok(()),
        "waiting_approval" => {
            eprintln!(
                "moorctl: rollout {id} finished wave {} and waits for approval: `moorctl rollout approve {id}`",
                r.current_wave + 1
            );
            Ok(())
        }
        "paused" => Err(Failure::new(
            Exit::NotSucceeded,
            format!(
                "rollout {id} is paused ({}): see the failures with `moorctl rollout show {id} --targets failed`, \
                 then `moorctl rollout resume {id}` (retries the failed targets) or `moorctl rollout rollback {id}`",
                r.pause_reason
            ),
        )
        .into()),
        "failed" => Err(Failure::new(
            Exit::NotSucceeded,
            format!(
                "rollout {id} ended with {} failed targets: see them with `moorctl rollout show {id} --targets failed`, \
                 retry them with `moorctl rollout resume {id}`",
                r.failed
            ),
        )
        .into()),
        _ => Err(Failure::new(
            Exit::NotSucceeded,
            format!("rollout {id} was cancelled: {}", counts_line(r)),
        )
        .into()),
    }
}

/// True when nothing will move without a person: the watch ends.
fn settled(r: &pb::Rollout) -> bool {
    match r.state.as_str() {
        "succeeded" | "failed" | "cancelled" | "waiting_approval" => true,
        "paused" => r.running == 0,
        _ => false,
    }
}

/// Finished targets per second over the last samples, and the time to finish the rest.
#[derive(Default)]
struct Rate {
    samples: VecDeque<(Instant, u32)>,
}

impl Rate {
    fn add(&mut self, at: Instant, finished: u32) {
        self.samples.push_back((at, finished));
        while self.samples.len() > RATE_WINDOW {
            self.samples.pop_front();
        }
    }

    fn per_s(&self) -> Option<f64> {
        let (t0, n0) = *self.samples.front()?;
        let (t1, n1) = *self.samples.back()?;
        let dt = (t1 - t0).as_secs_f64();
        (dt >= 1.0).then(|| (n1.saturating_sub(n0)) as f64 / dt)
    }

    fn line(&self, left: u32) -> String {
        match self.per_s() {
            Some(r) if r > 0.0 => {
                let eta = left as f64 / r;
                format!("{r:.1}/s, ETA {}", short_duration(eta))
            }
            Some(_) => "0/s".into(),
            None => "rate …".into(),
        }
    }
}

fn short_duration(s: f64) -> String {
    let s = s.round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// Follows rollout `id` until it settles or `limit` passes.
async fn watch(client: &mut Client, id: &str, limit: Duration, format: OutputFormat) -> Result<()> {
    let until = Instant::now() + limit;
    let mut live =
        (format == OutputFormat::Table && std::io::stdout().is_terminal()).then(LiveRollout::new);
    let mut rate = Rate::default();
    let mut last_line = String::new();
    loop {
        let r = client
            .get_rollout(id.to_string(), String::new(), false)
            .await
            .map_err(|e| failed(e, format!("cannot watch rollout {id}")))?;
        let j = RolloutJson::from(&r);
        rate.add(Instant::now(), r.succeeded + r.failed + r.skipped);
        let left = r.queued + r.running;
        match (&mut live, format) {
            (Some(l), _) => l.update(&j, &rate.line(left)),
            (None, OutputFormat::Table) => {
                let line = format!("{}: {}", j.state, counts_line(&j));
                if line != last_line {
                    emit(&format!(
                        "{} rollout {id} {line} ({})\n",
                        utc(now_ms()),
                        rate.line(left)
                    ))?;
                    last_line = line;
                }
            }
            (None, _) => {
                let line = serde_json::to_string(&j)?;
                if line != last_line {
                    match format {
                        OutputFormat::Yaml => {
                            emit(&format!("---\n{}", serde_yaml_ng::to_string(&j)?))?
                        }
                        _ => emit(&format!("{line}\n"))?,
                    }
                    last_line = line;
                }
            }
        }
        if settled(&r) {
            if let Some(l) = live.take() {
                l.finish();
            }
            if format == OutputFormat::Table {
                show(&RolloutView { rollout: j }, format)?;
                let j = RolloutJson::from(&r);
                return verdict(&j);
            }
            return verdict(&j);
        }
        if Instant::now() + POLL > until {
            return Err(Failure::new(
                Exit::Error,
                format!(
                    "stopped watching rollout {id} after {} s; it goes on: {} (`moorctl rollout watch {id}` to follow again)",
                    limit.as_secs(),
                    counts_line(&j)
                ),
            )
            .into());
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The live display: a header line, a bar per wave, the failures by error.
struct LiveRollout {
    multi: MultiProgress,
    header: ProgressBar,
    waves: Vec<ProgressBar>,
    failures: ProgressBar,
}

impl LiveRollout {
    fn new() -> LiveRollout {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stdout());
        let header = multi.add(ProgressBar::new(0));
        header.set_style(
            ProgressStyle::with_template("{spinner} {msg}  {elapsed}").expect("valid template"),
        );
        header.enable_steady_tick(Duration::from_millis(120));
        let failures = multi.add(ProgressBar::new(0));
        failures.set_style(ProgressStyle::with_template("{msg}").expect("valid template"));
        LiveRollout {
            multi,
            header,
            waves: Vec::new(),
            failures,
        }
    }

    fn update(&mut self, r: &RolloutJson, rate: &str) {
        self.header.set_message(format!(
            "rollout {} {} [{}]: {}  {rate}",
            r.id,
            what(r),
            r.state,
            counts_line(r)
        ));
        while self.waves.len() < r.waves.len() {
            let bar = ProgressBar::new(0).with_style(
                ProgressStyle::with_template(
                    "  wave {prefix:>2} [{bar:30}] {pos:>6}/{len:6} {msg}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            let bar = self.multi.insert_before(&self.failures, bar);
            bar.set_prefix((self.waves.len() + 1).to_string());
            self.waves.push(bar);
        }
        for (bar, w) in self.waves.iter().zip(&r.waves) {
            bar.set_length(w.size as u64);
            bar.set_position((w.succeeded + w.failed + w.skipped) as u64);
            bar.set_message(format!(
                "{} failed, {} running, {} queued",
                w.failed, w.running, w.queued
            ));
        }
        let text = if r.failures.is_empty() {
            String::new()
        } else {
            let mut t = String::from("  failures:");
            for f in r.failures.iter().take(5) {
                t.push_str(&format!(
                    "\n    {:>5}  {}",
                    f.count,
                    escape_controls(&f.error)
                ));
            }
            if r.failures.len() > 5 {
                t.push_str(&format!("\n    … {} more kinds", r.failures.len() - 5));
            }
            t
        };
        self.failures.set_message(text);
    }

    fn finish(self) {
        for b in &self.waves {
            b.finish();
        }
        self.header.finish_and_clear();
        self.failures.finish_and_clear();
        let _ = self.multi.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_and_eta() {
        let mut r = Rate::default();
        let t = Instant::now();
        assert_eq!(r.line(10), "rate …");
        r.add(t, 0);
        r.add(t + Duration::from_secs(2), 20);
        assert_eq!(r.per_s(), Some(10.0));
        assert_eq!(r.line(100), "10.0/s, ETA 10s");
        assert_eq!(short_duration(3725.0), "1h02m");
        assert_eq!(short_duration(61.0), "1m01s");
    }

    #[test]
    fn watch_settles_when_nothing_moves_without_a_person() {
        let mut r = pb::Rollout {
            state: "running".into(),
            ..Default::default()
        };
        assert!(!settled(&r));
        r.state = "paused".into();
        r.running = 2;
        assert!(!settled(&r), "running targets still finish");
        r.running = 0;
        assert!(settled(&r));
        for s in ["succeeded", "failed", "cancelled", "waiting_approval"] {
            r.state = s.into();
            assert!(settled(&r));
        }
        let j = RolloutJson::from(&pb::Rollout {
            id: "r1".into(),
            state: "paused".into(),
            pause_reason: "failure budget exceeded".into(),
            ..Default::default()
        });
        let e = verdict(&j).unwrap_err();
        assert_eq!(Exit::of_error(&e), Exit::NotSucceeded);
        assert!(e.to_string().contains("rollout resume r1"), "{e}");
    }
}
