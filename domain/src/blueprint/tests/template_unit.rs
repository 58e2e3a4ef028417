//! Unit tests of `template.rs`, kept out of the file that apply runs (test code may unwrap).

use super::*;

fn text(s: &str) -> Segment {
    Segment::Text(s.into())
}

#[test]
fn splits_text_and_references() {
    assert_eq!(
        parse_template("https://${inputs.host}:${var:port}/x").unwrap(),
        vec![
            text("https://"),
            Segment::Input("host".into()),
            text(":"),
            Segment::Var("port".into()),
            text("/x"),
        ]
    );
    assert_eq!(
        parse_template("${inputs.a}").unwrap(),
        vec![Segment::Input("a".into())]
    );
    assert_eq!(parse_template("").unwrap(), vec![]);
    assert_eq!(parse_template("a $ b }").unwrap(), vec![text("a $ b }")]);
}

#[test]
fn double_dollar_is_a_literal() {
    assert_eq!(
        parse_template("echo $${HOME} ${inputs.x}").unwrap(),
        vec![text("echo ${HOME} "), Segment::Input("x".into())]
    );
}

#[test]
fn errors_carry_offset_and_hint() {
    let e = parse_template("ab ${input.x}").unwrap_err();
    assert_eq!(e.offset, 3);
    assert_eq!(e.message, "unknown reference `${input.x}`");
    assert_eq!(e.hint, SYNTAX_HINT);
    let e = parse_template("x ${inputs.a} ${var:").unwrap_err();
    assert_eq!(e.offset, 14);
    assert_eq!(e.message, "unterminated reference `${var:`");
    let e = parse_template("${inputs.Bad}").unwrap_err();
    assert_eq!(e.message, "malformed input reference `${inputs.Bad}`");
    let e = parse_template("${var:}").unwrap_err();
    assert_eq!(e.message, "malformed variable reference `${var:}`");
}
