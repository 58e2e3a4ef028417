//! Blueprint revisions and sites in the registry: storing a revision, replacing a site,
//! looking a revision up and rendering it for an environment.
// Runs inside replicated apply: a panic here would fire on every member at the same index.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::unreachable
    )
)]

use crate::blueprint::{self, BlueprintSpec, Rendered};
use crate::environment::Inputs;
use crate::kv::KvState;
use crate::site::{validate_name, Site};

use crate::workflow::types::{
    BlueprintRevision, Origin, Res, WorkflowError, WorkflowResult, WorkflowState,
};

impl WorkflowState {
    // ---- blueprints and sites ----

    pub(crate) fn put_blueprint(
        &mut self,
        spec: &BlueprintSpec,
        source: &str,
        now_ms: u64,
    ) -> Res<WorkflowResult> {
        // The spec was parsed and validated where the request arrived; apply only checks
        // what it keys state by.
        validate_name("blueprint", &spec.name).map_err(WorkflowError::Invalid)?;
        let revisions = self.blueprints.entry(spec.name.clone()).or_default();
        if let Some(last) = revisions.last() {
            if last.source == source {
                return Ok(WorkflowResult::Blueprint {
                    name: last.name.clone(),
                    revision: last.revision,
                    created: false,
                });
            }
        }
        let revision = revisions.len() as u64 + 1;
        let name = spec.name.clone();
        revisions.push(BlueprintRevision {
            name: name.clone(),
            revision,
            spec: spec.clone(),
            source: source.to_string(),
            created_ms: now_ms,
            origin: None,
        });
        Ok(WorkflowResult::Blueprint {
            name,
            revision,
            created: true,
        })
    }

    /// Records where revision `revision` of `name` came from (a Git source's commit and
    /// path); nothing if there is no such revision.
    pub(crate) fn set_origin(&mut self, name: &str, revision: u64, origin: Origin) {
        if let Some(r) = self
            .blueprints
            .get_mut(name)
            .and_then(|revs| revs.iter_mut().find(|r| r.revision == revision))
        {
            r.origin = Some(origin);
        }
    }

    pub(crate) fn put_site(&mut self, site: &Site) -> Res<WorkflowResult> {
        site.validate()
            .map_err(|e| WorkflowError::Invalid(e.join("\n")))?;
        let created = self.sites.insert(site.name.clone(), site.clone()).is_none();
        Ok(WorkflowResult::Site {
            name: site.name.clone(),
            created,
        })
    }

    /// The blueprint revision `name@revision` (latest when `revision` is None).
    pub fn blueprint(&self, name: &str, revision: Option<u64>) -> Res<&BlueprintRevision> {
        let revisions = self
            .blueprints
            .get(name)
            .ok_or_else(|| WorkflowError::NotFound(format!("blueprint {name}")))?;
        match revision {
            None => revisions.last(),
            Some(r) => r.checked_sub(1).and_then(|i| revisions.get(i as usize)),
        }
        .ok_or_else(|| {
            WorkflowError::NotFound(format!(
                "blueprint revision {name}@{} (it has {} revisions)",
                revision.unwrap_or(0),
                revisions.len()
            ))
        })
    }

    /// Checks that `name@revision` renders with these inputs.
    pub(crate) fn render_check(
        &self,
        kv: &KvState,
        name: &str,
        revision: u64,
        inputs: &Inputs,
    ) -> Res<()> {
        self.render(kv, name, revision, inputs).map(|_| ())
    }

    pub(crate) fn render(
        &self,
        kv: &KvState,
        name: &str,
        revision: u64,
        inputs: &Inputs,
    ) -> Res<Rendered> {
        let bp = self.blueprint(name, Some(revision))?;
        let lookup = |key: &str| {
            kv.get(key)
                .map(|e| String::from_utf8_lossy(&e.value).into_owned())
        };
        blueprint::render(&bp.spec, inputs, &lookup).map_err(|errors| {
            WorkflowError::Invalid(format!(
                "cannot render {name}@{revision}: {}",
                errors.join("; ")
            ))
        })
    }
}
