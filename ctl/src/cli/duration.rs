//! Durations on the command line: a whole number and one unit, `45s`, `30m`, `12h`, `30d`
//! (`--ttl`, `--since`). One unit only: `1h30m` is `90m`, which is as short to write and
//! cannot be misread.

use std::time::Duration;

/// Longest duration accepted: ten years, far beyond any token lifetime or audit window, and
/// far below an overflow in milliseconds.
const MAX_SECONDS: u64 = 10 * 366 * 86_400;

const EXAMPLE: &str = "a whole number and a unit, s, m, h or d, e.g. 30m, 12h, 720h or 30d";

/// Parses `45s`, `30m`, `12h`, `30d`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    if digits.is_empty() {
        return Err(format!("{s:?} is not a duration: give {EXAMPLE}"));
    }
    let per: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "" => {
            return Err(format!(
                "{s:?} has no unit: give {EXAMPLE} (a bare number could be seconds or hours)"
            ))
        }
        _ => return Err(format!("{s:?}: unknown unit {unit:?}; give {EXAMPLE}")),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?} is too long a duration; at most 3660d"))?;
    match n.checked_mul(per) {
        Some(0) => Err(format!("{s:?} is no time at all; give {EXAMPLE}")),
        Some(secs) if secs <= MAX_SECONDS => Ok(Duration::from_secs(secs)),
        _ => Err(format!("{s:?} is too long a duration; at most 3660d")),
    }
}

/// A token's lifetime: `--ttl 720h`, or `--ttl never`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ttl {
    After(Duration),
    Never,
}

impl Ttl {
    /// Seconds, as the proto takes them: 0 is never.
    pub fn seconds(self) -> u64 {
        match self {
            Ttl::After(d) => d.as_secs(),
            Ttl::Never => 0,
        }
    }
}

/// Parses `--ttl`: a duration, or `never`.
pub fn parse_ttl(s: &str) -> Result<Ttl, String> {
    if s.trim() == "never" {
        return Ok(Ttl::Never);
    }
    parse_duration(s)
        .map(Ttl::After)
        .map_err(|e| format!("{e}; or never"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let secs = |s: &str| parse_duration(s).unwrap().as_secs();
        assert_eq!(secs("45s"), 45);
        assert_eq!(secs("30m"), 1800);
        assert_eq!(secs("12h"), 43_200);
        assert_eq!(secs("720h"), 2_592_000);
        assert_eq!(secs("30d"), 2_592_000);
        assert_eq!(secs(" 1d "), 86_400);
        assert_eq!(parse_ttl("never"), Ok(Ttl::Never));
        assert_eq!(parse_ttl("1h").unwrap().seconds(), 3600);
    }

    #[test]
    fn bad_durations_say_what_is_expected() {
        for (bad, says) in [
            ("", "not a duration"),
            ("h", "not a duration"),
            ("12", "no unit"),
            ("12x", "unknown unit \"x\""),
            ("1h30m", "unknown unit \"h30m\""),
            ("1.5h", "unknown unit \".5h\""),
            ("-1h", "not a duration"),
            ("0m", "no time at all"),
            ("4000d", "too long"),
            ("99999999999999999999999s", "too long"),
        ] {
            let e = parse_duration(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
            assert!(e.contains(&format!("{bad:?}")), "{bad}: {e}");
        }
        assert!(parse_ttl("soon").unwrap_err().contains("or never"));
    }
}
