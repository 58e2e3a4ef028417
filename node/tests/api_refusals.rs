//! Refusals that fit on the wire (issue 10, item 5): a blueprint with thousands of problems
//! and a YAML alias bomb, sent over real gRPC to an in-process member. The refused apply
//! must arrive as INVALID_ARGUMENT with a bounded message (not a transport error, which a
//! client would have to treat as "outcome unknown"), and `validate_only` must return every
//! problem in the response body.

use std::sync::Arc;

use moor_node::exec::agent::AgentDriver;
use moor_proto::workflow::workflow_api_client::WorkflowApiClient;
use moor_proto::workflow::ApplyBlueprintRequest;
use prost::Message;
use tonic::Code;

mod common;

/// 3,000 resources of unknown types: about 118 KB of YAML.
fn unknown_types() -> String {
    let mut y = String::from("name: many\nresources:\n");
    for i in 0..3000 {
        y.push_str(&format!("  - name: r{i}\n    type: nope{i}\n"));
    }
    y
}

/// A small alias bomb: 40 levels, each doubling the last.
fn alias_bomb() -> String {
    let mut y = String::from("a0: &a0 [x, x]\n");
    for i in 1..40 {
        y.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}]\n", p = i - 1));
    }
    y.push_str("name: bomb\nresources: *a39\n");
    y
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_refusals_arrive_as_refusals_and_validation_lists_every_problem() {
    let s = common::start(Arc::new(AgentDriver::default())).await;
    let mut client = WorkflowApiClient::connect(format!("http://{}", s.addr))
        .await
        .unwrap();
    for (what, yaml) in [
        ("unknown types", unknown_types()),
        ("alias bomb", alias_bomb()),
    ] {
        let refused = client
            .apply_blueprint(ApplyBlueprintRequest {
                source_name: "bp.yaml".into(),
                yaml: yaml.clone(),
                validate_only: false,
            })
            .await
            .expect_err(what);
        assert_eq!(refused.code(), Code::InvalidArgument, "{what}: {refused:?}");
        let m = refused.message();
        assert!(m.len() <= 4096, "{what}: {} bytes", m.len());
        assert!(
            m.starts_with("blueprint bp.yaml is not valid"),
            "{what}: {m}"
        );
        assert!(
            m.contains("moorctl blueprint validate bp.yaml"),
            "{what}: {m}"
        );

        let checked = client
            .apply_blueprint(ApplyBlueprintRequest {
                source_name: "bp.yaml".into(),
                yaml,
                validate_only: true,
            })
            .await
            .unwrap_or_else(|e| panic!("{what}: validate_only answered {e:?}"))
            .into_inner();
        assert_eq!(checked.revision, 0, "{what}: nothing is written");
        assert!(
            checked.problems.len() > 20,
            "{what}: the body lists more than the status message can: {}",
            checked.problems.len()
        );
        assert!(checked.problems.len() <= 101, "{what}");
        assert!(
            checked.encoded_len() < 256 * 1024,
            "{what}: {} bytes",
            checked.encoded_len()
        );
    }
    // Nothing was written by either kind of request.
    let listed = client
        .list_blueprints(moor_proto::workflow::ListBlueprintsRequest { stale: true })
        .await
        .unwrap()
        .into_inner();
    assert!(listed.blueprints.is_empty(), "{listed:?}");
    s.shut_down().await;
}
