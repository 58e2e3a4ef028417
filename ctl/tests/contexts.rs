//! The `moorctl` binary with contexts, in a clean environment: which setting wins (flag over
//! environment over context over default), `config set-context` writing the file with mode
//! 0600, and no token in any output. No member is needed: `config view --effective` shows
//! what a command would use.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

const CONTEXT_SECRET: &str = "mt_t1.context-file-secret";
const ENV_SECRET: &str = "mt_t2.env-secret";

/// Runs moorctl with only `env` (and HOME) set.
fn moorctl(home: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_moorctl"));
    c.env_clear().env("HOME", home).args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `config view --effective -o json`, which must succeed.
fn effective(home: &Path, env: &[(&str, &str)], flags: &[&str]) -> serde_json::Value {
    let mut args = flags.to_vec();
    args.extend(["config", "view", "--effective", "-o", "json"]);
    let o = moorctl(home, env, &args);
    assert!(o.status.success(), "{}", text(&o));
    for secret in [CONTEXT_SECRET, ENV_SECRET] {
        assert!(!text(&o).contains(secret), "{}", text(&o));
    }
    serde_json::from_slice(&o.stdout).unwrap()
}

/// A home with a CA file, a token file and a `prod` context made by `config set-context`.
fn home_with_context() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = params.self_signed(&key).unwrap().pem();
    std::fs::write(h.join("ca.pem"), &ca).unwrap();
    std::fs::write(h.join("other-ca.pem"), &ca).unwrap();
    std::fs::write(h.join("prod.token"), CONTEXT_SECRET).unwrap();
    std::fs::set_permissions(h.join("prod.token"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let ca = h.join("ca.pem");
    let token = h.join("prod.token");
    let o = moorctl(
        h,
        &[("MOOR_CA_FILE", "/not/recorded.pem")],
        &[
            "config",
            "set-context",
            "prod",
            "--endpoints",
            "p1:7401,p2:7401",
            "--ca-file",
            ca.to_str().unwrap(),
            "--token-file",
            token.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("context prod created; it is the current context"));
    home
}

#[test]
fn set_context_writes_the_file_0600_with_paths_only() {
    let home = home_with_context();
    let file = home.path().join(".config/moor/moorctl.yaml");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(written.contains("current_context: prod"), "{written}");
    assert!(written.contains("prod.token"), "{written}");
    assert!(!written.contains(CONTEXT_SECRET), "{written}");
    assert!(
        !written.contains("recorded.pem"),
        "the environment is not recorded: {written}"
    );
    let o = moorctl(home.path(), &[], &["config", "get-contexts"]);
    assert!(text(&o).contains("*        prod"), "{}", text(&o));
    let o = moorctl(home.path(), &[], &["config", "view"]);
    assert!(
        o.status.success() && !text(&o).contains(CONTEXT_SECRET),
        "{}",
        text(&o)
    );
}

#[test]
fn flag_over_environment_over_context_over_default() {
    let home = home_with_context();
    let h = home.path();
    // The context.
    let e = effective(h, &[], &[]);
    assert_eq!(e["context"], "prod");
    assert_eq!(e["endpoints"], serde_json::json!(["p1:7401", "p2:7401"]));
    assert!(e["token_from"]
        .as_str()
        .unwrap()
        .contains("context prod's token_file"));
    // The environment over the context.
    let other = h.join("other-ca.pem");
    let other = other.to_str().unwrap();
    let env = [
        ("MOOR_ENDPOINTS", "e1:7401"),
        ("MOOR_CA_FILE", other),
        ("MOOR_TOKEN", ENV_SECRET),
    ];
    let e = effective(h, &env, &[]);
    assert_eq!(e["endpoints"], serde_json::json!(["e1:7401"]));
    assert_eq!(e["ca_file"], other);
    assert_eq!(e["token_from"], "MOOR_TOKEN");
    // The flag over the environment.
    let e = effective(h, &env, &["--endpoints", "f1:7401"]);
    assert_eq!(e["endpoints"], serde_json::json!(["f1:7401"]));
    // No context: the defaults (and TLS needs a CA, so plaintext is asked for).
    let empty = tempfile::tempdir().unwrap();
    let e = effective(empty.path(), &[], &["--insecure-plaintext"]);
    assert_eq!(e["endpoints"], serde_json::json!(["127.0.0.1:7401"]));
    assert_eq!(
        (e["transport"].as_str(), e["context"].is_null()),
        (Some("plaintext"), true)
    );
}

#[test]
fn bad_settings_are_usage_errors_that_say_what_to_do() {
    let home = home_with_context();
    let h = home.path();
    let o = moorctl(h, &[("MOORCTL_CONTEXT", "nope")], &["cluster", "status"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--context nope"), "{}", text(&o));
    let empty = tempfile::tempdir().unwrap();
    let o = moorctl(empty.path(), &[], &["cluster", "status"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--ca-file"), "{}", text(&o));
    let typo = h.join("typo.yaml");
    std::fs::write(&typo, "contexts:\n- name: a\n  tokn_file: x\n").unwrap();
    let o = moorctl(
        h,
        &[],
        &["--config", typo.to_str().unwrap(), "var", "get", "k"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("unknown field `tokn_file`"),
        "{}",
        text(&o)
    );
}
