//! Views of a new cluster: `cluster init`, `cluster bootstrap`, and what became of the
//! admin token (where it was written, never the token).

use serde::Serialize;

use super::cells::opt;
use super::cluster::MemberView;
use super::table::grid;
use super::View;

/// `cluster init`.
#[derive(Debug, Clone, Serialize)]
pub struct InitView {
    pub initialized: bool,
    /// The initial voters asked for; empty: the member that received the request, alone.
    pub members: Vec<MemberView>,
    pub admin_token: AdminTokenView,
}

impl View for InitView {
    fn table(&self) -> String {
        let head = if self.members.is_empty() {
            "cluster initialized: the receiving member is its only voter".to_string()
        } else {
            let rows = self
                .members
                .iter()
                .map(|m| vec![m.id.to_string(), m.addr.clone()])
                .collect();
            format!(
                "cluster initialized with {} voters\n\n{}",
                self.members.len(),
                grid(Some(&["ID", "PEER ADDR"]), rows, &[0])
            )
        };
        format!("{head}\n\n{}", self.admin_token.table())
    }
}

/// What became of a new cluster's admin token: where it was written (never the token) and
/// what to do next.
#[derive(Debug, Clone, Serialize)]
pub struct AdminTokenView {
    /// The file it was written to; none when no token was issued.
    pub file: Option<String>,
    /// The next step: the command that uses it, or why there is none.
    pub next: String,
}

impl AdminTokenView {
    fn table(&self) -> String {
        match &self.file {
            Some(f) => format!(
                "admin token written to {f} (mode 0600; it is shown nowhere)\n{}",
                self.next
            ),
            None => self.next.clone(),
        }
    }
}

/// The result of `cluster bootstrap`.
#[derive(Debug, Clone, Serialize)]
pub struct BootstrapView {
    /// Per endpoint, what this run did there.
    pub members: Vec<BootstrapMember>,
    /// The leader once formed (`--wait`), else the leader known when bootstrap returned.
    pub leader_id: Option<u64>,
    pub term: Option<u64>,
    pub admin_token: AdminTokenView,
}

/// One endpoint in [`BootstrapView`].
#[derive(Debug, Clone, Serialize)]
pub struct BootstrapMember {
    /// The client address asked.
    pub endpoint: String,
    /// The member's id, once it answered.
    pub id: Option<u64>,
    /// Its peer address in the voter list, once known.
    pub peer_addr: Option<String>,
    /// `initialised` (by this run), `already initialised`, `joined` (replicated to it),
    /// `waiting` (no cluster state yet), `not reached`.
    pub outcome: String,
}

impl View for BootstrapView {
    fn table(&self) -> String {
        let rows = self
            .members
            .iter()
            .map(|m| {
                vec![
                    opt(m.id),
                    m.endpoint.clone(),
                    m.peer_addr.clone().unwrap_or_else(|| "-".into()),
                    m.outcome.clone(),
                ]
            })
            .collect();
        let leader = match (self.leader_id, self.term) {
            (Some(l), Some(t)) => format!("cluster formed: leader {l}, term {t}"),
            _ => "cluster initialised; no leader confirmed yet (use --wait to wait for one)"
                .to_string(),
        };
        format!(
            "{}\n\n{leader}\n{}",
            grid(
                Some(&["ID", "ENDPOINT", "PEER ADDR", "OUTCOME"]),
                rows,
                &[0]
            ),
            self.admin_token.table()
        )
    }
}
