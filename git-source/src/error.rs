//! The one error type of the crate, and the internal split between errors that are final and
//! errors that a fresh cache may cure.
//!
//! Every message names its subject and says what to do next. None carries a secret: URLs are
//! shown redacted (see [`crate::remote::redact_url`]) and URLs with a user name or password are
//! refused before any I/O, so the texts of lower-level errors that echo a URL are safe too.

use std::fmt;
use std::path::PathBuf;

/// Why [`crate::fetch`] or [`crate::read_credentials_file`] failed.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The URL uses a scheme this crate does not speak (ssh, git://, http:// without
    /// `allow_insecure_http`, anything else).
    #[error("unsupported URL {url}: {reason}")]
    UnsupportedScheme {
        /// The URL, redacted.
        url: String,
        /// Why, and what to use instead.
        reason: String,
    },
    /// The URL carries a user name or password; secrets belong in a credentials file.
    #[error(
        "the URL {url} carries a user name or password: remove it from the URL and put the \
         credentials in a credentials file (one line `user:password`, or a token)"
    )]
    CredentialsInUrl {
        /// The URL with its user information replaced by `***`.
        url: String,
    },
    /// The URL or the branch name cannot be used as given.
    #[error("invalid {what} {value:?}: {reason}")]
    InvalidInput {
        /// `URL` or `branch name`.
        what: &'static str,
        /// The value, redacted if it is a URL.
        value: String,
        /// Why it is invalid.
        reason: String,
    },
    /// The remote could not be reached or did not speak Git as expected.
    #[error(
        "cannot reach the Git remote {url}: {reason}; check the URL, that the repository \
         exists, and the network path to its host"
    )]
    Unreachable {
        /// The URL, redacted.
        url: String,
        /// The underlying cause.
        reason: String,
    },
    /// The remote asked for credentials and refused the ones given (or none were given).
    #[error(
        "the Git remote {url} refused authentication ({reason}); check the source's \
         credentials file (a token, or `user:password`) and that it grants read access"
    )]
    AuthenticationRefused {
        /// The URL, redacted.
        url: String,
        /// What the remote answered.
        reason: String,
    },
    /// The remote has no branch of that name.
    #[error(
        "branch {branch:?} not found on the Git remote {url}; check the branch name \
         (without `refs/heads/`) and that it has been pushed"
    )]
    BranchNotFound {
        /// The URL, redacted.
        url: String,
        /// The branch as given.
        branch: String,
    },
    /// The path to read does not exist in the fetched commit.
    #[error(
        "path {path:?} not found at commit {commit}; check the source's path (relative to \
         the repository root, `/`-separated)"
    )]
    PathNotFound {
        /// The path as normalised (no leading or trailing `/`).
        path: String,
        /// The fetched commit, 40 hex digits.
        commit: String,
    },
    /// The path to read names a file or a submodule, not a directory.
    #[error(
        "path {path:?} at commit {commit} is not a directory; give the directory that holds \
         the blueprint files"
    )]
    NotADirectory {
        /// The path as normalised.
        path: String,
        /// The fetched commit, 40 hex digits.
        commit: String,
    },
    /// One of [`crate::Limits`] was exceeded: nothing is returned rather than a partial set.
    #[error("{}", limit_message(*limit, path, *actual, *max, commit))]
    LimitExceeded {
        /// Which limit.
        limit: Limit,
        /// The file that crossed it (for `max_files`, the directory read).
        path: String,
        /// The size in bytes, or the number of files for `max_files`.
        actual: u64,
        /// The limit's value.
        max: u64,
        /// The fetched commit, 40 hex digits.
        commit: String,
    },
    /// The cache directory cannot be created or written.
    #[error(
        "the Git cache directory {} is unusable: {reason}; give a writable directory \
         (created if missing) that no other source shares",
        path.display()
    )]
    CacheDirUnusable {
        /// The directory given by the caller.
        path: PathBuf,
        /// The underlying cause.
        reason: String,
    },
    /// The cached repository failed even after it was deleted and re-created once.
    #[error(
        "the Git cache in {} failed even after being re-created: {reason}; check free \
         disk space and permissions, then delete the directory",
        path.display()
    )]
    CorruptCache {
        /// The cached repository's directory.
        path: PathBuf,
        /// The failure of the attempt on the fresh cache.
        reason: String,
    },
    /// The caller set the interrupt flag.
    #[error("the Git fetch from {url} was interrupted")]
    Interrupted {
        /// The URL, redacted.
        url: String,
    },
    /// A credentials file cannot be read or parsed. Never carries the file's content.
    #[error("credentials file {}: {reason}", path.display())]
    CredentialsFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it, without its content.
        reason: String,
    },
}

/// The limits of [`crate::Limits`], named as their fields are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// [`crate::Limits::max_files`].
    MaxFiles,
    /// [`crate::Limits::max_file_bytes`].
    MaxFileBytes,
    /// [`crate::Limits::max_total_bytes`].
    MaxTotalBytes,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::MaxFiles => "max_files",
            Limit::MaxFileBytes => "max_file_bytes",
            Limit::MaxTotalBytes => "max_total_bytes",
        })
    }
}

fn limit_message(limit: Limit, path: &str, actual: u64, max: u64, commit: &str) -> String {
    match limit {
        Limit::MaxFiles => format!(
            "more than {max} matching files under {path:?} at commit {commit} (limit {limit}); \
             point the source at a smaller directory or raise the limit"
        ),
        Limit::MaxFileBytes => format!(
            "file {path:?} at commit {commit} is {actual} bytes, over the limit {limit} of \
             {max} bytes; shrink the file or raise the limit"
        ),
        Limit::MaxTotalBytes => format!(
            "reading file {path:?} at commit {commit} brings the total to {actual} bytes, over \
             the limit {limit} of {max} bytes; point the source at a smaller directory or raise \
             the limit"
        ),
    }
}

/// How one attempt on the cache failed: for good, or in a way a fresh cache may cure.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Report as is: the remote, the input or the limits are at fault.
    Final(GitError),
    /// The local repository is damaged or unreadable: delete it and try once more.
    Cache(String),
}

impl From<GitError> for Failure {
    fn from(err: GitError) -> Self {
        Failure::Final(err)
    }
}

/// `err` and its sources, joined by `: ` (gix's errors often say little at the top level).
pub(crate) fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
}
