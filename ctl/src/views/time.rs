//! Times for people. Times travel as milliseconds since the Unix epoch; machine formats keep
//! those numbers (`created_ms`, ...), tables show them as UTC times.

/// `ms` since the Unix epoch as an RFC 3339 UTC time to the second; 0 (never) as `-`.
pub fn utc(ms: u64) -> String {
    if ms == 0 {
        return "-".to_string();
    }
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A duration in milliseconds for people: `850 ms`, `12.4 s`, `3 min 5 s`.
pub fn duration(ms: u64) -> String {
    match ms {
        0..=999 => format!("{ms} ms"),
        1_000..=59_999 => format!("{:.1} s", ms as f64 / 1000.0),
        _ => format!("{} min {} s", ms / 60_000, ms % 60_000 / 1000),
    }
}

/// Milliseconds as a duration with the largest unit that divides them (`5m`, `7d`, `1500ms`),
/// as flags and files write durations.
pub fn one_unit(ms: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1_000, "s"),
    ];
    UNITS
        .iter()
        .find(|(per, _)| ms > 0 && ms % per == 0)
        .map_or_else(
            || format!("{ms}ms"),
            |(per, unit)| format!("{}{unit}", ms / per),
        )
}

/// Now, in milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(utc(0), "-");
        assert_eq!(utc(1_700_000_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(utc(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1), "1970-01-01T00:00:00Z");
        assert_eq!(duration(850), "850 ms");
        assert_eq!(duration(12_400), "12.4 s");
        assert_eq!(duration(185_000), "3 min 5 s");
    }

    #[test]
    fn intervals_read_as_written() {
        assert_eq!(one_unit(300_000), "5m");
        assert_eq!(one_unit(7 * 86_400_000), "7d");
        assert_eq!(one_unit(90 * 60_000), "90m");
        assert_eq!(one_unit(30_000), "30s");
        assert_eq!(one_unit(1_500), "1500ms");
        assert_eq!(one_unit(0), "0ms");
    }
}
