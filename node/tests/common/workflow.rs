//! Workflow commands written through an in-process member, as the executor tests need them.

use moor_domain::blueprint;
use moor_domain::command::{Command, CommandResult};
use moor_domain::execution::RetryPolicy;
use moor_domain::site::{Driver, Site};
use moor_domain::workflow::{WorkflowCommand, WorkflowResult};
use moor_node::raft::member::Member;

/// Writes `command` (a single member elects itself; the write waits through the election)
/// and hands back its workflow result.
pub async fn write(member: &Member, command: WorkflowCommand) -> WorkflowResult {
    match member.write(Command::Workflow(command)).await.unwrap().1 {
        CommandResult::Workflow(r) => r,
        other => panic!("not a workflow result: {other:?}"),
    }
}

/// A site of the site protocol whose endpoint nothing serves (the test's driver plays it).
pub fn site_named(name: &str) -> Site {
    Site {
        name: name.into(),
        region: "eu".into(),
        latitude: 1.0,
        longitude: 2.0,
        labels: Default::default(),
        driver: Driver::Agent {
            endpoint: "127.0.0.1:9".into(),
        },
    }
}

/// Blueprint `app` from `yaml`, site `s1` and environment `e1` of it on s1: the install's
/// execution id.
pub async fn install(member: &Member, yaml: &str, retry: RetryPolicy) -> String {
    let spec = blueprint::parse("app.yaml", yaml).unwrap();
    write(
        member,
        WorkflowCommand::PutBlueprint {
            spec,
            source: yaml.into(),
            now_ms: 1,
        },
    )
    .await;
    write(
        member,
        WorkflowCommand::PutSite {
            site: site_named("s1"),
            now_ms: 1,
        },
    )
    .await;
    let created = write(
        member,
        WorkflowCommand::CreateEnvironment {
            name: "e1".into(),
            site: "s1".into(),
            blueprint: "app".into(),
            revision: None,
            inputs: Default::default(),
            labels: Default::default(),
            retry,
            now_ms: 2,
            drift: None,
        },
    )
    .await;
    let WorkflowResult::Execution { id, .. } = created else {
        panic!("{created:?}")
    };
    id
}
