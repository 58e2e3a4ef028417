//! `moorctl env`: create an environment (which starts its install), read environments, set
//! their drift policy and compare them with their sites.

use std::collections::HashMap;

use anyhow::{anyhow, Result};
use moor_proto::names::WireName;
use moor_proto::workflow as pb;

use super::drift::wire_policy;
use super::exec_watch::started;
use super::hints::{say_if_empty, CallContext};
use super::inputs::inputs_json;
use crate::cli::{EnvCommand, EnvCreateArgs, OutputFormat, SetDriftArgs};
use crate::client::Client;
use crate::exit::{Exit, Failure};
use crate::views::diff::DiffView;
use crate::views::env::{EnvDriftView, EnvListView, EnvView};
use crate::views::show;

pub(super) async fn run(
    command: EnvCommand,
    client: &mut Client,
    format: OutputFormat,
) -> Result<()> {
    match command {
        EnvCommand::Create(args) => create(args, client, format).await,
        EnvCommand::List { site, status, read } => {
            let r = client
                .list_environments(
                    site.clone().unwrap_or_default(),
                    status.map_or_else(String::new, |s| s.as_str().to_string()),
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
        EnvCommand::Drift(args) => set_drift(args, client, format).await,
        EnvCommand::Diff { name } => {
            let view = diff(client, name).await?;
            show(&view, format)?;
            diff_verdict(&view)
        }
    }
}

/// `env create`: the install it starts is shown, and followed with `--watch`.
async fn create(args: EnvCreateArgs, client: &mut Client, format: OutputFormat) -> Result<()> {
    let inputs = inputs_json(&args.inputs)?.unwrap_or_default();
    let drift = args.drift.policy().map_err(|e| anyhow!(e))?;
    let name = args.name.clone();
    let msg = pb::CreateEnvironmentRequest {
        name: args.name,
        site: args.site,
        blueprint: args.blueprint.name.clone(),
        revision: args.blueprint.revision.unwrap_or(0),
        inputs_json: inputs,
        labels: args.labels.into_iter().collect::<HashMap<_, _>>(),
        retry: None,
        drift: drift.map(wire_policy),
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

/// `env drift`: sets or clears the environment's own policy and shows the one in force.
async fn set_drift(args: SetDriftArgs, client: &mut Client, format: OutputFormat) -> Result<()> {
    let policy = args.policy().map_err(|e| anyhow!(e))?;
    let name = args.name;
    let verb = if policy.is_some() { "set" } else { "clear" };
    let env = client
        .set_environment_drift(name.clone(), policy.map(wire_policy))
        .await
        .or_say(|| format!("cannot {verb} the drift policy of environment {name}"))?;
    show(&EnvDriftView::from(&env), format)
}

/// `env diff`: the comparison the member made with the site.
async fn diff(client: &mut Client, name: String) -> Result<DiffView> {
    let r = client
        .diff_environment(name.clone())
        .await
        .or_say(|| format!("cannot compare environment {name} with its site"))?;
    Ok(DiffView::from(&r))
}

/// The exit code of `env diff`, as diff(1) has it: 0 when in sync, else 9 (1 is taken by
/// errors) with what to do about it.
fn diff_verdict(view: &DiffView) -> Result<()> {
    if view.in_sync {
        return Ok(());
    }
    let name = &view.environment;
    Err(Failure::new(
        Exit::Drifted,
        format!(
            "environment {name} differs from its desired state ({} of {} resources); repair \
             it with `moorctl exec start {name} --kind heal`",
            view.differing,
            view.resources.len()
        ),
    )
    .into())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::cli::OutputFormat;
    use crate::commands::run;
    use crate::exit::Exit;
    use crate::fake::{cli_for, client, fake_workflow, WatchScript, FAKE_SUSPENDED};
    use crate::views::diff::DiffView;
    use crate::views::env::EnvView;
    use crate::views::{render, View};

    /// `env show NAME` as a table, from the fake at `addr`.
    async fn shown(addr: &str, name: &str) -> String {
        let mut c = client(&[addr.to_string()], Duration::from_secs(5));
        let env = c.get_environment(name.into(), false).await.unwrap();
        EnvView::from(&env).table()
    }

    #[tokio::test]
    async fn env_show_has_the_drift_lines() {
        let (addr, _) = fake_workflow(WatchScript::NotFound).await;
        run(cli_for(&addr, &["env", "show", "shop-2"]))
            .await
            .unwrap();
        let text = shown(&addr, "shop-2").await;
        for line in [
            "drift policy       heal every 5m, at most 4 an hour (from environment)\n",
            "own drift policy   heal every 5m, at most 4 an hour\n",
            "heals last hour    4\n",
            &format!("heal suspended     {FAKE_SUSPENDED}\n"),
        ] {
            assert!(text.contains(line), "{line:?} not in\n{text}");
        }
        let text = shown(&addr, "shop-1").await;
        assert!(
            text.contains(
                "drift policy       notify at the member's interval, never heal (from default)\n"
            ),
            "{text}"
        );
        assert!(text.contains("own drift policy   -\n"), "{text}");
        assert!(!text.contains("heal suspended"), "{text}");

        let mut c = client(std::slice::from_ref(&addr), Duration::from_secs(5));
        let env = c.get_environment("shop-2".into(), false).await.unwrap();
        let json = render(&EnvView::from(&env), OutputFormat::Json).unwrap();
        let json: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(json["effective_drift"]["check_every"], "5m");
        assert_eq!(json["drift"]["max_heals_per_hour"], 4);
        assert_eq!(json["drift_policy_source"], "environment");
        assert_eq!(json["heals_last_hour"], 4);
        assert_eq!(json["heal_suspended"], FAKE_SUSPENDED);
    }

    #[tokio::test]
    async fn own_group_and_default_policies_take_turns() {
        let (addr, _) = fake_workflow(WatchScript::NotFound).await;
        let ok = |line: &str| {
            let args: Vec<&str> = line.split_whitespace().collect();
            run(cli_for(&addr, &args))
        };
        ok(
            "group put edge --of environments --label tier=edge --drift-check-every 1m \
            --on-drift heal --max-heals-per-hour 2",
        )
        .await
        .unwrap();
        let text = shown(&addr, "shop-1").await;
        let from_group = "heal every 1m, at most 2 an hour (from group edge)";
        assert!(text.contains(from_group), "{text}");
        ok("env drift shop-1 --check-every 30s --on-drift notify")
            .await
            .unwrap();
        let text = shown(&addr, "shop-1").await;
        assert!(
            text.contains("notify every 30s (from environment)"),
            "{text}"
        );
        ok("env drift shop-1 --clear").await.unwrap();
        assert!(shown(&addr, "shop-1").await.contains(from_group));
        // A group put without drift flags has no policy any more.
        ok("group put edge --of environments").await.unwrap();
        assert!(shown(&addr, "shop-1").await.contains("(from default)"));

        ok("env create web-9 --site s --blueprint b --on-drift heal")
            .await
            .unwrap();
        let text = shown(&addr, "web-9").await;
        let own = "own drift policy   heal every 5m, at most 4 an hour\n";
        assert!(text.contains(own), "{text}");
        let err = ok("env drift web-0 --clear").await.unwrap_err();
        assert_eq!(Exit::of_error(&err), Exit::NotFound);
        assert!(
            format!("{err:#}").contains("moorctl env create web-0"),
            "{err:#}"
        );
    }

    #[tokio::test]
    async fn env_diff_exits_9_when_something_differs() {
        let (addr, _) = fake_workflow(WatchScript::NotFound).await;
        run(cli_for(&addr, &["env", "diff", "shop-1"]))
            .await
            .unwrap();
        for args in [
            &["env", "diff", "shop-2"][..],
            &["-o", "json", "env", "diff", "shop-2"],
        ] {
            let err = run(cli_for(&addr, args)).await.unwrap_err();
            assert_eq!(Exit::of_error(&err), Exit::Drifted, "{args:?}");
            assert_eq!(Exit::Drifted.code(), 9);
            let msg = err.to_string();
            assert!(msg.contains("(3 of 4 resources)"), "{msg}");
            assert!(
                msg.contains("moorctl exec start shop-2 --kind heal"),
                "{msg}"
            );
        }
        let err = run(cli_for(&addr, &["env", "diff", "web-0"]))
            .await
            .unwrap_err();
        assert_eq!(Exit::of_error(&err), Exit::NotFound);

        let mut c = client(std::slice::from_ref(&addr), Duration::from_secs(5));
        let view = DiffView::from(&c.diff_environment("shop-2".into()).await.unwrap());
        let text = view.table();
        for line in [
            "drifted     config   agent.file\n",
            "            /mode: \"0644\" → \"0666\"\n",
            "            /content: \"port=80\" → (absent)\n",
            "missing     db       agent.file\n",
            "unexpected  stray    agent.file\n",
            "\n3 of 4 resources differ from the desired state",
        ] {
            assert!(text.contains(line), "{line:?} not in\n{text}");
        }
        assert!(!text.contains('\x1b'), "no colour off a terminal");
        let json: serde_json::Value =
            serde_json::from_str(&render(&view, OutputFormat::Json).unwrap()).unwrap();
        assert_eq!(json["environment"], "shop-2");
        assert_eq!(json["in_sync"], false);
        assert_eq!(json["resources"][1]["fields"][0]["observed"], "0666");
        assert_eq!(json["resources"][2]["state"], "missing");
    }
}
