//! Unit tests of `drift.rs`, kept out of the file that apply runs (test code may unwrap).

use super::*;

#[test]
fn durations_parse_with_units_and_refuse_nonsense() {
    assert_eq!(parse_duration_ms("5m"), Ok(300_000));
    assert_eq!(parse_duration_ms("30s"), Ok(30_000));
    assert_eq!(parse_duration_ms("45"), Ok(45_000));
    assert_eq!(parse_duration_ms("2h"), Ok(2 * HOUR_MS));
    assert_eq!(parse_duration_ms("1500ms"), Ok(1_500));
    for bad in ["", "m", "5d", "-1s", "1.5m", "99999999999999999999h"] {
        assert!(parse_duration_ms(bad).is_err(), "{bad}");
    }
}

#[test]
fn the_heal_history_stays_bounded_to_the_window() -> Result<(), serde_json::Error> {
    let mut env: Environment = serde_json::from_value(serde_json::json!({
        "name": "e", "site": "s", "blueprint": "b", "revision": 1, "inputs": {},
        "labels": {}, "applied": {}, "observed": {}, "status": "in_sync", "history": [],
        "current_execution": null, "queue": [], "latest_execution": null,
        "created_ms": 0, "updated_ms": 0
    }))?;
    for i in 0..200 {
        record_heal(&mut env, 1_000 + i);
    }
    assert_eq!(env.heals_ms.len(), MAX_HEALS_PER_HOUR as usize);
    assert_eq!(heals_in_last_hour(&env, 2_000), MAX_HEALS_PER_HOUR);
    assert_eq!(heals_in_last_hour(&env, 1_000 + 200 + HOUR_MS), 0);
    record_heal(&mut env, 10 * HOUR_MS);
    assert_eq!(env.heals_ms, vec![10 * HOUR_MS]);
    Ok(())
}
