//! Secrets at rest, end to end (real processes, TLS + tokens + a secrets key file, as in
//! production): secret inputs and a secret variable reach a real `moor-agent` site in clear,
//! while no API answer, member log, member data dir (RocksDB), audit entry, backup, sitesim
//! journal or sitesim log of the run holds any of them. Then the key is rotated while the
//! cluster runs: the values move to the new key without re-applying anything, the old key
//! is removed, and the moved values still reach the site.

use std::path::Path;
use std::time::{Duration, Instant};

use moor_jepsen_like_tests::agent_proc::AgentProc;
use moor_jepsen_like_tests::fleet::Fleet;
use moor_jepsen_like_tests::harness::{bin_dir, connect, MemberSettings};
use moor_jepsen_like_tests::ui_session::{headers, login};
use moor_jepsen_like_tests::webhook::HookClient;
use moor_proto::api::moor_api_client::MoorApiClient;
use moor_proto::api::{
    GetRequest, PutRequest, PutSecretRequest, ReadConsistency, ResealSecretsRequest,
    SaveSnapshotRequest, SecretsStatusRequest,
};
use moor_proto::auth::auth_api_client::AuthApiClient;
use moor_proto::auth::ListAuditRequest;
use moor_proto::workflow::*;
use tonic::transport::Channel;

const BLUEPRINT: &str = r#"
name: db
inputs:
  pw: { type: string, secret: true }
  port: { type: number, secret: true }
  api: { type: string, secret: true, default: "${var:db/api}" }
resources:
  - name: conf
    type: agent.file
    properties:
      path: "db.conf"
      content: "password=${inputs.pw}\nport=${inputs.port}\napi=${inputs.api}\n"
"#;

fn secret() -> String {
    format!("S3CR3T{:032x}", rand::random::<u128>())
}

fn api(fleet: &Fleet, n: usize) -> MoorApiClient<Channel> {
    let running = fleet.cluster.running();
    let id = running[n % running.len()];
    MoorApiClient::new(connect(fleet.cluster.addr(id), fleet.cluster.security()).connect_lazy())
}

fn auth(fleet: &Fleet) -> AuthApiClient<Channel> {
    let id = fleet.cluster.running()[0];
    AuthApiClient::new(connect(fleet.cluster.addr(id), fleet.cluster.security()).connect_lazy())
}

/// Waits for execution `id` to end; it must succeed.
async fn succeeded(fleet: &Fleet, id: &str) -> Execution {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let e = fleet
            .workflow(0)
            .get_execution(GetExecutionRequest {
                id: id.into(),
                stale: false,
            })
            .await
            .unwrap()
            .into_inner();
        match e.state.as_str() {
            "succeeded" => return e,
            "running" | "queued" => {}
            other => panic!("execution {id} ended {other}: {e:?}"),
        }
        assert!(
            Instant::now() < deadline,
            "execution {id} did not end: {e:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every file at or under `path` (recursively) whose bytes contain one of `needles`, with
/// which. A path that does not exist is an error: a check of nothing proves nothing.
fn files_holding(path: &Path, needles: &[&str]) -> Vec<String> {
    assert!(path.exists(), "{} does not exist", path.display());
    let mut found = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            stack.extend(std::fs::read_dir(&p).unwrap().flatten().map(|e| e.path()));
        } else if let Ok(bytes) = std::fs::read(&p) {
            for n in needles {
                if bytes.windows(n.len()).any(|w| w == n.as_bytes()) {
                    found.push(format!("{} holds {n}", p.display()));
                }
            }
        }
    }
    found
}

fn holds(text: &str, needles: &[&str]) -> Vec<String> {
    needles
        .iter()
        .filter(|n| text.contains(**n))
        .map(|n| n.to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_reach_the_site_and_nothing_else_and_survive_a_key_rotation() {
    let fleet = Fleet::start(3, MemberSettings::default(), &[])
        .await
        .unwrap();
    let agent_dir = fleet.dir.join("agent-vault");
    let agent = AgentProc::start("vault-01", &agent_dir, fleet.cluster.security()).unwrap();
    let (pw, api_key, pw2) = (secret(), secret(), secret());
    let needles = [pw.as_str(), api_key.as_str(), pw2.as_str()];

    let mut wf = fleet.workflow(0);
    for (name, endpoint) in [
        ("vault-01", agent.addr.clone()),
        ("sim-01", fleet.sim_addr().to_string()),
    ] {
        wf.put_site(PutSiteRequest {
            site: Some(Site {
                name: name.into(),
                region: "europe".into(),
                agent_endpoint: endpoint,
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    }
    fleet.apply_blueprint(BLUEPRINT).await.unwrap();
    // A secret variable, through a follower: stored sealed, read back as a token.
    let put = api(&fleet, 1)
        .put_secret(PutSecretRequest {
            key: "db/api".into(),
            value: api_key.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(put.log_index > 0);
    let stored = api(&fleet, 2)
        .get(GetRequest {
            key: "db/api".into(),
            consistency: ReadConsistency::Linearizable.into(),
        })
        .await
        .unwrap()
        .into_inner();
    let stored = String::from_utf8(stored.kv.unwrap().value).unwrap();
    assert!(stored.starts_with("[moor-sealed:v1:"), "{stored}");

    // Two environments, one at the real agent (its file shows what the site received), one
    // at the sitesim (whose journal and log must not show it).
    let mut started = Vec::new();
    for (env, site) in [("db-vault", "vault-01"), ("db-sim", "sim-01")] {
        let r = wf
            .create_environment(CreateEnvironmentRequest {
                name: env.into(),
                site: site.into(),
                blueprint: "db".into(),
                inputs_json: format!("{{\"pw\": \"{pw}\", \"port\": 5432}}"),
                ..Default::default()
            })
            .await;
        // At the sitesim, `conf` is stored as a simulated resource of that type.
        started.push(r.unwrap().into_inner().id);
    }
    for id in &started {
        succeeded(&fleet, id).await;
    }
    let conf = agent.root.join("db.conf");
    let expected = format!("password={pw}\nport=5432\napi={api_key}\n");
    assert_eq!(
        std::fs::read_to_string(&conf).unwrap(),
        expected,
        "the site got the opened values"
    );
    // The grep below would find a secret where one is: the site's file holds them.
    assert_eq!(files_holding(&agent.root, &needles).len(), 2);

    // A wrong type for a secret input is refused before it is sealed, naming no value.
    let refused = wf
        .create_environment(CreateEnvironmentRequest {
            name: "db-bad".into(),
            site: "vault-01".into(),
            blueprint: "db".into(),
            inputs_json: format!("{{\"pw\": \"{pw}\", \"port\": \"{pw}\"}}"),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
    assert!(refused.message().contains("port") && !refused.message().contains(&pw));

    // The same secret again: sealed anew (another nonce), same fingerprint, so nothing is
    // re-applied (the agent replaces a file by rename: the same inode = not rewritten).
    let inode = |p: &Path| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).unwrap());
    let before = inode(&conf);
    let again = wf
        .start_execution(StartExecutionRequest {
            environment: "db-vault".into(),
            kind: "update".into(),
            inputs_json: Some(format!("{{\"pw\": \"{pw}\", \"port\": 5432}}")),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    succeeded(&fleet, &again.id).await;
    assert_eq!(
        inode(&conf),
        before,
        "an update with the same secret rewrote the file"
    );

    // Drift: a hand edit at the site; the diff compares opened values and shows no secret.
    std::fs::write(&conf, format!("{expected}edited=by hand\n")).unwrap();
    let diff = wf
        .diff_environment(EnvironmentDiffRequest {
            name: "db-vault".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let conf_diff = diff
        .resources
        .iter()
        .find(|r| r.resource == "conf")
        .unwrap();
    assert_eq!(conf_diff.state, "drifted", "{diff:?}");
    let mut answers = format!("{diff:?}");

    // The map view, as a viewer: the environment's page shows the secret inputs as `***`,
    // and neither it nor the diff page (which compares opened values) shows a secret.
    let c = HookClient::new(
        fleet.cluster.addr(fleet.cluster.running()[0]),
        fleet.cluster.security(),
    )
    .unwrap();
    let (viewer_token, _) = fleet.token("viewer").await.unwrap();
    let (a, cookie) = login(&c, &viewer_token).await;
    assert_eq!(a.status, 303, "{a:?}");
    let as_viewer = headers(&[("Cookie", &cookie)]);
    let page = c
        .get_with("/ui/environments/db-vault", &as_viewer)
        .await
        .unwrap();
    assert_eq!(page.status, 200, "{page:?}");
    assert!(
        page.body.contains("&quot;pw&quot;: &quot;***&quot;"),
        "{}",
        page.body
    );
    let diff_page = c
        .get_with("/ui/environments/db-vault/diff", &as_viewer)
        .await
        .unwrap();
    assert_eq!(diff_page.status, 200, "{diff_page:?}");
    assert!(
        diff_page
            .body
            .contains("<code>conf</code> (agent.file): drifted"),
        "{}",
        diff_page.body
    );
    answers.push_str(&page.body);
    answers.push_str(&diff_page.body);

    // Rotation: a new key first in the file every member reads.
    let key_file = fleet.cluster.dir().join("secrets.keys");
    let old_key = std::fs::read_to_string(&key_file).unwrap();
    let old_id = old_key
        .lines()
        .find(|l| !l.starts_with('#'))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    let out = std::process::Command::new(bin_dir().join("moord"))
        .args(["secrets-key", "new", "--file"])
        .arg(&key_file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let new_id = std::fs::read_to_string(&key_file)
        .unwrap()
        .lines()
        .find(|l| !l.starts_with('#'))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    assert_ne!(new_id, old_id);
    // Each member re-reads the file within a second of a look: wait until the member we
    // ask reports the new key first (a condition, polled).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = api(&fleet, 0)
            .secrets_status(SecretsStatusRequest {})
            .await
            .unwrap()
            .into_inner();
        if s.keys.first() == Some(&new_id) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the member never re-read the key file: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let resealed = api(&fleet, 0)
        .reseal_secrets(ResealSecretsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resealed.sealing_key, new_id);
    assert_eq!(resealed.variables, 1, "{resealed:?}");
    assert!(resealed.environment_values >= 2, "{resealed:?}");
    assert!(resealed.remaining.is_empty(), "{resealed:?}");
    let status = api(&fleet, 0)
        .secrets_status(SecretsStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(
        status.sealed.iter().all(|c| c.key_id == new_id
            || (
                c.variables,
                c.environment_inputs,
                c.rollout_inputs,
                c.running_steps
            ) == (0, 0, 0, 0)),
        "values left under the old key: {status:?}"
    );
    assert_eq!(status.clear_secret_inputs, 0, "{status:?}");
    answers.push_str(&format!("{put:?}{resealed:?}{status:?}"));

    // The old key goes; every member must now open the moved values with the new key
    // alone: a heal re-applies the hand-edited file from them.
    std::fs::write(
        &key_file,
        std::fs::read_to_string(&key_file)
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with(&old_id))
            .map(|l| format!("{l}\n"))
            .collect::<String>(),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    for n in 0..3 {
        loop {
            let s = api(&fleet, n)
                .secrets_status(SecretsStatusRequest {})
                .await
                .unwrap()
                .into_inner();
            if s.keys == [new_id.clone()] {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "a member kept the old key: {s:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let update = wf
        .start_execution(StartExecutionRequest {
            environment: "db-vault".into(),
            kind: "update".into(),
            inputs_json: Some(format!("{{\"pw\": \"{pw2}\", \"port\": 5432}}")),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    succeeded(&fleet, &update.id).await;
    assert_eq!(
        std::fs::read_to_string(&conf).unwrap(),
        format!("password={pw2}\nport=5432\napi={api_key}\n"),
        "values moved to the new key open with it alone"
    );

    // What clients can read: environments, executions, the variable, the audit log, a backup.
    for env in ["db-vault", "db-sim"] {
        let e = wf
            .get_environment(GetEnvironmentRequest {
                name: env.into(),
                stale: false,
            })
            .await
            .unwrap()
            .into_inner();
        answers.push_str(&format!("{e:?}"));
    }
    let execs = wf
        .list_executions(ListExecutionsRequest::default())
        .await
        .unwrap()
        .into_inner();
    answers.push_str(&format!("{execs:?}"));
    for id in started.iter().chain([&again.id, &update.id]) {
        let e = wf
            .get_execution(GetExecutionRequest {
                id: id.clone(),
                stale: false,
            })
            .await
            .unwrap()
            .into_inner();
        answers.push_str(&format!("{e:?}"));
    }
    let audit = auth(&fleet)
        .list_audit(ListAuditRequest {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(audit.entries.len() > 5, "{audit:?}");
    answers.push_str(&format!("{audit:?}"));
    let mut backup = Vec::new();
    let mut stream = api(&fleet, 1)
        .save_snapshot(SaveSnapshotRequest::default())
        .await
        .unwrap()
        .into_inner();
    while let Some(chunk) = stream.message().await.unwrap() {
        backup.extend_from_slice(&chunk.data);
    }
    assert!(backup.len() > 1000);
    assert!(
        !needles
            .iter()
            .any(|n| backup.windows(n.len()).any(|w| w == n.as_bytes())),
        "a backup holds a secret in clear"
    );
    assert!(
        holds(&answers, &needles).is_empty(),
        "an API answer shows a secret"
    );

    // On disk: member logs and data dirs (RocksDB: log, memtable flushes, snapshots), the
    // sitesim's journal and log. Not the agent's dir: the site is where secrets belong.
    // Control: a value written in clear (a plain variable) IS found there, so the search
    // reads what RocksDB keeps on disk.
    let control = secret();
    api(&fleet, 0)
        .put(PutRequest {
            key: "control".into(),
            value: control.clone().into_bytes(),
        })
        .await
        .unwrap();
    assert!(
        !files_holding(fleet.cluster.dir(), &[control.as_str()]).is_empty(),
        "the search does not see what the members store"
    );
    let mut leaks = files_holding(fleet.cluster.dir(), &needles);
    for file in ["journal.jsonl", "sitesim.log"] {
        leaks.extend(files_holding(&fleet.dir.join(file), &needles));
    }
    leaks.retain(|l| !l.contains("agent-vault"));
    assert!(leaks.is_empty(), "secrets in clear: {leaks:#?}");
}
