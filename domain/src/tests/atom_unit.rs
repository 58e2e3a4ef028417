//! Unit tests of `atom.rs`.

use super::*;

#[test]
fn equal_strings_become_one_allocation_through_the_pool() {
    let mut pool = AtomPool::default();
    let mut first = Atom::from("digest-1");
    let mut second = Atom::from(String::from("digest-1"));
    assert!(!first.same(&second));
    pool.adopt(&mut first);
    pool.adopt(&mut second);
    assert!(first.same(&second));
    let mut other = Atom::from("digest-2");
    pool.adopt(&mut other);
    assert!(!other.same(&first));
    assert_eq!(pool.len(), 2);
    let mut missing: Option<Atom> = None;
    pool.adopt_opt(&mut missing);
    let mut present = Some(Atom::from("digest-2"));
    pool.adopt_opt(&mut present);
    assert!(present.is_some_and(|p| p.same(&other)));
}

#[test]
fn reuse_shares_only_an_equal_string() {
    let known = Atom::from("abc");
    assert!(Atom::reuse(&known, "abc").same(&known));
    let other = Atom::reuse(&known, "abd");
    assert_eq!(other, "abd");
    assert!(!other.same(&known));
}

#[test]
fn a_sweep_drops_what_nobody_holds_and_keeps_what_is_in_use() {
    let mut pool = AtomPool::default();
    let held: Vec<Atom> = (0..10)
        .map(|i| {
            let mut a = Atom::from(format!("held{i}"));
            pool.adopt(&mut a);
            a
        })
        .collect();
    for i in 0..200 {
        pool.adopt(&mut Atom::from(format!("dropped{i}")));
    }
    assert!(pool.len() < 200, "the pool was swept: {}", pool.len());
    for a in &held {
        let mut again = Atom::from(a.as_str());
        pool.adopt(&mut again);
        assert!(again.same(a), "a string in use stays pooled");
    }
}

#[test]
fn an_atom_encodes_orders_and_compares_as_its_string() {
    let atom = Atom::from("web");
    let string = String::from("web");
    assert_eq!(
        rmp_serde::to_vec(&atom).ok(),
        rmp_serde::to_vec(&string).ok()
    );
    assert_eq!(
        serde_json::to_string(&atom).ok(),
        serde_json::to_string(&string).ok()
    );
    let decoded: Option<Atom> =
        rmp_serde::from_slice(&rmp_serde::to_vec(&string).unwrap_or_default()).ok();
    assert_eq!(decoded.as_ref(), Some(&atom));
    // Ordered as the strings are (maps keyed by atoms keep the encoded order).
    let words = ["b", "a", "B", "ab", ""];
    let mut atoms = words.map(Atom::from).to_vec();
    let mut strings = words.map(String::from).to_vec();
    atoms.sort();
    strings.sort();
    assert_eq!(atoms, strings);
    assert_eq!(atom, "web");
    assert_eq!(atom, string);
    assert_eq!(format!("{atom} {atom:?}"), "web \"web\"");
    let map: litemap::LiteMap<Atom, u8> = [(Atom::from("b"), 2), (Atom::from("a"), 1)]
        .into_iter()
        .collect();
    assert_eq!(map.get("a"), Some(&1));
}
