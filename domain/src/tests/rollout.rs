//! Unit tests of `rollout.rs`, kept out of the file that apply runs (test code may unwrap).

use super::*;

#[test]
fn waves_parse_and_resolve() {
    let w = parse_waves("1, 10%, 100%").unwrap();
    assert_eq!(
        w,
        vec![
            WaveSize::Count(1),
            WaveSize::Percent(10),
            WaveSize::Percent(100)
        ]
    );
    assert_eq!(resolve_waves(&w, 1000).unwrap(), vec![1, 100, 1000]);
    // Small groups merge boundaries that round to the same target.
    assert_eq!(resolve_waves(&w, 5).unwrap(), vec![1, 5]);
    assert_eq!(
        resolve_waves(&parse_waves("").unwrap(), 7).unwrap(),
        vec![7]
    );
    assert_eq!(
        resolve_waves(&parse_waves("2,500").unwrap(), 7).unwrap(),
        vec![2, 7]
    );
}

#[test]
fn waves_that_do_not_add_up_are_refused() {
    let e = resolve_waves(&parse_waves("1,50%").unwrap(), 100).unwrap_err();
    assert!(e.contains("do not add up"), "{e}");
    let e = resolve_waves(&parse_waves("50%,10%,100%").unwrap(), 100).unwrap_err();
    assert!(e.contains("must grow"), "{e}");
    let e = resolve_waves(&parse_waves("20,10,100%").unwrap(), 100).unwrap_err();
    assert!(e.contains("must grow"), "{e}");
    for bad in ["0", "0%", "101%", "x", "10%%", "1,,100%"] {
        assert!(parse_waves(bad).is_err(), "{bad} accepted");
    }
    assert!(resolve_waves(&parse_waves("100%").unwrap(), 0).is_err());
}

#[test]
fn selector_matches_labels_names_and_pseudo_labels() {
    let labels: crate::site::Labels = [("tier".to_string(), "edge".to_string())]
        .into_iter()
        .collect();
    let mut s = Selector::default();
    assert!(s.matches("a", &labels, ("region", "eu")));
    s.match_labels.insert("tier".into(), "edge".into());
    assert!(s.matches("a", &labels, ("region", "eu")));
    s.match_labels.insert("region".into(), "eu".into());
    assert!(s.matches("a", &labels, ("region", "eu")));
    assert!(!s.matches("a", &labels, ("region", "us")));
    s.names = vec!["b".into()];
    assert!(!s.matches("a", &labels, ("region", "eu")));
    assert!(s.matches("b", &labels, ("region", "eu")));
}

#[test]
fn budget_counts_and_percentages() {
    let b = FailureBudget {
        max_failed: Some(2),
        max_failed_percent: None,
    };
    assert!(b.exceeded(2, 10).is_none());
    assert!(b.exceeded(3, 10).is_some());
    let b = FailureBudget {
        max_failed: None,
        max_failed_percent: Some(10),
    };
    assert!(b.exceeded(10, 100).is_none());
    assert!(b.exceeded(11, 100).unwrap().contains("more than 10%"));
    assert!(FailureBudget::default().exceeded(1000, 1000).is_none());
}
