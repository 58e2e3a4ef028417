//! `moorctl group`: put, list, show and delete groups (label selectors over sites or
//! environments, for rollouts).

use anyhow::Result;
use moor_proto::names::WireName;
use moor_proto::rollout as pb;

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

/// `group put`: creates or replaces the group and says how much it selects now.
async fn put(a: GroupPutArgs, client: &mut Client, format: OutputFormat) -> Result<()> {
    let name = a.name.clone();
    let g = pb::Group {
        name: a.name,
        kind: a.of.as_str().into(),
        match_labels: a.labels.into_iter().collect(),
        names: a.names,
        ..Default::default()
    };
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
