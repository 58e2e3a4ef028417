//! Drift policies as the two APIs take them: a `DriftPolicy` message on environments, flat
//! `drift_*` fields on groups (empty `drift_on_drift`: none). Used by `env create`, `env
//! drift`, `group put` and the environments and groups files of `apply -f`.

use moor_proto::rollout as rpb;
use moor_proto::workflow as pb;

use crate::cli::DriftPolicy;

/// An environment's policy on the wire.
pub(super) fn wire_policy(p: DriftPolicy) -> pb::DriftPolicy {
    pb::DriftPolicy {
        check_every_ms: p.check_every_ms(),
        on_drift: p.on_drift.as_str().into(),
        max_heals_per_hour: p.max_heals_per_hour,
    }
}

/// Sets `g`'s policy fields to `p` (none: cleared).
pub(super) fn set_group_policy(g: &mut rpb::Group, p: Option<DriftPolicy>) {
    let w = p.map(wire_policy).unwrap_or_default();
    g.drift_check_every_ms = w.check_every_ms;
    g.drift_on_drift = w.on_drift;
    g.drift_max_heals_per_hour = w.max_heals_per_hour;
}
