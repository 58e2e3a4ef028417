//! Tests of the command line as a whole: what parses, what is a usage error, and what
//! `--help` says.

use std::path::PathBuf;

use clap::CommandFactory;
use moor_proto::names::ExecKind;

use super::values::{parse_input, parse_member, parse_name_rev};
use super::*;

fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    let mut full = vec!["moorctl"];
    full.extend_from_slice(args);
    Cli::try_parse_validated(full)
}

fn parse_err(args: &[&str]) -> clap::Error {
    match parse(args) {
        Ok(cli) => panic!("{args:?} parsed as {cli:?}"),
        Err(e) => e,
    }
}

#[test]
fn clap_definition_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn defaults() {
    let cli = parse(&["cluster", "status"]).unwrap();
    // MOOR_ENDPOINTS may be set where the tests run; only check when it is not.
    if std::env::var_os("MOOR_ENDPOINTS").is_none() {
        assert_eq!(cli.conn.endpoints, None);
    }
    assert_eq!(cli.output, OutputFormat::Table);
    assert_eq!(cli.timeout_ms, 10_000);
    assert!(matches!(
        cli.command,
        Command::Cluster(ClusterCommand::Status)
    ));
}

#[test]
fn global_flags_anywhere() {
    let cli = parse(&[
        "var",
        "get",
        "k",
        "-o",
        "json",
        "--endpoints",
        "a:1,https://b:2,[::1]:3",
        "--timeout-ms",
        "500",
    ])
    .unwrap();
    assert_eq!(
        cli.conn.endpoints,
        Some(vec!["a:1".into(), "b:2".into(), "[::1]:3".into()])
    );
    assert_eq!(cli.output, OutputFormat::Json);
    assert_eq!(cli.timeout_ms, 500);
}

#[test]
fn bad_endpoints_are_usage_errors() {
    for bad in [
        "a",
        "a:0",
        "a:x",
        ":7401",
        "a:1,,b:2",
        "http://a:1",
        "::1:7401",
    ] {
        let e = parse_err(&["--endpoints", bad, "cluster", "status"]);
        assert_eq!(e.exit_code(), 2, "{bad}: {e}");
    }
    let e = parse_err(&["--timeout-ms", "0", "cluster", "status"]);
    assert_eq!(e.exit_code(), 2);
}

#[test]
fn member_pairs() {
    let cli = parse(&[
        "cluster",
        "init",
        "--member",
        "1=10.0.0.1:7401",
        "--member",
        "2=host-b:7401",
    ])
    .unwrap();
    let Command::Cluster(ClusterCommand::Init { members, .. }) = cli.command else {
        panic!("not init");
    };
    assert_eq!(
        members,
        vec![
            MemberSpec {
                id: 1,
                addr: "10.0.0.1:7401".into()
            },
            MemberSpec {
                id: 2,
                addr: "host-b:7401".into()
            },
        ]
    );

    let cli = parse(&["cluster", "init"]).unwrap();
    assert!(matches!(
        cli.command,
        Command::Cluster(ClusterCommand::Init { members, .. }) if members.is_empty()
    ));
}

#[test]
fn bad_member_pairs_say_what_is_expected() {
    let e = parse_member("10.0.0.1:7401").unwrap_err();
    assert!(
        e.contains("ID=HOST:PORT") && e.contains("--member 1="),
        "{e}"
    );
    let e = parse_member("x=10.0.0.1:7401").unwrap_err();
    assert!(e.contains("member id") && e.contains("--member 1="), "{e}");
    let e = parse_member("1=10.0.0.1").unwrap_err();
    assert!(e.contains("no port"), "{e}");
    let e = parse_member("1=http://10.0.0.1:7401").unwrap_err();
    assert!(e.contains("without a scheme"), "{e}");

    let e = parse_err(&["cluster", "init", "--member", "1:10.0.0.1:7401"]);
    assert_eq!(e.exit_code(), 2);
    assert!(
        e.to_string().contains("e.g. --member 1=10.0.0.5:7401"),
        "{e}"
    );
}

#[test]
fn duplicate_members_are_rejected() {
    let e = parse_err(&["cluster", "init", "--member", "1=a:1", "--member", "1=b:1"]);
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("given twice"), "{e}");
    let e = parse_err(&["cluster", "init", "--member", "1=a:1", "--member", "2=a:1"]);
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("two members"), "{e}");
}

#[test]
fn add_member() {
    let cli = parse(&["cluster", "add", "4", "10.0.0.4:7401", "--wait"]).unwrap();
    assert!(matches!(
        cli.command,
        Command::Cluster(ClusterCommand::Add { id: 4, ref addr, wait: true }) if addr == "10.0.0.4:7401"
    ));
    assert_eq!(parse_err(&["cluster", "add", "x", "a:1"]).exit_code(), 2);
    assert_eq!(parse_err(&["cluster", "add", "4", "a"]).exit_code(), 2);
    assert_eq!(parse_err(&["cluster", "add", "4"]).exit_code(), 2);
}

#[test]
fn snapshot_commands() {
    let cli = parse(&["cluster", "snapshot", "save", "/b/m.backup", "--force"]).unwrap();
    assert!(matches!(
        cli.command,
        Command::Cluster(ClusterCommand::Snapshot(SnapshotCommand::Save { ref file, force: true }))
            if file == &PathBuf::from("/b/m.backup")
    ));
    let cli = parse(&["cluster", "snapshot", "inspect", "m.backup"]).unwrap();
    assert!(matches!(
        cli.command,
        Command::Cluster(ClusterCommand::Snapshot(SnapshotCommand::Inspect { ref file }))
            if file == &PathBuf::from("m.backup")
    ));
    for bad in [
        &["cluster", "snapshot", "save"][..],
        &["cluster", "snapshot", "save", "-"],
        &["cluster", "snapshot", "save", ""],
        &["cluster", "snapshot", "inspect", "-"],
        &["cluster", "snapshot", "inspect", "a", "--force"],
    ] {
        assert_eq!(parse_err(bad).exit_code(), 2, "{bad:?}");
    }
}

#[test]
fn put_takes_exactly_one_source() {
    let cli = parse(&["var", "put", "k", "v"]).unwrap();
    let Command::Var(VarCommand::Put(p)) = cli.command else {
        panic!("not put");
    };
    assert_eq!((p.value.as_deref(), p.from_file), (Some("v"), None));

    let cli = parse(&["var", "put", "k", "--from-file", "-"]).unwrap();
    let Command::Var(VarCommand::Put(p)) = cli.command else {
        panic!("not put");
    };
    assert_eq!(p.from_file, Some(PathBuf::from("-")));

    assert_eq!(parse_err(&["var", "put", "k"]).exit_code(), 2);
    assert_eq!(
        parse_err(&["var", "put", "k", "v", "--from-file", "f"]).exit_code(),
        2
    );
    assert_eq!(parse_err(&["var", "put", "", "v"]).exit_code(), 2);
}

#[test]
fn put_secret_sources() {
    let source = |args: &str| {
        let cli = parse(&words(args)).unwrap();
        let Command::Var(VarCommand::Put(p)) = cli.command else {
            panic!("not put");
        };
        p.secret_source()
    };
    assert_eq!(
        source("var put db/pw --secret --from-file pw.txt"),
        Some(SecretSource::File(PathBuf::from("pw.txt")))
    );
    assert_eq!(
        source("var put db/pw --from-file - --secret"),
        Some(SecretSource::Stdin)
    );
    assert_eq!(
        source("var put db/pw --secret -"),
        Some(SecretSource::Stdin)
    );
    assert_eq!(
        source("var put db/pw --secret hunter2"),
        Some(SecretSource::Inline("hunter2".into()))
    );
    // Without --secret, `-` is a value like any other and nothing is a secret.
    assert_eq!(source("var put k -"), None);
    assert_eq!(source("var put k --from-file f"), None);

    for bad in [
        "var put db/pw --secret",
        "var put db/pw --secret v --from-file f",
        "var put --secret v",
    ] {
        assert_eq!(parse_err(&words(bad)).exit_code(), 2, "{bad}");
    }
}

#[test]
fn secrets_commands() {
    let cli = parse(&words("secrets status -o json")).unwrap();
    assert!(matches!(
        cli.command,
        Command::Secrets(SecretsCommand::Status)
    ));
    assert_eq!(cli.output, OutputFormat::Json);
    let cli = parse(&words("secrets reseal")).unwrap();
    assert!(matches!(
        cli.command,
        Command::Secrets(SecretsCommand::Reseal)
    ));
    assert_eq!(parse_err(&words("secrets rotate")).exit_code(), 2);
    assert_eq!(parse_err(&words("secrets status extra")).exit_code(), 2);

    let mut cmd = Cli::command();
    let secrets = cmd.find_subcommand_mut("secrets").unwrap();
    for sub in ["status", "reseal"] {
        let help = secrets
            .find_subcommand_mut(sub)
            .unwrap()
            .render_long_help()
            .to_string();
        for code in [
            "  0   every stored secret",
            "  10  not yet",
            "  11  some secret",
        ] {
            assert!(help.contains(code), "secrets {sub} --help lacks {code:?}");
        }
    }
    for code in ["  10  `secrets status`", "  11  `secrets status`"] {
        assert!(crate::exit::EXIT_CODES_HELP.contains(code), "{code}");
    }
}

#[test]
fn cas_flag_combinations() {
    let ok = |args: &[&str]| {
        let mut full = vec!["var", "cas", "k"];
        full.extend_from_slice(args);
        let cli = parse(&full).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        let Command::Var(VarCommand::Cas(c)) = cli.command else {
            panic!("not cas");
        };
        (c.expected_bytes(), c.new_bytes())
    };
    assert_eq!(
        ok(&["--expected", "a", "--new", "b"]),
        (Some(b"a".to_vec()), Some(b"b".to_vec()))
    );
    assert_eq!(ok(&["--absent", "--new", "b"]), (None, Some(b"b".to_vec())));
    assert_eq!(
        ok(&["--expected", "a", "--delete"]),
        (Some(b"a".to_vec()), None)
    );
    // An empty expected value is a value, not absence.
    assert_eq!(
        ok(&["--expected", "", "--delete"]),
        (Some(Vec::new()), None)
    );

    for bad in [
        &["--new", "b"][..],
        &["--expected", "a"],
        &["--absent"],
        &["--delete"],
        &[],
        &["--expected", "a", "--absent", "--new", "b"],
        &["--expected", "a", "--new", "b", "--delete"],
        &["--absent", "--delete", "--new", "b"],
    ] {
        let mut full = vec!["var", "cas", "k"];
        full.extend_from_slice(bad);
        let e = parse_err(&full);
        assert_eq!(e.exit_code(), 2, "{bad:?}: {e}");
    }
}

#[test]
fn list_arguments() {
    let cli = parse(&["var", "list"]).unwrap();
    assert!(matches!(
        cli.command,
        Command::Var(VarCommand::List { ref prefix, limit: None, stale: false }) if prefix.is_empty()
    ));
    let cli = parse(&["var", "ls", "app/", "--limit", "5", "--stale"]).unwrap();
    assert!(matches!(
        cli.command,
        Command::Var(VarCommand::List { ref prefix, limit: Some(5), stale: true }) if prefix == "app/"
    ));
    assert_eq!(parse_err(&["var", "list", "--limit", "0"]).exit_code(), 2);
}

#[test]
fn inputs_are_json_when_they_parse() {
    use serde_json::json;
    let v = |s: &str| parse_input(s).unwrap();
    assert_eq!(v("replicas=3"), ("replicas".into(), json!(3)));
    assert_eq!(v("debug=true"), ("debug".into(), json!(true)));
    assert_eq!(
        v("nets=[\"10.0.0.0/8\"]"),
        ("nets".into(), json!(["10.0.0.0/8"]))
    );
    assert_eq!(v("image=shop:1.4.2"), ("image".into(), json!("shop:1.4.2")));
    assert_eq!(v("version=\"1.10\""), ("version".into(), json!("1.10")));
    assert_eq!(v("msg=hello world"), ("msg".into(), json!("hello world")));
    assert_eq!(v("empty="), ("empty".into(), json!("")));
    // Only the first `=` separates: the value may hold more.
    assert_eq!(v("q=a=b"), ("q".into(), json!("a=b")));
    for bad in ["noequals", "=3"] {
        let e = parse_input(bad).unwrap_err();
        assert!(e.contains("KEY=VALUE"), "{e}");
    }
}

#[test]
fn names_with_revisions() {
    assert_eq!(
        parse_name_rev("webshop").unwrap(),
        NameRev {
            name: "webshop".into(),
            revision: None
        }
    );
    let nr = parse_name_rev("webshop@3").unwrap();
    assert_eq!(nr.revision, Some(3));
    assert_eq!(nr.to_string(), "webshop@3");
    for bad in [
        "webshop@",
        "webshop@0",
        "webshop@x",
        "@3",
        "web shop",
        "a@1@2",
    ] {
        let e = parse_name_rev(bad).unwrap_err();
        assert!(e.contains("e.g. webshop or webshop@3"), "{bad}: {e}");
    }
    let e = parse_err(&["blueprint", "show", "webshop@latest"]);
    assert_eq!(e.exit_code(), 2);
}

#[test]
fn env_create_arguments() {
    let cli = parse(&[
        "env",
        "create",
        "web-1",
        "--site",
        "edge-1",
        "--blueprint",
        "hello@2",
        "--input",
        "replicas=3",
        "--input",
        "message=hi",
        "--label",
        "tier=edge",
        "--watch",
    ])
    .unwrap();
    let Command::Env(EnvCommand::Create(c)) = cli.command else {
        panic!("not env create");
    };
    assert_eq!(c.blueprint.revision, Some(2));
    assert_eq!(c.inputs.inputs.len(), 2);
    assert_eq!(c.labels, vec![("tier".to_string(), "edge".to_string())]);
    assert!(c.watch.watch);
    assert_eq!(c.watch.watch_timeout_s, DEFAULT_WATCH_TIMEOUT_S);

    let base = ["env", "create", "w", "--site", "s", "--blueprint", "b"];
    let with = |extra: &[&'static str]| -> Vec<&'static str> {
        let mut v = base.to_vec();
        v.extend_from_slice(extra);
        v
    };
    assert!(parse(&with(&[])).is_ok());
    assert_eq!(
        parse_err(&["env", "create", "w", "--site", "s"]).exit_code(),
        2
    );
    let e = parse_err(&with(&["--input", "a=1", "--input", "a=2"]));
    assert!(e.to_string().contains("given twice"), "{e}");
    let e = parse_err(&with(&["--label", "a=1", "--label", "a=2"]));
    assert!(e.to_string().contains("given twice"), "{e}");
    // The watch time limit makes sense only with --watch.
    assert_eq!(parse_err(&with(&["--watch-timeout-s", "5"])).exit_code(), 2);
    assert!(parse(&with(&["--watch", "--watch-timeout-s", "5"])).is_ok());
    assert_eq!(
        parse_err(&with(&["--watch", "--watch-timeout-s", "0"])).exit_code(),
        2
    );
}

#[test]
fn exec_start_checks_kind_specific_flags() {
    let cli = parse(&[
        "exec",
        "start",
        "web-1",
        "--kind",
        "update",
        "--revision",
        "4",
        "--input",
        "a=1",
    ])
    .unwrap();
    let Command::Exec(ExecCommand::Start(s)) = cli.command else {
        panic!("not exec start");
    };
    assert_eq!((s.kind, s.revision), (ExecKind::Update, Some(4)));
    assert!(parse(&["exec", "start", "w", "--kind", "install", "--revision", "2"]).is_ok());
    assert!(parse(&["exec", "start", "w", "--kind", "heal"]).is_ok());
    let e = parse_err(&["exec", "start", "w", "--kind", "heal", "--input", "a=1"]);
    assert!(
        e.to_string().contains("only an update takes new inputs"),
        "{e}"
    );
    let e = parse_err(&[
        "exec",
        "start",
        "w",
        "--kind",
        "rollback",
        "--revision",
        "2",
    ]);
    assert!(e.to_string().contains("--revision"), "{e}");
    assert_eq!(
        parse_err(&["exec", "start", "w", "--kind", "nuke"]).exit_code(),
        2
    );
    assert_eq!(parse_err(&["exec", "start", "w"]).exit_code(), 2);
    let cli = parse(&["exec", "watch", "x3", "--watch-timeout-s", "60"]).unwrap();
    assert!(matches!(
        cli.command,
        Command::Exec(ExecCommand::Watch { ref id, watch_timeout_s: 60 }) if id == "x3"
    ));
}

#[test]
fn apply_and_site_arguments() {
    let cli = parse(&["apply", "-f", "a.yaml", "--filename", "-"]).unwrap();
    let Command::Apply(a) = cli.command else {
        panic!("not apply");
    };
    assert_eq!(a.files, vec![PathBuf::from("a.yaml"), PathBuf::from("-")]);
    assert_eq!(parse_err(&["apply"]).exit_code(), 2);
    let e = parse_err(&["apply", "-f", "-", "-f", "-"]);
    assert!(e.to_string().contains("only once"), "{e}");

    let cli = parse(&["blueprint", "validate", "a.yaml", "-"]).unwrap();
    let Command::Blueprint(BlueprintCommand::Validate { files }) = cli.command else {
        panic!("not blueprint validate");
    };
    assert_eq!(files, vec![PathBuf::from("a.yaml"), PathBuf::from("-")]);
    assert_eq!(parse_err(&["blueprint", "validate"]).exit_code(), 2);
    assert_eq!(parse_err(&["blueprint", "validate", ""]).exit_code(), 2);
    let e = parse_err(&["blueprint", "validate", "-", "-"]);
    assert!(e.to_string().contains("only once"), "{e}");

    let cli = parse(&[
        "site",
        "list",
        "--region",
        "eu",
        "--label",
        "tier=edge",
        "--label",
        "x=",
    ])
    .unwrap();
    let Command::Site(SiteCommand::List { region, labels, .. }) = cli.command else {
        panic!("not site list");
    };
    assert_eq!(region.as_deref(), Some("eu"));
    assert_eq!(labels[1], ("x".to_string(), String::new()));
    assert_eq!(
        parse_err(&["site", "list", "--label", "tier"]).exit_code(),
        2
    );
    assert_eq!(
        parse_err(&["env", "list", "--status", "green"]).exit_code(),
        2
    );
    assert!(parse(&["env", "ls", "--status", "in_sync", "--stale"]).is_ok());
}

#[test]
fn help_documents_exit_codes() {
    let help = Cli::command().render_long_help().to_string();
    for code in [
        "0  success",
        "3  not found",
        "5  unavailable",
        "6  outcome unknown",
        "7  the watched execution did not succeed",
    ] {
        assert!(help.contains(code), "--help lacks {code:?}");
    }
}

#[test]
fn rollout_flags_are_checked_before_anything_is_sent() {
    let parse = |args: &[&str]| {
        let mut v = vec!["moorctl", "rollout", "start", "--group", "g"];
        v.extend_from_slice(args);
        Cli::try_parse_validated(v)
    };
    let ok = parse(&[
        "--action",
        "install",
        "--blueprint",
        "hello@2",
        "--waves",
        "1,10%,100%",
    ]);
    assert!(ok.is_ok(), "{:?}", ok.err());
    for (bad, want) in [
        (
            vec![
                "--action",
                "install",
                "--blueprint",
                "h",
                "--max-parallel",
                "0",
            ],
            "0",
        ),
        (
            vec![
                "--action",
                "install",
                "--blueprint",
                "h",
                "--max-parallel",
                "-3",
            ],
            "-3",
        ),
        (vec!["--action", "install"], "--blueprint"),
        (
            vec!["--action", "update", "--blueprint", "h"],
            "only an install",
        ),
        (
            vec!["--action", "heal", "--input", "a=1"],
            "only install and update",
        ),
        (
            vec!["--action", "install", "--blueprint", "h", "--revision", "2"],
            "--revision",
        ),
        (vec!["--action", "update", "--label", "a=b"], "--label"),
        (
            vec![
                "--action",
                "install",
                "--blueprint",
                "h",
                "--max-failed-percent",
                "101",
            ],
            "101",
        ),
    ] {
        let e = parse(&bad).expect_err(&format!("{bad:?} accepted"));
        assert!(e.to_string().contains(want), "{bad:?}: {e}");
    }
}

/// The words of `line`, as a shell would split it (no quoting).
fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

#[test]
fn drift_flags_make_a_policy_with_defaults() {
    use std::time::Duration;
    let policy = |extra: &str| {
        let line = format!("env create w --site s --blueprint b {extra}");
        let Command::Env(EnvCommand::Create(c)) = parse(&words(&line)).unwrap().command else {
            panic!("not env create");
        };
        c.drift.policy().unwrap()
    };
    assert_eq!(policy(""), None);
    let heal = policy("--on-drift heal").unwrap();
    assert_eq!(heal.check_every, DEFAULT_CHECK_EVERY);
    assert_eq!(heal.max_heals_per_hour, DEFAULT_MAX_HEALS_PER_HOUR);
    let p = policy("--drift-check-every 2h --on-drift heal --max-heals-per-hour 10").unwrap();
    assert_eq!(p.check_every, Duration::from_secs(7200));
    assert_eq!((p.on_drift, p.max_heals_per_hour), (OnDrift::Heal, 10));
    let notify = policy("--drift-check-every 30s").unwrap();
    assert_eq!(
        (notify.on_drift, notify.max_heals_per_hour),
        (OnDrift::Notify, 0)
    );

    let put = parse(&words("group put g --of environments --on-drift notify"));
    let Command::Group(GroupCommand::Put(g)) = put.unwrap().command else {
        panic!("not group put");
    };
    assert_eq!(g.drift.policy().unwrap().unwrap().on_drift, OnDrift::Notify);
}

#[test]
fn bad_drift_flags_are_usage_errors_before_anything_is_sent() {
    for (bad, says) in [
        ("--drift-check-every 8d", "out of bounds"),
        ("--drift-check-every 0s", "no time at all"),
        ("--drift-check-every 5", "no unit"),
        ("--on-drift fix", "invalid value 'fix'"),
        ("--on-drift heal --max-heals-per-hour 61", "61"),
        ("--on-drift heal --max-heals-per-hour 0", "0"),
        (
            "--on-drift notify --max-heals-per-hour 2",
            "needs on_drift heal",
        ),
        ("--max-heals-per-hour 2", "needs on_drift heal"),
    ] {
        let e = parse_err(&words(&format!(
            "env create w --site s --blueprint b {bad}"
        )));
        assert_eq!(e.exit_code(), 2, "{bad}: {e}");
        assert!(e.to_string().contains(says), "{bad}: {e}");
    }
    let e = parse_err(&words("group put g --of sites --max-heals-per-hour 3"));
    assert!(e.to_string().contains("needs on_drift heal"), "{e}");
}

#[test]
fn env_drift_sets_or_clears() {
    let drift = |line: &str| match parse(&words(line)).unwrap().command {
        Command::Env(EnvCommand::Drift(d)) => d,
        other => panic!("not env drift: {other:?}"),
    };
    let d = drift("env drift w --check-every 1m --on-drift heal");
    assert_eq!(d.policy().unwrap().unwrap().max_heals_per_hour, 4);
    let d = drift("env drift w --clear");
    assert!(d.clear);
    assert_eq!(d.policy().unwrap(), None);
    for bad in [
        "env drift w",
        "env drift w --on-drift heal",
        "env drift w --check-every 1m",
        "env drift w --clear --on-drift heal",
        "env drift w --check-every 1m --on-drift notify --max-heals-per-hour 3",
    ] {
        assert_eq!(parse_err(&words(bad)).exit_code(), 2, "{bad}");
    }
}

#[test]
fn env_diff_help_documents_its_exit_codes() {
    let mut cmd = Cli::command();
    let env = cmd.find_subcommand_mut("env").unwrap();
    let help = env
        .find_subcommand_mut("diff")
        .unwrap()
        .render_long_help()
        .to_string();
    assert!(help.contains("0  every resource is in sync"), "{help}");
    assert!(help.contains("9  some resource differs"), "{help}");
    assert!(crate::exit::EXIT_CODES_HELP.contains("  9  `env diff` found differences"));
}

#[test]
fn hook_groups_are_listed_and_every_command_has_an_example() {
    let help = Cli::command().render_long_help().to_string();
    for group in ["receiver", "source", "trigger"] {
        assert!(
            help.contains(&format!("  {group} ")),
            "--help lacks {group}"
        );
        let mut cmd = Cli::command();
        let g = cmd.find_subcommand_mut(group).unwrap();
        for sub in g.get_subcommands_mut() {
            let text = sub.render_long_help().to_string();
            assert!(
                text.contains("e.g. `moorctl "),
                "{group} {} has no example:\n{text}",
                sub.get_name()
            );
        }
    }
}

#[test]
fn receiver_create_arguments() {
    let cli = parse(&words(
        "receiver create ci --type github --secret-file ci.secret --max-body-bytes 65536 \
         --rate-per-minute 30 --timestamp-tolerance 5m",
    ))
    .unwrap();
    let Command::Receiver(ReceiverCommand::Create(c)) = cli.command else {
        panic!("not receiver create");
    };
    assert_eq!(c.kind, moor_proto::names::ReceiverKind::Github);
    assert_eq!(c.secret_file, PathBuf::from("ci.secret"));
    assert_eq!(
        (c.max_body_bytes, c.rate_per_minute),
        (Some(65536), Some(30))
    );
    assert_eq!(c.timestamp_tolerance.map(|d| d.as_secs()), Some(300));
    let cli = parse(&words("receiver create ci --type standard --secret-file s")).unwrap();
    let Command::Receiver(ReceiverCommand::Create(c)) = cli.command else {
        panic!("not receiver create");
    };
    assert_eq!((c.max_body_bytes, c.timestamp_tolerance), (None, None));

    for (bad, says) in [
        (
            "receiver create ci --type jenkins --secret-file s",
            "not a receiver type; use one of github, gitlab, standard",
        ),
        ("receiver create ci --type github", "--secret-file"),
        ("receiver create ci --secret-file s", "--type"),
        (
            "receiver create ci --type github --secret-file s --timestamp-tolerance 300",
            "no unit",
        ),
        (
            "receiver create ci --type github --secret-file s --rate-per-minute 0",
            "0",
        ),
        (
            "receiver create a/b --type github --secret-file s",
            "not a name",
        ),
        ("receiver deliveries ci --limit 0", "0"),
        ("receiver deliveries ci --limit 1001", "1001"),
    ] {
        let e = parse_err(&words(bad));
        assert_eq!(e.exit_code(), 2, "{bad}: {e}");
        assert!(e.to_string().contains(says), "{bad}: {e}");
    }
    assert!(parse(&words("receiver ls --stale")).is_ok());
    assert!(parse(&words("receiver deliveries ci --limit 20")).is_ok());
}

#[test]
fn source_add_arguments() {
    let cli = parse(&words(
        "source add shop --url https://git.example/shop.git --path blueprints/ \
         --credentials-file git.cred --poll 0",
    ))
    .unwrap();
    let Command::Source(SourceCommand::Add(a)) = cli.command else {
        panic!("not source add");
    };
    assert_eq!(
        (a.branch.as_str(), a.path.as_str()),
        ("main", "blueprints/")
    );
    assert_eq!(a.poll, std::time::Duration::ZERO);
    assert_eq!(a.credentials_file, Some(PathBuf::from("git.cred")));
    let cli = parse(&words(
        "source add s --url file:///srv/git/s.git --branch prod",
    ))
    .unwrap();
    let Command::Source(SourceCommand::Add(a)) = cli.command else {
        panic!("not source add");
    };
    assert_eq!(a.poll.as_secs(), 60, "default: every minute");
    assert_eq!((a.branch.as_str(), a.path.as_str()), ("prod", ""));

    for (bad, says) in [
        ("--url http://git.example/s.git", "not supported"),
        ("--url ssh://git@git.example/s.git", "not supported"),
        ("--url git@git.example:s.git", "no scheme"),
        (
            "--url https://bob:hunter2@git.example/s.git",
            "give --credentials-file FILE",
        ),
        (
            "--url https://git.example/s.git --poll soon",
            "not a duration",
        ),
        ("--url https://git.example/s.git --poll 60", "no unit"),
        (
            "--url https://git.example/s.git --branch",
            "a value is required",
        ),
    ] {
        let e = parse_err(&words(&format!("source add s {bad}")));
        assert_eq!(e.exit_code(), 2, "{bad}: {e}");
        assert!(e.to_string().contains(says), "{bad}: {e}");
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
    let e = parse_err(&words(
        "source add s --url https://git.example/s.git --poll 5",
    ));
    assert!(
        e.to_string().contains("or 0 to fetch only on webhooks"),
        "{e}"
    );
}

#[test]
fn source_sync_waits_only_when_asked() {
    let sync = |line: &str| match parse(&words(line)).unwrap().command {
        Command::Source(SourceCommand::Sync { wait, timeout, .. }) => (wait, timeout.as_secs()),
        other => panic!("not source sync: {other:?}"),
    };
    assert_eq!(sync("source sync shop"), (false, 60));
    assert_eq!(sync("source sync shop --wait"), (true, 60));
    assert_eq!(sync("source sync shop --wait --timeout 2m"), (true, 120));
    assert_eq!(
        parse_err(&words("source sync shop --timeout 2m")).exit_code(),
        2,
        "--timeout needs --wait"
    );
    assert_eq!(
        parse_err(&words("source sync shop --wait --timeout 0s")).exit_code(),
        2
    );
}

#[test]
fn trigger_create_arguments() {
    let base = "trigger create t --source shop --blueprint webshop --group eu";
    let cli = parse(&words(&format!(
        "{base} --waves 1,10%,100% --max-parallel 20 --max-failed 3 --approval \
         --policy supersede --max-attempts 2 --step-timeout-ms 5000"
    )))
    .unwrap();
    let Command::Trigger(TriggerCommand::Create(t)) = cli.command else {
        panic!("not trigger create");
    };
    assert_eq!(t.action, moor_proto::names::RolloutActionKind::Update);
    assert_eq!(t.policy, moor_proto::names::TriggerPolicy::Supersede);
    assert_eq!((t.plan.max_parallel, t.plan.max_failed), (20, Some(3)));
    assert_eq!(
        (t.plan.max_attempts, t.plan.step_timeout_ms),
        (Some(2), Some(5000))
    );
    assert!(t.plan.approval);
    let cli = parse(&words(&format!("{base} --action update"))).unwrap();
    let Command::Trigger(TriggerCommand::Create(t)) = cli.command else {
        panic!("not trigger create");
    };
    assert_eq!(
        (t.policy, t.plan.max_parallel),
        (moor_proto::names::TriggerPolicy::Queue, 50)
    );

    for (bad, says) in [
        (
            "--policy merge",
            "not a trigger policy; use one of queue, supersede",
        ),
        ("--action install", "a trigger starts update rollouts only"),
        ("--action nuke", "not a rollout action"),
        ("--max-parallel 0", "0"),
        ("--max-failed-percent 101", "101"),
        ("--revision 3", "--revision"),
    ] {
        let e = parse_err(&words(&format!("{base} {bad}")));
        assert_eq!(e.exit_code(), 2, "{bad}: {e}");
        assert!(e.to_string().contains(says), "{bad}: {e}");
    }
    assert_eq!(
        parse_err(&words("trigger create t --source shop --blueprint webshop")).exit_code(),
        2,
        "--group is required"
    );
}
