//! The connection flags, the new commands' arguments, and their usage errors (exit 2,
//! naming the bad value).

use super::super::*;

fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    let mut full = vec!["moorctl"];
    full.extend_from_slice(args);
    Cli::try_parse_validated(full)
}

fn usage(args: &[&str]) -> String {
    match parse(args) {
        Ok(cli) => panic!("{args:?} parsed as {cli:?}"),
        Err(e) => {
            assert_eq!(e.exit_code(), 2, "{args:?}: {e}");
            e.to_string()
        }
    }
}

#[test]
fn connection_flags_anywhere() {
    let cli = parse(&[
        "var",
        "get",
        "k",
        "--context",
        "prod",
        "--ca-file",
        "/ca.pem",
        "--cert-file",
        "/c.pem",
        "--key-file",
        "/k.pem",
        "--token-file",
        "/t",
        "--tls-server-name",
        "moor.internal",
        "--config",
        "/m.yaml",
    ])
    .unwrap();
    let c = &cli.conn;
    assert_eq!(c.context.as_deref(), Some("prod"));
    assert_eq!(c.ca_file.as_deref(), Some(std::path::Path::new("/ca.pem")));
    assert_eq!(c.tls_server_name.as_deref(), Some("moor.internal"));
    assert!(c.asks_for_tls() && !c.insecure_plaintext);
    assert!(c.given("ca_file") && c.given("token_file") && !c.given("endpoints"));
}

#[test]
fn contradictory_connection_flags_are_usage_errors() {
    let e = usage(&[
        "--insecure-plaintext",
        "--ca-file",
        "/ca.pem",
        "cluster",
        "status",
    ]);
    assert!(
        e.contains("--insecure-plaintext") && e.contains("--ca-file"),
        "{e}"
    );
    let e = usage(&["--cert-file", "/c.pem", "cluster", "status"]);
    assert!(e.contains("--key-file"), "{e}");
    let e = usage(&["--context", "prod eu", "cluster", "status"]);
    assert!(e.contains("\"prod eu\" is not a context name"), "{e}");
    let e = usage(&["--tls-server-name", "https://x", "cluster", "status"]);
    assert!(e.contains("not a server name"), "{e}");
    let e = usage(&["--endpoints", "http://a:1", "cluster", "status"]);
    assert!(
        e.contains("\"http://a:1\"") && e.contains("--insecure-plaintext"),
        "{e}"
    );
}

#[test]
fn there_is_no_token_flag() {
    let e = usage(&["--token", "x", "cluster", "status"]);
    assert!(e.contains("--token"), "{e}");
}

#[test]
fn token_create_arguments() {
    let cli = parse(&[
        "auth",
        "token",
        "create",
        "--role",
        "deployer",
        "--group",
        "edge-*",
        "--group",
        "core",
        "--blueprint",
        "web*",
        "--ttl",
        "12h",
        "--out",
        "t.token",
    ])
    .unwrap();
    let Command::Auth(AuthCommand::Token(TokenCommand::Create(a))) = cli.command else {
        panic!("not token create");
    };
    assert_eq!(a.groups, ["edge-*", "core"]);
    assert_eq!(a.ttl.seconds(), 12 * 3600);
    let cli = parse(&["auth", "token", "create", "--role", "admin"]).unwrap();
    let Command::Auth(AuthCommand::Token(TokenCommand::Create(a))) = cli.command else {
        panic!("not token create");
    };
    assert_eq!(a.ttl.seconds(), 720 * 3600, "default --ttl 720h");
    assert!(a.out.is_none());
    let e = usage(&["auth", "token", "create", "--role", "a", "--ttl", "12"]);
    assert!(e.contains("\"12\" has no unit"), "{e}");
    assert!(usage(&["auth", "token", "create"]).contains("--role"));
    let e = usage(&["auth", "token", "create", "--role", "a", "--force"]);
    assert!(e.contains("--out"), "{e}");
    let e = usage(&["auth", "token", "revoke", "t 1"]);
    assert!(e.contains("moorctl auth token list"), "{e}");
}

#[test]
fn role_and_audit_arguments() {
    let cli = parse(&[
        "auth",
        "role",
        "put",
        "ops",
        "--op",
        "rollout.*",
        "--op",
        "env.get",
        "--name",
        "web-*",
    ])
    .unwrap();
    assert!(matches!(
        cli.command,
        Command::Auth(AuthCommand::Role(RoleCommand::Put { ref operations, ref names, .. }))
            if operations.len() == 2 && names == &["web-*"]
    ));
    assert!(usage(&["auth", "role", "put", "ops"]).contains("--op"));
    let cli = parse(&[
        "audit",
        "list",
        "--since",
        "1h",
        "--who",
        "token:",
        "--all-pages",
    ])
    .unwrap();
    let Command::Audit(AuditCommand::List(a)) = cli.command else {
        panic!("not audit list");
    };
    assert_eq!(a.since.unwrap().as_secs(), 3600);
    assert_eq!(a.limit, 100);
    assert!(usage(&["audit", "list", "--since", "1w"]).contains("unknown unit \"w\""));
    assert!(usage(&["audit", "list", "--limit", "1001"]).contains("1001"));
}

#[test]
fn cluster_arguments_take_peer_addresses() {
    let cli = parse(&["cluster", "bootstrap", "--member", "1,2=10.0.0.2:7402,3"]).unwrap();
    let Command::Cluster(ClusterCommand::Bootstrap {
        members,
        admin_token,
        ..
    }) = cli.command
    else {
        panic!("not bootstrap");
    };
    assert_eq!(
        members[0],
        VoterSpec {
            id: 1,
            peer_addr: None
        }
    );
    assert_eq!(members[1].peer_addr.as_deref(), Some("10.0.0.2:7402"));
    assert_eq!(
        admin_token.admin_token_out,
        std::path::Path::new(DEFAULT_ADMIN_TOKEN_FILE)
    );
    assert!(!admin_token.force);
    let e = usage(&["cluster", "bootstrap", "--member", "1,1"]);
    assert!(e.contains("given twice"), "{e}");
    let e = usage(&["cluster", "bootstrap", "--member", "x"]);
    assert!(
        e.contains("\"x\" is not in the form ID or ID=PEER_HOST:PORT"),
        "{e}"
    );
    let cli = parse(&[
        "cluster",
        "init",
        "--admin-token-out",
        "/a.token",
        "--force",
    ])
    .unwrap();
    assert!(matches!(
        cli.command,
        Command::Cluster(ClusterCommand::Init { ref admin_token, .. }) if admin_token.force
    ));
}

#[test]
fn set_context_records_only_the_command_line() {
    let cli = parse(&[
        "config",
        "set-context",
        "prod",
        "--endpoints",
        "a:1",
        "--token-file",
        "/t",
        "--server-name",
        "moor.internal",
    ])
    .unwrap();
    assert!(cli.conn.given("endpoints") && cli.conn.given("token_file"));
    assert!(!cli.conn.given("ca_file"));
    let Command::Config(ConfigCommand::SetContext(a)) = cli.command else {
        panic!("not set-context");
    };
    assert_eq!(
        (a.name.as_str(), a.server_name.as_deref()),
        ("prod", Some("moor.internal"))
    );
}
