//! The compose cluster of `deploy/compose/docker-compose.yml` as a test backend: three `moord`
//! containers, the bootstrap job and a `moor-sitesim`, built from this checkout's release
//! binaries by `deploy/docker/build-image.sh`.
//!
//! It runs as the compose file installs by default: TLS and tokens on. [`DockerCluster::up`]
//! runs the one-shot `certs` service first (`moord --gen-dev-certs` into the `moor-tls`
//! volume), then `up`; it copies the CA and the admin client certificate out of the volume
//! (`docker cp`), and the bootstrap job's admin token out of the `moor-admin` volume, as the
//! deploy README tells an operator to. Clients dial container IPs, which no certificate can
//! name in advance, so they check the members' certificates against the compose service
//! name [`SERVER_NAME`] (every member certificate of `--gen-dev-certs` names all three).
//!
//! [`DockerCluster`] drives it with the `docker` and compose command lines only: up and down,
//! the member endpoints (container IPs, which the host reaches on the user-defined bridge),
//! the leader, `docker kill` / `docker start`, and partitions by `docker network disconnect` /
//! `connect`. Each cluster has its own compose project name (network, volumes, containers), so
//! parallel runs do not collide, and `Drop` removes all of it, also after a failed assertion.
//!
//! Where no Docker engine answers, [`docker_unavailable`] says why, and the tests print a loud
//! SKIP. Set `MOOR_DOCKER_KEEP=1` to keep a failed run's containers for a post-mortem.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use moor_proto::api::{ClusterStatusRequest, ClusterStatusResponse};

use crate::harness::{bin_dir, member_client};
use crate::security::Security;

/// The port every member listens on inside its container.
pub const MEMBER_PORT: u16 = 7401;
/// The sitesim's port inside the compose network.
pub const SITESIM_PORT: u16 = 9100;
/// The name clients check the members' certificates against: a compose service name, which
/// the certificates `certs` makes carry (with `moor-2`, `moor-3`, `localhost`, `127.0.0.1`).
pub const SERVER_NAME: &str = "moor-1";

/// The repository root (this crate lives one level below it).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("crate dir has a parent")
        .to_path_buf()
}

/// Why Docker cannot be used here, or `None` when an engine and a compose tool answer.
pub fn docker_unavailable() -> Option<String> {
    match Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
    {
        Err(e) => return Some(format!("the docker command cannot run: {e}")),
        Ok(o) if !o.status.success() => {
            return Some(format!(
                "the Docker engine does not answer (docker info: {})",
                String::from_utf8_lossy(&o.stderr).trim()
            ))
        }
        Ok(_) => {}
    }
    match compose_command() {
        Ok(_) => None,
        Err(e) => Some(e.to_string()),
    }
}

/// Prints a loud SKIP and returns true when Docker cannot be used.
pub fn skip_without_docker(test: &str) -> bool {
    match docker_unavailable() {
        None => false,
        Some(why) => {
            loud_skip(test, &format!("{why}; this test needs a Docker engine"));
            true
        }
    }
}

/// Writes a SKIP banner straight to the process's stderr: the test harness captures
/// `eprintln!` of passing tests, and a skip must show in every `cargo test` / CI log.
pub fn loud_skip(test: &str, why: &str) {
    use std::io::Write;
    let line = "*".repeat(78);
    let _ = writeln!(
        std::io::stderr().lock(),
        "{line}\nSKIP {test}: {why}. It did NOT run.\n{line}"
    );
}

/// The compose command line: `docker compose` (v2) if present, else `docker-compose` (v1).
pub fn compose_command() -> Result<Vec<String>> {
    let ok = |cmd: &mut Command| {
        cmd.stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    if ok(Command::new("docker").args(["compose", "version"])) {
        return Ok(vec!["docker".into(), "compose".into()]);
    }
    if ok(Command::new("docker-compose").arg("version")) {
        return Ok(vec!["docker-compose".into()]);
    }
    bail!("neither `docker compose` nor `docker-compose` is installed (apt-get install docker-compose)")
}

/// Runs a command, failing with its stderr when it exits non-zero.
fn run(cmd: &mut Command) -> Result<Output> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {shown}"))?;
    if !out.status.success() {
        bail!(
            "{shown} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim(),
            String::from_utf8_lossy(&out.stdout).trim()
        );
    }
    Ok(out)
}

fn stdout(out: Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Builds the image from the binaries in [`bin_dir`] with `deploy/docker/build-image.sh`.
pub fn build_image(tag: &str) -> Result<()> {
    let script = repo_root().join("deploy/docker/build-image.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(tag)
        .env("MOOR_BIN_DIR", bin_dir())
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {}", script.display()))?;
    if !out.status.success() {
        bail!(
            "{} {tag} failed: {}\n{}",
            script.display(),
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
    }
    Ok(())
}

/// A unique, compose-safe project name: lower-case letters, digits and dashes.
fn project_name(prefix: &str) -> String {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}{}x{}x{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed),
        nanos % 100_000
    )
}

/// Settings of one compose cluster.
#[derive(Debug, Clone)]
pub struct DockerSettings {
    /// Sitesim step latency and jitter, in ms.
    pub sitesim_latency_ms: u64,
    pub sitesim_jitter_ms: u64,
}

impl Default for DockerSettings {
    fn default() -> Self {
        DockerSettings {
            sitesim_latency_ms: 200,
            sitesim_jitter_ms: 100,
        }
    }
}

/// The compose cluster: members 1..=3 (services `moor-1` ...), `bootstrap`, `sitesim`.
pub struct DockerCluster {
    pub project: String,
    pub image: String,
    compose: Vec<String>,
    compose_file: PathBuf,
    /// The compose network every service is on (`<project>_moor`).
    pub network: String,
    /// Member id → container id.
    containers: BTreeMap<u64, String>,
    /// Members currently disconnected from [`DockerCluster::network`].
    disconnected: Vec<u64>,
    /// Host ports the members publish (unused by the tests, which dial container IPs).
    ports: [u16; 3],
    own_image: bool,
    keep: bool,
    /// The CA, admin client certificate and admin token copied out of the volumes.
    secrets: tempfile::TempDir,
    /// TLS with the cluster CA and the admin client certificate, checked against
    /// [`SERVER_NAME`]; plaintext until [`DockerCluster::up`] has copied the CA out.
    security: Security,
}

impl DockerCluster {
    /// Builds a fresh image from this checkout's binaries and brings the compose cluster up
    /// under a unique project name; returns once the bootstrap job has succeeded and every
    /// member follows one leader.
    pub async fn up(settings: DockerSettings) -> Result<DockerCluster> {
        let project = project_name("moortest");
        let image = format!("moor-test:{project}");
        build_image(&image)?;
        let compose = compose_command()?;
        let compose_file = repo_root().join("deploy/compose/docker-compose.yml");
        let ports = [
            crate::harness::free_port(),
            crate::harness::free_port(),
            crate::harness::free_port(),
        ];
        let mut cluster = DockerCluster {
            network: format!("{project}_moor"),
            project,
            image,
            compose,
            compose_file,
            containers: BTreeMap::new(),
            disconnected: Vec::new(),
            ports,
            own_image: true,
            keep: std::env::var_os("MOOR_DOCKER_KEEP").is_some(),
            secrets: tempfile::Builder::new().prefix("moor-compose-").tempdir()?,
            security: Security::Plaintext,
        };
        // The documented first step: certificates into the moor-tls volume, once.
        run(cluster.compose_cmd().args(["run", "--rm", "certs"]))
            .context("docker-compose run --rm certs failed")?;
        let latency = settings.sitesim_latency_ms.to_string();
        let jitter = settings.sitesim_jitter_ms.to_string();
        run(cluster
            .compose_cmd()
            .args(["up", "-d"])
            .env("MOOR_SITESIM_LATENCY_MS", latency)
            .env("MOOR_SITESIM_LATENCY_JITTER_MS", jitter))
        .context("docker-compose up failed")?;
        cluster.security = cluster.copy_tls()?;
        cluster.wait_formed().await?;
        cluster
            .copy_admin_token()
            .context("the bootstrap job left no admin token in the moor-admin volume")?;
        Ok(cluster)
    }

    /// Copies the CA and the admin client certificate out of the `moor-tls` volume (through
    /// member 1's container, which mounts it) and makes the clients' TLS settings of them.
    fn copy_tls(&self) -> Result<Security> {
        let dir = self.secrets.path().join("tls");
        std::fs::create_dir_all(&dir)?;
        let member = self.container_of("moor-1")?;
        for file in ["ca.pem", "admin.pem", "admin.key"] {
            run(Command::new("docker")
                .arg("cp")
                .arg(format!("{member}:/etc/moor/tls/{file}"))
                .arg(dir.join(file)))
            .with_context(|| format!("copy {file} out of the moor-tls volume"))?;
        }
        let bundle = moor_tls::dev::Bundle {
            ca: dir.join("ca.pem"),
            dir,
        };
        Security::from_bundle(&bundle)?.with_server_name(SERVER_NAME)
    }

    /// Copies the admin token out of the `moor-admin` volume (through the exited bootstrap
    /// container) to [`DockerCluster::admin_token_file`], replacing an earlier copy; returns
    /// the token.
    pub fn copy_admin_token(&self) -> Result<String> {
        let job = self.container_of("bootstrap")?;
        let dest = self.admin_token_file();
        let _ = std::fs::remove_file(&dest);
        run(Command::new("docker")
            .arg("cp")
            .arg(format!("{job}:/var/lib/moor/admin.token"))
            .arg(&dest))?;
        let token =
            std::fs::read_to_string(&dest).with_context(|| format!("read {}", dest.display()))?;
        Ok(token.trim().to_string())
    }

    /// The host copy of the admin token (as `docker cp` made it, mode included).
    pub fn admin_token_file(&self) -> PathBuf {
        self.secrets.path().join("admin.token")
    }

    /// How clients reach the members: TLS with the cluster CA and the admin client
    /// certificate (see [`SERVER_NAME`]).
    pub fn security(&self) -> &Security {
        &self.security
    }

    /// `moorctl`'s connection flags for the connected members, authenticated by the admin
    /// token from the bootstrap job (as deploy/README.md shows).
    pub fn moorctl_args(&self) -> Vec<String> {
        let ca = self
            .security
            .bundle()
            .map(|b| b.ca.display().to_string())
            .unwrap_or_default();
        vec![
            "--endpoints".into(),
            self.endpoints().join(","),
            "--ca-file".into(),
            ca,
            "--tls-server-name".into(),
            SERVER_NAME.into(),
            "--token-file".into(),
            self.admin_token_file().display().to_string(),
        ]
    }

    /// After `up`: looks up the member containers, waits for the bootstrap job, for one
    /// leader and for every member's health check to pass.
    async fn wait_formed(&mut self) -> Result<()> {
        self.containers.clear();
        for id in 1..=3u64 {
            let cid = self.container_of(&format!("moor-{id}"))?;
            self.containers.insert(id, cid);
        }
        self.wait_bootstrap(Duration::from_secs(120))
            .context("the bootstrap job did not form the cluster")?;
        self.wait_leader(&[1, 2, 3], Duration::from_secs(60))
            .await?;
        self.wait_healthy(Duration::from_secs(60))
    }

    /// Waits until Docker reports every member container `healthy` (the image's and the
    /// compose file's health check, `moorctl cluster status` inside the container).
    pub fn wait_healthy(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        for (id, cid) in &self.containers {
            loop {
                let health = stdout(run(Command::new("docker").args([
                    "inspect",
                    "-f",
                    "{{.State.Health.Status}}",
                    cid,
                ]))?);
                if health == "healthy" {
                    break;
                }
                if Instant::now() > deadline {
                    bail!(
                        "member {id} is '{health}', not healthy, after {timeout:?}:\n{}",
                        self.logs(&format!("moor-{id}"), 20)
                    );
                }
                // Polls Docker's health state; checks run every 5 s.
                std::thread::sleep(Duration::from_millis(250));
            }
        }
        Ok(())
    }

    /// `down` without `-v`, then `up` again: new containers and network on the same named
    /// volumes, and the bootstrap job runs again. Returns once formed again.
    pub async fn recreate(&mut self) -> Result<()> {
        run(self.compose_cmd().args(["down", "-t", "10"])).context("compose down")?;
        run(self.compose_cmd().args(["up", "-d"])).context("compose up again")?;
        self.disconnected.clear();
        self.wait_formed().await
    }

    fn compose_cmd(&self) -> Command {
        let mut cmd = Command::new(&self.compose[0]);
        cmd.args(&self.compose[1..])
            .arg("-p")
            .arg(&self.project)
            .arg("-f")
            .arg(&self.compose_file)
            .env("MOOR_IMAGE", &self.image)
            .env("MOOR_PORT_1", self.ports[0].to_string())
            .env("MOOR_PORT_2", self.ports[1].to_string())
            .env("MOOR_PORT_3", self.ports[2].to_string());
        cmd
    }

    /// The container id of compose service `service`.
    pub fn container_of(&self, service: &str) -> Result<String> {
        let id = stdout(run(self.compose_cmd().args(["ps", "-q", service]))?);
        if id.is_empty() {
            bail!(
                "compose service {service} has no container in project {}",
                self.project
            );
        }
        Ok(id)
    }

    /// Waits until the one-shot bootstrap container has exited 0.
    fn wait_bootstrap(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let cid = self.container_of("bootstrap")?;
        loop {
            let state = stdout(run(Command::new("docker").args([
                "inspect",
                "-f",
                "{{.State.Status}} {{.State.ExitCode}}",
                &cid,
            ]))?);
            match state.as_str() {
                "exited 0" => return Ok(()),
                // `restart: on-failure` runs it again after a failure; keep waiting.
                _ if Instant::now() > deadline => bail!(
                    "bootstrap is '{state}' after {timeout:?}; its log:\n{}",
                    self.logs("bootstrap", 40)
                ),
                // Polls a container state; the job takes seconds.
                _ => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    /// The volumes (named or anonymous) mounted into compose service `service`'s container.
    pub fn volumes_of(&self, service: &str) -> Result<Vec<String>> {
        let out = stdout(run(Command::new("docker").args([
            "inspect",
            "-f",
            "{{range .Mounts}}{{if eq .Type \"volume\"}}{{.Name}} {{end}}{{end}}",
            &self.container_of(service)?,
        ]))?);
        Ok(out.split_whitespace().map(String::from).collect())
    }

    /// Member ids (1..=3).
    pub fn ids(&self) -> Vec<u64> {
        self.containers.keys().copied().collect()
    }

    /// The container of member `id`.
    pub fn container(&self, id: u64) -> &str {
        &self.containers[&id]
    }

    /// The IP address of a container on the compose network (it changes when the container
    /// restarts or reconnects, so it is looked up every time).
    pub fn ip_of(&self, container: &str) -> Result<String> {
        let format = format!(
            "{{{{with index .NetworkSettings.Networks \"{}\"}}}}{{{{.IPAddress}}}}{{{{end}}}}",
            self.network
        );
        let ip = stdout(run(
            Command::new("docker").args(["inspect", "-f", &format, container])
        )?);
        if ip.is_empty() {
            bail!(
                "container {container} has no address on network {}",
                self.network
            );
        }
        Ok(ip)
    }

    /// `ip:port` of member `id` as the host reaches it.
    pub fn endpoint(&self, id: u64) -> Result<String> {
        Ok(format!("{}:{MEMBER_PORT}", self.ip_of(self.container(id))?))
    }

    /// Endpoints of the members that are connected and running (for clients).
    pub fn endpoints(&self) -> Vec<String> {
        self.ids()
            .into_iter()
            .filter(|id| !self.disconnected.contains(id))
            .filter_map(|id| self.endpoint(id).ok())
            .collect()
    }

    /// The address services inside the compose network use for the sitesim.
    pub fn sitesim_addr_in_network(&self) -> String {
        format!("sitesim:{SITESIM_PORT}")
    }

    /// Status of member `id`, or `None` when it does not answer within 2 s.
    pub async fn status(&self, id: u64) -> Option<ClusterStatusResponse> {
        let addr = self.endpoint(id).ok()?;
        let mut c = member_client(&addr, &self.security);
        let mut req = tonic::Request::new(ClusterStatusRequest {});
        req.set_timeout(Duration::from_secs(2));
        c.cluster_status(req).await.ok().map(|r| r.into_inner())
    }

    /// Waits until members `ids` agree on one leader in one term, which says it leads.
    pub async fn wait_leader(&self, ids: &[u64], timeout: Duration) -> Result<u64> {
        let deadline = Instant::now() + timeout;
        loop {
            let mut seen = Vec::new();
            for id in ids {
                if let Some(s) = self.status(*id).await {
                    seen.push((*id, s.leader_id, s.term, s.state));
                }
            }
            if seen.len() == ids.len() {
                if let Some(leader) = seen[0].1 {
                    let agree = seen.iter().all(|s| s.1 == Some(leader) && s.2 == seen[0].2);
                    let says = seen.iter().any(|s| s.0 == leader && s.3 == "Leader");
                    if agree && says {
                        return Ok(leader);
                    }
                }
            }
            if Instant::now() > deadline {
                bail!("no agreed leader among {ids:?} within {timeout:?}: {seen:?}");
            }
            // Polls what the members report; elections take hundreds of ms.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The leader the connected members agree on (waits up to 30 s for an election).
    pub async fn leader(&self) -> Result<u64> {
        let ids: Vec<u64> = self
            .ids()
            .into_iter()
            .filter(|id| !self.disconnected.contains(id))
            .collect();
        self.wait_leader(&ids, Duration::from_secs(30)).await
    }

    /// Removes the containers, network, volumes and image now (as `Drop` does).
    pub fn down(self) {
        drop(self)
    }

    /// `docker kill` (SIGKILL) member `id`'s container.
    pub fn kill(&self, id: u64) -> Result<()> {
        run(Command::new("docker").args(["kill", self.container(id)]))?;
        Ok(())
    }

    /// `docker start` member `id`'s container (a no-op if its restart policy already did).
    pub fn start(&self, id: u64) -> Result<()> {
        run(Command::new("docker").args(["start", self.container(id)]))?;
        Ok(())
    }

    /// Whether member `id`'s container is running.
    pub fn is_running(&self, id: u64) -> Result<bool> {
        let s = stdout(run(Command::new("docker").args([
            "inspect",
            "-f",
            "{{.State.Running}}",
            self.container(id),
        ]))?);
        Ok(s == "true")
    }

    /// Cuts member `id` off the compose network: it reaches no other member and no site,
    /// and nobody reaches it.
    pub fn disconnect(&mut self, id: u64) -> Result<()> {
        run(Command::new("docker").args([
            "network",
            "disconnect",
            &self.network,
            &self.containers[&id],
        ]))?;
        self.disconnected.push(id);
        Ok(())
    }

    /// Connects member `id` again, under its service name (`moor-N`) so peers resolve it.
    pub fn connect(&mut self, id: u64) -> Result<()> {
        let alias = format!("moor-{id}");
        run(Command::new("docker").args([
            "network",
            "connect",
            "--alias",
            &alias,
            &self.network,
            &self.containers[&id],
        ]))?;
        self.disconnected.retain(|d| *d != id);
        Ok(())
    }

    /// The last `lines` lines of a service's log.
    pub fn logs(&self, service: &str, lines: usize) -> String {
        let out = self
            .compose_cmd()
            .args(["logs", "--no-color", "--tail", &lines.to_string(), service])
            .stdin(Stdio::null())
            .output();
        match out {
            Ok(o) => format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => format!("(cannot read the logs of {service}: {e})"),
        }
    }

    /// Stops the sitesim (SIGTERM: it flushes its journal) and copies the journal to `dest`.
    pub fn take_journal(&self, dest: &Path) -> Result<()> {
        run(self.compose_cmd().args(["stop", "-t", "20", "sitesim"]))?;
        let cid = self.container_of("sitesim")?;
        run(Command::new("docker")
            .arg("cp")
            .arg(format!("{cid}:/var/lib/moor/journal.jsonl"))
            .arg(dest))?;
        Ok(())
    }

    /// Keeps the containers, network and volumes after the cluster is dropped.
    pub fn keep(&mut self) {
        self.keep = true;
    }
}

impl Drop for DockerCluster {
    fn drop(&mut self) {
        if self.keep {
            eprintln!(
                "docker cluster kept: project {} (remove with: MOOR_IMAGE={} {} -p {} -f {} down -v)",
                self.project,
                self.image,
                self.compose.join(" "),
                self.project,
                self.compose_file.display()
            );
            return;
        }
        if std::thread::panicking() {
            for s in ["moor-1", "moor-2", "moor-3", "bootstrap", "sitesim"] {
                eprintln!("---- {s} ----\n{}", self.logs(s, 30));
            }
        }
        let down = self
            .compose_cmd()
            .args(["down", "-v", "--remove-orphans", "-t", "2"])
            .stdin(Stdio::null())
            .output();
        if let Ok(o) = &down {
            if !o.status.success() {
                eprintln!(
                    "docker cluster {}: compose down failed: {}",
                    self.project,
                    String::from_utf8_lossy(&o.stderr)
                );
            }
        }
        if self.own_image {
            let _ = Command::new("docker")
                .args(["rmi", "-f", &self.image])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}
