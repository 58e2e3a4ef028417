//! Unit tests of `yaml.rs`, kept out of the library file (test code may unwrap).

use super::*;

fn scalar(node: &Node) -> (&str, bool) {
    match &node.kind {
        NodeKind::Scalar { text, plain } => (text, *plain),
        other => panic!("not a scalar: {other:?}"),
    }
}

fn entries(node: &Node) -> &[(Spanned<String>, Node)] {
    match &node.kind {
        NodeKind::Mapping(entries) => entries,
        other => panic!("not a mapping: {other:?}"),
    }
}

#[test]
fn positions_are_one_based_and_quoting_is_kept() {
    let (root, errors) = load("a: 1\nb:\n  - x\n  - \"2\"\n");
    assert_eq!(errors, vec![]);
    let root = root.unwrap();
    let e = entries(&root);
    assert_eq!(e[0].0.pos, Pos::new(1, 1));
    assert_eq!(e[0].1.pos, Pos::new(1, 4));
    assert_eq!(scalar(&e[0].1), ("1", true));
    let NodeKind::Sequence(items) = &e[1].1.kind else {
        panic!("not a list")
    };
    assert_eq!(items[1].pos, Pos::new(4, 5));
    assert_eq!(scalar(&items[1]), ("2", false));
}

#[test]
fn every_duplicate_key_is_reported_and_loading_goes_on() {
    let (root, errors) = load("a: 1\nb: 2\na: 3\nb: 4\nc: 5\n");
    let messages: Vec<_> = errors.iter().map(|e| (e.pos, e.message.as_str())).collect();
    assert_eq!(
        messages,
        vec![
            (Pos::new(3, 1), "duplicate key `a` (first at 1:1)"),
            (Pos::new(4, 1), "duplicate key `b` (first at 2:1)"),
        ]
    );
    let root = root.unwrap();
    let e = entries(&root);
    assert_eq!(e.len(), 3);
    assert_eq!(scalar(&e[0].1).0, "1");
}

#[test]
fn syntax_error_has_the_parser_position() {
    let (root, errors) = load("a: [1\n");
    assert!(root.is_none());
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].pos, Pos::new(2, 1));
    assert_eq!(
        errors[0].message,
        "malformed YAML: while parsing a flow sequence, expected ',' or ']'"
    );
}

#[test]
fn second_document_is_refused() {
    let (root, errors) = load("a: 1\n---\nb: 2\n");
    assert!(root.is_none());
    assert_eq!(errors[0].pos, Pos::new(2, 1));
    assert_eq!(
        errors[0].message,
        "a blueprint is one YAML document, found a second one"
    );
}

#[test]
fn anchors_aliases_and_tags_are_refused_without_panicking() {
    let (_, errors) = load("a: &x 1\nb: *x\nc: !!str 3\n");
    let messages: Vec<_> = errors.iter().map(|e| (e.pos, e.message.as_str())).collect();
    assert_eq!(
        messages,
        vec![
            (
                Pos::new(1, 7),
                "YAML anchors (`&name`) are not supported in blueprints"
            ),
            (
                Pos::new(2, 4),
                "YAML aliases (`*name`) are not supported in blueprints"
            ),
            (
                Pos::new(3, 10),
                "YAML tags (`!name`) are not supported in blueprints"
            ),
        ]
    );
    let (root, errors) = load("a: *nowhere\n");
    assert!(root.is_none());
    assert_eq!(errors[0].pos, Pos::new(1, 4));
}

#[test]
fn top_level_must_be_a_mapping() {
    let (root, errors) = load("- a\n- b\n");
    assert!(root.is_none());
    assert_eq!(errors[0].pos, Pos::new(1, 1));
    assert_eq!(
        errors[0].message,
        "a blueprint must be a mapping, found a list"
    );
}

#[test]
fn empty_text_is_an_empty_mapping() {
    for text in ["", "# only a comment\n"] {
        let (root, errors) = load(text);
        assert_eq!(errors, vec![]);
        assert_eq!(root.unwrap().kind, NodeKind::Mapping(Vec::new()));
    }
}

#[test]
fn deep_nesting_is_refused() {
    let text = format!("a: {}{}\n", "[".repeat(100), "]".repeat(100));
    let (root, errors) = load(&text);
    assert!(root.is_none());
    assert_eq!(errors[0].message, "nesting deeper than 64 levels");
}
