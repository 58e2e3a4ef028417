//! A private network for one fault-injection run, so partitions are real for the members: the
//! kernel drops their packets, `moord` is never told.
//!
//! Layout (one /24 per run, `10.77.<slot>.0/24`, the slot claimed through a lock file so
//! concurrent runs never share names or addresses):
//!
//! ```text
//!   root netns (test process, sitesim)          hub netns "mj<slot>h"          member netns "mj<slot>m<id>"
//!   mj<slot>h  10.77.s.1 (clients)  ── veth ──  hostp ─┐
//!              10.77.s.2 (sitesim)                     br0 ── mj<slot>v<id> ── veth ── eth0 10.77.s.(10+id)
//! ```
//!
//! The bridge lives in its own namespace rather than in the root one: the root namespace of a
//! machine running Docker has `br_netfilter` loaded and a FORWARD policy of DROP, which would
//! silently eat bridged member-to-member traffic; a fresh namespace has neither.
//!
//! Faults are iptables rules inside the member namespaces only (the root namespace's firewall
//! is never touched):
//! - a cut "from A to B" drops every packet from A arriving at B (B's INPUT chain; when B is
//!   the client side, A's OUTPUT chain). For TCP a one-way cut means: A's segments (SYNs,
//!   data, ACKs) never arrive at B, while B's segments still arrive at A and are delivered to
//!   A's application. So B never hears anything from A, and A still receives what B sends
//!   (a vote request with a higher term, an AppendEntries) although B never sees A's answer.
//!   Connections in either direction eventually stall, because one side's ACKs are lost.
//! - a partition is the set of both-way cuts between every pair that shares no group; groups
//!   may overlap (a bridge member belongs to two groups).
//! - heal flushes the member namespaces' INPUT and OUTPUT chains.
//!
//! Everything is removed on drop (also after a panic) and leftovers of crashed runs (their
//! lock file names a dead pid) are removed before a new slot is claimed.

use std::collections::BTreeSet;
use std::fs::File;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use anyhow::{bail, Context, Result};

/// Where slot lock files live.
const LOCK_DIR: &str = "/run/moor-jepsen";
/// Slots 1..=MAX_SLOT: one /24 each.
const MAX_SLOT: u16 = 250;

/// One end of a link that can be cut: a member, or the test process (clients).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Peer {
    Member(u64),
    /// The test process's client address (10.77.s.1). The sitesim uses 10.77.s.2 and is never
    /// cut by a client cut-off.
    Clients,
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Peer::Member(id) => write!(f, "member {id}"),
            Peer::Clients => write!(f, "clients"),
        }
    }
}

/// Why network faults cannot be used on this machine, or None when they can.
pub fn unavailable_reason() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not running as root: network namespaces and iptables need root; run as root (CI does) to get partition nemeses".into());
    }
    for tool in ["ip", "iptables"] {
        let ok = Command::new(tool)
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            return Some(format!(
                "`{tool}` is not installed: apt-get install iproute2 iptables"
            ));
        }
    }
    None
}

/// A run's private network: the hub, the member namespaces, the fault rules.
pub struct NetLab {
    slot: u16,
    lock_path: PathBuf,
    members: Mutex<BTreeSet<u64>>,
}

fn run(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn ip(args: &[&str]) -> Result<String> {
    run(Command::new("ip").args(args))
}

fn pid_alive(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks for existence.
    pid > 0
        && (unsafe { libc::kill(pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH))
}

/// Removes every namespace and link of `slot` (best effort: a half-built lab has fewer).
fn remove_slot(slot: u16) {
    let prefix = format!("mj{slot}");
    let _ = ip(&["link", "del", &format!("{prefix}h")]);
    if let Ok(list) = ip(&["netns", "list"]) {
        for line in list.lines() {
            let name = line.split_whitespace().next().unwrap_or("");
            let rest = name.strip_prefix(&prefix).unwrap_or("");
            let ours = rest == "h" || (rest.starts_with('m') && rest[1..].parse::<u64>().is_ok());
            if ours {
                let _ = ip(&["netns", "del", name]);
            }
        }
    }
}

impl NetLab {
    /// Claims a free slot (cleaning leftovers of crashed runs first) and builds the hub.
    pub fn create() -> Result<NetLab> {
        if let Some(reason) = unavailable_reason() {
            bail!("{reason}");
        }
        std::fs::create_dir_all(LOCK_DIR).with_context(|| format!("cannot create {LOCK_DIR}"))?;
        // Reclaim slots whose owner died without cleaning up.
        for slot in 1..=MAX_SLOT {
            let path = Path::new(LOCK_DIR).join(format!("slot-{slot}"));
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            // An empty file is a slot being claimed right now: leave it.
            let Ok(pid) = text.trim().parse::<i32>() else {
                continue;
            };
            if !pid_alive(pid) {
                remove_slot(slot);
                let _ = std::fs::remove_file(&path);
            }
        }
        let me = std::process::id();
        let mut claimed = None;
        for slot in 1..=MAX_SLOT {
            let path = Path::new(LOCK_DIR).join(format!("slot-{slot}"));
            match File::options().write(true).create_new(true).open(&path) {
                Ok(_) => {
                    std::fs::write(&path, me.to_string())?;
                    claimed = Some((slot, path));
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot create {}", path.display()))
                }
            }
        }
        let Some((slot, lock_path)) = claimed else {
            bail!("all {MAX_SLOT} network slots in {LOCK_DIR} are taken by live processes; wait for other runs to finish");
        };
        // A leftover with the same slot from a run whose lock file was removed by hand.
        remove_slot(slot);
        let lab = NetLab {
            slot,
            lock_path,
            members: Mutex::new(BTreeSet::new()),
        };
        lab.build_hub()
            .with_context(|| format!("cannot build the network of slot {slot}"))?;
        Ok(lab)
    }

    fn prefix(&self) -> String {
        format!("mj{}", self.slot)
    }

    fn hub(&self) -> String {
        format!("{}h", self.prefix())
    }

    /// The network namespace member `id` runs in.
    pub fn member_ns(&self, id: u64) -> String {
        format!("{}m{id}", self.prefix())
    }

    /// The file `setns(2)` opens to enter member `id`'s namespace.
    pub fn member_ns_path(&self, id: u64) -> PathBuf {
        Path::new("/run/netns").join(self.member_ns(id))
    }

    /// The test process's client address.
    pub fn client_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 77, self.slot as u8, 1)
    }

    /// The address the sitesim listens on (root namespace, reachable from every member and
    /// never cut by a client cut-off).
    pub fn service_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 77, self.slot as u8, 2)
    }

    /// Member `id`'s address (ids 1..=200).
    pub fn member_ip(&self, id: u64) -> Ipv4Addr {
        assert!((1..=200).contains(&id), "member id {id} outside 1..=200");
        Ipv4Addr::new(10, 77, self.slot as u8, 10 + id as u8)
    }

    fn peer_ip(&self, p: Peer) -> Ipv4Addr {
        match p {
            Peer::Member(id) => self.member_ip(id),
            Peer::Clients => self.client_ip(),
        }
    }

    fn build_hub(&self) -> Result<()> {
        let hub = self.hub();
        let host_if = self.hub(); // the root-side veth is named like the hub namespace
        ip(&["netns", "add", &hub])?;
        ip(&["-n", &hub, "link", "set", "lo", "up"])?;
        ip(&["-n", &hub, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &hub, "link", "set", "br0", "up"])?;
        ip(&[
            "link", "add", &host_if, "type", "veth", "peer", "name", "hostp", "netns", &hub,
        ])?;
        ip(&["-n", &hub, "link", "set", "hostp", "master", "br0"])?;
        ip(&["-n", &hub, "link", "set", "hostp", "up"])?;
        ip(&[
            "addr",
            "add",
            &format!("{}/24", self.client_ip()),
            "dev",
            &host_if,
        ])?;
        ip(&[
            "addr",
            "add",
            &format!("{}/24", self.service_ip()),
            "dev",
            &host_if,
        ])?;
        ip(&["link", "set", &host_if, "up"])?;
        Ok(())
    }

    /// Creates member `id`'s namespace and plugs it into the hub (idempotent).
    pub fn add_member(&self, id: u64) -> Result<()> {
        let mut members = self.members.lock().unwrap_or_else(|e| e.into_inner());
        if members.contains(&id) {
            return Ok(());
        }
        let ns = self.member_ns(id);
        let hub = self.hub();
        let hub_if = format!("{}v{id}", self.prefix());
        let addr = format!("{}/24", self.member_ip(id));
        ip(&["netns", "add", &ns])?;
        ip(&[
            "-n", &hub, "link", "add", &hub_if, "type", "veth", "peer", "name", "eth0", "netns",
            &ns,
        ])?;
        ip(&["-n", &hub, "link", "set", &hub_if, "master", "br0"])?;
        ip(&["-n", &hub, "link", "set", &hub_if, "up"])?;
        ip(&["-n", &ns, "addr", "add", &addr, "dev", "eth0"])?;
        ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
        ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        members.insert(id);
        Ok(())
    }

    fn iptables(&self, id: u64, args: &[&str]) -> Result<String> {
        run(Command::new("ip")
            .args(["netns", "exec", &self.member_ns(id), "iptables", "-w"])
            .args(args))
    }

    /// Drops every packet from `from` to `to` (see the module docs for what this does to TCP).
    pub fn cut(&self, from: Peer, to: Peer) -> Result<()> {
        let (ns, chain, flag, other) = match (from, to) {
            (_, Peer::Member(b)) => (b, "INPUT", "-s", from),
            (Peer::Member(a), Peer::Clients) => (a, "OUTPUT", "-d", to),
            (Peer::Clients, Peer::Clients) => bail!("cannot cut the clients from themselves"),
        };
        let ip = self.peer_ip(other).to_string();
        self.iptables(ns, &["-A", chain, flag, &ip, "-j", "DROP"])?;
        Ok(())
    }

    /// Cuts both ways between every pair of `members` that shares no group.
    pub fn partition(&self, members: &[u64], groups: &[Vec<u64>]) -> Result<Vec<(u64, u64)>> {
        let mut cut = Vec::new();
        for (i, a) in members.iter().enumerate() {
            for b in &members[i + 1..] {
                let together = groups.iter().any(|g| g.contains(a) && g.contains(b));
                if !together {
                    self.cut(Peer::Member(*a), Peer::Member(*b))?;
                    self.cut(Peer::Member(*b), Peer::Member(*a))?;
                    cut.push((*a, *b));
                }
            }
        }
        Ok(cut)
    }

    fn member_ids(&self) -> Vec<u64> {
        let members = self.members.lock().unwrap_or_else(|e| e.into_inner());
        members.iter().copied().collect()
    }

    /// The DROP rules currently installed, per member namespace: the evidence a fault is in
    /// place.
    pub fn rules(&self) -> Result<Vec<String>> {
        let members = self.member_ids();
        let mut rules = Vec::new();
        for id in members {
            for line in self.iptables(id, &["-S"])?.lines() {
                if line.contains("DROP") && line.starts_with("-A") {
                    rules.push(format!("{}: {line}", self.member_ns(id)));
                }
            }
        }
        Ok(rules)
    }

    /// Removes every fault rule; returns an error naming the namespaces that could not be
    /// cleaned.
    pub fn heal(&self) -> Result<()> {
        let members = self.member_ids();
        let mut failed = Vec::new();
        for id in members {
            for chain in ["INPUT", "OUTPUT"] {
                if let Err(e) = self.iptables(id, &["-F", chain]) {
                    failed.push(format!("{}: {e:#}", self.member_ns(id)));
                }
            }
        }
        if !failed.is_empty() {
            bail!("could not remove fault rules: {}", failed.join("; "));
        }
        Ok(())
    }

    /// The slot number (also the third octet of every address of this lab).
    pub fn slot(&self) -> u16 {
        self.slot
    }
}

impl Drop for NetLab {
    fn drop(&mut self) {
        remove_slot(self.slot);
        let _ = std::fs::remove_file(&self.lock_path);
    }
}

/// Runs `cmd` inside the network namespace whose file is `ns_path` (for `Command::spawn`):
/// the namespace is entered in the child between fork and exec, so the spawned pid is the
/// program's own (signals reach it directly, unlike a wrapper such as `ip netns exec`).
pub fn enter_netns_on_spawn(cmd: &mut Command, ns_path: &Path) -> Result<()> {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let file = File::open(ns_path)
        .with_context(|| format!("cannot open network namespace {}", ns_path.display()))?;
    let fd = file.as_raw_fd();
    // SAFETY: the closure only calls setns(2), which is async-signal-safe; `file` is moved in
    // so the descriptor stays open until the Command is dropped.
    unsafe {
        cmd.pre_exec(move || {
            let _keep = &file;
            if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    Ok(())
}
