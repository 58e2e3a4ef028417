//! `moorctl receiver`: create (or replace), list, show and delete webhook receivers, and list
//! the deliveries one recorded.
//!
//! The secret comes from a file, never from a flag (flags show in `ps` and shell history);
//! moorctl sends it once, with the put, and prints only what the member answers, which
//! never holds it.

use std::path::Path;

use anyhow::{anyhow, Result};
use moor_proto::hooks as pb;
use moor_proto::names::WireName;

use super::files::read_text;
use super::hints::{say_if_empty, CallContext};
use crate::cli::{OutputFormat, ReceiverCommand, ReceiverCreateArgs};
use crate::client::Client;
use crate::settings::readable_by_others;
use crate::views::message::MessageView;
use crate::views::receiver::{
    DeliveriesView, DeliveryView, ReceiverCreatedView, ReceiverListView, ReceiverView,
};
use crate::views::show;

pub(super) async fn run(
    command: ReceiverCommand,
    client: &mut Client,
    format: OutputFormat,
) -> Result<()> {
    match command {
        ReceiverCommand::Create(a) => create(a, client, format).await,
        ReceiverCommand::List { read } => {
            let r = client
                .list_receivers(read.stale)
                .await
                .or_say(|| "cannot list receivers".into())?;
            let mut receivers: Vec<ReceiverView> =
                r.receivers.iter().map(ReceiverView::from).collect();
            receivers.sort_by(|a, b| a.name.cmp(&b.name));
            say_if_empty(
                receivers.is_empty(),
                format,
                "no receivers yet; create one with `moorctl receiver create NAME --type github \
                 --secret-file FILE`",
            );
            show(&ReceiverListView { receivers }, format)
        }
        ReceiverCommand::Show { name, read } => {
            let r = client
                .get_receiver(name.clone(), read.stale)
                .await
                .or_say(|| format!("cannot show receiver {name}"))?;
            show(&ReceiverView::from(&r), format)
        }
        ReceiverCommand::Delete { name } => {
            client
                .delete_receiver(name.clone())
                .await
                .or_say(|| format!("cannot delete receiver {name}"))?;
            let message =
                format!("receiver {name} deleted: deliveries to /hooks/{name} are refused");
            show(&MessageView { message }, format)
        }
        ReceiverCommand::Deliveries { name, limit, read } => {
            let r = client
                .list_deliveries(name.clone(), limit.unwrap_or(0), read.stale)
                .await
                .or_say(|| format!("cannot list the deliveries of receiver {name}"))?;
            let mut deliveries: Vec<DeliveryView> =
                r.deliveries.iter().map(DeliveryView::from).collect();
            deliveries.sort_by_key(|d| d.received_ms);
            say_if_empty(
                deliveries.is_empty(),
                format,
                &format!("receiver {name} has recorded no delivery yet"),
            );
            show(
                &DeliveriesView {
                    receiver: name,
                    deliveries,
                },
                format,
            )
        }
    }
}

/// `receiver create`: reads the secret, puts the receiver, and says what to configure in
/// the CI system.
async fn create(a: ReceiverCreateArgs, client: &mut Client, format: OutputFormat) -> Result<()> {
    let secret = read_secret(&a.secret_file)?;
    let receiver = pb::Receiver {
        name: a.name.clone(),
        r#type: a.kind.as_str().into(),
        secret,
        max_body_bytes: a.max_body_bytes.unwrap_or(0),
        rate_per_minute: a.rate_per_minute.unwrap_or(0),
        timestamp_tolerance_s: a.timestamp_tolerance.map_or(0, |d| d.as_secs()),
        ..Default::default()
    };
    let r = client
        .put_receiver(receiver)
        .await
        .or_say(|| format!("cannot create receiver {}", a.name))?;
    let path = if r.path.is_empty() {
        format!("/hooks/{}", a.name)
    } else {
        r.path
    };
    show(
        &ReceiverCreatedView::new(&a.name, r.created, &path, client.addr(0)),
        format,
    )
}

/// The secret in `path` (`-`: standard input), without its trailing newline and blanks.
/// Warns when others than the owner may read the file. Errors name the file and what to do,
/// and never quote the secret.
fn read_secret(path: &Path) -> Result<String> {
    const FLAG: &str = "--secret-file";
    let file = read_text(path, FLAG).map_err(|e| {
        anyhow!(
            "{e:#}; write the webhook's shared secret to a file only you can read (e.g. \
             `openssl rand -hex 32 > ci.secret; chmod 600 ci.secret`), give the same secret \
             to the CI system, and pass the file with {FLAG}"
        )
    })?;
    let secret = file.text.trim_end();
    if secret.is_empty() {
        return Err(anyhow!(
            "{} ({FLAG}) is empty; write the webhook's shared secret to it (the same one the \
             CI system signs with)",
            file.name
        ));
    }
    if !file.stdin && readable_by_others(path) {
        eprintln!(
            "moorctl: warning: the secret file {} may be read by other users; `chmod 600 {}`",
            file.name, file.name
        );
    }
    Ok(secret.to_string())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn secrets_are_read_trimmed_and_never_quoted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ci.secret");
        std::fs::write(&path, "s3cr3t value\n\n  ").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_secret(&path).unwrap(), "s3cr3t value");
        // Readable by others: a warning, not a refusal.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(read_secret(&path).unwrap(), "s3cr3t value");

        std::fs::write(&path, " \n").unwrap();
        let e = format!("{:#}", read_secret(&path).unwrap_err());
        assert!(e.contains("ci.secret (--secret-file) is empty"), "{e}");
        let missing = dir.path().join("nope.secret");
        let e = format!("{:#}", read_secret(&missing).unwrap_err());
        assert!(e.contains("nope.secret (--secret-file)"), "{e}");
        assert!(e.contains("chmod 600"), "says what to do: {e}");
    }

    #[tokio::test]
    async fn a_receiver_round_trips_without_its_secret() {
        use std::time::Duration;

        use crate::commands::run;
        use crate::exit::Exit;
        use crate::fake::{cli_for, client, count, fake_workflow, WatchScript};
        use crate::views::View;

        let (addr, calls) = fake_workflow(WatchScript::NotFound).await;
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("ci.secret");
        std::fs::write(&secret, "hunter2\n").unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
        let secret = secret.to_str().unwrap();
        let create = [
            "receiver",
            "create",
            "ci",
            "--type",
            "gitlab",
            "--secret-file",
            secret,
            "--rate-per-minute",
            "30",
            "--timestamp-tolerance",
            "2m",
        ];
        run(cli_for(&addr, &create)).await.unwrap();
        for args in [
            &["receiver", "show", "ci"][..],
            &["receiver", "list"],
            &["receiver", "deliveries", "ci", "--limit", "5"],
            &["-o", "json", "receiver", "show", "ci"],
        ] {
            run(cli_for(&addr, args)).await.unwrap();
        }
        let mut c = client(std::slice::from_ref(&addr), Duration::from_secs(5));
        let r = c.get_receiver("ci".into(), false).await.unwrap();
        assert_eq!(
            (r.r#type.as_str(), r.path.as_str()),
            ("gitlab", "/hooks/ci")
        );
        assert_eq!((r.rate_per_minute, r.timestamp_tolerance_s), (30, 120));
        assert_eq!(r.max_body_bytes, 0, "not given: the member's default");
        assert!(r.secret.is_empty());
        let created = ReceiverCreatedView::new("ci", true, &r.path, &addr).table();
        assert!(
            created.contains(&format!("e.g. https://{addr}/hooks/ci")),
            "{created}"
        );
        assert!(created.contains("application/json"), "{created}");

        run(cli_for(&addr, &["receiver", "delete", "ci"]))
            .await
            .unwrap();
        let err = run(cli_for(&addr, &["receiver", "show", "ci"]))
            .await
            .unwrap_err();
        assert_eq!(Exit::of_error(&err), Exit::NotFound);
        assert!(
            err.to_string().contains("moorctl receiver create ci"),
            "{err}"
        );

        // A missing secret file stops it before anything is sent.
        let before = count(&calls);
        let mut bad = create.to_vec();
        let missing = dir.path().join("missing.secret");
        bad[6] = missing.to_str().unwrap();
        let err = run(cli_for(&addr, &bad)).await.unwrap_err();
        assert_eq!(Exit::of_error(&err), Exit::Error);
        assert!(format!("{err:#}").contains("missing.secret (--secret-file)"));
        assert_eq!(count(&calls), before);
    }
}
