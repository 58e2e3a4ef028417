//! `moorctl cluster`: initialise, bootstrap (`bootstrap.rs`), read the status, and change
//! the membership.

use std::collections::HashMap;

use anyhow::{Context, Result};

use super::bootstrap;
use crate::cli::{ClusterCommand, OutputFormat};
use crate::client::Client;
use crate::views::cluster::{InitView, MemberView, MembershipView, StatusView};
use crate::views::show;

pub(super) async fn run(
    command: ClusterCommand,
    client: &mut Client,
    format: OutputFormat,
) -> Result<()> {
    match command {
        ClusterCommand::Init { members } => {
            let wanted: HashMap<u64, String> =
                members.iter().map(|m| (m.id, m.addr.clone())).collect();
            client
                .cluster_init(wanted)
                .await
                .context("cannot initialise the cluster")?;
            let mut members: Vec<MemberView> = members
                .into_iter()
                .map(|m| MemberView {
                    id: m.id,
                    addr: m.addr,
                    role: "voter",
                    matched_index: None,
                    lag: None,
                })
                .collect();
            members.sort_by_key(|m| m.id);
            show(
                &InitView {
                    initialized: true,
                    members,
                },
                format,
            )
        }
        ClusterCommand::Bootstrap { members, wait } => {
            bootstrap::run(&members, wait, client.timeout(), client.security(), format)
                .await
                .context("cannot bootstrap the cluster")
        }
        ClusterCommand::Status => {
            let status = client
                .cluster_status()
                .await
                .context("cannot read the cluster status")?;
            show(&StatusView::from(&status), format)
        }
        ClusterCommand::Add { id, addr, wait } => {
            let r = client
                .add_member(id, addr.clone(), wait)
                .await
                .with_context(|| format!("cannot add member {id} at {addr}"))?;
            show(&MembershipView::from(&r), format)
        }
        ClusterCommand::Promote { id } => {
            let r = client
                .promote_member(id)
                .await
                .with_context(|| format!("cannot promote member {id}"))?;
            show(&MembershipView::from(&r), format)
        }
        ClusterCommand::Remove { id } => {
            let r = client
                .remove_member(id)
                .await
                .with_context(|| format!("cannot remove member {id}"))?;
            show(&MembershipView::from(&r), format)
        }
    }
}
