//! Which sites the map shows: by region, by one label, by status, by text.
//!
//! All conditions given must hold (and). Matching is done once per site per request, in the
//! one pass of `aggregate`, so it allocates nothing.

use serde::{Deserialize, Serialize};

use crate::site::SiteDot;
use crate::status::Status;

/// The map's filters; `None` lets every site through.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    /// The site's region, exactly.
    pub region: Option<String>,
    /// `(key, value)`: the site has label `key` with exactly this value.
    pub label: Option<(String, String)>,
    /// The site's status, exactly (its worst environment status).
    pub status: Option<Status>,
    /// A substring of the site's name or region, ignoring ASCII case (site names and regions
    /// are DNS-like words; other letters are compared as they are).
    pub text: Option<String>,
}

impl Filter {
    /// Whether `site` passes every condition.
    pub fn matches(&self, site: &SiteDot) -> bool {
        if let Some(region) = &self.region {
            if site.region != *region {
                return false;
            }
        }
        if let Some(status) = self.status {
            if site.status != status {
                return false;
            }
        }
        if let Some((key, value)) = &self.label {
            if site.labels.get(key) != Some(value) {
                return false;
            }
        }
        if let Some(text) = &self.text {
            let needle = text.as_bytes();
            if !contains_ignore_ascii_case(&site.name, needle)
                && !contains_ignore_ascii_case(&site.region, needle)
            {
                return false;
            }
        }
        true
    }

    /// Whether no condition is set.
    pub fn is_empty(&self) -> bool {
        *self == Filter::default()
    }
}

/// Whether `needle` occurs in `hay`, ASCII letters compared without case. Byte-wise is sound
/// for UTF-8: a valid needle can only match at character boundaries, and ASCII folding never
/// touches the bytes of multi-byte characters.
fn contains_ignore_ascii_case(hay: &str, needle: &[u8]) -> bool {
    if needle.is_empty() {
        return true;
    }
    hay.as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn site(name: &str, region: &str, status: Status, labels: &[(&str, &str)]) -> SiteDot {
        SiteDot {
            name: name.into(),
            region: region.into(),
            lat: 0.0,
            lon: 0.0,
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            status,
        }
    }

    #[test]
    fn empty_filter_lets_everything_through() {
        let f = Filter::default();
        assert!(f.is_empty());
        assert!(f.matches(&site("a", "eu", Status::Failed, &[])));
    }

    #[test]
    fn each_condition() {
        let s = site(
            "Store-0042-Berlin",
            "eu-central",
            Status::Drifted,
            &[("tier", "gold"), ("country", "de")],
        );
        let region = |r: &str| Filter {
            region: Some(r.into()),
            ..Filter::default()
        };
        assert!(region("eu-central").matches(&s));
        assert!(!region("eu").matches(&s), "region is exact, not a prefix");

        let label = |k: &str, v: &str| Filter {
            label: Some((k.into(), v.into())),
            ..Filter::default()
        };
        assert!(label("tier", "gold").matches(&s));
        assert!(!label("tier", "silver").matches(&s));
        assert!(!label("gold", "tier").matches(&s));

        let status = |st| Filter {
            status: Some(st),
            ..Filter::default()
        };
        assert!(status(Status::Drifted).matches(&s));
        assert!(!status(Status::Failed).matches(&s), "status is exact");

        let text = |t: &str| Filter {
            text: Some(t.into()),
            ..Filter::default()
        };
        assert!(text("berlin").matches(&s));
        assert!(text("0042-BER").matches(&s));
        assert!(text("CENTRAL").matches(&s), "region text matches too");
        assert!(!text("munich").matches(&s));
        assert!(text("").matches(&s));
    }

    #[test]
    fn conditions_combine_with_and() {
        let s = site("a", "eu", Status::Failed, &[("tier", "gold")]);
        let mut f = Filter {
            region: Some("eu".into()),
            label: Some(("tier".into(), "gold".into())),
            status: Some(Status::Failed),
            text: Some("A".into()),
        };
        assert!(f.matches(&s));
        f.status = Some(Status::InSync);
        assert!(!f.matches(&s));
    }

    #[test]
    fn text_search_is_safe_on_non_ascii() {
        let s = site("zürich-1", "eu", Status::InSync, &[]);
        let text = |t: &str| Filter {
            text: Some(t.into()),
            ..Filter::default()
        };
        assert!(!text("ZÜRICH").matches(&s), "only ASCII folds");
        assert!(text("Zürich").matches(&s));
        assert!(text("ü").matches(&s));
        assert!(!text("zu").matches(&s), "ü is not u");
    }
}
