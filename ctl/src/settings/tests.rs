//! Which setting wins: flags (and their variables) over the context over the defaults, and
//! errors that name the file and the fix without ever showing a token.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::*;
use crate::fake::tls::{write, TestPki};

const SECRET: &str = "mt_t9.context-secret";
const ENV_SECRET: &str = "mt_t8.env-secret";

/// A config file with contexts `prod` (TLS, token file, current) and `dev` (plaintext), in
/// a fresh directory with the files they name.
struct Setup {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let pki = TestPki::new("settings CA");
        write(dir.path(), "ca.pem", &pki.ca);
        write(dir.path(), "other-ca.pem", &TestPki::new("other").ca);
        write(dir.path(), "prod.token", &format!("{SECRET}\n"));
        let config = write(
            dir.path(),
            "moorctl.yaml",
            "current_context: prod\n\
             contexts:\n\
             - name: prod\n  endpoints: [p1:7401, p2:7401]\n  ca_file: ca.pem\n  \
             token_file: prod.token\n  server_name: moor.internal\n\
             - name: dev\n  endpoints: [127.0.0.1:7401]\n  insecure_plaintext: true\n\
             - name: broken\n  endpoints: [b:7401]\n  ca_file: missing-ca.pem\n",
        );
        Setup { dir, config }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn conn(&self) -> ConnArgs {
        ConnArgs {
            config: Some(self.config.clone()),
            ..Default::default()
        }
    }
}

fn no_env() -> BTreeMap<&'static str, &'static str> {
    BTreeMap::new()
}

fn tls_of(s: &Settings) -> &crate::client::Tls {
    match &s.security.transport {
        Transport::Tls(t) => t,
        Transport::Plaintext => panic!("plaintext: {s:?}"),
    }
}

#[test]
fn the_current_context_gives_what_the_flags_do_not() {
    let s = Setup::new();
    let r = resolve(&s.conn(), &no_env()).unwrap();
    assert_eq!(r.context.as_deref(), Some("prod"));
    assert_eq!(r.endpoints, ["p1:7401", "p2:7401"]);
    assert_eq!(r.endpoints_from, "context prod");
    let tls = tls_of(&r);
    assert_eq!(tls.ca_file, s.path("ca.pem"), "relative to the file");
    assert_eq!(tls.server_name.as_deref(), Some("moor.internal"));
    assert!(r.security.token.is_some());
    assert!(r.token_from.unwrap().contains("context prod's token_file"));
}

#[test]
fn flags_win_over_the_context() {
    let s = Setup::new();
    let conn = ConnArgs {
        endpoints: Some(vec!["f:1".into()]),
        ca_file: Some(s.path("other-ca.pem")),
        tls_server_name: Some("flag.example".into()),
        ..s.conn()
    };
    let r = resolve(&conn, &no_env()).unwrap();
    assert_eq!(
        (r.endpoints.as_slice(), r.endpoints_from.as_str()),
        (&["f:1".to_string()][..], "--endpoints")
    );
    assert_eq!(tls_of(&r).ca_file, s.path("other-ca.pem"));
    assert_eq!(tls_of(&r).server_name.as_deref(), Some("flag.example"));

    // --context picks another context; --insecure-plaintext wins over its TLS.
    let dev = ConnArgs {
        context: Some("dev".into()),
        ..s.conn()
    };
    let r = resolve(&dev, &no_env()).unwrap();
    assert!(matches!(r.security.transport, Transport::Plaintext));
    assert!(r.security.token.is_none());
    // A TLS flag wins over a context's insecure_plaintext.
    let r = resolve(
        &ConnArgs {
            ca_file: Some(s.path("ca.pem")),
            ..dev
        },
        &no_env(),
    )
    .unwrap();
    assert_eq!(tls_of(&r).ca_file, s.path("ca.pem"));
    let plain = ConnArgs {
        insecure_plaintext: true,
        ..s.conn()
    };
    let r = resolve(&plain, &no_env()).unwrap();
    assert!(matches!(r.security.transport, Transport::Plaintext));
}

#[test]
fn the_token_file_flag_then_moor_token_then_the_context() {
    let s = Setup::new();
    let env = BTreeMap::from([("MOOR_TOKEN", ENV_SECRET)]);
    let r = resolve(&s.conn(), &env).unwrap();
    assert_eq!(r.token_from.as_deref(), Some("MOOR_TOKEN"));
    write(s.dir.path(), "flag.token", "mt_t1.flag-secret");
    let conn = ConnArgs {
        token_file: Some(s.path("flag.token")),
        ..s.conn()
    };
    let r = resolve(&conn, &env).unwrap();
    assert!(r.token_from.as_ref().unwrap().starts_with("--token-file"));
    // Nothing shows a token.
    let shown = format!("{r:?} {r:#?}");
    for secret in [SECRET, ENV_SECRET, "flag-secret"] {
        assert!(!shown.contains(secret), "{shown}");
    }
}

#[test]
fn without_a_file_the_defaults_and_tls_needs_a_ca() {
    let s = Setup::new();
    let conn = ConnArgs {
        config: Some(s.path("none.yaml")),
        ..Default::default()
    };
    let e = resolve(&conn, &no_env()).unwrap_err();
    assert_eq!(Exit::of_error(&e), Exit::Usage);
    assert!(e.to_string().contains("--ca-file"), "{e}");
    assert!(e.to_string().contains("--insecure-plaintext"), "{e}");
    let r = resolve(
        &ConnArgs {
            insecure_plaintext: true,
            ..conn
        },
        &no_env(),
    )
    .unwrap();
    assert_eq!(r.endpoints, [DEFAULT_ENDPOINT]);
    assert_eq!(r.endpoints_from, "default");
    assert!(r.context.is_none());
}

#[test]
fn errors_name_the_file_and_the_fix() {
    let s = Setup::new();
    let broken = ConnArgs {
        context: Some("broken".into()),
        ..s.conn()
    };
    let e = resolve(&broken, &no_env()).unwrap_err().to_string();
    assert!(e.contains("context broken's ca_file"), "{e}");
    assert!(
        e.contains(&s.path("missing-ca.pem").display().to_string()),
        "{e}"
    );
    assert!(
        e.contains("moorctl config set-context broken --ca-file PATH"),
        "{e}"
    );

    let e = resolve(
        &ConnArgs {
            context: Some("nope".into()),
            ..s.conn()
        },
        &no_env(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("--context nope") && e.contains("prod, dev, broken"),
        "{e}"
    );

    write(s.dir.path(), "bad.token", "mt_t1.zq xv");
    let conn = ConnArgs {
        token_file: Some(s.path("bad.token")),
        ..s.conn()
    };
    let e = resolve(&conn, &no_env()).unwrap_err().to_string();
    assert!(
        e.contains("--token-file") && e.contains("position 9"),
        "{e}"
    );
    // Neither piece of the token may be quoted; both hold characters (a dot
    // after "t1", a space) that a temporary directory's name never has.
    assert!(!e.contains("t1.zq") && !e.contains("zq xv"), "{e}");
    let e = resolve(&s.conn(), &BTreeMap::from([("MOOR_TOKEN", "bad secret")]))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("MOOR_TOKEN:") && !e.contains("secret"), "{e}");

    let unknown = write(
        s.dir.path(),
        "typo.yaml",
        "contexts:\n- name: a\n  ca_fle: x\n",
    );
    let e = resolve(
        &ConnArgs {
            config: Some(unknown),
            ..Default::default()
        },
        &no_env(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("unknown field `ca_fle`"), "{e}");
}

#[test]
fn without_a_home_there_is_no_file_unless_a_context_is_asked_for() {
    let plain = ConnArgs {
        insecure_plaintext: true,
        ..Default::default()
    };
    let r = resolve(&plain, &no_env()).unwrap();
    assert_eq!(r.endpoints, [DEFAULT_ENDPOINT]);
    let ctx = ConnArgs {
        context: Some("prod".into()),
        ..plain
    };
    let e = resolve(&ctx, &no_env()).unwrap_err().to_string();
    assert!(e.contains("--config"), "{e}");
}

#[test]
fn loopback_endpoints() {
    assert!(loopback("127.0.0.1:7401") && loopback("[::1]:1") && loopback("localhost:1"));
    assert!(!loopback("10.0.0.1:7401") && !loopback("moor:7401"));
}
