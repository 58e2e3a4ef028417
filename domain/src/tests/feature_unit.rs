//! Unit tests of `feature.rs`, kept out of the file that apply runs (test code may unwrap).

use super::*;

#[test]
fn an_absent_level_is_the_base_and_is_left_out() {
    assert_eq!(FeatureLevel::reported(0), BASE);
    assert_eq!(FeatureLevel::reported(2), FeatureLevel(2));
    assert!(FeatureLevel::default().is_base());
    assert!(FeatureLevel(2).has(STEP_ATTEMPTS));
    assert!(!BASE.has(STEP_ATTEMPTS));
    assert!(unsupported(SUPPORTED).is_none());
    let m = unsupported(FeatureLevel(SUPPORTED.0 + 1)).unwrap();
    assert!(
        m.contains("feature level 3") && m.contains("up to 2"),
        "{m}"
    );
}
