//! Following a rollout until nothing moves without a person, and the exit code of where it
//! stopped.
//!
//! `rollout watch` polls the rollout (any member answers, so it survives a failover without
//! a stream to re-open) and hands every poll to a display (`live/`): on a terminal, a bar per
//! wave with its counts, the rate of targets finishing, an ETA and the failures grouped by
//! error; in a pipe, a line each time the counts change; with `-o json`, one object per
//! change.

use std::time::Duration;

use anyhow::Result;
use moor_proto::names::{display, RolloutState, WireName};
use moor_proto::rollout as pb;
use tokio::time::Instant;

use super::hints::rollout_failed as failed;
use crate::cli::OutputFormat;
use crate::client::Client;
use crate::exit::{Exit, Failure};
use crate::live::rollout_display;
use crate::views::rollout::{counts_line, RolloutJson};

/// How often `rollout watch` asks for the rollout.
const POLL: Duration = Duration::from_millis(500);

/// Follows rollout `id` until it settles or `limit` passes.
pub(super) async fn watch(
    client: &mut Client,
    id: &str,
    limit: Duration,
    format: OutputFormat,
) -> Result<()> {
    let until = Instant::now() + limit;
    let mut display = rollout_display(format);
    loop {
        let r = client
            .get_rollout(id.to_string(), String::new(), false)
            .await
            .map_err(|e| failed(e, format!("cannot watch rollout {id}")))?;
        display.update(&r)?;
        if settled(&r) {
            display.finish(&r)?;
            return verdict(&RolloutJson::from(&r));
        }
        if Instant::now() + POLL > until {
            return Err(Failure::new(
                Exit::Error,
                format!(
                    "stopped watching rollout {id} after {} s; it goes on: {} (`moorctl rollout watch {id}` to follow again)",
                    limit.as_secs(),
                    counts_line(&RolloutJson::from(&r))
                ),
            )
            .into());
        }
        tokio::time::sleep(POLL).await;
    }
}

/// True when nothing will move without a person: the watch ends. A state this build does
/// not know is not settled: the watch goes on, and stops only by its time limit (exit code
/// 1), never as a success.
fn settled(r: &pb::Rollout) -> bool {
    use RolloutState as S;
    match RolloutState::parse(&r.state) {
        Some(S::Succeeded | S::Failed | S::Cancelled | S::WaitingApproval) => true,
        Some(S::Paused) => r.running == 0,
        Some(S::Running) | None => false,
    }
}

/// The exit of a watch that saw the rollout stop moving.
fn verdict(r: &RolloutJson) -> Result<()> {
    use RolloutState as S;
    let id = &r.id;
    match RolloutState::parse(&r.state) {
        Some(S::Succeeded) => Ok(()),
        Some(S::WaitingApproval) => {
            eprintln!(
                "moorctl: rollout {id} finished wave {} and waits for approval: `moorctl rollout approve {id}`",
                r.current_wave + 1
            );
            Ok(())
        }
        Some(S::Paused) => Err(Failure::new(
            Exit::NotSucceeded,
            format!(
                "rollout {id} is paused ({}): see the failures with `moorctl rollout show {id} --targets failed`, \
                 then `moorctl rollout resume {id}` (retries the failed targets) or `moorctl rollout rollback {id}`",
                r.pause_reason
            ),
        )
        .into()),
        Some(S::Failed) => Err(Failure::new(
            Exit::NotSucceeded,
            format!(
                "rollout {id} ended with {} failed targets: see them with `moorctl rollout show {id} --targets failed`, \
                 retry them with `moorctl rollout resume {id}`",
                r.failed
            ),
        )
        .into()),
        Some(S::Cancelled) => Err(Failure::new(
            Exit::NotSucceeded,
            format!("rollout {id} was cancelled: {}", counts_line(r)),
        )
        .into()),
        Some(S::Running) => unreachable!("verdict of running rollout {id}"),
        None => Err(Failure::new(
            Exit::Error,
            format!(
                "rollout {id} is in the state {}, which this moorctl does not know, so it \
                 cannot say whether it succeeded; see `moorctl rollout show {id}`",
                display::<RolloutState>(&r.state)
            ),
        )
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn an_unknown_state_is_neither_settled_nor_a_success() {
        let r = pb::Rollout {
            id: "r1".into(),
            state: "draining".into(),
            ..Default::default()
        };
        assert!(
            !settled(&r),
            "a watch goes on through a state it does not know"
        );
        let e = verdict(&RolloutJson::from(&r)).unwrap_err();
        assert_eq!(Exit::of_error(&e), Exit::Error);
        assert!(e.to_string().contains("unknown(draining)"), "{e}");
    }
}
