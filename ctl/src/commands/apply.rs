//! `moorctl apply -f FILE...`: reads and checks every file first, then applies them in order
//! and stops at the first refusal (later files may depend on earlier ones).
//!
//! Blueprints, sites and groups are idempotent to apply. An environment is created (which
//! starts its install) when it does not exist; when it does, only its drift policy is set
//! from the file (none: cleared), because changing its revision or inputs is an execution
//! (`moorctl exec start ENV --kind update`), not a file's business.

use anyhow::Result;
use moor_proto::rollout as rpb;
use moor_proto::workflow as pb;
use tonic::Code;

use super::documents::{classify, Document};
use super::files::{read_text, SourceFile};
use super::hints::{see_all_problems, CallContext};
use crate::cli::{ApplyArgs, OutputFormat};
use crate::client::{Client, RpcError};
use crate::exit::{Exit, Failure};
use crate::views::apply::{Applied, ApplyView};
use crate::views::{emit, show};

/// `apply -f FILE...`.
pub(super) async fn run(args: ApplyArgs, client: &mut Client, format: OutputFormat) -> Result<()> {
    let mut docs = Vec::new();
    for path in &args.files {
        let file = read_text(path, "-f")?;
        let doc = classify(&file.name, &file.text)?;
        docs.push((file, doc));
    }
    let mut view = ApplyView {
        applied: Vec::new(),
    };
    let result = apply_all(docs, client, format, &mut view).await;
    // Programs get what was applied even when a later file failed; people saw it line by
    // line already.
    if format != OutputFormat::Table {
        show(&view, format)?;
    }
    result
}

/// Applies the files in order, adding each result to `view` (and printing it for people)
/// as it comes.
async fn apply_all(
    docs: Vec<(SourceFile, Document)>,
    client: &mut Client,
    format: OutputFormat,
    view: &mut ApplyView,
) -> Result<()> {
    let done = &mut |applied: Applied| -> Result<()> {
        if format == OutputFormat::Table {
            emit(&format!("{}\n", applied.line()))?;
        }
        view.applied.push(applied);
        Ok(())
    };
    for (file, doc) in docs {
        match doc {
            Document::Blueprint { name } => done(apply_blueprint(client, &file, name).await?)?,
            Document::Sites(sites) => {
                let total = sites.len();
                for (i, site) in sites.into_iter().enumerate() {
                    let name = site.name.clone();
                    let r = client.put_site(site).await;
                    let r = refused_as_is(r, |_| {
                        format!(
                            "site {name} in {} was refused: fix it and apply the file again \
                             ({i} of its {total} sites before it were applied; applying them \
                             again changes nothing)",
                            file.name
                        )
                    })?
                    .or_say(|| format!("cannot put site {name} from {}", file.name))?;
                    done(Applied {
                        file: file.name.clone(),
                        kind: "site",
                        name,
                        revision: None,
                        result: if r.created { "created" } else { "updated" },
                    })?;
                }
            }
            Document::Groups(groups) => apply_groups(client, &file, groups, done).await?,
            Document::Environments(envs) => apply_environments(client, &file, envs, done).await?,
        }
    }
    Ok(())
}

/// What a refused entry says: fix it, and what of the file was applied before it.
fn entry_refused(kind: &str, name: &str, file: &SourceFile, i: usize, total: usize) -> String {
    format!(
        "{kind} {name} in {} was refused: fix it and apply the file again ({i} of its {total} \
         entries before it were applied; applying them again changes nothing)",
        file.name
    )
}

/// Puts each group of a groups file.
async fn apply_groups(
    client: &mut Client,
    file: &SourceFile,
    groups: Vec<rpb::Group>,
    done: &mut dyn FnMut(Applied) -> Result<()>,
) -> Result<()> {
    let total = groups.len();
    for (i, group) in groups.into_iter().enumerate() {
        let name = group.name.clone();
        let r = client.put_group(group).await;
        let r = refused_as_is(r, |_| entry_refused("group", &name, file, i, total))?
            .or_say(|| format!("cannot put group {name} from {}", file.name))?;
        done(Applied {
            file: file.name.clone(),
            kind: "group",
            name,
            revision: None,
            result: if r.created { "created" } else { "replaced" },
        })?;
    }
    Ok(())
}

/// Creates each environment of an environments file that does not exist; gives each one
/// that does the file's drift policy (module docs).
async fn apply_environments(
    client: &mut Client,
    file: &SourceFile,
    envs: Vec<pb::CreateEnvironmentRequest>,
    done: &mut dyn FnMut(Applied) -> Result<()>,
) -> Result<()> {
    let total = envs.len();
    for (i, env) in envs.into_iter().enumerate() {
        let (name, drift) = (env.name.clone(), env.drift.clone());
        let refused = |_: &str| entry_refused("environment", &name, file, i, total);
        let result = match client.create_environment(env).await {
            Err(e) if e.code() == Some(Code::FailedPrecondition) && exists(&e) => {
                let r = client.set_environment_drift(name.clone(), drift).await;
                refused_as_is(r, refused)?.or_say(|| {
                    format!(
                        "cannot set the drift policy of environment {name} from {}",
                        file.name
                    )
                })?;
                "exists: drift policy set"
            }
            r => {
                let r = refused_as_is(r, refused)?;
                r.or_say(|| format!("cannot create environment {name} from {}", file.name))?;
                "created: installing"
            }
        };
        done(Applied {
            file: file.name.clone(),
            kind: "environment",
            name,
            revision: None,
            result,
        })?;
    }
    Ok(())
}

/// True when a refusal says the environment already exists.
fn exists(e: &RpcError) -> bool {
    matches!(e, RpcError::Rejected { status, .. } if status.message().contains("already exists"))
}

/// Sends the blueprint in `file` (called `name` when that could be read here).
async fn apply_blueprint(
    client: &mut Client,
    file: &SourceFile,
    name: Option<String>,
) -> Result<Applied> {
    let check = match &name {
        Some(n) => format!("moorctl blueprint revisions {n}"),
        None => "moorctl blueprint list".to_string(),
    };
    let r = client
        .apply_blueprint(file.name.clone(), file.text.clone(), &check)
        .await;
    let r = refused_as_is(r, |message| {
        let summary = format!(
            "{} was refused: fix the errors above and apply it again",
            file.name
        );
        match see_all_problems(message, file.arg()) {
            Some(all) => format!("{summary} ({all})"),
            None => summary,
        }
    })?
    .or_say(|| format!("cannot apply the blueprint in {}", file.name))?;
    Ok(Applied {
        file: file.name.clone(),
        kind: "blueprint",
        name: r.name,
        revision: Some(r.revision),
        result: if r.created { "created" } else { "unchanged" },
    })
}

/// A member's validation errors (`INVALID_ARGUMENT`, one `file:line:col: error: ...` per
/// line) are printed on standard error exactly as they came, and moorctl ends with exit
/// code 1 and `summary` (of the message); any other outcome is handed back.
fn refused_as_is<T>(
    r: std::result::Result<T, RpcError>,
    summary: impl FnOnce(&str) -> String,
) -> Result<std::result::Result<T, RpcError>> {
    match r {
        Err(RpcError::Rejected { status, .. }) if status.code() == Code::InvalidArgument => {
            let text = status.message().trim_end();
            eprintln!("{text}");
            Err(Failure::new(Exit::Error, summary(text)).into())
        }
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use crate::exit::Exit;
    use crate::fake::{cli_for, count, fake_workflow, problems_marker, WatchScript};

    #[tokio::test]
    async fn apply_reports_refusals_with_exit_1() {
        let (addr, calls) = fake_workflow(WatchScript::NotFound).await;
        let dir = std::env::temp_dir().join(format!("moorctl-apply-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.yaml");
        let bad = dir.join("bad.yaml");
        let sites = dir.join("sites.yaml");
        std::fs::write(&good, "name: webshop\nresources: []\n").unwrap();
        std::fs::write(&bad, "name: invalid\nresources: []\n").unwrap();
        std::fs::write(
            &sites,
            "sites:\n  - {name: s1, region: r, latitude: 1, longitude: 2, agent_endpoint: \"a:1\"}\n",
        )
        .unwrap();
        let f = |p: &std::path::Path| p.display().to_string();
        let run = crate::commands::run;

        run(cli_for(
            &addr,
            &["apply", "-f", &f(&good), "-f", &f(&sites)],
        ))
        .await
        .unwrap();
        assert_eq!(count(&calls), 2);

        let err = run(cli_for(&addr, &["apply", "-f", &f(&bad), "-f", &f(&good)]))
            .await
            .unwrap_err();
        assert_eq!(Exit::of_error(&err), Exit::Error);
        assert!(err.to_string().contains("fix the errors above"), "{err}");
        assert_eq!(count(&calls), 3, "stops at the first refusal");

        // A broken sites file: nothing at all is sent.
        std::fs::write(&sites, "sites:\n  - {name: s1}\n").unwrap();
        let err = run(cli_for(
            &addr,
            &["apply", "-f", &f(&good), "-f", &f(&sites)],
        ))
        .await
        .unwrap_err();
        assert!(format!("{err:#}").contains("missing field"), "{err:#}");
        assert_eq!(count(&calls), 3);

        // A refusal that lists only the first problems points at `blueprint validate`.
        std::fs::write(&bad, format!("name: x\n{}", problems_marker(150))).unwrap();
        let err = run(cli_for(&addr, &["apply", "-f", &f(&bad)]))
            .await
            .unwrap_err();
        assert_eq!(Exit::of_error(&err), Exit::Error);
        let hint = format!("`moorctl blueprint validate {}` lists them all", f(&bad));
        assert!(err.to_string().contains(&hint), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn groups_and_environments_files_carry_drift_policies() {
        let (addr, calls) = fake_workflow(WatchScript::NotFound).await;
        let dir = tempfile::tempdir().unwrap();
        let groups = dir.path().join("groups.yaml");
        let envs = dir.path().join("envs.yaml");
        std::fs::write(
            &groups,
            "groups:\n  - name: edge\n    of: environments\n    labels: { tier: edge }\n    \
             drift: { check_every: 10m, on_drift: heal, max_heals_per_hour: 3 }\n",
        )
        .unwrap();
        std::fs::write(
            &envs,
            "environments:\n  - name: shop-1\n    site: edge-1\n    blueprint: hello\n    \
             drift: { check_every: 45s }\n  - name: web-7\n    site: edge-7\n    \
             blueprint: hello@2\n    labels: { tier: edge }\n",
        )
        .unwrap();
        let f = |p: &std::path::Path| p.display().to_string();
        crate::commands::run(cli_for(
            &addr,
            &["apply", "-f", &f(&groups), "-f", &f(&envs)],
        ))
        .await
        .unwrap();
        let mut c = crate::fake::client(
            std::slice::from_ref(&addr),
            std::time::Duration::from_secs(5),
        );
        let g = c.get_group("edge".into(), false).await.unwrap();
        assert_eq!(
            (g.drift_check_every_ms, g.drift_max_heals_per_hour),
            (600_000, 3)
        );
        // shop-1 existed: it got the file's policy; web-7 was created, under the group's.
        let shop_1 = c.get_environment("shop-1".into(), false).await.unwrap();
        assert_eq!(shop_1.drift.unwrap().check_every_ms, 45_000);
        let web_7 = c.get_environment("web-7".into(), false).await.unwrap();
        assert_eq!(web_7.drift, None);
        assert_eq!(web_7.drift_policy_source, "group edge");

        // An unknown key in a drift block: refused, and nothing is sent.
        let sent = count(&calls);
        std::fs::write(
            &groups,
            "groups:\n  - name: edge\n    of: sites\n    drift: { on_drift: heal, heals: 3 }\n",
        )
        .unwrap();
        let err = crate::commands::run(cli_for(&addr, &["apply", "-f", &f(&groups)]))
            .await
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("unknown field `heals`"),
            "{err:#}"
        );
        assert_eq!(count(&calls), sent);
    }
}
