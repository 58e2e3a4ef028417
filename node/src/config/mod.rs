//! A member's configuration: one TOML file, overridden by flags and `MOOR_*` environment
//! variables, validated once at start. Unknown keys are errors, and every validation error
//! names the bad value and what to do.

pub mod ordinal;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Everything a member needs to start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// This member's id in the Raft group; unique, never reused for another member.
    pub id: u64,
    /// Address the gRPC server (peer service and client API) listens on.
    pub listen_addr: SocketAddr,
    /// Address other members and clients use to reach this one; defaults to `listen_addr`.
    pub advertise_addr: Option<String>,
    /// Directory holding the RocksDB store.
    pub data_dir: PathBuf,
    /// Initialise a single-member cluster at start if this member has no state yet.
    pub bootstrap_single: bool,
    pub log: LogConfig,
    pub raft: RaftConfig,
    pub limits: LimitsConfig,
    pub executor: ExecutorSettings,
}

/// The workflow executor on the leader.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExecutorSettings {
    /// Most driver calls in flight at once.
    pub max_in_flight: usize,
    /// Most step checkpoints committed in one Raft entry.
    pub max_batch: usize,
    /// How often idle environments are observed at their sites to detect drift; 0 = never.
    pub drift_check_interval_ms: u64,
}

impl Default for ExecutorSettings {
    fn default() -> Self {
        ExecutorSettings {
            max_in_flight: 1024,
            max_batch: 1024,
            drift_check_interval_ms: 30_000,
        }
    }
}

/// Logging.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `human` or `json`.
    pub format: LogFormat,
    /// A tracing filter, e.g. `info` or `moor_node=debug,openraft=info`.
    pub filter: String,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Human,
    Json,
}

/// Raft timing and log retention.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RaftConfig {
    pub heartbeat_interval_ms: u64,
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    /// Build a snapshot after this many entries since the last one.
    pub snapshot_every_entries: u64,
    /// Entries kept in the log below the snapshot, so a slightly lagging follower catches up
    /// from the log instead of a snapshot.
    pub keep_entries_after_snapshot: u64,
    /// Snapshot transfer chunk size.
    pub snapshot_chunk_bytes: u64,
    /// Most entries sent in one AppendEntries call.
    pub max_entries_per_append: u64,
    /// Deadline for a request forwarded to the leader and for read-index waits.
    pub forward_timeout_ms: u64,
}

/// Request limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest client request accepted, in bytes.
    pub max_request_bytes: usize,
    /// Largest variable value, in bytes.
    pub max_value_bytes: usize,
    /// Longest variable key, in bytes.
    pub max_key_bytes: usize,
    /// Most requests served at once on one client connection.
    pub max_concurrent_requests_per_connection: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            id: 1,
            listen_addr: "127.0.0.1:7401".parse().expect("valid literal"),
            advertise_addr: None,
            data_dir: PathBuf::from("moor-data"),
            bootstrap_single: false,
            log: LogConfig::default(),
            raft: RaftConfig::default(),
            limits: LimitsConfig::default(),
            executor: ExecutorSettings::default(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Human,
            filter: "info,openraft=warn".into(),
        }
    }
}

impl Default for RaftConfig {
    fn default() -> Self {
        RaftConfig {
            heartbeat_interval_ms: 100,
            election_timeout_min_ms: 400,
            election_timeout_max_ms: 800,
            snapshot_every_entries: 20_000,
            keep_entries_after_snapshot: 5_000,
            snapshot_chunk_bytes: 1 << 20,
            max_entries_per_append: 512,
            forward_timeout_ms: 5_000,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_request_bytes: 4 << 20,
            max_value_bytes: 1 << 20,
            max_key_bytes: 1024,
            max_concurrent_requests_per_connection: 1024,
        }
    }
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid config value {key} = {value:?}: {hint}")]
    Invalid {
        key: &'static str,
        value: String,
        hint: String,
    },
}

impl Config {
    /// Reads a TOML config file; unknown keys are errors.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text).map_err(|message| ConfigError::Parse {
            path: path.to_owned(),
            message,
        })
    }

    /// Parses TOML text; the error is the parser's message with line and column.
    pub fn from_toml(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// The address peers and clients use to reach this member.
    pub fn advertised(&self) -> String {
        self.advertise_addr
            .clone()
            .unwrap_or_else(|| self.listen_addr.to_string())
    }

    /// Checks every value; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.id == 0 {
            return Err(bad("id", 0, "member ids start at 1"));
        }
        if let Some(a) = &self.advertise_addr {
            validate_peer_addr(a).map_err(|hint| bad("advertise_addr", a, &hint))?;
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(bad(
                "data_dir",
                "",
                "give a directory for the RocksDB store",
            ));
        }
        self.raft.validate()?;
        self.limits.validate()?;
        self.executor.validate()
    }
}

/// A refused setting: which key, the value given, and what would be accepted.
fn bad(key: &'static str, value: impl ToString, hint: &str) -> ConfigError {
    ConfigError::Invalid {
        key,
        value: value.to_string(),
        hint: hint.to_string(),
    }
}

impl RaftConfig {
    /// Timeouts that let a healthy leader keep its followers, and sizes that make progress.
    fn validate(&self) -> Result<(), ConfigError> {
        let r = self;
        if r.heartbeat_interval_ms == 0 {
            return Err(bad("raft.heartbeat_interval_ms", 0, "must be at least 1"));
        }
        if r.election_timeout_min_ms <= r.heartbeat_interval_ms * 2 {
            return Err(bad(
                "raft.election_timeout_min_ms",
                r.election_timeout_min_ms,
                "must exceed twice raft.heartbeat_interval_ms, or followers will start elections against a healthy leader",
            ));
        }
        if r.election_timeout_max_ms <= r.election_timeout_min_ms {
            return Err(bad(
                "raft.election_timeout_max_ms",
                r.election_timeout_max_ms,
                "must be greater than raft.election_timeout_min_ms",
            ));
        }
        if r.snapshot_every_entries == 0 {
            return Err(bad("raft.snapshot_every_entries", 0, "must be at least 1"));
        }
        if r.snapshot_chunk_bytes < 1024 {
            return Err(bad(
                "raft.snapshot_chunk_bytes",
                r.snapshot_chunk_bytes,
                "must be at least 1024",
            ));
        }
        if r.max_entries_per_append == 0 {
            return Err(bad("raft.max_entries_per_append", 0, "must be at least 1"));
        }
        if r.forward_timeout_ms < r.election_timeout_max_ms {
            return Err(bad(
                "raft.forward_timeout_ms",
                r.forward_timeout_ms,
                "must be at least raft.election_timeout_max_ms so a forwarded request outlives an election",
            ));
        }
        Ok(())
    }
}

impl LimitsConfig {
    /// Limits that admit at least one request.
    fn validate(&self) -> Result<(), ConfigError> {
        let l = self;
        if l.max_value_bytes == 0 || l.max_value_bytes >= l.max_request_bytes {
            return Err(bad(
                "limits.max_value_bytes",
                l.max_value_bytes,
                "must be at least 1 and below limits.max_request_bytes",
            ));
        }
        if l.max_key_bytes == 0 {
            return Err(bad("limits.max_key_bytes", 0, "must be at least 1"));
        }
        if l.max_concurrent_requests_per_connection == 0 {
            return Err(bad(
                "limits.max_concurrent_requests_per_connection",
                0,
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

impl ExecutorSettings {
    /// Caps that let the executor dispatch, and a drift interval that is off or sane.
    fn validate(&self) -> Result<(), ConfigError> {
        let e = self;
        if e.max_in_flight == 0 {
            return Err(bad("executor.max_in_flight", 0, "must be at least 1"));
        }
        if e.max_batch == 0 {
            return Err(bad("executor.max_batch", 0, "must be at least 1"));
        }
        if e.drift_check_interval_ms != 0 && e.drift_check_interval_ms < 100 {
            return Err(bad(
                "executor.drift_check_interval_ms",
                e.drift_check_interval_ms,
                "must be 0 (off) or at least 100",
            ));
        }
        Ok(())
    }
}

/// Checks a `host:port` address (shared with sites' agent endpoints).
pub use moor_domain::site::validate_endpoint as validate_peer_addr;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().unwrap();
    }

    #[test]
    fn unknown_keys_are_rejected_with_position() {
        let err = Config::from_toml("id = 2\nlisten_adr = \"127.0.0.1:1\"\n").unwrap_err();
        assert!(err.contains("listen_adr"), "{err}");
        assert!(err.contains("line 2"), "{err}");
        let err = Config::from_toml("[raft]\nheartbeat_ms = 5\n").unwrap_err();
        assert!(err.contains("heartbeat_ms"), "{err}");
    }

    #[test]
    fn file_values_override_defaults() {
        let c = Config::from_toml("id = 3\n[raft]\nheartbeat_interval_ms = 50\n").unwrap();
        assert_eq!(c.id, 3);
        assert_eq!(c.raft.heartbeat_interval_ms, 50);
        assert_eq!(c.raft.election_timeout_min_ms, 400);
    }

    #[test]
    fn bad_values_name_key_and_value() {
        let mut c = Config {
            advertise_addr: Some("10.0.0.1".into()),
            ..Config::default()
        };
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.contains("advertise_addr") && e.contains("10.0.0.1"),
            "{e}"
        );

        c.advertise_addr = Some("10.0.0.1:99999".into());
        assert!(c.validate().is_err());

        c.advertise_addr = None;
        c.raft.election_timeout_min_ms = 150;
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.contains("election_timeout_min_ms") && e.contains("150"),
            "{e}"
        );

        let c = Config {
            id: 0,
            ..Config::default()
        };
        assert!(c.validate().unwrap_err().to_string().contains("id"));
    }

    #[test]
    fn peer_addr_validation() {
        assert!(validate_peer_addr("moor-0.moor:7401").is_ok());
        assert!(validate_peer_addr("127.0.0.1:7401").is_ok());
        assert!(validate_peer_addr("127.0.0.1").is_err());
        assert!(validate_peer_addr(":7401").is_err());
        assert!(validate_peer_addr("http://x:1").is_err());
        assert!(validate_peer_addr("x:0").is_err());
    }
}
