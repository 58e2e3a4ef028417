//! The network half: fetch one branch of a remote into the cache and return its tip.
//!
//! gix negotiates with the remote-tracking ref of the previous fetch, so an unchanged branch
//! costs one ref listing and no pack, and a changed one only the new objects. The refspec is
//! forced (`+`), so a force-pushed branch is followed like any other move.
//!
//! Errors are sorted here: what the remote said (unreachable, authentication, no such branch)
//! is final; what went wrong on the local side (negotiation over local history, writing the
//! pack or the refs) is [`Failure::Cache`], which the caller cures by re-creating the cache.

use std::error::Error as StdError;
use std::sync::atomic::{AtomicBool, Ordering};

use gix::remote::Direction;

use crate::error::{chain, Failure, GitError};
use crate::remote::Target;

/// Fetches `target`'s branch into `repo` and returns the commit the remote's branch points to.
#[expect(
    clippy::result_large_err,
    reason = "the credentials closure's type is gix's"
)]
pub(crate) fn fetch_branch(
    repo: &gix::Repository,
    target: &Target,
    interrupt: &AtomicBool,
) -> Result<gix::ObjectId, Failure> {
    if target.is_http {
        // reqwest is built without a default crypto provider (so neither aws-lc-rs nor OpenSSL
        // is compiled): install ring's, unless the process has installed one already.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    let remote = repo
        .remote_at(target.url.clone())
        .map_err(|err| invalid_url(target, &err))?
        .with_fetch_tags(gix::remote::fetch::Tags::None)
        .with_refspecs([target.refspec.as_str()], Direction::Fetch)
        .map_err(|err| GitError::InvalidInput {
            what: "branch name",
            value: target.branch.clone(),
            reason: chain(&err),
        })?;
    let connection = remote
        .connect(Direction::Fetch)
        .map_err(|err| connect_failure(target, &err))?
        .with_credentials(|action| answer_credentials(target, action));
    let prepare = connection
        .prepare_fetch(gix::progress::Discard, Default::default())
        .map_err(|err| handshake_failure(target, interrupt, &err))?;
    let tip = prepare
        .ref_map()
        .mappings
        .iter()
        .find(|mapping| mapping.remote.as_name() == Some(target.remote_ref.as_str().into()))
        .and_then(|mapping| mapping.remote.as_id())
        .map(ToOwned::to_owned)
        .ok_or_else(|| GitError::BranchNotFound {
            url: target.display_url.clone(),
            branch: target.branch.clone(),
        })?;
    prepare
        .receive(gix::progress::Discard, interrupt)
        .map_err(|err| receive_failure(target, interrupt, err))?;
    Ok(tip)
}

/// Answers gix's credential requests from the source's credentials, and only them: no
/// credential helper, no prompt.
#[expect(clippy::result_large_err, reason = "the signature is gix's")]
fn answer_credentials(
    target: &Target,
    action: gix::credentials::helper::Action,
) -> gix::credentials::protocol::Result {
    use gix::credentials::helper::Action;
    match (action, &target.credentials) {
        (Action::Get(context), Some(credentials)) => {
            let (user, password) = credentials.user_and_password();
            Ok(Some(gix::credentials::protocol::Outcome {
                identity: gix::sec::identity::Account {
                    username: user.to_string(),
                    password: password.to_string(),
                    oauth_refresh_token: None,
                },
                next: context.into(),
            }))
        }
        _ => Ok(None),
    }
}

fn invalid_url(target: &Target, err: &(dyn StdError + 'static)) -> GitError {
    GitError::InvalidInput {
        what: "URL",
        value: target.display_url.clone(),
        reason: chain(err),
    }
}

fn unreachable(target: &Target, reason: String) -> Failure {
    Failure::Final(GitError::Unreachable {
        url: target.display_url.clone(),
        reason,
    })
}

fn connect_failure(target: &Target, err: &gix::remote::connect::Error) -> Failure {
    use gix::remote::connect::Error;
    match err {
        Error::FileUrl { .. } | Error::InvalidRemoteRepositoryPath { .. } => {
            unreachable(target, "no Git repository at this path".to_string())
        }
        _ => unreachable(target, chain(err)),
    }
}

/// Failures of the handshake and the ref listing: all on the remote's side of the wire.
fn handshake_failure(
    target: &Target,
    interrupt: &AtomicBool,
    err: &gix::remote::fetch::prepare::Error,
) -> Failure {
    if interrupt.load(Ordering::Relaxed) {
        return interrupted(target);
    }
    if let Some(reason) = refused_authentication(err) {
        return Failure::Final(GitError::AuthenticationRefused {
            url: target.display_url.clone(),
            reason,
        });
    }
    let reason = chain(err);
    if target.url.scheme == gix::url::Scheme::File && reason.contains("upload-pack") {
        return unreachable(
            target,
            format!("{reason} (file:// and local paths need the `git` program on PATH)"),
        );
    }
    unreachable(target, reason)
}

/// Why the remote refused authentication, if that is what `err` says. The errors on the way
/// are `#[error(transparent)]`, which hides them from `source()`: match them by shape.
fn refused_authentication(err: &gix::remote::fetch::prepare::Error) -> Option<String> {
    use gix::protocol::handshake::Error as Handshake;
    use gix::protocol::transport::client::Error as Client;
    use gix::remote::{fetch::prepare::Error as Prepare, ref_map::Error as RefMap};
    let client = match err {
        Prepare::RefMap(RefMap::Handshake(Handshake::EmptyCredentials)) => {
            return Some(
                "it asks for credentials and the source has none; forges also ask for \
                 repositories that do not exist, so check the URL too"
                    .to_string(),
            )
        }
        Prepare::RefMap(RefMap::Handshake(Handshake::InvalidCredentials { .. })) => {
            return Some("it rejected the credentials given".to_string())
        }
        Prepare::RefMap(RefMap::Handshake(Handshake::Transport(client)))
        | Prepare::RefMap(RefMap::Transport(client)) => client,
        _ => return None,
    };
    match client {
        Client::AuthenticationRefused(reason) => Some((*reason).to_string()),
        Client::Io(io)
            if io.kind() == std::io::ErrorKind::PermissionDenied
                || io.to_string().contains("status 403") =>
        {
            Some(io.to_string())
        }
        _ => None,
    }
}

/// Failures while negotiating, receiving the pack and updating refs.
fn receive_failure(
    target: &Target,
    interrupt: &AtomicBool,
    err: gix::remote::fetch::Error,
) -> Failure {
    use gix::protocol::fetch::Error as Protocol;
    use gix::remote::fetch::Error;
    if interrupt.load(Ordering::Relaxed) {
        return interrupted(target);
    }
    match &err {
        Error::NoMapping { .. } => Failure::Final(GitError::BranchNotFound {
            url: target.display_url.clone(),
            branch: target.branch.clone(),
        }),
        Error::Client(_)
        | Error::Fetch(
            Protocol::Client(_)
            | Protocol::FetchResponse(_)
            | Protocol::ReadRemainingBytes(_)
            | Protocol::MissingServerFeature { .. },
        ) => unreachable(target, chain(&err)),
        _ if is_network_io(&err) => unreachable(target, chain(&err)),
        _ => Failure::Cache(format!("fetching into the cache failed: {}", chain(&err))),
    }
}

/// Whether an I/O error somewhere in `err`'s chain is the connection's rather than the disk's.
fn is_network_io(err: &(dyn StdError + 'static)) -> bool {
    use std::io::ErrorKind;
    let mut source = Some(err);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                ErrorKind::ConnectionReset
                    | ErrorKind::ConnectionAborted
                    | ErrorKind::UnexpectedEof
                    | ErrorKind::TimedOut
                    | ErrorKind::BrokenPipe
            ) {
                return true;
            }
        }
        source = cause.source();
    }
    false
}

fn interrupted(target: &Target) -> Failure {
    Failure::Final(GitError::Interrupted {
        url: target.display_url.clone(),
    })
}
