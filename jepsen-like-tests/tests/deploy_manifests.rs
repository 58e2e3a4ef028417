//! The deploy/ manifests that are not run in a container here, checked as far as this machine
//! allows:
//!
//! - the Helm chart: no `helm` binary and no Go toolchain are available, so its templates are
//!   rendered with gtmpl (Go's text/template in Rust) plus the few Helm functions the chart
//!   uses (`quote`, `toYaml`, `nindent`, `until`, `add1`, `int`), and every rendered document
//!   is deserialised into the Kubernetes API types of k8s-openapi with unknown fields
//!   rejected; then the cross-references are checked (selectors, the headless service, the
//!   PDB, volume claims and mounts, the bootstrap list against the advertised peer
//!   addresses), TLS and tokens are on by default (the certificate Secret mounted, each
//!   pod's own certificate from it, the Job and the probes given the CA) and off only with
//!   `insecurePlaintextNoAuth`, the rendered moord.toml with the pod's environment is checked
//!   by `moord --check-config`, and every value must be documented in deploy/README.md;
//! - the systemd units: `systemd-analyze verify` and `systemd-analyze security --offline`,
//!   when systemd-analyze is installed (a loud SKIP otherwise);
//! - the example /etc/moor/moord.toml files: `moord --check-config` (the example
//!   moor-agent.toml is checked by `moor-agent --check-config` in site/tests/agent.rs).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use gtmpl::{Context, Template};
use gtmpl_value::{FuncError, Number, Value as TValue};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Container, PodSpec, Service, Volume, VolumeMount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use moor_jepsen_like_tests::docker::repo_root;
use moor_jepsen_like_tests::harness::bin_dir;
use serde::de::DeserializeOwned;
use serde_json::Value as Json;

fn chart_dir() -> PathBuf {
    repo_root().join("deploy/helm/moor")
}

// ---- a minimal Helm: values, the built-in objects and the chart's template functions ----

fn to_tvalue(v: &Json) -> TValue {
    match v {
        Json::Null => TValue::Nil,
        Json::Bool(b) => TValue::Bool(*b),
        Json::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => TValue::Number(Number::from(u)),
            (_, Some(i)) => TValue::Number(Number::from(i)),
            _ => TValue::Number(Number::from(n.as_f64().unwrap_or_default())),
        },
        Json::String(s) => TValue::String(s.clone()),
        Json::Array(a) => TValue::Array(a.iter().map(to_tvalue).collect()),
        Json::Object(o) => TValue::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), to_tvalue(v)))
                .collect::<HashMap<_, _>>(),
        ),
    }
}

fn to_json(v: &TValue) -> Json {
    match v {
        TValue::NoValue | TValue::Nil | TValue::Function(_) => Json::Null,
        TValue::Bool(b) => Json::Bool(*b),
        TValue::String(s) => Json::String(s.clone()),
        TValue::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => Json::from(u),
            (_, Some(i), _) => Json::from(i),
            (_, _, Some(f)) => Json::from(f),
            _ => Json::Null,
        },
        TValue::Array(a) => Json::Array(a.iter().map(to_json).collect()),
        TValue::Object(o) | TValue::Map(o) => Json::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), to_json(v)))
                .collect::<BTreeMap<_, _>>()
                .into_iter()
                .collect(),
        ),
    }
}

fn arity(name: &str, args: &[TValue], n: usize) -> Result<(), FuncError> {
    if args.len() == n {
        Ok(())
    } else {
        Err(FuncError::ExactlyXArgs(name.into(), n))
    }
}

fn number(name: &str, v: &TValue) -> Result<i64, FuncError> {
    match v {
        TValue::Number(n) => n
            .as_i64()
            .ok_or_else(|| FuncError::Generic(format!("{name}: {v} is not an integer"))),
        TValue::String(s) => s
            .parse()
            .map_err(|_| FuncError::Generic(format!("{name}: {s:?} is not an integer"))),
        other => Err(FuncError::Generic(format!(
            "{name}: {other} is not a number"
        ))),
    }
}

/// Helm's `quote`: the value's text in double quotes, escaped.
fn quote(args: &[TValue]) -> Result<TValue, FuncError> {
    arity("quote", args, 1)?;
    let text = match &args[0] {
        TValue::String(s) => s.clone(),
        other => other.to_string(),
    };
    Ok(TValue::String(
        serde_json::to_string(&text).expect("a string serialises"),
    ))
}

/// Helm's `toYaml`, without the trailing newline.
fn to_yaml(args: &[TValue]) -> Result<TValue, FuncError> {
    arity("toYaml", args, 1)?;
    let text = serde_yaml_ng::to_string(&to_json(&args[0]))
        .map_err(|e| FuncError::Generic(format!("toYaml: {e}")))?;
    Ok(TValue::String(text.trim_end().to_string()))
}

/// Helm's `nindent N TEXT`: a newline, then every line indented by N spaces.
fn nindent(args: &[TValue]) -> Result<TValue, FuncError> {
    arity("nindent", args, 2)?;
    let n = number("nindent", &args[0])? as usize;
    let text = match &args[1] {
        TValue::String(s) => s.clone(),
        other => other.to_string(),
    };
    let pad = " ".repeat(n);
    let lines: Vec<String> = text.lines().map(|l| format!("{pad}{l}")).collect();
    Ok(TValue::String(format!("\n{}", lines.join("\n"))))
}

/// Sprig's `until N`: 0..N.
fn until(args: &[TValue]) -> Result<TValue, FuncError> {
    arity("until", args, 1)?;
    let n = number("until", &args[0])?;
    Ok(TValue::Array(
        (0..n).map(|i| TValue::Number(Number::from(i))).collect(),
    ))
}

fn add1(args: &[TValue]) -> Result<TValue, FuncError> {
    arity("add1", args, 1)?;
    Ok(TValue::Number(Number::from(number("add1", &args[0])? + 1)))
}

fn int(args: &[TValue]) -> Result<TValue, FuncError> {
    arity("int", args, 1)?;
    Ok(TValue::Number(Number::from(number("int", &args[0])?)))
}

fn yaml_file(path: &Path) -> Json {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Deep-merges `over` into `base` (maps merge, anything else replaces), as `--set` does.
fn merge(base: &mut Json, over: &Json) {
    match (base, over) {
        (Json::Object(b), Json::Object(o)) => {
            for (k, v) in o {
                merge(b.entry(k.clone()).or_insert(Json::Null), v);
            }
        }
        (_, Json::Null) => {}
        (b, o) => *b = o.clone(),
    }
}

const RELEASE: &str = "moor";
const NAMESPACE: &str = "moor-system";

/// Renders every template of the chart with values.yaml overridden by `overrides`; returns
/// (template file, parsed document) for every non-empty document.
fn render(overrides: Json) -> Vec<(String, Json)> {
    let mut values = yaml_file(&chart_dir().join("values.yaml"));
    merge(&mut values, &overrides);
    let chart = yaml_file(&chart_dir().join("Chart.yaml"));
    let root = serde_json::json!({
        "Values": values,
        "Release": { "Name": RELEASE, "Namespace": NAMESPACE, "Service": "Helm",
                     "IsInstall": true, "IsUpgrade": false },
        "Chart": { "Name": chart["name"], "Version": chart["version"],
                   "AppVersion": chart["appVersion"] },
    });
    let mut files: Vec<PathBuf> = std::fs::read_dir(chart_dir().join("templates"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no templates in {}",
        chart_dir().display()
    );
    // Named templates (`define`) live in `_*.tpl` files, which Helm makes visible to every
    // template: so does this.
    let mut helpers = String::new();
    for entry in std::fs::read_dir(chart_dir().join("templates")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "tpl") {
            helpers.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
    let mut docs = Vec::new();
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let mut t = Template::default();
        t.add_funcs(&[
            ("quote", quote as gtmpl_value::Func),
            ("toYaml", to_yaml),
            ("nindent", nindent),
            ("until", until),
            ("add1", add1),
            ("int", int),
        ]);
        t.parse(helpers.clone() + &std::fs::read_to_string(&file).unwrap())
            .unwrap_or_else(|e| panic!("{name}: template does not parse: {e}"));
        let text = t
            .render(&Context::from(to_tvalue(&root)))
            .unwrap_or_else(|e| panic!("{name}: template does not render: {e}"));
        for part in text.split("\n---") {
            if part
                .lines()
                .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
            {
                continue;
            }
            let doc: Json = serde_yaml_ng::from_str(part)
                .unwrap_or_else(|e| panic!("{name} renders invalid YAML: {e}\n{part}"));
            docs.push((name.clone(), doc));
        }
    }
    docs
}

/// Deserialises `doc` into `T`, failing on any field `T` does not know (a typo such as
/// `replica:` or a field at the wrong level would otherwise be dropped silently, as the API
/// server's non-strict decoding would).
fn strict<T: DeserializeOwned>(file: &str, doc: &Json) -> T {
    let mut unknown = Vec::new();
    let value: T = serde_ignored::deserialize(doc.clone(), |path| unknown.push(path.to_string()))
        .unwrap_or_else(|e| panic!("{file}: not a valid {}: {e}", std::any::type_name::<T>()));
    assert!(unknown.is_empty(), "{file}: unknown fields {unknown:?}");
    value
}

/// The typed objects of one rendering.
struct Rendered {
    sts: StatefulSet,
    headless: Service,
    client: Service,
    pdb: PodDisruptionBudget,
    config: ConfigMap,
    job: Option<Job>,
}

fn typed(docs: &[(String, Json)]) -> Rendered {
    let mut sts = None;
    let mut services = Vec::new();
    let mut pdb = None;
    let mut config = None;
    let mut job = None;
    for (file, doc) in docs {
        match doc["kind"].as_str() {
            Some("StatefulSet") => sts = Some(strict::<StatefulSet>(file, doc)),
            Some("Service") => services.push(strict::<Service>(file, doc)),
            Some("PodDisruptionBudget") => pdb = Some(strict::<PodDisruptionBudget>(file, doc)),
            Some("ConfigMap") => config = Some(strict::<ConfigMap>(file, doc)),
            Some("Job") => job = Some(strict::<Job>(file, doc)),
            // A CRD's object, checked by its own test (no typed struct in k8s-openapi).
            Some("ServiceMonitor") => {}
            other => panic!("{file}: unexpected kind {other:?}"),
        }
    }
    let (headless, client): (Vec<Service>, Vec<Service>) = services
        .into_iter()
        .partition(|s| s.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None"));
    assert_eq!(
        (headless.len(), client.len()),
        (1, 1),
        "one headless and one client service"
    );
    Rendered {
        sts: sts.expect("a StatefulSet"),
        headless: headless.into_iter().next().unwrap(),
        client: client.into_iter().next().unwrap(),
        pdb: pdb.expect("a PodDisruptionBudget"),
        config: config.expect("a ConfigMap"),
        job,
    }
}

/// The members' pod template spec.
fn member_pod(r: &Rendered) -> &PodSpec {
    r.sts.spec.as_ref().unwrap().template.spec.as_ref().unwrap()
}

/// The bootstrap Job's pod template spec.
fn job_pod(job: &Job) -> &PodSpec {
    job.spec.as_ref().unwrap().template.spec.as_ref().unwrap()
}

fn env_of(c: &Container, name: &str) -> Option<String> {
    c.env
        .as_ref()?
        .iter()
        .find(|e| e.name == name)?
        .value
        .clone()
}

fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// Every cross-reference a working install depends on.
fn check_wiring(r: &Rendered, replicas: i32) {
    let sts_spec = r.sts.spec.as_ref().unwrap();
    let pod = sts_spec.template.metadata.as_ref().unwrap();
    let pod_labels = pod.labels.clone().unwrap_or_default();
    let pod_spec = sts_spec.template.spec.as_ref().unwrap();
    assert_eq!(sts_spec.replicas, Some(replicas));
    assert_eq!(sts_spec.pod_management_policy.as_deref(), Some("Parallel"));
    let sts_selector = sts_spec.selector.match_labels.clone().unwrap_or_default();
    assert!(
        selects(&sts_selector, &pod_labels),
        "StatefulSet selector misses its pods"
    );

    // Stable identities: serviceName is the headless service, which selects the pods and
    // publishes them before they are ready.
    let headless_name = r.headless.metadata.name.clone().unwrap();
    assert_eq!(
        sts_spec.service_name.as_deref(),
        Some(headless_name.as_str())
    );
    let hs = r.headless.spec.as_ref().unwrap();
    assert_eq!(hs.publish_not_ready_addresses, Some(true));
    assert!(selects(
        &hs.selector.clone().unwrap_or_default(),
        &pod_labels
    ));
    let cs = r.client.spec.as_ref().unwrap();
    assert!(selects(
        &cs.selector.clone().unwrap_or_default(),
        &pod_labels
    ));

    // The PDB covers the members and keeps a majority.
    let pdb = r.pdb.spec.as_ref().unwrap();
    let pdb_sel = pdb
        .selector
        .as_ref()
        .unwrap()
        .match_labels
        .clone()
        .unwrap_or_default();
    assert!(
        selects(&pdb_sel, &pod_labels),
        "the PDB does not select the members"
    );
    let max_unavailable = match pdb.max_unavailable.as_ref().expect("maxUnavailable") {
        k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(n) => *n,
        other => panic!("maxUnavailable {other:?}: give a number"),
    };
    assert!(
        max_unavailable < replicas - replicas / 2,
        "the PDB lets the majority go"
    );

    // The container: non-root as the image, probes, resources, ports the services target.
    assert_eq!(pod_spec.containers.len(), 1);
    let c = &pod_spec.containers[0];
    let sc = pod_spec.security_context.as_ref().unwrap();
    assert_eq!(
        (sc.run_as_non_root, sc.run_as_user),
        (Some(true), Some(10001))
    );
    assert!(c.liveness_probe.is_some() && c.readiness_probe.is_some() && c.startup_probe.is_some());
    let res = c.resources.as_ref().expect("resources");
    assert!(res.requests.is_some() && res.limits.is_some());
    let port_names: Vec<String> = c
        .ports
        .iter()
        .flatten()
        .filter_map(|p| p.name.clone())
        .collect();
    for s in [hs, cs] {
        for p in s.ports.iter().flatten() {
            let target = match p.target_port.as_ref().unwrap() {
                k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(s) => s.clone(),
                other => panic!("targetPort {other:?}: use the port name"),
            };
            assert!(
                port_names.contains(&target),
                "targetPort {target} is no container port"
            );
        }
    }

    // Volumes: every claim template and every pod volume is mounted; the config map exists.
    let mounts: Vec<&str> = c
        .volume_mounts
        .iter()
        .flatten()
        .map(|m| m.name.as_str())
        .collect();
    for claim in sts_spec.volume_claim_templates.iter().flatten() {
        let name = claim.metadata.name.as_deref().unwrap();
        assert!(mounts.contains(&name), "claim {name} is not mounted");
    }
    assert!(c
        .volume_mounts
        .iter()
        .flatten()
        .any(|m| m.mount_path == "/var/lib/moor"));
    for v in pod_spec.volumes.iter().flatten() {
        assert!(
            mounts.contains(&v.name.as_str()),
            "volume {} is not mounted",
            v.name
        );
        if let Some(cm) = &v.config_map {
            assert_eq!(
                Some(cm.name.clone()),
                r.config.metadata.name,
                "config map name"
            );
        }
    }

    // Member ids and addresses: pod N advertises the peer address the bootstrap list gives
    // member N+1, and the headless service carries the peer port.
    assert_eq!(
        env_of(c, "MOOR_ID_FROM_NAME").as_deref(),
        Some("$(POD_NAME)")
    );
    let advertise = env_of(c, "MOOR_PEER_ADVERTISE_ADDR").expect("MOOR_PEER_ADVERTISE_ADDR");
    assert!(
        hs.ports
            .iter()
            .flatten()
            .any(|p| p.name.as_deref() == Some("peer")),
        "the headless service lacks the peer port"
    );
    if let Some(job) = &r.job {
        let jc = &job_pod(job).containers[0];
        let list = env_of(jc, "MOOR_INITIAL_MEMBERS").expect("MOOR_INITIAL_MEMBERS");
        let entries: Vec<&str> = list.split(',').collect();
        assert_eq!(entries.len(), replicas as usize, "{list}");
        for (i, entry) in entries.iter().enumerate() {
            let pod_name = format!("{}-{i}", r.sts.metadata.name.as_deref().unwrap());
            let addr = advertise
                .replace("$(POD_NAME)", &pod_name)
                .replace("$(POD_NAMESPACE)", NAMESPACE);
            assert_eq!(*entry, format!("{}={addr}", i + 1), "bootstrap entry {i}");
        }
    }

    // The rendered moord.toml with pod 0's environment is a valid config (checked by moord
    // itself), and says what the install runs.
    let shown = check_config(r, &format!("{RELEASE}-0"));
    assert!(shown.contains("id = 1"), "{shown}");
}

/// `moord --check-config` on the config map's moord.toml with the environment the
/// StatefulSet gives pod `pod` (`$(POD_NAME)` and `$(POD_NAMESPACE)` expanded as the
/// kubelet does); returns the effective config it prints.
fn check_config(r: &Rendered, pod: &str) -> String {
    let toml = r.config.data.as_ref().unwrap()["moord.toml"].clone();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("moord.toml");
    std::fs::write(&path, toml).unwrap();
    let c = &member_pod(r).containers[0];
    let mut cmd = Command::new(bin_dir().join("moord"));
    cmd.env_clear()
        .arg("--config")
        .arg(&path)
        .arg("--check-config");
    for e in c.env.iter().flatten() {
        if let Some(v) = &e.value {
            let v = v
                .replace("$(POD_NAME)", pod)
                .replace("$(POD_NAMESPACE)", NAMESPACE);
            cmd.env(&e.name, v);
        }
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "moord refuses the chart's config for {pod}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The pod volume `name` of the StatefulSet and the container's mount of it.
fn volume_and_mount<'a>(spec: &'a PodSpec, name: &str) -> Option<(&'a Volume, &'a VolumeMount)> {
    let volume = spec.volumes.iter().flatten().find(|v| v.name == name)?;
    let mount = spec.containers[0]
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.name == name)?;
    Some((volume, mount))
}

/// TLS and tokens on: the certificate Secret mounted read-only into every member and (its
/// CA only) into the bootstrap Job, each pod's own certificate and key named from it, no
/// insecure setting anywhere, and moord's effective config says TLS with auth on.
fn check_secure(r: &Rendered, secret: &str) {
    let pod = member_pod(r);
    let (volume, mount) = volume_and_mount(pod, "tls").expect("a tls volume, mounted");
    let source = volume.secret.as_ref().expect("the tls volume is a Secret");
    assert_eq!(source.secret_name.as_deref(), Some(secret));
    assert_eq!(mount.read_only, Some(true));
    let dir = mount.mount_path.trim_end_matches('/');
    let c = &pod.containers[0];
    for (var, file) in [
        ("MOOR_TLS_CERT", "$(POD_NAME).pem"),
        ("MOOR_TLS_KEY", "$(POD_NAME).key"),
        ("MOOR_CA_FILE", "ca.pem"),
    ] {
        assert_eq!(env_of(c, var), Some(format!("{dir}/{file}")), "{var}");
    }
    for var in ["MOOR_INSECURE_PLAINTEXT", "MOOR_INSECURE_NO_AUTH"] {
        assert_eq!(env_of(c, var), None, "{var} is set by default");
    }
    let toml = &r.config.data.as_ref().unwrap()["moord.toml"];
    assert!(!toml.contains("insecure_plaintext"), "{toml}");
    assert!(!toml.contains("enabled = false"), "{toml}");
    assert!(toml.contains(&format!("ca = \"{dir}/ca.pem\"")), "{toml}");
    let shown = check_config(r, &format!("{RELEASE}-1"));
    for want in [
        "insecure_plaintext = false".to_string(),
        format!("cert = \"{dir}/{RELEASE}-1.pem\""),
        format!("key = \"{dir}/{RELEASE}-1.key\""),
    ] {
        assert!(
            shown.contains(&want),
            "moord's effective config lacks {want}:\n{shown}"
        );
    }
    assert!(
        shown.contains("[auth]\nenabled = true"),
        "auth is not on in moord's effective config:\n{shown}"
    );
    if let Some(job) = &r.job {
        let spec = job_pod(job);
        let (volume, mount) = volume_and_mount(spec, "tls").expect("the Job mounts the CA");
        let source = volume.secret.as_ref().unwrap();
        assert_eq!(source.secret_name.as_deref(), Some(secret));
        let keys: Vec<&str> = source
            .items
            .iter()
            .flatten()
            .map(|i| i.key.as_str())
            .collect();
        assert_eq!(keys, ["ca.pem"], "the Job needs no member's key");
        let jc = &spec.containers[0];
        assert_eq!(
            env_of(jc, "MOOR_CA_FILE"),
            Some(format!("{}/ca.pem", mount.mount_path.trim_end_matches('/')))
        );
        assert_eq!(env_of(jc, "MOOR_INSECURE_PLAINTEXT"), None);
    }
}

#[test]
fn helm_chart_renders_into_valid_kubernetes_objects_that_reference_each_other() {
    let docs = render(Json::Null);
    let r = typed(&docs);
    assert!(r.job.is_some(), "the bootstrap job is on by default");
    check_wiring(&r, 3);
    check_secure(&r, &format!("{RELEASE}-tls"));
    // Every value changes the output somewhere: a 5-member install on a storage class,
    // pinned to nodes, without the job and without anti-affinity.
    let docs = render(serde_json::json!({
        "replicas": 5,
        "persistence": { "storageClassName": "fast-ssd", "size": "50Gi" },
        "nodeSelector": { "disktype": "ssd" },
        "tolerations": [{ "key": "dedicated", "operator": "Equal", "value": "moor", "effect": "NoSchedule" }],
        "spreadAcrossNodes": false,
        "bootstrap": { "enabled": false },
    }));
    let r5 = typed(&docs);
    assert!(r5.job.is_none());
    check_wiring(&r5, 5);
    check_secure(&r5, &format!("{RELEASE}-tls"));
    let spec = r5.sts.spec.as_ref().unwrap();
    let claim = &spec.volume_claim_templates.as_ref().unwrap()[0];
    assert_eq!(
        claim.spec.as_ref().unwrap().storage_class_name.as_deref(),
        Some("fast-ssd")
    );
    let pod = spec.template.spec.as_ref().unwrap();
    assert_eq!(pod.node_selector.as_ref().unwrap()["disktype"], "ssd");
    assert_eq!(pod.tolerations.as_ref().unwrap().len(), 1);
    assert!(pod.affinity.is_none());
    // The defaults carry the anti-affinity and no storage class (the cluster's default).
    let spec = r.sts.spec.as_ref().unwrap();
    assert!(spec.template.spec.as_ref().unwrap().affinity.is_some());
    let claim = &spec.volume_claim_templates.as_ref().unwrap()[0];
    assert_eq!(claim.spec.as_ref().unwrap().storage_class_name, None);
}

#[test]
fn tls_comes_from_the_named_secret_and_plaintext_only_from_the_insecure_toggle() {
    let r = typed(&render(
        serde_json::json!({ "tls": { "existingSecret": "corp-moor-pki" } }),
    ));
    check_wiring(&r, 3);
    check_secure(&r, "corp-moor-pki");

    // The explicit exception: no Secret, plaintext, no tokens, and moord says so.
    let r = typed(&render(
        serde_json::json!({ "insecurePlaintextNoAuth": true }),
    ));
    check_wiring(&r, 3);
    let pod = member_pod(&r);
    assert!(
        volume_and_mount(pod, "tls").is_none(),
        "a tls volume without TLS"
    );
    let c = &pod.containers[0];
    assert_eq!(
        env_of(c, "MOOR_INSECURE_PLAINTEXT").as_deref(),
        Some("true")
    );
    assert_eq!(env_of(c, "MOOR_TLS_CERT"), None);
    let shown = check_config(&r, &format!("{RELEASE}-0"));
    assert!(shown.contains("insecure_plaintext = true"), "{shown}");
    assert!(shown.contains("[auth]\nenabled = false"), "{shown}");
    let jc = &job_pod(r.job.as_ref().unwrap()).containers[0];
    assert_eq!(
        env_of(jc, "MOOR_INSECURE_PLAINTEXT").as_deref(),
        Some("true")
    );
    assert_eq!(env_of(jc, "MOOR_CA_FILE"), None);
}

#[test]
fn trace_export_is_off_by_default_and_reaches_moords_config_when_set() {
    let off = typed(&render(serde_json::json!({})));
    let toml = &off.config.data.as_ref().unwrap()["moord.toml"];
    assert!(!toml.contains("[telemetry]"), "{toml}");
    let on = typed(&render(serde_json::json!({"telemetry": {
        "otlpEndpoint": "http://otel-collector.observability:4317",
        "sampleRatio": "0.25",
    }})));
    // moord reads it as set: the effective config it prints carries both values.
    let shown = check_config(&on, &format!("{RELEASE}-0"));
    assert!(
        shown.contains("otlp_endpoint = \"http://otel-collector.observability:4317\"")
            && shown.contains("sample_ratio = 0.25"),
        "{shown}"
    );
}

#[test]
fn the_service_monitor_is_off_by_default_and_scrapes_the_client_service_when_on() {
    let off = render(serde_json::json!({}));
    assert!(off.iter().all(|(_, d)| d["kind"] != "ServiceMonitor"));
    let on = render(serde_json::json!({"metrics": {"serviceMonitor": {"enabled": true}}}));
    let monitors: Vec<&Json> = on
        .iter()
        .filter(|(_, d)| d["kind"] == "ServiceMonitor")
        .map(|(_, d)| d)
        .collect();
    assert_eq!(monitors.len(), 1);
    let m = monitors[0];
    assert_eq!(m["apiVersion"], "monitoring.coreos.com/v1");
    let endpoint = &m["spec"]["endpoints"][0];
    assert_eq!(endpoint["path"], "/metrics");
    assert_eq!(endpoint["interval"], "30s");
    // The client port speaks TLS: scraped over https, checked against the cluster CA.
    assert_eq!(endpoint["scheme"], "https");
    assert_eq!(endpoint["tlsConfig"]["ca"]["secret"]["name"], "moor-tls");
    assert_eq!(endpoint["tlsConfig"]["ca"]["secret"]["key"], "ca.pem");
    let r = typed(&on);
    // It selects the client service, by a port that service has.
    let labels: BTreeMap<String, String> = r.client.metadata.labels.clone().unwrap_or_default();
    let wanted: BTreeMap<String, String> =
        serde_json::from_value(m["spec"]["selector"]["matchLabels"].clone()).unwrap();
    assert!(
        selects(&wanted, &labels),
        "{wanted:?} does not select {labels:?}"
    );
    let headless = r.headless.metadata.labels.clone().unwrap_or_default();
    assert!(
        !selects(&wanted, &headless),
        "the headless service would be scraped too"
    );
    let ports = r
        .client
        .spec
        .as_ref()
        .unwrap()
        .ports
        .clone()
        .unwrap_or_default();
    assert!(ports
        .iter()
        .any(|p| p.name.as_deref() == endpoint["port"].as_str()));
}

#[test]
fn strict_decoding_catches_a_misplaced_field() {
    // The check above is only worth something if a typo fails it.
    let mut docs = render(Json::Null);
    let (file, sts) = docs
        .iter_mut()
        .find(|(_, d)| d["kind"] == "StatefulSet")
        .unwrap();
    sts["spec"]["replica"] = Json::from(3);
    let file = file.clone();
    let doc = sts.clone();
    let caught = std::panic::catch_unwind(|| strict::<StatefulSet>(&file, &doc));
    assert!(caught.is_err(), "spec.replica was not reported");
}

/// Every leaf of values.yaml, as a dotted path.
fn leaves(prefix: &str, v: &Json, out: &mut Vec<String>) {
    match v {
        Json::Object(o) if !o.is_empty() && prefix != "resources" => {
            for (k, v) in o {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(&p, v, out);
            }
        }
        _ => out.push(prefix.to_string()),
    }
}

#[test]
fn every_helm_value_is_documented() {
    let values = yaml_file(&chart_dir().join("values.yaml"));
    let mut paths = Vec::new();
    leaves("", &values, &mut paths);
    let readme = std::fs::read_to_string(repo_root().join("deploy/README.md")).unwrap();
    let missing: Vec<&String> = paths
        .iter()
        .filter(|p| !readme.contains(&format!("`{p}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "values not documented in deploy/README.md: {missing:?}"
    );
}

#[test]
fn example_configs_are_accepted_by_moord() {
    for file in [
        "deploy/systemd/moord.toml",
        "deploy/docker/rootfs/etc/moor/moord.toml",
    ] {
        let out = Command::new(bin_dir().join("moord"))
            .arg("--config")
            .arg(repo_root().join(file))
            .arg("--check-config")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn systemd_units_verify_and_are_hardened() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        moor_jepsen_like_tests::docker::loud_skip(
            "systemd_units_verify_and_are_hardened",
            "systemd-analyze is not installed; the units were not verified",
        );
        return;
    }
    // verify insists that ExecStart's binary exists; the units name /usr/local/bin, where
    // an install puts them, so verify copies that point at this build's binaries instead.
    let dir = tempfile::tempdir().unwrap();
    let mut units = Vec::new();
    for unit in [
        "moord.service",
        "moor-sitesim.service",
        "moor-agent.service",
    ] {
        let text = std::fs::read_to_string(repo_root().join("deploy/systemd").join(unit)).unwrap();
        assert!(text.contains("ExecStart=/usr/local/bin/"), "{unit}");
        let local = text.replace(
            "ExecStart=/usr/local/bin/",
            &format!("ExecStart={}/", bin_dir().display()),
        );
        let path = dir.path().join(unit);
        std::fs::write(&path, local).unwrap();
        units.push(path);
    }
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args(&units)
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes"])
        .arg(&units[0])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let exposure: f64 = text
        .lines()
        .find_map(|l| l.split("Overall exposure level for moord.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in: {text}"));
    assert!(
        exposure <= 2.0,
        "moord.service exposure {exposure} (> 2.0):\n{text}"
    );
    let unit = std::fs::read_to_string(repo_root().join("deploy/systemd/moord.service")).unwrap();
    for must in [
        "User=moor",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "Restart=on-failure",
    ] {
        assert!(unit.contains(must), "moord.service lacks {must}");
    }
}
