//! The HA install, for real: the image built offline from this checkout's binaries, the compose
//! cluster of `deploy/compose/docker-compose.yml` brought up by its bootstrap job, a rollout
//! against the containerised sitesim with the leader's container `docker kill`ed mid-run, a
//! member cut off with `docker network disconnect` and reconnected, and the fault-injection
//! smoke workload on the container backend. Every cluster runs as the compose file installs
//! by default: mutual TLS between members, TLS to clients, tokens on (certificates from the
//! one-shot `certs` service, the admin token from the bootstrap job's volume); one test
//! checks that clients without a credential are refused and the admin token works.
//!
//! Without a reachable Docker engine every test prints a loud SKIP and returns; `.ci/run` on
//! the project's machines has one, so there they run.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use moor_jepsen_like_tests::checkers::journal::{check_file, DoneStep};
use moor_jepsen_like_tests::docker::{self, skip_without_docker, DockerCluster, DockerSettings};
use moor_jepsen_like_tests::docker_backend::DockerBackend;
use moor_jepsen_like_tests::harness::{
    bin_dir, connect, get_request, member_client, put_request, Security,
};
use moor_jepsen_like_tests::nemesis::NemesisKind;
use moor_jepsen_like_tests::runner::{run_one_on, RunSpec, WorkloadKind};
use moor_jepsen_like_tests::security::{self, TokenClient};
use moor_proto::api::moor_api_client::MoorApiClient;
use moor_proto::api::{GetRequest, PutRequest, ReadConsistency};
use moor_proto::workflow::workflow_api_client::WorkflowApiClient;
use moor_proto::workflow::*;
use tonic::transport::Channel;

const ELECTION: Duration = Duration::from_secs(30);

fn wf(cluster: &DockerCluster, addr: &str) -> WorkflowApiClient<Channel> {
    let channel = connect(addr, cluster.security())
        .connect_timeout(Duration::from_secs(1))
        .connect_lazy();
    WorkflowApiClient::new(channel)
}

/// A workflow client of a member that answers (any member serves any request).
async fn any_wf(cluster: &DockerCluster) -> WorkflowApiClient<Channel> {
    for id in cluster.ids() {
        if cluster.status(id).await.is_some() {
            let addr = cluster
                .endpoint(id)
                .expect("endpoint of an answering member");
            return wf(cluster, &addr);
        }
    }
    panic!("no member of {} answers", cluster.project);
}

/// Runs moorctl against the compose cluster with the admin token (`-o json`); panics with
/// its stderr when it fails.
fn moorctl_json(cluster: &DockerCluster, args: &[&str]) -> serde_json::Value {
    let out = moorctl(&cluster.moorctl_args(), args);
    assert!(
        out.status.success(),
        "moorctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

/// Runs moorctl with the connection flags `conn` (nothing from the environment or a
/// context).
fn moorctl(conn: &[String], args: &[&str]) -> std::process::Output {
    Command::new(bin_dir().join("moorctl"))
        .env_clear()
        .env("MOORCTL_CONFIG", "/nonexistent/moorctl.yaml")
        .args(conn)
        .args(["-o", "json"])
        .args(args)
        .output()
        .expect("moorctl runs")
}

/// The bulk update of every environment to `revision`: one rollout (`moorctl group put` +
/// `moorctl rollout start`) with room for every environment at once, so each has its child
/// execution from the start. Returns the child execution ids.
fn start_rollout(cluster: &DockerCluster, environments: &[String], revision: u64) -> Vec<String> {
    let moorctl = |args: &[&str]| moorctl_json(cluster, args);
    let group = format!("update-to-{revision}");
    let mut put = vec!["group", "put", group.as_str(), "--of", "environments"];
    for env in environments {
        put.extend(["--name", env.as_str()]);
    }
    moorctl(&put);
    let parallel = environments.len().to_string();
    let revision = revision.to_string();
    let r = moorctl(&[
        "rollout",
        "start",
        "--group",
        &group,
        "--action",
        "update",
        "--revision",
        &revision,
        "--max-parallel",
        &parallel,
    ]);
    let id = r["id"].as_str().expect("rollout id").to_string();
    let shown = moorctl(&["rollout", "show", &id, "--targets", "all"]);
    let ids: Vec<String> = shown["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .map(|t| t["execution"].as_str().expect("execution").to_string())
        .collect();
    assert_eq!(
        ids.len(),
        environments.len(),
        "every target started: {shown}"
    );
    assert!(
        ids.iter().all(|x| !x.is_empty()),
        "every target started: {shown}"
    );
    ids
}

/// Waits until every execution in `ids` is in a final state; returns them.
async fn wait_done(cluster: &DockerCluster, ids: &[String], timeout: Duration) -> Vec<Execution> {
    let deadline = Instant::now() + timeout;
    loop {
        let mut c = any_wf(cluster).await;
        let mut all = Vec::new();
        for id in ids {
            let req = GetExecutionRequest {
                id: id.clone(),
                stale: false,
            };
            match c.get_execution(req).await {
                Ok(e) => all.push(e.into_inner()),
                Err(_) => break,
            }
        }
        let finished = ["succeeded", "failed", "cancelled"];
        if all.len() == ids.len() && all.iter().all(|e| finished.contains(&e.state.as_str())) {
            return all;
        }
        assert!(
            Instant::now() < deadline,
            "executions not finished after {timeout:?}: {:?}",
            all.iter().map(|e| (&e.id, &e.state)).collect::<Vec<_>>()
        );
        // Polls what the cluster reports; steps take hundreds of ms each.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn hello(version: u32) -> String {
    let text = std::fs::read_to_string(docker::repo_root().join("examples/blueprints/hello.yaml"))
        .expect("examples/blueprints/hello.yaml");
    if version == 1 {
        text
    } else {
        text.replace(
            "default: hello }",
            &format!("default: \"hello v{version}\" }}"),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_builds_offline_runs_as_non_root_with_a_volume_and_health_check() {
    if skip_without_docker("image_builds_offline_runs_as_non_root_with_a_volume_and_health_check") {
        return;
    }
    let tag = format!("moor-test:image-{}", std::process::id());
    let started = Instant::now();
    docker::build_image(&tag).expect("image builds from the release binaries");
    eprintln!("image {tag} built in {:?}", started.elapsed());
    let inspect = |format: &str| {
        let out = Command::new("docker")
            .args(["image", "inspect", "-f", format, &tag])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let user = inspect("{{.Config.User}}");
    let volumes = inspect("{{json .Config.Volumes}}");
    let health = inspect("{{json .Config.Healthcheck.Test}}");
    let entry = inspect("{{json .Config.Entrypoint}}");
    let layers = inspect("{{len .RootFS.Layers}}");
    // The moord binary runs in it, without network, as uid 10001, and moorctl is beside it.
    let run = |args: &[&str]| {
        Command::new("docker")
            .args(["run", "--rm", "--network", "none"])
            .args(args)
            .output()
            .unwrap()
    };
    let version = run(&[&tag, "--version"]);
    let id = run(&["--entrypoint", "/usr/local/bin/moorctl", &tag, "--version"]);
    let check = run(&["-e", "MOOR_ID_FROM_NAME=moor-2", &tag, "--check-config"]);
    let _ = Command::new("docker").args(["rmi", "-f", &tag]).output();
    assert_eq!(user, "10001:10001");
    assert!(volumes.contains("/var/lib/moor"), "{volumes}");
    assert!(
        health.contains("cluster") && health.contains("status"),
        "{health}"
    );
    assert_eq!(entry, r#"["/usr/local/bin/moord"]"#);
    // FROM scratch: only this project's layers (libs, rootfs, bin, data), nothing pulled.
    assert_eq!(layers, "4", "unexpected base layers");
    assert!(
        version.status.success(),
        "{}",
        String::from_utf8_lossy(&version.stderr)
    );
    assert!(String::from_utf8_lossy(&version.stdout).contains("moord"));
    assert!(
        id.status.success(),
        "{}",
        String::from_utf8_lossy(&id.stderr)
    );
    // Config from the image's file plus the environment: the StatefulSet pod name moor-2
    // makes member 3, and the file's data dir and listen address hold.
    let config = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(config.contains("id = 3"), "{config}");
    assert!(config.contains("data_dir = \"/var/lib/moor\""), "{config}");
    assert!(config.contains("0.0.0.0:7401"), "{config}");
    // Secure by default: TLS files named, a peer port of its own, no plaintext.
    assert!(config.contains("/etc/moor/tls/ca.pem"), "{config}");
    assert!(config.contains("0.0.0.0:7402"), "{config}");
    assert!(!config.contains("insecure_plaintext = true"), "{config}");
}

/// A client of member `addr` with TLS (the cluster CA) and `token` as its only credential.
fn token_client(cluster: &DockerCluster, addr: &str, token: &str) -> TokenClient {
    security::token_client(addr, cluster.security(), token).expect("the compose cluster runs TLS")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compose_cluster_is_secure_by_default_and_the_admin_token_works() {
    if skip_without_docker("compose_cluster_is_secure_by_default_and_the_admin_token_works") {
        return;
    }
    let cluster = DockerCluster::up(DockerSettings::default()).await.unwrap();
    let ids = cluster.ids();
    let addr = |id: u64| cluster.endpoint(id).unwrap();

    // The admin token came out of the moor-admin volume readable by its owner only (docker
    // cp keeps the mode the bootstrap job gave it).
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(cluster.admin_token_file())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "admin.token mode {mode:o}");
    let token = std::fs::read_to_string(cluster.admin_token_file()).unwrap();
    let token = token.trim();

    // No member runs insecure: none logged the warnings plaintext or open access print.
    for id in &ids {
        let log = cluster.logs(&format!("moor-{id}"), 400);
        assert!(!log.trim().is_empty(), "member {id} logged nothing");
        for warning in ["TLS is OFF", "authentication is OFF"] {
            assert!(
                !log.contains(warning),
                "member {id} runs insecure ({warning}):\n{log}"
            );
        }
    }

    // Refused without a credential, on every member: TLS with the right CA but no token and
    // no client certificate gets UNAUTHENTICATED for writes and reads; a wrong token too.
    let anonymous = cluster.security().anonymous().unwrap();
    for id in &ids {
        let mut c = MoorApiClient::new(connect(&addr(*id), &anonymous).connect_lazy());
        let e = c
            .put(put_request("secure/anonymous", "x"))
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unauthenticated, "member {id}: {e:?}");
        assert!(
            e.message().contains("needs a credential"),
            "member {id}: {e:?}"
        );
        let e = c
            .get(get_request(
                "secure/anonymous",
                ReadConsistency::Linearizable,
            ))
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unauthenticated, "member {id}: {e:?}");
        let e = token_client(&cluster, &addr(*id), "moor_000000000000_not-the-token")
            .put(put_request("secure/anonymous", "x"))
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unauthenticated, "member {id}: {e:?}");
    }
    // Plaintext does not even reach the API: the client port speaks TLS only.
    let e = member_client(&addr(ids[0]), &Security::Plaintext)
        .put(put_request("secure/anonymous", "x"))
        .await
        .unwrap_err();
    assert_ne!(e.code(), tonic::Code::Ok);
    eprintln!("a plaintext client gets: {:?} {}", e.code(), e.message());

    // With the admin token: a write through one member, linearizable reads on every member.
    token_client(&cluster, &addr(ids[0]), token)
        .put(put_request("secure/admin", "written with the admin token"))
        .await
        .unwrap();
    for id in &ids {
        let kv = token_client(&cluster, &addr(*id), token)
            .get(get_request("secure/admin", ReadConsistency::Linearizable))
            .await
            .unwrap_or_else(|e| panic!("member {id}: {e:?}"))
            .into_inner()
            .kv
            .expect("the key is there");
        assert_eq!(kv.value, b"written with the admin token", "member {id}");
    }
    // Nothing the refused calls sent was written.
    let got = token_client(&cluster, &addr(ids[1]), token)
        .get(get_request(
            "secure/anonymous",
            ReadConsistency::Linearizable,
        ))
        .await
        .unwrap()
        .into_inner()
        .kv;
    assert!(got.is_none(), "a refused write was applied: {got:?}");

    // moorctl as deploy/README.md sets it up: the CA and the token file copied out of the
    // volumes. Without the token file it is refused.
    moorctl_json(&cluster, &["var", "put", "secure/moorctl", "from moorctl"]);
    let out = moorctl(&cluster.moorctl_args(), &["var", "get", "secure/moorctl"]);
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("from moorctl"),
        "moorctl var get: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let without_token: Vec<String> = cluster.moorctl_args()[..6].to_vec();
    assert!(
        without_token.iter().all(|a| !a.contains("token")),
        "{without_token:?}"
    );
    let out = moorctl(&without_token, &["var", "get", "secure/moorctl"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("needs a credential"),
        "moorctl without a token: {err}"
    );
    cluster.down();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compose_cluster_finishes_a_rollout_after_the_leader_container_is_killed() {
    if skip_without_docker(
        "compose_cluster_finishes_a_rollout_after_the_leader_container_is_killed",
    ) {
        return;
    }
    let started = Instant::now();
    let cluster = DockerCluster::up(DockerSettings {
        sitesim_latency_ms: 300,
        sitesim_jitter_ms: 100,
    })
    .await
    .expect("compose cluster up");
    eprintln!(
        "compose cluster up with a leader in {:?}",
        started.elapsed()
    );
    let mut c = any_wf(&cluster).await;
    c.apply_blueprint(ApplyBlueprintRequest {
        source_name: "hello.yaml".into(),
        yaml: hello(1),
        validate_only: false,
    })
    .await
    .unwrap();
    let mut envs = Vec::new();
    let mut installs = Vec::new();
    for i in 0..10 {
        let site = format!("site-{i:02}");
        c.put_site(PutSiteRequest {
            site: Some(Site {
                name: site.clone(),
                region: ["europe", "americas", "asia"][i % 3].into(),
                latitude: i as f64 * 5.0,
                longitude: i as f64 * 10.0,
                labels: Default::default(),
                agent_endpoint: cluster.sitesim_addr_in_network(),
                ..Default::default()
            }),
        })
        .await
        .unwrap();
        let env = format!("hello-{i:02}");
        let r = c
            .create_environment(CreateEnvironmentRequest {
                name: env.clone(),
                site,
                blueprint: "hello".into(),
                revision: 0,
                inputs_json: "{}".into(),
                labels: Default::default(),
                retry: Some(RetryPolicy {
                    max_attempts: 5,
                    backoff_base_ms: 100,
                    backoff_max_ms: 1000,
                    step_timeout_ms: 3000,
                }),
                drift: None,
            })
            .await
            .unwrap()
            .into_inner();
        envs.push(env);
        installs.push(r.id);
    }
    let installed = wait_done(&cluster, &installs, Duration::from_secs(120)).await;
    assert!(
        installed.iter().all(|e| e.state == "succeeded"),
        "{installed:?}"
    );

    let rev = c
        .apply_blueprint(ApplyBlueprintRequest {
            source_name: "hello.yaml".into(),
            yaml: hello(2),
            validate_only: false,
        })
        .await
        .unwrap()
        .into_inner()
        .revision;
    assert_eq!(rev, 2);
    let leader = cluster.wait_leader(&[1, 2, 3], ELECTION).await.unwrap();
    let old_term = cluster.status(leader).await.unwrap().term;
    let updates = start_rollout(&cluster, &envs, rev);
    // Kill the leader's container once the last update has a step in flight.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let e = c
            .get_execution(GetExecutionRequest {
                id: updates[updates.len() - 1].clone(),
                stale: false,
            })
            .await
            .unwrap()
            .into_inner();
        if e.steps_running > 0 || e.steps_succeeded > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the rollout never started: {e:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let killed_at = Instant::now();
    cluster.kill(leader).unwrap();
    let survivors: Vec<u64> = cluster.ids().into_iter().filter(|i| *i != leader).collect();
    let new_leader = cluster.wait_leader(&survivors, ELECTION).await.unwrap();
    assert_ne!(new_leader, leader);
    eprintln!(
        "leader {leader} killed; member {new_leader} leads after {:?}",
        killed_at.elapsed()
    );

    let done = wait_done(&cluster, &updates, Duration::from_secs(120)).await;
    eprintln!("rollout finished {:?} after the kill", killed_at.elapsed());
    for e in &done {
        assert_eq!(e.state, "succeeded", "{e:?}");
        assert_eq!(e.steps_succeeded, e.steps_total, "{e:?}");
    }
    let taken_over = done
        .iter()
        .flat_map(|e| &e.steps)
        .filter(|s| s.fence_token > old_term)
        .count();
    assert!(
        taken_over > 0,
        "no step was dispatched by the new leader: the kill missed the rollout"
    );

    // The killed member comes back (restart policy or docker start) and follows.
    cluster.start(leader).unwrap();
    cluster.wait_leader(&[1, 2, 3], ELECTION).await.unwrap();

    // The sitesim journal: at most one effect per step, fencing monotonic, no phantom done.
    let mut steps = Vec::new();
    for (e, env) in done.iter().zip(&envs) {
        let site = format!("site-{}", &env["hello-".len()..]);
        for s in &e.steps {
            if s.state == "succeeded" {
                steps.push(DoneStep {
                    execution_id: e.id.clone(),
                    step: s.index,
                    site: site.clone(),
                });
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.jsonl");
    cluster.take_journal(&journal).unwrap();
    let verdict = check_file(&journal, &steps).unwrap();
    assert!(verdict.is_clean(), "journal violations:\n{verdict}");
    assert!(!steps.is_empty());
    cluster.down();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compose_cluster_keeps_serving_while_a_member_is_disconnected_and_keeps_data_across_re_up()
{
    if skip_without_docker(
        "compose_cluster_keeps_serving_while_a_member_is_disconnected_and_keeps_data_across_re_up",
    ) {
        return;
    }
    let mut cluster = DockerCluster::up(DockerSettings::default()).await.unwrap();
    let leader = cluster.leader().await.unwrap();
    // Cut off the leader itself: the harder case (the rest must elect and keep serving).
    let cut = leader;
    let before = cluster.status(cut).await.unwrap();
    cluster.disconnect(cut).unwrap();
    let rest: Vec<u64> = cluster.ids().into_iter().filter(|i| *i != cut).collect();
    let new_leader = cluster.wait_leader(&rest, ELECTION).await.unwrap();
    assert_ne!(new_leader, cut);
    let mut written = BTreeMap::new();
    for i in 0..50 {
        let key = format!("partition/{i}");
        let value = format!("v{i}");
        let addr = cluster.endpoint(rest[i % rest.len()]).unwrap();
        let mut req = tonic::Request::new(PutRequest {
            key: key.clone(),
            value: value.clone().into_bytes(),
        });
        req.set_timeout(Duration::from_secs(10));
        member_client(&addr, cluster.security())
            .put(req)
            .await
            .unwrap_or_else(|s| panic!("put {key} while member {cut} is cut off: {s}"));
        written.insert(key, value);
    }
    let target = cluster.status(new_leader).await.unwrap().committed_index;
    assert!(target > before.committed_index);

    cluster.connect(cut).unwrap();
    let reconnected = Instant::now();
    // It rejoins: follows the current leader and applies everything committed meanwhile.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(s) = cluster.status(cut).await {
            if s.applied_index >= target && s.leader_id.is_some() && s.state == "Follower" {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "member {cut} did not catch up after reconnecting: {:?}",
            cluster.status(cut).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "member {cut} caught up {:?} after reconnecting",
        reconnected.elapsed()
    );
    cluster.wait_leader(&[1, 2, 3], ELECTION).await.unwrap();
    // Its own state (a stale read never asks the leader) holds every write.
    let addr = cluster.endpoint(cut).unwrap();
    for (key, value) in &written {
        let got = member_client(&addr, cluster.security())
            .get(GetRequest {
                key: key.clone(),
                consistency: ReadConsistency::Stale as i32,
            })
            .await
            .unwrap()
            .into_inner()
            .kv
            .map(|kv| String::from_utf8(kv.value).unwrap());
        assert_eq!(
            got.as_deref(),
            Some(value.as_str()),
            "{key} on member {cut}"
        );
    }

    // Persistent volumes and an idempotent bootstrap: `down` (volumes kept) and `up` again
    // gives new containers on the same data; the bootstrap job initialises nothing, keeps
    // the admin token of the first `up` (its --force replaces the file only for a new
    // cluster), and leaves no anonymous volume behind (`down` without -v would not remove
    // it): it mounts the admin-token and certificate volumes only.
    let project = cluster.project.clone();
    let mut job_volumes = cluster.volumes_of("bootstrap").unwrap();
    job_volumes.sort();
    assert_eq!(
        job_volumes,
        [
            format!("{project}_moor-admin"),
            format!("{project}_moor-tls")
        ]
    );
    // Docker lists a container's mounts in no fixed order: compare them sorted.
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let member_volumes = sorted(cluster.volumes_of("moor-1").unwrap());
    assert_eq!(
        member_volumes.len(),
        2,
        "data and certificates: {member_volumes:?}"
    );
    let token = cluster.copy_admin_token().unwrap();
    cluster.recreate().await.unwrap();
    assert_eq!(
        sorted(cluster.volumes_of("moor-1").unwrap()),
        member_volumes
    );
    let log = cluster.logs("bootstrap", 20);
    assert_eq!(
        log.matches("already initialised").count(),
        3,
        "bootstrap after re-up:\n{log}"
    );
    assert_eq!(
        cluster.copy_admin_token().unwrap(),
        token,
        "the admin token changed across down/up"
    );
    let addr = cluster.endpoints()[0].clone();
    for (key, value) in &written {
        let got = member_client(&addr, cluster.security())
            .get(GetRequest {
                key: key.clone(),
                consistency: ReadConsistency::Linearizable as i32,
            })
            .await
            .unwrap()
            .into_inner()
            .kv
            .map(|kv| String::from_utf8(kv.value).unwrap());
        assert_eq!(got.as_deref(), Some(value.as_str()), "{key} after re-up");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jepsen_smoke_on_the_container_backend_with_a_network_partition() {
    if skip_without_docker("jepsen_smoke_on_the_container_backend_with_a_network_partition") {
        return;
    }
    // The fault-injection runner of issue 5 on the compose cluster: the register workload
    // (per-key linearizability, acknowledged adds present after the heal, heal bound) while
    // the leader's container is cut off the compose network, repeatedly, for the window.
    let seed = std::env::var("MOOR_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6);
    let mut spec = RunSpec::new(
        seed,
        NemesisKind::PartitionLeaderMinority,
        WorkloadKind::Register,
        10,
    );
    spec.netns = false;
    let cluster = DockerCluster::up(DockerSettings::default()).await.unwrap();
    let reports = tempfile::tempdir().unwrap();
    let r = run_one_on(&spec, DockerBackend::new(cluster), reports.path()).await;
    eprintln!(
        "docker backend run (seed {seed}; reproduce with MOOR_SEED={seed}): passed={} {} violations={} heal={:?}s",
        r.passed, r.counts, r.violations, r.heal_secs
    );
    assert!(r.passed, "{:#?}", r.problems);
    assert_eq!(r.violations, 0);
    assert!(
        r.counts.faults_installed >= 1,
        "no partition was installed: {}",
        r.counts
    );
    assert_eq!(r.counts.faults_skipped, 0, "{}", r.counts);
    assert!(
        r.counts.ok > 30,
        "too few acknowledged operations to mean anything: {}",
        r.counts
    );
    assert!(r.report_dir.join("timeline.svg").exists());
}
