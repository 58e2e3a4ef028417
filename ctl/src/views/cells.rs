//! Table cells: text made safe for a terminal, and the short forms tables use for empty
//! values, labels and digests.

use std::collections::BTreeMap;

/// Escapes control characters (except newline and tab, which tables lay out), so that
/// printing a value cannot move the cursor or change the terminal.
pub(crate) fn escape_controls(text: &str) -> String {
    if !text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return text.to_string();
    }
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// How many hex characters of a digest a table shows.
pub const SHORT_DIGEST: usize = 12;

/// The first [`SHORT_DIGEST`] characters of a digest; empty as `-`.
pub fn short_digest(digest: &str) -> String {
    if digest.is_empty() {
        "-".to_string()
    } else {
        digest.chars().take(SHORT_DIGEST).collect()
    }
}

/// `k=v,k2=v2` in key order; none as `-`.
pub(crate) fn labels_cell(labels: &BTreeMap<String, String>) -> String {
    if labels.is_empty() {
        return "-".to_string();
    }
    escape_controls(
        &labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(","),
    )
}

pub(crate) fn dash(s: &str) -> String {
    if s.is_empty() {
        "-".to_string()
    } else {
        escape_controls(s)
    }
}

/// A number that may be absent; none as `-`.
pub(crate) fn opt(v: Option<u64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests() {
        assert_eq!(short_digest(&"ab".repeat(32)), "abababababab");
        assert_eq!(short_digest(""), "-");
    }
}
