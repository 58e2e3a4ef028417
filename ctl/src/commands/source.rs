//! `moorctl source`: add (or replace), list, show and delete Git sources, and ask for a
//! fetch now (`source sync`), waiting for it with `--wait`.
//!
//! `--wait` polls the source (linearizable reads) until the fetch it asked for has ended:
//! no fetch pending, and a fetch or a failure recorded after the source was first read.
//! A failed fetch is an answer, not a broken call: the source is shown, then moorctl exits
//! with 1, as for a refused request, since nothing of that commit was applied.

use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, Result};
use moor_proto::hooks as pb;
use tokio::time::Instant;

use super::hints::{say_if_empty, CallContext};
use crate::cli::{OutputFormat, SourceAddArgs, SourceCommand};
use crate::client::Client;
use crate::exit::{Exit, Failure};
use crate::settings::absolute;
use crate::views::message::MessageView;
use crate::views::show;
use crate::views::source::{SourceListView, SourceView};
use crate::views::time::one_unit;

/// How often `source sync --wait` reads the source.
const POLL_EVERY: Duration = Duration::from_millis(500);

pub(super) async fn run(
    command: SourceCommand,
    client: &mut Client,
    format: OutputFormat,
) -> Result<()> {
    match command {
        SourceCommand::Add(a) => add(a, client, format).await,
        SourceCommand::List { read } => {
            let r = client
                .list_sources(read.stale)
                .await
                .or_say(|| "cannot list sources".into())?;
            let mut sources: Vec<SourceView> = r.sources.iter().map(SourceView::from).collect();
            sources.sort_by(|a, b| a.name.cmp(&b.name));
            say_if_empty(
                sources.is_empty(),
                format,
                "no sources yet; add one with `moorctl source add NAME --url URL`",
            );
            show(&SourceListView { sources }, format)
        }
        SourceCommand::Show { name, read } => {
            let s = client
                .get_source(name.clone(), read.stale)
                .await
                .or_say(|| format!("cannot show source {name}"))?;
            show(&SourceView::from(&s), format)
        }
        SourceCommand::Delete { name } => {
            client
                .delete_source(name.clone())
                .await
                .or_say(|| format!("cannot delete source {name}"))?;
            let message = format!("source {name} deleted; the blueprint revisions it made stay");
            show(&MessageView { message }, format)
        }
        SourceCommand::Sync {
            name,
            wait,
            timeout,
        } => sync(client, name, wait.then_some(timeout), format).await,
    }
}

/// `source add`: the credentials file goes as an absolute path, which every member must
/// have; moorctl never reads it.
async fn add(a: SourceAddArgs, client: &mut Client, format: OutputFormat) -> Result<()> {
    let credentials_file = a.credentials_file.as_deref().map(credentials_path);
    let source = pb::Source {
        name: a.name.clone(),
        url: a.url,
        branch: a.branch,
        path: a.path,
        credentials_file: credentials_file.unwrap_or_default(),
        poll_interval_ms: a.poll.as_millis() as u64,
        ..Default::default()
    };
    let r = client
        .put_source(source)
        .await
        .or_say(|| format!("cannot add source {}", a.name))?;
    let name = &a.name;
    let when = match a.poll.as_millis() as u64 {
        0 => "fetched on webhooks only".to_string(),
        ms => format!("fetched every {}", one_unit(ms)),
    };
    let message = format!(
        "source {name} {} ({when}); `moorctl source sync {name} --wait` fetches it now",
        if r.created { "added" } else { "replaced" },
    );
    show(&MessageView { message }, format)
}

/// The credentials file as the members will read it: absolute, with a reminder on
/// standard error that it must be at that path on every member.
fn credentials_path(path: &Path) -> String {
    let path = absolute(path).display().to_string();
    eprintln!(
        "moorctl: note: the members read the credentials file {path} themselves: it must \
         exist at that path on every member, readable by moord (moorctl does not send it)"
    );
    path
}

/// `source sync`: asks for a fetch; with `wait`, waits at most that long for it to end,
/// shows the source, and fails when the fetch did.
async fn sync(
    client: &mut Client,
    name: String,
    wait: Option<Duration>,
    format: OutputFormat,
) -> Result<()> {
    let what = || format!("cannot sync source {name}");
    let Some(limit) = wait else {
        client.sync_source(name.clone()).await.or_say(what)?;
        let message = format!(
            "source {name}: fetch asked for; `moorctl source show {name}` shows when it is done"
        );
        return show(&MessageView { message }, format);
    };
    let before = client.get_source(name.clone(), false).await.or_say(what)?;
    client.sync_source(name.clone()).await.or_say(what)?;
    let after = wait_for_fetch(client, &name, &before, limit).await?;
    show(&SourceView::from(&after), format)?;
    if after.error.is_empty() {
        return Ok(());
    }
    let at = match after.error_commit.as_str() {
        "" => String::new(),
        c => format!(" at commit {c}"),
    };
    Err(Failure::new(
        Exit::Error,
        format!(
            "source {name}: the fetch failed{at}: {}; nothing of it was applied",
            after.error
        ),
    )
    .into())
}

/// Reads source `name` until a fetch has ended since `before` was read, for at most
/// `limit`.
async fn wait_for_fetch(
    client: &mut Client,
    name: &str,
    before: &pb::Source,
    limit: Duration,
) -> Result<pb::Source> {
    let deadline = Instant::now() + limit;
    loop {
        let now = client
            .get_source(name.to_string(), false)
            .await
            .or_say(|| format!("cannot read source {name} while waiting for its fetch"))?;
        if fetched_since(before, &now) {
            return Ok(now);
        }
        if Instant::now() + POLL_EVERY > deadline {
            return Err(anyhow!(
                "source {name}: the fetch did not end within {}; it goes on: `moorctl source \
                 show {name}` shows it",
                one_unit(limit.as_millis() as u64)
            ));
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// True when `now` shows a fetch that ended after `before` was read: none pending, and a
/// newer fetch or failure recorded.
fn fetched_since(before: &pb::Source, now: &pb::Source) -> bool {
    !now.fetch_pending && (now.fetched_ms > before.fetched_ms || now.error_ms > before.error_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fetch_has_ended_when_nothing_is_pending_and_something_newer_is_recorded() {
        let before = pb::Source {
            fetched_ms: 10,
            error_ms: 5,
            ..Default::default()
        };
        let at = |fetched_ms, error_ms, fetch_pending| pb::Source {
            fetched_ms,
            error_ms,
            fetch_pending,
            ..Default::default()
        };
        assert!(!fetched_since(&before, &at(10, 5, false)), "nothing new");
        assert!(!fetched_since(&before, &at(20, 5, true)), "still pending");
        assert!(fetched_since(&before, &at(20, 5, false)));
        assert!(
            fetched_since(&before, &at(10, 30, false)),
            "a failure ends it"
        );
    }

    #[tokio::test]
    async fn sync_waits_for_the_fetch_and_fails_with_it() {
        use std::time::Duration as D;

        use crate::commands::run;
        use crate::exit::Exit;
        use crate::fake::{
            cli_for, client, fake_workflow, WatchScript, FAKE_BAD_COMMIT, FAKE_COMMIT,
        };

        let (addr, _) = fake_workflow(WatchScript::NotFound).await;
        let add = |name: &str, url: &str| {
            let cli = cli_for(
                &addr,
                &[
                    "source",
                    "add",
                    name,
                    "--url",
                    url,
                    "--path",
                    "blueprints/",
                    "--credentials-file",
                    "git.cred",
                    "--poll",
                    "0",
                ],
            );
            run(cli)
        };
        add("shop", "https://git.example/shop.git").await.unwrap();
        add("bad", "https://git.example/broken.git").await.unwrap();
        let mut c = client(std::slice::from_ref(&addr), D::from_secs(5));
        let s = c.get_source("shop".into(), false).await.unwrap();
        assert_eq!(s.poll_interval_ms, 0);
        assert_eq!(s.branch, "main");
        let cred = std::path::Path::new(&s.credentials_file);
        assert!(cred.is_absolute() && cred.ends_with("git.cred"), "{cred:?}");

        let sync = ["source", "sync", "shop", "--wait", "--timeout", "30s"];
        run(cli_for(&addr, &sync)).await.unwrap();
        let s = c.get_source("shop".into(), false).await.unwrap();
        assert_eq!((s.commit.as_str(), s.fetch_pending), (FAKE_COMMIT, false));

        let err = run(cli_for(&addr, &["source", "sync", "bad", "--wait"]))
            .await
            .unwrap_err();
        assert_eq!(Exit::of_error(&err), Exit::Error);
        let e = err.to_string();
        let failed = format!("source bad: the fetch failed at commit {FAKE_BAD_COMMIT}");
        assert!(e.contains(&failed), "{e}");
        assert!(e.contains("unknown field"), "{e}");

        // Without --wait: only asked for.
        run(cli_for(&addr, &["source", "sync", "shop"]))
            .await
            .unwrap();
        for args in [&["source", "list"][..], &["source", "show", "bad"]] {
            run(cli_for(&addr, args)).await.unwrap();
        }
        run(cli_for(&addr, &["source", "delete", "bad"]))
            .await
            .unwrap();
        let err = run(cli_for(&addr, &["source", "sync", "bad"]))
            .await
            .unwrap_err();
        assert_eq!(Exit::of_error(&err), Exit::NotFound);
        assert!(err.to_string().contains("moorctl source add bad"), "{err}");
    }
}
