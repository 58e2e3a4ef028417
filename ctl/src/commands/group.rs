//! `moorctl group`: put, list, show and delete groups (label selectors over sites or
//! environments, for rollouts).

use anyhow::{anyhow, Result};
use moor_proto::names::WireName;
use moor_proto::rollout as pb;

use super::drift::set_group_policy;
use super::hints::rollout_failed as failed;
use crate::cli::{GroupCommand, GroupPutArgs, OutputFormat};
use crate::client::Client;
use crate::views::group::{GroupListView, GroupView};
use crate::views::message::MessageView;
use crate::views::show;

pub(super) async fn run(
    command: GroupCommand,
    client: &mut Client,
    format: OutputFormat,
) -> Result<()> {
    match command {
        GroupCommand::Put(a) => put(a, client, format).await,
        GroupCommand::List { read } => {
            let r = client
                .list_groups(read.stale)
                .await
                .map_err(|e| failed(e, "cannot list groups".into()))?;
            show(
                &GroupListView {
                    groups: r.groups.iter().map(GroupView::from).collect(),
                },
                format,
            )
        }
        GroupCommand::Show { name, read } => {
            let g = client
                .get_group(name.clone(), read.stale)
                .await
                .map_err(|e| failed(e, format!("cannot show group {name}")))?;
            show(&GroupView::from(&g), format)
        }
        GroupCommand::Delete { name } => {
            client
                .delete_group(name.clone())
                .await
                .map_err(|e| failed(e, format!("cannot delete group {name}")))?;
            let message = format!("group {name} deleted");
            show(&MessageView { message }, format)
        }
    }
}

/// `group put`: creates or replaces the group (its drift policy too) and says how much it
/// selects now.
async fn put(a: GroupPutArgs, client: &mut Client, format: OutputFormat) -> Result<()> {
    let name = a.name.clone();
    let drift = a.drift.policy().map_err(|e| anyhow!(e))?;
    let mut g = pb::Group {
        name: a.name,
        kind: a.of.as_str().into(),
        match_labels: a.labels.into_iter().collect(),
        names: a.names,
        ..Default::default()
    };
    set_group_policy(&mut g, drift);
    let r = client
        .put_group(g)
        .await
        .map_err(|e| failed(e, format!("cannot put group {name}")))?;
    let message = format!(
        "group {name} {}; it selects {} now",
        if r.created { "created" } else { "replaced" },
        r.matches
    );
    show(&MessageView { message }, format)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::cli::OutputFormat;
    use crate::commands::run;
    use crate::exit::Exit;
    use crate::fake::{cli_for, client, fake_workflow, WatchScript};
    use crate::views::group::{GroupListView, GroupView};
    use crate::views::{render, View};

    #[tokio::test]
    async fn a_group_policy_round_trips() {
        let (addr, calls) = fake_workflow(WatchScript::NotFound).await;
        let put = [
            "group",
            "put",
            "edge",
            "--of",
            "sites",
            "--label",
            "tier=edge",
            "--drift-check-every",
            "2h",
            "--on-drift",
            "heal",
        ];
        run(cli_for(&addr, &put)).await.unwrap();
        run(cli_for(&addr, &["group", "show", "edge"]))
            .await
            .unwrap();
        run(cli_for(&addr, &["group", "list"])).await.unwrap();

        let mut c = client(std::slice::from_ref(&addr), Duration::from_secs(5));
        let g = c.get_group("edge".into(), false).await.unwrap();
        assert_eq!(
            (g.drift_check_every_ms, g.drift_on_drift.as_str()),
            (7_200_000, "heal")
        );
        assert_eq!(g.drift_max_heals_per_hour, 4);
        let view = GroupView::from(&g);
        let text = view.table();
        assert!(
            text.contains("drift policy  heal every 2h, at most 4 an hour"),
            "{text}"
        );
        let json: serde_json::Value =
            serde_json::from_str(&render(&view, OutputFormat::Json).unwrap()).unwrap();
        assert_eq!(json["drift"]["check_every"], "2h");
        assert_eq!(json["drift"]["on_drift"], "heal");
        let list = c.list_groups(false).await.unwrap();
        let list = GroupListView {
            groups: list.groups.iter().map(GroupView::from).collect(),
        }
        .table();
        assert!(list.contains("DRIFT POLICY"), "{list}");
        assert!(list.contains("heal every 2h, at most 4 an hour"), "{list}");

        // Bad values never leave moorctl.
        let before = crate::fake::count(&calls);
        let mut bad = put.to_vec();
        bad.extend(["--max-heals-per-hour", "99"]);
        let e = crate::cli::Cli::try_parse_validated(
            ["moorctl"].into_iter().chain(bad.iter().copied()),
        )
        .unwrap_err();
        assert_eq!(e.exit_code(), Exit::Usage.code() as i32);
        assert_eq!(crate::fake::count(&calls), before);
    }
}
