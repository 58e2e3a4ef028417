//! YAML text → a tree of nodes that remember where they were written.
//!
//! Why `yaml-rust2` and its event parser: blueprint diagnostics must point at a line and a
//! column, and `serde_yaml`-style deserialisers forget positions once a value is built.
//! `yaml-rust2` is the maintained successor of `yaml-rust` (pure Rust, YAML 1.2, no C
//! library), and its event parser gives a position for every scalar, key and collection. We
//! build the tree ourselves (rather than through `marked-yaml`, which wraps the same parser)
//! because that crate stops at the first duplicate key and silently ignores every document
//! after the first: here every duplicate key is reported and loading goes on, a second
//! document is an error, and anchors, aliases and tags are refused with a position.
//!
//! Anchors and aliases are refused on purpose: a blueprint is small and read by people, and
//! aliases are how "billion laughs" documents blow up in memory. Nesting is capped for the
//! same reason (this tree is built recursively).

use std::collections::BTreeMap;
use std::fmt;
use std::str::Chars;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, ScanError, TScalarStyle};

/// Deeper nesting than this is refused; real blueprints stay under ten levels.
pub const MAX_DEPTH: usize = 64;

/// A 1-based line and column in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    pub fn new(line: usize, column: usize) -> Pos {
        Pos { line, column }
    }

    fn from_marker(marker: &Marker) -> Pos {
        // yaml-rust2 counts lines from 1 but columns from 0.
        Pos::new(marker.line(), marker.col() + 1)
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A value with the position it was written at.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned<T> {
    pub value: T,
    pub pos: Pos,
}

/// A YAML node.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub pos: Pos,
    pub kind: NodeKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// `plain` is false for quoted and block scalars: `"2"` is a string, `2` a number.
    Scalar {
        text: String,
        plain: bool,
    },
    Sequence(Vec<Node>),
    /// Entries in source order; keys are unique (repeats are reported and dropped).
    Mapping(Vec<(Spanned<String>, Node)>),
}

impl Node {
    /// What kind of node this is, for messages ("expected a list, found a mapping").
    pub fn kind_name(&self) -> &'static str {
        match &self.kind {
            NodeKind::Scalar { .. } if self.is_null() => "nothing",
            NodeKind::Scalar { .. } => "a scalar",
            NodeKind::Sequence(_) => "a list",
            NodeKind::Mapping(_) => "a mapping",
        }
    }

    /// YAML 1.2 core schema nulls: `~`, `null` and an empty plain scalar.
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, NodeKind::Scalar { text, plain: true }
            if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }
}

/// A problem found while reading YAML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub pos: Pos,
    pub message: String,
    pub hint: Option<String>,
}

/// Reads one YAML document whose top level is a mapping.
///
/// Returns the tree (when the text could be read to the end) and every problem found.
/// Problems that leave a usable tree (a repeated key, an anchor) come with `Some(tree)` so the
/// caller can go on checking the rest.
pub fn load(text: &str) -> (Option<Node>, Vec<YamlError>) {
    let mut loader = Loader {
        parser: Parser::new_from_str(text),
        errors: Vec::new(),
    };
    let root = match loader.document() {
        Ok(root) => root,
        Err(fatal) => {
            loader.errors.push(fatal);
            None
        }
    };
    (root, loader.errors)
}

struct Loader<'a> {
    parser: Parser<Chars<'a>>,
    errors: Vec<YamlError>,
}

impl Loader<'_> {
    fn next(&mut self) -> Result<(Event, Pos), YamlError> {
        self.parser
            .next_token()
            .map(|(event, marker)| (event, Pos::from_marker(&marker)))
            .map_err(|e: ScanError| YamlError {
                pos: Pos::from_marker(e.marker()),
                message: format!("malformed YAML: {}", e.info()),
                hint: None,
            })
    }

    fn error(&mut self, pos: Pos, message: impl Into<String>, hint: Option<String>) {
        self.errors.push(YamlError {
            pos,
            message: message.into(),
            hint,
        });
    }

    fn document(&mut self) -> Result<Option<Node>, YamlError> {
        let (event, _) = self.next()?;
        debug_assert_eq!(event, Event::StreamStart);
        let root = match self.next()? {
            // An empty text: an empty mapping, so the caller reports the missing fields.
            (Event::StreamEnd, _) => {
                return Ok(Some(Node {
                    pos: Pos::new(1, 1),
                    kind: NodeKind::Mapping(Vec::new()),
                }))
            }
            (Event::DocumentStart, _) => {
                let (event, pos) = self.next()?;
                self.node(event, pos, 0)?
            }
            (event, pos) => {
                return Err(YamlError {
                    pos,
                    message: format!("malformed YAML: unexpected {event:?}"),
                    hint: None,
                })
            }
        };
        let (event, _) = self.next()?;
        debug_assert_eq!(event, Event::DocumentEnd);
        match self.next()? {
            (Event::StreamEnd, _) => {}
            (_, pos) => {
                self.error(
                    pos,
                    "a blueprint is one YAML document, found a second one",
                    Some(
                        "remove the `---` line, or split the file into one blueprint per file"
                            .into(),
                    ),
                );
                return Ok(None);
            }
        }
        if !matches!(root.kind, NodeKind::Mapping(_)) {
            self.error(
                root.pos,
                format!("a blueprint must be a mapping, found {}", root.kind_name()),
                Some("start with `name: ...`, then `inputs:`, `resources:` and `outputs:`".into()),
            );
            return Ok(None);
        }
        Ok(Some(root))
    }

    fn node(&mut self, event: Event, pos: Pos, depth: usize) -> Result<Node, YamlError> {
        if depth > MAX_DEPTH {
            return Err(YamlError {
                pos,
                message: format!("nesting deeper than {MAX_DEPTH} levels"),
                hint: Some("flatten the structure".into()),
            });
        }
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                self.refuse_anchor_and_tag(pos, anchor, tag.is_some());
                Ok(Node {
                    pos,
                    kind: NodeKind::Scalar {
                        text,
                        plain: style == TScalarStyle::Plain,
                    },
                })
            }
            Event::Alias(_) => {
                self.error(
                    pos,
                    "YAML aliases (`*name`) are not supported in blueprints",
                    Some("write the value out in full".into()),
                );
                Ok(Node {
                    pos,
                    kind: NodeKind::Scalar {
                        text: String::new(),
                        plain: true,
                    },
                })
            }
            Event::SequenceStart(anchor, tag) => {
                self.refuse_anchor_and_tag(pos, anchor, tag.is_some());
                self.sequence(pos, depth)
            }
            Event::MappingStart(anchor, tag) => {
                self.refuse_anchor_and_tag(pos, anchor, tag.is_some());
                self.mapping(pos, depth)
            }
            other => Err(YamlError {
                pos,
                message: format!("malformed YAML: unexpected {other:?}"),
                hint: None,
            }),
        }
    }

    /// The items of a sequence whose start (at `pos`, `depth`) was just read, up to its end.
    fn sequence(&mut self, pos: Pos, depth: usize) -> Result<Node, YamlError> {
        let mut items = Vec::new();
        loop {
            match self.next()? {
                (Event::SequenceEnd, _) => break,
                (event, item_pos) => items.push(self.node(event, item_pos, depth + 1)?),
            }
        }
        Ok(Node {
            pos,
            kind: NodeKind::Sequence(items),
        })
    }

    /// The entries of a mapping whose start (at `pos`, `depth`) was just read, up to its
    /// end. Collection keys and repeated keys are reported and left out.
    fn mapping(&mut self, pos: Pos, depth: usize) -> Result<Node, YamlError> {
        let mut entries: Vec<(Spanned<String>, Node)> = Vec::new();
        // Key → where it was first written; a map, not a scan, so a mapping with
        // many keys costs n log n.
        let mut seen: BTreeMap<String, Pos> = BTreeMap::new();
        loop {
            let key = match self.next()? {
                (Event::MappingEnd, _) => break,
                (event, key_pos) => self.node(event, key_pos, depth + 1)?,
            };
            let (event, value_pos) = self.next()?;
            let mut value = self.node(event, value_pos, depth + 1)?;
            // An absent value (`key:` then nothing) is placed by the parser at the
            // next token, which may be lines away: point at its key instead.
            if matches!(&value.kind, NodeKind::Scalar { text, plain: true } if text.is_empty()) {
                value.pos = key.pos;
            }
            let key = match key.kind {
                NodeKind::Scalar { text, .. } => Spanned {
                    value: text,
                    pos: key.pos,
                },
                _ => {
                    self.error(
                        key.pos,
                        "mapping keys must be plain words, found a collection",
                        None,
                    );
                    continue;
                }
            };
            if let Some(first_pos) = seen.get(&key.value) {
                self.error(
                    key.pos,
                    format!("duplicate key `{}` (first at {first_pos})", key.value),
                    Some("remove one of them".into()),
                );
                continue;
            }
            seen.insert(key.value.clone(), key.pos);
            entries.push((key, value));
        }
        // Block mappings are reported at their first key, which is where a reader
        // sees the mapping start.
        let pos = entries.first().map_or(pos, |(k, _)| k.pos.min(pos));
        Ok(Node {
            pos,
            kind: NodeKind::Mapping(entries),
        })
    }

    fn refuse_anchor_and_tag(&mut self, pos: Pos, anchor: usize, tagged: bool) {
        // yaml-rust2 numbers anchors from 1; 0 means "no anchor".
        if anchor != 0 {
            self.error(
                pos,
                "YAML anchors (`&name`) are not supported in blueprints",
                Some("write the value out in full".into()),
            );
        }
        if tagged {
            self.error(
                pos,
                "YAML tags (`!name`) are not supported in blueprints",
                Some("quote the value to make it a string".into()),
            );
        }
    }
}

#[cfg(test)]
#[path = "tests/yaml_unit.rs"]
mod tests;
