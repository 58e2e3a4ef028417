//! The checks that span several arguments (a key given twice, a flag the chosen kind does not
//! take), made once clap has parsed each value; failures are usage errors (exit code 2).

use std::collections::{BTreeMap, BTreeSet};

use clap::error::ErrorKind;
use clap::CommandFactory;

use moor_proto::names::{ExecKind, RolloutActionKind, WireName};

use super::*;

impl Cli {
    /// Checks that clap's per-value parsers cannot make.
    pub(super) fn validated(self) -> Result<Cli, clap::Error> {
        match &self.command {
            Command::Apply(a) => check_stdin_once("-f -", &a.files)?,
            Command::Blueprint(BlueprintCommand::Validate { files }) => {
                check_stdin_once("FILE -", files)?
            }
            Command::Env(EnvCommand::Create(c)) => {
                check_unique("--input", c.inputs.inputs.iter().map(|(k, _)| k))?;
                check_unique("--label", c.labels.iter().map(|(k, _)| k))?;
                c.drift.policy().map_err(usage_error)?;
            }
            Command::Env(EnvCommand::Drift(d)) => {
                d.policy().map_err(usage_error)?;
            }
            Command::Group(GroupCommand::Put(g)) => {
                g.drift.policy().map_err(usage_error)?;
            }
            Command::Rollout(RolloutCommand::Start(s)) => check_rollout_start(s)?,
            Command::Trigger(TriggerCommand::Create(t)) => check_trigger_create(t)?,
            Command::Source(SourceCommand::Add(a)) => {
                parse_source_url(&a.url).map_err(|e| usage_error(format!("--url: {e}")))?;
            }
            Command::Exec(ExecCommand::Start(s)) => check_exec_start(s)?,
            Command::Cluster(ClusterCommand::Init { members, .. }) => {
                check_members(members.iter().map(|m| (m.id, Some(m.addr.as_str()))))?
            }
            Command::Cluster(ClusterCommand::Bootstrap { members, .. }) => {
                check_members(members.iter().map(|m| (m.id, m.peer_addr.as_deref())))?
            }
            _ => {}
        }
        Ok(self)
    }
}

/// Standard input (`-`) can be read only once; `what` names the argument.
fn check_stdin_once(what: &str, files: &[std::path::PathBuf]) -> Result<(), clap::Error> {
    if files.iter().filter(|f| f.as_os_str() == "-").count() > 1 {
        return Err(usage_error(format!(
            "{what}: standard input can be read only once"
        )));
    }
    Ok(())
}

/// `rollout start`: each action takes only its own flags.
fn check_rollout_start(s: &RolloutStartArgs) -> Result<(), clap::Error> {
    use RolloutActionKind as A;
    check_unique("--input", s.inputs.inputs.iter().map(|(k, _)| k))?;
    check_unique("--label", s.labels.iter().map(|(k, _)| k))?;
    if s.blueprint.is_some() != (s.action == A::Install) {
        return Err(usage_error(if s.action == A::Install {
            "--blueprint: an install rollout needs the blueprint to install".into()
        } else {
            format!(
                "--blueprint: only an install rollout takes a blueprint, not {}",
                s.action.as_str()
            )
        }));
    }
    if !s.inputs.is_empty() && !matches!(s.action, A::Install | A::Update) {
        return Err(usage_error(format!(
            "--input / --inputs-file: only install and update rollouts take inputs, not {}",
            s.action.as_str()
        )));
    }
    if s.revision.is_some() && s.action != A::Update {
        return Err(usage_error(format!(
            "--revision: only an update rollout takes --revision (an install takes \
             --blueprint NAME@REV), not {}",
            s.action.as_str()
        )));
    }
    if !s.labels.is_empty() && s.action != A::Install {
        return Err(usage_error(
            "--label: only an install rollout labels the environments it creates".into(),
        ));
    }
    Ok(())
}

/// `trigger create`: a trigger moves its group to each new revision, which is an update.
fn check_trigger_create(t: &TriggerCreateArgs) -> Result<(), clap::Error> {
    if t.action != RolloutActionKind::Update {
        return Err(usage_error(format!(
            "--action {}: a trigger starts update rollouts only (it moves the group to each \
             new revision); leave --action out, or use `moorctl rollout start` for {}",
            t.action.as_str(),
            t.action.as_str()
        )));
    }
    Ok(())
}

/// `exec start`: only an update takes inputs, only install and update a revision.
fn check_exec_start(s: &ExecStartArgs) -> Result<(), clap::Error> {
    check_unique("--input", s.inputs.inputs.iter().map(|(k, _)| k))?;
    if !s.inputs.is_empty() && s.kind != ExecKind::Update {
        return Err(usage_error(format!(
            "--input / --inputs-file: only an update takes new inputs, not {}; \
             use --kind update",
            s.kind.as_str()
        )));
    }
    if s.revision.is_some() && !matches!(s.kind, ExecKind::Install | ExecKind::Update) {
        return Err(usage_error(format!(
            "--revision: only install and update go to a chosen revision, not {}",
            s.kind.as_str()
        )));
    }
    Ok(())
}

/// `cluster init` and `cluster bootstrap`: each initial voter has its own id and (peer)
/// address; `members` are (id, address if given).
fn check_members<'a>(
    members: impl Iterator<Item = (u64, Option<&'a str>)>,
) -> Result<(), clap::Error> {
    let mut seen = BTreeMap::new();
    let mut addrs = Vec::new();
    for (id, addr) in members {
        if let Some(before) = seen.insert(id, addr) {
            let before = before.map_or(String::new(), |a| format!("={a}"));
            return Err(usage_error(format!(
                "--member {id}: member id {id} is given twice (also as {id}{before}); each \
                 initial voter needs its own id"
            )));
        }
        addrs.extend(addr);
    }
    addrs.sort_unstable();
    if let Some(w) = addrs.windows(2).find(|w| w[0] == w[1]) {
        return Err(usage_error(format!(
            "--member: address {} is given to two members; each member needs its own \
             address",
            w[0]
        )));
    }
    Ok(())
}

/// A clap usage error (exit code 2) for a check made after parsing.
fn usage_error(message: String) -> clap::Error {
    Cli::command().error(ErrorKind::ValueValidation, message)
}

/// A usage error when a `KEY=VALUE` flag gives the same key twice.
fn check_unique<'a>(flag: &str, keys: impl Iterator<Item = &'a String>) -> Result<(), clap::Error> {
    let mut seen = BTreeSet::new();
    for k in keys {
        if !seen.insert(k) {
            return Err(usage_error(format!(
                "{flag} {k}=...: the key {k:?} is given twice; give each key once"
            )));
        }
    }
    Ok(())
}
