//! Configuration of `moor-agent`: one TOML file ([`AgentArgs::config`]), flags and
//! `MOOR_AGENT_*` variables that override its keys, resolved into one [`AgentConfig`] and
//! validated once at start ([`AgentConfig::validate`] for values, [`AgentConfig::prepare`] for
//! the directories), with errors that carry the key, the bad value and what to do. Unknown
//! keys in the file are refused, naming the key.
//!
//! The file's keys (all optional except `site` and `root_dir`, which may come from flags):
//!
//! ```toml
//! site = "edge-001"                 # the one site this agent serves
//! listen_addr = "0.0.0.0:7410"
//! data_dir = "/var/lib/moor-agent"   # the store: fence token, recorded keys, resources
//! root_dir = "/srv/moor"             # files and command working dirs stay below it
//! journal = "/var/log/moor-agent/journal.jsonl"  # optional: one JSON line per answered call
//! command_timeout_s = 60             # a command's timeout when its resource sets none
//! command_timeout_max_s = 600        # the most a resource may ask for
//! output_cap_bytes = 1048576         # kept of each of a command's stdout and stderr
//! insecure_plaintext = false         # no TLS: loopback and development only
//! [tls]
//! cert = "/etc/moor-agent/site.pem"  # this agent's certificate, naming the host members dial
//! key = "/etc/moor-agent/site.key"
//! ca = "/etc/moor-agent/ca.pem"      # the CA of the members' certificates
//! reload_interval_ms = 5000
//! [kubernetes]                       # only to run kubernetes.manifest resources
//! kubeconfig = "/etc/moor-agent/kubeconfig"  # or: in_cluster = true (the pod's account)
//! context = "edge"                   # optional, with kubeconfig only
//! call_timeout_s = 60                # every apply, delete and observe of the cluster
//! ```
//!
//! TLS (all of cert, key and ca) or `insecure_plaintext`, exactly one: an agent never serves
//! plaintext by omission. `[kubernetes]`: exactly one of `kubeconfig` and `in_cluster = true`;
//! without the section, `kubernetes.manifest` resources are FAILED saying so.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use moor_kube::Source;
use moor_tls::TlsFiles;
use serde::Deserialize;

use super::command::Limits;
use crate::config::{tls_files, ConfigError};

/// The port an agent listens on by default.
pub const DEFAULT_AGENT_PORT: u16 = 7410;

/// Why a configuration cannot be loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read the config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the config file {path} is not valid: {detail}")]
    Parse { path: PathBuf, detail: String },
    #[error(transparent)]
    Invalid(#[from] ConfigError),
}

/// The configuration of one agent, resolved and validated.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentConfig {
    pub site: String,
    pub listen_addr: SocketAddr,
    pub data_dir: PathBuf,
    pub root_dir: PathBuf,
    /// Where every answered apply and delete is appended as a journal line (the simulator's
    /// format, read by the same checkers); `None`: no journal.
    pub journal: Option<PathBuf>,
    pub command_timeout_s: u64,
    pub command_timeout_max_s: u64,
    pub output_cap_bytes: usize,
    pub tls: Option<TlsFiles>,
    pub tls_reload_interval_ms: u64,
    pub insecure_plaintext: bool,
    /// The site's own cluster, for `kubernetes.manifest`; `None`: no `[kubernetes]` section.
    pub kubernetes: Option<KubernetesConfig>,
}

/// The `[kubernetes]` section, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubernetesConfig {
    /// A kubeconfig file (and context), or the pod's service account.
    pub source: Source,
    /// The deadline of every apply, delete and observe of the cluster, retries included.
    pub call_timeout_s: u64,
}

/// The TOML file, as written. Every key optional: flags may give it instead.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    site: Option<String>,
    listen_addr: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    root_dir: Option<PathBuf>,
    journal: Option<PathBuf>,
    command_timeout_s: Option<u64>,
    command_timeout_max_s: Option<u64>,
    output_cap_bytes: Option<usize>,
    insecure_plaintext: Option<bool>,
    tls: Option<FileTls>,
    kubernetes: Option<FileKubernetes>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileKubernetes {
    kubeconfig: Option<PathBuf>,
    context: Option<String>,
    in_cluster: Option<bool>,
    call_timeout_s: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTls {
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    ca: Option<PathBuf>,
    reload_interval_ms: Option<u64>,
}

/// The flags of `moor-agent`.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "moor-agent",
    version,
    about = "The Moor site agent: serves the site protocol (SiteAgent) for one site on a real machine, applying agent.file and agent.command resources below its root (and kubernetes.manifest resources to the site's cluster, with a [kubernetes] section), with fencing and idempotency kept durably in its data dir. Mutual TLS with the members' CA, members only; --insecure-plaintext is for loopback and development only"
)]
pub struct AgentArgs {
    /// TOML config file; flags and MOOR_AGENT_* variables override its keys.
    #[arg(long, env = "MOOR_AGENT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The one site this agent serves; requests naming another site are refused.
    #[arg(long, env = "MOOR_AGENT_SITE")]
    pub site: Option<String>,
    /// Address to listen on (default 0.0.0.0:7410); port 0 picks a free port. The first stdout
    /// line is `moor-agent listening on ADDR`.
    #[arg(long, env = "MOOR_AGENT_LISTEN_ADDR")]
    pub listen_addr: Option<SocketAddr>,
    /// Where the agent keeps its store (default /var/lib/moor-agent).
    #[arg(long, env = "MOOR_AGENT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The directory files are written below and commands run in; must exist.
    #[arg(long, env = "MOOR_AGENT_ROOT_DIR")]
    pub root_dir: Option<PathBuf>,
    /// Append one JSON line per answered apply and delete to this file (the audit trail of
    /// what the agent did, in the journal format moor-sitesim writes); off by default.
    #[arg(long, env = "MOOR_AGENT_JOURNAL", value_name = "FILE")]
    pub journal: Option<PathBuf>,
    /// A command's timeout when its resource sets none, in seconds (default 60).
    #[arg(long, env = "MOOR_AGENT_COMMAND_TIMEOUT_S")]
    pub command_timeout_s: Option<u64>,
    /// The longest timeout a resource may ask for, in seconds (default 600).
    #[arg(long, env = "MOOR_AGENT_COMMAND_TIMEOUT_MAX_S")]
    pub command_timeout_max_s: Option<u64>,
    /// Bytes kept of each of a command's stdout and stderr (default 1 MiB); the rest is read
    /// and discarded.
    #[arg(long, env = "MOOR_AGENT_OUTPUT_CAP_BYTES")]
    pub output_cap_bytes: Option<usize>,
    /// This agent's certificate (PEM), naming the host members dial it at.
    #[arg(long, env = "MOOR_AGENT_TLS_CERT", value_name = "PEM")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, env = "MOOR_AGENT_TLS_KEY", value_name = "PEM")]
    pub tls_key: Option<PathBuf>,
    /// The CA bundle (PEM) the members' certificates chain to; only member certificates
    /// (member-<id>.moor) may call.
    #[arg(long, env = "MOOR_AGENT_TLS_CA", value_name = "PEM")]
    pub tls_ca: Option<PathBuf>,
    /// How often the TLS files are checked for a change, in milliseconds (default 5000;
    /// SIGHUP reloads at once).
    #[arg(long, env = "MOOR_AGENT_TLS_RELOAD_INTERVAL_MS")]
    pub tls_reload_interval_ms: Option<u64>,
    /// Serve without TLS. FOR LOOPBACK AND DEVELOPMENT ONLY: anyone who reaches the port can
    /// write files and run commands on this machine, and fence the real controllers out.
    /// Logged as a warning at every start.
    #[arg(long, env = "MOOR_AGENT_INSECURE_PLAINTEXT")]
    pub insecure_plaintext: bool,
    /// The kubeconfig of the site's cluster, for kubernetes.manifest resources
    /// (`[kubernetes] kubeconfig`).
    #[arg(long, env = "MOOR_AGENT_KUBECONFIG", value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The context of --kubeconfig to use (default: its current context).
    #[arg(long, env = "MOOR_AGENT_KUBE_CONTEXT")]
    pub kube_context: Option<String>,
    /// Reach the site's cluster with the pod's service account (`[kubernetes] in_cluster`).
    #[arg(long, env = "MOOR_AGENT_KUBE_IN_CLUSTER")]
    pub kube_in_cluster: bool,
    /// The deadline of every call to the site's cluster, in seconds (default 60).
    #[arg(long, env = "MOOR_AGENT_KUBE_CALL_TIMEOUT_S")]
    pub kube_call_timeout_s: Option<u64>,
    /// Check the configuration (values, the root exists, the data dir is writable, the TLS
    /// files load) and exit: 0 when usable, 1 with the reason.
    #[arg(long)]
    pub check_config: bool,
}

impl AgentArgs {
    /// The file (if any) overridden by the flags, validated.
    pub fn to_config(&self) -> Result<AgentConfig, LoadError> {
        let file = match &self.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let tls = file.tls.unwrap_or_default();
        let kubernetes = self.kubernetes(file.kubernetes)?;
        let or = |flag: &Option<PathBuf>, file: Option<PathBuf>| flag.clone().or(file);
        let config = AgentConfig {
            site: self.site.clone().or(file.site).unwrap_or_default(),
            listen_addr: self
                .listen_addr
                .or(file.listen_addr)
                .unwrap_or(SocketAddr::from(([0, 0, 0, 0], DEFAULT_AGENT_PORT))),
            data_dir: or(&self.data_dir, file.data_dir)
                .unwrap_or_else(|| PathBuf::from("/var/lib/moor-agent")),
            root_dir: or(&self.root_dir, file.root_dir).unwrap_or_default(),
            journal: or(&self.journal, file.journal),
            command_timeout_s: self
                .command_timeout_s
                .or(file.command_timeout_s)
                .unwrap_or(60),
            command_timeout_max_s: self
                .command_timeout_max_s
                .or(file.command_timeout_max_s)
                .unwrap_or(600),
            output_cap_bytes: self
                .output_cap_bytes
                .or(file.output_cap_bytes)
                .unwrap_or(1024 * 1024),
            tls: tls_files(
                &or(&self.tls_cert, tls.cert),
                &or(&self.tls_key, tls.key),
                &or(&self.tls_ca, tls.ca),
            )?,
            tls_reload_interval_ms: self
                .tls_reload_interval_ms
                .or(tls.reload_interval_ms)
                .unwrap_or(5_000),
            // A flag can turn plaintext on, never off: the file's `true` stays explicit.
            insecure_plaintext: self.insecure_plaintext || file.insecure_plaintext == Some(true),
            kubernetes,
        };
        config.validate()?;
        Ok(config)
    }

    /// The `[kubernetes]` section overridden by the flags: `None` when neither gives any.
    fn kubernetes(
        &self,
        file: Option<FileKubernetes>,
    ) -> Result<Option<KubernetesConfig>, ConfigError> {
        let flags = self.kubeconfig.is_some()
            || self.kube_context.is_some()
            || self.kube_in_cluster
            || self.kube_call_timeout_s.is_some();
        let file = match file {
            Some(file) => file,
            None if flags => FileKubernetes::default(),
            None => return Ok(None),
        };
        let kubeconfig = self.kubeconfig.clone().or(file.kubeconfig);
        let context = self.kube_context.clone().or(file.context);
        let in_cluster = self.kube_in_cluster || file.in_cluster == Some(true);
        let call_timeout_s = self
            .kube_call_timeout_s
            .or(file.call_timeout_s)
            .unwrap_or(60);
        if call_timeout_s == 0 || call_timeout_s > 3_600 {
            return Err(bad(
                "kubernetes.call_timeout_s",
                call_timeout_s,
                "must be 1 to 3600 seconds",
            ));
        }
        let source = match (kubeconfig, in_cluster) {
            (Some(path), false) if !path.as_os_str().is_empty() => Source::Kubeconfig {
                path,
                context: context.filter(|c| !c.is_empty()),
            },
            (Some(path), true) => {
                return Err(bad(
                    "kubernetes.kubeconfig",
                    path.display(),
                    "in_cluster is set too; choose one (a kubeconfig file, or the pod's service account)",
                ))
            }
            (_, true) if context.is_some() => {
                return Err(bad(
                    "kubernetes.context",
                    format!("{context:?}"),
                    "a context belongs to a kubeconfig; remove it or give kubeconfig instead of in_cluster",
                ))
            }
            (_, true) => Source::InCluster,
            (_, false) => {
                return Err(bad(
                    "kubernetes",
                    "no cluster",
                    "give kubeconfig = \"/path\" (--kubeconfig) or in_cluster = true (--kube-in-cluster), or remove the section",
                ))
            }
        };
        Ok(Some(KubernetesConfig {
            source,
            call_timeout_s,
        }))
    }
}

fn read_file(path: &Path) -> Result<FileConfig, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| LoadError::Parse {
        path: path.to_path_buf(),
        detail: e.to_string().trim_end().to_string(),
    })
}

fn bad(field: &'static str, value: impl ToString, reason: &'static str) -> ConfigError {
    ConfigError {
        field,
        value: value.to_string(),
        reason,
    }
}

impl AgentConfig {
    /// Checks every value (no I/O).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.site.is_empty() || self.site.len() > crate::MAX_NAME_BYTES {
            return Err(bad(
                "site",
                format!("{:?}", self.site),
                "give the site's name as registered in Moor (1 to 253 bytes; --site or `site`)",
            ));
        }
        if self.root_dir.as_os_str().is_empty() {
            return Err(bad(
                "root_dir",
                "\"\"",
                "give the directory files are written below (--root-dir or `root_dir`)",
            ));
        }
        if self.command_timeout_max_s == 0 || self.command_timeout_max_s > 86_400 {
            return Err(bad(
                "command_timeout_max_s",
                self.command_timeout_max_s,
                "must be 1 to 86400 seconds",
            ));
        }
        if self.command_timeout_s == 0 || self.command_timeout_s > self.command_timeout_max_s {
            return Err(bad(
                "command_timeout_s",
                self.command_timeout_s,
                "must be at least 1 and at most command_timeout_max_s",
            ));
        }
        if !(4096..=256 * 1024 * 1024).contains(&self.output_cap_bytes) {
            return Err(bad(
                "output_cap_bytes",
                self.output_cap_bytes,
                "must be 4096 to 268435456 (256 MiB)",
            ));
        }
        match (&self.tls, self.insecure_plaintext) {
            (Some(_), true) => Err(bad(
                "insecure_plaintext",
                true,
                "TLS files are given too; choose one (leave insecure_plaintext off to serve TLS)",
            )),
            (None, false) => Err(bad(
                "tls",
                "none",
                "give [tls] cert, key and ca (or --tls-cert, --tls-key, --tls-ca); only for loopback or development, --insecure-plaintext",
            )),
            (Some(_), false) if self.tls_reload_interval_ms < 100 => Err(bad(
                "tls.reload_interval_ms",
                self.tls_reload_interval_ms,
                "must be at least 100 (the files are read from disk at every check)",
            )),
            _ => Ok(()),
        }
    }

    /// Checks the directories: the root exists and is a directory (returned canonical: every
    /// path is confined below it), the data dir exists or is created, and is writable.
    pub fn prepare(&self) -> Result<PathBuf, ConfigError> {
        let root = std::fs::canonicalize(&self.root_dir).map_err(|e| {
            bad(
                "root_dir",
                format!("{} ({e})", self.root_dir.display()),
                "must be an existing directory; create it, owned by the agent's user",
            )
        })?;
        if !root.is_dir() {
            return Err(bad("root_dir", root.display(), "is not a directory"));
        }
        let probe = self.data_dir.join(".moor-agent-write-check");
        std::fs::create_dir_all(&self.data_dir)
            .and_then(|()| std::fs::write(&probe, b"ok"))
            .and_then(|()| std::fs::remove_file(&probe))
            .map_err(|e| {
                bad(
                    "data_dir",
                    format!("{} ({e})", self.data_dir.display()),
                    "must be a directory the agent can create and write",
                )
            })?;
        Ok(root)
    }

    /// The limits every command runs under.
    pub fn limits(&self) -> Limits {
        Limits {
            default_timeout_s: self.command_timeout_s,
            max_timeout_s: self.command_timeout_max_s,
            output_cap_bytes: self.output_cap_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(extra: &[&str]) -> AgentArgs {
        let mut all = vec!["moor-agent"];
        all.extend_from_slice(extra);
        AgentArgs::try_parse_from(all).expect("flags parse")
    }

    #[test]
    fn flags_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("agent.toml");
        std::fs::write(
            &file,
            "site = \"from-file\"\nroot_dir = \"/srv\"\ncommand_timeout_s = 5\ninsecure_plaintext = true\n",
        )
        .unwrap();
        let path = file.to_str().unwrap();
        let c = args(&["--config", path]).to_config().unwrap();
        assert_eq!((c.site.as_str(), c.command_timeout_s), ("from-file", 5));
        assert_eq!(c.listen_addr.port(), DEFAULT_AGENT_PORT);
        let c = args(&[
            "--config",
            path,
            "--site",
            "flag",
            "--command-timeout-s",
            "7",
        ])
        .to_config()
        .unwrap();
        assert_eq!((c.site.as_str(), c.command_timeout_s), ("flag", 7));
        assert!(c.insecure_plaintext);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("agent.toml");
        std::fs::write(&file, "site = \"s\"\nroot_dir = \"/srv\"\nlisten = \"x\"\n").unwrap();
        let err = args(&["--config", file.to_str().unwrap()])
            .to_config()
            .unwrap_err();
        assert!(err.to_string().contains("unknown field `listen`"), "{err}");

        let base = ["--root-dir", "/srv"];
        for (extra, says) in [
            (&["--site", "s"][..], "--insecure-plaintext"),
            (
                &["--site", "s", "--insecure-plaintext", "--tls-cert", "c"][..],
                "--tls-key",
            ),
            (&["--insecure-plaintext"][..], "setting site"),
            (
                &[
                    "--site",
                    "s",
                    "--insecure-plaintext",
                    "--command-timeout-s",
                    "700",
                ][..],
                "command_timeout_s = 700",
            ),
        ] {
            let all: Vec<&str> = base.iter().chain(extra).copied().collect();
            let err = args(&all).to_config().unwrap_err();
            assert!(err.to_string().contains(says), "{extra:?}: {err}");
        }
    }

    #[test]
    fn prepare_checks_the_directories() {
        let dir = tempfile::tempdir().unwrap();
        let base = |root: &Path| AgentConfig {
            site: "s".into(),
            listen_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: dir.path().join("data"),
            root_dir: root.to_path_buf(),
            journal: None,
            command_timeout_s: 1,
            command_timeout_max_s: 1,
            output_cap_bytes: 4096,
            tls: None,
            tls_reload_interval_ms: 5000,
            insecure_plaintext: true,
            kubernetes: None,
        };
        let root = base(dir.path()).prepare().unwrap();
        assert_eq!(root, std::fs::canonicalize(dir.path()).unwrap());
        assert!(dir.path().join("data").is_dir());
        let err = base(&dir.path().join("missing")).prepare().unwrap_err();
        assert_eq!(err.field, "root_dir");
    }

    #[test]
    fn the_kubernetes_section_names_one_cluster() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("agent.toml");
        let with = |section: &str| {
            std::fs::write(
                &file,
                format!("site = \"s\"\nroot_dir = \"/srv\"\ninsecure_plaintext = true\n{section}"),
            )
            .unwrap();
            args(&["--config", file.to_str().unwrap()]).to_config()
        };
        assert_eq!(with("").unwrap().kubernetes, None);
        let c = with("[kubernetes]\nkubeconfig = \"/k\"\ncontext = \"edge\"\n").unwrap();
        assert_eq!(
            c.kubernetes,
            Some(KubernetesConfig {
                source: Source::Kubeconfig {
                    path: "/k".into(),
                    context: Some("edge".into())
                },
                call_timeout_s: 60,
            })
        );
        let c = with("[kubernetes]\nin_cluster = true\ncall_timeout_s = 9\n").unwrap();
        assert_eq!(
            c.kubernetes.map(|k| (k.source, k.call_timeout_s)),
            Some((Source::InCluster, 9))
        );
        for (section, says) in [
            (
                "[kubernetes]\nkubeconfg = \"/k\"\n",
                "unknown field `kubeconfg`",
            ),
            ("[kubernetes]\n", "kubernetes = no cluster"),
            (
                "[kubernetes]\nkubeconfig = \"/k\"\nin_cluster = true\n",
                "choose one",
            ),
            (
                "[kubernetes]\nin_cluster = true\ncontext = \"x\"\n",
                "kubernetes.context",
            ),
            (
                "[kubernetes]\nin_cluster = true\ncall_timeout_s = 0\n",
                "call_timeout_s = 0",
            ),
        ] {
            let err = with(section).unwrap_err();
            assert!(err.to_string().contains(says), "{section}: {err}");
        }
    }
}
