//! `var put KEY --secret`: the secret is read from a file, standard input or (with a
//! warning) the command line, sent once with `PutSecret`, and sealed by the member; moorctl
//! prints where it went — never the value, nor the token every read now returns.

use std::io::{IsTerminal, Read};

use anyhow::{bail, Context, Result};
use moor_proto::api::ReadConsistency;

use super::{read_all, read_value};
use crate::cli::{OutputFormat, SecretSource};
use crate::client::Client;
use crate::settings::readable_by_others;
use crate::views::sealed::sealed_key_id;
use crate::views::secrets::{Replaced, SecretPutView};
use crate::views::show;

/// Warned about an inline secret.
const INLINE_WARNING: &str = "a secret given on the command line lands in the shell history \
    (and shows in `ps` while moorctl runs); next time give it with --from-file FILE, or `-` \
    to read standard input";

pub(super) async fn put(
    key: String,
    source: SecretSource,
    client: &mut Client,
    format: OutputFormat,
) -> Result<()> {
    let stdin = std::io::stdin();
    if source == SecretSource::Stdin && stdin.is_terminal() {
        eprintln!(
            "moorctl: type the secret, then a newline and Ctrl-D (it shows as you type: a \
             file or a pipe is safer)"
        );
    }
    let secret = secret_text(&source, stdin.lock())?;
    for warning in &secret.warnings {
        eprintln!("moorctl: warning: {warning}");
    }
    let view = store(client, key, secret.text).await?;
    show(&view, format)
}

/// A secret as read, with what to warn about.
#[derive(Debug)]
struct SecretText {
    text: String,
    warnings: Vec<String>,
}

/// The secret from `source` (`stdin` for [`SecretSource::Stdin`]): UTF-8 text, not empty;
/// read from a file or standard input, without one trailing newline (`echo` and editors
/// add one). Errors never quote the secret.
fn secret_text(source: &SecretSource, stdin: impl Read) -> Result<SecretText> {
    let mut warnings = Vec::new();
    let (what, bytes) = match source {
        SecretSource::Inline(text) => {
            warnings.push(INLINE_WARNING.to_string());
            (
                "the secret given on the command line".to_string(),
                text.as_bytes().to_vec(),
            )
        }
        SecretSource::Stdin => (
            "standard input".to_string(),
            trim_line_end(read_all(stdin, "standard input")?),
        ),
        SecretSource::File(path) => {
            let bytes = trim_line_end(read_value(path)?);
            if readable_by_others(path) {
                warnings.push(format!(
                    "the secret file {} may be read by other users; `chmod 600 {}`",
                    path.display(),
                    path.display()
                ));
            }
            (path.display().to_string(), bytes)
        }
    };
    let Ok(text) = String::from_utf8(bytes) else {
        bail!(
            "{what} is not UTF-8 text; a secret variable is text (blueprints use it as text): \
             store binary data base64-encoded"
        );
    };
    if text.is_empty() {
        bail!("{what} is empty; give the secret's text");
    }
    Ok(SecretText { text, warnings })
}

/// `bytes` without one trailing `\n` or `\r\n`.
fn trim_line_end(mut bytes: Vec<u8>) -> Vec<u8> {
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
    bytes
}

/// Sends the secret and reads back which key sealed it.
async fn store(client: &mut Client, key: String, text: String) -> Result<SecretPutView> {
    let r = client
        .put_secret(key.clone(), text)
        .await
        .with_context(|| format!("cannot store {key:?} as a secret"))?;
    let replaced = match &r.prev {
        None => Replaced::Nothing,
        Some(kv) if sealed_key_id(&kv.value).is_some() => Replaced::Sealed,
        Some(_) => Replaced::Clear,
    };
    let sealed_with_key = sealing_key(client, &key, r.log_index).await;
    Ok(SecretPutView {
        key,
        sealed_with_key,
        log_index: r.log_index,
        replaced,
    })
}

/// The key that sealed `key`'s value written at `log_index`, read back (`PutResponse` does
/// not say). `None` when the read fails or finds a later write: the put itself succeeded,
/// so this never fails the command.
async fn sealing_key(client: &mut Client, key: &str, log_index: u64) -> Option<String> {
    let r = client
        .get(key.to_string(), ReadConsistency::Linearizable)
        .await
        .ok()?;
    let kv = r.kv.filter(|kv| kv.mod_index == log_index)?;
    sealed_key_id(&kv.value).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;
    use std::time::Duration;

    use super::*;
    use crate::commands::run;
    use crate::exit::Exit;
    use crate::fake::{cli_for, client, fake_secrets, serve, Mode, SecretsScript, FAKE_SEALED};
    use crate::views::{render, View};

    fn file(dir: &Path, name: &str, bytes: &[u8], mode: u32) -> SecretSource {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        SecretSource::File(path)
    }

    fn read(source: &SecretSource, stdin: &[u8]) -> Result<SecretText> {
        secret_text(source, Cursor::new(stdin.to_vec()))
    }

    #[test]
    fn secrets_from_files_and_stdin_lose_one_newline() {
        let dir = tempfile::tempdir().unwrap();
        let s = read(&file(dir.path(), "a", b"s3cr3t pw\n", 0o600), b"").unwrap();
        assert_eq!(s.text, "s3cr3t pw");
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
        let s = read(&file(dir.path(), "b", b"line1\nline2\r\n", 0o600), b"").unwrap();
        assert_eq!(s.text, "line1\nline2");
        // Only one line end goes; blanks are the secret's own.
        let s = read(&file(dir.path(), "c", b" pw \n\n", 0o600), b"").unwrap();
        assert_eq!(s.text, " pw \n");

        let s = read(&SecretSource::Stdin, b"from-a-pipe\n").unwrap();
        assert_eq!(s.text, "from-a-pipe");
        assert!(s.warnings.is_empty());
        let s = read(&SecretSource::Stdin, b"no newline").unwrap();
        assert_eq!(s.text, "no newline");
    }

    #[test]
    fn inline_secrets_and_open_files_are_warned_about() {
        let s = read(&SecretSource::Inline("hunter2\n".into()), b"ignored").unwrap();
        assert_eq!(s.text, "hunter2\n", "an inline value is taken as given");
        assert_eq!(s.warnings.len(), 1);
        assert!(s.warnings[0].contains("shell history"), "{:?}", s.warnings);
        assert!(
            s.warnings[0].contains("--from-file FILE"),
            "{:?}",
            s.warnings
        );
        assert!(!s.warnings[0].contains("hunter2"));

        let dir = tempfile::tempdir().unwrap();
        let s = read(&file(dir.path(), "pw", b"x\n", 0o644), b"").unwrap();
        assert_eq!(s.warnings.len(), 1);
        assert!(s.warnings[0].contains("chmod 600"), "{:?}", s.warnings);
    }

    #[test]
    fn unusable_secrets_are_refused_without_quoting_them() {
        let dir = tempfile::tempdir().unwrap();
        for (source, stdin, says) in [
            (
                file(dir.path(), "empty", b"\n", 0o600),
                &b""[..],
                "is empty",
            ),
            (SecretSource::Stdin, &b""[..], "standard input is empty"),
            (SecretSource::Inline(String::new()), &b""[..], "is empty"),
            (
                file(dir.path(), "bin", b"p@ss\xff\xfe\n", 0o600),
                &b""[..],
                "is not UTF-8 text",
            ),
            (SecretSource::Stdin, &b"p@ss\xff"[..], "not UTF-8"),
            (
                SecretSource::File(dir.path().join("missing")),
                &b""[..],
                "cannot open",
            ),
        ] {
            let e = format!("{:#}", read(&source, stdin).unwrap_err());
            assert!(e.contains(says), "{source:?}: {e}");
            // '@' never appears in a temporary directory's random name,
            // so only a quoted secret can put "p@ss" into the message.
            assert!(!e.contains("p@ss"), "quotes the secret: {e}");
        }
    }

    #[tokio::test]
    async fn what_is_stored_is_printed_without_the_value_or_its_token() {
        let m = fake_secrets(SecretsScript::Rotating).await;
        let mut c = client(std::slice::from_ref(&m.addr), Duration::from_secs(5));
        let view = store(&mut c, "secret/db".into(), "hunter2".into())
            .await
            .unwrap();
        assert_eq!(view.sealed_with_key.as_deref(), Some("k-new"));
        assert_eq!(view.replaced, Replaced::Sealed);
        assert_eq!(
            view.table(),
            "secret/db stored sealed (key k-new), log index 8; it replaced a sealed value"
        );
        for format in [OutputFormat::Table, OutputFormat::Json, OutputFormat::Yaml] {
            let text = render(&view, format).unwrap();
            assert!(!text.contains("hunter2"), "{format:?}: {text}");
            assert!(!text.contains("moor-sealed"), "{format:?}: {text}");
            assert!(!text.contains(FAKE_SEALED), "{format:?}: {text}");
        }
        let json: serde_json::Value =
            serde_json::from_str(&render(&view, OutputFormat::Json).unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "key": "secret/db", "sealed_with_key": "k-new", "log_index": 8,
                "replaced": "sealed"
            })
        );

        // The fake holds no other key: the read-back finds nothing, and the put still
        // succeeded.
        let view = store(&mut c, "db/pw".into(), "x".into()).await.unwrap();
        assert_eq!(view.sealed_with_key, None);
        assert_eq!(view.replaced, Replaced::Nothing);
        assert_eq!(view.table(), "db/pw stored sealed, log index 8");
        let sent = m.secret_puts.lock().unwrap().clone();
        assert_eq!(
            sent,
            vec![
                ("secret/db".to_string(), "hunter2".to_string()),
                ("db/pw".to_string(), "x".to_string())
            ]
        );
    }

    #[tokio::test]
    async fn the_command_sends_the_file_once() {
        let m = fake_secrets(SecretsScript::Rotating).await;
        let dir = tempfile::tempdir().unwrap();
        let SecretSource::File(path) = file(dir.path(), "pw", b"s3cr3t\n", 0o600) else {
            unreachable!()
        };
        let args = ["var", "put", "secret/db", "--secret", "--from-file"];
        let mut args = args.to_vec();
        args.push(path.to_str().unwrap());
        run(cli_for(&m.addr, &args)).await.unwrap();
        run(cli_for(
            &m.addr,
            &["-o", "json", "var", "put", "db/x", "--secret", "inline"],
        ))
        .await
        .unwrap();
        let sent = m.secret_puts.lock().unwrap().clone();
        assert_eq!(
            sent,
            vec![
                ("secret/db".to_string(), "s3cr3t".to_string()),
                ("db/x".to_string(), "inline".to_string())
            ]
        );

        // Refusals keep their exit codes; nothing is sent for an unreadable file.
        let denied = serve(Mode::PermissionDenied, None).await;
        let err = run(cli_for(&denied.addr, &["var", "put", "k", "--secret", "v"]))
            .await
            .unwrap_err();
        assert_eq!(Exit::of_error(&err), Exit::Denied);
        assert!(
            format!("{err:#}").contains("cannot store \"k\" as a secret"),
            "{err:#}"
        );
        let missing = dir.path().join("nope");
        let args = [
            "var",
            "put",
            "k",
            "--secret",
            "--from-file",
            missing.to_str().unwrap(),
        ];
        let err = run(cli_for(&m.addr, &args)).await.unwrap_err();
        assert_eq!(Exit::of_error(&err), Exit::Error);
        assert_eq!(m.secret_puts.lock().unwrap().len(), 2);
    }
}
