//! The command line of `moorctl`: flags, commands and the checks that can be made before any
//! request is sent.
//!
//! Everything a user can get wrong without talking to a member (an endpoint without a port, a
//! `--member` that is not `ID=ADDR`, two compare-and-swap expectations, a `NAME@REV` without a
//! revision, an `--input` that is not `KEY=VALUE`) is rejected here, as a clap usage error
//! (exit code 2) that names the bad value and shows the expected form. The rest of moorctl can
//! then take its input as valid.

use std::collections::BTreeMap;
use std::fmt;
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
  7  the watched execution did not succeed: it failed or was cancelled (`exec watch`,
     `--watch`); see `moorctl exec show ID`

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
    about = "Drive a Moor control plane: blueprints, sites, environments, executions, groups, \
             rollouts, cluster membership and variables",
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
    /// Create blueprint revisions and create or update sites from YAML files
    Apply(ApplyArgs),
    /// Read blueprints and their revisions
    #[command(subcommand)]
    Blueprint(BlueprintCommand),
    /// Read sites (create and change them with `moorctl apply -f sites.yaml`)
    #[command(subcommand)]
    Site(SiteCommand),
    /// Create and read environments: a blueprint revision with inputs, placed on a site
    #[command(subcommand, visible_alias = "environment")]
    Env(EnvCommand),
    /// Start, follow, resume, cancel and read executions (workflow runs on one environment)
    #[command(subcommand, visible_alias = "execution")]
    Exec(ExecCommand),
    /// Define groups: label selectors over sites or environments, for rollouts
    #[command(subcommand)]
    Group(crate::rollout_cli::GroupCommand),
    /// Run one change over a group in waves, with a parallelism cap and a failure budget;
    /// pause, resume, cancel, approve, roll back, watch
    #[command(subcommand)]
    Rollout(crate::rollout_cli::RolloutCommand),
}

/// `apply -f FILE...`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A blueprint (top-level `name`, `resources`, ...) or a sites file (top-level `sites:`
    /// list) in YAML; `-` reads standard input; repeat to apply several, in the order given
    #[arg(
        short = 'f',
        long = "filename",
        value_name = "FILE",
        required = true,
        value_parser = parse_path
    )]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum BlueprintCommand {
    /// List blueprints with their latest revision
    #[command(visible_alias = "ls")]
    List {
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Print the source of a blueprint revision (the latest without @REV)
    Show {
        /// NAME or NAME@REV, e.g. webshop@3
        #[arg(value_name = "NAME[@REV]", value_parser = parse_name_rev)]
        blueprint: NameRev,
        #[command(flatten)]
        read: ReadArgs,
    },
    /// List the revisions of a blueprint
    Revisions {
        /// Blueprint name
        #[arg(value_parser = parse_name)]
        name: String,
        #[command(flatten)]
        read: ReadArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum SiteCommand {
    /// List sites, optionally only those in a region or with given labels
    #[command(visible_alias = "ls")]
    List {
        /// Only sites in this region
        #[arg(long, value_name = "REGION")]
        region: Option<String>,
        /// Only sites with this label (repeat: all must match)
        #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_label)]
        labels: Vec<(String, String)>,
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Show one site
    Show {
        /// Site name
        #[arg(value_parser = parse_name)]
        name: String,
        #[command(flatten)]
        read: ReadArgs,
    },
}

/// Statuses an environment can have, as the server names them.
pub const ENV_STATUSES: &[&str] = &[
    "pending",
    "installing",
    "updating",
    "healing",
    "rolling_back",
    "uninstalling",
    "in_sync",
    "drifted",
    "failed",
    "uninstalled",
];

#[derive(Debug, Subcommand)]
pub enum EnvCommand {
    /// Create an environment and start installing it; prints the install execution's id
    Create(EnvCreateArgs),
    /// List environments, optionally only those on a site or with a status
    #[command(visible_alias = "ls")]
    List {
        /// Only environments on this site
        #[arg(long, value_name = "SITE", value_parser = parse_name)]
        site: Option<String>,
        /// Only environments with this status
        #[arg(long, value_name = "STATUS", value_parser = clap::builder::PossibleValuesParser::new(ENV_STATUSES))]
        status: Option<String>,
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Show an environment: its desired state, status and resources (applied and observed)
    Show {
        /// Environment name
        #[arg(value_parser = parse_name)]
        name: String,
        #[command(flatten)]
        read: ReadArgs,
    },
}

/// `env create NAME --site S --blueprint B[@REV] ...`.
#[derive(Debug, Args)]
pub struct EnvCreateArgs {
    /// Name of the new environment (lower-case letters, digits and dashes)
    #[arg(value_parser = parse_name)]
    pub name: String,
    /// The site to place it on
    #[arg(long, value_name = "SITE", value_parser = parse_name)]
    pub site: String,
    /// The blueprint, at its latest revision or at @REV
    #[arg(long, value_name = "NAME[@REV]", value_parser = parse_name_rev)]
    pub blueprint: NameRev,
    #[command(flatten)]
    pub inputs: InputArgs,
    /// A label of the environment, for selecting it in groups (repeat for more)
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_label)]
    pub labels: Vec<(String, String)>,
    #[command(flatten)]
    pub watch: WatchArgs,
}

/// Input values: `--input KEY=VALUE`... and `--inputs-file F.json`.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// An input value; VALUE is taken as JSON when it is valid JSON (3, true, ["a","b"],
    /// "quoted text"), else as a string (repeat for more; overrides --inputs-file)
    #[arg(long = "input", value_name = "KEY=VALUE", value_parser = parse_input)]
    pub inputs: Vec<(String, serde_json::Value)>,
    /// A JSON object of input values; `-` reads standard input
    #[arg(long, value_name = "FILE", value_parser = parse_path)]
    pub inputs_file: Option<PathBuf>,
}

impl InputArgs {
    /// True when no input was given.
    pub fn is_empty(&self) -> bool {
        self.inputs.is_empty() && self.inputs_file.is_none()
    }
}

/// `--watch` and its time limit.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Then follow the execution until it ends, like `moorctl exec watch` (exit code 7 when
    /// it fails or is cancelled)
    #[arg(long)]
    pub watch: bool,
    /// With --watch: stop watching after this many seconds (the execution goes on)
    #[arg(
        long,
        requires = "watch",
        default_value_t = DEFAULT_WATCH_TIMEOUT_S,
        value_name = "S",
        value_parser = clap::value_parser!(u64).range(1..=MAX_WATCH_TIMEOUT_S)
    )]
    pub watch_timeout_s: u64,
}

/// Default of `--watch-timeout-s`: an hour.
pub const DEFAULT_WATCH_TIMEOUT_S: u64 = 3600;
/// Largest `--watch-timeout-s`: a week.
pub const MAX_WATCH_TIMEOUT_S: u64 = 7 * 24 * 3600;

/// Flags of the workflow reads.
#[derive(Debug, Args, Clone, Copy)]
pub struct ReadArgs {
    /// Answer from the member's local state, possibly behind the leader, instead of a
    /// linearizable read through the leader (works without a leader)
    #[arg(long)]
    pub stale: bool,
}

/// What kind of execution `exec start` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExecKind {
    /// Install the environment's revision (again)
    Install,
    /// Move to another revision and/or other inputs
    Update,
    /// Delete every resource
    Uninstall,
    /// Re-apply drifted or missing resources at the current revision
    Heal,
    /// Go back to the previous revision
    Rollback,
}

impl ExecKind {
    /// The name the API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecKind::Install => "install",
            ExecKind::Update => "update",
            ExecKind::Uninstall => "uninstall",
            ExecKind::Heal => "heal",
            ExecKind::Rollback => "rollback",
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum ExecCommand {
    /// Start an execution on an environment; prints its id
    Start(ExecStartArgs),
    /// List executions, newest last
    #[command(visible_alias = "ls")]
    List {
        /// Only executions of this environment
        #[arg(long, value_name = "ENV", value_parser = parse_name)]
        env: Option<String>,
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Show an execution and its steps
    Show {
        /// Execution id, e.g. x12
        #[arg(value_parser = parse_id)]
        id: String,
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Resume a failed execution: retries its failed steps only
    Resume {
        /// Execution id
        #[arg(value_parser = parse_id)]
        id: String,
        #[command(flatten)]
        watch: WatchArgs,
    },
    /// Cancel a queued or running execution (steps already dispatched finish)
    Cancel {
        /// Execution id
        #[arg(value_parser = parse_id)]
        id: String,
    },
    /// Roll an environment back to its previous revision
    Rollback {
        /// Environment name
        #[arg(value_parser = parse_name)]
        env: String,
        #[command(flatten)]
        watch: WatchArgs,
    },
    /// Follow an execution until it ends (exit code 0 when it succeeded, 7 when it failed or
    /// was cancelled); moves to another member when the one streaming goes away
    Watch {
        /// Execution id
        #[arg(value_parser = parse_id)]
        id: String,
        /// Stop watching after this many seconds (the execution goes on)
        #[arg(
            long,
            default_value_t = DEFAULT_WATCH_TIMEOUT_S,
            value_name = "S",
            value_parser = clap::value_parser!(u64).range(1..=MAX_WATCH_TIMEOUT_S)
        )]
        watch_timeout_s: u64,
    },
}

/// `exec start ENV --kind K ...`.
#[derive(Debug, Args)]
pub struct ExecStartArgs {
    /// Environment name
    #[arg(value_parser = parse_name)]
    pub env: String,
    /// What the execution does
    #[arg(long, value_enum)]
    pub kind: ExecKind,
    /// install / update: the blueprint revision to go to (default: the latest)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub revision: Option<u64>,
    /// update only: new inputs (none given: keep the current ones)
    #[command(flatten)]
    pub inputs: InputArgs,
    #[command(flatten)]
    pub watch: WatchArgs,
}

/// A blueprint name with an optional revision: `webshop` or `webshop@3`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameRev {
    pub name: String,
    /// `None`: the latest revision.
    pub revision: Option<u64>,
}

impl fmt::Display for NameRev {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.revision {
            Some(r) => write!(f, "{}@{r}", self.name),
            None => f.write_str(&self.name),
        }
    }
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
    /// Form a cluster from members that start at the same time: once every listed member
    /// answers and none has state, initialise them with the same voter list; nothing if a
    /// cluster exists
    /// (safe to run again and from several places at once; see deploy/README.md). Talks to
    /// the listed addresses, not --endpoints; the whole command ends by --timeout-ms
    Bootstrap {
        /// An initial voter, as ID=HOST:PORT (repeat, or comma-separate); every member and
        /// every bootstrap run must be given the same list
        #[arg(
            long = "member",
            env = "MOOR_INITIAL_MEMBERS",
            value_name = "ID=HOST:PORT",
            value_delimiter = ',',
            required = true,
            value_parser = parse_member
        )]
        members: Vec<MemberSpec>,
        /// Return only once every listed member follows one leader that has them all as voters
        #[arg(long)]
        wait: bool,
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
        match &self.command {
            Command::Apply(a) if a.files.iter().filter(|f| f.as_os_str() == "-").count() > 1 => {
                return Err(usage_error(
                    "-f -: standard input can be read only once".to_string(),
                ));
            }
            Command::Env(EnvCommand::Create(c)) => {
                check_unique("--input", c.inputs.inputs.iter().map(|(k, _)| k))?;
                check_unique("--label", c.labels.iter().map(|(k, _)| k))?;
            }
            Command::Rollout(crate::rollout_cli::RolloutCommand::Start(s)) => {
                check_unique("--input", s.inputs.inputs.iter().map(|(k, _)| k))?;
                check_unique("--label", s.labels.iter().map(|(k, _)| k))?;
                use crate::rollout_cli::RolloutActionArg as A;
                if s.blueprint.is_some() != (s.action == A::Install) {
                    return Err(usage_error(if s.action == A::Install {
                        "--blueprint: an install rollout needs the blueprint to install".into()
                    } else {
                        format!(
                            "--blueprint: only an install rollout takes a blueprint, not {}",
                            s.action.as_str()
                        )
                    }));
                }
                if !s.inputs.is_empty() && !matches!(s.action, A::Install | A::Update) {
                    return Err(usage_error(format!(
                        "--input / --inputs-file: only install and update rollouts take inputs, not {}",
                        s.action.as_str()
                    )));
                }
                if s.revision.is_some() && s.action != A::Update {
                    return Err(usage_error(format!(
                        "--revision: only an update rollout takes --revision (an install takes \
                         --blueprint NAME@REV), not {}",
                        s.action.as_str()
                    )));
                }
                if !s.labels.is_empty() && s.action != A::Install {
                    return Err(usage_error(
                        "--label: only an install rollout labels the environments it creates"
                            .into(),
                    ));
                }
            }
            Command::Exec(ExecCommand::Start(s)) => {
                check_unique("--input", s.inputs.inputs.iter().map(|(k, _)| k))?;
                if !s.inputs.is_empty() && s.kind != ExecKind::Update {
                    return Err(usage_error(format!(
                        "--input / --inputs-file: only an update takes new inputs, not {}; \
                         use --kind update",
                        s.kind.as_str()
                    )));
                }
                if s.revision.is_some() && !matches!(s.kind, ExecKind::Install | ExecKind::Update) {
                    return Err(usage_error(format!(
                        "--revision: only install and update go to a chosen revision, not {}",
                        s.kind.as_str()
                    )));
                }
            }
            _ => {}
        }
        self.validated_cluster()
    }

    /// The checks of `cluster init` and `cluster bootstrap`.
    fn validated_cluster(self) -> Result<Cli, clap::Error> {
        if let Command::Cluster(
            ClusterCommand::Init { members } | ClusterCommand::Bootstrap { members, .. },
        ) = &self.command
        {
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

/// A usage error when a `KEY=VALUE` flag gives the same key twice.
fn check_unique<'a>(flag: &str, keys: impl Iterator<Item = &'a String>) -> Result<(), clap::Error> {
    let mut seen = std::collections::BTreeSet::new();
    for k in keys {
        if !seen.insert(k) {
            return Err(usage_error(format!(
                "{flag} {k}=...: the key {k:?} is given twice; give each key once"
            )));
        }
    }
    Ok(())
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

/// Parses a name of a blueprint, site, environment: not empty and no `@` or `=` (the server
/// checks the rest, and says what a valid name is).
pub fn parse_name(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("a name must not be empty".to_string());
    }
    if s.contains(['@', '=', '/', ' ']) {
        return Err(format!(
            "{s:?} is not a name: use lower-case letters, digits and dashes, e.g. web-1"
        ));
    }
    Ok(s.to_string())
}

/// Parses an execution id (as `exec start` prints it, e.g. `x12`).
pub fn parse_id(s: &str) -> Result<String, String> {
    if s.is_empty() || s.contains(char::is_whitespace) {
        return Err(format!(
            "{s:?} is not an execution id; ids look like x12 (see `moorctl exec list`)"
        ));
    }
    Ok(s.to_string())
}

/// Parses `NAME` or `NAME@REV`, REV a revision number from 1.
pub fn parse_name_rev(s: &str) -> Result<NameRev, String> {
    const EXAMPLE: &str = "e.g. webshop or webshop@3";
    let (name, revision) = match s.split_once('@') {
        None => (s, None),
        Some((name, rev)) => {
            let rev = rev.parse::<u64>().ok().filter(|r| *r > 0).ok_or_else(|| {
                format!("revision {rev:?} in {s:?} is not a number from 1; {EXAMPLE}")
            })?;
            (name, Some(rev))
        }
    };
    let name = parse_name(name).map_err(|e| format!("{s:?}: {e}; {EXAMPLE}"))?;
    Ok(NameRev { name, revision })
}

/// Parses `KEY=VALUE` of `--label`.
pub fn parse_label(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!(
            "{s:?} is not in the form KEY=VALUE, e.g. --label tier=edge"
        )),
    }
}

/// Parses `KEY=VALUE` of `--input`: VALUE is JSON when it parses as JSON (`3`, `true`,
/// `["a"]`, `"1.10"`), else the text itself as a string.
pub fn parse_input(s: &str) -> Result<(String, serde_json::Value), String> {
    let Some((k, v)) = s.split_once('=').filter(|(k, _)| !k.is_empty()) else {
        return Err(format!(
            "{s:?} is not in the form KEY=VALUE, e.g. --input replicas=3 or --input image=shop:1.4"
        ));
    };
    let value = serde_json::from_str(v).unwrap_or_else(|_| serde_json::Value::String(v.into()));
    Ok((k.to_string(), value))
}

/// Parses a file path argument: not empty.
pub fn parse_path(s: &str) -> Result<PathBuf, String> {
    if s.is_empty() {
        return Err("a file name must not be empty; `-` reads standard input".to_string());
    }
    Ok(PathBuf::from(s))
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
}
