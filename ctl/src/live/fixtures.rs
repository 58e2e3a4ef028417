//! Executions and steps for the display tests.

use moor_proto::workflow as pb;

/// Step `index` of resource `r{index}`, in `state` after `attempt` attempts.
pub fn step(index: u32, state: &str, attempt: u32) -> pb::Step {
    pb::Step {
        index,
        resource: format!("r{index}"),
        resource_type: "sim.resource".into(),
        action: "create".into(),
        state: state.into(),
        attempt,
        fence_token: if attempt > 0 { 3 } else { 0 },
        ..Default::default()
    }
}

/// Update `x4` of environment `web-1` in `state`, its counts taken from `steps`.
pub fn exec(state: &str, steps: Vec<pb::Step>) -> pb::Execution {
    let count = |s: &str| steps.iter().filter(|x| x.state == s).count() as u32;
    pb::Execution {
        id: "x4".into(),
        environment: "web-1".into(),
        kind: "update".into(),
        state: state.into(),
        steps_total: steps.len() as u32,
        steps_succeeded: count("succeeded"),
        steps_failed: count("failed"),
        steps_running: count("dispatched"),
        steps,
        ..Default::default()
    }
}
