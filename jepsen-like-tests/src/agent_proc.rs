//! Real `moor-agent` processes for tests: one per site, on loopback, with the cluster's site
//! certificate (members call it over mutual TLS), its own root and data dirs; killed with
//! SIGKILL and restarted on the same address and data dir to test what survives a crash.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

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
    security: Security,
    child: Option<Child>,
}

impl AgentProc {
    /// Starts an agent for `site` under `dir` (`root/`, `data/`, `agent.log`) on a free
    /// loopback port; returns once it listens.
    pub fn start(site: &str, dir: &Path, security: &Security) -> Result<AgentProc> {
        let root = dir.join("root");
        let data = dir.join("data");
        std::fs::create_dir_all(&root)?;
        std::fs::create_dir_all(&data)?;
        let mut agent = AgentProc {
            site: site.to_string(),
            addr: "127.0.0.1:0".into(),
            root,
            data,
            log: dir.join("agent.log"),
            security: security.clone(),
            child: None,
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
            .arg(&self.data);
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
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// Starts the agent again on the same address and data dir.
    pub fn restart(&mut self) -> Result<()> {
        self.kill()?;
        self.spawn()
    }
}

impl Drop for AgentProc {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}
