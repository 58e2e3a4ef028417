//! Where to fetch from: the remote's URL and branch, its credentials, and the checks that turn
//! them into something safe to hand to gix.
//!
//! Secrets never reach an error or a `Debug` output: `Credentials` and `Remote` implement
//! `Debug` by hand, and a URL with a user name or password is refused (with the user
//! information redacted in the error) before anything connects.

use std::fmt;
use std::path::Path;

use crate::error::GitError;

/// The user name sent with a bare token. GitHub and GitLab accept any user name with a token
/// as the password; `x-access-token` is the one GitHub documents for app tokens.
pub const TOKEN_USER: &str = "x-access-token";

/// A branch of a Git repository to fetch.
#[derive(Clone)]
pub struct Remote {
    /// `https://host/path.git`, `file:///path/to/repo` or a local path. No user information:
    /// credentials go in [`Remote::credentials`].
    pub url: String,
    /// The branch name, without `refs/heads/` (which is accepted and stripped).
    pub branch: String,
    /// Sent as HTTP basic authentication when an https remote asks for it; unused for local
    /// repositories.
    pub credentials: Option<Credentials>,
    /// Accept `http://` URLs (clear text, tamperable: for test servers on a trusted network
    /// only). Credentials are never sent over `http://`, even with this flag.
    pub allow_insecure_http: bool,
}

impl Remote {
    /// A remote without credentials that refuses `http://`.
    pub fn new(url: impl Into<String>, branch: impl Into<String>) -> Self {
        Remote {
            url: url.into(),
            branch: branch.into(),
            credentials: None,
            allow_insecure_http: false,
        }
    }
}

impl fmt::Debug for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Remote")
            .field("url", &redact_url(&self.url))
            .field("branch", &self.branch)
            .field("credentials", &self.credentials)
            .field("allow_insecure_http", &self.allow_insecure_http)
            .finish()
    }
}

/// What to answer when an https remote asks for credentials.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// A token (GitHub personal access or app token, GitLab project or deploy token), sent as
    /// the password of user [`TOKEN_USER`].
    Token(String),
    /// A user name and a password (or a token a forge wants with a specific user name).
    UserPassword {
        /// The user name (not secret: shown in `Debug`).
        user: String,
        /// The password (secret: never shown).
        password: String,
    },
}

impl Credentials {
    /// The user name and password to send.
    pub(crate) fn user_and_password(&self) -> (&str, &str) {
        match self {
            Credentials::Token(token) => (TOKEN_USER, token),
            Credentials::UserPassword { user, password } => (user, password),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Token(_) => f.write_str("Token(<redacted>)"),
            Credentials::UserPassword { user, .. } => f
                .debug_struct("UserPassword")
                .field("user", user)
                .field("password", &format_args!("<redacted>"))
                .finish(),
        }
    }
}

/// Reads a credentials file: one line `user:password`, or a bare token (sent as HTTP basic
/// authentication with user [`TOKEN_USER`], which GitHub and GitLab accept).
///
/// Whitespace around the content (a trailing newline) is ignored. An empty file, a file of
/// several lines, an empty user or an empty password is an error naming the file; no error
/// ever contains the file's content.
pub fn read_credentials_file(path: &Path) -> Result<Credentials, GitError> {
    let invalid = |reason: &str| GitError::CredentialsFile {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    let bytes = std::fs::read(path).map_err(|err| GitError::CredentialsFile {
        path: path.to_path_buf(),
        reason: format!("cannot read it: {err}"),
    })?;
    let text = std::str::from_utf8(&bytes).map_err(|_| invalid("it is not UTF-8 text"))?;
    let line = text.trim();
    if line.is_empty() {
        return Err(invalid(
            "it is empty; write a token, or `user:password`, on one line",
        ));
    }
    if line.contains(['\n', '\r']) {
        return Err(invalid(
            "it has several lines; write a token, or `user:password`, on one line",
        ));
    }
    match line.split_once(':') {
        None => Ok(Credentials::Token(line.to_string())),
        Some(("", _)) => Err(invalid("the user name before `:` is empty")),
        Some((_, "")) => Err(invalid("the password after `:` is empty")),
        Some((user, password)) => Ok(Credentials::UserPassword {
            user: user.to_string(),
            password: password.to_string(),
        }),
    }
}

/// `url` with any user information (`user:password@`) replaced by `***@`: the only form of a
/// URL this crate puts in errors and logs.
pub fn redact_url(url: &str) -> String {
    let (authority_start, authority_end) = match url.find("://") {
        Some(scheme_end) => {
            let start = scheme_end + 3;
            let end = url[start..]
                .find(['/', '?', '#'])
                .map_or(url.len(), |i| start + i);
            (start, end)
        }
        // scp-like `user@host:path`; a local path (starting with `/` or `.`) has no user.
        None if !url.starts_with(['/', '.']) => (0, url.find(':').unwrap_or(0)),
        None => (0, 0),
    };
    match url[authority_start..authority_end].rfind('@') {
        Some(at) => format!(
            "{}***{}",
            &url[..authority_start],
            &url[authority_start + at..]
        ),
        None => url.to_string(),
    }
}

/// A [`Remote`] checked and prepared for gix.
pub(crate) struct Target {
    /// The parsed URL (no user information).
    pub url: gix::Url,
    /// The URL for messages (equal to the input, which has no user information).
    pub display_url: String,
    /// The branch name, without `refs/heads/`.
    pub branch: String,
    /// `refs/heads/<branch>`.
    pub remote_ref: String,
    /// `+refs/heads/<branch>:refs/remotes/origin/<branch>`: forced, so a force-push is followed.
    pub refspec: String,
    /// Whether the URL is https or http (whose client needs a TLS crypto provider).
    pub is_http: bool,
    pub credentials: Option<Credentials>,
}

impl Target {
    /// Checks the URL's scheme and user information and the branch name.
    pub fn new(remote: &Remote) -> Result<Target, GitError> {
        let display_url = redact_url(&remote.url);
        let url = gix::url::parse(remote.url.as_bytes()).map_err(|err| {
            // A parse error may quote the URL: quote it only when it holds no secret.
            let reason = if display_url == remote.url {
                err.to_string()
            } else {
                "not a valid URL".to_string()
            };
            GitError::InvalidInput {
                what: "URL",
                value: display_url.clone(),
                reason,
            }
        })?;
        check_scheme(&url, remote, &display_url)?;
        if url.user().is_some() || url.password().is_some() || display_url != remote.url {
            return Err(GitError::CredentialsInUrl { url: display_url });
        }
        let branch = remote
            .branch
            .strip_prefix("refs/heads/")
            .unwrap_or(&remote.branch)
            .to_string();
        let remote_ref = format!("refs/heads/{branch}");
        gix::validate::reference::name(remote_ref.as_str().into()).map_err(|err| {
            GitError::InvalidInput {
                what: "branch name",
                value: remote.branch.clone(),
                reason: err.to_string(),
            }
        })?;
        Ok(Target {
            is_http: matches!(url.scheme, gix::url::Scheme::Https | gix::url::Scheme::Http),
            refspec: format!("+{remote_ref}:refs/remotes/origin/{branch}"),
            url,
            display_url,
            branch,
            remote_ref,
            credentials: remote.credentials.clone(),
        })
    }
}

fn check_scheme(url: &gix::Url, remote: &Remote, display_url: &str) -> Result<(), GitError> {
    use gix::url::Scheme;
    let refuse = |reason: &str| {
        Err(GitError::UnsupportedScheme {
            url: display_url.to_string(),
            reason: reason.to_string(),
        })
    };
    match &url.scheme {
        Scheme::Https | Scheme::File => Ok(()),
        Scheme::Http if !remote.allow_insecure_http => refuse(
            "http:// is neither encrypted nor authenticated; use the https:// URL of the \
             repository (http:// is accepted only with `allow_insecure_http`, for test servers)",
        ),
        Scheme::Http if remote.credentials.is_some() => refuse(
            "credentials are never sent over http://; use the https:// URL of the repository",
        ),
        Scheme::Http => Ok(()),
        Scheme::Ssh => refuse(
            "ssh is not supported; use the https:// URL of the repository with a token in a \
             credentials file (or file:// for a repository on this machine)",
        ),
        Scheme::Git => refuse(
            "git:// is neither encrypted nor authenticated; use the https:// URL of the \
             repository",
        ),
        _ => refuse(
            "only https:// (or file:// and local paths, for a repository on this machine) \
             is supported",
        ),
    }
}
