//! Unit tests of `feature.rs`, kept out of the file that apply runs (test code may unwrap).

use super::*;

#[test]
fn an_absent_level_is_the_base_and_is_left_out() {
    assert_eq!(FeatureLevel::reported(0), BASE);
    assert_eq!(FeatureLevel::reported(2), FeatureLevel(2));
    assert!(FeatureLevel::default().is_base());
    assert!(FeatureLevel(2).has(STEP_ATTEMPTS));
    assert!(!BASE.has(STEP_ATTEMPTS));
    assert!(SUPPORTED.has(SITE_REACHABILITY) && !STEP_ATTEMPTS.has(SITE_REACHABILITY));
    assert!(unsupported(SUPPORTED).is_none());
    let m = unsupported(FeatureLevel(SUPPORTED.0 + 1)).unwrap();
    assert!(
        m.contains(&format!("feature level {}", SUPPORTED.0 + 1))
            && m.contains(&format!("up to {SUPPORTED}")),
        "{m}"
    );
}
