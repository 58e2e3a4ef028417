//! Name patterns: `*` matches any run of characters (including none), every other
//! character matches itself. Roles and token scopes use them (`rollout.*`, `edge-*`).
//!
//! Written here rather than taken from a regex crate: the language is one wildcard, it runs
//! inside replicated apply (no panic, bounded work), and a pattern an operator writes must
//! mean the same thing on every member of every release.
// Runs inside replicated apply: a panic here would fire on every member at the same index.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::unreachable
    )
)]

/// Longest pattern a role or token may hold: bounds matching work inside apply.
pub const MAX_PATTERN_LEN: usize = 253;

/// True when `text` matches `pattern` as a whole.
///
/// Greedy matching with one backtrack point (the last `*` seen): O(pattern × text) at
/// worst, no recursion. Works on bytes, which is exact for UTF-8: a literal byte run can
/// only match at a character boundary, and `*` may swallow any bytes.
pub fn matches(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    // Position of the last `*` in the pattern and the text position it was tried at.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match (p.get(pi), t.get(ti)) {
            (Some(b'*'), _) => {
                star = Some((pi, ti));
                pi += 1;
            }
            (Some(pc), Some(tc)) if pc == tc => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                // Let the last `*` swallow one more byte and retry after it.
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|&c| c == b'*'))
}

/// True when `text` matches any of `patterns`.
pub fn matches_any(patterns: &[String], text: &str) -> bool {
    patterns.iter().any(|p| matches(p, text))
}

/// Why `pattern` cannot be stored, if it cannot: empty, too long, or holding whitespace or
/// control characters (which no Moor name has, so such a pattern is a typo).
pub fn check(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() {
        return Err("empty pattern: write a name, or `*` for any".into());
    }
    if pattern.len() > MAX_PATTERN_LEN {
        return Err(format!(
            "pattern of {} bytes: at most {MAX_PATTERN_LEN}",
            pattern.len()
        ));
    }
    if pattern.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "pattern {pattern:?} holds whitespace or a control character: no name does"
        ));
    }
    Ok(())
}

/// `[a, b]`: patterns as messages show them.
pub fn show(patterns: &[String]) -> String {
    format!("[{}]", patterns.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_patterns_match_only_themselves() {
        assert!(matches("web", "web"));
        assert!(!matches("web", "web2"));
        assert!(!matches("web", "we"));
        assert!(!matches("web", ""));
        assert!(matches("", ""));
        assert!(!matches("", "a"));
    }

    #[test]
    fn star_matches_any_run_including_none() {
        assert!(matches("*", ""));
        assert!(matches("*", "anything.at.all"));
        assert!(matches("**", "x"));
        assert!(matches("edge-*", "edge-"));
        assert!(matches("edge-*", "edge-eu-1"));
        assert!(!matches("edge-*", "core-1"));
        assert!(!matches("edge-*", "edge"));
        assert!(matches("*-1", "core-1"));
        assert!(!matches("*-1", "core-12"));
        assert!(matches("rollout.*", "rollout.set_parallel"));
        assert!(!matches("rollout.*", "rollouts.start"));
        assert!(matches("a*b*c", "abc"));
        assert!(matches("a*b*c", "a-b-b-c"));
        assert!(!matches("a*b*c", "a-c-b"));
    }

    #[test]
    fn backtracking_finds_a_later_split() {
        // The first `b` is a false start: the `*` must swallow it and match the second.
        assert!(matches("*bc", "abbc"));
        assert!(matches("a*aab", "aaaab"));
        assert!(!matches("a*aab", "aaaa"));
        assert!(matches("*.*.*", "a.b.c"));
        assert!(!matches("*.*.*", "a.b"));
    }

    #[test]
    fn multibyte_text_matches_by_character() {
        assert!(matches("é*", "été"));
        assert!(matches("*é", "été"));
        assert!(!matches("é", "e"));
    }

    #[test]
    fn long_adversarial_inputs_stay_cheap() {
        let text = "a".repeat(2_000);
        let pattern = format!("{}b", "*a".repeat(100));
        assert!(!matches(&pattern, &text));
    }

    #[test]
    fn check_refuses_what_no_name_can_match() {
        assert!(check("edge-*").is_ok());
        assert!(check("").unwrap_err().contains("empty"));
        assert!(check("a b").unwrap_err().contains("whitespace"));
        assert!(check(&"x".repeat(MAX_PATTERN_LEN + 1))
            .unwrap_err()
            .contains("at most"));
        assert_eq!(show(&["a".into(), "b*".into()]), "[a, b*]");
    }
}
