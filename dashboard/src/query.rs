//! The map API's query string, `/ui/api/map?zoom=Z&lat=..&lon=..&region=..&label=k=v&status=..&text=..`,
//! parsed into a [`View`] and a [`Filter`] (and written back, for links), plus the
//! percent-encoding of a path segment that site links need.
//!
//! Here rather than in the server so that what the page sends and what the server reads are
//! tested together. An unknown or repeated key is an error, not ignored: a misspelt filter
//! that silently showed every site would mislead the person reading the map. An empty value
//! means "not set", so a form may send every field.

use std::fmt;

use crate::filter::Filter;
use crate::project::View;
use crate::status::Status;

/// The longest query string accepted, in bytes.
pub const MAX_QUERY_LEN: usize = 2048;

/// A map request: what to show and which sites.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MapQuery {
    pub view: View,
    pub filter: Filter,
}

/// Why a map query was refused; the message names the key and what is expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryError {
    TooLong {
        len: usize,
    },
    BadEncoding {
        key: String,
    },
    UnknownKey {
        key: String,
    },
    Repeated {
        key: String,
    },
    BadValue {
        key: String,
        value: String,
        expected: String,
    },
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryError::TooLong { len } => {
                write!(f, "map query is {len} bytes; at most {MAX_QUERY_LEN} are accepted")
            }
            QueryError::BadEncoding { key } => write!(
                f,
                "map query: {key:?} is not valid percent-encoded UTF-8"
            ),
            QueryError::UnknownKey { key } => write!(
                f,
                "map query: unknown key {key:?}; expected zoom, lat, lon, region, label, status or text"
            ),
            QueryError::Repeated { key } => write!(f, "map query: {key:?} is given twice"),
            QueryError::BadValue {
                key,
                value,
                expected,
            } => write!(f, "map query: {key}={value:?} is not {expected}"),
        }
    }
}

impl std::error::Error for QueryError {}

impl MapQuery {
    /// Parses the query string (without the `?`).
    pub fn parse(query: &str) -> Result<MapQuery, QueryError> {
        if query.len() > MAX_QUERY_LEN {
            return Err(QueryError::TooLong { len: query.len() });
        }
        let mut q = MapQuery::default();
        let mut seen: Vec<String> = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = decode_component(raw_key).ok_or_else(|| QueryError::BadEncoding {
                key: raw_key.to_string(),
            })?;
            let value = decode_component(raw_value)
                .ok_or_else(|| QueryError::BadEncoding { key: key.clone() })?;
            if seen.contains(&key) {
                return Err(QueryError::Repeated { key });
            }
            seen.push(key.clone());
            let bad = |expected: &str| QueryError::BadValue {
                key: key.clone(),
                value: value.clone(),
                expected: expected.to_string(),
            };
            let text = (!value.is_empty()).then(|| value.clone());
            match key.as_str() {
                "zoom" => {
                    if !value.is_empty() {
                        q.view.zoom = value
                            .parse::<u8>()
                            .ok()
                            .filter(|z| *z <= View::MAX_ZOOM)
                            .ok_or_else(|| bad("a zoom level 0..=8"))?;
                    }
                }
                "lat" => {
                    if !value.is_empty() {
                        q.view.center_lat =
                            degrees(&value, 90.0).ok_or_else(|| bad("a latitude -90..=90"))?;
                    }
                }
                "lon" => {
                    if !value.is_empty() {
                        q.view.center_lon =
                            degrees(&value, 180.0).ok_or_else(|| bad("a longitude -180..=180"))?;
                    }
                }
                "region" => q.filter.region = text,
                "text" => q.filter.text = text,
                "status" => {
                    q.filter.status = match text {
                        None => None,
                        Some(s) => Some(s.parse::<Status>().map_err(|_| {
                            bad("one of unreachable, failed, drifted, running, in_sync, empty")
                        })?),
                    }
                }
                "label" => {
                    q.filter.label = match text {
                        None => None,
                        Some(s) => match s.split_once('=') {
                            Some((k, v)) if !k.is_empty() => Some((k.to_string(), v.to_string())),
                            _ => return Err(bad("key=value")),
                        },
                    }
                }
                _ => return Err(QueryError::UnknownKey { key }),
            }
        }
        Ok(q)
    }

    /// The query string (without the `?`) that [`MapQuery::parse`] reads back as this
    /// query; filters that are not set are left out.
    pub fn to_query_string(&self) -> String {
        let mut parts = vec![
            format!("zoom={}", self.view.zoom),
            format!("lat={}", self.view.center_lat),
            format!("lon={}", self.view.center_lon),
        ];
        let f = &self.filter;
        if let Some(r) = &f.region {
            parts.push(format!("region={}", encode_component(r)));
        }
        if let Some((k, v)) = &f.label {
            parts.push(format!("label={}", encode_component(&format!("{k}={v}"))));
        }
        if let Some(s) = f.status {
            parts.push(format!("status={s}"));
        }
        if let Some(t) = &f.text {
            parts.push(format!("text={}", encode_component(t)));
        }
        parts.join("&")
    }
}

fn degrees(s: &str, limit: f64) -> Option<f64> {
    s.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && v.abs() <= limit)
}

/// Percent-decodes a query or form component (`+` is a space); `None` for a broken escape or bytes
/// that are not UTF-8.
pub fn decode_component(s: &str) -> Option<String> {
    decode_bytes(s, true)
}

/// Percent-decodes a URL path segment (where `+` is itself), such as the site name in
/// [`crate::routes::SITES`]`<name>`; `None` for a broken escape or bytes that are not UTF-8.
pub fn decode_path_segment(s: &str) -> Option<String> {
    decode_bytes(s, false)
}

fn decode_bytes(s: &str, plus_is_space: bool) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' if plus_is_space => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Percent-encodes every byte except the unreserved characters (`A-Z a-z 0-9 - . _ ~`), so
/// the result is safe as a URL path segment or query value, and inside an HTML attribute.
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 15)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_the_page_sends() {
        let q = MapQuery::parse(
            "zoom=3&lat=48.1&lon=-11.5&region=eu-west&label=tier%3Dgold&status=failed&text=store+12",
        )
        .unwrap();
        assert_eq!(
            q.view,
            View {
                zoom: 3,
                center_lat: 48.1,
                center_lon: -11.5
            }
        );
        assert_eq!(
            q.filter,
            Filter {
                region: Some("eu-west".into()),
                label: Some(("tier".into(), "gold".into())),
                status: Some(Status::Failed),
                text: Some("store 12".into()),
            }
        );
        // A label value may itself hold '='; the key is up to the first one.
        let q = MapQuery::parse("label=a=b=c").unwrap();
        assert_eq!(q.filter.label, Some(("a".into(), "b=c".into())));
    }

    #[test]
    fn empty_means_default() {
        assert_eq!(MapQuery::parse("").unwrap(), MapQuery::default());
        let q = MapQuery::parse("zoom=&lat=&lon=&region=&label=&status=&text=").unwrap();
        assert_eq!(q, MapQuery::default());
        assert!(q.filter.is_empty());
    }

    #[test]
    fn refuses_what_it_does_not_understand() {
        let err = |s: &str| MapQuery::parse(s).unwrap_err();
        assert!(matches!(err("zoom=9"), QueryError::BadValue { .. }));
        assert!(matches!(err("zoom=-1"), QueryError::BadValue { .. }));
        assert!(matches!(err("lat=91"), QueryError::BadValue { .. }));
        assert!(matches!(err("lon=NaN"), QueryError::BadValue { .. }));
        assert!(matches!(err("status=red"), QueryError::BadValue { .. }));
        assert!(matches!(err("label=novalue"), QueryError::BadValue { .. }));
        assert!(matches!(err("label==v"), QueryError::BadValue { .. }));
        assert!(matches!(err("colour=red"), QueryError::UnknownKey { .. }));
        assert!(matches!(err("zoom=1&zoom=2"), QueryError::Repeated { .. }));
        assert!(matches!(err("text=%zz"), QueryError::BadEncoding { .. }));
        assert!(matches!(err("text=%ff"), QueryError::BadEncoding { .. }));
        assert!(matches!(err("text=%4"), QueryError::BadEncoding { .. }));
        let long = format!("text={}", "a".repeat(MAX_QUERY_LEN));
        assert!(matches!(err(&long), QueryError::TooLong { .. }));
        assert!(err("colour=red").to_string().contains("expected zoom"));
    }

    #[test]
    fn round_trips() {
        let q = MapQuery {
            view: View {
                zoom: 5,
                center_lat: -33.8688,
                center_lon: 151.2093,
            },
            filter: Filter {
                region: Some("ap south&east".into()),
                label: Some(("café".into(), "a=b&c".into())),
                status: Some(Status::InSync),
                text: Some("<script>+%".into()),
            },
        };
        assert_eq!(MapQuery::parse(&q.to_query_string()).unwrap(), q);
    }

    #[test]
    fn encodes_components() {
        assert_eq!(encode_component("site-1.a_b~"), "site-1.a_b~");
        assert_eq!(encode_component("a b/<é>"), "a%20b%2F%3C%C3%A9%3E");
        assert_eq!(decode_component("a%20b%2F%3C%C3%A9%3E").unwrap(), "a b/<é>");
        assert_eq!(decode_component("a+b").unwrap(), "a b");
        assert_eq!(decode_path_segment("a+b%2B").unwrap(), "a+b+");
        assert_eq!(decode_path_segment("%C3"), None);
    }
}
