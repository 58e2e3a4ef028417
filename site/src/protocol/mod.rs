//! The site protocol's rules: how one site answers an apply or delete, and what it must
//! remember to answer it. This is the behaviour the WF2/WF3/WF5 checkers verify, so it lives in
//! one place that every kind of site (the simulator and the real agent) answers by.
//!
//! Pure on purpose: no clock, I/O, randomness, tokio or tonic. Whether an attempt fails is
//! decided by the caller and passed in, so the rules can be tested on their own and reused by a
//! site whose effects are real.
//!
//! The rules, in order, for an apply or delete:
//! 1. fencing: a token lower than the highest accepted is refused (FENCED), nothing changes;
//!    otherwise the token is accepted and becomes the highest if it is higher. Equal tokens
//!    are all accepted, in any order: they come from one leader's term.
//! 2. dedupe: a key (execution, step) already applied here returns its recorded digest
//!    (DUPLICATE) and nothing is applied again.
//! 3. failure: if the attempt is to fail, FAILED, nothing changes and nothing is recorded for
//!    the key, so a later attempt may apply it.
//! 4. effect: the resource is written (or removed) and the result recorded under the key.
//!
//! In unsafe mode (WF6 negative control) rules 1 and 2 are skipped: every call applies.
//!
//! Files: this one (the vocabulary: [`Safety`], [`Call`], [`Change`], [`Answer`]), `rules`
//! (the rules as two pure decisions, [`admit`] and [`settle`], which every kind of site answers
//! by: the simulator's [`SiteState`] in memory, `moor-agent` over its durable store), `state`
//! ([`SiteState`]: one simulated site's memory and the rules applied to it), `small_map` (the
//! compact map a simulated site keeps its entries in).

pub mod rules;
mod small_map;
mod state;

use moor_proto::site::{ApplyResponse, Outcome};

pub use rules::{admit, settle, Admission, Failure};
pub use state::SiteState;

/// Whether fencing and dedupe (rules 1 and 2) are enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Safety {
    /// The real protocol.
    Enforced,
    /// Fencing and dedupe off (`--unsafe-no-fencing-no-dedupe`): the WF6 negative control,
    /// which proves the checkers see the duplicates and fencing breaks they claim to check.
    Unsafe,
}

/// What a mutating call does at the site.
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    Apply {
        properties_json: &'a str,
        desired_digest: &'a str,
    },
    Delete,
}

/// One mutating call, as the site sees it.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub environment: &'a str,
    pub resource: &'a str,
    pub execution_id: &'a str,
    pub step: u32,
    pub fence_token: u64,
    pub change: Change<'a>,
}

/// The site's answer to a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub outcome: Outcome,
    pub observed_digest: String,
    pub error: String,
    pub highest_token: u64,
}

impl From<Answer> for ApplyResponse {
    fn from(answer: Answer) -> ApplyResponse {
        ApplyResponse {
            outcome: answer.outcome as i32,
            observed_digest: answer.observed_digest,
            error: answer.error,
            highest_token: answer.highest_token,
        }
    }
}
