//! Milliseconds since the Unix epoch as an RFC 3339 UTC time, for messages people read
//! ("token revoked at 2025-03-01T12:00:00Z"). Pure arithmetic (no clock, no time crate), and
//! total: every `u64` formats without overflow.
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

/// `ms` as `YYYY-MM-DDTHH:MM:SSZ` (UTC, proleptic Gregorian).
pub fn format_ms(ms: u64) -> String {
    let secs = ms / 1_000;
    // At most u64::MAX / 86_400_000 ≈ 2.1e11 days: far inside i64, and so is every step below.
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 → (year, month, day): Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(format_ms(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_ms(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(format_ms(1_740_830_400_999), "2025-03-01T12:00:00Z");
        assert_eq!(format_ms(4_102_444_799_000), "2099-12-31T23:59:59Z");
    }

    #[test]
    fn every_u64_formats() {
        assert!(format_ms(u64::MAX).ends_with('Z'));
    }
}
