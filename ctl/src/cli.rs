//! The command line of `moorctl`: flags, commands and the checks that can be made before any
//! request is sent.
//!
//! Everything a user can get wrong without talking to a member (an endpoint without a port, a
//! `--member` that is not `ID=ADDR`, two compare-and-swap expectations) is rejected here, as a
//! clap usage error (exit code 2) that names the bad value and shows the expected form. The
//! rest of moorctl can then take its input as valid.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::error::ErrorKind;
use clap::{ArgGroup, Args, CommandFactory, Parser, Subcommand, ValueEnum};

/// The exit codes, shown after `moorctl --help` and kept in step with `ctl/README.md` and
/// [`crate::exit::Exit`].
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  error: the request was refused (invalid argument, failed precondition, ...) or a local
     step failed (reading --from-file, writing output)
  2  usage error: bad flags or arguments; nothing was sent
  3  not found: `var get` of a missing key, or a member answered NOT_FOUND
  4  compare-and-swap comparison failed: nothing was changed
  5  unavailable: no endpoint reachable or no leader; nothing was applied, safe to retry
  6  outcome unknown: a write timed out or lost its connection after it was sent; it may or
     may not have been applied, read the current state before retrying

Endpoints are tried in order; a request that certainly was not applied (connection refused,
UNAVAILABLE) moves on to the next endpoint, each endpoint at most twice, all within
--timeout-ms.";

/// Default member to talk to: a `moord` started with its defaults on this machine.
pub const DEFAULT_ENDPOINT: &str = "127.0.0.1:7401";

/// `moorctl`: drive a Moor control plane.
#[derive(Debug, Parser)]
#[command(
    name = "moorctl",
    version,
    about = "Drive a Moor control plane: cluster membership and variables",
    after_help = EXIT_CODES_HELP
)]
pub struct Cli {
    /// Members to send requests to, as comma-separated host:port (any member serves any
    /// request; the next one is tried when one is unreachable or has no leader)
    #[arg(
        long,
        global = true,
        env = "MOOR_ENDPOINTS",
        default_value = DEFAULT_ENDPOINT,
        value_delimiter = ',',
        value_name = "HOST:PORT,...",
        value_parser = parse_endpoint
    )]
    pub endpoints: Vec<String>,

    /// Output format
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,

    /// Deadline for the whole request, retries and failover included, in milliseconds
    #[arg(
        long,
        global = true,
        default_value_t = 10_000,
        value_name = "MS",
        value_parser = clap::value_parser!(u64).range(1..=86_400_000)
    )]
    pub timeout_ms: u64,

    #[command(subcommand)]
    pub command: Command,
}

/// How results are printed on standard output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns for people
    Table,
    /// Pretty-printed JSON for programs
    Json,
    /// YAML for programs and people
    Yaml,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Manage the members of the Raft group
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Read and write variables: the replicated key/value namespace
    #[command(subcommand)]
    Var(VarCommand),
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Initialise a new cluster (once, on a fresh member); sent to the first endpoint only
    Init {
        /// An initial voter, as ID=HOST:PORT (repeat for each); none: the member receiving the
        /// request forms a cluster alone
        #[arg(long = "member", value_name = "ID=HOST:PORT", value_parser = parse_member)]
        members: Vec<MemberSpec>,
    },
    /// Show the state of the member answering and the members it knows
    Status,
    /// Add a member as a learner (it replicates but does not vote until promoted)
    Add {
        /// Member id of the new member
        id: u64,
        /// Address the new member serves peers and clients on, as host:port
        #[arg(value_parser = parse_member_addr)]
        addr: String,
        /// Return only once the learner has caught up with the leader's log (may need a
        /// larger --timeout-ms)
        #[arg(long)]
        wait: bool,
    },
    /// Promote a learner to a voter
    Promote {
        /// Member id of the learner
        id: u64,
    },
    /// Remove a member (voter or learner) from the cluster
    Remove {
        /// Member id to remove
        id: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum VarCommand {
    /// Set KEY to a value, given inline or read from a file
    Put(PutArgs),
    /// Print the value of KEY (exit code 3 when it does not exist)
    Get {
        /// The variable's key (non-empty UTF-8)
        #[arg(value_parser = parse_key)]
        key: String,
        /// Answer from the member's local state, possibly behind the leader, instead of a
        /// linearizable read through the leader
        #[arg(long)]
        stale: bool,
    },
    /// Delete KEY (deleting a missing key is not an error)
    #[command(visible_alias = "delete")]
    Del {
        /// The variable's key (non-empty UTF-8)
        #[arg(value_parser = parse_key)]
        key: String,
    },
    /// Compare-and-swap: change KEY only if it currently holds the expected value (exit code 4
    /// when it does not)
    Cas(CasArgs),
    /// List keys under PREFIX in key order, paging through the whole range
    #[command(visible_alias = "ls")]
    List {
        /// Key prefix; none lists every key
        #[arg(default_value = "")]
        prefix: String,
        /// Stop after this many keys
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        limit: Option<u64>,
        /// Answer from the member's local state, possibly behind the leader
        #[arg(long)]
        stale: bool,
    },
}

/// `var put KEY (VALUE | --from-file PATH)`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("source").required(true).args(["value", "from_file"])))]
pub struct PutArgs {
    /// The variable's key (non-empty UTF-8)
    #[arg(value_parser = parse_key)]
    pub key: String,
    /// The value, as UTF-8 text
    pub value: Option<String>,
    /// Read the value (any bytes) from a file instead; `-` reads standard input
    #[arg(long, value_name = "PATH")]
    pub from_file: Option<PathBuf>,
}

/// `var cas KEY (--expected V | --absent) (--new V | --delete)`.
#[derive(Debug, Args)]
#[command(
    group(ArgGroup::new("expectation").required(true).args(["expected", "absent"])),
    group(ArgGroup::new("replacement").required(true).args(["new", "delete"]))
)]
pub struct CasArgs {
    /// The variable's key (non-empty UTF-8)
    #[arg(value_parser = parse_key)]
    pub key: String,
    /// Swap only if KEY currently holds this value
    #[arg(long, value_name = "VALUE")]
    pub expected: Option<String>,
    /// Swap only if KEY does not exist
    #[arg(long)]
    pub absent: bool,
    /// The value to store when the comparison holds
    #[arg(long, value_name = "VALUE")]
    pub new: Option<String>,
    /// Delete KEY when the comparison holds
    #[arg(long)]
    pub delete: bool,
}

impl CasArgs {
    /// The value KEY must hold for the swap to happen; `None`: KEY must be absent.
    pub fn expected_bytes(&self) -> Option<Vec<u8>> {
        self.expected.as_ref().map(|v| v.as_bytes().to_vec())
    }

    /// The value to store; `None`: delete KEY.
    pub fn new_bytes(&self) -> Option<Vec<u8>> {
        self.new.as_ref().map(|v| v.as_bytes().to_vec())
    }
}

/// One `--member ID=ADDR` of `cluster init`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSpec {
    pub id: u64,
    pub addr: String,
}

impl Cli {
    /// Parses the process arguments; on a usage error prints it and exits with code 2 (0 for
    /// `--help` and `--version`), as clap does.
    pub fn parse_validated() -> Cli {
        match Cli::try_parse().and_then(Cli::validated) {
            Ok(cli) => cli,
            Err(e) => e.exit(),
        }
    }

    /// Parses `args` (the first one is the program name) and applies the checks that span
    /// several arguments.
    pub fn try_parse_validated<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        Cli::try_parse_from(args).and_then(Cli::validated)
    }

    /// Checks that clap's per-value parsers cannot make.
    fn validated(self) -> Result<Cli, clap::Error> {
        if let Command::Cluster(ClusterCommand::Init { members }) = &self.command {
            let mut seen = BTreeMap::new();
            for m in members {
                if let Some(addr) = seen.insert(m.id, &m.addr) {
                    return Err(usage_error(format!(
                        "--member {}: member id {} is given twice (also as {}={addr}); each \
                         initial voter needs its own id",
                        m.id, m.id, m.id
                    )));
                }
            }
            let mut addrs: Vec<&str> = members.iter().map(|m| m.addr.as_str()).collect();
            addrs.sort_unstable();
            if let Some(w) = addrs.windows(2).find(|w| w[0] == w[1]) {
                return Err(usage_error(format!(
                    "--member: address {} is given to two members; each member needs its own \
                     address",
                    w[0]
                )));
            }
        }
        Ok(self)
    }
}

/// A clap usage error (exit code 2) for a check made after parsing.
fn usage_error(message: String) -> clap::Error {
    Cli::command().error(ErrorKind::ValueValidation, message)
}

/// Checks a `host:port` address: a non-empty host (IPv6 in brackets) and a port from 1 to
/// 65535. The message says what is wrong and shows an example.
fn check_host_port(addr: &str) -> Result<(), String> {
    let Some((host, port)) = addr.rsplit_once(':') else {
        return Err(format!(
            "{addr:?} has no port; expected host:port, e.g. 10.0.0.5:7401"
        ));
    };
    if host.is_empty() {
        return Err(format!(
            "{addr:?} has no host; expected host:port, e.g. 10.0.0.5:7401"
        ));
    }
    if host.contains(['/', ' ', '@']) {
        return Err(format!(
            "{host:?} is not a host name or IP address; expected host:port, e.g. 10.0.0.5:7401"
        ));
    }
    let bracketed = host.starts_with('[') && host.ends_with(']');
    if host.contains(':') && !bracketed {
        return Err(format!(
            "{addr:?}: write an IPv6 address in brackets, e.g. [::1]:7401"
        ));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(format!(
            "port {port:?} in {addr:?} is not a number from 1 to 65535"
        )),
    }
}

/// Parses one `--endpoints` entry. `http://` in front is accepted and dropped; TLS is not
/// supported yet, so `https://` is refused rather than silently sent in clear text.
pub fn parse_endpoint(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err(format!(
            "an endpoint is empty; give comma-separated host:port, e.g. {DEFAULT_ENDPOINT},10.0.0.6:7401"
        ));
    }
    if s.starts_with("https://") {
        return Err(format!(
            "{s:?}: moorctl does not speak TLS yet; give host:port"
        ));
    }
    let addr = s.strip_prefix("http://").unwrap_or(s);
    let addr = addr.strip_suffix('/').unwrap_or(addr);
    check_host_port(addr)?;
    Ok(addr.to_string())
}

/// Parses a member address (as peers will dial it): plain `host:port`, no scheme.
pub fn parse_member_addr(s: &str) -> Result<String, String> {
    if s.contains("://") {
        return Err(format!(
            "{s:?}: give a member address as host:port without a scheme, e.g. 10.0.0.5:7401"
        ));
    }
    check_host_port(s)?;
    Ok(s.to_string())
}

/// Parses `--member ID=ADDR`.
pub fn parse_member(s: &str) -> Result<MemberSpec, String> {
    const EXAMPLE: &str = "e.g. --member 1=10.0.0.5:7401";
    let Some((id, addr)) = s.split_once('=') else {
        return Err(format!("{s:?} is not in the form ID=HOST:PORT; {EXAMPLE}"));
    };
    let id = id.trim().parse::<u64>().map_err(|_| {
        format!("member id {id:?} in {s:?} is not a non-negative integer; {EXAMPLE}")
    })?;
    let addr = parse_member_addr(addr.trim()).map_err(|e| format!("{e}; {EXAMPLE}"))?;
    Ok(MemberSpec { id, addr })
}

/// Parses a variable key: it must not be empty (the server checks the length limit).
pub fn parse_key(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("a key must not be empty".to_string());
    }
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
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
            assert_eq!(cli.endpoints, vec![DEFAULT_ENDPOINT.to_string()]);
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
            "a:1,http://b:2,[::1]:3",
            "--timeout-ms",
            "500",
        ])
        .unwrap();
        assert_eq!(cli.endpoints, vec!["a:1", "b:2", "[::1]:3"]);
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
            "https://a:1",
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
        let Command::Cluster(ClusterCommand::Init { members }) = cli.command else {
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
            Command::Cluster(ClusterCommand::Init { members }) if members.is_empty()
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
    fn help_documents_exit_codes() {
        let help = Cli::command().render_long_help().to_string();
        for code in [
            "0  success",
            "3  not found",
            "5  unavailable",
            "6  outcome unknown",
        ] {
            assert!(help.contains(code), "--help lacks {code:?}");
        }
    }
}
