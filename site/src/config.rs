//! Configuration of a sitesim: one struct ([`SimConfig`]) used by the binary and by in-process
//! tests, the clap flags that fill it ([`SimArgs`], also read from `MOOR_SITESIM_*` variables),
//! and its validation, done once at start with errors that carry the bad value.
//!
//! TLS is all three of `--tls-cert`, `--tls-key` and `--tls-ca` or none of them (plaintext);
//! one or two of them is refused, naming the missing ones.

use std::net::SocketAddr;
use std::path::PathBuf;

use moor_tls::TlsFiles;

/// How a sitesim behaves. Every random-looking choice is a hash of `seed` and the call, so a
/// run with the same seed and the same calls gives the same answers.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Seed of every simulated decision (failures, latency, unreachable sites).
    pub seed: u64,
    /// Probability in [0, 1] that an apply or delete attempt fails.
    pub failure_rate: f64,
    /// Sites whose applies and deletes always fail.
    pub fail_sites: Vec<String>,
    /// Mean simulated work per call, in milliseconds.
    pub latency_ms: u64,
    /// Uniform jitter around `latency_ms`: each call takes `latency_ms ± jitter` (at least 0).
    pub latency_jitter_ms: u64,
    /// Sites that never answer: calls are held until the caller's deadline.
    pub unreachable: Vec<String>,
    /// Fraction in [0, 1] of all site names that are unreachable (chosen by hashing the name).
    pub unreachable_fraction: f64,
    /// Longest a call to an unreachable site is held when the caller set no deadline.
    pub unreachable_hold_max_ms: u64,
    /// Switches fencing and dedupe off: every call applies. Only for the WF6 negative control.
    pub unsafe_no_fencing_no_dedupe: bool,
    /// Where to append the journal (one JSON line per answered call); `None` = no journal.
    pub journal: Option<PathBuf>,
    /// Also journal Observe calls (off by default: they are not needed by the checkers).
    pub journal_observe: bool,
    /// Capacity of the channel between call handlers and the journal writer. When full,
    /// handlers wait (backpressure) rather than drop lines.
    pub journal_queue_capacity: usize,
    /// Most sites one process keeps; a call that would create one more is refused.
    pub max_sites: usize,
    /// Most concurrent calls per client connection (held unreachable calls count too).
    pub max_concurrent_requests_per_connection: usize,
    /// Largest request accepted, in bytes.
    pub max_request_bytes: usize,
    /// Serve over TLS with this certificate and key, require every client to present a
    /// certificate of this CA, and let only member certificates (`member-<id>.moor`) call
    /// `SiteAgent`. `None`: plaintext, anyone who reaches the port may call.
    pub tls: Option<TlsFiles>,
    /// How often the TLS files are checked for a change (rotation without a restart).
    pub tls_reload_interval_ms: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 0,
            failure_rate: 0.0,
            fail_sites: Vec::new(),
            latency_ms: 0,
            latency_jitter_ms: 0,
            unreachable: Vec::new(),
            unreachable_fraction: 0.0,
            unreachable_hold_max_ms: 300_000,
            unsafe_no_fencing_no_dedupe: false,
            journal: None,
            journal_observe: false,
            journal_queue_capacity: 65_536,
            max_sites: 1_000_000,
            // High on purpose: a rollout keeps one call in flight per environment it drives,
            // and held calls to unreachable sites must not starve the reachable ones.
            max_concurrent_requests_per_connection: 16_384,
            max_request_bytes: 4 * 1024 * 1024,
            tls: None,
            tls_reload_interval_ms: 5_000,
        }
    }
}

/// A configuration value that cannot work, with the value and what to do.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid setting {field} = {value}: {reason}")]
pub struct ConfigError {
    pub field: &'static str,
    pub value: String,
    pub reason: &'static str,
}

impl SimConfig {
    /// Checks every value once, at start.
    pub fn validate(&self) -> Result<(), ConfigError> {
        fn fraction(field: &'static str, v: f64) -> Result<(), ConfigError> {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(ConfigError {
                    field,
                    value: v.to_string(),
                    reason: "must be a fraction between 0 and 1",
                })
            }
        }
        fn positive(field: &'static str, v: usize) -> Result<(), ConfigError> {
            if v > 0 {
                Ok(())
            } else {
                Err(ConfigError {
                    field,
                    value: v.to_string(),
                    reason: "must be at least 1",
                })
            }
        }
        fn names(field: &'static str, list: &[String]) -> Result<(), ConfigError> {
            match list
                .iter()
                .find(|s| s.is_empty() || s.len() > crate::MAX_NAME_BYTES)
            {
                Some(bad) => Err(ConfigError {
                    field,
                    value: format!("{bad:?}"),
                    reason: "site names must be 1 to 253 bytes (check for a stray comma)",
                }),
                None => Ok(()),
            }
        }
        fraction("failure_rate", self.failure_rate)?;
        fraction("unreachable_fraction", self.unreachable_fraction)?;
        names("fail_sites", &self.fail_sites)?;
        names("unreachable", &self.unreachable)?;
        positive("journal_queue_capacity", self.journal_queue_capacity)?;
        positive("max_sites", self.max_sites)?;
        positive(
            "max_concurrent_requests_per_connection",
            self.max_concurrent_requests_per_connection,
        )?;
        positive("max_request_bytes", self.max_request_bytes)?;
        if self.tls.is_some() && self.tls_reload_interval_ms < 100 {
            return Err(ConfigError {
                field: "tls_reload_interval_ms",
                value: self.tls_reload_interval_ms.to_string(),
                reason: "must be at least 100 (the files are read from disk at every check)",
            });
        }
        if self.unreachable_hold_max_ms == 0 {
            return Err(ConfigError {
                field: "unreachable_hold_max_ms",
                value: "0".into(),
                reason:
                    "must be at least 1 (an unreachable site holds calls, it does not refuse them)",
            });
        }
        Ok(())
    }
}

/// The flags of `moor-sitesim`.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "moor-sitesim",
    version,
    about = "Many simulated Moor sites behind one SiteAgent gRPC endpoint, with a journal of every answered call. With --tls-cert, --tls-key and --tls-ca: mutual TLS, and only Moor members may call SiteAgent; without them: plaintext, for tests"
)]
pub struct SimArgs {
    /// Address to listen on; port 0 picks a free port. The first stdout line is
    /// `moor-sitesim listening on ADDR`.
    #[arg(long, env = "MOOR_SITESIM_LISTEN", default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Seed of every simulated decision; the same seed and calls give the same answers.
    #[arg(long, env = "MOOR_SITESIM_SEED", default_value_t = 0)]
    pub seed: u64,
    /// Probability in [0, 1] that an apply or delete attempt fails.
    #[arg(long, env = "MOOR_SITESIM_FAILURE_RATE", default_value_t = 0.0)]
    pub failure_rate: f64,
    /// Sites whose applies and deletes always fail (comma separated).
    #[arg(long, env = "MOOR_SITESIM_FAIL_SITES", value_delimiter = ',')]
    pub fail_sites: Vec<String>,
    /// Mean simulated work per call, in milliseconds.
    #[arg(long, env = "MOOR_SITESIM_LATENCY_MS", default_value_t = 0)]
    pub latency_ms: u64,
    /// Uniform jitter around --latency-ms, in milliseconds.
    #[arg(long, env = "MOOR_SITESIM_LATENCY_JITTER_MS", default_value_t = 0)]
    pub latency_jitter_ms: u64,
    /// Sites that never answer (comma separated): calls are held until the caller's deadline.
    #[arg(long, env = "MOOR_SITESIM_UNREACHABLE", value_delimiter = ',')]
    pub unreachable: Vec<String>,
    /// Fraction of all sites that never answer, chosen by hashing the site name with the seed.
    #[arg(long, env = "MOOR_SITESIM_UNREACHABLE_FRACTION", default_value_t = 0.0)]
    pub unreachable_fraction: f64,
    /// Longest a call to an unreachable site is held when the caller set no deadline.
    #[arg(
        long,
        env = "MOOR_SITESIM_UNREACHABLE_HOLD_MAX_MS",
        default_value_t = 300_000
    )]
    pub unreachable_hold_max_ms: u64,
    /// Switch fencing and dedupe off: every call applies (WF6 negative control only).
    #[arg(long)]
    pub unsafe_no_fencing_no_dedupe: bool,
    /// Append one JSON line per answered Apply/Delete call to this file.
    #[arg(long, env = "MOOR_SITESIM_JOURNAL")]
    pub journal: Option<PathBuf>,
    /// Also journal Observe calls.
    #[arg(long, env = "MOOR_SITESIM_JOURNAL_OBSERVE")]
    pub journal_observe: bool,
    /// Capacity of the queue in front of the journal writer (handlers wait when it is full).
    #[arg(
        long,
        env = "MOOR_SITESIM_JOURNAL_QUEUE_CAPACITY",
        default_value_t = 65_536
    )]
    pub journal_queue_capacity: usize,
    /// Most sites kept; calls that would create more are refused with RESOURCE_EXHAUSTED.
    #[arg(long, env = "MOOR_SITESIM_MAX_SITES", default_value_t = 1_000_000)]
    pub max_sites: usize,
    /// Most concurrent calls per client connection (held calls count too).
    #[arg(
        long,
        env = "MOOR_SITESIM_MAX_CONCURRENT_REQUESTS",
        default_value_t = 16_384
    )]
    pub max_concurrent_requests_per_connection: usize,
    /// Largest request accepted, in bytes.
    #[arg(long, env = "MOOR_SITESIM_MAX_REQUEST_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_request_bytes: usize,
    /// This sitesim's server certificate (PEM), naming the host members dial it at. With
    /// --tls-key and --tls-ca: TLS, every client must present a certificate of that CA, and
    /// only member certificates (DNS name member-<id>.moor) may call SiteAgent. Without all
    /// three: plaintext, and anyone who reaches the port can fence the real controllers out.
    #[arg(long, env = "MOOR_SITESIM_TLS_CERT", value_name = "PEM")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, env = "MOOR_SITESIM_TLS_KEY", value_name = "PEM")]
    pub tls_key: Option<PathBuf>,
    /// The CA bundle (PEM) the members' certificates chain to.
    #[arg(long, env = "MOOR_SITESIM_TLS_CA", value_name = "PEM")]
    pub tls_ca: Option<PathBuf>,
    /// How often the TLS files are checked for a change, in milliseconds (SIGHUP reloads at
    /// once).
    #[arg(
        long,
        env = "MOOR_SITESIM_TLS_RELOAD_INTERVAL_MS",
        default_value_t = 5_000
    )]
    pub tls_reload_interval_ms: u64,
}

/// All three TLS files, or none; anything else names what is missing.
pub(crate) fn tls_files(
    cert: &Option<PathBuf>,
    key: &Option<PathBuf>,
    ca: &Option<PathBuf>,
) -> Result<Option<TlsFiles>, ConfigError> {
    match (cert, key, ca) {
        (Some(cert), Some(key), Some(ca)) => Ok(Some(TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
            ca: ca.clone(),
        })),
        (None, None, None) => Ok(None),
        _ => {
            let list = |present: bool| {
                [("--tls-cert", cert), ("--tls-key", key), ("--tls-ca", ca)]
                    .iter()
                    .filter(|(_, v)| v.is_some() == present)
                    .map(|(flag, _)| *flag)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            Err(ConfigError {
                field: "tls",
                value: format!("{} given, {} missing", list(true), list(false)),
                reason: "give all three of --tls-cert, --tls-key and --tls-ca (or none of them, for plaintext)",
            })
        }
    }
}

impl SimArgs {
    /// The validated configuration these flags describe.
    pub fn to_config(&self) -> Result<SimConfig, ConfigError> {
        let config = SimConfig {
            seed: self.seed,
            failure_rate: self.failure_rate,
            fail_sites: self.fail_sites.clone(),
            latency_ms: self.latency_ms,
            latency_jitter_ms: self.latency_jitter_ms,
            unreachable: self.unreachable.clone(),
            unreachable_fraction: self.unreachable_fraction,
            unreachable_hold_max_ms: self.unreachable_hold_max_ms,
            unsafe_no_fencing_no_dedupe: self.unsafe_no_fencing_no_dedupe,
            journal: self.journal.clone(),
            journal_observe: self.journal_observe,
            journal_queue_capacity: self.journal_queue_capacity,
            max_sites: self.max_sites,
            max_concurrent_requests_per_connection: self.max_concurrent_requests_per_connection,
            max_request_bytes: self.max_request_bytes,
            tls: tls_files(&self.tls_cert, &self.tls_key, &self.tls_ca)?,
            tls_reload_interval_ms: self.tls_reload_interval_ms,
        };
        config.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn flags_fill_the_config() {
        let args = SimArgs::try_parse_from([
            "moor-sitesim",
            "--seed",
            "7",
            "--fail-sites",
            "a,b",
            "--unreachable",
            "x",
            "--failure-rate",
            "0.25",
            "--unsafe-no-fencing-no-dedupe",
        ])
        .expect("flags parse");
        let config = args.to_config().expect("valid");
        assert_eq!(config.seed, 7);
        assert_eq!(config.fail_sites, vec!["a".to_string(), "b".to_string()]);
        assert_eq!(config.unreachable, vec!["x".to_string()]);
        assert_eq!(config.failure_rate, 0.25);
        assert!(config.unsafe_no_fencing_no_dedupe);
    }

    #[test]
    fn bad_values_are_named() {
        let config = SimConfig {
            failure_rate: 1.5,
            ..SimConfig::default()
        };
        let err = config.validate().expect_err("1.5 is not a fraction");
        assert_eq!(err.field, "failure_rate");
        assert_eq!(err.value, "1.5");

        let args =
            SimArgs::try_parse_from(["moor-sitesim", "--fail-sites", "a,,b"]).expect("flags parse");
        let err = args.to_config().expect_err("empty site name");
        assert_eq!(err.field, "fail_sites");
    }

    #[test]
    fn tls_is_all_three_files_or_none() {
        let plain = SimArgs::try_parse_from(["moor-sitesim"]).expect("flags parse");
        assert_eq!(plain.to_config().expect("valid").tls, None);

        let all = SimArgs::try_parse_from([
            "moor-sitesim",
            "--tls-cert",
            "s.pem",
            "--tls-key",
            "s.key",
            "--tls-ca",
            "ca.pem",
        ])
        .expect("flags parse");
        let tls = all.to_config().expect("valid").tls.expect("TLS on");
        assert_eq!(tls.cert, PathBuf::from("s.pem"));
        assert_eq!(tls.key, PathBuf::from("s.key"));
        assert_eq!(tls.ca, PathBuf::from("ca.pem"));

        let some =
            SimArgs::try_parse_from(["moor-sitesim", "--tls-cert", "s.pem"]).expect("flags parse");
        let err = some
            .to_config()
            .expect_err("a certificate without key and CA");
        assert_eq!(err.field, "tls");
        assert_eq!(err.value, "--tls-cert given, --tls-key, --tls-ca missing");
    }
}
