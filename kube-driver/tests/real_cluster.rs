//! Against a real cluster, only when `MOOR_TEST_KUBECONFIG` names a kubeconfig (optionally
//! `MOOR_TEST_KUBE_CONTEXT` a context). It applies a ConfigMap in environment
//! `kube-test-<pid>` (namespace `moor-kube-test-<pid>`), sees the re-dispatch answered as a
//! duplicate, observes it in sync, deletes it twice, and checks a lower token is fenced.
//! It uses its own fence object (`moor-fence-test-<pid>`), so it never disturbs the real
//! one; the namespaces it creates are left for the cluster's owner to remove.

use std::time::Duration;

use moor_kube::{
    ApplyRequest, DeleteRequest, IdempotencyKey, KubeSite, ObserveRequest, Outcome, Settings,
    Source, TypeRef,
};
use serde_json::json;

#[tokio::test]
async fn apply_observe_delete_on_a_real_cluster() {
    let Ok(path) = std::env::var("MOOR_TEST_KUBECONFIG") else {
        eprintln!(
            "skipped: MOOR_TEST_KUBECONFIG is not set (set it to a kubeconfig file to run this \
             test against a real cluster)"
        );
        return;
    };
    let pid = std::process::id();
    let environment = format!("kube-test-{pid}");
    let source = Source::Kubeconfig {
        path: path.into(),
        context: std::env::var("MOOR_TEST_KUBE_CONTEXT").ok(),
    };
    let settings = Settings {
        fence_name: format!("moor-fence-test-{pid}"),
        observe_kinds: vec![TypeRef::new("v1", "ConfigMap")],
        ..Settings::default()
    };
    let site = KubeSite::connect(&source, settings).await.unwrap();
    let manifest = json!({"apiVersion": "v1", "kind": "ConfigMap",
                          "metadata": {"name": "settings"}, "data": {"colour": "blue"}});
    let key = IdempotencyKey {
        execution_id: format!("real-{pid}"),
        step: 0,
    };
    let apply = ApplyRequest {
        environment: environment.clone(),
        resource: "settings".into(),
        manifest: manifest.clone(),
        key: key.clone(),
        attempt: 1,
        fence_token: 2,
        desired_digest: "sha256:real".into(),
        force: false,
        timeout: Duration::from_secs(30),
    };
    let applied = Outcome::Applied {
        observed_digest: "sha256:real".into(),
    };
    assert_eq!(site.apply(&apply).await, applied);
    assert_eq!(
        site.apply(&apply).await,
        Outcome::Duplicate {
            observed_digest: "sha256:real".into()
        }
    );

    let observed = site
        .observe(&ObserveRequest {
            environment: environment.clone(),
            extra_kinds: vec![],
            timeout: Duration::from_secs(30),
        })
        .await
        .unwrap();
    assert!(observed["settings"].in_sync, "{:?}", observed["settings"]);
    assert_eq!(observed["settings"].digest, "sha256:real");

    let lower = ApplyRequest {
        fence_token: 1,
        ..apply.clone()
    };
    assert_eq!(
        site.apply(&lower).await,
        Outcome::Fenced { highest_token: 2 }
    );

    let delete = DeleteRequest {
        environment,
        resource: "settings".into(),
        manifest,
        key: IdempotencyKey { step: 1, ..key },
        attempt: 1,
        fence_token: 2,
        timeout: Duration::from_secs(30),
    };
    let gone = Outcome::Applied {
        observed_digest: String::new(),
    };
    assert_eq!(site.delete(&delete).await, gone);
    assert_eq!(site.delete(&delete).await, gone);
}
