//! Files only their owner may read (mode 0600): tokens and the config file. A file is
//! written whole under a temporary name in its directory, then renamed over (or linked to)
//! its name, so no reader ever sees half of it and a crash leaves the old one.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// A private file being written: its temporary twin exists already (so the directory is
/// known to be writable before anything is asked of a member); [`PrivateFile::commit`] gives
/// it its name. Dropped without a commit, the twin is removed.
#[derive(Debug)]
pub struct PrivateFile {
    path: PathBuf,
    temp: PathBuf,
    file: Option<File>,
    replace: bool,
}

impl PrivateFile {
    /// Starts writing `path`. Without `replace`, fails when `path` exists, naming `flag`
    /// (the flag that chose it and the one that allows replacing it).
    pub fn reserve(path: &Path, replace: bool, flag: &str) -> Result<PrivateFile> {
        if !replace && path.symlink_metadata().is_ok() {
            bail!(
                "{} exists; moorctl does not replace it without {flag}",
                path.display()
            );
        }
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = path
            .file_name()
            .with_context(|| format!("{} is not a file name", path.display()))?;
        let temp = dir.join(format!(
            ".{}.{}.tmp",
            name.to_string_lossy(),
            std::process::id()
        ));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)
            .with_context(|| format!("cannot write in {}", dir.display()))?;
        Ok(PrivateFile {
            path: path.to_path_buf(),
            temp,
            file: Some(file),
            replace,
        })
    }

    /// The file's name.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `contents` and gives the file its name.
    pub fn commit(mut self, contents: &[u8]) -> Result<()> {
        let what = || format!("cannot write {}", self.path.display());
        let mut file = self.file.take().context("already written")?;
        file.write_all(contents).with_context(what)?;
        file.sync_all().with_context(what)?;
        drop(file);
        if self.replace {
            fs::rename(&self.temp, &self.path).with_context(what)?;
        } else {
            // A link fails if the name appeared meanwhile: never replace what we were told
            // not to.
            fs::hard_link(&self.temp, &self.path).with_context(what)?;
            let _ = fs::remove_file(&self.temp);
        }
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // The rename is durable once the directory is.
            let _ = File::open(dir).and_then(|d| d.sync_all());
        }
        self.temp = PathBuf::new();
        Ok(())
    }
}

impl Drop for PrivateFile {
    fn drop(&mut self) {
        if !self.temp.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.temp);
        }
    }
}

/// Writes `contents` to `path` (mode 0600), replacing it atomically.
pub fn write_private(path: &Path, contents: &[u8]) -> Result<()> {
    PrivateFile::reserve(path, true, "")?.commit(contents)
}

/// True when others than the owner may read `path` (a token file should be 0600).
pub fn readable_by_others(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn written_whole_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.token");
        write_private(&p, b"one").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"one");
        assert_eq!(mode(&p), 0o600);
        // Replaced, still 0600, even when the old file was open to all.
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(readable_by_others(&p));
        write_private(&p, b"two").unwrap();
        assert_eq!((fs::read(&p).unwrap(), mode(&p)), (b"two".to_vec(), 0o600));
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary left"
        );
    }

    #[test]
    fn an_existing_file_is_kept_unless_replacing_was_asked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("admin.token");
        fs::write(&p, "old").unwrap();
        let e = PrivateFile::reserve(&p, false, "--force").unwrap_err();
        assert!(e.to_string().contains("without --force"), "{e}");
        // Reserved, then dropped: nothing changes, nothing is left behind.
        let q = dir.path().join("new.token");
        drop(PrivateFile::reserve(&q, false, "--force").unwrap());
        assert!(!q.exists());
        // The name appears between reserve and commit: not replaced.
        let r = PrivateFile::reserve(&q, false, "--force").unwrap();
        fs::write(&q, "someone else's").unwrap();
        assert!(r.commit(b"ours").is_err());
        assert_eq!(fs::read_to_string(&q).unwrap(), "someone else's");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
    }
}
