//! `moorctl var`: read and write variables, the replicated key/value namespace; a missing
//! key and a failed compare-and-swap end with their own exit codes (3, 4). `var put
//! --secret` is in `var/secret.rs`.

mod secret;

use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context, Result};
use moor_proto::api::ReadConsistency;

use crate::cli::{CasArgs, OutputFormat, PutArgs, VarCommand};
use crate::client::{Client, LIST_PAGE_SIZE};
use crate::exit::{Exit, Failure};
use crate::views::sealed::{sealed_cell, sealed_key_id};
use crate::views::show;
use crate::views::value::Value;
use crate::views::vars::{CasView, DeleteView, GetView, KvView, ListView, PutView};

/// Largest value `--from-file` reads. Members refuse far smaller values (1 MiB by default,
/// with a message naming their limit); this only keeps moorctl from reading a huge file
/// into memory first.
pub const MAX_VALUE_FILE_BYTES: u64 = 64 << 20;

fn consistency(stale: bool) -> ReadConsistency {
    if stale {
        ReadConsistency::Stale
    } else {
        ReadConsistency::Linearizable
    }
}

pub(super) async fn run(
    command: VarCommand,
    client: &mut Client,
    format: OutputFormat,
) -> Result<()> {
    match command {
        VarCommand::Put(args) => put(args, client, format).await,
        VarCommand::Get { key, stale } => {
            let r = client
                .get(key.clone(), consistency(stale))
                .await
                .with_context(|| format!("cannot get {key:?}"))?;
            let Some(kv) = r.kv else {
                return Err(Failure::new(Exit::NotFound, format!("key {key:?} not found")).into());
            };
            show(
                &GetView {
                    kv: KvView::from(&kv),
                    read_index: r.read_index,
                },
                format,
            )
        }
        VarCommand::Del { key } => {
            let r = client
                .delete(key.clone())
                .await
                .with_context(|| format!("cannot delete {key:?}"))?;
            show(
                &DeleteView {
                    key,
                    deleted: r.prev.is_some(),
                    log_index: r.log_index,
                    prev: r.prev.as_ref().map(KvView::from),
                },
                format,
            )
        }
        VarCommand::Cas(args) => cas(args, client, format).await,
        VarCommand::List {
            prefix,
            limit,
            stale,
        } => {
            let view = list(client, &prefix, limit, consistency(stale))
                .await
                .with_context(|| format!("cannot list keys under {prefix:?}"))?;
            show(&view, format)?;
            if format == OutputFormat::Table {
                if view.kvs.is_empty() {
                    eprintln!("moorctl: no keys under {prefix:?}");
                } else if view.more {
                    eprintln!("moorctl: more keys match; raise --limit to see them");
                }
            }
            Ok(())
        }
    }
}

async fn put(args: PutArgs, client: &mut Client, format: OutputFormat) -> Result<()> {
    if let Some(source) = args.secret_source() {
        return secret::put(args.key, source, client, format).await;
    }
    let value = match (&args.value, &args.from_file) {
        (Some(v), _) => v.as_bytes().to_vec(),
        (None, Some(path)) => read_value(path)?,
        // clap's "source" group requires one of the two.
        (None, None) => unreachable!("var put without a value"),
    };
    let key = args.key;
    let r = client
        .put(key.clone(), value)
        .await
        .with_context(|| format!("cannot put {key:?}"))?;
    show(
        &PutView {
            key,
            log_index: r.log_index,
            prev: r.prev.as_ref().map(KvView::from),
        },
        format,
    )
}

/// Reads a value from `path`, or from standard input for `-`, up to
/// [`MAX_VALUE_FILE_BYTES`].
fn read_value(path: &Path) -> Result<Vec<u8>> {
    if path == Path::new("-") {
        return read_all(std::io::stdin().lock(), "standard input");
    }
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot open {} (--from-file)", path.display()))?;
    read_all(file, &path.display().to_string())
}

/// Reads all of `reader` (`what` names it in errors), up to [`MAX_VALUE_FILE_BYTES`].
fn read_all(reader: impl Read, what: &str) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    reader
        .take(MAX_VALUE_FILE_BYTES + 1)
        .read_to_end(&mut buf)
        .with_context(|| format!("cannot read the value from {what}"))?;
    if buf.len() as u64 > MAX_VALUE_FILE_BYTES {
        bail!(
            "{what} holds more than {} MiB; store large data elsewhere and keep a reference in the variable",
            MAX_VALUE_FILE_BYTES >> 20
        );
    }
    Ok(buf)
}

async fn cas(args: CasArgs, client: &mut Client, format: OutputFormat) -> Result<()> {
    let expected = args.expected_bytes();
    let r = client
        .compare_and_swap(args.key.clone(), expected.clone(), args.new_bytes())
        .await
        .with_context(|| format!("cannot compare-and-swap {:?}", args.key))?;
    let view = CasView {
        key: args.key.clone(),
        succeeded: r.succeeded,
        current: r.current.as_ref().map(KvView::from),
        log_index: r.log_index,
    };
    show(&view, format)?;
    if view.succeeded {
        return Ok(());
    }
    let describe = |v: Option<&[u8]>| match v {
        None => "no value (absent)".to_string(),
        Some(bytes) => match sealed_key_id(bytes) {
            Some(key_id) => sealed_cell(key_id),
            None => format!("{:?}", Value::from_bytes(bytes).cell()),
        },
    };
    Err(Failure::new(
        Exit::CasFailed,
        format!(
            "compare-and-swap on {:?} failed: expected {}, found {}; nothing was changed",
            args.key,
            describe(expected.as_deref()),
            describe(r.current.as_ref().map(|kv| kv.value.as_slice())),
        ),
    )
    .into())
}

/// Pages through the keys under `prefix` until the server has no more or `limit` keys were
/// read. Each page is its own read: the listing is not a snapshot of one instant.
async fn list(
    client: &mut Client,
    prefix: &str,
    limit: Option<u64>,
    consistency: ReadConsistency,
) -> Result<ListView> {
    let mut kvs: Vec<KvView> = Vec::new();
    let mut start_after = String::new();
    loop {
        let page_size = match limit {
            Some(limit) => (limit - kvs.len() as u64).min(u64::from(LIST_PAGE_SIZE)) as u32,
            None => LIST_PAGE_SIZE,
        };
        let page = client
            .list_page(
                prefix.to_string(),
                start_after.clone(),
                page_size,
                consistency,
            )
            .await?;
        if let Some(last) = page.kvs.last() {
            // A page that does not move forward would make this loop endless.
            if !start_after.is_empty() && last.key <= start_after {
                bail!(
                    "the member returned keys out of order ({:?} after {start_after:?})",
                    last.key
                );
            }
            start_after = last.key.clone();
        } else if page.more {
            bail!("the member reported more keys but returned an empty page");
        }
        kvs.extend(page.kvs.iter().map(KvView::from));
        let full = limit.is_some_and(|l| kvs.len() as u64 >= l);
        if !page.more || full {
            return Ok(ListView {
                kvs,
                more: page.more,
                read_index: page.read_index,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{cli_for, count, fake_key_count, fake_member, Mode};
    use std::time::Duration;

    async fn list_keys(prefix: &str, limit: Option<u64>) -> (Vec<String>, bool, usize) {
        let (addr, calls) = fake_member(Mode::Ok).await;
        let mut client = crate::fake::client(&[addr], Duration::from_secs(10));
        let view = list(&mut client, prefix, limit, ReadConsistency::Linearizable)
            .await
            .unwrap();
        let keys = view.kvs.into_iter().map(|kv| kv.key).collect();
        (keys, view.more, count(&calls))
    }

    #[tokio::test]
    async fn list_pages_through_everything() {
        let (keys, more, pages) = list_keys("", None).await;
        assert_eq!(keys.len(), fake_key_count());
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "keys out of order");
        assert!(!more);
        assert_eq!(pages, fake_key_count().div_ceil(LIST_PAGE_SIZE as usize));

        let (keys, more, _) = list_keys("app/", None).await;
        assert_eq!(keys.len(), 250);
        assert_eq!(keys.last().map(String::as_str), Some("app/249"));
        assert!(!more);
    }

    #[tokio::test]
    async fn sealed_values_are_listed_and_read_with_their_key() {
        let (addr, _) = fake_member(Mode::Ok).await;
        let mut client = crate::fake::client(std::slice::from_ref(&addr), Duration::from_secs(10));
        let view = list(&mut client, "secret/", None, ReadConsistency::Linearizable)
            .await
            .unwrap();
        let sealed: Vec<_> = view
            .kvs
            .iter()
            .map(|kv| kv.sealed_with_key.as_deref())
            .collect();
        assert_eq!(sealed, [Some("k-new")]);
        let view = list(&mut client, "app/", Some(3), ReadConsistency::Linearizable)
            .await
            .unwrap();
        assert!(view.kvs.iter().all(|kv| kv.sealed_with_key.is_none()));
        for args in [
            &["var", "get", "secret/db"][..],
            &["-o", "json", "var", "ls", "secret/"],
        ] {
            crate::commands::run(cli_for(&addr, args)).await.unwrap();
        }
    }

    #[tokio::test]
    async fn list_stops_at_the_limit() {
        let (keys, more, pages) = list_keys("app/", Some(150)).await;
        assert_eq!(keys.len(), 150);
        assert_eq!(keys.last().map(String::as_str), Some("app/149"));
        assert!(more);
        assert_eq!(pages, 2);

        // A limit that ends exactly with the range: nothing more.
        let (keys, more, _) = list_keys("app/", Some(250)).await;
        assert_eq!(keys.len(), 250);
        assert!(!more);

        let (keys, more, pages) = list_keys("nothing/", Some(5)).await;
        assert!(keys.is_empty() && !more);
        assert_eq!(pages, 1);
    }

    #[tokio::test]
    async fn answers_that_end_with_their_own_exit_codes() {
        let (addr, _) = fake_member(Mode::Ok).await;
        let cli = |args: &[&str]| {
            let mut full = vec!["-o", "json"];
            full.extend_from_slice(args);
            cli_for(&addr, &full)
        };
        let run = crate::commands::run;
        // The fake has no key "k" and refuses every compare-and-swap.
        let err = run(cli(&["var", "get", "k"])).await.unwrap_err();
        assert_eq!(Exit::of_error(&err), Exit::NotFound);
        assert_eq!(err.to_string(), "key \"k\" not found");
        let err = run(cli(&["var", "cas", "k", "--expected", "a", "--new", "b"]))
            .await
            .unwrap_err();
        assert_eq!(Exit::of_error(&err), Exit::CasFailed);
        assert!(err.to_string().contains("expected \"a\""), "{err}");
        run(cli(&["var", "put", "k", "v"])).await.unwrap();
    }

    #[test]
    fn values_from_files() {
        let dir = std::env::temp_dir().join(format!("moorctl-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("value.bin");
        std::fs::write(&path, [0u8, 1, 2, 255]).unwrap();
        assert_eq!(read_value(&path).unwrap(), vec![0, 1, 2, 255]);
        let err = read_value(&dir.join("missing")).unwrap_err();
        assert!(format!("{err:#}").contains("cannot open"), "{err:#}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
