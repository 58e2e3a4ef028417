//! Flags whose values are wire names (`--kind`, `--action`, `--of`, `--status`, `--state`,
//! `--targets`, `--type`, `--policy`):
//! parsed into the `moor_proto::names` enums, so moorctl spells no state or kind itself and
//! the `--help` lists and error messages come from the same list as the server's.

use std::ffi::OsStr;

use clap::builder::{PossibleValue, StringValueParser, TypedValueParser};
use moor_proto::names::{
    ExecKind, GroupKind, ReceiverKind, RolloutActionKind, TargetState, TriggerPolicy, WireName,
};

/// A clap value parser from a parse function, with the values `--help` lists: the one way
/// a flag of this file is parsed, whatever it yields.
#[derive(Clone)]
pub struct NamedValueParser<T> {
    parse: fn(&str) -> Result<T, String>,
    values: Vec<PossibleValue>,
}

impl<T: Clone + Send + Sync + 'static> TypedValueParser for NamedValueParser<T> {
    type Value = T;

    /// A value `parse` refuses is a usage error with its message.
    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<T, clap::Error> {
        let parse = self.parse;
        StringValueParser::new()
            .try_map(move |s| parse(&s))
            .parse_ref(cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(self.values.iter().cloned()))
    }
}

/// The wire names of `T`, listed in `--help`; a name `T` does not have is a usage error
/// listing [`WireName::one_of`].
pub fn wire_names<T: WireName + Send + Sync>() -> NamedValueParser<T> {
    NamedValueParser {
        parse: parse_wire_name::<T>,
        values: T::ALL
            .iter()
            .map(|v| PossibleValue::new(v.as_str()))
            .collect(),
    }
}

/// [`wire_names`], each listed with `help(variant)`.
pub fn wire_names_with_help<T: WireName + Send + Sync>(
    help: fn(T) -> &'static str,
) -> NamedValueParser<T> {
    NamedValueParser {
        parse: parse_wire_name::<T>,
        values: T::ALL
            .iter()
            .map(|v| PossibleValue::new(v.as_str()).help(help(*v)))
            .collect(),
    }
}

/// `T`'s variant named `s`, or an error listing the names there are.
pub fn parse_wire_name<T: WireName>(s: &str) -> Result<T, String> {
    T::parse(s).ok_or_else(|| {
        let article = if T::WHAT.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        format!("not {article} {}; use one of {}", T::WHAT, T::one_of())
    })
}

/// What each kind of execution does, for `exec start --help`.
pub fn exec_kind_help(kind: ExecKind) -> &'static str {
    match kind {
        ExecKind::Install => "Install the environment's revision (again)",
        ExecKind::Update => "Move to another revision and/or other inputs",
        ExecKind::Uninstall => "Delete every resource",
        ExecKind::Heal => "Re-apply drifted or missing resources at the current revision",
        ExecKind::Rollback => "Go back to the previous revision",
    }
}

/// What each rollout action does to each target, for `rollout start --help`.
pub fn rollout_action_help(action: RolloutActionKind) -> &'static str {
    match action {
        RolloutActionKind::Install => {
            "Create an environment on every site of a group of sites and install it"
        }
        RolloutActionKind::Update => {
            "Move every environment of the group to a revision and/or new inputs"
        }
        RolloutActionKind::Uninstall => "Delete every resource of every environment of the group",
        RolloutActionKind::Heal => "Re-apply drifted or missing resources",
        RolloutActionKind::Rollback => "Take every environment back to its previous revision",
    }
}

/// What each kind of group selects, for `group put --help`.
pub fn group_kind_help(kind: GroupKind) -> &'static str {
    match kind {
        GroupKind::Sites => "Sites (for install rollouts, which create an environment on each)",
        GroupKind::Environments => {
            "Environments (for update, uninstall, heal and rollback rollouts)"
        }
    }
}

/// What each receiver type authenticates, for `receiver create --help`.
pub fn receiver_kind_help(kind: ReceiverKind) -> &'static str {
    match kind {
        ReceiverKind::Github => {
            "GitHub webhooks: the secret is the webhook's secret (X-Hub-Signature-256)"
        }
        ReceiverKind::Gitlab => {
            "GitLab webhooks: the secret token (X-Gitlab-Token) or the signing key (whsec_...)"
        }
        ReceiverKind::Standard => {
            "Standard Webhooks signatures (webhook-signature), for any CI system: the signing key"
        }
    }
}

/// What each trigger policy does, for `trigger create --help`.
pub fn trigger_policy_help(policy: TriggerPolicy) -> &'static str {
    match policy {
        TriggerPolicy::Queue => {
            "Start it when the running rollout ends; a newer revision replaces a queued one"
        }
        TriggerPolicy::Supersede => "Cancel the running rollout and start the new one",
    }
}

/// Which targets `rollout show --targets` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetFilter {
    /// Every target.
    All,
    /// The targets in one state.
    In(TargetState),
}

impl TargetFilter {
    /// The word the API takes: `all` or a target state.
    pub fn as_str(&self) -> &'static str {
        match self {
            TargetFilter::All => "all",
            TargetFilter::In(state) => state.as_str(),
        }
    }
}

/// Parses `--targets`: `all` or a target state.
pub fn parse_target_filter(s: &str) -> Result<TargetFilter, String> {
    if s == TargetFilter::All.as_str() {
        return Ok(TargetFilter::All);
    }
    TargetState::parse(s).map(TargetFilter::In).ok_or_else(|| {
        format!(
            "not a target state; use {} or one of {}",
            TargetFilter::All.as_str(),
            TargetState::one_of()
        )
    })
}

/// The value parser of `--targets`: `all` and the target states, listed in `--help`.
pub fn target_filters() -> NamedValueParser<TargetFilter> {
    let all = PossibleValue::new(TargetFilter::All.as_str());
    let states = TargetState::ALL
        .iter()
        .map(|s| PossibleValue::new(s.as_str()));
    NamedValueParser {
        parse: parse_target_filter,
        values: std::iter::once(all).chain(states).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use moor_proto::names::{EnvStatus, ExecState};

    #[test]
    fn names_parse_into_their_enum() {
        assert_eq!(parse_wire_name::<ExecKind>("heal"), Ok(ExecKind::Heal));
        assert_eq!(
            parse_wire_name::<EnvStatus>("in_sync"),
            Ok(EnvStatus::InSync)
        );
        let e = parse_wire_name::<ExecKind>("nuke").unwrap_err();
        assert_eq!(
            e,
            format!("not an execution kind; use one of {}", ExecKind::one_of())
        );
        let e = parse_wire_name::<ExecState>("Running").unwrap_err();
        assert!(e.starts_with("not an execution state"), "{e}");
        let e = parse_wire_name::<GroupKind>("things").unwrap_err();
        assert!(
            e.starts_with("not a group kind; use one of sites, environments"),
            "{e}"
        );
    }

    #[test]
    fn target_filters() {
        assert_eq!(parse_target_filter("all"), Ok(TargetFilter::All));
        assert_eq!(
            parse_target_filter("failed"),
            Ok(TargetFilter::In(TargetState::Failed))
        );
        assert_eq!(TargetFilter::In(TargetState::Skipped).as_str(), "skipped");
        let e = parse_target_filter("bogus").unwrap_err();
        assert!(
            e.contains(&TargetState::one_of()) && e.contains("all"),
            "{e}"
        );
    }
}
