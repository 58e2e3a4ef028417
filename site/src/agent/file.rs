//! The `agent.file` resource: a file below the agent's root with the given content and mode.
//!
//! - properties: `{ "path": "relative/path", "content": "...", "mode": "0644" }` (`mode`
//!   optional, octal, at most `0777`: no setuid, setgid or sticky bits from a request).
//! - apply: parents created inside the root; the file written atomically — a temp file in
//!   the same directory, written, synced, given its mode, renamed over the path, the directory
//!   synced — so a crash leaves the old file or the new one, never a mix.
//! - delete: the file removed (already missing is success), the directory synced.
//! - observe: the sha256 of what is on disk (`None` when missing). A path that became a
//!   symlink or a directory is reported as drift, never followed.
//!
//! Paths are confined to the root by `paths.rs`. Blocking I/O: callers run these functions
//! on a blocking thread.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Deserialize;

use super::digest::{sha256_hex, Sha256Stream};
use super::paths::{confined, Parents};

/// The resource type this module serves.
pub const FILE_TYPE: &str = "agent.file";

const DEFAULT_MODE: u32 = 0o644;

/// The properties of an `agent.file`, as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Properties {
    path: String,
    content: String,
    #[serde(default)]
    mode: Option<String>,
}

/// A checked `agent.file`: what to write where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSpec {
    pub path: String,
    pub content: String,
    pub mode: u32,
}

/// What the agent keeps of a file to observe and delete it later (never its content).
pub fn kept_properties(spec: &FileSpec) -> serde_json::Value {
    serde_json::json!({ "path": spec.path, "mode": format!("{:04o}", spec.mode) })
}

/// The path kept by [`kept_properties`].
pub fn kept_path(properties: &serde_json::Value) -> Result<&str, String> {
    properties
        .get("path")
        .and_then(|p| p.as_str())
        .ok_or_else(|| "the agent's record of this file has no path".to_string())
}

impl FileSpec {
    /// Reads and checks the properties; the error says what is wrong.
    pub fn parse(properties_json: &str) -> Result<FileSpec, String> {
        let p: Properties = serde_json::from_str(properties_json).map_err(|e| {
            format!("agent.file properties must be {{\"path\", \"content\", \"mode\"?}}: {e}")
        })?;
        let mode = match &p.mode {
            None => DEFAULT_MODE,
            Some(text) => parse_mode(text)?,
        };
        Ok(FileSpec {
            path: p.path,
            content: p.content,
            mode,
        })
    }
}

fn parse_mode(text: &str) -> Result<u32, String> {
    let digits = text.strip_prefix("0o").unwrap_or(text);
    let mode = u32::from_str_radix(digits, 8)
        .map_err(|_| format!("mode {text:?} is not an octal mode like \"0644\""))?;
    if mode > 0o777 {
        return Err(format!(
            "mode {text:?} sets setuid, setgid or sticky bits, which moor-agent refuses; use at most 0777"
        ));
    }
    Ok(mode)
}

/// Writes the file atomically (see the module docs); returns the sha256 of its content.
pub fn apply(root: &Path, spec: &FileSpec) -> Result<String, String> {
    let path = confined(root, &spec.path, Parents::Create)?;
    not_a_link_or_dir(&path)?;
    let dir = parent(&path)?;
    let tmp = temp_path(&path);
    let written = write_new(&tmp, spec).and_then(|()| {
        std::fs::rename(&tmp, &path)
            .map_err(|e| format!("cannot rename {} to {}: {e}", tmp.display(), path.display()))
    });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(dir)?;
    Ok(sha256_hex(spec.content.as_bytes()))
}

/// Removes the file at `relative` (a missing file is success) and syncs its directory.
pub fn delete(root: &Path, relative: &str) -> Result<(), String> {
    let path = confined(root, relative, Parents::MustExist)?;
    match std::fs::remove_file(&path) {
        Ok(()) => sync_dir(parent(&path)?),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("cannot remove {}: {e}", path.display())),
    }
}

/// Longest file whose text an observation reports (for a field-by-field diff); longer or
/// binary files are reported by digest only.
pub const SHOWN_CONTENT_BYTES: usize = 64 * 1024;

/// A regular file as observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnDisk {
    pub sha256: String,
    /// The content when it is UTF-8 and at most [`SHOWN_CONTENT_BYTES`] long.
    pub text: Option<String>,
    /// Permission bits.
    pub mode: u32,
}

/// What is on disk at `relative`: `Ok(None)` when missing, `Ok(Some(..))` for a regular file
/// (its digest, its content when small text, its mode); `Err` (drift the caller reports, with
/// the reason) for anything else.
pub fn observe_file(root: &Path, relative: &str) -> Result<Option<OnDisk>, String> {
    let path = confined(root, relative, Parents::MustExist)?;
    match std::fs::symlink_metadata(&path) {
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot inspect {}: {e}", path.display())),
        Ok(meta) if !meta.is_file() => {
            return Err(format!("{} is no longer a regular file", path.display()))
        }
        Ok(_) => {}
    }
    let mut file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot open {}: {e}", path.display())),
    };
    let mode = file
        .metadata()
        .map(|m| m.permissions().mode() & 0o7777)
        .map_err(|e| format!("cannot inspect {}: {e}", path.display()))?;
    let mut hash = Sha256Stream::default();
    let mut shown: Option<Vec<u8>> = Some(Vec::new());
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let Some(chunk) = buf.get(..n) else { break };
        if n == 0 {
            break;
        }
        hash.update(chunk);
        if let Some(kept) = shown.as_mut() {
            if kept.len() + n <= SHOWN_CONTENT_BYTES {
                kept.extend_from_slice(chunk);
            } else {
                shown = None;
            }
        }
    }
    Ok(Some(OnDisk {
        sha256: hash.finish(),
        text: shown.and_then(|bytes| String::from_utf8(bytes).ok()),
        mode,
    }))
}

/// Refuses a path that is a symlink or a directory (a regular file or nothing is fine).
fn not_a_link_or_dir(path: &Path) -> Result<(), String> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(format!(
            "{} is a symlink; moor-agent never writes through symlinks (remove it by hand)",
            path.display()
        )),
        Ok(meta) if meta.is_dir() => Err(format!("{} is a directory", path.display())),
        _ => Ok(()),
    }
}

fn parent(path: &Path) -> Result<&Path, String> {
    path.parent()
        .ok_or_else(|| format!("{} has no parent directory", path.display()))
}

/// A temp file name next to `path`, unique in this process and hidden.
fn temp_path(path: &Path) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.moor-agent-{}-{n}.tmp", std::process::id()))
}

/// Creates `tmp` (it must not exist), writes the content, sets the mode, syncs it.
fn write_new(tmp: &Path, spec: &FileSpec) -> Result<(), String> {
    let fail = |what: &str, e: std::io::Error| format!("cannot {what} {}: {e}", tmp.display());
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(spec.mode)
        .custom_flags(libc::O_NOFOLLOW)
        .open(tmp)
        .map_err(|e| fail("create", e))?;
    file.write_all(spec.content.as_bytes())
        .map_err(|e| fail("write", e))?;
    // The mode given at creation is reduced by the umask; set it as asked.
    file.set_permissions(std::fs::Permissions::from_mode(spec.mode))
        .map_err(|e| fail("set the mode of", e))?;
    file.sync_all().map_err(|e| fail("sync", e))
}

fn sync_dir(dir: &Path) -> Result<(), String> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| format!("cannot sync the directory {}: {e}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn properties_are_checked() {
        let ok = FileSpec::parse(r#"{"path":"a","content":"x","mode":"0600"}"#).unwrap();
        assert_eq!(ok.mode, 0o600);
        assert_eq!(
            FileSpec::parse(r#"{"path":"a","content":""}"#)
                .unwrap()
                .mode,
            0o644
        );
        for (bad, says) in [
            ("nope", "expected"),
            (r#"{"content":"x"}"#, "missing field `path`"),
            (r#"{"path":"a","content":3}"#, "invalid type"),
            (r#"{"path":"a","content":"x","mode":"9"}"#, "octal"),
            (r#"{"path":"a","content":"x","mode":"4755"}"#, "setuid"),
            (
                r#"{"path":"a","content":"x","owner":"root"}"#,
                "unknown field",
            ),
        ] {
            let err = FileSpec::parse(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    /// The digest [`observe_file`] reports.
    fn observe(root: &Path, relative: &str) -> Result<Option<String>, String> {
        Ok(observe_file(root, relative)?.map(|f| f.sha256))
    }

    #[test]
    fn apply_observe_delete() {
        let root = tempfile::tempdir().unwrap();
        let spec =
            FileSpec::parse(r#"{"path":"etc/app.conf","content":"v=1\n","mode":"0640"}"#).unwrap();
        let sha = apply(root.path(), &spec).unwrap();
        let path = root.path().join("etc/app.conf");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "v=1\n");
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o7777, 0o640);
        assert_eq!(
            observe(root.path(), "etc/app.conf").unwrap(),
            Some(sha.clone())
        );
        std::fs::write(&path, "v=2\n").unwrap();
        assert_ne!(observe(root.path(), "etc/app.conf").unwrap(), Some(sha));
        delete(root.path(), "etc/app.conf").unwrap();
        assert!(!path.exists());
        assert_eq!(observe(root.path(), "etc/app.conf").unwrap(), None);
        delete(root.path(), "etc/app.conf").unwrap();
        delete(root.path(), "never/was").unwrap();
        let leftovers: Vec<_> = std::fs::read_dir(root.path().join("etc"))
            .unwrap()
            .collect();
        assert!(leftovers.is_empty(), "no temp files left: {leftovers:?}");
    }

    #[test]
    fn a_symlink_at_the_path_is_neither_written_through_nor_read() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let target = outside.path().join("secret");
        std::fs::write(&target, "keep").unwrap();
        std::os::unix::fs::symlink(&target, root.path().join("link")).unwrap();
        let spec = FileSpec::parse(r#"{"path":"link","content":"x"}"#).unwrap();
        assert!(apply(root.path(), &spec).unwrap_err().contains("symlink"));
        assert!(observe(root.path(), "link").is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
    }
}
