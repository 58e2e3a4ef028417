//! The files half: read the blueprint files under a path of a fetched commit, within limits.
//!
//! Only regular files (executable or not) whose extension is listed are read. Symlinks are
//! skipped, never followed (their target could lie outside the path, or nowhere); submodules
//! are skipped (their commits are not in this repository); names that are not UTF-8 are
//! skipped. Limits are checked before a blob is inflated (its size comes from the object
//! header), and exceeding any of them fails the whole read: a partial set of blueprints would
//! look like deletions to whoever compares snapshots.

use crate::error::{Failure, GitError, Limit};

/// Bounds on what one snapshot may hold, so a wrong path or a hostile repository cannot
/// exhaust the leader's memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Most files a snapshot may hold. Default 1,000.
    pub max_files: usize,
    /// Largest file, in bytes. Default 1 MiB.
    pub max_file_bytes: u64,
    /// Largest sum of the files' sizes, in bytes. Default 16 MiB.
    pub max_total_bytes: u64,
    /// Extensions of the files to read, without the dot, compared ignoring ASCII case.
    /// Default `["yaml", "yml"]`.
    pub extensions: Vec<String>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_files: 1000,
            max_file_bytes: 1 << 20,
            max_total_bytes: 16 << 20,
            extensions: vec!["yaml".to_string(), "yml".to_string()],
        }
    }
}

/// The files under a path at one commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The commit read, 40 lowercase hex digits.
    pub commit: String,
    /// The files, sorted by path.
    pub files: Vec<SnapshotFile>,
}

/// One file of a [`Snapshot`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotFile {
    /// Relative to the repository's root, `/`-separated, e.g. `blueprints/web.yaml`.
    pub path: String,
    /// The content, as committed.
    pub bytes: Vec<u8>,
}

/// A path inside the repository, normalised: no empty or `.` components, so `""`, `"/"` and
/// `"./"` all mean the whole repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Subpath(Vec<String>);

impl Subpath {
    pub fn parse(path: &str) -> Subpath {
        Subpath(
            path.split('/')
                .filter(|part| !part.is_empty() && *part != ".")
                .map(str::to_string)
                .collect(),
        )
    }

    fn joined(&self) -> String {
        self.0.join("/")
    }
}

/// A file to read: its path and blob id.
struct Candidate {
    path: String,
    id: gix::ObjectId,
}

/// Reads the files of `commit` under `subpath` that `limits` admit.
pub(crate) fn read(
    repo: &gix::Repository,
    commit: gix::ObjectId,
    subpath: &Subpath,
    limits: &Limits,
) -> Result<Snapshot, Failure> {
    let commit_hex = commit.to_hex().to_string();
    let root = repo
        .find_commit(commit)
        .map_err(|err| missing(&commit_hex, &err))?
        .tree()
        .map_err(|err| missing(&commit_hex, &err))?;
    let start = if subpath.0.is_empty() {
        root
    } else {
        let entry = root
            .lookup_entry(subpath.0.iter().map(String::as_bytes))
            .map_err(|err| missing(&commit_hex, &err))?
            .ok_or_else(|| GitError::PathNotFound {
                path: subpath.joined(),
                commit: commit_hex.clone(),
            })?;
        if !entry.mode().is_tree() {
            return Err(GitError::NotADirectory {
                path: subpath.joined(),
                commit: commit_hex,
            }
            .into());
        }
        repo.find_tree(entry.object_id())
            .map_err(|err| missing(&commit_hex, &err))?
    };
    let mut candidates = Vec::new();
    let walk = Walk {
        repo,
        limits,
        commit: &commit_hex,
        top: subpath.joined(),
    };
    walk.collect(start, &subpath.joined(), &mut candidates)?;
    candidates.sort_by(|a, b| a.path.cmp(&b.path));
    let files = load(repo, candidates, limits, &commit_hex)?;
    Ok(Snapshot {
        commit: commit_hex,
        files,
    })
}

struct Walk<'a> {
    repo: &'a gix::Repository,
    limits: &'a Limits,
    commit: &'a str,
    /// The directory read, for the `max_files` error.
    top: String,
}

impl Walk<'_> {
    /// Adds the matching files of `tree` (whose path is `dir`) and its subtrees to `out`.
    fn collect(
        &self,
        tree: gix::Tree<'_>,
        dir: &str,
        out: &mut Vec<Candidate>,
    ) -> Result<(), Failure> {
        let decoded = tree.decode().map_err(|err| missing(self.commit, &err))?;
        for entry in &decoded.entries {
            let Ok(name) = std::str::from_utf8(entry.filename) else {
                continue;
            };
            let path = if dir.is_empty() {
                name.to_string()
            } else {
                format!("{dir}/{name}")
            };
            if entry.mode.is_tree() {
                let subtree = self
                    .repo
                    .find_tree(entry.oid)
                    .map_err(|err| missing(self.commit, &err))?;
                self.collect(subtree, &path, out)?;
            } else if entry.mode.is_blob() && self.wanted(name) {
                out.push(Candidate {
                    path,
                    id: entry.oid.to_owned(),
                });
                if out.len() > self.limits.max_files {
                    return Err(GitError::LimitExceeded {
                        limit: Limit::MaxFiles,
                        path: self.top.clone(),
                        actual: out.len() as u64,
                        max: self.limits.max_files as u64,
                        commit: self.commit.to_string(),
                    }
                    .into());
                }
            }
            // Symlinks (`is_link`) and submodules (`is_commit`) are skipped.
        }
        Ok(())
    }

    fn wanted(&self, name: &str) -> bool {
        std::path::Path::new(name)
            .extension()
            .and_then(|ext| ext.to_str())
            .is_some_and(|ext| {
                self.limits
                    .extensions
                    .iter()
                    .any(|wanted| wanted.trim_start_matches('.').eq_ignore_ascii_case(ext))
            })
    }
}

/// Reads the blobs of `candidates`, checking each size from its header before inflating it.
fn load(
    repo: &gix::Repository,
    candidates: Vec<Candidate>,
    limits: &Limits,
    commit: &str,
) -> Result<Vec<SnapshotFile>, Failure> {
    let exceeded = |limit, path: &str, actual, max| -> Failure {
        GitError::LimitExceeded {
            limit,
            path: path.to_string(),
            actual,
            max,
            commit: commit.to_string(),
        }
        .into()
    };
    let mut total: u64 = 0;
    let mut files = Vec::with_capacity(candidates.len());
    for Candidate { path, id } in candidates {
        let size = repo
            .find_header(id)
            .map_err(|err| missing(commit, &err))?
            .size();
        if size > limits.max_file_bytes {
            return Err(exceeded(
                Limit::MaxFileBytes,
                &path,
                size,
                limits.max_file_bytes,
            ));
        }
        total = total.saturating_add(size);
        if total > limits.max_total_bytes {
            return Err(exceeded(
                Limit::MaxTotalBytes,
                &path,
                total,
                limits.max_total_bytes,
            ));
        }
        let mut blob = repo.find_blob(id).map_err(|err| missing(commit, &err))?;
        files.push(SnapshotFile {
            path,
            bytes: blob.take_data(),
        });
    }
    Ok(files)
}

/// An object of a fetched commit cannot be found or decoded: the cache is damaged.
fn missing(commit: &str, err: &(dyn std::error::Error + 'static)) -> Failure {
    Failure::Cache(format!(
        "reading commit {commit} from the cache failed: {}",
        crate::error::chain(err)
    ))
}
