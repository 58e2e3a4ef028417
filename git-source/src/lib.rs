//! Git sources: fetch one branch of a Git repository and read the blueprint files under a
//! path of its tip commit.
//!
//! The leader polls each Git source with [`fetch`]; what it does with the [`Snapshot`] (which
//! files changed, which blueprint revisions to propose) is not this crate's business, and this
//! crate knows nothing of Moor. The pipeline, one job per module:
//!
//! 1. [`remote`] checks the URL and the branch ([`Remote`]) and reads credentials files;
//! 2. `cache` opens, or creates, the bare repository kept between fetches of one source;
//! 3. `transfer` fetches the branch into it over the network;
//! 4. `snapshot` reads the files under the path at the fetched commit, within [`Limits`].
//!
//! # Why gix
//!
//! [gix](https://docs.rs/gix) (gitoxide) is Git in pure Rust: no libgit2 or OpenSSL to compile
//! or link, and no `git` program needed at run time for `https://` remotes. Only `file://`
//! URLs and local paths need `git` on `PATH`: gix's local transport runs `git upload-pack`,
//! like Git itself does.
//!
//! gix is built with `default-features = false` and two features:
//! - `sha1`, the object hash (without it gix can hash nothing);
//! - `blocking-http-transport-reqwest`, the synchronous network client and its HTTP transport
//!   on reqwest. reqwest is built with `rustls-no-provider`, and rustls with `ring` only, so
//!   neither aws-lc-rs (a long C and assembly build) nor OpenSSL is compiled; [`fetch`]
//!   installs ring as the process's rustls provider unless one is installed already.
//!   Certificates are checked against the operating system's roots (`/etc/ssl/certs`, or
//!   `SSL_CERT_FILE`): an image without them cannot fetch over https.
//!
//! Left out on purpose: worktree, index, status, diff, revision parsing, blame, merge,
//! attributes filters, credential helpers and prompts, signal handling (`interrupt`: the
//! caller's flag is enough), parallel pack resolution (`parallel`: packs of blueprint
//! repositories are small), and the curl and ssh transports.
//!
//! # Schemes
//!
//! `https://` (with optional [`Credentials`], sent as HTTP basic authentication when the
//! remote asks), `file://` and local paths. Everything else is refused with an error saying
//! what to use: ssh (use https with a token), `git://` (unauthenticated), and `http://` unless
//! [`Remote::allow_insecure_http`] is set (credentials are never sent over it). A URL carrying
//! a user name or password is refused: credentials go in a credentials file
//! ([`read_credentials_file`]), and errors show URLs with user information redacted.
//!
//! # The cache
//!
//! Each source has its own cache directory (the caller chooses it; two sources must not share
//! one, and one source must not be fetched by two threads at once). The bare repository lives
//! in `<cache_dir>/repo.git`. An unchanged branch costs a ref listing and transfers no pack; a
//! force-push is followed. If the cached repository is damaged (it does not open, an object
//! is missing, writing the pack or refs fails), it is deleted and re-created once, and the
//! fetch retried from scratch; a second failure is [`GitError::CorruptCache`]. Above
//! [`MAX_PACKS`] packs the cache is re-created too, since gix does not repack.
//!
//! # Limits
//!
//! [`Limits`] bound the number of files, each file's size and their total size (checked from
//! object headers before any blob is inflated); exceeding one fails the fetch rather than
//! returning part of the files. Symlinks and submodules are skipped, as are names that are not
//! UTF-8. Over https, connecting may take 20 s and a remote that stops sending for 30 s fails
//! the fetch (reqwest's blocking client waits at most that long for the response and for each
//! read of its body); a slow but steady download is not cut. `interrupt` is polled while the
//! pack is received.
//!
//! # Cost
//!
//! A cold `cargo build --release -p moor-git` compiles 198 crates (107 that the rest of the
//! workspace did not build, 50 of them gix's) in about 4 CPU-minutes. An unchanged refetch
//! costs one `git upload-pack` round trip plus reading the files: `cargo run --release -p
//! moor-git --example fetch_timing` prints the figures.

mod cache;
mod error;
pub mod remote;
mod snapshot;
mod transfer;

use std::path::Path;
use std::sync::atomic::AtomicBool;

pub use cache::MAX_PACKS;
pub use error::{GitError, Limit};
pub use remote::{read_credentials_file, Credentials, Remote};
pub use snapshot::{Limits, Snapshot, SnapshotFile};

use cache::Cache;
use error::Failure;
use remote::Target;
use snapshot::Subpath;

/// Fetches `remote.branch` into the bare repository kept in `cache_dir` (created if missing),
/// force-updating its remote-tracking ref so that a force-push is followed, then reads every
/// file under `subpath` (recursively; `""` or `"/"` is the whole repository) whose extension
/// is in `limits.extensions`, at the fetched commit.
///
/// Setting `interrupt` aborts a fetch in progress with [`GitError::Interrupted`]. A damaged
/// cache is re-created once (see the crate documentation). Blocks the calling thread: from
/// async code, call it inside `spawn_blocking`.
pub fn fetch(
    cache_dir: &Path,
    remote: &Remote,
    subpath: &str,
    limits: &Limits,
    interrupt: &AtomicBool,
) -> Result<Snapshot, GitError> {
    let target = Target::new(remote)?;
    let subpath = Subpath::parse(subpath);
    let cache = Cache::new(cache_dir)?;
    match attempt(&cache, &target, &subpath, limits, interrupt) {
        Ok(snapshot) => Ok(snapshot),
        Err(Failure::Final(err)) => Err(err),
        Err(Failure::Cache(reason)) => {
            tracing::warn!(
                cache = %cache.repo_dir().display(),
                url = %target.display_url,
                %reason,
                "Git cache damaged: re-creating it and fetching again"
            );
            cache.reset()?;
            attempt(&cache, &target, &subpath, limits, interrupt).map_err(|failure| match failure {
                Failure::Final(err) => err,
                Failure::Cache(reason) => GitError::CorruptCache {
                    path: cache.repo_dir().to_path_buf(),
                    reason,
                },
            })
        }
    }
}

fn attempt(
    cache: &Cache,
    target: &Target,
    subpath: &Subpath,
    limits: &Limits,
    interrupt: &AtomicBool,
) -> Result<Snapshot, Failure> {
    let repo = cache.open()?;
    let commit = transfer::fetch_branch(&repo, target, interrupt)?;
    snapshot::read(&repo, commit, subpath, limits)
}
