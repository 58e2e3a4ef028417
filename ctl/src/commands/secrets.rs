//! `moorctl secrets`: where the cluster's stored secrets are sealed, and moving them to the
//! sealing key after a key rotation. Both exit with 10 while some secret is not under the
//! sealing key, so a rotation script can wait for 0 before it removes the older key;
//! `status` exits with 11 when some secret is under a key the answering member lacks.

use anyhow::{Context, Result};

use crate::cli::{OutputFormat, SecretsCommand};
use crate::client::Client;
use crate::exit::{Exit, Failure};
use crate::views::secrets::{KeyCountView, ResealView, SecretsStatusView};
use crate::views::show;

pub(super) async fn run(
    command: SecretsCommand,
    client: &mut Client,
    format: OutputFormat,
) -> Result<()> {
    match command {
        SecretsCommand::Status => {
            let view = status(client).await?;
            show(&view, format)?;
            status_verdict(&view)
        }
        SecretsCommand::Reseal => {
            let view = reseal(client).await?;
            show(&view, format)?;
            reseal_verdict(&view)
        }
    }
}

async fn status(client: &mut Client) -> Result<SecretsStatusView> {
    let r = client
        .secrets_status()
        .await
        .context("cannot read where the stored secrets are sealed")?;
    Ok(SecretsStatusView::from(&r))
}

async fn reseal(client: &mut Client) -> Result<ResealView> {
    let r = client.reseal_secrets().await.context(
        "cannot reseal the stored secrets (repeating `moorctl secrets reseal` is harmless)",
    )?;
    Ok(ResealView::from(&r))
}

/// The exit code of `secrets status`: 11 when some secret is under a key the member does
/// not hold (the worse: it cannot be opened there), else 10 when some is under an older
/// key or in clear, else 0 (the older keys may go).
fn status_verdict(view: &SecretsStatusView) -> Result<()> {
    if view.under_missing_keys > 0 {
        let keys = view.keys_where(|c| !c.known).join(", ");
        let file = match &view.key_file {
            Some(file) => format!("this member's key file {file} does not hold"),
            None => "this member has no key file, so it lacks".to_string(),
        };
        return Err(Failure::new(
            Exit::KeyMissing,
            format!(
                "{} stored secret(s) are sealed under keys {file}: {keys}; steps that use them \
                 fail on this member: put the keys back in the key file of every member (each \
                 re-reads it within a second)",
                view.under_missing_keys
            ),
        )
        .into());
    }
    let Some(sealing) = view.sealing_key() else {
        // No key file and nothing sealed: secrets are stored in clear, nothing to rotate.
        return Ok(());
    };
    let clear = view.clear_secret_inputs;
    if view.under_older_keys == 0 && clear == 0 {
        return Ok(());
    }
    let older = view
        .keys_where(|c: &KeyCountView| c.known && !c.sealing)
        .join(", ");
    Err(Failure::new(
        Exit::NotResealed,
        format!(
            "not every stored secret is under the sealing key {sealing} yet ({} under older \
             keys{}{}, {clear} secret input(s) in clear): keep the older keys in the key file; \
             `moorctl secrets reseal` moves variables and environment inputs; running \
             executions keep theirs until they end, triggers until re-created",
            view.under_older_keys,
            if older.is_empty() { "" } else { ": " },
            older,
        ),
    )
    .into())
}

/// The exit code of `secrets reseal`: 0 when nothing remains under an older key, else 10.
fn reseal_verdict(view: &ResealView) -> Result<()> {
    if view.remaining.is_empty() {
        return Ok(());
    }
    Err(Failure::new(
        Exit::NotResealed,
        format!(
            "some stored secrets could not be moved to key {} ({} reason(s) listed above): \
             keep the older keys in the key file; `moorctl secrets status` shows where they \
             are; run `moorctl secrets reseal` again once what holds them has ended",
            view.sealing_key,
            view.remaining.len()
        ),
    )
    .into())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::commands::run;
    use crate::fake::{cli_for, client, fake_secrets, serve, Mode, SecretsScript};

    /// The exit code of `moorctl ARGS` against a fake member at `addr` (0: success).
    async fn exit_of(addr: &str, args: &[&str]) -> (Exit, String) {
        match run(cli_for(addr, args)).await {
            Ok(()) => (Exit::Success, String::new()),
            Err(e) => (Exit::of_error(&e), format!("{e:#}")),
        }
    }

    #[tokio::test]
    async fn exit_codes_follow_the_rotation() {
        let rotating = fake_secrets(SecretsScript::Rotating).await;
        let resealed = fake_secrets(SecretsScript::Resealed).await;
        let missing = fake_secrets(SecretsScript::KeyMissing).await;
        for output in ["table", "json", "yaml"] {
            let status = ["-o", output, "secrets", "status"];
            let reseal = ["-o", output, "secrets", "reseal"];

            let (exit, msg) = exit_of(&rotating.addr, &status).await;
            assert_eq!(exit, Exit::NotResealed, "{msg}");
            assert!(msg.contains("sealing key k-new"), "{msg}");
            assert!(msg.contains("2 under older keys: k-old"), "{msg}");
            assert!(msg.contains("moorctl secrets reseal"), "{msg}");
            let (exit, msg) = exit_of(&rotating.addr, &reseal).await;
            assert_eq!(exit, Exit::NotResealed, "{msg}");
            assert!(msg.contains("(1 reason(s) listed above)"), "{msg}");

            assert_eq!(exit_of(&resealed.addr, &status).await.0, Exit::Success);
            assert_eq!(exit_of(&resealed.addr, &reseal).await.0, Exit::Success);

            let (exit, msg) = exit_of(&missing.addr, &status).await;
            assert_eq!(exit, Exit::KeyMissing, "{msg}");
            assert!(
                msg.contains("1 stored secret(s) are sealed under keys this member's key file /etc/moor/secrets.keys does not hold: k-old"),
                "{msg}"
            );
            assert!(msg.contains("put the keys back"), "{msg}");
            let (exit, msg) = exit_of(&missing.addr, &reseal).await;
            assert_eq!(exit, Exit::Error, "{msg}");
            assert!(msg.contains("not in the key file"), "{msg}");
        }
        assert_eq!(
            (Exit::NotResealed.code(), Exit::KeyMissing.code()),
            (10, 11)
        );
    }

    #[tokio::test]
    async fn refusals_keep_their_codes() {
        let denied = serve(Mode::PermissionDenied, None).await;
        for args in [["secrets", "status"], ["secrets", "reseal"]] {
            let (exit, _) = exit_of(&denied.addr, &args).await;
            assert_eq!(exit, Exit::Denied, "{args:?}");
        }
        // A read is retried and gives up as unavailable; so does a write nothing applied.
        let down = serve(Mode::Unavailable, None).await;
        assert_eq!(
            exit_of(&down.addr, &["secrets", "status"]).await.0,
            Exit::Unavailable
        );
        let (exit, msg) = exit_of(&down.addr, &["secrets", "reseal"]).await;
        assert_eq!(exit, Exit::Unavailable);
        assert!(
            msg.contains("repeating `moorctl secrets reseal` is harmless"),
            "{msg}"
        );
    }

    #[test]
    fn verdicts_without_a_key_file_and_with_clear_inputs() {
        use moor_proto::api::{SealedCount, SecretsStatusResponse};
        let none = SecretsStatusResponse {
            clear_secret_inputs: 4,
            ..Default::default()
        };
        // No key file: secrets are stored in clear on purpose, there is nothing to rotate.
        assert!(status_verdict(&SecretsStatusView::from(&none)).is_ok());
        let sealed_without_file = SecretsStatusResponse {
            sealed: vec![SealedCount {
                key_id: "k1".into(),
                variables: 3,
                ..Default::default()
            }],
            ..Default::default()
        };
        let err = status_verdict(&SecretsStatusView::from(&sealed_without_file)).unwrap_err();
        assert_eq!(Exit::of_error(&err), Exit::KeyMissing);
        assert!(
            err.to_string().contains("this member has no key file"),
            "{err}"
        );
        let clear = SecretsStatusResponse {
            key_file: "/k".into(),
            keys: vec!["k1".into()],
            clear_secret_inputs: 2,
            ..Default::default()
        };
        let err = status_verdict(&SecretsStatusView::from(&clear)).unwrap_err();
        assert_eq!(Exit::of_error(&err), Exit::NotResealed);
        assert!(
            err.to_string()
                .contains("(0 under older keys, 2 secret input(s) in clear)"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn the_status_as_a_table() {
        let m = fake_secrets(SecretsScript::Rotating).await;
        let mut c = client(std::slice::from_ref(&m.addr), Duration::from_secs(5));
        let view = status(&mut c).await.unwrap();
        use crate::views::View;
        assert_eq!(
            view.table(),
            "key file                /etc/moor/secrets.keys\n\
             sealing key             k-new\n\
             older keys              k-old\n\
             secret inputs in clear  0\n\
             read index              9\n\
             \n\
             KEY    KEY FILE  VARIABLES  ENV INPUTS  ROLLOUT INPUTS  RUNNING STEPS\n\
             k-new  sealing           2           5               0              0\n\
             k-old  older             0           1               0              1"
        );
        let view = reseal(&mut c).await.unwrap();
        assert_eq!(
            view.table(),
            "sealing key               k-new\n\
             variables moved           1\n\
             environment values moved  3\n\
             remaining                 1\n  \
             1 value(s) under key k-old in steps of running executions: they keep it until they end"
        );
    }
}
