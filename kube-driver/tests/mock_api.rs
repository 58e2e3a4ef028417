//! The driver against a scripted API server: every request checked (method, path, query,
//! content type, body), every answer scripted. No cluster, no sleeps: tokio's clock is
//! paused, so timeouts and backoff elapse instantly.

mod common;

use std::time::Duration;

use common::*;
use moor_kube::{
    ApplyRequest, DeleteRequest, FenceOutcome, IdempotencyKey, ObserveRequest, Outcome,
    APPLY_PATCH, DRIFT_DIGEST_PREFIX,
};
use serde_json::{json, Value};

fn apply_request(token: u64) -> ApplyRequest {
    ApplyRequest {
        environment: "prod".into(),
        resource: "web".into(),
        manifest: web_manifest(2),
        key: IdempotencyKey {
            execution_id: "e1".into(),
            step: 2,
        },
        attempt: 1,
        fence_token: token,
        desired_digest: "sha256:want".into(),
        force: false,
        timeout: Duration::from_secs(5),
    }
}

fn delete_request(token: u64) -> DeleteRequest {
    DeleteRequest {
        environment: "prod".into(),
        resource: "web".into(),
        manifest: web_manifest(2),
        key: IdempotencyKey {
            execution_id: "e2".into(),
            step: 0,
        },
        attempt: 1,
        fence_token: token,
        timeout: Duration::from_secs(5),
    }
}

fn applied() -> Outcome {
    Outcome::Applied {
        observed_digest: "sha256:want".into(),
    }
}

fn assert_failed(outcome: &Outcome, retryable: bool, contains: &[&str]) {
    let Outcome::Failed {
        error,
        retryable: r,
    } = outcome
    else {
        panic!("expected a failure, got {outcome:?}");
    };
    assert_eq!(*r, retryable, "{error}");
    for part in contains {
        assert!(error.contains(part), "{error:?} does not mention {part:?}");
    }
}

/// The requests of an apply whose fence is admitted and whose object is new.
fn happy_prefix(token: u64) -> Vec<Answer> {
    vec![
        fence(token, "11"),
        apps_v1(),
        not_found("deployments", "web"),
    ]
}

#[tokio::test(start_paused = true)]
async fn apply_is_a_server_side_apply_carrying_key_digest_and_token() {
    let mut script = happy_prefix(3);
    script.push(Answer::Json(200, web_live(2, 2, "e1/2", "sha256:want")));
    let (site, mock) = mock_site(script);

    assert_eq!(site.apply(&apply_request(3)).await, applied());

    assert_eq!(
        mock.lines(),
        [
            format!("GET {FENCE_PATH}"),
            "GET /apis/apps/v1".to_string(),
            format!("GET {WEB_PATH}"),
            format!("PATCH {WEB_PATH}"),
        ]
    );
    let patch = &mock.requests()[3];
    assert_eq!(patch.content_type.as_deref(), Some(APPLY_PATCH));
    assert_eq!(
        patch.query.get("fieldManager").map(String::as_str),
        Some("moor")
    );
    assert_eq!(patch.query.get("force"), None);
    assert_eq!(patch.query.get("dryRun"), None);
    let body = patch.body.as_ref().unwrap();
    assert_eq!(body["spec"]["replicas"], 2);
    let meta = &body["metadata"];
    assert_eq!(meta["namespace"], "moor-prod");
    assert_eq!(meta["labels"]["app"], "web");
    assert_eq!(meta["labels"]["app.kubernetes.io/managed-by"], "moor");
    assert_eq!(meta["labels"]["moor.dev/environment"], "prod");
    assert_eq!(meta["labels"]["moor.dev/resource"], "web");
    assert_eq!(meta["annotations"]["moor.dev/idempotency-key"], "e1/2");
    assert_eq!(
        meta["annotations"]["moor.dev/desired-digest"],
        "sha256:want"
    );
    assert_eq!(meta["annotations"]["moor.dev/fence-token"], "3");
    let recorded: Value =
        serde_json::from_str(meta["annotations"]["moor.dev/applied"].as_str().unwrap()).unwrap();
    let mut expected = web_manifest(2);
    expected["metadata"]["namespace"] = json!("moor-prod");
    assert_eq!(recorded, expected);
}

#[tokio::test(start_paused = true)]
async fn discovery_is_cached_across_calls() {
    let mut script = happy_prefix(3);
    script.push(Answer::Json(200, json!({})));
    script.extend([fence(3, "11"), not_found("deployments", "web")]);
    script.push(Answer::Json(200, json!({})));
    let (site, mock) = mock_site(script);
    assert_eq!(site.apply(&apply_request(3)).await, applied());
    assert_eq!(site.apply(&apply_request(3)).await, applied());
    let discovery = mock
        .lines()
        .iter()
        .filter(|l| *l == "GET /apis/apps/v1")
        .count();
    assert_eq!(discovery, 1, "{:#?}", mock.lines());
    assert_eq!(mock.unanswered(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_conflict_fails_for_good_naming_the_managers() {
    let mut script = happy_prefix(3);
    script.push(Answer::Json(
        409,
        status(
            409,
            "Conflict",
            "Apply failed with 2 conflicts: conflict with \"kubectl-edit\" using apps/v1: .spec.replicas",
            Some(json!({"causes": [
                {"reason": "FieldManagerConflict",
                 "message": "conflict with \"kubectl-edit\" using apps/v1",
                 "field": ".spec.replicas"},
                {"reason": "FieldManagerConflict",
                 "message": "conflict with \"helm\" using apps/v1",
                 "field": ".metadata.labels.app"}]})),
        ),
    ));
    let (site, mock) = mock_site(script);

    let outcome = site.apply(&apply_request(3)).await;

    assert_failed(
        &outcome,
        false,
        &[
            "Deployment moor-prod/web",
            "\"kubectl-edit\" (.spec.replicas)",
            "\"helm\" (.metadata.labels.app)",
            "force: true",
        ],
    );
    assert_eq!(mock.requests().len(), 4, "no retry of a conflict");
}

#[tokio::test(start_paused = true)]
async fn force_true_is_sent_only_when_the_resource_asks() {
    let mut script = happy_prefix(3);
    script.push(Answer::Json(200, json!({})));
    let (site, mock) = mock_site(script);
    let req = ApplyRequest {
        force: true,
        ..apply_request(3)
    };
    assert_eq!(site.apply(&req).await, applied());
    let patch = &mock.requests()[3];
    assert_eq!(patch.method, "PATCH");
    assert_eq!(patch.query.get("force").map(String::as_str), Some("true"));
    assert_eq!(
        patch.query.get("fieldManager").map(String::as_str),
        Some("moor")
    );
}

#[tokio::test(start_paused = true)]
async fn a_lower_token_is_fenced_and_nothing_else_is_sent() {
    let (site, mock) = mock_site(vec![fence(9, "11")]);
    assert_eq!(
        site.apply(&apply_request(3)).await,
        Outcome::Fenced { highest_token: 9 }
    );
    assert_eq!(mock.lines(), [format!("GET {FENCE_PATH}")]);

    let (site, mock) = mock_site(vec![fence(9, "11")]);
    assert_eq!(
        site.delete(&delete_request(3)).await,
        Outcome::Fenced { highest_token: 9 }
    );
    assert_eq!(mock.lines(), [format!("GET {FENCE_PATH}")]);
}

#[tokio::test(start_paused = true)]
async fn a_higher_token_raises_the_fence_by_compare_and_swap_and_rereads_on_conflict() {
    let mut script = vec![
        fence(3, "11"),
        conflict("Operation cannot be fulfilled on configmaps \"moor-fence\": the object has been modified"),
        fence(4, "12"),
        Answer::Json(200, json!({})),
    ];
    script.extend([
        apps_v1(),
        not_found("deployments", "web"),
        Answer::Json(200, json!({})),
    ]);
    let (site, mock) = mock_site(script);

    assert_eq!(site.apply(&apply_request(5)).await, applied());

    let requests = mock.requests();
    assert_eq!(
        mock.lines()[..4],
        [
            format!("GET {FENCE_PATH}"),
            format!("PUT {FENCE_PATH}"),
            format!("GET {FENCE_PATH}"),
            format!("PUT {FENCE_PATH}"),
        ]
    );
    for (put, version) in [(&requests[1], "11"), (&requests[3], "12")] {
        let body = put.body.as_ref().unwrap();
        assert_eq!(body["metadata"]["resourceVersion"], version);
        assert_eq!(body["data"]["highest-token"], "5");
    }
    assert_eq!(mock.lines()[6], format!("PATCH {WEB_PATH}"));
}

#[tokio::test(start_paused = true)]
async fn a_racer_that_raised_the_fence_to_the_same_token_lets_the_call_through() {
    let (site, mock) = mock_site(vec![
        fence(3, "11"),
        Answer::Json(410, status(410, "Gone", "too old resource version", None)),
        fence(5, "13"),
    ]);
    assert_eq!(
        site.advance_fence(5, Duration::from_secs(5)).await,
        Ok(FenceOutcome::Admitted { highest_token: 5 })
    );
    assert_eq!(mock.requests().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_missing_fence_is_created_with_its_namespace() {
    let (site, mock) = mock_site(vec![
        not_found("configmaps", "moor-fence"),
        not_found("namespaces", "moor-system"),
        Answer::Json(201, json!({})),
        not_found("configmaps", "moor-fence"),
        Answer::Json(201, json!({})),
    ]);
    assert_eq!(
        site.advance_fence(4, Duration::from_secs(5)).await,
        Ok(FenceOutcome::Admitted { highest_token: 4 })
    );
    assert_eq!(
        mock.lines(),
        [
            format!("GET {FENCE_PATH}"),
            "POST /api/v1/namespaces/moor-system/configmaps".to_string(),
            "POST /api/v1/namespaces".to_string(),
            format!("GET {FENCE_PATH}"),
            "POST /api/v1/namespaces/moor-system/configmaps".to_string(),
        ]
    );
    let requests = mock.requests();
    assert_eq!(
        requests[2].body.as_ref().unwrap()["metadata"]["name"],
        "moor-system"
    );
    assert_eq!(
        requests[4].body.as_ref().unwrap()["data"]["highest-token"],
        "4"
    );
}

#[tokio::test(start_paused = true)]
async fn an_object_carrying_the_key_is_a_duplicate_and_nothing_is_applied() {
    let (site, mock) = mock_site(vec![
        fence(3, "11"),
        apps_v1(),
        Answer::Json(200, web_live(2, 2, "e1/2", "sha256:recorded")),
    ]);
    assert_eq!(
        site.apply(&apply_request(3)).await,
        Outcome::Duplicate {
            observed_digest: "sha256:recorded".into()
        }
    );
    assert!(mock.requests().iter().all(|r| r.method != "PATCH"));
}

#[tokio::test(start_paused = true)]
async fn an_object_carrying_another_key_is_applied() {
    let mut script = vec![
        fence(3, "11"),
        apps_v1(),
        Answer::Json(200, web_live(1, 1, "e0/2", "sha256:old")),
    ];
    script.push(Answer::Json(200, json!({})));
    let (site, mock) = mock_site(script);
    assert_eq!(site.apply(&apply_request(3)).await, applied());
    assert_eq!(mock.lines()[3], format!("PATCH {WEB_PATH}"));
}

#[tokio::test(start_paused = true)]
async fn server_errors_are_retried_until_the_apply_lands() {
    let mut script = happy_prefix(3);
    script.extend([
        server_error(503),
        server_error(500),
        Answer::Json(200, json!({})),
    ]);
    let (site, mock) = mock_site(script);
    assert_eq!(site.apply(&apply_request(3)).await, applied());
    let patches = mock
        .lines()
        .iter()
        .filter(|l| l.starts_with("PATCH"))
        .count();
    assert_eq!(patches, 3);
}

#[tokio::test(start_paused = true)]
async fn persistent_timeouts_are_a_retryable_unknown_never_fenced_or_duplicate() {
    let mut script = happy_prefix(3);
    script.extend(std::iter::repeat_n(Answer::Hang, 20));
    let (site, mock) = mock_site(script);
    let outcome = site.apply(&apply_request(3)).await;
    assert_failed(
        &outcome,
        true,
        &["outcome unknown", "PATCH", "no answer within"],
    );
    let patches = mock
        .lines()
        .iter()
        .filter(|l| l.starts_with("PATCH"))
        .count();
    assert!(patches >= 2, "retried: {patches}");

    // A fence read that never answers is just as unknown: not fenced.
    let (site, _) = mock_site(std::iter::repeat_n(Answer::Hang, 20).collect());
    assert_failed(
        &site.apply(&apply_request(3)).await,
        true,
        &["outcome unknown"],
    );

    // So is a dedupe read.
    let mut script = vec![fence(3, "11"), apps_v1()];
    script.extend(std::iter::repeat_n(server_error(503), 20));
    let (site, _) = mock_site(script);
    assert_failed(
        &site.apply(&apply_request(3)).await,
        true,
        &["outcome unknown", "GET", "503"],
    );
}

#[tokio::test(start_paused = true)]
async fn persistent_server_errors_stop_within_the_deadline() {
    let mut script = happy_prefix(3);
    script.extend(std::iter::repeat_n(server_error(503), 50));
    let (site, mock) = mock_site(script);
    let started = tokio::time::Instant::now();
    let outcome = site.apply(&apply_request(3)).await;
    assert_failed(
        &outcome,
        true,
        &["outcome unknown", "HTTP 503", "etcd leader changed"],
    );
    assert!(started.elapsed() <= Duration::from_secs(5));
    let patches = mock
        .lines()
        .iter()
        .filter(|l| l.starts_with("PATCH"))
        .count();
    assert_eq!(patches, 8, "the policy's max_attempts");
}

#[tokio::test(start_paused = true)]
async fn invalid_manifests_fail_with_the_reason_before_any_request() {
    let cases = [
        (json!("kind: Deployment"), "found a string"),
        (
            json!({"apiVersion": "apps/v1", "metadata": {"name": "w"}}),
            "no kind",
        ),
        (
            json!({"kind": "Deployment", "metadata": {"name": "w"}}),
            "no apiVersion",
        ),
        (
            json!({"apiVersion": "apps/v1", "kind": "Deployment"}),
            "no metadata.name",
        ),
        (
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a/../b"}}),
            "metadata.name",
        ),
    ];
    for (manifest, reason) in cases {
        let (site, mock) = mock_site(vec![]);
        let req = ApplyRequest {
            manifest,
            ..apply_request(3)
        };
        assert_failed(&site.apply(&req).await, false, &[reason]);
        assert!(mock.requests().is_empty(), "{reason}: {:?}", mock.lines());
    }
    let (site, mock) = mock_site(vec![]);
    let req = ApplyRequest {
        environment: "Prod Env".into(),
        ..apply_request(3)
    };
    assert_failed(
        &site.apply(&req).await,
        false,
        &["environment \"Prod Env\""],
    );
    assert!(mock.requests().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_missing_environment_namespace_is_created_and_the_apply_repeated() {
    let mut script = happy_prefix(3);
    script.extend([
        not_found("namespaces", "moor-prod"),
        Answer::Json(201, json!({})),
        Answer::Json(200, json!({})),
    ]);
    let (site, mock) = mock_site(script);
    assert_eq!(site.apply(&apply_request(3)).await, applied());
    assert_eq!(
        mock.lines()[3..],
        [
            format!("PATCH {WEB_PATH}"),
            "POST /api/v1/namespaces".to_string(),
            format!("PATCH {WEB_PATH}"),
        ]
    );
    assert_eq!(
        mock.requests()[4].body.as_ref().unwrap()["metadata"]["name"],
        "moor-prod"
    );
}

#[tokio::test(start_paused = true)]
async fn delete_is_foreground_and_preconditioned_on_the_uid() {
    let (site, mock) = mock_site(vec![
        fence(3, "11"),
        apps_v1(),
        Answer::Json(200, web_live(2, 2, "e1/2", "sha256:want")),
        Answer::Json(200, json!({"kind": "Status", "status": "Success"})),
    ]);
    assert_eq!(
        site.delete(&delete_request(3)).await,
        Outcome::Applied {
            observed_digest: String::new()
        }
    );
    let delete = &mock.requests()[3];
    assert_eq!(delete.line(), format!("DELETE {WEB_PATH}"));
    assert_eq!(
        delete.query.get("propagationPolicy").map(String::as_str),
        Some("Foreground")
    );
    assert_eq!(
        delete.body.as_ref().unwrap()["preconditions"]["uid"],
        "uid-1"
    );
}

#[tokio::test(start_paused = true)]
async fn delete_of_a_missing_object_is_success() {
    // Already gone when read: no DELETE at all.
    let (site, mock) = mock_site(vec![
        fence(3, "11"),
        apps_v1(),
        not_found("deployments", "web"),
    ]);
    let gone = Outcome::Applied {
        observed_digest: String::new(),
    };
    assert_eq!(site.delete(&delete_request(3)).await, gone);
    assert_eq!(mock.requests().len(), 3);

    // Gone between the read and the DELETE: 404 is success too.
    let (site, mock) = mock_site(vec![
        fence(3, "11"),
        apps_v1(),
        Answer::Json(200, web_live(2, 2, "e1/2", "sha256:want")),
        not_found("deployments", "web"),
    ]);
    assert_eq!(site.delete(&delete_request(3)).await, gone);
    assert_eq!(mock.lines()[3], format!("DELETE {WEB_PATH}"));
}

#[tokio::test(start_paused = true)]
async fn delete_leaves_an_object_moor_does_not_manage() {
    let mut foreign = web_live(2, 2, "e1/2", "sha256:want");
    foreign["metadata"]["labels"] = json!({"app": "web"});
    let (site, mock) = mock_site(vec![fence(3, "11"), apps_v1(), Answer::Json(200, foreign)]);
    assert_failed(
        &site.delete(&delete_request(3)).await,
        false,
        &["not deleting it"],
    );
    assert!(mock.requests().iter().all(|r| r.method != "DELETE"));
}

fn observe_request() -> ObserveRequest {
    ObserveRequest {
        environment: "prod".into(),
        extra_kinds: vec![],
        timeout: Duration::from_secs(5),
    }
}

fn list_of(items: Vec<Value>) -> Answer {
    Answer::Json(
        200,
        json!({"kind": "DeploymentList", "apiVersion": "apps/v1",
                             "metadata": {"resourceVersion": "50"}, "items": items}),
    )
}

#[tokio::test(start_paused = true)]
async fn observe_in_sync_reports_the_desired_digest() {
    let live = web_live(2, 2, "e1/2", "sha256:want");
    let mut dry_run = live.clone();
    dry_run["metadata"]["managedFields"][0]["time"] = json!("t1");
    let (site, mock) = mock_site(vec![
        apps_v1(),
        list_of(vec![live.clone()]),
        Answer::Json(200, dry_run),
    ]);

    let observed = site.observe(&observe_request()).await.unwrap();

    let web = &observed["web"];
    assert!(web.in_sync, "{web:?}");
    assert_eq!(web.digest, "sha256:want");
    assert_eq!(web.object, "Deployment moor-prod/web");
    assert!(web.drift.is_empty());
    let requests = mock.requests();
    assert_eq!(requests[1].line(), "GET /apis/apps/v1/deployments");
    assert_eq!(
        requests[1].query.get("labelSelector").map(String::as_str),
        Some("app.kubernetes.io/managed-by=moor,moor.dev/environment=prod")
    );
    let dry = &requests[2];
    assert_eq!(dry.line(), format!("PATCH {WEB_PATH}"));
    assert_eq!(dry.content_type.as_deref(), Some(APPLY_PATCH));
    assert_eq!(dry.query.get("dryRun").map(String::as_str), Some("All"));
    assert_eq!(dry.query.get("force").map(String::as_str), Some("true"));
    assert_eq!(
        dry.query.get("fieldManager").map(String::as_str),
        Some("moor")
    );
    // The dry run re-applies exactly what was applied: the recorded manifest with the same
    // labels and annotations.
    let body = dry.body.as_ref().unwrap();
    assert_eq!(body["spec"]["replicas"], 2);
    assert_eq!(body["metadata"]["labels"], live["metadata"]["labels"]);
    assert_eq!(
        body["metadata"]["annotations"],
        live["metadata"]["annotations"]
    );
}

#[tokio::test(start_paused = true)]
async fn observe_reports_drift_field_by_field() {
    // Someone scaled web to 5; re-applying the recorded manifest would set it back to 2.
    let live = web_live(2, 5, "e1/2", "sha256:want");
    let mut dry_run = live.clone();
    dry_run["spec"]["replicas"] = json!(2);
    dry_run["metadata"]["generation"] = json!(4);
    let (site, _) = mock_site(vec![
        apps_v1(),
        list_of(vec![live]),
        Answer::Json(200, dry_run),
    ]);

    let observed = site.observe(&observe_request()).await.unwrap();

    let web = &observed["web"];
    assert!(!web.in_sync);
    assert!(
        web.digest.starts_with(DRIFT_DIGEST_PREFIX),
        "{}",
        web.digest
    );
    assert_eq!(web.drift.len(), 1, "{:?}", web.drift);
    assert_eq!(web.drift[0].pointer, "/spec/replicas");
    assert_eq!(web.drift[0].desired, Some(json!(2)));
    assert_eq!(web.drift[0].live, Some(json!(5)));
    // The live object in the manifest's shape: what a diff against the manifest needs.
    assert_eq!(web.live["spec"]["replicas"], 5);
    assert_eq!(web.live["metadata"]["namespace"], "moor-prod");
    assert!(web.live["metadata"].get("uid").is_none());
    assert!(web.live.get("status").is_none());
}

#[tokio::test(start_paused = true)]
async fn observe_lists_the_types_this_site_applied_and_the_ones_asked_for() {
    let mut script = happy_prefix(3);
    script.push(Answer::Json(200, json!({})));
    // observe: Deployment (settings), StatefulSet (asked for), both from the cached apps/v1.
    script.extend([list_of(vec![]), list_of(vec![])]);
    let (site, mock) = mock_site(script);
    assert_eq!(site.apply(&apply_request(3)).await, applied());
    let req = ObserveRequest {
        extra_kinds: vec![moor_kube::TypeRef::new("apps/v1", "StatefulSet")],
        ..observe_request()
    };
    assert!(site.observe(&req).await.unwrap().is_empty());
    assert_eq!(
        mock.lines()[4..],
        [
            "GET /apis/apps/v1/deployments".to_string(),
            "GET /apis/apps/v1/statefulsets".to_string(),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn observe_fails_as_a_whole_when_the_cluster_does_not_answer() {
    let mut script = vec![apps_v1()];
    script.extend(std::iter::repeat_n(Answer::Hang, 20));
    let (site, _) = mock_site(script);
    let failure = site.observe(&observe_request()).await.unwrap_err();
    assert!(failure.retryable);
    assert!(
        failure.error.contains("outcome unknown"),
        "{}",
        failure.error
    );
}

#[tokio::test(start_paused = true)]
async fn a_caller_that_fences_itself_never_touches_the_fence_object() {
    let mock = Mock::new(vec![
        apps_v1(),
        not_found("deployments", "web"),
        Answer::Json(200, json!({})),
    ]);
    let settings = moor_kube::Settings {
        fencing: moor_kube::Fencing::Caller,
        ..settings()
    };
    let site = moor_kube::KubeSite::from_client(mock.client(), settings).unwrap();
    // A token the fence object might refuse: the caller already decided.
    assert_eq!(site.apply(&apply_request(1)).await, applied());
    assert_eq!(
        mock.lines(),
        [
            "GET /apis/apps/v1".to_string(),
            format!("GET {WEB_PATH}"),
            format!("PATCH {WEB_PATH}"),
        ]
    );
}
