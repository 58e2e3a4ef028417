//! Unit tests of `properties.rs`.

use super::*;
use serde_json::json;

#[test]
fn equal_values_of_one_digest_are_one_allocation() {
    let mut pool = PropertiesPool::default();
    let first = pool.share("d1", Properties::new(json!({"v": 1})));
    let second = pool.share("d1", Properties::new(json!({"v": 1})));
    assert!(first.same(&second));
    let other = pool.share("d2", Properties::new(json!({"v": 2})));
    assert!(!other.same(&first));
    assert_eq!(pool.len(), 2);
}

#[test]
fn an_unequal_value_of_a_known_digest_is_kept_as_it_is() {
    // A secret sealed again under a new nonce keeps its digest with other bytes.
    let mut pool = PropertiesPool::default();
    let old = pool.share("d", Properties::new(json!({"s": "sealed-under-nonce-1"})));
    let new = pool.share("d", Properties::new(json!({"s": "sealed-under-nonce-2"})));
    assert_eq!(*new, json!({"s": "sealed-under-nonce-2"}));
    assert!(!new.same(&old));
    // The old value is still in use, so it stays the pooled one...
    assert!(pool.share("d", old.clone()).same(&old));
    // ...until nobody holds it: then the pool takes the value in use.
    drop(old);
    let newer = pool.share("d", new.clone());
    assert!(newer.same(&new));
    assert!(pool
        .share("d", Properties::new(json!({"s": "sealed-under-nonce-2"})))
        .same(&new));
}

#[test]
fn a_sweep_drops_what_nobody_holds_and_keeps_what_is_in_use() {
    let mut pool = PropertiesPool::default();
    let held: Vec<Properties> = (0..10)
        .map(|i| pool.share(&format!("held{i}"), Properties::new(json!(i))))
        .collect();
    for i in 0..SWEEP_FLOOR {
        pool.share(&format!("gone{i}"), Properties::new(json!(i)));
    }
    // The insertion that found the pool at its floor swept the unheld ones first.
    assert!(pool.len() < SWEEP_FLOOR, "{}", pool.len());
    for (i, h) in held.iter().enumerate() {
        assert!(pool
            .share(&format!("held{i}"), Properties::new(json!(i)))
            .same(h));
    }
    // Bounded however many digests pass through it.
    for i in 0..10_000 {
        pool.share(&format!("passing{i}"), Properties::new(json!(i)));
    }
    assert!(pool.len() <= 2 * SWEEP_FLOOR, "{}", pool.len());
}

#[test]
fn properties_encode_and_print_as_their_value() {
    let value = json!({"b": [1, 2], "a": {"c": null}});
    let shared = Properties::new(value.clone());
    assert_eq!(
        rmp_serde::to_vec_named(&shared).unwrap(),
        rmp_serde::to_vec_named(&value).unwrap()
    );
    assert_eq!(
        serde_json::to_string(&shared).unwrap(),
        serde_json::to_string(&value).unwrap()
    );
    assert_eq!(format!("{shared:?}"), format!("{value:?}"));
    let back: Properties =
        rmp_serde::from_slice(&rmp_serde::to_vec_named(&value).unwrap()).unwrap();
    assert_eq!(back, shared);
    assert!(!back.same(&shared));
}

#[test]
fn pools_never_make_states_unequal() {
    let mut a = PropertiesPool::default();
    a.share("d", Properties::new(json!(1)));
    assert_eq!(a, PropertiesPool::default());
}
