//! `moorctl cluster`: initialise, bootstrap (`bootstrap.rs`), read the status, change the
//! membership, and save or inspect backups (`snapshot.rs`).

use std::collections::HashMap;

use anyhow::{Context, Result};

use super::{admin_token, bootstrap, snapshot};
use crate::cli::{ClusterCommand, OutputFormat, SnapshotCommand};
use crate::client::Client;
use crate::settings::Settings;
use crate::views::cluster::{FinalizeView, MemberView, MembershipView, StatusView};
use crate::views::formation::InitView;
use crate::views::show;

pub(super) async fn run(
    command: ClusterCommand,
    client: &mut Client,
    format: OutputFormat,
    settings: &Settings,
) -> Result<()> {
    match command {
        ClusterCommand::Init {
            members,
            admin_token: out,
        } => {
            let wanted: HashMap<u64, String> =
                members.iter().map(|m| (m.id, m.addr.clone())).collect();
            let file = admin_token::reserve(&out)?;
            let answer = client
                .cluster_init(wanted)
                .await
                .context("cannot initialise the cluster")?;
            let admin_token = admin_token::save(file, &answer.admin_token, settings)?;
            let mut members: Vec<MemberView> = members
                .into_iter()
                .map(|m| MemberView {
                    id: m.id,
                    addr: m.addr,
                    role: "voter",
                    matched_index: None,
                    lag: None,
                    supported_feature_level: None,
                })
                .collect();
            members.sort_by_key(|m| m.id);
            show(
                &InitView {
                    initialized: true,
                    members,
                    admin_token,
                },
                format,
            )
        }
        ClusterCommand::Bootstrap {
            members,
            wait,
            admin_token: out,
        } => bootstrap::run(&members, wait, &out, client, settings, format)
            .await
            .context("cannot bootstrap the cluster"),
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
        ClusterCommand::UpgradeFinalize { level } => {
            let r = client
                .upgrade_finalize(level.unwrap_or(0))
                .await
                .context("cannot raise the cluster feature level")?;
            show(&FinalizeView::from(&r), format)
        }
        ClusterCommand::Snapshot(SnapshotCommand::Save { file, force }) => {
            snapshot::save(&file, force, client, format).await
        }
        ClusterCommand::Snapshot(SnapshotCommand::Inspect { file }) => {
            snapshot::inspect(&file, format)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use crate::fake::{cli_for, count, serve, Mode, FAKE_ADMIN_TOKEN};

    fn mode(p: &std::path::Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[tokio::test]
    async fn init_writes_the_admin_token_0600_and_never_over_a_file() {
        let m = serve(Mode::Ok, None).await;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("admin.token");
        let out_s = out.to_str().unwrap();
        let args = ["cluster", "init", "--admin-token-out", out_s];
        crate::commands::run(cli_for(&m.addr, &args)).await.unwrap();
        let written = std::fs::read_to_string(&out).unwrap();
        assert_eq!(written, format!("{FAKE_ADMIN_TOKEN}\n"));
        assert_eq!(mode(&out), 0o600);
        // The file exists: refused before anything is sent.
        let err = crate::commands::run(cli_for(&m.addr, &args))
            .await
            .unwrap_err();
        assert!(format!("{err:#}").contains("without --force"), "{err:#}");
        assert_eq!(count(&m.calls), 1);
    }

    #[tokio::test]
    async fn bootstrap_uses_the_peer_address_the_member_reports() {
        let m = serve(Mode::Ok, None).await;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("admin.token");
        let out_s = out.to_str().unwrap();
        let args = [
            "cluster",
            "bootstrap",
            "--member",
            "1",
            "--admin-token-out",
            out_s,
        ];
        crate::commands::run(cli_for(&m.addr, &args)).await.unwrap();
        assert_eq!(
            std::fs::read_to_string(&out).unwrap().trim(),
            FAKE_ADMIN_TOKEN
        );
        assert_eq!(mode(&out), 0o600);
        // Status, init, status.
        assert_eq!(count(&m.calls), 3);
        // A member that is not listed is never initialised.
        let args = [
            "cluster",
            "bootstrap",
            "--member",
            "2",
            "--admin-token-out",
            out_s,
        ];
        let err = crate::commands::run(cli_for(&m.addr, &args))
            .await
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("not in the --member list"),
            "{err:#}"
        );
        assert_eq!(count(&m.calls), 4);
    }

    #[tokio::test]
    async fn without_endpoints_bootstrap_asks_the_member_addresses() {
        let m = serve(Mode::Ok, None).await;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("admin.token");
        let member = format!("1={}", m.addr);
        let args = [
            "moorctl",
            "--timeout-ms",
            "5000",
            "--insecure-plaintext",
            "--config",
            crate::fake::NO_CONFIG,
            "cluster",
            "bootstrap",
            "--member",
            &member,
            "--admin-token-out",
            out.to_str().unwrap(),
        ];
        let cli = crate::cli::Cli::try_parse_validated(args).unwrap();
        crate::commands::run(cli).await.unwrap();
        assert_eq!(count(&m.calls), 3);
        assert!(out.exists());
    }

    #[tokio::test]
    async fn an_unwritable_token_file_does_not_stop_the_cluster_forming() {
        let m = serve(Mode::Ok, None).await;
        let args = [
            "cluster",
            "init",
            "--admin-token-out",
            "/nonexistent-dir/moor-admin.token",
        ];
        crate::commands::run(cli_for(&m.addr, &args)).await.unwrap();
        assert_eq!(count(&m.calls), 1);
    }
}
