//! The bare repository that keeps what was fetched between two fetches of one source, so that
//! polling an unchanged branch transfers nothing and a change transfers only new objects.
//!
//! It lives in `<cache_dir>/repo.git`, never in `cache_dir` itself: re-creating the cache then
//! deletes only a directory this crate made, whatever else the caller keeps in `cache_dir`.
//! It is opened isolated from the machine: no system or user Git configuration, no `GIT_*`
//! variables, no credential helpers, so a fetch does the same thing on every member.

use std::path::{Path, PathBuf};

use crate::error::{chain, Failure, GitError};

/// Above this many pack files the cache is re-created from scratch. Every fetch that brings
/// something writes one pack and gix does not repack, while every object lookup consults
/// every pack: one full fetch every hundred changes keeps lookups fast.
pub const MAX_PACKS: usize = 100;

/// The cache of one source.
pub(crate) struct Cache {
    /// The directory the caller gave.
    dir: PathBuf,
    /// `dir/repo.git`.
    repo_dir: PathBuf,
}

impl Cache {
    /// Creates `dir` if missing.
    pub fn new(dir: &Path) -> Result<Cache, GitError> {
        std::fs::create_dir_all(dir).map_err(|err| unusable(dir, &err))?;
        if !dir.is_dir() {
            return Err(GitError::CacheDirUnusable {
                path: dir.to_path_buf(),
                reason: "not a directory".to_string(),
            });
        }
        Ok(Cache {
            dir: dir.to_path_buf(),
            repo_dir: dir.join("repo.git"),
        })
    }

    /// The cached repository's directory.
    pub fn repo_dir(&self) -> &Path {
        &self.repo_dir
    }

    /// Opens the cached repository, creating it if missing (or if it holds too many packs).
    /// A repository that exists but does not open is [`Failure::Cache`].
    pub fn open(&self) -> Result<gix::Repository, Failure> {
        if self.repo_dir.exists() && pack_count(&self.repo_dir) > MAX_PACKS {
            tracing::info!(
                cache = %self.repo_dir.display(),
                "Git cache holds more than {MAX_PACKS} packs: re-creating it"
            );
            self.reset()?;
        }
        if !self.repo_dir.exists() {
            return self.create().map_err(Failure::Final);
        }
        let repo =
            gix::open_opts(&self.repo_dir, gix::open::Options::isolated()).map_err(|err| {
                Failure::Cache(format!("cannot open the repository: {}", chain(&err)))
            })?;
        // gix opens a repository whose HEAD is garbage (a fetch does not need HEAD), but Git
        // would not: a cache that is damaged anywhere is re-created.
        repo.head()
            .map_err(|err| Failure::Cache(format!("cannot read HEAD: {}", chain(&err))))?;
        Ok(repo)
    }

    /// Deletes the cached repository (what [`Cache::open`] then re-creates).
    pub fn reset(&self) -> Result<(), GitError> {
        match std::fs::remove_dir_all(&self.repo_dir) {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(unusable(&self.dir, &err)),
        }
    }

    fn create(&self) -> Result<gix::Repository, GitError> {
        gix::ThreadSafeRepository::init_opts(
            &self.repo_dir,
            gix::create::Kind::Bare,
            gix::create::Options::default(),
            gix::open::Options::isolated(),
        )
        .map(|repo| repo.to_thread_local())
        .map_err(|err| GitError::CacheDirUnusable {
            path: self.dir.clone(),
            reason: format!("cannot create a repository in it: {}", chain(&err)),
        })
    }
}

fn unusable(dir: &Path, err: &std::io::Error) -> GitError {
    GitError::CacheDirUnusable {
        path: dir.to_path_buf(),
        reason: err.to_string(),
    }
}

fn pack_count(repo_dir: &Path) -> usize {
    std::fs::read_dir(repo_dir.join("objects").join("pack")).map_or(0, |entries| {
        entries
            .filter_map(Result::ok)
            .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "pack"))
            .count()
    })
}
