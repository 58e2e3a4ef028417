//! Keeping every path `moor-agent` touches inside its root: [`confined`] turns a relative
//! path from a request into a path under the (canonical) root, refusing absolute paths, `..`
//! components and symlinks anywhere below the root. Refusing every symlink component, rather
//! than resolving links and checking where they land, keeps the rule simple to state and
//! impossible to talk around with relative links; an operator who wants a link points the
//! root itself elsewhere.
//!
//! Known limit: the checks and the later open are separate system calls, so a local user who
//! can write inside the root could swap a directory for a link between them. The root is meant
//! to be writable by the agent's user only (the systemd unit makes it its state directory).

use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};

/// Whether missing parent directories are created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parents {
    Create,
    MustExist,
}

/// `relative` under `root`, checked as the module docs say. Parent directories inside the
/// root are created with [`Parents::Create`]; with [`Parents::MustExist`] a missing parent is
/// not an error (the caller's open then finds nothing). The last component is not checked:
/// the caller decides what it may be. Errors say which part is at fault.
pub fn confined(root: &Path, relative: &str, parents: Parents) -> Result<PathBuf, String> {
    let parts = components(relative)?;
    let Some((last, dirs)) = parts.split_last() else {
        return Err(format!(
            "path {relative:?} names the root itself; name a file below it"
        ));
    };
    let mut at = root.to_path_buf();
    for dir in dirs {
        at.push(dir);
        match std::fs::symlink_metadata(&at) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(symlink(&at));
            }
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(format!("{} is not a directory", at.display())),
            Err(e) if e.kind() == ErrorKind::NotFound => match parents {
                Parents::MustExist => {}
                Parents::Create => match std::fs::create_dir(&at) {
                    Ok(()) => {}
                    // Created meanwhile by someone else: check what it is on the next turn.
                    Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                        let meta = std::fs::symlink_metadata(&at)
                            .map_err(|e| format!("cannot inspect {}: {e}", at.display()))?;
                        if !meta.is_dir() || meta.file_type().is_symlink() {
                            return Err(symlink(&at));
                        }
                    }
                    Err(e) => return Err(format!("cannot create {}: {e}", at.display())),
                },
            },
            Err(e) => return Err(format!("cannot inspect {}: {e}", at.display())),
        }
    }
    at.push(last);
    Ok(at)
}

fn symlink(at: &Path) -> String {
    format!(
        "{} is a symlink (or was replaced by one); moor-agent never follows symlinks below its root",
        at.display()
    )
}

/// The normal components of `relative`, or why it is not a confined relative path.
fn components(relative: &str) -> Result<Vec<&std::ffi::OsStr>, String> {
    if relative.is_empty() {
        return Err("path is empty; name a file relative to the agent's root".into());
    }
    if relative.contains('\0') {
        return Err(format!("path {relative:?} contains a NUL byte"));
    }
    let mut parts = Vec::new();
    for component in Path::new(relative).components() {
        match component {
            Component::Normal(part) => parts.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(format!(
                    "path {relative:?} contains `..`; paths must stay inside the agent's root"
                ))
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!(
                    "path {relative:?} is absolute; give a path relative to the agent's root"
                ))
            }
        }
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_refused_and_parents_created_inside() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        for bad in ["", "/etc/x", "../x", "a/../../x", "a/..", ".", "a\0b"] {
            assert!(confined(r, bad, Parents::Create).is_err(), "{bad:?}");
        }
        let p = confined(r, "./a/b/c.txt", Parents::Create).unwrap();
        assert_eq!(p, r.join("a/b/c.txt"));
        assert!(r.join("a/b").is_dir());
        let missing = confined(r, "x/y/z", Parents::MustExist).unwrap();
        assert_eq!(missing, r.join("x/y/z"));
        assert!(!r.join("x").exists(), "MustExist creates nothing");
    }

    #[test]
    fn a_symlinked_directory_is_refused_even_when_it_stays_inside() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let r = root.path();
        std::os::unix::fs::symlink(outside.path(), r.join("out")).unwrap();
        std::fs::create_dir(r.join("real")).unwrap();
        std::os::unix::fs::symlink(r.join("real"), r.join("inside")).unwrap();
        for path in ["out/x", "inside/x", "out/deeper/x"] {
            let err = confined(r, path, Parents::Create).unwrap_err();
            assert!(err.contains("symlink"), "{path}: {err}");
        }
        assert!(std::fs::read_dir(outside.path()).unwrap().next().is_none());
        std::fs::write(r.join("file"), "").unwrap();
        let err = confined(r, "file/x", Parents::Create).unwrap_err();
        assert!(err.contains("not a directory"), "{err}");
    }
}
