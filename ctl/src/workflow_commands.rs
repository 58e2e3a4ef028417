//! The workflow commands: `apply`, `blueprint`, `site`, `env`, `exec`. Like `commands.rs`,
//! this turns arguments into calls and answers into views, and gives errors the context an
//! operator needs: what failed, and what to do next.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, Result};
use moor_proto::workflow as pb;
use tonic::Code;

use crate::apply::{self, Document};
use crate::cli::{
    ApplyArgs, BlueprintCommand, EnvCommand, EnvCreateArgs, ExecCommand, ExecStartArgs, InputArgs,
    OutputFormat, SiteCommand, WatchArgs,
};
use crate::client::{Client, RpcError};
use crate::exit::{Exit, Failure};
use crate::progress::display_for;
use crate::views::apply::{Applied, ApplyView};
use crate::views::blueprint::{
    BlueprintListView, BlueprintSummaryView, BlueprintView, RevisionsView,
};
use crate::views::env::{EnvListView, EnvView};
use crate::views::exec::{ExecListView, ExecRefView, ExecView};
use crate::views::site::{SiteListView, SiteView};
use crate::views::{emit, show};
use crate::watch;

/// Tells people on standard error that a list is empty (the table shows only its header).
fn say_if_empty(empty: bool, format: OutputFormat, what: &str) {
    if empty && format == OutputFormat::Table {
        eprintln!("moorctl: {what}");
    }
}

/// What to do about a member's refusal, when moorctl knows better than the bare message.
/// The member's messages name the subject first (`site edge-9 not found`, `blueprint
/// revision webshop@9 (it has 3 revisions) not found`), which is what this reads.
pub fn next_step(err: &RpcError) -> Option<String> {
    let RpcError::Rejected { status, .. } = err else {
        return None;
    };
    let msg = status.message();
    let mut words = msg.split_whitespace();
    if status.code() == Code::FailedPrecondition {
        return match (words.next()?, words.next()?, words.next()?, words.next()?) {
            ("environment", env, "already", "exists:") => Some(format!(
                "environment {env} already exists; change it with `moorctl exec start {env} \
                 --kind update`"
            )),
            _ => None,
        };
    }
    if status.code() != Code::NotFound {
        return None;
    }
    let (kind, name) = (words.next()?, words.next()?);
    Some(match (kind, name) {
        ("site", site) => format!(
            "site {site} does not exist; create it with `moorctl apply -f sites.yaml` \
             (`moorctl site list` shows the sites there are)"
        ),
        ("blueprint", "revision") => {
            let name = words.next()?.split('@').next()?;
            format!(
                "no such revision; `moorctl blueprint revisions {name}` lists the revisions \
                 there are"
            )
        }
        ("blueprint", bp) => format!(
            "blueprint {bp} does not exist; create it with `moorctl apply -f {bp}.yaml` \
             (`moorctl blueprint list` shows the blueprints there are)"
        ),
        ("environment", env) => format!(
            "environment {env} does not exist; create it with `moorctl env create {env} \
             --site SITE --blueprint BLUEPRINT` (`moorctl env list` shows the environments \
             there are)"
        ),
        ("execution", id) => format!(
            "execution {id} does not exist; `moorctl exec list` shows the executions there are"
        ),
        _ => return None,
    })
}

/// Wraps a failed call in `what` ("cannot show site x"), followed by what to do next when
/// moorctl knows it.
fn failed(err: RpcError, what: String) -> anyhow::Error {
    match next_step(&err) {
        Some(next) => anyhow::Error::new(err).context(format!("{what}: {next}")),
        None => anyhow::Error::new(err).context(what),
    }
}

/// Extension to add [`failed`]'s context to a call's result.
trait CallContext<T> {
    fn or_say(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> CallContext<T> for std::result::Result<T, RpcError> {
    fn or_say(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| failed(e, what()))
    }
}

// ---- apply ----

/// `apply -f FILE...`: reads and checks every file first, then applies them in order and
/// stops at the first refusal (later files may depend on earlier ones).
pub async fn apply(args: ApplyArgs, client: &mut Client, format: OutputFormat) -> Result<()> {
    let mut docs = Vec::new();
    for path in &args.files {
        let file = apply::read_text(path, "-f")?;
        let doc = apply::classify(&file.name, &file.text)?;
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

async fn apply_all(
    docs: Vec<(apply::SourceFile, Document)>,
    client: &mut Client,
    format: OutputFormat,
    view: &mut ApplyView,
) -> Result<()> {
    let mut done = |applied: Applied| -> Result<()> {
        if format == OutputFormat::Table {
            emit(&format!("{}\n", applied.line()))?;
        }
        view.applied.push(applied);
        Ok(())
    };
    for (file, doc) in docs {
        match doc {
            Document::Blueprint { name } => {
                let check = match &name {
                    Some(n) => format!("moorctl blueprint revisions {n}"),
                    None => "moorctl blueprint list".to_string(),
                };
                let r = client
                    .apply_blueprint(file.name.clone(), file.text.clone(), &check)
                    .await;
                let r = refused_as_is(r, || {
                    format!(
                        "{} was refused: fix the errors above and apply it again",
                        file.name
                    )
                })?
                .or_say(|| format!("cannot apply the blueprint in {}", file.name))?;
                done(Applied {
                    file: file.name.clone(),
                    kind: "blueprint",
                    name: r.name,
                    revision: Some(r.revision),
                    result: if r.created { "created" } else { "unchanged" },
                })?;
            }
            Document::Sites(sites) => {
                let total = sites.len();
                for (i, site) in sites.into_iter().enumerate() {
                    let name = site.name.clone();
                    let r = client.put_site(site).await;
                    let r = refused_as_is(r, || {
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
        }
    }
    Ok(())
}

/// A member's validation errors (`INVALID_ARGUMENT`, one `file:line:col: error: ...` per
/// line) are printed on standard error exactly as they came, and moorctl ends with exit
/// code 1 and `summary`; any other outcome is handed back.
fn refused_as_is<T>(
    r: std::result::Result<T, RpcError>,
    summary: impl FnOnce() -> String,
) -> Result<std::result::Result<T, RpcError>> {
    match r {
        Err(RpcError::Rejected { status, .. }) if status.code() == Code::InvalidArgument => {
            let text = status.message().trim_end();
            eprintln!("{text}");
            Err(Failure::new(Exit::Error, summary()).into())
        }
        other => Ok(other),
    }
}

// ---- blueprints ----

pub async fn blueprint(
    command: BlueprintCommand,
    client: &mut Client,
    format: OutputFormat,
) -> Result<()> {
    match command {
        BlueprintCommand::List { read } => {
            let r = client
                .list_blueprints(read.stale)
                .await
                .or_say(|| "cannot list blueprints".into())?;
            let mut blueprints: Vec<BlueprintSummaryView> = r
                .blueprints
                .iter()
                .map(BlueprintSummaryView::from)
                .collect();
            blueprints.sort_by(|a, b| a.name.cmp(&b.name));
            say_if_empty(
                blueprints.is_empty(),
                format,
                "no blueprints yet; create one with `moorctl apply -f FILE.yaml`",
            );
            show(&BlueprintListView { blueprints }, format)
        }
        BlueprintCommand::Show { blueprint, read } => {
            let r = client
                .get_blueprint(
                    blueprint.name.clone(),
                    blueprint.revision.unwrap_or(0),
                    read.stale,
                )
                .await
                .or_say(|| format!("cannot show blueprint {blueprint}"))?;
            show(&BlueprintView::from(&r), format)
        }
        BlueprintCommand::Revisions { name, read } => {
            let r = client
                .get_blueprint(name.clone(), 0, read.stale)
                .await
                .or_say(|| format!("cannot list the revisions of blueprint {name}"))?;
            show(
                &RevisionsView {
                    name: r.name,
                    latest: r.revision,
                    revisions: r.revisions,
                },
                format,
            )
        }
    }
}

// ---- sites ----

pub async fn site(command: SiteCommand, client: &mut Client, format: OutputFormat) -> Result<()> {
    match command {
        SiteCommand::List {
            region,
            labels,
            read,
        } => {
            let r = client
                .list_sites(read.stale)
                .await
                .or_say(|| "cannot list sites".into())?;
            let mut sites: Vec<SiteView> = r
                .sites
                .iter()
                .filter(|s| site_matches(s, region.as_deref(), &labels))
                .map(SiteView::from)
                .collect();
            sites.sort_by(|a, b| a.name.cmp(&b.name));
            let what = if r.sites.is_empty() {
                "no sites yet; create them with `moorctl apply -f sites.yaml`"
            } else {
                "no site matches"
            };
            say_if_empty(sites.is_empty(), format, what);
            show(&SiteListView { sites }, format)
        }
        SiteCommand::Show { name, read } => {
            let r = client
                .get_site(name.clone(), read.stale)
                .await
                .or_say(|| format!("cannot show site {name}"))?;
            show(&SiteView::from(&r), format)
        }
    }
}

/// The client-side filter of `site list`: in `region` (when given) and with every label.
pub fn site_matches(site: &pb::Site, region: Option<&str>, labels: &[(String, String)]) -> bool {
    region.is_none_or(|r| site.region == r)
        && labels
            .iter()
            .all(|(k, v)| site.labels.get(k).is_some_and(|have| have == v))
}

// ---- environments ----

/// The inputs as the JSON object the API takes: `--inputs-file`'s object with each
/// `--input` set over it; `None` when no input was given.
pub fn inputs_json(args: &InputArgs) -> Result<Option<String>> {
    if args.is_empty() {
        return Ok(None);
    }
    let mut object = serde_json::Map::new();
    if let Some(path) = &args.inputs_file {
        let file = apply::read_text(path, "--inputs-file")?;
        let value: serde_json::Value = serde_json::from_str(&file.text)
            .with_context(|| format!("{} (--inputs-file) is not valid JSON", file.name))?;
        let serde_json::Value::Object(from_file) = value else {
            anyhow::bail!(
                "{} (--inputs-file) must hold a JSON object of input values, e.g. \
                 {{\"replicas\": 3}}",
                file.name
            );
        };
        object = from_file;
    }
    for (k, v) in &args.inputs {
        object.insert(k.clone(), v.clone());
    }
    Ok(Some(serde_json::Value::Object(object).to_string()))
}

pub async fn env(command: EnvCommand, client: &mut Client, format: OutputFormat) -> Result<()> {
    match command {
        EnvCommand::Create(args) => env_create(args, client, format).await,
        EnvCommand::List { site, status, read } => {
            let r = client
                .list_environments(
                    site.clone().unwrap_or_default(),
                    status.clone().unwrap_or_default(),
                    read.stale,
                )
                .await
                .or_say(|| "cannot list environments".into())?;
            let mut environments: Vec<EnvView> = r.environments.iter().map(EnvView::from).collect();
            environments.sort_by(|a, b| a.name.cmp(&b.name));
            let what = if site.is_some() || status.is_some() {
                "no environment matches"
            } else {
                "no environments yet; create one with `moorctl env create`"
            };
            say_if_empty(environments.is_empty(), format, what);
            show(&EnvListView { environments }, format)
        }
        EnvCommand::Show { name, read } => {
            let r = client
                .get_environment(name.clone(), read.stale)
                .await
                .or_say(|| format!("cannot show environment {name}"))?;
            show(&EnvView::from(&r), format)
        }
    }
}

async fn env_create(args: EnvCreateArgs, client: &mut Client, format: OutputFormat) -> Result<()> {
    let inputs = inputs_json(&args.inputs)?.unwrap_or_default();
    let name = args.name.clone();
    let msg = pb::CreateEnvironmentRequest {
        name: args.name,
        site: args.site,
        blueprint: args.blueprint.name.clone(),
        revision: args.blueprint.revision.unwrap_or(0),
        inputs_json: inputs,
        labels: args.labels.into_iter().collect::<HashMap<_, _>>(),
        retry: None,
    };
    let r = client
        .create_environment(msg)
        .await
        .or_say(|| format!("cannot create environment {name}"))?;
    started(
        client,
        r,
        format!("install of environment {name}"),
        &args.watch,
        format,
    )
    .await
}

// ---- executions ----

pub async fn exec(command: ExecCommand, client: &mut Client, format: OutputFormat) -> Result<()> {
    match command {
        ExecCommand::Start(args) => exec_start(args, client, format).await,
        ExecCommand::List { env, read } => {
            let r = client
                .list_executions(env.clone().unwrap_or_default(), read.stale)
                .await
                .or_say(|| "cannot list executions".into())?;
            let mut executions: Vec<ExecView> = r.executions.iter().map(ExecView::from).collect();
            // Ids are `x<n>`: by creation, then by number, not as text (x10 after x9).
            executions.sort_by(|a, b| {
                (a.created_ms, a.id.len(), &a.id).cmp(&(b.created_ms, b.id.len(), &b.id))
            });
            say_if_empty(executions.is_empty(), format, "no executions");
            show(&ExecListView { executions }, format)
        }
        ExecCommand::Show { id, read } => {
            let r = client
                .get_execution(id.clone(), read.stale)
                .await
                .or_say(|| format!("cannot show execution {id}"))?;
            show(&ExecView::from(&r), format)
        }
        ExecCommand::Resume { id, watch } => {
            let r = client
                .resume_execution(id.clone())
                .await
                .or_say(|| format!("cannot resume execution {id}"))?;
            let view = ExecRefView {
                message: format!("execution {} resumed ({})", r.id, r.state),
                id: r.id,
                state: r.state,
            };
            announce_and_watch(client, view, &watch, format).await
        }
        ExecCommand::Cancel { id } => {
            let r = client
                .cancel_execution(id.clone())
                .await
                .or_say(|| format!("cannot cancel execution {id}"))?;
            let view = ExecRefView {
                message: format!(
                    "execution {} {}; steps already dispatched finish, no new step starts",
                    r.id, r.state
                ),
                id: r.id,
                state: r.state,
            };
            show(&view, format)
        }
        ExecCommand::Rollback { env, watch } => {
            let r = client
                .rollback(env.clone())
                .await
                .or_say(|| format!("cannot roll back environment {env}"))?;
            started(
                client,
                r,
                format!("rollback of environment {env}"),
                &watch,
                format,
            )
            .await
        }
        ExecCommand::Watch {
            id,
            watch_timeout_s,
        } => watch_to_end(client, &id, watch_timeout_s, format).await,
    }
}

async fn exec_start(args: ExecStartArgs, client: &mut Client, format: OutputFormat) -> Result<()> {
    let kind = args.kind.as_str();
    let env = args.env.clone();
    let msg = pb::StartExecutionRequest {
        environment: args.env,
        kind: kind.to_string(),
        revision: args.revision.unwrap_or(0),
        inputs_json: inputs_json(&args.inputs)?,
        retry: None,
    };
    let r = client
        .start_execution(msg)
        .await
        .or_say(|| format!("cannot start {kind} of environment {env}"))?;
    started(
        client,
        r,
        format!("{kind} of environment {env}"),
        &args.watch,
        format,
    )
    .await
}

/// Shows a new execution (`what` it is, e.g. `install of environment web-1`) and follows it
/// with `--watch`.
async fn started(
    client: &mut Client,
    r: pb::ExecutionRef,
    what: String,
    watch: &WatchArgs,
    format: OutputFormat,
) -> Result<()> {
    let message = if r.state == "queued" {
        format!(
            "execution {} queued: {what}; it starts when the environment's running execution ends",
            r.id
        )
    } else {
        format!("execution {} started: {what} ({})", r.id, r.state)
    };
    let view = ExecRefView {
        id: r.id,
        state: r.state,
        message,
    };
    announce_and_watch(client, view, watch, format).await
}

/// Prints `view`, then with `--watch` follows the execution. With `-o json` / `-o yaml` and
/// `--watch` only the updates are printed, so the output is one kind of object.
async fn announce_and_watch(
    client: &mut Client,
    view: ExecRefView,
    watch: &WatchArgs,
    format: OutputFormat,
) -> Result<()> {
    if !watch.watch {
        return show(&view, format);
    }
    if format == OutputFormat::Table {
        show(&view, format)?;
    }
    watch_to_end(client, &view.id, watch.watch_timeout_s, format).await
}

/// Follows execution `id` to its end: exit code 0 when it succeeded, 7 when it failed or was
/// cancelled.
async fn watch_to_end(
    client: &mut Client,
    id: &str,
    watch_timeout_s: u64,
    format: OutputFormat,
) -> Result<()> {
    let mut display = display_for(format);
    let end = watch::follow(
        client,
        id,
        Duration::from_secs(watch_timeout_s),
        display.as_mut(),
    )
    .await
    .map_err(|e| match e.downcast::<RpcError>() {
        Ok(rpc) => failed(rpc, format!("cannot watch execution {id}")),
        Err(e) => e.context(format!("cannot watch execution {id}")),
    })?;
    drop(display);
    watch::verdict(&end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use crate::fake::{fake_workflow, WatchScript};

    fn rejected(code: Code, msg: &str) -> RpcError {
        RpcError::Rejected {
            endpoint: "a:1".into(),
            status: tonic::Status::new(code, msg),
        }
    }

    #[test]
    fn not_found_says_what_to_do() {
        let hint = |m: &str| next_step(&rejected(Code::NotFound, m));
        assert!(hint("site edge-9 not found")
            .unwrap()
            .contains("moorctl apply -f sites.yaml"));
        assert!(hint("blueprint shop not found")
            .unwrap()
            .contains("moorctl apply -f shop.yaml"));
        assert!(
            hint("blueprint revision shop@9 (it has 3 revisions) not found")
                .unwrap()
                .contains("moorctl blueprint revisions shop`")
        );
        assert!(hint("environment web-1 not found")
            .unwrap()
            .contains("moorctl env create web-1"));
        assert!(hint("execution x9 not found")
            .unwrap()
            .contains("moorctl exec list"));
        assert!(
            hint("site s (create it with `moorctl apply -f` first) not found")
                .unwrap()
                .starts_with("site s does not exist")
        );
        assert_eq!(
            next_step(&rejected(Code::FailedPrecondition, "site s not found")),
            None
        );
        let exists = rejected(
            Code::FailedPrecondition,
            "environment web-1 already exists: start an update on it instead",
        );
        assert!(next_step(&exists)
            .unwrap()
            .contains("moorctl exec start web-1 --kind update"));
        assert_eq!(next_step(&rejected(Code::InvalidArgument, "x")), None);
    }

    #[test]
    fn inputs_merge_over_the_file() {
        let dir = std::env::temp_dir().join(format!("moorctl-inputs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("inputs.json");
        std::fs::write(&path, r#"{"replicas": 2, "domain": "a.example"}"#).unwrap();
        let args = InputArgs {
            inputs: vec![
                ("replicas".into(), serde_json::json!(5)),
                ("image".into(), serde_json::json!("shop:1.4")),
            ],
            inputs_file: Some(path.clone()),
        };
        let json: serde_json::Value =
            serde_json::from_str(&inputs_json(&args).unwrap().unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"replicas": 5, "domain": "a.example", "image": "shop:1.4"})
        );
        std::fs::write(&path, "[1, 2]").unwrap();
        let err = format!("{:#}", inputs_json(&args).unwrap_err());
        assert!(err.contains("must hold a JSON object"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();

        let none = InputArgs {
            inputs: vec![],
            inputs_file: None,
        };
        assert_eq!(inputs_json(&none).unwrap(), None);
    }

    #[test]
    fn site_filter() {
        let site = pb::Site {
            name: "edge-1".into(),
            region: "eu-west".into(),
            labels: [("tier".to_string(), "edge".to_string())].into(),
            ..Default::default()
        };
        let label = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
        assert!(site_matches(&site, None, &[]));
        assert!(site_matches(&site, Some("eu-west"), &label("tier", "edge")));
        assert!(!site_matches(&site, Some("us-east"), &[]));
        assert!(!site_matches(&site, None, &label("tier", "core")));
        assert!(!site_matches(&site, None, &label("zone", "edge")));
    }

    fn cli(addr: &str, args: &[&str]) -> Cli {
        let mut full = vec!["moorctl", "--endpoints", addr, "--timeout-ms", "5000"];
        full.extend_from_slice(args);
        Cli::try_parse_validated(full).unwrap()
    }

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

        crate::commands::run(cli(&addr, &["apply", "-f", &f(&good), "-f", &f(&sites)]))
            .await
            .unwrap();
        assert_eq!(crate::fake::count(&calls), 2);

        let err = crate::commands::run(cli(&addr, &["apply", "-f", &f(&bad), "-f", &f(&good)]))
            .await
            .unwrap_err();
        assert_eq!(Exit::of_error(&err), Exit::Error);
        assert!(err.to_string().contains("fix the errors above"), "{err}");
        assert_eq!(crate::fake::count(&calls), 3, "stops at the first refusal");

        // A broken sites file: nothing at all is sent.
        std::fs::write(&sites, "sites:\n  - {name: s1}\n").unwrap();
        let err = crate::commands::run(cli(&addr, &["apply", "-f", &f(&good), "-f", &f(&sites)]))
            .await
            .unwrap_err();
        assert!(format!("{err:#}").contains("missing field"), "{err:#}");
        assert_eq!(crate::fake::count(&calls), 3);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn missing_site_exits_3_with_a_hint() {
        let (addr, _) = fake_workflow(WatchScript::NotFound).await;
        let err = crate::commands::run(cli(&addr, &["site", "show", "edge-9"]))
            .await
            .unwrap_err();
        assert_eq!(Exit::of_error(&err), Exit::NotFound);
        assert!(
            err.to_string().contains("moorctl apply -f sites.yaml"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn start_with_watch_ends_with_the_executions_outcome() {
        let failed = pb::Execution {
            id: "x1".into(),
            environment: "web-1".into(),
            kind: "install".into(),
            state: "failed".into(),
            ..Default::default()
        };
        let (addr, _) = fake_workflow(WatchScript::End(vec![failed])).await;
        let err = crate::commands::run(cli(
            &addr,
            &[
                "env",
                "create",
                "web-1",
                "--site",
                "s1",
                "--blueprint",
                "hello@2",
                "--input",
                "replicas=3",
                "--watch",
            ],
        ))
        .await
        .unwrap_err();
        assert_eq!(Exit::of_error(&err), Exit::NotSucceeded, "{err:#}");

        let err = crate::commands::run(cli(&addr, &["exec", "watch", "x9"]))
            .await
            .unwrap_err();
        assert_eq!(Exit::of_error(&err), Exit::NotSucceeded, "{err:#}");
    }
}
