//! The arguments of `moorctl source`: Git branches whose blueprint files become blueprint
//! revisions.
//!
//! A source's URL is checked before anything is sent because a mistake in it is costly
//! later: a password in a URL would be stored in the replicated state and shown by every
//! read, so it is refused (the error shows the URL with the credentials masked, which is
//! why the check runs after clap's parsing, in `checks.rs`: clap's own errors repeat the
//! value) and `--credentials-file` named instead; and only the schemes the members fetch
//! are accepted.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::common::ReadArgs;
use super::duration::parse_duration;
use super::values::{parse_name, parse_path};

/// Default of `source sync --timeout`.
const DEFAULT_SYNC_TIMEOUT: &str = "60s";

#[derive(Debug, Subcommand)]
pub enum SourceCommand {
    /// Add or replace a Git source: the blueprint files (*.yaml, *.yml) in a folder of a
    /// branch, applied as new blueprint revisions whenever they change, e.g. `moorctl source
    /// add shop --url https://git.example/shop.git --branch main --path blueprints/`
    Add(SourceAddArgs),
    /// List sources with their commit and the state of their last fetch, e.g. `moorctl
    /// source list`
    #[command(visible_alias = "ls")]
    List {
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Show a source: URL, branch, commit, last fetch and its error, and which blueprint
    /// revision each file made, e.g. `moorctl source show shop`
    Show {
        #[arg(value_parser = parse_name)]
        name: String,
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Delete a source (the revisions it made stay), e.g. `moorctl source delete shop`
    Delete {
        #[arg(value_parser = parse_name)]
        name: String,
    },
    /// Ask the leader to fetch a source now; with --wait, wait for the fetch and show the
    /// source (exit code 1 when the fetch failed), e.g. `moorctl source sync shop --wait`
    Sync {
        #[arg(value_parser = parse_name)]
        name: String,
        /// Wait until the fetch is done, then show the source
        #[arg(long)]
        wait: bool,
        /// With --wait: give up waiting after this long (the fetch goes on), e.g. 2m
        #[arg(
            long,
            requires = "wait",
            value_name = "DURATION",
            default_value = DEFAULT_SYNC_TIMEOUT,
            value_parser = parse_duration
        )]
        timeout: Duration,
    },
}

/// `source add NAME --url URL [--branch B] [--path P] [--credentials-file F] [--poll D]`.
#[derive(Debug, Args)]
pub struct SourceAddArgs {
    /// Source name
    #[arg(value_parser = parse_name)]
    pub name: String,
    /// The repository: https://... or file://... (no user:password@ in it: use
    /// --credentials-file)
    // Checked by `parse_source_url` in checks.rs, not here: clap would repeat a refused
    // value, password included, in its error.
    #[arg(long, value_name = "URL")]
    pub url: String,
    /// The branch whose blueprints are applied
    #[arg(long, value_name = "BRANCH", default_value = "main", value_parser = parse_branch)]
    pub branch: String,
    /// The folder of the blueprint files in the repository (default: its root)
    #[arg(long, value_name = "PATH", default_value = "")]
    pub path: String,
    /// A file holding `user:password` or a token, read by the members (not by moorctl):
    /// it must exist at this path on every member. Sent as an absolute path, never its
    /// content
    #[arg(long, value_name = "FILE", value_parser = parse_path)]
    pub credentials_file: Option<PathBuf>,
    /// Fetch every this long, e.g. 1m; 0: only on webhooks and `moorctl source sync`
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = parse_poll)]
    pub poll: Duration,
}

/// Parses `--url`: https:// or file://, without credentials. The error never repeats a
/// password: it shows the URL with its user information masked.
pub fn parse_source_url(s: &str) -> Result<String, String> {
    const EXAMPLE: &str = "e.g. https://git.example/shop.git or file:///srv/git/shop.git";
    if s.is_empty() || s.contains(char::is_whitespace) {
        return Err(format!(
            "{:?} is not a repository URL; {EXAMPLE}",
            masked(s)
        ));
    }
    let Some((scheme, rest)) = s.split_once("://") else {
        return Err(format!(
            "{:?} has no scheme; give https://... or file://..., {EXAMPLE} (ssh and \
             host:path forms are not supported: use https:// with --credentials-file)",
            masked(s)
        ));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    match scheme.to_ascii_lowercase().as_str() {
        "https" if authority.contains('@') => Err(format!(
            "{:?} holds credentials; put `user:password` (or the token) in a file only you \
             can read and give --credentials-file FILE, with the URL without them",
            masked(s)
        )),
        "https" if authority.is_empty() => Err(format!("{:?} has no host; {EXAMPLE}", masked(s))),
        "https" => Ok(s.to_string()),
        "file" if rest.is_empty() || rest == "/" => Err(format!("{s:?} has no path; {EXAMPLE}")),
        "file" => Ok(s.to_string()),
        other => Err(format!(
            "{:?}: the scheme {other:?} is not supported; use https://... (or file://... for a \
             repository on every member's disk), {EXAMPLE}",
            masked(s)
        )),
    }
}

/// `url` with any user information (`user:password@`) replaced by `***@`.
fn masked(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}://***{}", &rest[at..]),
        None => url.to_string(),
    }
}

/// Parses `--branch`: a branch name, not empty, no blanks.
fn parse_branch(s: &str) -> Result<String, String> {
    if s.is_empty() || s.contains(char::is_whitespace) || s.starts_with('-') {
        return Err(format!("{s:?} is not a branch name, e.g. main"));
    }
    Ok(s.to_string())
}

/// Parses `--poll`: a duration, or 0 (never poll).
fn parse_poll(s: &str) -> Result<Duration, String> {
    if s.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    parse_duration(s)
        .map_err(|e| format!("{e}; or 0 to fetch only on webhooks and `moorctl source sync`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        for ok in [
            "https://git.example/shop.git",
            "HTTPS://git.example:8443/a/b",
            "file:///srv/git/shop.git",
        ] {
            assert_eq!(parse_source_url(ok).as_deref(), Ok(ok));
        }
        for (bad, says) in [
            ("http://git.example/a.git", "not supported"),
            ("ssh://git@git.example/a.git", "not supported"),
            ("git@git.example:a.git", "no scheme"),
            ("https:///a.git", "no host"),
            ("file://", "no path"),
            ("https://git.example/a b", "not a repository URL"),
            (
                "https://bob:hunter2@git.example/a.git",
                "--credentials-file",
            ),
            ("https://ghp_token@git.example/a.git", "--credentials-file"),
        ] {
            let e = parse_source_url(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
            assert!(!e.contains("hunter2") && !e.contains("ghp_token"), "{e}");
        }
        // An @ in the path is not user information.
        assert!(parse_source_url("https://git.example/a@b.git").is_ok());
        assert_eq!(
            masked("https://bob:pw@git.example/a"),
            "https://***@git.example/a"
        );
    }

    #[test]
    fn poll_intervals() {
        assert_eq!(parse_poll("0"), Ok(Duration::ZERO));
        assert_eq!(parse_poll("1m"), Ok(Duration::from_secs(60)));
        for bad in ["5", "soon", "-1m", "0s"] {
            let e = parse_poll(bad).unwrap_err();
            assert!(e.contains("or 0 to fetch only on webhooks"), "{bad}: {e}");
        }
    }
}
