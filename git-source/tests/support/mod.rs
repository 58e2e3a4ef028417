//! Real repositories made with the `git` program in temporary directories: a bare "origin"
//! and a work clone that commits and pushes to it, as a forge and a developer would.

#![allow(dead_code)] // each test file uses part of it

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;

use moor_git::{GitError, Limits, Remote, Snapshot};

/// Never set: the tests that do not interrupt pass this.
pub static NO_INTERRUPT: AtomicBool = AtomicBool::new(false);

/// Runs `git` in `dir` with a fixed identity and no system or user configuration.
pub fn git(dir: &Path, args: &[&str]) -> String {
    git_os(dir, args.iter().map(OsStr::new))
}

pub fn git_os<'a>(dir: &Path, args: impl IntoIterator<Item = &'a OsStr>) -> String {
    let output = Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.name=Moor Test",
            "-c",
            "user.email=test@moor.invalid",
        ])
        .args(["-c", "init.defaultBranch=main", "-c", "core.symlinks=true"])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_DATE", "2024-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2024-01-01T00:00:00Z")
        .output()
        .expect("the git program runs");
    assert!(
        output.status.success(),
        "git {:?} failed: {}",
        output,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("git prints UTF-8")
        .trim()
        .to_string()
}

/// A bare origin, a work clone of it, and a cache directory, all in one temporary directory.
pub struct Fixture {
    pub tmp: tempfile::TempDir,
    pub origin: PathBuf,
    pub work: PathBuf,
    pub cache: PathBuf,
}

impl Fixture {
    pub fn new() -> Fixture {
        let tmp = tempfile::tempdir().expect("a temporary directory");
        let origin = tmp.path().join("origin.git");
        let work = tmp.path().join("work");
        git(tmp.path(), &["init", "--quiet", "--bare", "origin.git"]);
        git(tmp.path(), &["init", "--quiet", "work"]);
        git(
            &work,
            &[
                "remote",
                "add",
                "origin",
                origin.to_str().expect("UTF-8 path"),
            ],
        );
        let cache = tmp.path().join("cache");
        Fixture {
            tmp,
            origin,
            work,
            cache,
        }
    }

    /// `file://` URL of the origin.
    pub fn url(&self) -> String {
        format!("file://{}", self.origin.display())
    }

    pub fn remote(&self, branch: &str) -> Remote {
        Remote::new(self.url(), branch)
    }

    /// Writes `files` (path, content) in the work tree.
    pub fn write(&self, files: &[(&str, &str)]) {
        for (path, content) in files {
            let path = self.work.join(path);
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
            std::fs::write(path, content).expect("write");
        }
    }

    /// Commits everything in the work tree and pushes it to `main`; returns the commit id.
    pub fn commit_and_push(&self, message: &str) -> String {
        git(&self.work, &["add", "--all"]);
        git(&self.work, &["commit", "--quiet", "-m", message]);
        git(
            &self.work,
            &["push", "--quiet", "--force", "origin", "HEAD:main"],
        );
        self.head()
    }

    pub fn head(&self) -> String {
        git(&self.work, &["rev-parse", "HEAD"])
    }

    /// Fetches `main` under `subpath` with the default limits.
    pub fn fetch(&self, subpath: &str) -> Result<Snapshot, GitError> {
        self.fetch_with(subpath, &Limits::default())
    }

    pub fn fetch_with(&self, subpath: &str, limits: &Limits) -> Result<Snapshot, GitError> {
        moor_git::fetch(
            &self.cache,
            &self.remote("main"),
            subpath,
            limits,
            &NO_INTERRUPT,
        )
    }
}

/// The paths of a snapshot.
pub fn paths(snapshot: &Snapshot) -> Vec<&str> {
    snapshot
        .files
        .iter()
        .map(|file| file.path.as_str())
        .collect()
}

/// The content of `path` in a snapshot.
pub fn content<'a>(snapshot: &'a Snapshot, path: &str) -> &'a str {
    let file = snapshot
        .files
        .iter()
        .find(|file| file.path == path)
        .unwrap_or_else(|| panic!("{path} in the snapshot"));
    std::str::from_utf8(&file.bytes).expect("UTF-8 content")
}
