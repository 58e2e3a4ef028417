//! `moor-agent` as a real process: started on 127.0.0.1:0 with temp dirs, called with the
//! `SiteAgent` client, killed with SIGKILL and restarted on the same data dir. What a member's
//! driver sees: files written, observed, drifted and deleted; durable fencing and dedupe across
//! a crash (a counter file proves an effect ran once); paths that escape the root; commands
//! that hang, flood stdout or fail; calls for another site; the config checks; a torn store;
//! TLS for members only; the journal across a kill, and the call in a command's environment.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use moor_proto::site::site_agent_client::SiteAgentClient;
use moor_proto::site::{
    ApplyRequest, ApplyResponse, DeleteRequest, IdempotencyKey, ObserveRequest, ObservedResource,
    Outcome, ResourceRef,
};
use moor_site::agent::{agent_listening_addr, sha256_hex, AGENT_BIN, FILE_DRIFT_PREFIX};
use moor_tls::connector::TlsConnector;
use moor_tls::dev::write_bundle;
use moor_tls::{ClientAuth, TlsFiles, TlsReloader};
use serde_json::json;
use tonic::transport::{Channel, Endpoint};
use tonic::Code;

type Client = SiteAgentClient<Channel>;

const SITE: &str = "edge-1";

/// A bound on every call and wait, so a bug shows as a failure, not a hung test.
const BOUND: Duration = Duration::from_secs(30);

/// A running `moor-agent` (killed when dropped).
struct Agent {
    child: Child,
    addr: String,
    stderr: PathBuf,
}

impl Agent {
    /// Starts an agent for [`SITE`] in plaintext on a free loopback port.
    fn start(data: &Path, root: &Path) -> Agent {
        Agent::spawn(data, root, &["--insecure-plaintext"])
    }

    /// Starts an agent for [`SITE`] on a free loopback port with `extra` flags.
    fn spawn(data: &Path, root: &Path, extra: &[&str]) -> Agent {
        let stderr = data.with_extension("stderr");
        let mut child = Command::new(env!("CARGO_BIN_EXE_moor-agent"))
            .args(["--site", SITE, "--listen-addr", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(data)
            .arg("--root-dir")
            .arg(root)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("start moor-agent");
        let mut first = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout)
            .read_line(&mut first)
            .expect("first stdout line");
        let addr = agent_listening_addr(&first)
            .unwrap_or_else(|| {
                panic!(
                    "unexpected first line {first:?}; stderr: {}",
                    std::fs::read_to_string(&stderr).unwrap_or_default()
                )
            })
            .to_string();
        Agent {
            child,
            addr,
            stderr,
        }
    }

    async fn client(&self) -> Client {
        let channel = Endpoint::from_shared(format!("http://{}", self.addr))
            .expect("endpoint")
            .timeout(BOUND)
            .connect()
            .await
            .expect("connect");
        SiteAgentClient::new(channel)
    }

    /// SIGKILL, as a crash: nothing is flushed or finished.
    fn kill9(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Temp dirs: `data` (the store), `root` (what the agent may touch) and `outside` (must stay
/// untouched), side by side in one parent.
struct Dirs {
    _top: tempfile::TempDir,
    data: PathBuf,
    root: PathBuf,
    outside: PathBuf,
}

fn dirs() -> Dirs {
    let top = tempfile::tempdir().expect("tempdir");
    let [data, root, outside] = ["data", "root", "outside"].map(|d| top.path().join(d));
    std::fs::create_dir(&root).unwrap();
    std::fs::create_dir(&outside).unwrap();
    Dirs {
        _top: top,
        data,
        root,
        outside,
    }
}

fn target(site: &str, resource: &str, resource_type: &str) -> Option<ResourceRef> {
    Some(ResourceRef {
        site: site.into(),
        environment: "shop".into(),
        resource: resource.into(),
        resource_type: resource_type.into(),
    })
}

fn key(exec: &str, step: u32) -> Option<IdempotencyKey> {
    Some(IdempotencyKey {
        execution_id: exec.into(),
        step,
    })
}

/// An apply of `properties` to resource `resource` of type `kind` at [`SITE`].
fn apply_req(
    kind: &str,
    resource: &str,
    (exec, step, token): (&str, u32, u64),
    properties: serde_json::Value,
    desired: &str,
) -> ApplyRequest {
    ApplyRequest {
        target: target(SITE, resource, kind),
        key: key(exec, step),
        attempt: 1,
        fence_token: token,
        properties_json: properties.to_string(),
        desired_digest: desired.into(),
    }
}

fn file_req(resource: &str, call: (&str, u32, u64), props: serde_json::Value) -> ApplyRequest {
    apply_req(
        "agent.file",
        resource,
        call,
        props,
        &format!("want-{resource}"),
    )
}

fn command_req(resource: &str, call: (&str, u32, u64), props: serde_json::Value) -> ApplyRequest {
    apply_req(
        "agent.command",
        resource,
        call,
        props,
        &format!("want-{resource}"),
    )
}

async fn apply(client: &mut Client, req: ApplyRequest) -> ApplyResponse {
    client.apply(req).await.expect("answered").into_inner()
}

async fn delete(client: &mut Client, resource: &str, kind: &str, exec: &str) -> ApplyResponse {
    client
        .delete(DeleteRequest {
            target: target(SITE, resource, kind),
            key: key(exec, 1),
            attempt: 1,
            fence_token: 1,
        })
        .await
        .expect("answered")
        .into_inner()
}

async fn observe(client: &mut Client) -> Vec<ObservedResource> {
    client
        .observe(ObserveRequest {
            target: target(SITE, "", ""),
        })
        .await
        .expect("answered")
        .into_inner()
        .resources
}

fn outcome(r: &ApplyResponse) -> Outcome {
    Outcome::try_from(r.outcome).expect("known outcome")
}

fn assert_failed(r: &ApplyResponse, says: &str) {
    assert_eq!(outcome(r), Outcome::Failed, "{r:?}");
    assert!(r.error.contains(says), "error {:?} lacks {says:?}", r.error);
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

#[tokio::test]
async fn a_file_is_written_observed_drifted_healed_and_deleted() {
    let d = dirs();
    let agent = Agent::start(&d.data, &d.root);
    assert!(env!("CARGO_BIN_EXE_moor-agent").ends_with(AGENT_BIN));
    let mut c = agent.client().await;
    let props = json!({"path": "etc/app.conf", "content": "port=80\n", "mode": "0640"});

    let r = apply(&mut c, file_req("conf", ("e1", 1, 1), props.clone())).await;
    assert_eq!(
        (outcome(&r), r.observed_digest.as_str()),
        (Outcome::Applied, "want-conf")
    );
    let path = d.root.join("etc/app.conf");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "port=80\n");
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o640
    );
    let seen = observe(&mut c).await;
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (seen[0].resource.as_str(), seen[0].observed_digest.as_str()),
        ("conf", "want-conf")
    );

    // A hand edit is drift: the digest of what is on disk now.
    std::fs::write(&path, "port=8080\n").unwrap();
    let seen = observe(&mut c).await;
    let drifted = format!("{FILE_DRIFT_PREFIX}{}", sha256_hex(b"port=8080\n"));
    assert_eq!(seen[0].observed_digest, drifted);
    // The observed properties have the desired ones' shape, so a diff lines up field by
    // field: the small text file's content as it is now.
    let observed: serde_json::Value = serde_json::from_str(&seen[0].properties_json).unwrap();
    assert_eq!(observed["content"], "port=8080\n", "{observed}");
    assert_eq!(observed["path"], "etc/app.conf", "{observed}");

    // A new execution heals it.
    let r = apply(&mut c, file_req("conf", ("e2", 1, 1), props)).await;
    assert_eq!(outcome(&r), Outcome::Applied);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "port=80\n");
    assert_eq!(observe(&mut c).await[0].observed_digest, "want-conf");

    // The agent removes what it kept, even when the request names no type.
    let r = delete(&mut c, "conf", "", "e3").await;
    assert_eq!(
        (outcome(&r), r.observed_digest.as_str()),
        (Outcome::Applied, "")
    );
    assert!(!path.exists());
    assert!(observe(&mut c).await.is_empty());
    // A resource that is already gone deletes as success.
    let r = delete(&mut c, "conf", "agent.file", "e4").await;
    assert_eq!(outcome(&r), Outcome::Applied);
    assert_stops_on_sigterm(agent).await;
}

async fn assert_stops_on_sigterm(mut agent: Agent) {
    // SAFETY: kill(2) on a child we started and have not reaped; no memory is touched.
    let rc = unsafe { libc::kill(agent.pid() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = agent.child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            started.elapsed() < BOUND,
            "moor-agent did not stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        status.success(),
        "clean exit, got {status:?}; log: {}",
        agent.log()
    );
}

#[tokio::test]
async fn a_restarted_agent_still_answers_duplicate_and_fenced_and_ran_once() {
    let d = dirs();
    let counter = d.root.join("counter.txt");
    let append = json!({"apply": "echo run >> counter.txt", "shell": true});
    let agent = Agent::start(&d.data, &d.root);
    let mut c = agent.client().await;
    let r = apply(&mut c, command_req("count", ("x1", 1, 5), append.clone())).await;
    assert_eq!(
        (outcome(&r), r.observed_digest.as_str()),
        (Outcome::Applied, "want-count")
    );
    let file = json!({"path": "kept.txt", "content": "k"});
    assert_eq!(
        outcome(&apply(&mut c, file_req("kept", ("x1", 2, 5), file)).await),
        Outcome::Applied
    );
    assert_eq!(lines(&counter), 1);
    agent.kill9();

    let agent = Agent::start(&d.data, &d.root);
    let mut c = agent.client().await;
    let dup = apply(&mut c, command_req("count", ("x1", 1, 5), append.clone())).await;
    assert_eq!(outcome(&dup), Outcome::Duplicate, "{dup:?}");
    assert_eq!(dup.observed_digest, "want-count", "the recorded digest");
    assert_eq!(dup.highest_token, 5);
    assert_eq!(lines(&counter), 1, "a duplicate runs nothing");

    let fenced = apply(&mut c, command_req("count", ("x2", 1, 4), append.clone())).await;
    assert_eq!(
        (outcome(&fenced), fenced.highest_token),
        (Outcome::Fenced, 5)
    );
    assert_eq!(lines(&counter), 1, "a fenced call runs nothing");

    // Still a working site: a new key at the current token applies, and what was applied
    // before the crash is still observed.
    let r = apply(&mut c, command_req("count", ("x2", 1, 5), append)).await;
    assert_eq!(outcome(&r), Outcome::Applied);
    assert_eq!(lines(&counter), 2);
    let seen: Vec<String> = observe(&mut c)
        .await
        .into_iter()
        .map(|o| o.resource)
        .collect();
    assert_eq!(seen, ["count", "kept"]);
}

#[tokio::test]
async fn the_journal_holds_every_answer_in_order_across_a_kill_and_commands_see_their_call() {
    let d = dirs();
    let journal = d.data.with_extension("journal.jsonl");
    let flags = [
        "--insecure-plaintext",
        "--journal",
        journal.to_str().unwrap(),
    ];
    let tag = json!({
        "apply": "echo \"$MOOR_EXECUTION_ID $MOOR_STEP $MOOR_ATTEMPT $MOOR_FENCE_TOKEN $MOOR_RESOURCE\" >> who.txt",
        "shell": true
    });
    let agent = Agent::spawn(&d.data, &d.root, &flags);
    let mut c = agent.client().await;
    let r = apply(&mut c, command_req("tag", ("x1", 3, 5), tag.clone())).await;
    assert_eq!(outcome(&r), Outcome::Applied, "{r:?}");
    assert_eq!(
        std::fs::read_to_string(d.root.join("who.txt")).unwrap(),
        "x1 3 1 5 tag\n"
    );
    // Answered, then killed at once: the line is already in the file.
    agent.kill9();
    let agent = Agent::spawn(&d.data, &d.root, &flags);
    let mut c = agent.client().await;
    let dup = apply(&mut c, command_req("tag", ("x1", 3, 5), tag.clone())).await;
    let fenced = apply(&mut c, command_req("tag", ("x2", 1, 4), tag)).await;
    let bad = apply(
        &mut c,
        command_req("tag", ("x2", 2, 5), json!({"apply": []})),
    )
    .await;
    assert_eq!(
        [outcome(&dup), outcome(&fenced), outcome(&bad)],
        [Outcome::Duplicate, Outcome::Fenced, Outcome::Failed]
    );
    agent.kill9();

    let read = moor_site::journal::read_journal(&journal).unwrap();
    let got: Vec<(String, u32, u64, String, u64)> = read
        .lines
        .iter()
        .map(|l| {
            let r = &l.record;
            (
                r.execution_id.clone(),
                r.step,
                r.fence_token,
                format!("{:?}", r.outcome),
                r.highest_token,
            )
        })
        .collect();
    let want = [
        ("x1", 3, 5, "Applied", 5),
        ("x1", 3, 5, "Duplicate", 5),
        ("x2", 1, 4, "Fenced", 5),
        ("x2", 2, 5, "Failed", 5),
    ]
    .map(|(x, s, t, o, h)| (x.to_string(), s, t, o.to_string(), h));
    assert_eq!(got, want);
    assert!(read.lines.iter().all(|l| l.record.site == SITE));
    assert!(
        read.lines[3].record.error.contains("apply"),
        "{:?}",
        read.lines[3]
    );
}

#[tokio::test]
async fn paths_that_escape_the_root_fail_and_touch_nothing_outside() {
    let d = dirs();
    std::os::unix::fs::symlink(&d.outside, d.root.join("link")).unwrap();
    let agent = Agent::start(&d.data, &d.root);
    let mut c = agent.client().await;
    let absolute = d.outside.join("abs.txt");
    for (path, says) in [
        ("../x.txt", "`..`"),
        ("sub/../../x.txt", "`..`"),
        (absolute.to_str().unwrap(), "absolute"),
        ("/etc/moor-agent-test.txt", "absolute"),
        ("link/x.txt", "symlink"),
        ("link", "symlink"),
    ] {
        let props = json!({"path": path, "content": "escaped"});
        let r = apply(&mut c, file_req("f", ("e1", 1, 1), props)).await;
        assert_failed(&r, says);
    }
    let outside: Vec<_> = std::fs::read_dir(&d.outside).unwrap().collect();
    assert!(outside.is_empty(), "nothing written outside: {outside:?}");
    assert!(!d.data.parent().unwrap().join("x.txt").exists());
    assert!(!Path::new("/etc/moor-agent-test.txt").exists());
    // Nothing was recorded for the key: the corrected attempt applies.
    let props = json!({"path": "inside/x.txt", "content": "ok"});
    let r = apply(&mut c, file_req("f", ("e1", 1, 1), props)).await;
    assert_eq!(outcome(&r), Outcome::Applied, "{r:?}");
    assert_eq!(
        std::fs::read_to_string(d.root.join("inside/x.txt")).unwrap(),
        "ok"
    );
}

#[tokio::test]
async fn commands_time_out_cap_their_output_report_failures_and_show_drift() {
    let d = dirs();
    let agent = Agent::start(&d.data, &d.root);
    let mut c = agent.client().await;

    let started = Instant::now();
    let hang = json!({"apply": ["sleep", "30"], "timeout_s": 1});
    let r = apply(&mut c, command_req("hang", ("e1", 1, 1), hang)).await;
    assert_failed(&r, "timed out after 1s");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the timeout fired, not sleep's end"
    );

    let flood = json!({"apply": "head -c 100000000 /dev/zero", "shell": true});
    let r = apply(&mut c, command_req("flood", ("e2", 1, 1), flood)).await;
    assert_eq!(outcome(&r), Outcome::Applied, "{r:?}");
    let peak_kib = peak_rss_kib(agent.pid());
    assert!(
        peak_kib < 96 * 1024,
        "100 MB of output held in memory? peak RSS {peak_kib} KiB"
    );

    let fail = json!({"apply": ["sh", "-c", "echo first >&2; echo disk is full >&2; exit 3"]});
    let r = apply(&mut c, command_req("fail", ("e3", 1, 1), fail)).await;
    assert_failed(&r, "exited with status 3");
    assert!(r.error.trim_end().ends_with("disk is full"), "{r:?}");

    // observe's stdout is the observed state: a change out of band is drift.
    let state = d.root.join("state.txt");
    let managed = json!({
        "apply": ["sh", "-c", "echo v1 > state.txt"],
        "observe": ["cat", "state.txt"],
    });
    let r = apply(&mut c, command_req("svc", ("e4", 1, 1), managed)).await;
    assert_eq!(outcome(&r), Outcome::Applied, "{r:?}");
    let svc = |seen: Vec<ObservedResource>| seen.into_iter().find(|o| o.resource == "svc");
    assert_eq!(
        svc(observe(&mut c).await).unwrap().observed_digest,
        "want-svc"
    );
    std::fs::write(&state, "v2\n").unwrap();
    let drifted = svc(observe(&mut c).await).unwrap();
    assert_eq!(
        drifted.observed_digest,
        format!("command-sha256:{}", sha256_hex(b"v2\n"))
    );
    assert!(drifted.properties_json.contains("v2"), "{drifted:?}");
}

/// The process's peak resident set (VmHWM), in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

#[tokio::test]
async fn unsupported_types_and_malformed_properties_fail_and_record_nothing() {
    let d = dirs();
    let agent = Agent::start(&d.data, &d.root);
    let mut c = agent.client().await;
    let chart = apply_req("helm.chart", "m", ("e1", 1, 1), json!({}), "d");
    let r = apply(&mut c, chart).await;
    assert_failed(
        &r,
        "\"helm.chart\" is not supported by moor-agent (supported: agent.file, agent.command, kubernetes.manifest)",
    );
    // A type it serves, but only with a [kubernetes] section: said before the properties
    // are even read.
    let manifest = apply_req("kubernetes.manifest", "m", ("e1", 1, 1), json!({}), "d");
    let r = apply(&mut c, manifest).await;
    assert_failed(&r, "this agent has no [kubernetes] section: add one");

    for bad in [
        json!("not an object"),
        json!({"path": "a.txt"}),
        json!({"path": 7, "content": "x"}),
    ] {
        let r = apply(&mut c, file_req("a", ("e2", 1, 1), bad)).await;
        assert_failed(&r, "agent.file properties");
    }
    let mut not_json = file_req("a", ("e2", 1, 1), json!({}));
    not_json.properties_json = "{oops".into();
    assert_failed(&apply(&mut c, not_json).await, "agent.file properties");
    assert!(!d.root.join("a.txt").exists());
    let r = apply(
        &mut c,
        file_req("a", ("e2", 1, 1), json!({"path": "a.txt", "content": ""})),
    )
    .await;
    assert_eq!(
        outcome(&r),
        Outcome::Applied,
        "a corrected attempt of the same key applies"
    );
}

#[tokio::test]
async fn calls_for_another_site_are_invalid_and_change_nothing() {
    let d = dirs();
    let agent = Agent::start(&d.data, &d.root);
    let mut c = agent.client().await;
    let mut req = file_req("f", ("e1", 1, 9), json!({"path": "f", "content": "x"}));
    req.target = target("edge-2", "f", "agent.file");
    let status = c.apply(req).await.expect_err("refused");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("edge-1") && status.message().contains("edge-2"),
        "{status:?}"
    );
    let status = c
        .observe(ObserveRequest {
            target: target("edge-2", "", ""),
        })
        .await
        .expect_err("refused");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(!d.root.join("f").exists());
    // The refused call's token 9 was not accepted.
    let r = apply(
        &mut c,
        file_req("f", ("e1", 1, 1), json!({"path": "f", "content": "x"})),
    )
    .await;
    assert_eq!((outcome(&r), r.highest_token), (Outcome::Applied, 1));
}

#[tokio::test]
async fn a_torn_last_record_is_dropped_with_a_warning_and_earlier_ones_kept() {
    let d = dirs();
    let agent = Agent::start(&d.data, &d.root);
    let mut c = agent.client().await;
    let req = || file_req("f", ("e1", 1, 3), json!({"path": "f", "content": "x"}));
    assert_eq!(outcome(&apply(&mut c, req()).await), Outcome::Applied);
    agent.kill9();
    // What a crash in the middle of an append leaves: half a record, no newline.
    let store = d.data.join(moor_site::agent::STORE_FILE);
    let mut text = std::fs::read(&store).unwrap();
    text.extend_from_slice(b"0badc0de {\"t\":\"token\",\"tok");
    std::fs::write(&store, text).unwrap();

    let agent = Agent::start(&d.data, &d.root);
    assert!(agent.log().contains("torn"), "warned: {}", agent.log());
    let mut c = agent.client().await;
    let dup = apply(&mut c, req()).await;
    assert_eq!((outcome(&dup), dup.highest_token), (Outcome::Duplicate, 3));
}

fn check_config(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_moor-agent"))
        .args(args)
        .arg("--check-config")
        .output()
        .expect("run moor-agent --check-config");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn check_config_refuses_an_unknown_key_and_accepts_the_example() {
    let d = dirs();
    let bad = d.data.with_extension("toml");
    std::fs::write(
        &bad,
        "site = \"s\"\nroot_dir = \"/\"\ninsecure_plaintext = true\nlisten = \"0.0.0.0:1\"\n",
    )
    .unwrap();
    let (ok, text) = check_config(&["--config", bad.to_str().unwrap()]);
    assert!(!ok, "{text}");
    assert!(text.contains("unknown field `listen`"), "{text}");

    let (ok, text) = check_config(&[
        "--site",
        "s",
        "--root-dir",
        "/nonexistent-root",
        "--insecure-plaintext",
    ]);
    assert!(!ok && text.contains("root_dir"), "{text}");

    // The example config of deploy/, with this machine's directories and dev certificates.
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/systemd/moor-agent.toml");
    let bundle = write_bundle(&d.outside, &[1], &["127.0.0.1".into()]).expect("dev certificates");
    let (cert, key) = bundle.site();
    let mut args: Vec<String> = vec!["--config".into(), example.display().to_string()];
    for (flag, path) in [
        ("--root-dir", &d.root),
        ("--data-dir", &d.data),
        ("--tls-cert", &cert),
        ("--tls-key", &key),
        ("--tls-ca", &bundle.ca),
    ] {
        args.extend([flag.to_string(), path.display().to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, text) = check_config(&args);
    assert!(ok, "{text}");
    assert!(
        text.contains("configuration OK") && text.contains("TLS"),
        "{text}"
    );
}

#[test]
fn check_config_reads_the_kubernetes_section() {
    let d = dirs();
    let kubeconfig = d.outside.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\ncurrent-context: edge\n\
         clusters:\n- name: c\n  cluster: {server: \"http://127.0.0.1:1\"}\n\
         users:\n- name: u\n  user: {token: t}\n\
         contexts:\n- name: edge\n  context: {cluster: c, user: u}\n",
    )
    .unwrap();
    let config = d.data.with_extension("toml");
    let write = |kubeconfig: &Path| {
        std::fs::write(
            &config,
            format!(
                "site = \"s\"\nroot_dir = {:?}\ndata_dir = {:?}\ninsecure_plaintext = true\n\
                 [kubernetes]\nkubeconfig = {:?}\ncontext = \"edge\"\n",
                d.root, d.data, kubeconfig
            ),
        )
        .unwrap();
    };
    write(&kubeconfig);
    let (ok, text) = check_config(&["--config", config.to_str().unwrap()]);
    assert!(ok, "{text}");
    assert!(
        text.contains(&format!(
            "kubernetes {} (context edge)",
            kubeconfig.display()
        )),
        "{text}"
    );

    let missing = d.outside.join("no-such-kubeconfig");
    write(&missing);
    let (ok, text) = check_config(&["--config", config.to_str().unwrap()]);
    assert!(!ok, "{text}");
    assert!(text.contains(&missing.display().to_string()), "{text}");
}

#[tokio::test]
async fn over_tls_only_members_may_call() {
    let d = dirs();
    let bundle = write_bundle(&d.outside, &[1], &["127.0.0.1".into()]).expect("dev certificates");
    let (cert, key) = bundle.site();
    let tls_args = [
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
        "--tls-ca",
        bundle.ca.to_str().unwrap(),
    ];
    let agent = Agent::spawn(&d.data, &d.root, &tls_args);
    let client = |(cert, key): (PathBuf, PathBuf)| {
        let files = TlsFiles {
            cert,
            key,
            ca: bundle.ca.clone(),
        };
        let tls = TlsReloader::new(files, ClientAuth::Required).expect("client TLS");
        let connector = TlsConnector::new(tls, "127.0.0.1").expect("server name");
        let channel = Endpoint::from_shared(format!("http://{}", agent.addr))
            .expect("endpoint")
            .timeout(BOUND)
            .connect_with_connector_lazy(connector);
        SiteAgentClient::new(channel)
    };
    let mut member = client(bundle.member(1));
    let r = apply(
        &mut member,
        file_req("f", ("e1", 1, 2), json!({"path": "f", "content": "m"})),
    )
    .await;
    assert_eq!(outcome(&r), Outcome::Applied, "{r:?}");

    let mut admin = client(bundle.admin());
    let req = file_req(
        "f",
        ("e2", 1, 1 << 62),
        json!({"path": "f", "content": "attack"}),
    );
    let status = admin.apply(req).await.expect_err("refused");
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert_eq!(std::fs::read_to_string(d.root.join("f")).unwrap(), "m");
    let r = apply(
        &mut member,
        file_req("f", ("e3", 1, 2), json!({"path": "f", "content": "m2"})),
    )
    .await;
    assert_eq!(
        (outcome(&r), r.highest_token),
        (Outcome::Applied, 2),
        "the attacker moved no token"
    );

    let root = d.root.to_str().unwrap();
    let mut both = vec!["--site", SITE, "--root-dir", root, "--insecure-plaintext"];
    both.extend(tls_args);
    let (ok, text) = check_config(&both);
    assert!(
        !ok && text.contains("choose one"),
        "TLS and plaintext at once is refused: {text}"
    );
}
