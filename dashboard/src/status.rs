//! The status of a site on the map: the worst status among its environments, and how each is
//! drawn (colour and legend label).
//!
//! The order of the variants is the order of severity, least severe first, so the derived
//! `Ord` answers "which is worse" and `max` is the worst of several.
//!
//! How a caller maps Moor's environment statuses (`moor_proto::names::EnvStatus`, which this
//! crate does not link) onto these: `pending`, `installing`, `updating`, `healing`,
//! `rolling_back` and `uninstalling` are [`Status::Running`]; `in_sync`, `drifted` and
//! `failed` keep their name; an `uninstalled` environment counts as none. A site whose driver
//! cannot reach it is [`Status::Unreachable`] whatever its environments say: what we last
//! observed there may no longer hold.
//!
//! # Palette
//!
//! Six of the eight colours of Okabe and Ito's palette ("Color Universal Design", 2008),
//! chosen so the statuses stay apart for the common forms of colour blindness
//! (deuteranopia, protanopia, tritanopia), plus a neutral grey for sites without
//! environments. The warm colours are the ones that need action (vermillion, orange, reddish
//! purple); the cool ones do not. Colour is never the only cue: every mark has a tooltip
//! and the list beside the map names the status in words.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The worst status of a site's environments. `Ord` is severity: `Empty < InSync < Running <
/// Drifted < Failed < Unreachable`. The serde form is the wire name (`in_sync`, …).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The site has no environments.
    #[default]
    Empty,
    /// Every environment matches its desired state.
    InSync,
    /// An execution is changing at least one environment (install, update, heal, …).
    Running,
    /// At least one environment's observed state differs from its desired state.
    Drifted,
    /// At least one environment's last execution failed.
    Failed,
    /// The site does not answer: its state is unknown.
    Unreachable,
}

impl Status {
    /// Every status, worst first: the legend's order.
    pub const ALL: [Status; 6] = [
        Status::Unreachable,
        Status::Failed,
        Status::Drifted,
        Status::Running,
        Status::InSync,
        Status::Empty,
    ];

    /// The wire name: the serde form, and the value of `status=` in the map API.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Empty => "empty",
            Status::InSync => "in_sync",
            Status::Running => "running",
            Status::Drifted => "drifted",
            Status::Failed => "failed",
            Status::Unreachable => "unreachable",
        }
    }

    /// The legend's words for it.
    pub fn label(self) -> &'static str {
        match self {
            Status::Empty => "No environments",
            Status::InSync => "In sync",
            Status::Running => "Running",
            Status::Drifted => "Drifted",
            Status::Failed => "Failed",
            Status::Unreachable => "Unreachable",
        }
    }

    /// Its colour, a CSS hex colour from the palette described in the module doc.
    pub fn colour(self) -> &'static str {
        match self {
            Status::Empty => "#999999",       // neutral grey
            Status::InSync => "#009E73",      // bluish green
            Status::Running => "#56B4E9",     // sky blue
            Status::Drifted => "#E69F00",     // orange
            Status::Failed => "#D55E00",      // vermillion
            Status::Unreachable => "#CC79A7", // reddish purple
        }
    }

    /// Position in a per-status array (`Empty` is 0, `Unreachable` 5).
    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// The worst of `statuses`, or [`Status::Empty`] when there are none: a site's status
    /// from its environments' statuses.
    pub fn worst<I: IntoIterator<Item = Status>>(statuses: I) -> Status {
        statuses.into_iter().max().unwrap_or(Status::Empty)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of [`Status::ALL`]'s wire names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownStatus(pub String);

impl fmt::Display for UnknownStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown status {:?}; expected one of ", self.0)?;
        for (i, s) in Status::ALL.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(s.as_str())?;
        }
        Ok(())
    }
}

impl std::error::Error for UnknownStatus {}

impl FromStr for Status {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_string()))
    }
}

/// How many sites have each status. Serialised as an object that names only the statuses
/// with a non-zero count (`{"failed": 2, "in_sync": 40}`), to keep map answers small.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusCounts([u32; 6]);

impl StatusCounts {
    /// Counts one more site with `status`.
    pub fn add(&mut self, status: Status) {
        let n = &mut self.0[status.index()];
        *n = n.saturating_add(1);
    }

    /// How many have `status`.
    pub fn get(&self, status: Status) -> u32 {
        self.0[status.index()]
    }

    /// How many in all.
    pub fn total(&self) -> u64 {
        self.0.iter().map(|&n| u64::from(n)).sum()
    }

    /// The worst status counted, or `None` when nothing was.
    pub fn worst(&self) -> Option<Status> {
        Status::ALL.into_iter().find(|&s| self.get(s) > 0)
    }
}

impl Serialize for StatusCounts {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let present = Status::ALL.iter().filter(|&&s| self.get(s) > 0).count();
        let mut map = serializer.serialize_map(Some(present))?;
        for s in Status::ALL {
            let n = self.get(s);
            if n > 0 {
                map.serialize_entry(s.as_str(), &n)?;
            }
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for StatusCounts {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = std::collections::BTreeMap::<Status, u32>::deserialize(deserializer)?;
        let mut counts = StatusCounts::default();
        for (s, n) in map {
            counts.0[s.index()] = n;
        }
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_severity() {
        let mut sorted = Status::ALL;
        sorted.sort();
        sorted.reverse();
        assert_eq!(sorted, Status::ALL);
        assert!(Status::Unreachable > Status::Failed);
        assert!(Status::Failed > Status::Drifted);
        assert!(Status::Drifted > Status::Running);
        assert!(Status::Running > Status::InSync);
        assert!(Status::InSync > Status::Empty);
        assert_eq!(Status::worst([]), Status::Empty);
        assert_eq!(
            Status::worst([Status::InSync, Status::Failed, Status::Drifted]),
            Status::Failed
        );
    }

    #[test]
    fn names_round_trip_and_match_serde() {
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>(), Ok(s));
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        let err = "broken".parse::<Status>().unwrap_err();
        assert!(err.to_string().contains("in_sync"), "{err}");
    }

    #[test]
    fn colours_are_distinct_hex() {
        let mut seen = std::collections::BTreeSet::new();
        for s in Status::ALL {
            let c = s.colour();
            assert!(c.len() == 7 && c.starts_with('#'), "{c}");
            assert!(c[1..].chars().all(|ch| ch.is_ascii_hexdigit()), "{c}");
            assert!(seen.insert(c), "{c} used twice");
            assert!(!s.label().is_empty());
        }
    }

    #[test]
    fn counts_serialise_sparse_and_round_trip() {
        let mut c = StatusCounts::default();
        assert_eq!(c.worst(), None);
        c.add(Status::InSync);
        c.add(Status::InSync);
        c.add(Status::Failed);
        assert_eq!(c.total(), 3);
        assert_eq!(c.worst(), Some(Status::Failed));
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(json, r#"{"failed":1,"in_sync":2}"#);
        let back: StatusCounts = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
    }
}
