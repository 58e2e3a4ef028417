//! `moorctl cluster snapshot`: save a backup of the whole replicated state from a member
//! (`save`), and read a backup file (`inspect`, which needs no member).
//!
//! `save` streams the member's `SaveSnapshot` answer to `FILE.partial` and renames it only
//! once the whole file verifies (`backup_file.rs`); whatever fails, nothing is left behind and
//! the error says so. The whole save, the member's preparation and the transfer, ends by
//! `--timeout-ms`.

use std::path::Path;

use anyhow::{Context, Result};
use moor_proto::api::SnapshotChunk;
use moor_proto::backup::{self, BackupError};
use tokio::time::Instant;
use tonic::Streaming;

use super::backup_file::PartialBackup;
use crate::cli::OutputFormat;
use crate::client::{classify, describe_status, Access, Client, RpcError, Verdict};
use crate::exit::{Exit, Failure};
use crate::views::backup::{ChecksumView, InspectView, SavedView};
use crate::views::show;

/// `cluster snapshot save FILE [--force]`.
pub(super) async fn save(
    file: &Path,
    force: bool,
    client: &mut Client,
    format: OutputFormat,
) -> Result<()> {
    let mut partial = PartialBackup::create(file, force)?;
    let until = Instant::now() + client.timeout();
    let (mut stream, at) = match client.open_snapshot(until).await {
        Ok(opened) => opened,
        Err(e) => {
            // Nothing was received: the member's answer (and its hint) says what to do.
            let _ = partial.discard();
            let what = format!(
                "cannot save a backup to {}: nothing was saved",
                file.display()
            );
            return Err(anyhow::Error::new(e).context(what));
        }
    };
    let endpoint = client.addr(at).to_string();
    let received = receive(&mut stream, &mut partial, until, &endpoint, client).await;
    drop(stream);
    let verified = match received.and_then(|()| {
        partial
            .commit()
            .with_context(|| format!("the backup received from {endpoint} does not verify"))
    }) {
        Ok(v) => v,
        Err(e) => return Err(failed(e, partial, file)),
    };
    let view = SavedView::new(
        file.display().to_string(),
        verified.bytes,
        &verified.header,
        endpoint,
        verified.sha256,
    );
    show(&view, format)
}

/// Writes the chunks of `stream` (from `endpoint`) to `partial` until it ends, failing when
/// it breaks or `until` passes.
async fn receive(
    stream: &mut Streaming<SnapshotChunk>,
    partial: &mut PartialBackup,
    until: Instant,
    endpoint: &str,
    client: &Client,
) -> Result<()> {
    loop {
        let left = until.saturating_duration_since(Instant::now());
        let next = match tokio::time::timeout(left, stream.message()).await {
            Ok(next) => next,
            Err(_) => anyhow::bail!(
                "--timeout-ms {} elapsed after {} bytes from {endpoint}; give a larger \
                 --timeout-ms for a state this large",
                client.timeout().as_millis(),
                partial.written()
            ),
        };
        match next {
            Ok(Some(chunk)) => partial.write(&chunk.data)?,
            Ok(None) => return Ok(()),
            Err(status) => {
                let line = format!(
                    "{endpoint}: the backup stream broke after {} bytes: {}",
                    partial.written(),
                    describe_status(&status)
                );
                // Nothing was changed anywhere: a break the member or the network caused is
                // "unavailable, safe to retry"; any other status is the member's answer.
                let err = match classify(&status, Access::Read) {
                    Verdict::Retry => RpcError::Unavailable {
                        attempts: vec![line],
                    },
                    Verdict::Unknown | Verdict::Final => RpcError::Rejected {
                        endpoint: endpoint.to_string(),
                        status,
                    },
                };
                return Err(err.into());
            }
        }
    }
}

/// `err`, which ended a save after the stream began, after removing the partial file, with
/// what happened to it and what to do.
fn failed(err: anyhow::Error, partial: PartialBackup, file: &Path) -> anyhow::Error {
    let shown = partial.partial().display().to_string();
    let what = match partial.discard() {
        Ok(()) => format!(
            "cannot save a backup to {}: nothing was saved ({shown} removed); run the command \
             again (with another member first in --endpoints if this one keeps failing)",
            file.display()
        ),
        Err(why) => format!(
            "cannot save a backup to {}: nothing was saved, but {why}; remove it by hand, \
             then run the command again",
            file.display()
        ),
    };
    err.context(what)
}

/// `cluster snapshot inspect FILE`: the header, and whether the checksum matches; a file
/// that does not ends with exit code 1 after the header is shown.
pub(super) fn inspect(file: &Path, format: OutputFormat) -> Result<()> {
    let name = file.display().to_string();
    let content = std::fs::read(file).with_context(|| format!("cannot read {name}"))?;
    let header = backup::header_only(&content).map_err(|e| unreadable(&name, e))?;
    let checksum = match backup::parse(&content) {
        Ok(b) => ChecksumView::ok(b.checksum),
        Err(BackupError::Checksum { stored, computed }) => ChecksumView::mismatch(stored, computed),
        Err(e) => return Err(unreadable(&name, e)),
    };
    let ok = checksum.ok;
    show(
        &InspectView::new(name.clone(), content.len() as u64, &header, checksum),
        format,
    )?;
    if !ok {
        return Err(Failure::new(
            Exit::Error,
            format!(
                "{name} is damaged: its checksum does not match its content; do not restore \
                 it, use another backup"
            ),
        )
        .into());
    }
    Ok(())
}

/// Why `name` cannot be inspected, first in the words of what to do.
fn unreadable(name: &str, e: BackupError) -> anyhow::Error {
    let what = match e {
        BackupError::NotABackup => format!("{name} is not a backup"),
        BackupError::Version { .. } => format!("{name} cannot be read by this moorctl"),
        BackupError::Truncated(_) | BackupError::Header(_) | BackupError::Checksum { .. } => {
            format!("{name} is damaged: do not restore it, use another backup")
        }
    };
    anyhow::Error::new(e).context(what)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::fake::{
        cli_for, count, fake_backup, fake_backup_file, serve, Mode, SnapshotScript,
        FAKE_CHUNK_BYTES,
    };

    /// The files in `dir`, by name.
    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    /// `file` holds the backup a fake member serves (the same header and state; the order
    /// of the header's counts may differ from one encoding to the next).
    fn assert_same_backup(file: &Path) {
        let saved = std::fs::read(file).unwrap();
        let b = backup::parse(&saved).unwrap();
        let served = fake_backup_file();
        let expected = backup::parse(&served).unwrap();
        assert_eq!(b.header, expected.header);
        assert!(b.state == expected.state, "the state differs");
        assert_eq!((b.header.index, b.header.term), (42, 3));
    }

    async fn run(addr: &str, args: &[&str]) -> Result<()> {
        crate::commands::run(cli_for(addr, args)).await
    }

    fn save_args(file: &Path) -> Vec<&str> {
        vec!["cluster", "snapshot", "save", file.to_str().unwrap()]
    }

    #[tokio::test]
    async fn save_writes_a_backup_that_verifies() {
        let m = fake_backup(SnapshotScript::Whole).await;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("moor.backup");
        assert!(
            fake_backup_file().len() > 3 * FAKE_CHUNK_BYTES,
            "several chunks"
        );
        run(&m.addr, &save_args(&file)).await.unwrap();
        assert_same_backup(&file);
        assert_eq!(names(dir.path()), ["moor.backup"], "no partial file left");
        assert_eq!(count(&m.calls), 1);
    }

    #[tokio::test]
    async fn save_never_replaces_a_file_without_force() {
        let m = fake_backup(SnapshotScript::Whole).await;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("moor.backup");
        std::fs::write(&file, "an older backup").unwrap();
        let err = run(&m.addr, &save_args(&file)).await.unwrap_err();
        assert!(format!("{err:#}").contains("without --force"), "{err:#}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "an older backup");
        assert_eq!(count(&m.calls), 0, "refused before anything was asked");
        let mut args = save_args(&file);
        args.push("--force");
        run(&m.addr, &args).await.unwrap();
        assert_same_backup(&file);
        assert_eq!(names(dir.path()), ["moor.backup"]);
    }

    /// Saves from a member whose stream goes as `script` says: the error, after checking
    /// that neither the file nor its partial twin is left.
    async fn failed_save(script: SnapshotScript) -> anyhow::Error {
        let m = fake_backup(script).await;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("moor.backup");
        let err = run(&m.addr, &save_args(&file)).await.unwrap_err();
        assert!(
            names(dir.path()).is_empty(),
            "{script:?} left {:?}",
            names(dir.path())
        );
        let text = format!("{err:#}");
        assert!(text.contains("nothing was saved"), "{text}");
        assert!(text.contains("moor.backup.partial removed"), "{text}");
        err
    }

    #[tokio::test]
    async fn a_stream_that_ends_early_saves_nothing() {
        let err = failed_save(SnapshotScript::EndsEarly).await;
        assert!(format!("{err:#}").contains("truncated"), "{err:#}");
        assert_eq!(Exit::of_error(&err), Exit::Error);
    }

    #[tokio::test]
    async fn a_corrupted_stream_saves_nothing() {
        let err = failed_save(SnapshotScript::Corrupt).await;
        assert!(format!("{err:#}").contains("checksum mismatch"), "{err:#}");
        assert!(format!("{err:#}").contains("does not verify"), "{err:#}");
        assert_eq!(Exit::of_error(&err), Exit::Error);
    }

    #[tokio::test]
    async fn a_stream_that_breaks_saves_nothing_and_is_safe_to_retry() {
        let err = failed_save(SnapshotScript::Breaks).await;
        assert!(format!("{err:#}").contains("broke after"), "{err:#}");
        assert_eq!(Exit::of_error(&err), Exit::Unavailable);
    }

    #[tokio::test]
    async fn a_member_that_refuses_gives_exit_code_8_and_what_to_do() {
        let m = serve(Mode::PermissionDenied, None).await;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("moor.backup");
        let err = run(&m.addr, &save_args(&file)).await.unwrap_err();
        assert_eq!(Exit::of_error(&err), Exit::Denied, "{err:#}");
        assert!(
            crate::report(&err).contains("moorctl auth whoami"),
            "{err:#}"
        );
        assert!(names(dir.path()).is_empty());
    }

    /// `cluster snapshot inspect FILE`, with settings that could not reach a member (a
    /// token file that does not exist, an endpoint nothing listens on): inspect needs none.
    async fn inspect(file: &Path) -> Result<()> {
        let args = [
            "moorctl",
            "--endpoints",
            "127.0.0.1:1",
            "--token-file",
            "/nonexistent/moor.token",
            "--config",
            crate::fake::NO_CONFIG,
            "cluster",
            "snapshot",
            "inspect",
            file.to_str().unwrap(),
        ];
        crate::commands::run(crate::cli::Cli::try_parse_validated(args).unwrap()).await
    }

    fn written(content: &[u8]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("moor.backup");
        std::fs::write(&file, content).unwrap();
        (dir, file)
    }

    #[tokio::test]
    async fn inspect_reads_a_good_backup_without_a_member() {
        let (_dir, file) = written(&fake_backup_file());
        inspect(&file).await.unwrap();
    }

    #[tokio::test]
    async fn inspect_of_a_damaged_backup_says_so_and_fails() {
        let mut content = fake_backup_file();
        let mid = content.len() / 2;
        content[mid] ^= 0x01;
        let (_dir, file) = written(&content);
        let err = inspect(&file).await.unwrap_err();
        assert_eq!(Exit::of_error(&err), Exit::Error);
        let text = format!("{err:#}");
        assert!(text.contains("is damaged"), "{text}");
        assert!(text.contains("checksum"), "{text}");
        assert!(text.contains("use another backup"), "{text}");
        // Cut short: the header is still there, the rest is not.
        let (_dir, file) = written(&fake_backup_file()[..mid]);
        let err = inspect(&file).await.unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.contains("is damaged") && text.contains("truncated"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn inspect_of_another_file_says_it_is_not_a_backup() {
        let (_dir, file) = written(b"current_context: prod\n");
        let err = inspect(&file).await.unwrap_err();
        assert_eq!(Exit::of_error(&err), Exit::Error);
        let text = format!("{err:#}");
        assert!(text.contains("moor.backup is not a backup"), "{text}");
        assert!(text.contains("not a Moor backup file"), "{text}");
        let missing = file.with_file_name("missing.backup");
        let err = inspect(&missing).await.unwrap_err();
        assert!(format!("{err:#}").contains("cannot read"), "{err:#}");
    }
}
