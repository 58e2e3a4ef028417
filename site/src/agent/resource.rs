//! The resource types `moor-agent` serves, behind one face: a request's `resource_type` and
//! properties become a [`Kind`] ([`Kind::parse`]), which is applied, and a kept
//! [`ResourceState`] is deleted and observed, whatever its type. Everything type-specific is in
//! `file.rs` (`agent.file`), `command.rs` (`agent.command`) and `kube.rs`
//! (`kubernetes.manifest`, only when the agent has a `[kubernetes]` section).
//!
//! Digests: an applied resource reports the request's `desired_digest` (or, when the request
//! has none, a digest of what was applied). Observe reports `desired_digest` while what is at
//! the site is still what the agent left, a `file-sha256:`/`command-sha256:` digest of what
//! it found when that changed (drift), and leaves the resource out when it is gone. A
//! manifest's drifted digest is `k8s-drift-sha256:<hex>` of the fields that differ.

use std::path::PathBuf;

use moor_proto::site::ObservedResource;

use super::command::{CommandSpec, Limits, Which, COMMAND_TYPE};
use super::digest::{sha256_hex, COMMAND_DRIFT_PREFIX, FILE_DRIFT_PREFIX};
use super::file::{self, FileSpec, FILE_TYPE};
use super::kube::{no_cluster, Applied, Cluster, ManifestSpec, MANIFEST_TYPE};
use super::memory::ResourceState;
use super::site::Mutation;

/// Prefix of the digest recorded for a manifest applied by a request that gave no desired
/// digest.
const MANIFEST_DIGEST_PREFIX: &str = "k8s-manifest-sha256:";

/// Most stdout bytes of an observe command quoted in an observation (the digest covers all).
const OBSERVED_STDOUT_BYTES: usize = 16 * 1024;

/// A resource to apply, checked.
#[derive(Debug, Clone)]
pub enum Kind {
    File(FileSpec),
    Command(CommandSpec),
    Manifest(ManifestSpec),
}

/// Where and how resources are applied: the root, the command limits and the site's
/// cluster (`None`: no `[kubernetes]` section, manifests are FAILED).
#[derive(Clone)]
pub struct Site {
    pub root: PathBuf,
    pub limits: Limits,
    pub cluster: Option<Cluster>,
}

/// What an apply left: the digest to answer and record, the state to keep, and whether the
/// effect had already happened under this key before this call (answered DUPLICATE once
/// recorded).
#[derive(Debug, Clone)]
pub struct Done {
    pub digest: String,
    pub state: ResourceState,
    pub earlier: bool,
}

/// The FAILED reason for a type this agent does not serve.
fn unsupported(resource_type: &str) -> String {
    format!(
        "resource type {resource_type:?} is not supported by moor-agent (supported: {FILE_TYPE}, {COMMAND_TYPE}, {MANIFEST_TYPE})"
    )
}

impl Kind {
    /// The resource a request describes, or why it cannot be applied (FAILED, nothing
    /// touched).
    pub fn parse(
        resource_type: &str,
        properties_json: &str,
        limits: &Limits,
    ) -> Result<Kind, String> {
        match resource_type {
            FILE_TYPE => Ok(Kind::File(FileSpec::parse(properties_json)?)),
            COMMAND_TYPE => Ok(Kind::Command(CommandSpec::parse(properties_json, limits)?)),
            MANIFEST_TYPE => Ok(Kind::Manifest(ManifestSpec::parse(properties_json)?)),
            other => Err(unsupported(other)),
        }
    }
}

/// Whether `resource_type` is one this agent serves; the FAILED reason otherwise.
pub fn supported(resource_type: &str) -> Result<(), String> {
    match resource_type {
        FILE_TYPE | COMMAND_TYPE | MANIFEST_TYPE => Ok(()),
        other => Err(unsupported(other)),
    }
}

impl Site {
    /// The resource a request describes, or why it cannot be applied here (FAILED, nothing
    /// touched): a manifest on an agent without a cluster says so before anything else.
    pub fn kind(&self, resource_type: &str, properties_json: &str) -> Result<Kind, String> {
        if resource_type == MANIFEST_TYPE {
            self.cluster()?;
        }
        Kind::parse(resource_type, properties_json, &self.limits)
    }

    /// The site's cluster, or why a manifest cannot run here.
    pub fn cluster(&self) -> Result<&Cluster, String> {
        self.cluster.as_ref().ok_or_else(no_cluster)
    }

    /// Applies `kind` for `call`.
    pub async fn apply(
        &self,
        call: &Mutation,
        kind: Kind,
        desired_digest: &str,
    ) -> Result<Done, String> {
        if let Kind::Manifest(spec) = &kind {
            return self.apply_manifest(call, spec, desired_digest).await;
        }
        let (digest, state) = self.apply_local(call, kind, desired_digest).await?;
        Ok(Done {
            digest,
            state,
            earlier: false,
        })
    }

    async fn apply_manifest(
        &self,
        call: &Mutation,
        spec: &ManifestSpec,
        desired_digest: &str,
    ) -> Result<Done, String> {
        let cluster = self.cluster()?;
        let digest = or_content(
            desired_digest,
            MANIFEST_DIGEST_PREFIX,
            &sha256_hex(spec.manifest().to_string().as_bytes()),
        );
        let applied = cluster.apply(call, spec, &digest).await?;
        let (digest, earlier) = match applied {
            Applied::Now => (digest, false),
            Applied::Earlier(recorded) => (recorded, true),
        };
        Ok(Done {
            state: ResourceState {
                resource_type: MANIFEST_TYPE.into(),
                desired_digest: digest.clone(),
                applied_sha256: None,
                properties: spec.kept_properties(),
            },
            digest,
            earlier,
        })
    }

    /// Applies a file or a command (what changes this machine).
    async fn apply_local(
        &self,
        call: &Mutation,
        kind: Kind,
        desired_digest: &str,
    ) -> Result<(String, ResourceState), String> {
        match kind {
            Kind::File(spec) => {
                let root = self.root.clone();
                let written = tokio::task::spawn_blocking(move || {
                    file::apply(&root, &spec).map(|sha| (sha, spec))
                })
                .await
                .map_err(|e| format!("the file write did not finish: {e}"))?;
                let (sha, spec) = written?;
                let digest = or_content(desired_digest, FILE_DRIFT_PREFIX, &sha);
                Ok((
                    digest.clone(),
                    ResourceState {
                        resource_type: FILE_TYPE.into(),
                        desired_digest: digest,
                        applied_sha256: Some(sha),
                        properties: file::kept_properties(&spec),
                    },
                ))
            }
            Kind::Command(spec) => {
                spec.run(Which::Apply, &self.root, &self.limits, &call.command_env())
                    .await?;
                let observed = self.observe_command(&spec).await;
                let properties = spec.kept_properties();
                let digest = match &observed {
                    Some(sha) => or_content(desired_digest, COMMAND_DRIFT_PREFIX, sha),
                    None => or_content(
                        desired_digest,
                        COMMAND_DRIFT_PREFIX,
                        &sha256_hex(properties.to_string().as_bytes()),
                    ),
                };
                Ok((
                    digest.clone(),
                    ResourceState {
                        resource_type: COMMAND_TYPE.into(),
                        desired_digest: digest,
                        applied_sha256: observed,
                        properties,
                    },
                ))
            }
            Kind::Manifest(_) => Err(format!("{MANIFEST_TYPE} is not applied on this machine")),
        }
    }

    /// Runs a command's observe right after its apply: the sha256 of its stdout, or `None`
    /// (no observe command, or it failed: logged, and the resource can then only show drift
    /// once observe works again).
    async fn observe_command(&self, spec: &CommandSpec) -> Option<String> {
        if !spec.has(Which::Observe) {
            return None;
        }
        match spec
            .run(Which::Observe, &self.root, &self.limits, &[])
            .await
        {
            Ok(ran) => Some(ran.stdout_sha256),
            Err(e) => {
                tracing::warn!(error = %e, "the observe command failed right after a successful apply");
                None
            }
        }
    }

    /// Removes what `state` describes: a file is deleted; a command's `delete` runs (without
    /// one, the agent only forgets the resource); a manifest's object is deleted from the
    /// cluster.
    pub async fn delete(&self, call: &Mutation, state: &ResourceState) -> Result<(), String> {
        match state.resource_type.as_str() {
            FILE_TYPE => {
                let root = self.root.clone();
                let path = file::kept_path(&state.properties)?.to_string();
                tokio::task::spawn_blocking(move || file::delete(&root, &path))
                    .await
                    .map_err(|e| format!("the file removal did not finish: {e}"))?
            }
            COMMAND_TYPE => {
                let spec = CommandSpec::from_kept(&state.properties, &self.limits)?;
                if spec.has(Which::Delete) {
                    spec.run(Which::Delete, &self.root, &self.limits, &call.command_env())
                        .await?;
                }
                Ok(())
            }
            MANIFEST_TYPE => self.cluster()?.delete(call, state).await,
            other => Err(unsupported(other)),
        }
    }

    /// What a file or command `resource` (kept as `state`) looks like now; `None` when it is
    /// gone or cannot be observed (logged). Manifests are observed together, per environment
    /// ([`Cluster::observe`]).
    pub async fn observe(&self, resource: &str, state: &ResourceState) -> Option<ObservedResource> {
        let seen = match state.resource_type.as_str() {
            FILE_TYPE => self.observe_file(state).await,
            COMMAND_TYPE => self.observe_command_state(state).await,
            other => Err(unsupported(other)),
        };
        match seen {
            Ok(Some((observed_digest, properties))) => Some(ObservedResource {
                resource: resource.to_string(),
                observed_digest,
                properties_json: properties.to_string(),
            }),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(resource, error = %e, "cannot observe a resource; it is left out of the answer");
                None
            }
        }
    }

    async fn observe_file(
        &self,
        state: &ResourceState,
    ) -> Result<Option<(String, serde_json::Value)>, String> {
        let root = self.root.clone();
        let path = file::kept_path(&state.properties)?.to_string();
        let shown = path.clone();
        let on_disk = tokio::task::spawn_blocking(move || file::observe_file(&root, &path))
            .await
            .map_err(|e| format!("the file read did not finish: {e}"))?;
        let found = match on_disk {
            Ok(Some(found)) => found,
            Ok(None) => return Ok(None),
            // A symlink or directory where the file was: drift, never followed.
            Err(reason) => {
                let digest = format!("{FILE_DRIFT_PREFIX}{}", sha256_hex(reason.as_bytes()));
                return Ok(Some((
                    digest,
                    serde_json::json!({ "path": shown, "problem": reason }),
                )));
            }
        };
        let digest = compare(state, &found.sha256, FILE_DRIFT_PREFIX);
        // The shape of the desired properties, so a diff lines up field by field: the text
        // when it is small, else its digest.
        let mut seen = serde_json::json!({ "path": shown, "mode": format!("{:04o}", found.mode) });
        match found.text {
            Some(text) => seen["content"] = text.into(),
            None => seen["sha256"] = found.sha256.into(),
        }
        Ok(Some((digest, seen)))
    }

    async fn observe_command_state(
        &self,
        state: &ResourceState,
    ) -> Result<Option<(String, serde_json::Value)>, String> {
        let spec = CommandSpec::from_kept(&state.properties, &self.limits)?;
        if !spec.has(Which::Observe) {
            // Nothing to look at: the resource is reported as applied (it cannot show drift).
            return Ok(Some((
                state.desired_digest.clone(),
                serde_json::json!({ "observe": null }),
            )));
        }
        let ran = spec
            .run(Which::Observe, &self.root, &self.limits, &[])
            .await?;
        let digest = compare(state, &ran.stdout_sha256, COMMAND_DRIFT_PREFIX);
        let shown = &ran.stdout[..ran.stdout.len().min(OBSERVED_STDOUT_BYTES)];
        Ok(Some((
            digest,
            serde_json::json!({
                "stdout": String::from_utf8_lossy(shown),
                "stdout_sha256": ran.stdout_sha256,
                "stdout_bytes": ran.stdout_bytes,
            }),
        )))
    }
}

/// The desired digest while `found` is what the agent left, else `PREFIX<found>` (drift).
fn compare(state: &ResourceState, found: &str, prefix: &str) -> String {
    if state.applied_sha256.as_deref() == Some(found) {
        state.desired_digest.clone()
    } else {
        format!("{prefix}{found}")
    }
}

/// `desired` when the request gave one, else a digest of what was applied.
fn or_content(desired: &str, prefix: &str, sha: &str) -> String {
    if desired.is_empty() {
        format!("{prefix}{sha}")
    } else {
        desired.to_string()
    }
}
