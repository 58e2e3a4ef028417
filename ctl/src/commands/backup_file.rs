//! [`PartialBackup`]: a backup file being received. The chunks go to `FILE.partial` (mode
//! 0600: a backup holds secrets) as they arrive, so memory stays bounded whatever the size
//! of the state; once the stream ends the whole file is read back and verified, synced to
//! disk, renamed to `FILE`, and the directory synced, so the rename survives a crash. `FILE`
//! therefore only ever names a whole, verified backup, and a failure at any point leaves
//! neither `FILE` nor `FILE.partial` behind (dropping an unfinished one removes it).

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use moor_proto::api::BackupHeader;
use moor_proto::backup;

/// A backup file being written under its partial name.
#[derive(Debug)]
pub(super) struct PartialBackup {
    path: PathBuf,
    partial: PathBuf,
    /// `None` once committed or discarded.
    file: Option<File>,
    written: u64,
    /// Whether `path` may be replaced.
    force: bool,
}

/// What a verified backup holds, as `cluster snapshot save` shows it.
#[derive(Debug)]
pub(super) struct Verified {
    pub header: BackupHeader,
    pub bytes: u64,
    pub sha256: String,
}

impl PartialBackup {
    /// Starts writing the backup `path` as `path.partial`. Without `force`, fails when
    /// `path` exists (a backup is never replaced by accident) or when `path.partial` does
    /// (another save may be writing it); with it, both are replaced.
    pub fn create(path: &Path, force: bool) -> Result<PartialBackup> {
        let shown = path.display();
        if !force && path.symlink_metadata().is_ok() {
            bail!(
                "{shown} exists; moorctl never replaces a backup without --force: choose \
                 another file name, or pass --force to replace it"
            );
        }
        let partial = partial_name(path);
        if force {
            match fs::remove_file(&partial) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    return Err(e).with_context(|| format!("cannot remove {}", partial.display()));
                }
                _ => {}
            }
        }
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&partial)
            .map_err(|e| match e.kind() {
                io::ErrorKind::AlreadyExists => anyhow::anyhow!(
                    "{} exists: another `moorctl cluster snapshot save` to {shown} may be \
                     running, or one stopped before it finished; remove it if none runs (or \
                     pass --force)",
                    partial.display()
                ),
                _ => anyhow::Error::new(e).context(format!("cannot create {}", partial.display())),
            })?;
        Ok(PartialBackup {
            path: path.to_path_buf(),
            partial,
            file: Some(file),
            written: 0,
            force,
        })
    }

    /// The name the chunks are written to.
    pub fn partial(&self) -> &Path {
        &self.partial
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Appends one chunk.
    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        let file = self.file.as_mut().context("the backup file is closed")?;
        file.write_all(data)
            .with_context(|| format!("cannot write {}", self.partial.display()))?;
        self.written += data.len() as u64;
        Ok(())
    }

    /// Reads the whole file back and verifies it (magic, version, lengths, checksum), syncs
    /// it, and renames it to its name. Without `force` at creation, a file that appeared
    /// under that name meanwhile is kept and this fails.
    pub fn commit(&mut self) -> Result<Verified> {
        let file = self.file.take().context("the backup file is closed")?;
        let partial = self.partial.display().to_string();
        let content = fs::read(&self.partial).with_context(|| format!("cannot read {partial}"))?;
        let verified = backup::parse(&content)
            .map(|b| Verified {
                header: b.header,
                bytes: content.len() as u64,
                sha256: b.checksum,
            })
            .context("the backup received does not verify")?;
        drop(content);
        file.sync_all()
            .with_context(|| format!("cannot sync {partial} to disk"))?;
        drop(file);
        if !self.force && self.path.symlink_metadata().is_ok() {
            bail!(
                "{} appeared while the backup was received; it was not replaced",
                self.path.display()
            );
        }
        fs::rename(&self.partial, &self.path)
            .with_context(|| format!("cannot rename {partial} to {}", self.path.display()))?;
        self.partial = PathBuf::new();
        sync_dir(&self.path);
        Ok(verified)
    }

    /// Removes the partial file (nothing, once committed); says whether that worked, for
    /// the error that ends the save.
    pub fn discard(mut self) -> Result<(), String> {
        self.file = None;
        let partial = std::mem::take(&mut self.partial);
        match fs::remove_file(&partial) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(format!("cannot remove {}: {e}", partial.display())),
        }
    }
}

impl Drop for PartialBackup {
    fn drop(&mut self) {
        if !self.partial.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.partial);
        }
    }
}

/// `path` with `.partial` appended to its file name.
pub(super) fn partial_name(path: &Path) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(".partial");
    PathBuf::from(name)
}

/// Syncs the directory holding `path`, so its new name is on disk. A failure leaves a
/// verified backup that may not survive a power loss until the system syncs: a warning.
fn sync_dir(path: &Path) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
        eprintln!(
            "moorctl: warning: cannot sync directory {}: {e}; the backup is written and \
             verified, but may not survive a power loss until the system syncs it",
            dir.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn sample() -> Vec<u8> {
        let header = BackupHeader {
            index: 42,
            term: 3,
            ..Default::default()
        };
        backup::encode(header, &[7u8; 1000])
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_whole_backup_is_verified_and_renamed_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.backup");
        let mut p = PartialBackup::create(&path, false).unwrap();
        assert_eq!(p.partial(), dir.path().join("m.backup.partial"));
        let file = sample();
        for chunk in file.chunks(100) {
            p.write(chunk).unwrap();
        }
        assert_eq!(p.written(), file.len() as u64);
        let v = p.commit().unwrap();
        assert_eq!((v.header.index, v.bytes), (42, file.len() as u64));
        assert_eq!(fs::read(&path).unwrap(), file);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(names(dir.path()), ["m.backup"]);
    }

    #[test]
    fn a_bad_backup_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.backup");
        let mut file = sample();
        file[500] ^= 1;
        let mut p = PartialBackup::create(&path, false).unwrap();
        p.write(&file).unwrap();
        let err = p.commit().unwrap_err();
        assert!(format!("{err:#}").contains("checksum mismatch"), "{err:#}");
        assert_eq!(p.discard(), Ok(()));
        assert!(names(dir.path()).is_empty());
        // Dropped unfinished: nothing either.
        let mut p = PartialBackup::create(&path, false).unwrap();
        p.write(b"half").unwrap();
        drop(p);
        assert!(names(dir.path()).is_empty());
    }

    #[test]
    fn nothing_is_replaced_without_force() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.backup");
        fs::write(&path, "old").unwrap();
        let err = PartialBackup::create(&path, false).unwrap_err();
        assert!(err.to_string().contains("without --force"), "{err}");
        // A partial file of another save: kept, and named.
        fs::remove_file(&path).unwrap();
        let other = PartialBackup::create(&path, false).unwrap();
        let err = PartialBackup::create(&path, false).unwrap_err();
        assert!(err.to_string().contains("m.backup.partial exists"), "{err}");
        drop(other);
        // The name appears while receiving: kept.
        let mut p = PartialBackup::create(&path, false).unwrap();
        p.write(&sample()).unwrap();
        fs::write(&path, "someone else's").unwrap();
        assert!(p.commit().is_err());
        drop(p);
        assert_eq!(fs::read_to_string(&path).unwrap(), "someone else's");
        assert_eq!(names(dir.path()), ["m.backup"]);
        // With --force: both replaced.
        fs::write(partial_name(&path), "stale").unwrap();
        let mut p = PartialBackup::create(&path, true).unwrap();
        p.write(&sample()).unwrap();
        p.commit().unwrap();
        assert_eq!(fs::read(&path).unwrap(), sample());
        assert_eq!(names(dir.path()), ["m.backup"]);
    }
}
