//! The numbered rules of the module docs as two pure decisions, so every kind of site answers
//! by the same code: [`admit`] (rules 1 and 2, before anything is done) and [`settle`] (rules 3
//! and 4, once the effect was attempted). A site keeps its own memory (in RAM for the
//! simulator, in a durable store for `moor-agent`) and does its own effect; what it must
//! remember and answer is decided here.

use moor_proto::site::Outcome;

use super::{Answer, Safety};

/// What rules 1 and 2 decided for one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    /// The site's highest accepted token after this call: raised when the call's token is
    /// higher (even when the call then ends as DUPLICATE or FAILED), unchanged when FENCED.
    /// A durable site must make a raised value durable before it answers or acts.
    pub highest_token: u64,
    /// `Some` when the call ends here (FENCED or DUPLICATE): nothing is applied or recorded.
    /// `None`: the call goes on to its effect, then [`settle`].
    pub answered: Option<Answer>,
}

/// Rules 1 (fencing) and 2 (dedupe) for a call with `fence_token` at a site whose highest
/// accepted token is `highest_token`. `recorded` looks the call's idempotency key up (the
/// digest recorded when it was applied); it is only asked when fencing let the call through.
/// [`Safety::Unsafe`] skips both rules but still tracks the highest token, so answers report
/// it.
pub fn admit(
    safety: Safety,
    highest_token: u64,
    fence_token: u64,
    recorded: impl FnOnce() -> Option<String>,
) -> Admission {
    let enforced = safety == Safety::Enforced;
    if enforced && fence_token < highest_token {
        return Admission {
            highest_token,
            answered: Some(answer(
                Outcome::Fenced,
                highest_token,
                String::new(),
                String::new(),
            )),
        };
    }
    let highest_token = highest_token.max(fence_token);
    let answered = if enforced {
        recorded().map(|digest| answer(Outcome::Duplicate, highest_token, digest, String::new()))
    } else {
        None
    };
    Admission {
        highest_token,
        answered,
    }
}

/// Why an admitted call's effect did not happen (rule 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What went wrong, for the caller (and the operator reading it).
    pub error: String,
    /// The resource's digest as it now is at the site (empty if absent).
    pub observed_digest: String,
}

/// The answer to an admitted call once its effect was attempted, and what to record under
/// its key: `Ok(digest)` is rule 4 (APPLIED; record `digest` under the key), `Err` is rule 3
/// (FAILED; record nothing, so a later attempt may apply the key).
pub fn settle(highest_token: u64, effect: Result<String, Failure>) -> (Answer, Option<String>) {
    match effect {
        Ok(digest) => (
            answer(
                Outcome::Applied,
                highest_token,
                digest.clone(),
                String::new(),
            ),
            Some(digest),
        ),
        Err(failure) => (
            answer(
                Outcome::Failed,
                highest_token,
                failure.observed_digest,
                failure.error,
            ),
            None,
        ),
    }
}

fn answer(outcome: Outcome, highest_token: u64, observed_digest: String, error: String) -> Answer {
    Answer {
        outcome,
        observed_digest,
        error,
        highest_token,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const E: Safety = Safety::Enforced;

    #[test]
    fn fencing_comes_before_dedupe_and_never_lowers_the_highest_token() {
        let fenced = admit(E, 5, 4, || panic!("a fenced call is not looked up"));
        assert_eq!(fenced.highest_token, 5);
        let answer = fenced.answered.expect("ends here");
        assert_eq!(answer.outcome, Outcome::Fenced);
        assert_eq!(answer.highest_token, 5);

        let equal = admit(E, 5, 5, || None);
        assert_eq!((equal.highest_token, equal.answered), (5, None));
        let higher = admit(E, 5, 9, || None);
        assert_eq!((higher.highest_token, higher.answered), (9, None));
    }

    #[test]
    fn a_recorded_key_is_a_duplicate_that_still_raises_the_token() {
        let dup = admit(E, 5, 7, || Some("d1".into()));
        assert_eq!(dup.highest_token, 7);
        let answer = dup.answered.expect("ends here");
        assert_eq!(answer.outcome, Outcome::Duplicate);
        assert_eq!(answer.observed_digest, "d1");
        assert_eq!(answer.highest_token, 7);
    }

    #[test]
    fn unsafe_mode_lets_everything_through_but_tracks_the_token() {
        let low = admit(Safety::Unsafe, 5, 1, || panic!("dedupe is off"));
        assert_eq!((low.highest_token, low.answered), (5, None));
    }

    #[test]
    fn a_failure_records_nothing_and_a_success_records_its_digest() {
        let (answer, record) = settle(
            3,
            Err(Failure {
                error: "boom".into(),
                observed_digest: "old".into(),
            }),
        );
        assert_eq!(answer.outcome, Outcome::Failed);
        assert_eq!(
            (answer.error.as_str(), answer.observed_digest.as_str()),
            ("boom", "old")
        );
        assert_eq!(record, None);
        let (answer, record) = settle(3, Ok("d2".into()));
        assert_eq!(answer.outcome, Outcome::Applied);
        assert_eq!(answer.observed_digest, "d2");
        assert_eq!(answer.highest_token, 3);
        assert_eq!(record.as_deref(), Some("d2"));
    }
}
