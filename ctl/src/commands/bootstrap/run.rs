//! One run of `cluster bootstrap`: phase 1 initialises the members (unless a cluster
//! exists), phase 2 waits until they follow one leader (with `--wait`).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use tokio::time::Instant;
use tonic::Code;

use super::{
    decide, denied, formed, one_line, probe_all, Decision, Probe, Probes, Rows, Wanted,
    ATTEMPT_TIMEOUT, POLL_INTERVAL,
};
use crate::cli::AdminTokenArgs;
use crate::client::{Client, RpcError, Security};
use crate::commands::admin_token::{self, TokenOut};
use crate::settings::Settings;
use crate::views::formation::AdminTokenView;

/// One bootstrap run.
pub(super) struct Run {
    pub(super) wanted: Wanted,
    pub(super) endpoints: Vec<String>,
    pub(super) security: Security,
    pub(super) rows: Rows,
    pub(super) deadline: Instant,
    pub(super) timeout: Duration,
}

impl Run {
    /// Phase 1: initialise the members, unless a cluster exists already. Returns what
    /// became of the admin token.
    pub(super) async fn initialise(
        &mut self,
        out: &AdminTokenArgs,
        settings: &Settings,
    ) -> Result<AdminTokenView> {
        let mut file: Option<TokenOut> = None;
        loop {
            let probes = probe_all(&self.endpoints, &self.security).await?;
            self.record(&probes);
            match decide(&self.wanted, &probes) {
                Decision::Formed { via, differs } => {
                    if let Some(voters) = differs {
                        eprintln!(
                            "moorctl: note: the cluster already exists (member {via} knows it) and \
                             its voters {voters:?} differ from the --member list; nothing was \
                             initialised. Change membership with `moorctl cluster add/promote/remove`."
                        );
                    }
                    for (e, p) in &probes {
                        if let Probe::Status(s) = p {
                            let outcome = self.rows.get(e).map(|r| r.outcome.as_str());
                            // `joined`: as `record` just noted it, from this very round.
                            if !s.members.is_empty()
                                && matches!(outcome, Some("not reached" | "joined"))
                            {
                                self.set(e, "already initialised");
                            }
                        }
                    }
                    return Ok(admin_token::none_issued());
                }
                Decision::Initialise { voters, targets } => {
                    for (id, endpoint) in &targets {
                        if let Some(row) = self.rows.get_mut(endpoint) {
                            row.peer_addr = voters.get(id).cloned();
                        }
                    }
                    if file.is_none() {
                        file = Some(admin_token::reserve(out)?);
                    }
                    if let Some(tokens) = self.init_all(&voters, &targets).await? {
                        let file = file.take().context("reserved above")?;
                        return self.save_token(file, tokens, settings);
                    }
                }
                Decision::Misconfigured(why) => bail!(
                    "the members answering do not match the --member list: {why}; nothing \
                     was initialised"
                ),
                Decision::Waiting(_) => {}
            }
            if Instant::now() >= self.deadline {
                return Err(self.not_initialised(&probes));
            }
            // Polls members that are still starting; bounded by the deadline.
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Sends `ClusterInit` with `voters` to each of `targets` (id → endpoint). `Some` when
    /// one of them took it (or had taken it before): the admin tokens returned, by member.
    async fn init_all(
        &mut self,
        voters: &BTreeMap<u64, String>,
        targets: &BTreeMap<u64, String>,
    ) -> Result<Option<Vec<(u64, String)>>> {
        let init_msg: HashMap<u64, String> = voters.clone().into_iter().collect();
        let mut accepted = false;
        let mut tokens = Vec::new();
        for (&id, endpoint) in targets {
            let mut c = Client::new(
                std::slice::from_ref(endpoint),
                ATTEMPT_TIMEOUT,
                self.security.clone(),
            );
            match c.cluster_init(init_msg.clone()).await {
                Ok(answer) => {
                    self.set(endpoint, "initialised");
                    tokens.push((id, answer.admin_token));
                    accepted = true;
                }
                Err(e) if e.code() == Some(Code::FailedPrecondition) => {
                    self.set(endpoint, "already initialised");
                    accepted = true;
                }
                Err(e) if denied(&e) => {
                    return Err(e).with_context(|| {
                        format!("member {id} at {endpoint} refused to initialise")
                    })
                }
                // Not applied, or unknown: the next round's status tells.
                Err(e @ (RpcError::Unavailable { .. } | RpcError::OutcomeUnknown { .. })) => {
                    eprintln!(
                        "moorctl: member {id} at {endpoint}: {}; asking again",
                        one_line(&e)
                    );
                }
                Err(e) => bail!(
                    "member {id} at {endpoint} refused to initialise: {}; check that the \
                     member listening at {endpoint} was started with id {id}",
                    one_line(&e)
                ),
            }
        }
        Ok(accepted.then_some(tokens))
    }

    /// Saves the admin token this run received; says so when it received none.
    fn save_token(
        &self,
        file: TokenOut,
        tokens: Vec<(u64, String)>,
        settings: &Settings,
    ) -> Result<AdminTokenView> {
        if tokens.is_empty() {
            // Every member had been initialised by someone else (another bootstrap run).
            return Ok(admin_token::none_issued());
        }
        let mut issued = tokens.iter().filter(|(_, t)| !t.is_empty());
        let Some((first, token)) = issued.next() else {
            return admin_token::save(file, "", settings);
        };
        let others: Vec<u64> = issued
            .filter(|(_, t)| t != token)
            .map(|(id, _)| *id)
            .collect();
        if !others.is_empty() {
            eprintln!(
                "moorctl: warning: members {others:?} returned other admin tokens than member \
                 {first}; only member {first}'s was written (each member keeps its own in its \
                 data dir, admin.token)"
            );
        }
        admin_token::save(file, token, settings)
    }

    fn set(&mut self, endpoint: &str, outcome: &str) {
        if let Some(row) = self.rows.get_mut(endpoint) {
            row.outcome = outcome.into();
        }
    }

    /// Notes each answering member's id, and whether it has joined since.
    fn record(&mut self, probes: &Probes) {
        for (e, p) in probes {
            let (Probe::Status(s), Some(row)) = (p, self.rows.get_mut(e)) else {
                continue;
            };
            row.id = Some(s.id);
            let has_state = !s.members.is_empty();
            match row.outcome.as_str() {
                "not reached" if has_state => row.outcome = "joined".into(),
                "not reached" => row.outcome = "waiting".into(),
                "waiting" if has_state => row.outcome = "joined".into(),
                _ => {}
            }
            if has_state && row.peer_addr.is_none() {
                row.peer_addr = s
                    .members
                    .iter()
                    .find(|m| m.id == s.id)
                    .map(|m| m.addr.clone());
            }
        }
    }

    /// The error when the deadline passed before the members could be initialised.
    fn not_initialised(&self, probes: &Probes) -> anyhow::Error {
        let detail: Vec<String> = probes
            .iter()
            .map(|(e, p)| match p {
                Probe::Unreachable(why) => format!("{e}: {why}"),
                Probe::Status(s) => format!("{e}: member {}, {} in term {}", s.id, s.state, s.term),
            })
            .collect();
        anyhow::anyhow!(
            "the members were not initialised within {} ms: bootstrap initialises only \
             when every endpoint answers and none has state. Start moord on every \
             listed member, check that --endpoints are their client addresses and that \
             this host reaches them, or give a larger --timeout-ms:\n    {}",
            self.timeout.as_millis(),
            detail.join("\n    ")
        )
    }

    /// Phase 2: with `wait`, waits until every listed member follows one leader; without,
    /// reports what one round finds. Returns the leader and its term, when formed.
    pub(super) async fn wait_formed(&mut self, wait: bool) -> Result<(Option<u64>, Option<u64>)> {
        loop {
            let probes = probe_all(&self.endpoints, &self.security).await?;
            self.record(&probes);
            match formed(&self.wanted, &probes) {
                Ok(l) => {
                    let term = probes.values().find_map(|p| match p {
                        Probe::Status(s) if s.id == l => Some(s.term),
                        _ => None,
                    });
                    return Ok((Some(l), term));
                }
                Err(_) if !wait => return Ok((None, None)),
                Err(why) if Instant::now() >= self.deadline => bail!(
                    "the cluster did not form within {} ms: {why}; check the members' logs \
                     (can they reach each other at their peer addresses?), or give a larger \
                     --timeout-ms",
                    self.timeout.as_millis()
                ),
                Err(_) => tokio::time::sleep(POLL_INTERVAL).await,
            }
        }
    }
}
