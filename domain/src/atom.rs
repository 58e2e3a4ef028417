//! Short strings the state holds many times over — resource names and types, resource
//! digests — shared: one allocation per distinct string instead of one per copy.
//!
//! Every environment of one revision has the same resource names, types and (for the same
//! inputs) digests, and each held them several times: in its execution's steps (desired
//! and observed digest), its applied resources and its observed ones. At 100,000
//! environments those were millions of small allocations of 64-character hex digests and
//! names (docs/BENCHMARKS.md, "Memory at 100,000 environments"). An [`Atom`] is an
//! immutable, reference-counted string that encodes, compares, orders and hashes exactly
//! as the `String` it replaces, so the encoding of the state does not change; an
//! [`AtomPool`] hands out one `Atom` per distinct string. Like the properties pool, the
//! pool is derived data: never encoded, rebuilt after a decode, ignored by `==`.
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

use std::borrow::Borrow;
use std::collections::BTreeSet;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An immutable string, cheap to clone; two clones share one allocation.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Atom(Arc<str>);

impl Atom {
    /// The string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `self` and `other` are one allocation (not merely equal).
    pub fn same(&self, other: &Atom) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// `other` when it holds the same string as `text`, else a new atom of `text`: shares
    /// an allocation without a pool where the likely equal atom is at hand.
    pub fn reuse(other: &Atom, text: &str) -> Atom {
        if other.as_str() == text {
            other.clone()
        } else {
            Atom::from(text)
        }
    }
}

impl Deref for Atom {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Atom {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Atom {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Atom {
    fn from(text: &str) -> Atom {
        Atom(Arc::from(text))
    }
}

impl From<String> for Atom {
    fn from(text: String) -> Atom {
        Atom(Arc::from(text))
    }
}

impl From<&String> for Atom {
    fn from(text: &String) -> Atom {
        Atom(Arc::from(text.as_str()))
    }
}

impl From<Atom> for String {
    fn from(atom: Atom) -> String {
        atom.0.to_string()
    }
}

impl From<&Atom> for String {
    fn from(atom: &Atom) -> String {
        atom.0.to_string()
    }
}

impl PartialEq<str> for Atom {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Atom {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Atom {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<Atom> for str {
    fn eq(&self, other: &Atom) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Atom> for &str {
    fn eq(&self, other: &Atom) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<Atom> for String {
    fn eq(&self, other: &Atom) -> bool {
        self.as_str() == other.as_str()
    }
}

impl fmt::Debug for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl Serialize for Atom {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Atom {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Atom, D::Error> {
        String::deserialize(deserializer).map(Atom::from)
    }
}

/// One [`Atom`] per distinct string, for everything the state holds.
///
/// Strings nobody else holds any more are dropped once the pool has doubled since its last
/// sweep, so it stays within twice the number of strings in use (plus a small floor) and a
/// sweep costs amortised O(1) per insertion.
#[derive(Clone, Default)]
pub struct AtomPool {
    atoms: BTreeSet<Atom>,
    /// The size at which the next sweep runs.
    sweep_at: usize,
}

/// The pool never shrinks below this many strings by sweeping.
const SWEEP_FLOOR: usize = 64;

impl AtomPool {
    /// Points `atom` at the pooled atom of its string, pooling it if new.
    pub fn adopt(&mut self, atom: &mut Atom) {
        if let Some(kept) = self.atoms.get(atom.as_str()) {
            if !kept.same(atom) {
                *atom = kept.clone();
            }
            return;
        }
        self.sweep_if_due();
        self.atoms.insert(atom.clone());
    }

    /// [`AtomPool::adopt`] for an optional atom.
    pub fn adopt_opt(&mut self, atom: &mut Option<Atom>) {
        if let Some(atom) = atom {
            self.adopt(atom);
        }
    }

    /// How many strings the pool holds.
    pub fn len(&self) -> usize {
        self.atoms.len()
    }

    /// Whether the pool holds nothing.
    pub fn is_empty(&self) -> bool {
        self.atoms.is_empty()
    }

    fn sweep_if_due(&mut self) {
        if self.atoms.len() < self.sweep_at.max(SWEEP_FLOOR) {
            return;
        }
        // Held by the pool alone: nothing in the state uses it any more.
        self.atoms.retain(|kept| Arc::strong_count(&kept.0) > 1);
        self.sweep_at = self.atoms.len().saturating_mul(2);
    }
}

impl PartialEq for AtomPool {
    /// Derived data: two states are equal whatever their pools hold.
    fn eq(&self, _: &AtomPool) -> bool {
        true
    }
}

impl fmt::Debug for AtomPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AtomPool({} strings)", self.atoms.len())
    }
}

#[cfg(test)]
#[path = "tests/atom_unit.rs"]
mod tests;
