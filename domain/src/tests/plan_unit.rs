//! Unit tests of `plan.rs`, kept out of the file that apply runs (test code may unwrap).

use super::*;
use crate::blueprint::{digest, parse, render};
use serde_json::json;

/// A state from `(name, version, depends_on)`: the version stands for the properties.
fn state(resources: &[(&str, u32, &[&str])]) -> Rendered {
    let mut rendered = Rendered::default();
    for (name, version, deps) in resources {
        let properties = json!({ "version": version });
        rendered.resources.insert(
            name.to_string(),
            RenderedResource {
                resource_type: "sim.resource".into(),
                digest: digest("sim.resource", &properties),
                properties,
                depends_on: deps.iter().map(|d| d.to_string()).collect(),
                secret_paths: Vec::new(),
            },
        );
    }
    rendered
}

/// Steps as `(action, resource, depends_on)` for compact assertions.
fn summary(steps: &[PlannedStep]) -> Vec<(Action, &str, Vec<usize>)> {
    steps
        .iter()
        .map(|s| (s.action, s.resource.as_str(), s.depends_on.clone()))
        .collect()
}

use Action::{Create, Delete, Modify};

#[test]
fn install_creates_everything_in_dependency_order() {
    let desired = state(&[
        ("app", 1, &["db", "cache"]),
        ("cache", 1, &[]),
        ("db", 1, &[]),
        ("web", 1, &["app"]),
    ]);
    let steps = plan_install(&desired).unwrap();
    assert_eq!(
        summary(&steps),
        vec![
            (Create, "cache", vec![]),
            (Create, "db", vec![]),
            (Create, "app", vec![0, 1]),
            (Create, "web", vec![2]),
        ]
    );
    assert_eq!(steps[2].properties, json!({ "version": 1 }));
    assert_eq!(steps[2].digest, desired.resources["app"].digest);
}

#[test]
fn update_creates_modifies_deletes_and_omits_unchanged() {
    let current = state(&[
        ("app", 1, &["db", "old-cache"]),
        ("db", 1, &[]),
        ("old-cache", 1, &[]),
        ("metrics", 1, &["old-cache"]),
        ("static", 1, &[]),
    ]);
    let desired = state(&[
        ("app", 2, &["db", "new-cache"]),
        ("db", 1, &[]),
        ("new-cache", 1, &[]),
        ("static", 1, &[]),
    ]);
    let steps = plan_update(&current, &desired).unwrap();
    assert_eq!(
        summary(&steps),
        vec![
            (Create, "new-cache", vec![]),
            (Modify, "app", vec![0]),
            // metrics depended on old-cache and is gone: deleted first...
            (Delete, "metrics", vec![]),
            // ...then old-cache, once app no longer uses it and metrics is gone.
            (Delete, "old-cache", vec![1, 2]),
        ]
    );
    assert_eq!(steps[3].properties, json!({ "version": 1 }));
    assert_eq!(plan_update(&current, &current).unwrap(), vec![]);
}

#[test]
fn uninstall_deletes_in_reverse_dependency_order() {
    let current = state(&[
        ("app", 1, &["db", "cache"]),
        ("cache", 1, &[]),
        ("db", 1, &[]),
        ("web", 1, &["app"]),
    ]);
    let steps = plan_uninstall(&current).unwrap();
    assert_eq!(
        summary(&steps),
        vec![
            (Delete, "web", vec![]),
            (Delete, "app", vec![0]),
            (Delete, "db", vec![1]),
            (Delete, "cache", vec![1]),
        ]
    );
}

#[test]
fn waits_go_through_resources_without_steps() {
    // web -> app -> db; only web and db change.
    let current = state(&[("web", 1, &["app"]), ("app", 1, &["db"]), ("db", 1, &[])]);
    let desired = state(&[("web", 2, &["app"]), ("app", 1, &["db"]), ("db", 2, &[])]);
    assert_eq!(
        summary(&plan_update(&current, &desired).unwrap()),
        vec![(Modify, "db", vec![]), (Modify, "web", vec![0])]
    );
}

#[test]
fn heal_touches_only_drifted_and_missing_resources() {
    let desired = state(&[
        ("web", 1, &["app"]),
        ("app", 1, &["db"]),
        ("db", 1, &[]),
        ("cache", 1, &[]),
    ]);
    let observed: BTreeMap<String, Option<String>> = [
        ("web", Some("drifted".to_string())),
        ("app", Some(desired.resources["app"].digest.clone())),
        ("db", None),
        ("cache", Some(desired.resources["cache"].digest.clone())),
        ("stray", Some("x".to_string())),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let steps = plan_heal(&desired, &observed).unwrap();
    assert_eq!(
        summary(&steps),
        vec![(Create, "db", vec![]), (Modify, "web", vec![0])]
    );
    assert_eq!(steps[1].digest, desired.resources["web"].digest);
    // Nothing observed at all: everything is created.
    let all = plan_heal(&desired, &BTreeMap::new()).unwrap();
    assert!(all.iter().all(|s| s.action == Create));
    assert_eq!(all.len(), 4);
    // Everything in sync: nothing to do.
    let in_sync = desired
        .resources
        .iter()
        .map(|(k, r)| (k.clone(), Some(r.digest.clone())))
        .collect();
    assert_eq!(plan_heal(&desired, &in_sync).unwrap(), vec![]);
}

#[test]
fn rollback_is_the_inverse_diff() {
    let previous = state(&[("app", 1, &["db"]), ("db", 1, &[]), ("old", 1, &[])]);
    let current = state(&[("app", 2, &["db", "new"]), ("db", 1, &[]), ("new", 1, &[])]);
    let forward = plan_update(&previous, &current).unwrap();
    let back = plan_rollback(&current, &previous).unwrap();
    assert_eq!(
        summary(&forward),
        vec![
            (Create, "new", vec![]),
            (Modify, "app", vec![0]),
            (Delete, "old", vec![]),
        ]
    );
    assert_eq!(
        summary(&back),
        vec![
            (Modify, "app", vec![]),
            (Create, "old", vec![]),
            // `new` goes once `app` has been modified back to not needing it.
            (Delete, "new", vec![0]),
        ]
    );
    // The rollback's Modify goes back to the previous digest.
    assert_eq!(back[0].digest, previous.resources["app"].digest);
    // Creates and deletes swap; the same resources are modified.
    let set = |steps: &[PlannedStep], action| -> BTreeSet<String> {
        steps
            .iter()
            .filter(|s| s.action == action)
            .map(|s| s.resource.clone())
            .collect()
    };
    assert_eq!(set(&forward, Create), set(&back, Delete));
    assert_eq!(set(&forward, Delete), set(&back, Create));
    assert_eq!(set(&forward, Modify), set(&back, Modify));
}

#[test]
fn type_change_in_place_is_refused_with_advice() {
    let current = state(&[("db", 1, &[])]);
    let mut desired = current.clone();
    desired.resources.get_mut("db").unwrap().resource_type = "agent.file".into();
    let err = plan_update(&current, &desired).unwrap_err();
    assert_eq!(
        err.to_string(),
        "resource `db` would change type from sim.resource to agent.file, which cannot be \
         done in place: give the new resource another name, so the old one is deleted and \
         the new one created"
    );
}

#[test]
fn cycles_are_errors_and_dangling_dependencies_are_ignored() {
    let cyclic = state(&[("a", 1, &["b"]), ("b", 1, &["a"])]);
    let err = plan_install(&cyclic).unwrap_err();
    assert_eq!(
        err.to_string(),
        "desired state has a broken dependency graph: dependency cycle: a -> b -> a"
    );
    // A dependency on a resource the state lacks has nothing to wait for.
    let dangling = state(&[("a", 1, &["ghost"]), ("b", 1, &["a"])]);
    assert_eq!(
        summary(&plan_uninstall(&dangling).unwrap()),
        vec![(Delete, "b", vec![]), (Delete, "a", vec![0])]
    );
}

#[test]
fn steps_round_trip_through_json() {
    let steps = plan_install(&state(&[("a", 1, &[]), ("b", 1, &["a"])])).unwrap();
    let text = serde_json::to_string(&steps).unwrap();
    let back: Vec<PlannedStep> = serde_json::from_str(&text).unwrap();
    assert_eq!(back, steps);
}

#[test]
fn blueprint_to_plan_end_to_end() {
    let spec = parse(
        "shop.yaml",
        "name: shop\n\
         inputs:\n  image: { type: string }\n  password: { type: string, secret: true }\n\
         resources:\n\
         - name: app\n  type: kubernetes.manifest\n  depends_on: [db]\n  properties: { image: \"${inputs.image}\" }\n\
         - name: db\n  type: sim.resource\n  properties: { password: \"${inputs.password}\" }\n",
    )
    .unwrap();
    let inputs = [("image", "shop:1"), ("password", "hunter2")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let rendered = render(&spec, &inputs, &|_| None).unwrap();
    let steps = plan_install(&rendered).unwrap();
    assert_eq!(
        summary(&steps),
        vec![(Create, "db", vec![]), (Create, "app", vec![0])]
    );
    assert_eq!(steps[0].secret_paths, vec!["/password".to_string()]);
}

/// The example blueprints shipped for the demo must stay valid and plannable.
#[test]
fn example_blueprints_parse_render_and_plan() {
    let examples = [
        (
            "hello.yaml",
            include_str!("../../../examples/blueprints/hello.yaml"),
        ),
        (
            "webshop.yaml",
            include_str!("../../../examples/blueprints/webshop.yaml"),
        ),
        (
            "edge-stack.yaml",
            include_str!("../../../examples/blueprints/edge-stack.yaml"),
        ),
    ];
    let vars = |key: &str| match key {
        "webshop/db_password" | "edge/api_token" => Some("from-kv".to_string()),
        _ => None,
    };
    let mut summaries = Vec::new();
    for (file, text) in examples {
        let spec = parse(file, text)
            .unwrap_or_else(|d| panic!("{}", crate::blueprint::format_diagnostics(&d)));
        let inputs = if spec.name == "webshop" {
            [("image".to_string(), json!("registry.local/webshop:1.4.2"))].into()
        } else {
            BTreeMap::new()
        };
        let rendered = render(&spec, &inputs, &vars).unwrap();
        let steps = plan_install(&rendered).unwrap();
        summaries.push(
            steps
                .iter()
                .map(|s| format!("{}<-{:?}", s.resource, s.depends_on))
                .collect::<Vec<_>>()
                .join(" "),
        );
        if spec.name == "edge-stack" {
            let config = &rendered.resources["collector-config"].properties["content"];
            assert_eq!(
                config,
                &json!(
                    "site: unnamed-site\nhost: ${HOSTNAME}\nversion: 2.3.1\n\
                     mqtt: tcp://127.0.0.1:1883\nsample_interval_s: 10\n\
                     upstream: https://ingest.example.com/v1\n\
                     token_file: /etc/collector/token\n\
                     allowed_networks: [\"10.0.0.0/8\",\"192.168.0.0/16\"]\n\
                     debug: false\n"
                )
            );
            assert_eq!(
                rendered.resources["collector-token"].secret_paths,
                vec!["/content".to_string()]
            );
        }
    }
    assert_eq!(
        summaries,
        vec![
            "network<-[] database<-[0] app<-[1]",
            "config<-[] db<-[] db-credentials<-[1] app<-[0, 2] service<-[3]",
            "broker-config<-[] broker<-[0] collector-config<-[] collector-token<-[] \
             collector<-[1, 2, 3] heartbeat<-[4] proxy-config<-[] proxy<-[4, 6]",
        ]
    );
}
