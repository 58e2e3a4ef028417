//! Real `moor-agent` processes for tests: one per site, on loopback (or the address the
//! members reach the test's sites at), with the cluster's site certificate (members call it
//! over mutual TLS), its own root and data dirs and a journal; killed with SIGKILL and
//! restarted on the same address and data dir to test what survives a crash.
//! [`AgentFleet`] is a set of them that a fault-injection run's nemesis kills and restarts.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use moor_site::agent::{agent_listening_addr, AGENT_BIN};

use crate::harness::bin_dir;
use crate::security::Security;

/// One running (or killed) `moor-agent`.
pub struct AgentProc {
    pub site: String,
    /// `host:port` it listens on; kept across restarts.
    pub addr: String,
    /// Where its files and commands act.
    pub root: PathBuf,
    data: PathBuf,
    log: PathBuf,
    /// Its journal: one line per answered apply and delete.
    pub journal: PathBuf,
    security: Security,
    child: Option<Child>,
    /// How often it was SIGKILLed.
    pub kills: usize,
}

/// Where one agent left its evidence, and how often it was killed.
#[derive(Debug, Clone)]
pub struct AgentFiles {
    pub site: String,
    pub root: PathBuf,
    pub journal: PathBuf,
    pub kills: usize,
}

impl AgentProc {
    /// Starts an agent for `site` under `dir` (`root/`, `data/`, `agent.log`,
    /// `journal.jsonl`) on a free loopback port; returns once it listens.
    pub fn start(site: &str, dir: &Path, security: &Security) -> Result<AgentProc> {
        Self::start_on(site, dir, security, "127.0.0.1:0")
    }

    /// [`AgentProc::start`] listening on `listen` (`host:0` picks a free port).
    pub fn start_on(
        site: &str,
        dir: &Path,
        security: &Security,
        listen: &str,
    ) -> Result<AgentProc> {
        let root = dir.join("root");
        let data = dir.join("data");
        std::fs::create_dir_all(&root)?;
        std::fs::create_dir_all(&data)?;
        let mut agent = AgentProc {
            site: site.to_string(),
            addr: listen.into(),
            root,
            data,
            log: dir.join("agent.log"),
            journal: dir.join("journal.jsonl"),
            security: security.clone(),
            child: None,
            kills: 0,
        };
        agent.spawn()?;
        Ok(agent)
    }

    fn spawn(&mut self) -> Result<()> {
        let log = File::options().create(true).append(true).open(&self.log)?;
        let program = bin_dir().join(AGENT_BIN);
        let mut command = Command::new(&program);
        command
            .args(["--site", &self.site, "--listen-addr", &self.addr])
            .arg("--root-dir")
            .arg(&self.root)
            .arg("--data-dir")
            .arg(&self.data)
            .arg("--journal")
            .arg(&self.journal);
        let tls = self.security.sitesim_args();
        if tls.is_empty() {
            command.arg("--insecure-plaintext");
        } else {
            command.args(tls);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", program.display()))?;
        let stdout = child.stdout.take().context("moor-agent stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        self.addr = agent_listening_addr(&line)
            .with_context(|| {
                format!(
                    "moor-agent for {} did not start (first line {line:?}); see {}",
                    self.site,
                    self.log.display()
                )
            })?
            .to_string();
        self.child = Some(child);
        Ok(())
    }

    /// SIGKILL: no shutdown, nothing flushed beyond what the agent already fsynced.
    pub fn kill(&mut self) -> Result<()> {
        if self.end()? {
            self.kills += 1;
        }
        Ok(())
    }

    /// Ends the process with SIGKILL; whether one was running.
    fn end(&mut self) -> Result<bool> {
        let Some(mut child) = self.child.take() else {
            return Ok(false);
        };
        child.kill()?;
        child.wait()?;
        Ok(true)
    }

    /// Starts the agent again on the same address and data dir.
    pub fn restart(&mut self) -> Result<()> {
        self.kill()?;
        self.spawn()
    }

    /// Whether the process is running (not killed by [`AgentProc::kill`]).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }
}

/// Agents shared between a workload (which starts and checks them) and a nemesis (which
/// kills and restarts them). Cheap to clone.
#[derive(Clone, Default)]
pub struct AgentFleet(Arc<Mutex<Vec<AgentProc>>>);

impl AgentFleet {
    fn with<T>(&self, f: impl FnOnce(&mut Vec<AgentProc>) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The agents' sites, in order.
    pub fn sites(&self) -> Vec<String> {
        self.with(|a| a.iter().map(|a| a.site.clone()).collect())
    }

    /// The indexes of the agents running now.
    pub fn running(&self) -> Vec<usize> {
        self.with(|a| (0..a.len()).filter(|i| a[*i].is_running()).collect())
    }

    /// SIGKILLs agent `i`; returns its site.
    pub fn kill(&self, i: usize) -> Result<String> {
        self.with(|a| {
            let agent = a.get_mut(i).context("no such agent")?;
            agent.kill()?;
            Ok(agent.site.clone())
        })
    }

    /// Starts agent `i` again (same address and data dir).
    pub fn restart(&self, i: usize) -> Result<()> {
        self.with(|a| a.get_mut(i).context("no such agent")?.restart())
    }

    /// Starts every killed agent again; returns the sites restarted.
    pub fn restart_killed(&self) -> Result<Vec<String>> {
        self.with(|a| {
            let mut restarted = Vec::new();
            for agent in a.iter_mut().filter(|a| !a.is_running()) {
                agent.restart()?;
                restarted.push(agent.site.clone());
            }
            Ok(restarted)
        })
    }

    /// Stops every agent (at the end of a run, so their files can be read); not counted as
    /// a kill.
    pub fn stop_all(&self) -> Result<()> {
        self.with(|a| a.iter_mut().try_for_each(|agent| agent.end().map(|_| ())))
    }

    /// Adds a started agent.
    pub fn add(&self, agent: AgentProc) {
        self.with(|a| a.push(agent));
    }

    /// Where every agent left its evidence.
    pub fn files(&self) -> Vec<AgentFiles> {
        self.with(|a| {
            a.iter()
                .map(|a| AgentFiles {
                    site: a.site.clone(),
                    root: a.root.clone(),
                    journal: a.journal.clone(),
                    kills: a.kills,
                })
                .collect()
        })
    }
}

impl Drop for AgentProc {
    fn drop(&mut self) {
        let _ = self.end();
    }
}
