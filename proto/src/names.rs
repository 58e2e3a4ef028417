//! The one list of the names Moor's enums have on the wire and in output: execution kinds and
//! states, step actions and states, environment statuses, drift actions, rollout actions,
//! states and target states, group kinds. moord (through `moor-domain`, whose replicated types *are* these
//! enums) and moorctl both use this module, so a name can never be spelled two ways.
//!
//! A client that meets a name it does not know (a newer server) must show it as unknown,
//! never as another state: [`WireName::parse`] returns `None` for it.
//!
//! Adding a variant is a wire change that only grows: append it, never rename one. The serde
//! form of every variant is its wire name (snake_case), so the stored form and the wire form
//! are the same word.

use std::fmt;

/// An enum with a fixed set of wire names.
pub trait WireName: Sized + Copy + 'static {
    /// Every variant, in declaration order.
    const ALL: &'static [Self];
    /// What the enum is called in messages ("execution state").
    const WHAT: &'static str;
    /// The variant's wire name.
    fn as_str(&self) -> &'static str;
    /// The variant with this wire name, or `None` for a name this build does not know.
    fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.as_str() == name)
    }
    /// Every wire name, comma-separated: for "must be one of …" messages.
    fn one_of() -> String {
        Self::ALL
            .iter()
            .map(|v| v.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $what:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $wire:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        pub enum $name {
            $( $(#[$vmeta])* #[cfg_attr(feature = "serde", serde(rename = $wire))] $variant, )+
        }

        impl WireName for $name {
            const ALL: &'static [Self] = &[$($name::$variant),+];
            const WHAT: &'static str = $what;
            fn as_str(&self) -> &'static str {
                match self {
                    $($name::$variant => $wire,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum! {
    /// What an execution does.
    ExecKind, "execution kind" {
        Install = "install",
        Update = "update",
        Uninstall = "uninstall",
        Heal = "heal",
        Rollback = "rollback",
    }
}

wire_enum! {
    /// Lifecycle of an execution.
    ExecState, "execution state" {
        /// Waiting for an earlier execution of the same environment to end.
        Queued = "queued",
        Running = "running",
        Succeeded = "succeeded",
        /// A step failed for good; `resume` retries the failed steps only.
        Failed = "failed",
        Cancelled = "cancelled",
        /// Was running when the backup it was restored from was taken: nothing is dispatched
        /// until an operator resumes it (its steps keep their idempotency keys, so a step
        /// the old cluster already ran is not run twice).
        Interrupted = "interrupted",
    }
}

impl ExecState {
    /// No step will be dispatched any more (unless resumed, for `Failed`).
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            ExecState::Succeeded | ExecState::Failed | ExecState::Cancelled
        )
    }
}

wire_enum! {
    /// What a step does to its resource.
    StepAction, "step action" {
        Create = "create",
        Modify = "modify",
        Delete = "delete",
    }
}

wire_enum! {
    /// Lifecycle of a step.
    StepState, "step state" {
        /// Not yet dispatched (or waiting for a retry after its backoff).
        Pending = "pending",
        /// Dispatch committed; the driver call may be under way.
        Dispatched = "dispatched",
        Succeeded = "succeeded",
        Failed = "failed",
        /// Never dispatched because the execution was cancelled or failed first.
        Skipped = "skipped",
    }
}

wire_enum! {
    /// Environment status, as shown on the map.
    EnvStatus, "environment status" {
        Pending = "pending",
        Installing = "installing",
        Updating = "updating",
        Healing = "healing",
        RollingBack = "rolling_back",
        Uninstalling = "uninstalling",
        InSync = "in_sync",
        Drifted = "drifted",
        Failed = "failed",
        Uninstalled = "uninstalled",
    }
}

wire_enum! {
    /// What happens when an environment has drifted from its site (its drift policy).
    OnDrift, "drift action" {
        /// Report it (status drifted); change nothing at the site.
        Notify = "notify",
        /// Start a heal execution that repairs the drifted resources, within the hourly cap.
        Heal = "heal",
    }
}

wire_enum! {
    /// The kind of change a rollout makes on each target.
    RolloutActionKind, "rollout action" {
        Install = "install",
        Update = "update",
        Uninstall = "uninstall",
        Heal = "heal",
        Rollback = "rollback",
    }
}

wire_enum! {
    /// Lifecycle of a rollout.
    RolloutState, "rollout state" {
        Running = "running",
        /// Paused by a user or by the failure budget: running targets finish, none start.
        Paused = "paused",
        /// A wave finished and the next one waits for `approve`.
        WaitingApproval = "waiting_approval",
        Succeeded = "succeeded",
        /// Every wave ran and some targets failed; `resume` retries just those.
        Failed = "failed",
        Cancelled = "cancelled",
    }
}

impl RolloutState {
    /// Nothing runs and nothing will start unless a user resumes it.
    pub fn is_ended(&self) -> bool {
        matches!(
            self,
            RolloutState::Succeeded | RolloutState::Failed | RolloutState::Cancelled
        )
    }
}

wire_enum! {
    /// Lifecycle of one target of a rollout.
    TargetState, "target state" {
        Queued = "queued",
        Running = "running",
        Succeeded = "succeeded",
        Failed = "failed",
        /// Never ran (or was stopped) because the rollout was cancelled.
        Skipped = "skipped",
    }
}

wire_enum! {
    /// What a group selects.
    GroupKind, "group kind" {
        Sites = "sites",
        Environments = "environments",
    }
}

/// A wire name shown to a person: the known variant's name, or the raw name marked unknown.
/// moorctl renders every state through this, so a state added by a newer server is never
/// shown as one it knows.
pub fn display<T: WireName>(name: &str) -> String {
    match T::parse(name) {
        Some(v) => v.as_str().to_string(),
        None => format!("unknown({name})"),
    }
}

wire_enum! {
    /// Which CI system a webhook receiver speaks to, and so how a delivery is authenticated.
    ReceiverKind, "receiver type" {
        /// `X-Hub-Signature-256`: HMAC-SHA256 of the body.
        Github = "github",
        /// `X-Gitlab-Token`, or the signed `webhook-signature` format.
        Gitlab = "gitlab",
        /// Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature`.
        Standard = "standard",
    }
}

wire_enum! {
    /// What a recorded webhook delivery came to.
    DeliveryVerdict, "delivery verdict" {
        /// A push that asked one or more sources to fetch.
        Accepted = "accepted",
        /// Authentic, but nothing to do (another event, another branch, no source follows it).
        Ignored = "ignored",
        /// The CI system's test delivery.
        Ping = "ping",
    }
}

wire_enum! {
    /// What a trigger does with a new revision while its rollout runs.
    TriggerPolicy, "trigger policy" {
        /// Start it when the running rollout ends; a newer revision replaces a queued one.
        Queue = "queue",
        /// Cancel the running rollout and start the new one.
        Supersede = "supersede",
    }
}

wire_enum! {
    /// What a trigger did with one new revision.
    FiringOutcome, "trigger firing outcome" {
        Started = "started",
        Queued = "queued",
        /// Queued, then replaced by a newer revision before it started.
        Superseded = "superseded",
        /// Starting the rollout was refused (the firing's error says why).
        Failed = "failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips<T: WireName + PartialEq + fmt::Debug>() {
        let mut seen = std::collections::BTreeSet::new();
        for v in T::ALL {
            assert_eq!(T::parse(v.as_str()), Some(*v), "{}", T::WHAT);
            assert!(seen.insert(v.as_str()), "{} spelled twice", v.as_str());
            assert!(v
                .as_str()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_'));
        }
        assert_eq!(T::parse("no_such_name"), None);
    }

    #[test]
    fn every_name_round_trips_and_is_unique() {
        round_trips::<ExecKind>();
        round_trips::<ExecState>();
        round_trips::<StepAction>();
        round_trips::<StepState>();
        round_trips::<EnvStatus>();
        round_trips::<RolloutActionKind>();
        round_trips::<RolloutState>();
        round_trips::<TargetState>();
        round_trips::<GroupKind>();
        round_trips::<ReceiverKind>();
        round_trips::<DeliveryVerdict>();
        round_trips::<TriggerPolicy>();
        round_trips::<FiringOutcome>();
    }

    #[test]
    fn unknown_names_stay_unknown() {
        assert_eq!(display::<ExecState>("running"), "running");
        assert_eq!(display::<ExecState>("hibernating"), "unknown(hibernating)");
        assert_eq!(
            ExecState::one_of(),
            "queued, running, succeeded, failed, cancelled, interrupted"
        );
    }

    #[cfg(feature = "serde")]
    #[test]
    fn serde_form_is_the_wire_name() {
        for v in EnvStatus::ALL {
            let json = serde_json::to_string(v).unwrap();
            assert_eq!(json, format!("\"{}\"", v.as_str()));
        }
    }
}
