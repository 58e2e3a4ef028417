//! Unit tests of `payload.rs`: the fields read from each CI system's push, and refusals that
//! name the field.

use super::*;
use tonic::codegen::http::{HeaderMap, HeaderValue};

fn h(name: &'static str, v: &str) -> HeaderMap {
    let mut m = HeaderMap::new();
    m.insert(name, HeaderValue::from_str(v).unwrap());
    m
}

#[test]
fn a_github_push_gives_its_urls_ref_and_commit() {
    let body = br#"{"ref":"refs/heads/main","after":"abc","repository":{"full_name":"acme/bp",
        "clone_url":"https://github.com/acme/bp.git","html_url":"https://github.com/acme/bp",
        "ssh_url":"git@github.com:acme/bp.git"}}"#;
    let (event, p) = parse(ReceiverKind::Github, &h("x-github-event", "push"), body).unwrap();
    assert_eq!(event, "push");
    let Payload::Push {
        repository,
        urls,
        git_ref,
        commit,
    } = p
    else {
        panic!()
    };
    assert_eq!(repository, "acme/bp");
    assert_eq!(urls.len(), 3);
    assert_eq!(
        (git_ref.as_str(), commit.as_str()),
        ("refs/heads/main", "abc")
    );
    let (_, p) = parse(
        ReceiverKind::Github,
        &h("x-github-event", "ping"),
        b"{\"zen\":\"x\"}",
    )
    .unwrap();
    assert_eq!(p, Payload::Ping);
    let (_, p) = parse(ReceiverKind::Github, &h("x-github-event", "issues"), b"{}").unwrap();
    assert!(matches!(p, Payload::Other { reason } if reason.contains("only push and ping")));
}

#[test]
fn malformed_bodies_are_refused_with_the_field_named() {
    let push = h("x-github-event", "push");
    let cases: &[(&[u8], &str)] = &[
        (b"not json", "not valid JSON"),
        (b"[1,2]", "must be a JSON object"),
        (
            br#"{"after":"a","repository":{"clone_url":"u"}}"#,
            "no `ref`",
        ),
        (
            br#"{"ref":7,"after":"a","repository":{"clone_url":"u"}}"#,
            "`ref` in the push payload must be a string",
        ),
        (
            br#"{"ref":"r","after":"a","repository":{}}"#,
            "names no repository URL",
        ),
    ];
    for (body, want) in cases {
        let r = parse(ReceiverKind::Github, &push, body).unwrap_err();
        assert_eq!(r.status, 400);
        assert!(r.reason.contains(want), "{want}: {}", r.reason);
    }
    let r = parse(ReceiverKind::Github, &HeaderMap::new(), b"{}").unwrap_err();
    assert!(r.reason.contains("X-GitHub-Event"));
    // Deep nesting is refused by the JSON parser's recursion limit, not by a crash.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(
        parse(ReceiverKind::Github, &push, deep.as_bytes())
            .unwrap_err()
            .status,
        400
    );
}

#[test]
fn gitlab_and_standard_pushes() {
    let body = br#"{"object_kind":"push","ref":"refs/heads/main","after":"b","checkout_sha":"c",
        "project":{"path_with_namespace":"acme/bp","git_http_url":"https://gitlab.com/acme/bp.git"}}"#;
    let (event, p) = parse(
        ReceiverKind::Gitlab,
        &h("x-gitlab-event", "Push Hook"),
        body,
    )
    .unwrap();
    assert_eq!(event, "Push Hook");
    assert!(matches!(p, Payload::Push { commit, .. } if commit == "c"));
    let body = br#"{"type":"push","data":{"repository":"file:///srv/bp.git","ref":"refs/heads/main","commit":"d"}}"#;
    let (event, p) = parse(ReceiverKind::Standard, &HeaderMap::new(), body).unwrap();
    assert_eq!(event, "push");
    assert!(matches!(p, Payload::Push { urls, .. } if urls == ["file:///srv/bp.git"]));
    let r = parse(ReceiverKind::Standard, &HeaderMap::new(), b"{\"data\":{}}").unwrap_err();
    assert!(r.reason.contains("`type`"));
}
