//! A Git repository the way a team keeps blueprints: a bare `origin` (what Moor's sources
//! fetch, by a `file://` URL) and a work clone that commits and pushes, driven through the
//! `git` command line.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

pub struct GitRepo {
    pub origin: PathBuf,
    pub work: PathBuf,
}

fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=Moor Tests",
            "-c",
            "user.email=tests@moor.invalid",
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .context("run git (is it installed?)")?;
    if !out.status.success() {
        bail!(
            "git {} in {}: {}",
            args.join(" "),
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

impl GitRepo {
    /// An empty bare `origin.git` and a clone of it, both under `dir`.
    pub fn create(dir: &Path) -> Result<GitRepo> {
        let origin = dir.join("origin.git");
        let work = dir.join("work");
        std::fs::create_dir_all(&origin)?;
        git(&origin, &["init", "--bare", "--initial-branch=main"])?;
        git(
            dir,
            &[
                "clone",
                "--quiet",
                origin.to_str().context("utf-8 path")?,
                "work",
            ],
        )?;
        git(&work, &["checkout", "--quiet", "-B", "main"])?;
        Ok(GitRepo { origin, work })
    }

    /// The URL a source fetches.
    pub fn url(&self) -> String {
        format!("file://{}", self.origin.display())
    }

    /// Writes `text` at `path` in the work clone.
    pub fn write(&self, path: &str, text: &str) -> Result<()> {
        let p = self.work.join(path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(p, text)?;
        Ok(())
    }

    /// Commits everything and pushes `main`; the new commit's id.
    pub fn commit_and_push(&self, message: &str) -> Result<String> {
        git(&self.work, &["add", "-A"])?;
        git(&self.work, &["commit", "--quiet", "-m", message])?;
        git(&self.work, &["push", "--quiet", "origin", "main"])?;
        git(&self.work, &["rev-parse", "HEAD"])
    }

    /// Drops the last commit, commits what is written now instead and force-pushes: the
    /// branch's history is rewritten. The new commit's id.
    pub fn rewrite_last_and_force_push(&self, message: &str) -> Result<String> {
        git(&self.work, &["reset", "--soft", "HEAD~1"])?;
        git(&self.work, &["add", "-A"])?;
        git(&self.work, &["commit", "--quiet", "-m", message])?;
        git(
            &self.work,
            &["push", "--quiet", "--force", "origin", "main"],
        )?;
        git(&self.work, &["rev-parse", "HEAD"])
    }
}
