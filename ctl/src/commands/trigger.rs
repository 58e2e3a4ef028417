//! `moorctl trigger`: create (or replace), list, show and delete triggers. A trigger holds
//! the rollout to start, made from the same flags and by the same code as `rollout start`
//! (`rollout_request.rs`); the member fills in the blueprint and the new revision each time
//! it fires.

use anyhow::Result;
use moor_proto::hooks as pb;
use moor_proto::names::WireName;

use super::hints::{say_if_empty, CallContext};
use super::rollout_request::rollout_request;
use crate::cli::{OutputFormat, TriggerCommand, TriggerCreateArgs};
use crate::client::Client;
use crate::views::message::MessageView;
use crate::views::show;
use crate::views::trigger::{TriggerListView, TriggerView};

pub(super) async fn run(
    command: TriggerCommand,
    client: &mut Client,
    format: OutputFormat,
) -> Result<()> {
    match command {
        TriggerCommand::Create(a) => create(*a, client, format).await,
        TriggerCommand::List { read } => {
            let r = client
                .list_triggers(read.stale)
                .await
                .or_say(|| "cannot list triggers".into())?;
            let mut triggers: Vec<TriggerView> = r.triggers.iter().map(TriggerView::from).collect();
            triggers.sort_by(|a, b| a.name.cmp(&b.name));
            say_if_empty(
                triggers.is_empty(),
                format,
                "no triggers yet; create one with `moorctl trigger create NAME --source S \
                 --blueprint B --group G`",
            );
            show(&TriggerListView { triggers }, format)
        }
        TriggerCommand::Show { name, read } => {
            let t = client
                .get_trigger(name.clone(), read.stale)
                .await
                .or_say(|| format!("cannot show trigger {name}"))?;
            show(&TriggerView::from(&t), format)
        }
        TriggerCommand::Delete { name } => {
            client
                .delete_trigger(name.clone())
                .await
                .or_say(|| format!("cannot delete trigger {name}"))?;
            let message = format!("trigger {name} deleted; a rollout it started goes on");
            show(&MessageView { message }, format)
        }
    }
}

/// `trigger create`: puts the trigger with its rollout template.
async fn create(a: TriggerCreateArgs, client: &mut Client, format: OutputFormat) -> Result<()> {
    let trigger = pb::Trigger {
        name: a.name.clone(),
        source: a.source.clone(),
        blueprint: a.blueprint.clone(),
        rollout: Some(rollout_request(&a.group, a.action, &a.plan)),
        policy: a.policy.as_str().into(),
        ..Default::default()
    };
    let r = client
        .put_trigger(trigger)
        .await
        .or_say(|| format!("cannot create trigger {}", a.name))?;
    let message = format!(
        "trigger {} {}: each new revision of {} from source {} starts an {} rollout of group \
         {} (policy {})",
        a.name,
        if r.created { "created" } else { "replaced" },
        a.blueprint,
        a.source,
        a.action.as_str(),
        a.group,
        a.policy.as_str()
    );
    show(&MessageView { message }, format)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::cli::{Cli, Command, RolloutCommand};
    use crate::commands::run;
    use crate::fake::{cli_for, client, fake_workflow, WatchScript};

    const PLAN: [&str; 10] = [
        "--waves",
        "1,10%,100%",
        "--max-parallel",
        "7",
        "--max-failed-percent",
        "5",
        "--max-attempts",
        "3",
        "--step-timeout-ms",
        "2000",
    ];

    #[tokio::test]
    async fn a_trigger_holds_the_rollout_rollout_start_would_send() {
        let (addr, _) = fake_workflow(WatchScript::NotFound).await;
        let mut create = vec![
            "trigger",
            "create",
            "shop-eu",
            "--source",
            "shop",
            "--blueprint",
            "webshop",
            "--group",
            "eu",
            "--approval",
            "--policy",
            "supersede",
        ];
        create.extend(PLAN);
        run(cli_for(&addr, &create)).await.unwrap();
        for args in [&["trigger", "list"][..], &["trigger", "show", "shop-eu"]] {
            run(cli_for(&addr, args)).await.unwrap();
        }
        let mut c = client(std::slice::from_ref(&addr), Duration::from_secs(5));
        let t = c.get_trigger("shop-eu".into(), false).await.unwrap();
        assert_eq!(t.policy, "supersede");

        let mut start = vec![
            "moorctl",
            "rollout",
            "start",
            "--group",
            "eu",
            "--action",
            "update",
            "--approval",
        ];
        start.extend(PLAN);
        let Command::Rollout(RolloutCommand::Start(s)) =
            Cli::try_parse_validated(start).unwrap().command
        else {
            panic!("not rollout start");
        };
        let same = rollout_request(&s.group, s.action, &s.plan);
        assert_eq!(t.rollout, Some(same));
        let r = t.rollout.unwrap();
        assert_eq!((r.max_parallel, r.max_failed_percent), (7, Some(5)));
        assert!(
            r.blueprint.is_empty() && r.revision == 0,
            "set by the trigger"
        );

        run(cli_for(&addr, &["trigger", "delete", "shop-eu"]))
            .await
            .unwrap();
        assert!(c.list_triggers(false).await.unwrap().triggers.is_empty());
    }
}
