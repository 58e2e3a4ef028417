//! A cluster of real `moord` processes on loopback, each with its own data dir and log file,
//! driven only over the network. Used by the integration tests, the fault-injection suite,
//! the benchmarks and the README's demo.
//!
//! Members run as in production unless asked otherwise ([`MemberSettings::insecure_plaintext`]):
//! TLS on a client port and a peer port (mutual TLS, members only), authentication on. Each
//! cluster directory has its own development CA ([`DevPki`], in `<dir>/tls`); membership
//! (init, add member) uses the peer addresses, clients the client addresses, and every
//! client of the harness authenticates with the CA's admin client certificate
//! ([`connect`]).

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use moor_proto::api::moor_api_client::MoorApiClient;
use moor_proto::api::{ClusterInitRequest, ClusterStatusRequest, ClusterStatusResponse};
use moor_proto::site::site_sim_admin_client::SiteSimAdminClient;
use tonic::transport::Channel;

use crate::netns::{enter_netns_on_spawn, NetLab};
pub use crate::security::{connect, DevPki, Security};

/// The client port every member listens on inside its own network namespace.
pub const MEMBER_PORT: u16 = 7400;
/// The peer port every member listens on inside its own network namespace.
pub const PEER_PORT: u16 = 7401;

/// Where the project's binaries are: `MOOR_BIN_DIR`, or the cargo profile directory that
/// holds the running test or benchmark executable.
pub fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("MOOR_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("current exe");
    let mut dir = exe.parent().expect("exe dir").to_path_buf();
    // Integration tests live in <profile>/deps; binaries in <profile>.
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

/// A free loopback port (bound then released; the caller binds it again right away).
pub fn free_port() -> u16 {
    free_ports::<1>()[0]
}

/// The ports [`free_ports`] hands out: below Linux's ephemeral range (32768–60999 by
/// default), so no outgoing connection and no bind to port 0 anywhere on the machine can
/// take one between the check here and the process that binds it later. Asking the kernel
/// for port 0 instead picks from the ephemeral range, where every client socket of a busy
/// test run takes its local port: a port released here could be taken by one of them
/// before `moord` binds it.
const PORT_RANGE: std::ops::Range<u16> = 20_000..32_000;

/// `N` distinct free loopback ports outside the ephemeral range. Each candidate is checked
/// by binding it; a process-wide cursor (starting at an offset from the process id, so
/// concurrent test processes start apart) never hands the same port out twice in a run.
pub fn free_ports<const N: usize>() -> [u16; N] {
    use std::sync::atomic::{AtomicU32, Ordering};
    static CURSOR: AtomicU32 = AtomicU32::new(u32::MAX);
    let span = u32::from(PORT_RANGE.end - PORT_RANGE.start);
    // First use: start at an offset from the pid (a lost race just starts at the winner's).
    let _ = CURSOR.compare_exchange(
        u32::MAX,
        std::process::id().wrapping_mul(977) % span,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    let mut ports = [0u16; N];
    let mut found = 0;
    let mut tried = 0;
    while found < N {
        assert!(tried < span, "no free loopback port in {PORT_RANGE:?}");
        tried += 1;
        let n = CURSOR.fetch_add(1, Ordering::Relaxed) % span;
        let port = PORT_RANGE.start + n as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            ports[found] = port;
            found += 1;
        }
    }
    ports
}

/// How members are configured beyond their addresses: extra `[raft]`, `[executor]` and
/// `[telemetry]` settings, and whether they run without TLS and authentication.
#[derive(Debug, Clone, Default)]
pub struct MemberSettings {
    /// Lines appended to the `[raft]` table, e.g. `snapshot_every_entries = 50`.
    pub raft: Vec<String>,
    /// Lines for the `[executor]` table, e.g. `drift_check_interval_ms = 200`.
    pub executor: Vec<String>,
    /// Lines for the `[telemetry]` table, e.g. `otlp_endpoint = "http://127.0.0.1:4317"`
    /// (left out when empty).
    pub telemetry: Vec<String>,
    /// Members serve plaintext with authentication off (`insecure_plaintext = true`,
    /// `auth.enabled = false`), and the harness's clients and sitesims follow. Off by
    /// default: only `moor-bench --tls off` sets it, to measure what TLS costs.
    pub insecure_plaintext: bool,
}

/// Which `moord` the members run and what environment they get beyond their config file. By
/// default, the build under test (`bin_dir()/moord`) and nothing more; a mixed-version test
/// (tests/upgrade.rs) starts a cluster on an older release ([`Cluster::start_launched`]) and
/// replaces its members one by one ([`Cluster::restart_with`]).
#[derive(Debug, Clone, Default)]
pub struct Launch {
    /// The `moord` every member runs unless [`Cluster::restart_with`] gave it its own.
    pub binary: Option<PathBuf>,
    /// Added to every member process's environment, at every start. Settings an older
    /// release must also accept go here as `MOOR_*` variables: its config file parser refuses
    /// unknown keys, while unknown environment variables are ignored.
    pub env: Vec<(String, String)>,
}

/// One `moord` process (running or not) of a [`Cluster`].
pub struct MemberProc {
    pub id: u64,
    /// The client address (MoorApi, WorkflowApi, RolloutApi, AuthApi).
    pub addr: String,
    /// The peer address (Raft, forwarding): what membership records.
    pub peer_addr: String,
    pub data_dir: PathBuf,
    pub config_path: PathBuf,
    pub log_path: PathBuf,
    /// This member's own `moord` ([`Cluster::restart_with`]), for every later start.
    binary: Option<PathBuf>,
    child: Option<Child>,
}

impl MemberProc {
    /// The OS process id while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }
}

/// Real `moord` processes on loopback.
pub struct Cluster {
    pub dir: PathBuf,
    pub members: BTreeMap<u64, MemberProc>,
    settings: MemberSettings,
    /// Which `moord` members run, with what extra environment.
    launch: Launch,
    /// When set, every member runs in its own network namespace of this lab (real partitions).
    net: Option<Arc<NetLab>>,
    /// The cluster's CA (None with [`MemberSettings::insecure_plaintext`]).
    pki: Option<DevPki>,
    /// How clients reach the members.
    security: Security,
    _tmp: Option<tempfile::TempDir>,
}

impl Cluster {
    /// Starts `n` members (ids 1..=n) in a fresh temporary directory and initialises them as
    /// one group through member 1; returns once a leader is elected.
    pub async fn start(n: u64, settings: MemberSettings) -> Result<Cluster> {
        Cluster::start_with(n, settings, None, Launch::default()).await
    }

    /// Like [`Cluster::start`], with members launched as `launch` says (another `moord`,
    /// extra environment), at this start and every later one.
    pub async fn start_launched(
        n: u64,
        settings: MemberSettings,
        launch: Launch,
    ) -> Result<Cluster> {
        Cluster::start_with(n, settings, None, launch).await
    }

    /// Like [`Cluster::start`], but each member runs in its own network namespace of `net`
    /// (address `net.member_ip(id)`), so [`NetLab`] faults really cut its traffic.
    pub async fn start_in_netns(
        n: u64,
        settings: MemberSettings,
        net: Arc<NetLab>,
    ) -> Result<Cluster> {
        Cluster::start_with(n, settings, Some(net), Launch::default()).await
    }

    async fn start_with(
        n: u64,
        settings: MemberSettings,
        net: Option<Arc<NetLab>>,
        launch: Launch,
    ) -> Result<Cluster> {
        let tmp = tempfile::Builder::new().prefix("moor-cluster-").tempdir()?;
        let mut cluster = Cluster::create(tmp.path(), settings, net)?;
        cluster._tmp = Some(tmp);
        cluster.launch = launch;
        for id in 1..=n {
            cluster.add_process(id)?;
        }
        cluster.init(1).await?;
        cluster.wait_leader(Duration::from_secs(20)).await?;
        Ok(cluster)
    }

    /// A cluster with no member yet, keeping its files (and its CA, in `tls/`) in `dir`.
    pub fn new_in(dir: &Path, settings: MemberSettings) -> Result<Cluster> {
        Cluster::create(dir, settings, None)
    }

    fn create(dir: &Path, settings: MemberSettings, net: Option<Arc<NetLab>>) -> Result<Cluster> {
        let pki = if settings.insecure_plaintext {
            None
        } else {
            // Members dial the sitesim at the lab's service address in namespaces, on
            // loopback otherwise (always named).
            let site_hosts: Vec<String> = net.iter().map(|n| n.service_ip().to_string()).collect();
            Some(DevPki::create(&dir.join("tls"), &site_hosts)?)
        };
        let security = pki
            .as_ref()
            .map(|p| p.security().clone())
            .unwrap_or(Security::Plaintext);
        Ok(Cluster {
            dir: dir.to_path_buf(),
            members: BTreeMap::new(),
            settings,
            launch: Launch::default(),
            net,
            pki,
            security,
            _tmp: None,
        })
    }

    /// Where the members' configs, logs, data dirs and key files are.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How clients (and `moorctl`, and a sitesim the members call) reach this cluster.
    pub fn security(&self) -> &Security {
        &self.security
    }

    /// The network lab the members run in, if any.
    pub fn netlab(&self) -> Option<&Arc<NetLab>> {
        self.net.as_ref()
    }

    /// Keeps the directory (logs, data) after the cluster is dropped, for a post-mortem.
    pub fn keep_dir(&mut self) -> PathBuf {
        if let Some(tmp) = self._tmp.take() {
            let _ = tmp.keep();
        }
        self.dir.clone()
    }

    /// The cluster's secrets key file (every member's `secrets.key_file`), made by `moord
    /// secrets-key new` on first use.
    pub fn secrets_key_file(&self) -> Result<PathBuf> {
        let path = self.dir.join("secrets.keys");
        if !path.exists() {
            let out = Command::new(bin_dir().join("moord"))
                .args(["secrets-key", "new", "--file"])
                .arg(&path)
                .output()
                .with_context(|| format!("cannot run {}", bin_dir().join("moord").display()))?;
            anyhow::ensure!(
                out.status.success(),
                "moord secrets-key new failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(path)
    }

    /// Creates member `id` (config, data dir, client and peer ports, certificate) and starts
    /// its process.
    pub fn add_process(&mut self, id: u64) -> Result<()> {
        self.define(id)?;
        self.restart(id)
    }

    /// Creates member `id` (config, client and peer ports, certificate) without starting it:
    /// [`Cluster::restart`] starts it (e.g. after its data dir was seeded by `moord restore`).
    pub fn define(&mut self, id: u64) -> Result<()> {
        let (host, addr, peer_addr) = match &self.net {
            // Each member has its own namespace, hence its own port space.
            Some(net) => {
                net.add_member(id)?;
                let ip = net.member_ip(id);
                (
                    ip.to_string(),
                    format!("{ip}:{MEMBER_PORT}"),
                    format!("{ip}:{PEER_PORT}"),
                )
            }
            None => {
                let [client, peer] = free_ports::<2>();
                (
                    "127.0.0.1".to_string(),
                    format!("127.0.0.1:{client}"),
                    format!("127.0.0.1:{peer}"),
                )
            }
        };
        let data_dir = self.dir.join(format!("member-{id}"));
        let config_path = self.dir.join(format!("member-{id}.toml"));
        let log_path = self.dir.join(format!("member-{id}.log"));
        let mut text = format!(
            "id = {id}\nlisten_addr = \"{addr}\"\npeer_listen_addr = \"{peer_addr}\"\ndata_dir = \"{}\"\n",
            data_dir.display()
        );
        match &self.pki {
            Some(pki) => {
                let (cert, key) = pki.member(id, &[host])?;
                text.push_str(&format!(
                    "\n[tls]\ncert = \"{}\"\nkey = \"{}\"\nca = \"{}\"\n",
                    cert.display(),
                    key.display(),
                    pki.bundle().ca.display()
                ));
                // Secrets sealed at rest, as in production: one key file for all members.
                text.push_str(&format!(
                    "\n[secrets]\nkey_file = \"{}\"\n",
                    self.secrets_key_file()?.display()
                ));
            }
            // Asked for (moor-bench --tls off): no TLS anywhere, anyone is admin.
            None => text.push_str("insecure_plaintext = true\n\n[auth]\nenabled = false\n"),
        }
        text.push_str("\n[log]\nfilter = \"info,openraft=warn\"\n\n[raft]\n");
        for line in &self.settings.raft {
            text.push_str(line);
            text.push('\n');
        }
        text.push_str("\n[executor]\n");
        for line in &self.settings.executor {
            text.push_str(line);
            text.push('\n');
        }
        if !self.settings.telemetry.is_empty() {
            text.push_str("\n[telemetry]\n");
            for line in &self.settings.telemetry {
                text.push_str(line);
                text.push('\n');
            }
        }
        std::fs::write(&config_path, text)?;
        self.members.insert(
            id,
            MemberProc {
                id,
                addr,
                peer_addr,
                data_dir,
                config_path,
                log_path,
                binary: None,
                child: None,
            },
        );
        Ok(())
    }

    /// The `moord` member `id` runs (at its next start, if stopped).
    pub fn binary(&self, id: u64) -> PathBuf {
        self.members[&id]
            .binary
            .clone()
            .or_else(|| self.launch.binary.clone())
            .unwrap_or_else(|| bin_dir().join("moord"))
    }

    /// Starts the stopped member `id` on `binary`, with its existing config and data dir, and
    /// keeps that binary for its later restarts: one step of a rolling upgrade.
    pub fn restart_with(&mut self, id: u64, binary: &Path) -> Result<()> {
        let m = self.members.get_mut(&id).context("no such member")?;
        if m.child.is_some() {
            bail!("member {id} is already running: stop it before changing its binary");
        }
        m.binary = Some(binary.to_path_buf());
        self.restart(id)
    }

    /// (Re)starts member `id`'s process with its existing config and data.
    pub fn restart(&mut self, id: u64) -> Result<()> {
        let program = self.binary(id);
        let m = self.members.get_mut(&id).context("no such member")?;
        if m.child.is_some() {
            bail!("member {id} is already running");
        }
        let log = File::options()
            .create(true)
            .append(true)
            .open(&m.log_path)?;
        let mut cmd = Command::new(&program);
        cmd.arg("--config")
            .arg(&m.config_path)
            .envs(self.launch.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        if let Some(net) = &self.net {
            enter_netns_on_spawn(&mut cmd, &net.member_ns_path(id))?;
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", program.display()))?;
        m.child = Some(child);
        Ok(())
    }

    /// Sends `signal` to member `id`'s process.
    pub fn signal(&self, id: u64, signal: i32) -> Result<()> {
        let pid = self.members[&id].pid().context("member not running")?;
        // SAFETY: kill(2) with a pid we spawned and still own (not yet reaped).
        let rc = unsafe { libc::kill(pid as i32, signal) };
        if rc != 0 {
            bail!(
                "kill({pid}, {signal}) failed: {}",
                std::io::Error::last_os_error()
            );
        }
        Ok(())
    }

    /// SIGSTOPs member `id` and returns once the kernel reports it stopped (`T` in
    /// `/proc/PID/stat`): kill(2) only queues the signal, and a process running on the other
    /// core can still answer a request or two before it takes effect.
    pub async fn pause(&self, id: u64) -> Result<()> {
        let pid = self.members[&id].pid().context("member not running")?;
        self.signal(id, libc::SIGSTOP)?;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
            // The state follows the command name, which is in parentheses.
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next());
            if matches!(state, Some("T") | Some("t")) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("member {id} (pid {pid}) not stopped 5 s after SIGSTOP: state {state:?}");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// SIGKILLs member `id` and reaps it.
    pub fn kill(&mut self, id: u64) -> Result<()> {
        let m = self.members.get_mut(&id).context("no such member")?;
        if let Some(mut child) = m.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// SIGTERMs member `id` and waits for it to exit; returns its exit status.
    pub fn stop(&mut self, id: u64) -> Result<std::process::ExitStatus> {
        self.signal(id, libc::SIGTERM)?;
        let m = self.members.get_mut(&id).context("no such member")?;
        let mut child = m.child.take().context("member not running")?;
        Ok(child.wait()?)
    }

    /// SIGTERMs member `id` and waits up to `timeout` for it to exit; SIGKILLs it (and says
    /// so in the error) if it does not.
    pub fn stop_within(&mut self, id: u64, timeout: Duration) -> Result<std::process::ExitStatus> {
        self.signal(id, libc::SIGTERM)?;
        let m = self.members.get_mut(&id).context("no such member")?;
        let mut child = m.child.take().context("member not running")?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!("member {id} did not exit within {timeout:?} of SIGTERM; killed it");
            }
            // Polls the child's exit; a clean shutdown takes tens of milliseconds.
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits up to `timeout` for member `id`'s process to exit by itself (a start it
    /// refused); returns its exit status, or `None` while it still runs.
    pub fn wait_exit(
        &mut self,
        id: u64,
        timeout: Duration,
    ) -> Result<Option<std::process::ExitStatus>> {
        let m = self.members.get_mut(&id).context("no such member")?;
        let Some(child) = m.child.as_mut() else {
            bail!("member {id} is not running");
        };
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait()? {
                m.child = None;
                return Ok(Some(status));
            }
            if Instant::now() > deadline {
                return Ok(None);
            }
            // Polls the child's exit; a refused start ends within a second.
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Deletes member `id`'s data dir (the member must be stopped).
    pub fn wipe(&mut self, id: u64) -> Result<()> {
        let m = &self.members[&id];
        if m.child.is_some() {
            bail!("stop member {id} before wiping it");
        }
        if m.data_dir.exists() {
            std::fs::remove_dir_all(&m.data_dir)?;
        }
        Ok(())
    }

    /// Client address of member `id`.
    pub fn addr(&self, id: u64) -> &str {
        &self.members[&id].addr
    }

    /// Peer address of member `id` (what `cluster init` and `add member` take).
    pub fn peer_addr(&self, id: u64) -> &str {
        &self.members[&id].peer_addr
    }

    /// Ids of running members.
    pub fn running(&self) -> Vec<u64> {
        self.members
            .values()
            .filter(|m| m.is_running())
            .map(|m| m.id)
            .collect()
    }

    /// A client for member `id` (connects lazily).
    pub fn client(&self, id: u64) -> MoorApiClient<Channel> {
        member_client(self.addr(id), &self.security)
    }

    /// Initialises the group with every member currently defined (at their peer
    /// addresses), through member `via`.
    pub async fn init(&self, via: u64) -> Result<()> {
        let members: std::collections::HashMap<u64, String> = self
            .members
            .values()
            .map(|m| (m.id, m.peer_addr.clone()))
            .collect();
        let deadline = Instant::now() + Duration::from_secs(20);
        // The process may still be starting: retry until it listens.
        loop {
            match self
                .client(via)
                .cluster_init(ClusterInitRequest {
                    members: members.clone(),
                })
                .await
            {
                Ok(_) => return Ok(()),
                Err(s) if s.code() == tonic::Code::Unavailable && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                Err(s) => bail!("cluster init via member {via} failed: {}", s.message()),
            }
        }
    }

    /// Status of member `id`, or None if it does not answer.
    pub async fn status(&self, id: u64) -> Option<ClusterStatusResponse> {
        let mut c = self.client(id);
        let mut req = tonic::Request::new(ClusterStatusRequest {});
        req.set_timeout(Duration::from_secs(2));
        // The header only bounds the server; a member cut off by a partition never answers,
        // so the client enforces the deadline too.
        tokio::time::timeout(Duration::from_secs(2), c.cluster_status(req))
            .await
            .ok()?
            .ok()
            .map(|r| r.into_inner())
    }

    /// Waits until the running members agree on one leader in one term; returns its id.
    pub async fn wait_leader(&self, timeout: Duration) -> Result<u64> {
        self.wait_leader_among(&self.running(), timeout).await
    }

    /// Like [`Cluster::wait_leader`], over the members in `ids` only.
    pub async fn wait_leader_among(&self, ids: &[u64], timeout: Duration) -> Result<u64> {
        let deadline = Instant::now() + timeout;
        loop {
            let mut seen = Vec::new();
            for id in ids {
                if let Some(s) = self.status(*id).await {
                    seen.push((s.leader_id, s.term, s.state.clone(), *id));
                }
            }
            if seen.len() == ids.len() {
                if let Some((Some(leader), term, _, _)) = seen.first().cloned() {
                    let agree = seen
                        .iter()
                        .all(|(l, t, _, _)| *l == Some(leader) && *t == term);
                    let leader_says = seen
                        .iter()
                        .any(|(_, _, state, id)| *id == leader && state == "Leader");
                    // The leader must be one of `ids` and say so itself: followers keep
                    // naming a dead leader until their election timeout fires.
                    if agree && leader_says {
                        return Ok(leader);
                    }
                }
            }
            if Instant::now() > deadline {
                // Name the silent members with their last log lines: a member that could
                // not start (a port taken, a bad config) says why there.
                let silent: Vec<String> = ids
                    .iter()
                    .filter(|id| !seen.iter().any(|s| s.3 == **id))
                    .map(|id| {
                        format!(
                            "member {id} did not answer; its log ends:\n{}",
                            self.log_tail(*id, 8)
                        )
                    })
                    .collect();
                bail!(
                    "no agreed leader among {ids:?} within {timeout:?}: {seen:?}\n{}",
                    silent.join("\n")
                );
            }
            // Polls a condition the cluster reports; elections take hundreds of ms.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The lines of member `id`'s log that hold any of `needles`.
    pub fn log_lines_with(&self, id: u64, needles: &[&str]) -> Vec<String> {
        std::fs::read_to_string(&self.members[&id].log_path)
            .unwrap_or_default()
            .lines()
            .filter(|l| needles.iter().any(|n| l.contains(n)))
            .map(str::to_string)
            .collect()
    }

    /// The last lines of member `id`'s log, for failure messages.
    pub fn log_tail(&self, id: u64, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.members[&id].log_path).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for m in self.members.values_mut() {
            if let Some(mut child) = m.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// What h2 writes to a member's log when it sends a GOAWAY for too many reset streams (its
/// own warning), and what the other side's errors say (the reason's code and description).
pub const GOAWAY_SIGNS: [&str; 4] = [
    "pending-accept streams reached limit",
    "too_many_resets",
    "ENHANCE_YOUR_CALM",
    "excessive load generating behavior",
];

/// The largest file with extension `ext` in `dir`, if any.
pub fn largest_file(dir: &Path, ext: &str) -> Result<Option<PathBuf>> {
    let mut best: Option<(u64, PathBuf)> = None;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == ext) {
            let len = std::fs::metadata(&path)?.len();
            if best.as_ref().is_none_or(|(l, _)| len > *l) {
                best = Some((len, path));
            }
        }
    }
    Ok(best.map(|(_, p)| p))
}

/// What a bad disk does: inverts 8 bytes a third of the way into `file` (inside a table's
/// data blocks: its index and footer are at its end; inside a WAL, before later records).
pub fn flip_bytes_in(file: &Path) -> Result<()> {
    let mut bytes = std::fs::read(file)?;
    if bytes.len() < 64 {
        bail!("{} is too small to damage in the middle", file.display());
    }
    let at = bytes.len() / 3;
    bytes[at..at + 8].iter_mut().for_each(|b| *b = !*b);
    std::fs::write(file, bytes)?;
    Ok(())
}

/// A lazily connecting client for a member's client address.
pub fn member_client(addr: &str, security: &Security) -> MoorApiClient<Channel> {
    let channel = connect(addr, security)
        .connect_timeout(Duration::from_secs(1))
        .connect_lazy();
    MoorApiClient::new(channel)
}

/// A lazily connecting plaintext client (the compose cluster serves plaintext); for a
/// harness cluster use [`Cluster::client`] or [`member_client`] with its [`Security`].
pub fn client(addr: &str) -> MoorApiClient<Channel> {
    member_client(addr, &Security::Plaintext)
}

/// A `moor-sitesim` process: many simulated sites behind one address.
pub struct SiteSimProc {
    pub addr: String,
    pub journal: PathBuf,
    security: Security,
    child: Child,
}

impl SiteSimProc {
    /// Starts `moor-sitesim` on a free loopback port with `args` (besides `--listen`,
    /// `--journal` and, with TLS, the site certificate of `security`), writing its journal to
    /// `journal`; returns once it listens.
    pub fn start(
        journal: &Path,
        log: &Path,
        security: &Security,
        args: &[&str],
    ) -> Result<SiteSimProc> {
        SiteSimProc::start_on("127.0.0.1:0", journal, log, security, args)
    }

    /// Like [`SiteSimProc::start`], listening on `listen` (e.g. a [`NetLab`] service address
    /// with port 0, so members in their namespaces can reach it; the site certificate of a
    /// cluster started in that lab names it).
    pub fn start_on(
        listen: &str,
        journal: &Path,
        log: &Path,
        security: &Security,
        args: &[&str],
    ) -> Result<SiteSimProc> {
        use std::io::{BufRead, BufReader};
        let log_file = File::create(log)?;
        // moor-site's binary: built into the same directory by the workspace build.
        let program = bin_dir().join(moor_site::SITESIM_BIN);
        let mut child = Command::new(&program)
            .args(["--listen", listen, "--journal"])
            .arg(journal)
            .args(security.sitesim_args())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("cannot start {}", program.display()))?;
        let stdout = child.stdout.take().context("sitesim stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let addr = moor_site::listening_addr(&line)
            .with_context(|| format!("unexpected first line from moor-sitesim: {line:?}"))?
            .to_string();
        Ok(SiteSimProc {
            addr,
            journal: journal.to_path_buf(),
            security: security.clone(),
            child,
        })
    }

    /// The process id (for CPU and memory figures).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The test-control service (any certificate of the cluster CA may call it; the site
    /// protocol itself answers members only).
    pub fn admin(&self) -> SiteSimAdminClient<Channel> {
        SiteSimAdminClient::new(
            connect(&self.addr, &self.security)
                .connect_timeout(Duration::from_secs(1))
                .connect_lazy(),
        )
    }

    /// SIGTERMs the sitesim and waits up to `timeout` for it to exit; SIGKILLs it (and says so
    /// in the error) if it does not. Its graceful shutdown waits for every client connection
    /// to close, so stop the members that talk to it first.
    pub fn stop_within(mut self, timeout: Duration) -> Result<()> {
        // SAFETY: kill(2) on the pid of a child we own and have not reaped.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() {
                    bail!("moor-sitesim exited with {status}");
                }
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("moor-sitesim did not exit within {timeout:?} of SIGTERM (graceful shutdown still waiting for a client connection?); killed it, its journal holds what it wrote when idle");
            }
            // Polls the child's exit; a flush takes milliseconds.
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERMs the sitesim (it flushes its journal on exit) and waits for it.
    pub fn stop(mut self) -> Result<()> {
        // SAFETY: kill(2) on the pid of a child we own and have not reaped.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait()?;
        if !status.success() {
            bail!("moor-sitesim exited with {status}");
        }
        Ok(())
    }
}

impl Drop for SiteSimProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `Put` of `value` at `key` with a 10 s deadline.
pub fn put_request(key: &str, value: &str) -> tonic::Request<moor_proto::api::PutRequest> {
    let mut req = tonic::Request::new(moor_proto::api::PutRequest {
        key: key.into(),
        value: value.as_bytes().to_vec(),
    });
    req.set_timeout(Duration::from_secs(10));
    req
}

/// A `Get` of `key` at `consistency` with a 10 s deadline.
pub fn get_request(
    key: &str,
    consistency: moor_proto::api::ReadConsistency,
) -> tonic::Request<moor_proto::api::GetRequest> {
    let mut req = tonic::Request::new(moor_proto::api::GetRequest {
        key: key.into(),
        consistency: consistency as i32,
    });
    req.set_timeout(Duration::from_secs(10));
    req
}
