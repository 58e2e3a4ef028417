//! A member's configuration: one TOML file, overridden by flags and `MOOR_*` environment
//! variables, validated once at start. Unknown keys are errors, and every validation error
//! names the bad value and what to do.

pub mod ordinal;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use moor_proto::MAX_PEER_MESSAGE_BYTES;
use serde::{Deserialize, Serialize};

/// Everything a member needs to start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// This member's id in the Raft group; unique, never reused for another member.
    pub id: u64,
    /// Address the client listener (MoorApi, WorkflowApi, RolloutApi, AuthApi) listens on.
    pub listen_addr: SocketAddr,
    /// Address clients use to reach this member; defaults to `listen_addr`.
    pub advertise_addr: Option<String>,
    /// Address the peer listener (Raft, forwarded requests) listens on. With TLS it requires
    /// a member certificate in the handshake. Unset: the peer service shares the client
    /// listener (one port; each peer call is still checked for a member certificate).
    pub peer_listen_addr: Option<SocketAddr>,
    /// Address other members use to reach this one, and what membership records; defaults to
    /// `peer_listen_addr`, else the client address.
    pub peer_advertise_addr: Option<String>,
    /// Serve and dial without TLS. Only for throwaway local clusters: anyone who reaches a
    /// port can read tokens off the wire and, on the peer port, send Raft traffic. Every
    /// start logs a warning.
    pub insecure_plaintext: bool,
    pub tls: TlsConfig,
    pub auth: AuthConfig,
    pub sites: SitesConfig,
    /// Directory holding the RocksDB store.
    pub data_dir: PathBuf,
    /// Initialise a single-member cluster at start if this member has no state yet.
    pub bootstrap_single: bool,
    pub log: LogConfig,
    pub raft: RaftConfig,
    pub limits: LimitsConfig,
    pub executor: ExecutorSettings,
    pub secrets: SecretsConfig,
    pub upgrade: UpgradeConfig,
    pub telemetry: TelemetryConfig,
}

/// Trace export to an OpenTelemetry collector (OTLP over gRPC), so one request or one
/// execution can be followed across members (ARCHITECTURE.md, "Traces").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// The collector's OTLP/gRPC endpoint, e.g. `http://otel-collector:4317` (`https://`
    /// for TLS). Unset: nothing is exported.
    pub otlp_endpoint: Option<String>,
    /// PEM CA bundle the collector's certificate must chain to (`https://` only); default
    /// `tls.ca`.
    pub otlp_ca: Option<PathBuf>,
    /// Share of the traces that start at this member which are exported, 0.0 to 1.0. A
    /// request that arrives with a W3C `traceparent` keeps its caller's decision.
    pub sample_ratio: f64,
    /// `service.name` of the exported spans (`service.instance.id` is `member-<id>`).
    pub service_name: String,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            otlp_endpoint: None,
            otlp_ca: None,
            sample_ratio: 1.0,
            service_name: "moord".into(),
        }
    }
}

/// Rolling upgrades (deploy/README.md, "Upgrade").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpgradeConfig {
    /// When this member leads, raise the cluster's feature level by itself as soon as every
    /// member runs a release that supports a higher one. Off: the level stays until
    /// `moorctl cluster upgrade-finalize`, which keeps the way back to the older release
    /// open until then (once raised, older members cannot join).
    pub auto_finalize: bool,
}

impl Default for UpgradeConfig {
    fn default() -> Self {
        UpgradeConfig {
            auto_finalize: true,
        }
    }
}

/// Secrets at rest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecretsConfig {
    /// The key file every member reads (the same file on all of them; `moord secrets-key
    /// new --file F` makes or rotates it). Unset: secret values are stored in clear in the
    /// replicated state, and every start warns.
    pub key_file: Option<PathBuf>,
}

/// Certificates (PEM files), reloaded when they change, so rotation needs no restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// This member's certificate: DNS name `member-<id>.moor` (peers check it) plus the
    /// names clients dial. Used on both listeners and as client certificate to peers and
    /// sites.
    pub cert: Option<PathBuf>,
    /// Its private key.
    pub key: Option<PathBuf>,
    /// The cluster CA bundle: peers, client certificates and site agents must chain to it.
    pub ca: Option<PathBuf>,
    /// How often the files are checked for changes, in ms (SIGHUP reloads at once).
    pub reload_interval_ms: u64,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            cert: None,
            key: None,
            ca: None,
            reload_interval_ms: 5_000,
        }
    }
}

/// How members call sites.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SitesConfig {
    /// Call sites without TLS even when the member has certificates (sites that do not
    /// serve TLS yet). Without it, a member with TLS calls sites with mutual TLS: its own
    /// certificate as client certificate, the site's checked against `tls.ca`.
    pub insecure_plaintext: bool,
}

/// Authentication, authorization and the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Refuse every client request without a valid token or client certificate (the
    /// default). `false` lets anyone in as admin and logs a warning on every start.
    pub enabled: bool,
    /// Audit records kept, at most.
    pub audit_max_entries: u64,
    /// Audit records older than this many seconds are dropped; 0 = keep by count only.
    pub audit_max_age_s: u64,
    /// Denied requests of one authenticated identity written to the audit log per minute,
    /// at most (the rest are counted in the member's log).
    pub denied_audit_per_minute: u32,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            enabled: true,
            audit_max_entries: 100_000,
            audit_max_age_s: 90 * 24 * 3600,
            denied_audit_per_minute: 10,
        }
    }
}

/// The workflow executor on the leader.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExecutorSettings {
    /// Most driver calls in flight at once.
    pub max_in_flight: usize,
    /// Most step checkpoints committed in one Raft entry.
    pub max_batch: usize,
    /// How often idle environments without a drift policy are observed at their sites to
    /// detect drift, and how often a site none of whose environments is checked (and none
    /// runs an execution) is probed for reachability; 0 = never (environments with a policy
    /// are still checked at its interval).
    pub drift_check_interval_ms: u64,
    /// Most reachability probes started per second (of sites no drift check covers); the
    /// leader starts a quarter of them every 250 ms, at most 64 calls in flight.
    pub max_probes_per_second: u32,
}

impl ExecutorSettings {
    /// Probes started per 250 ms tick of the drift loop (`max_probes_per_second / 4`, at
    /// least 1).
    pub fn probes_per_tick(&self) -> usize {
        (self.max_probes_per_second as usize / 4).max(1)
    }
}

impl Default for ExecutorSettings {
    fn default() -> Self {
        ExecutorSettings {
            max_in_flight: 1024,
            max_batch: 1024,
            drift_check_interval_ms: 30_000,
            max_probes_per_second: 256,
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
    /// Most bytes of entries sent in one AppendEntries call (an entry larger than this goes
    /// alone), and the size at which the leader stops adding writes to one entry. An
    /// AppendEntries call has one heartbeat interval to come back, the follower's fsync
    /// included: this keeps a follower that lags by many large entries catching up.
    pub max_append_bytes: u64,
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
            peer_listen_addr: None,
            peer_advertise_addr: None,
            insecure_plaintext: false,
            tls: TlsConfig::default(),
            auth: AuthConfig::default(),
            sites: SitesConfig::default(),
            data_dir: PathBuf::from("moor-data"),
            bootstrap_single: false,
            log: LogConfig::default(),
            raft: RaftConfig::default(),
            limits: LimitsConfig::default(),
            executor: ExecutorSettings::default(),
            secrets: SecretsConfig::default(),
            upgrade: UpgradeConfig::default(),
            telemetry: TelemetryConfig::default(),
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
            heartbeat_interval_ms: 50,
            election_timeout_min_ms: 150,
            election_timeout_max_ms: 300,
            snapshot_every_entries: 20_000,
            keep_entries_after_snapshot: 5_000,
            snapshot_chunk_bytes: 1 << 20,
            max_entries_per_append: 512,
            max_append_bytes: 1 << 20,
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

    /// The address clients use to reach this member.
    pub fn advertised(&self) -> String {
        self.advertise_addr
            .clone()
            .unwrap_or_else(|| self.listen_addr.to_string())
    }

    /// The address peers use to reach this member (what membership records).
    pub fn peer_advertised(&self) -> String {
        match (&self.peer_advertise_addr, self.peer_listen_addr) {
            (Some(a), _) => a.clone(),
            (None, Some(l)) => l.to_string(),
            (None, None) => self.advertised(),
        }
    }

    /// The TLS files, all three, or None when running in plaintext.
    pub fn tls_files(&self) -> Option<moor_tls::TlsFiles> {
        match (&self.tls.cert, &self.tls.key, &self.tls.ca) {
            (Some(cert), Some(key), Some(ca)) if !self.insecure_plaintext => {
                Some(moor_tls::TlsFiles {
                    cert: cert.clone(),
                    key: key.clone(),
                    ca: ca.clone(),
                })
            }
            _ => None,
        }
    }

    /// Checks every value; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.id == 0 {
            return Err(bad("id", 0, "member ids start at 1"));
        }
        if let Some(a) = &self.advertise_addr {
            validate_peer_addr(a).map_err(|hint| bad("advertise_addr", a, &hint))?;
        }
        if let Some(a) = &self.peer_advertise_addr {
            validate_peer_addr(a).map_err(|hint| bad("peer_advertise_addr", a, &hint))?;
        }
        if self.peer_listen_addr == Some(self.listen_addr) {
            return Err(bad(
                "peer_listen_addr",
                self.listen_addr,
                "must differ from listen_addr (leave it unset to share one port)",
            ));
        }
        if !self.insecure_plaintext {
            let t = &self.tls;
            for (key, v) in [
                ("tls.cert", &t.cert),
                ("tls.key", &t.key),
                ("tls.ca", &t.ca),
            ] {
                if v.is_none() {
                    return Err(bad(
                        key,
                        "",
                        "set tls.cert, tls.key and tls.ca (PEM files), or start with --dev to make development certificates, or pass --insecure-plaintext for a throwaway local cluster",
                    ));
                }
            }
            if t.reload_interval_ms < 100 {
                return Err(bad(
                    "tls.reload_interval_ms",
                    t.reload_interval_ms,
                    "must be at least 100",
                ));
            }
        }
        if self.auth.audit_max_entries == 0 {
            return Err(bad("auth.audit_max_entries", 0, "must be at least 1"));
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
        self.executor.validate()?;
        self.telemetry.validate(self.tls.ca.is_some())
    }

    /// The CA bundle for a `https://` collector: `telemetry.otlp_ca`, else `tls.ca`.
    pub fn otlp_ca(&self) -> Option<&Path> {
        self.telemetry.otlp_ca.as_deref().or(self.tls.ca.as_deref())
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
        let most = (MAX_PEER_MESSAGE_BYTES / 4) as u64;
        if !(4096..=most).contains(&r.max_append_bytes) {
            return Err(bad(
                "raft.max_append_bytes",
                r.max_append_bytes,
                &format!("must be between 4096 and {most} (a quarter of the largest peer message); the default is 1048576"),
            ));
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

impl TelemetryConfig {
    /// An endpoint a gRPC channel can dial, and a ratio that is a ratio.
    fn validate(&self, has_tls_ca: bool) -> Result<(), ConfigError> {
        let t = self;
        if !(0.0..=1.0).contains(&t.sample_ratio) {
            return Err(bad(
                "telemetry.sample_ratio",
                t.sample_ratio,
                "must be between 0.0 (export nothing that starts here) and 1.0 (export every trace)",
            ));
        }
        if t.service_name.trim().is_empty() {
            return Err(bad(
                "telemetry.service_name",
                &t.service_name,
                "give a name, e.g. moord",
            ));
        }
        let Some(endpoint) = &t.otlp_endpoint else {
            return Ok(());
        };
        let tls = endpoint.starts_with("https://");
        let rest = endpoint
            .strip_prefix("http://")
            .or_else(|| endpoint.strip_prefix("https://"));
        let host_ok = rest.is_some_and(|r| {
            let authority = r.split('/').next().unwrap_or("");
            !authority.is_empty() && endpoint.parse::<tonic::transport::Uri>().is_ok()
        });
        if !host_ok {
            return Err(bad(
                "telemetry.otlp_endpoint",
                endpoint,
                "give the collector's OTLP/gRPC address as http://HOST:PORT or https://HOST:PORT (the collector's gRPC port is usually 4317)",
            ));
        }
        if tls && t.otlp_ca.is_none() && !has_tls_ca {
            return Err(bad(
                "telemetry.otlp_ca",
                "",
                "an https:// collector needs the CA its certificate chains to: set telemetry.otlp_ca (or tls.ca)",
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
        let most = MAX_PEER_MESSAGE_BYTES / 4;
        if l.max_request_bytes > most {
            return Err(bad(
                "limits.max_request_bytes",
                l.max_request_bytes,
                &format!("must be at most {most}: a write becomes one Raft entry, and an entry must fit, with room to spare, in the largest message members send each other ({MAX_PEER_MESSAGE_BYTES} bytes)"),
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
        if !(4..=4096).contains(&e.max_probes_per_second) {
            return Err(bad(
                "executor.max_probes_per_second",
                e.max_probes_per_second,
                "must be between 4 and 4096; at 256 (the default) a round over 100,000 sites no check covers takes about 6.5 minutes",
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

    /// The defaults with throwaway TLS paths: without certificates a member refuses to start.
    fn with_tls() -> Config {
        let mut c = Config::default();
        c.tls.cert = Some("m.pem".into());
        c.tls.key = Some("m.key".into());
        c.tls.ca = Some("ca.pem".into());
        c
    }

    #[test]
    fn defaults_are_valid_once_certificates_are_named() {
        with_tls().validate().unwrap();
        let e = Config::default().validate().unwrap_err().to_string();
        assert!(
            e.contains("tls.cert") && e.contains("--dev") && e.contains("--insecure-plaintext"),
            "{e}"
        );
        let plain = Config {
            insecure_plaintext: true,
            ..Config::default()
        };
        plain.validate().unwrap();
        assert!(plain.tls_files().is_none());
        assert!(with_tls().tls_files().is_some());
    }

    /// A `[tls]` table that names only the files keeps the other defaults.
    #[test]
    fn a_tls_table_with_only_files_is_valid() {
        let c = Config::from_toml("[tls]\ncert = \"m.pem\"\nkey = \"m.key\"\nca = \"ca.pem\"\n")
            .unwrap();
        c.validate().unwrap();
        assert_eq!(c.tls.reload_interval_ms, 5_000);
        let e = Config::from_toml("[tls]\ncert = \"m.pem\"\n")
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("tls.key"), "{e}");
    }

    #[test]
    fn peer_addresses_default_sensibly() {
        let mut c = with_tls();
        assert_eq!(c.peer_advertised(), "127.0.0.1:7401");
        c.peer_listen_addr = Some("127.0.0.1:7402".parse().unwrap());
        assert_eq!(c.peer_advertised(), "127.0.0.1:7402");
        c.peer_advertise_addr = Some("moor-1:7402".into());
        assert_eq!(c.peer_advertised(), "moor-1:7402");
        c.peer_listen_addr = Some(c.listen_addr);
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("peer_listen_addr"));
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
        let c = Config::from_toml("id = 3\n[raft]\nheartbeat_interval_ms = 75\n").unwrap();
        assert_eq!(c.id, 3);
        assert_eq!(c.raft.heartbeat_interval_ms, 75);
        assert_eq!(
            c.raft.election_timeout_min_ms,
            RaftConfig::default().election_timeout_min_ms
        );
    }

    /// Sizes that would make entries no peer message can carry, or appends that cannot
    /// come back within a heartbeat, are refused with the bound.
    #[test]
    fn sizes_a_peer_message_cannot_carry_are_refused() {
        let mut c = with_tls();
        c.limits.max_request_bytes = MAX_PEER_MESSAGE_BYTES;
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.contains("limits.max_request_bytes") && e.contains(&(16u32 << 20).to_string()),
            "{e}"
        );
        c.limits.max_request_bytes = 16 << 20;
        c.validate().unwrap();

        for bytes in [0, 4095, (16 << 20) + 1] {
            c.raft.max_append_bytes = bytes;
            let e = c.validate().unwrap_err().to_string();
            assert!(
                e.contains("raft.max_append_bytes") && e.contains("1048576"),
                "{e}"
            );
        }
        c.raft.max_append_bytes = 4096;
        c.validate().unwrap();
        assert_eq!(RaftConfig::default().max_append_bytes, 1 << 20);
    }

    #[test]
    fn the_probe_rate_is_bounded() {
        let mut c = with_tls();
        for rate in [0, 3, 4097] {
            c.executor.max_probes_per_second = rate;
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains("executor.max_probes_per_second"), "{e}");
        }
        c.executor.max_probes_per_second = 4;
        c.validate().unwrap();
        assert_eq!(c.executor.probes_per_tick(), 1);
        c.executor.max_probes_per_second = 4096;
        assert_eq!(c.executor.probes_per_tick(), 1024);
        assert_eq!(ExecutorSettings::default().probes_per_tick(), 64);
    }

    #[test]
    fn bad_values_name_key_and_value() {
        let mut c = Config {
            advertise_addr: Some("10.0.0.1".into()),
            ..with_tls()
        };
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.contains("advertise_addr") && e.contains("10.0.0.1"),
            "{e}"
        );

        c.advertise_addr = Some("10.0.0.1:99999".into());
        assert!(c.validate().is_err());

        c.advertise_addr = None;
        c.raft.election_timeout_min_ms = 90;
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.contains("election_timeout_min_ms") && e.contains("90"),
            "{e}"
        );

        let c = Config {
            id: 0,
            ..with_tls()
        };
        assert!(c.validate().unwrap_err().to_string().contains("id"));
    }

    #[test]
    fn telemetry_settings_are_checked() {
        let c = Config::from_toml(
            "[tls]\ncert = \"m.pem\"\nkey = \"m.key\"\nca = \"ca.pem\"\n\n[telemetry]\notlp_endpoint = \"http://otel:4317\"\nsample_ratio = 0.25\n",
        )
        .unwrap();
        c.validate().unwrap();
        assert_eq!(c.telemetry.service_name, "moord");
        // https without a CA of its own falls back to the cluster's.
        let mut c = with_tls();
        c.telemetry.otlp_endpoint = Some("https://otel:4317".into());
        c.validate().unwrap();
        assert_eq!(c.otlp_ca(), Some(Path::new("ca.pem")));
        let plain = Config {
            insecure_plaintext: true,
            tls: TlsConfig::default(),
            telemetry: c.telemetry.clone(),
            ..Config::default()
        };
        let e = plain.validate().unwrap_err().to_string();
        assert!(e.contains("telemetry.otlp_ca"), "{e}");

        for (endpoint, ratio, key) in [
            ("otel:4317", 1.0, "telemetry.otlp_endpoint"),
            ("http://", 1.0, "telemetry.otlp_endpoint"),
            ("grpc://otel:4317", 1.0, "telemetry.otlp_endpoint"),
            ("http://otel:4317", 1.5, "telemetry.sample_ratio"),
            ("http://otel:4317", -0.1, "telemetry.sample_ratio"),
        ] {
            let mut c = with_tls();
            c.telemetry.otlp_endpoint = Some(endpoint.into());
            c.telemetry.sample_ratio = ratio;
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains(key), "{endpoint} {ratio}: {e}");
        }
        let mut c = with_tls();
        c.telemetry.otlp_endpoint = Some("otel:4317".into());
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("http://HOST:PORT"), "says what to give: {e}");
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
