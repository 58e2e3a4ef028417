//! Member ids from ordered names, for installs that number their members by name rather than
//! by configuration: a Kubernetes StatefulSet names its pods `moor-0`, `moor-1`, ... and the
//! pod name is all a pod knows about itself. `moord --id-from-name moor-2` (or
//! `MOOR_ID_FROM_NAME=$(POD_NAME)`) makes it member 3: ids start at 1, ordinals at 0.
//!
//! The image has no shell to do this arithmetic, and a typo must not give a member someone
//! else's id, so the parse is strict and its error says what was expected.

/// The member id for a name ending in `-N` (N a decimal ordinal): N + 1.
pub fn id_from_name(name: &str) -> Result<u64, String> {
    let hint = "expected a name ending in -N, like a StatefulSet pod name (moor-0 is member 1)";
    let (_, ordinal) = name
        .rsplit_once('-')
        .ok_or_else(|| format!("{name:?} has no -N suffix; {hint}"))?;
    if ordinal.is_empty() || !ordinal.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{name:?} does not end in -N with N a number; {hint}"
        ));
    }
    let n: u64 = ordinal
        .parse()
        .map_err(|_| format!("ordinal {ordinal:?} of {name:?} is too large; {hint}"))?;
    n.checked_add(1)
        .ok_or_else(|| format!("ordinal {ordinal:?} of {name:?} is too large; {hint}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_ordinals_become_ids_from_one() {
        assert_eq!(id_from_name("moor-0"), Ok(1));
        assert_eq!(id_from_name("my-release-moor-2"), Ok(3));
        assert_eq!(id_from_name("moor-10"), Ok(11));
    }

    #[test]
    fn names_without_an_ordinal_are_refused_with_a_hint() {
        for bad in [
            "moor",
            "moor-",
            "moor-a1",
            "moor-1a",
            "moor--",
            "moor-18446744073709551615",
        ] {
            let e = id_from_name(bad).unwrap_err();
            assert!(e.contains(bad) && e.contains("-N"), "{bad}: {e}");
        }
    }
}
