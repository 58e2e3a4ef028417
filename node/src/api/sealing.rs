//! Sealing secret values where requests arrive, before anything is proposed: the values of
//! inputs a blueprint declares `secret: true` (environments, executions, rollouts,
//! triggers) and variables put as secret. See `crate::secrets`.

use std::collections::BTreeMap;

use moor_domain::blueprint::InputType;
use moor_domain::environment::Inputs;
use moor_domain::rollout::RolloutAction;
use moor_domain::sealed;
use moor_domain::state::MoorState;
use moor_proto::api as pb;
use serde_json::Value;
use tonic::Status;

use crate::errors::ApiError;
use crate::raft::member::Member;

/// Whose blueprint declares which inputs secret.
pub enum Scope<'a> {
    /// Inputs for this blueprint (any of its revisions).
    Blueprint(&'a str),
    /// Inputs for this environment's blueprint.
    Environment(&'a str),
    /// Inputs that may go to environments of any blueprint (an update rollout).
    AnyBlueprint,
}

/// Seals, in place, the values of `inputs` that the scope's blueprints declare secret (an
/// input secret in any revision counts, so a revision applied meanwhile cannot leave a
/// value in clear). A value's type is checked here, before it becomes an opaque token.
/// Values already sealed are kept. Without a key file, nothing is sealed (the member warned
/// at start).
pub async fn seal_inputs(
    member: &Member,
    scope: Scope<'_>,
    inputs: &mut Inputs,
) -> Result<(), Status> {
    let Some(keys) = member.secrets.as_ref() else {
        return Ok(());
    };
    if inputs.is_empty() {
        return Ok(());
    }
    // The blueprint as the cluster has it now, not as this member last applied it.
    member.read_barrier().await?;
    let secret = {
        let state = member.state.read().expect("state lock poisoned");
        secret_inputs(&state, &scope)
    };
    let ring = keys.current();
    for (name, value) in inputs.iter_mut() {
        let Some(input_type) = secret.get(name) else {
            continue;
        };
        if value.as_str().and_then(sealed::whole).is_some() {
            continue;
        }
        if let Some(t) = input_type.filter(|t| !t.matches(value)) {
            return Err(ApiError::invalid(
                "inputs_json",
                format!("secret input `{name}` must be a {t} (its value is not shown)"),
            )
            .into());
        }
        *value = Value::String(
            crate::secrets::seal(&ring, value)
                .map_err(|e| Status::internal(format!("cannot seal input `{name}`: {e}")))?,
        );
    }
    Ok(())
}

/// Seals the inputs a rollout (or a trigger's rollout) carries: an install's for its
/// blueprint, an update's for `blueprint` when known, else for any blueprint.
pub async fn seal_rollout_inputs(
    member: &Member,
    action: &mut RolloutAction,
    blueprint: Option<&str>,
) -> Result<(), Status> {
    match action {
        RolloutAction::Install {
            blueprint, inputs, ..
        } => seal_inputs(member, Scope::Blueprint(blueprint), inputs).await,
        RolloutAction::Update {
            inputs: Some(inputs),
            ..
        } => {
            let scope = blueprint.map_or(Scope::AnyBlueprint, Scope::Blueprint);
            seal_inputs(member, scope, inputs).await
        }
        _ => Ok(()),
    }
}

/// Seals one variable's value (text) for `Put` with `secret` set.
pub fn seal_variable(member: &Member, key: &str, value: &[u8]) -> Result<Vec<u8>, Status> {
    let Some(keys) = member.secrets.as_ref() else {
        return Err(Status::failed_precondition(format!(
            "cannot store `{key}` as a secret: this member has no secrets key file; set \
             secrets.key_file (make one with `moord secrets-key new --file FILE`)"
        )));
    };
    let text = std::str::from_utf8(value).map_err(|_| {
        Status::invalid_argument(format!(
            "secret variable `{key}` must be UTF-8 text (it is used as text in blueprints)"
        ))
    })?;
    let token = crate::secrets::seal(&keys.current(), &Value::String(text.to_string()))
        .map_err(|e| Status::internal(format!("cannot seal `{key}`: {e}")))?;
    Ok(token.into_bytes())
}

/// Secret input names with their type (None: declared secret with different types in
/// different revisions; the blueprint's render checks the opened value's use).
fn secret_inputs(state: &MoorState, scope: &Scope<'_>) -> BTreeMap<String, Option<InputType>> {
    let blueprint = match scope {
        Scope::Blueprint(name) => Some(name.to_string()),
        Scope::Environment(env) => state
            .workflow
            .environments
            .get(*env)
            .map(|e| e.blueprint.clone()),
        Scope::AnyBlueprint => None,
    };
    let mut out: BTreeMap<String, Option<InputType>> = BTreeMap::new();
    let revisions = state
        .workflow
        .blueprints
        .iter()
        .filter(|(name, _)| blueprint.as_deref().is_none_or(|b| b == name.as_str()))
        .flat_map(|(_, revisions)| revisions.iter());
    for revision in revisions {
        for (name, input) in &revision.spec.inputs {
            if !input.secret {
                continue;
            }
            out.entry(name.clone())
                .and_modify(|t| {
                    if *t != Some(input.input_type) {
                        *t = None;
                    }
                })
                .or_insert(Some(input.input_type));
        }
    }
    out
}

/// Where sealed values sit, per key id, at one applied index.
#[derive(Default)]
struct Census {
    by_key: BTreeMap<String, pb::SealedCount>,
    clear_secret_inputs: u64,
}

impl Census {
    fn count(&mut self, text: &str, field: fn(&mut pb::SealedCount) -> &mut u64) {
        for token in sealed::tokens(text) {
            let entry = self
                .by_key
                .entry(token.key_id.to_string())
                .or_insert_with(|| pb::SealedCount {
                    key_id: token.key_id.to_string(),
                    ..Default::default()
                });
            *field(entry) += 1;
        }
    }

    fn count_value(&mut self, value: &Value, field: fn(&mut pb::SealedCount) -> &mut u64) {
        match value {
            Value::String(text) => self.count(text, field),
            Value::Array(items) => items.iter().for_each(|i| self.count_value(i, field)),
            Value::Object(map) => map.values().for_each(|v| self.count_value(v, field)),
            _ => {}
        }
    }
}

fn take(state: &MoorState) -> Census {
    let mut c = Census::default();
    for (_, entry) in state.kv.iter() {
        if let Ok(text) = std::str::from_utf8(&entry.value) {
            c.count(text, |s| &mut s.variables);
        }
    }
    let w = &state.workflow;
    for env in w.environments.values() {
        let secret = secret_inputs(state, &Scope::Blueprint(&env.blueprint));
        let all_inputs = std::iter::once(&env.inputs).chain(env.history.iter().map(|h| &h.inputs));
        for inputs in all_inputs {
            for (name, value) in inputs {
                c.count_value(value, |s| &mut s.environment_inputs);
                if secret.contains_key(name) && !crate::secrets::seal::holds_sealed(value) {
                    c.clear_secret_inputs += 1;
                }
            }
        }
    }
    let rollout_actions = w
        .rollouts
        .rollouts
        .values()
        .filter(|r| w.rollouts.active.contains(&r.id))
        .map(|r| &r.action)
        .chain(
            state
                .hooks
                .triggers
                .values()
                .map(|t| &t.spec.rollout.action),
        );
    for action in rollout_actions {
        if let RolloutAction::Install { inputs, .. }
        | RolloutAction::Update {
            inputs: Some(inputs),
            ..
        } = action
        {
            inputs
                .values()
                .for_each(|v| c.count_value(v, |s| &mut s.rollout_inputs));
        }
    }
    for id in &w.running {
        if let Some(x) = w.executions.get(id) {
            for step in &x.steps {
                c.count_value(&step.properties, |s| &mut s.running_steps);
            }
        }
    }
    c
}

/// `SecretsStatus`: counts per key, read through a barrier.
pub async fn status(member: &Member) -> Result<pb::SecretsStatusResponse, Status> {
    let read_index = member.read_barrier().await?;
    let census = {
        let state = member.state.read().expect("state lock poisoned");
        take(&state)
    };
    let keys = member
        .secrets
        .as_ref()
        .map(|k| k.current().ids())
        .unwrap_or_default();
    Ok(pb::SecretsStatusResponse {
        key_file: member
            .secrets
            .as_ref()
            .map(|k| k.path().display().to_string())
            .unwrap_or_default(),
        sealed: census
            .by_key
            .into_values()
            .map(|mut c| {
                c.known = keys.contains(&c.key_id);
                c
            })
            .collect(),
        keys,
        clear_secret_inputs: census.clear_secret_inputs,
        read_index,
    })
}

/// What `ResealSecrets` will write: variables (key, old bytes, new bytes) and, per
/// environment, old token → new token.
struct ResealPlan {
    variables: Vec<(String, Vec<u8>, Vec<u8>)>,
    environments: BTreeMap<String, BTreeMap<String, String>>,
}

fn reseal_plan(
    state: &MoorState,
    ring: &crate::secrets::Keyring,
    remaining: &mut Vec<String>,
) -> Result<ResealPlan, Status> {
    let open_err = |e: crate::secrets::OpenError| Status::failed_precondition(e.to_string());
    let mut plan = ResealPlan {
        variables: Vec::new(),
        environments: BTreeMap::new(),
    };
    for (key, entry) in state.kv.iter() {
        let Some(token) = std::str::from_utf8(&entry.value)
            .ok()
            .and_then(sealed::whole)
        else {
            continue;
        };
        if let Some(new) = crate::secrets::seal::reseal(ring, &token).map_err(open_err)? {
            plan.variables
                .push((key.clone(), entry.value.clone(), new.into_bytes()));
        }
    }
    for env in state.workflow.environments.values() {
        let secret = secret_inputs(state, &Scope::Blueprint(&env.blueprint));
        let mut replace = BTreeMap::new();
        let all_inputs = std::iter::once(&env.inputs).chain(env.history.iter().map(|h| &h.inputs));
        for inputs in all_inputs {
            for (name, value) in inputs {
                let Some(text) = value.as_str() else {
                    if secret.contains_key(name) {
                        remaining.push(format!(
                            "environment {}: secret input `{name}` is stored in clear and is not text; re-submit it with `moorctl exec start {} --kind update --inputs ...`",
                            env.name, env.name
                        ));
                    }
                    continue;
                };
                match sealed::whole(text) {
                    Some(token) => {
                        if let Some(new) =
                            crate::secrets::seal::reseal(ring, &token).map_err(open_err)?
                        {
                            replace.insert(text.to_string(), new);
                        }
                    }
                    None if secret.contains_key(name) => remaining.push(format!(
                        "environment {}: secret input `{name}` is stored in clear; re-submit it with `moorctl exec start {} --kind update --inputs ...` (its digest will change once)",
                        env.name, env.name
                    )),
                    None => {}
                }
            }
        }
        if !replace.is_empty() {
            plan.environments.insert(env.name.clone(), replace);
        }
    }
    Ok(plan)
}

/// `ResealSecrets`: moves variables (compare-and-swap: one changed meanwhile is left and
/// reported) and environment inputs to the sealing key, in commands of at most
/// `MAX_RESEAL` replacements.
pub async fn reseal(member: &Member) -> Result<pb::ResealSecretsResponse, Status> {
    let Some(keys) = member.secrets.as_ref() else {
        return Err(Status::failed_precondition(
            "this member has no secrets key file: set secrets.key_file (make one with `moord secrets-key new --file FILE`)",
        ));
    };
    let ring = keys.current();
    member.read_barrier().await?;
    let mut remaining = Vec::new();
    let plan = {
        let state = member.state.read().expect("state lock poisoned");
        reseal_plan(&state, &ring, &mut remaining)?
    };
    let mut out = pb::ResealSecretsResponse {
        sealing_key: ring.sealing().id.clone(),
        ..Default::default()
    };
    for (key, old, new) in plan.variables {
        let target = moor_domain::auth::permission::Target {
            name: Some(key.clone()),
            ..Default::default()
        };
        let command = crate::api::auth::caller::audited(
            moor_domain::command::Command::Kv(moor_domain::kv::KvCommand::Cas {
                key: key.clone(),
                expected: Some(old),
                new_value: Some(new),
            }),
            target,
            format!("var {key}"),
        );
        match member.write(command).await? {
            (_, moor_domain::command::CommandResult::Kv(r)) if r.succeeded => out.variables += 1,
            (_, moor_domain::command::CommandResult::Kv(_)) => remaining.push(format!(
                "variable {key} changed while resealing: run `moorctl secrets reseal` again"
            )),
            (_, other) => {
                return Err(Status::permission_denied(format!(
                    "resealing variable {key} was refused: {other:?}"
                )))
            }
        }
    }
    for (environment, replace) in plan.environments {
        let pairs: Vec<(String, String)> = replace.into_iter().collect();
        for chunk in pairs.chunks(moor_domain::workflow::MAX_RESEAL) {
            let n = chunk.len() as u64;
            crate::api::shared::write_workflow(
                member,
                moor_domain::workflow::WorkflowCommand::ResealInputs {
                    environment: environment.clone(),
                    replace: chunk.iter().cloned().collect(),
                    now_ms: crate::exec::executor::now_ms(),
                },
            )
            .await?;
            out.environment_values += n;
        }
    }
    let after = status(member).await?;
    for count in after.sealed.iter().filter(|c| c.key_id != out.sealing_key) {
        if count.running_steps > 0 {
            remaining.push(format!(
                "{} value(s) under key {} in steps of running executions: they keep it until they end",
                count.running_steps, count.key_id
            ));
        }
        if count.rollout_inputs > 0 {
            remaining.push(format!(
                "{} value(s) under key {} in rollouts or triggers: a running rollout keeps them until it ends; re-create a trigger to move its values",
                count.rollout_inputs, count.key_id
            ));
        }
    }
    out.remaining = remaining;
    Ok(out)
}
