//! [`Callers`]: who may call a site's `SiteAgent` service. Whoever can call a site can send
//! any fence token, and one call with a token above every real term would fence the real
//! controllers out of that site for good; so over TLS a call is answered only when the
//! caller's client certificate (already verified against the CA by the handshake) carries a
//! member's DNS name, `member-<id>.moor`. The check runs first in every handler, before the
//! request is even read: a refused call is not validated, applied, fenced or recorded, and a
//! certificate of the CA that is not a member's (an operator's, a CI job's) cannot move a
//! site's fence token. Shared by `moor-sitesim` and `moor-agent`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use moor_tls::{member_id_of, subject_of};
use tonic::Request;

/// A `SiteAgent` call over TLS whose client certificate names no member.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("only Moor members (certificate DNS name member-<id>.moor) may call a site; {presented}")]
pub struct NotAMember {
    /// What the caller presented, for the error and the log.
    pub presented: String,
}

/// Who may call: everyone (plaintext) or members only (TLS). Cheap to clone.
#[derive(Clone, Default)]
pub struct Callers {
    members_only: bool,
    refusals: Arc<Refusals>,
}

/// Counts callers refused for not being members, and says so in the log at most every 10 s:
/// someone trying must be visible to an operator without flooding the log.
#[derive(Default)]
struct Refusals {
    count: AtomicU64,
    last_log: Mutex<Option<Instant>>,
}

impl Refusals {
    fn record(&self, peer: &str, presented: &str) {
        let n = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::debug!(peer, presented, "SiteAgent call refused: not a member");
        let Ok(mut last) = self.last_log.lock() else {
            return;
        };
        if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
            *last = Some(Instant::now());
            tracing::warn!(peer, presented, refused_total = n, "SiteAgent call refused: the client certificate names no member (logged at most every 10 s; debug logs show each)");
        }
    }
}

impl Callers {
    /// Every caller may call (plaintext).
    pub fn anyone() -> Self {
        Callers::default()
    }

    /// Only members may call: for a server whose TLS handshake already verified the client
    /// certificate against the CA.
    pub fn members_only() -> Self {
        Callers {
            members_only: true,
            refusals: Arc::default(),
        }
    }

    /// Refuses the call unless its verified client certificate names a member. Runs before
    /// anything else in a `SiteAgent` handler.
    pub fn check<T>(&self, request: &Request<T>) -> Result<(), NotAMember> {
        if !self.members_only {
            return Ok(());
        }
        let certs = request.peer_certs();
        let leaf = certs.as_ref().and_then(|c| c.first());
        if leaf.is_some_and(|c| !member_id_of(c).is_empty()) {
            return Ok(());
        }
        let presented = match leaf.and_then(|c| subject_of(c)) {
            Some(s) => format!(
                "this client's certificate (CN {}) names no member",
                s.common_name
            ),
            None if leaf.is_some() => "this client's certificate names no member".to_string(),
            None => "this client presented no certificate".to_string(),
        };
        let peer = request
            .remote_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        self.refusals.record(&peer, &presented);
        Err(NotAMember { presented })
    }
}
