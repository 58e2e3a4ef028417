//! Linearizable reads on the leader (issue 15, P8): one leadership confirmation round serves
//! every read waiting when it starts, and every read sees the writes acknowledged before it.

use std::sync::Arc;

use moor_domain::command::Command;
use moor_domain::kv::KvCommand;
use moor_node::exec::agent::AgentDriver;

mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reads_share_rounds_and_see_every_acknowledged_write() {
    let s = common::start(Arc::new(AgentDriver::default())).await;
    let member = s.member().clone();
    let (written, _) = member
        .write(Command::Kv(KvCommand::Put {
            key: "k".into(),
            value: b"v".to_vec(),
        }))
        .await
        .unwrap();
    let before = member.read_rounds();
    let reads: Vec<_> = (0..512)
        .map(|_| {
            let m = member.clone();
            tokio::spawn(async move { m.read_barrier().await })
        })
        .collect();
    for r in reads {
        let applied = r
            .await
            .unwrap()
            .expect("a read on a healthy member never fails");
        assert!(
            applied >= written,
            "read at {applied} misses write {written}"
        );
    }
    let rounds = member.read_rounds() - before;
    assert!(
        (1..512).contains(&rounds),
        "512 concurrent reads ran {rounds} confirmation rounds"
    );
    assert_eq!(
        member
            .state
            .read()
            .unwrap()
            .kv
            .get("k")
            .map(|e| e.value.clone()),
        Some(b"v".to_vec())
    );
    s.shut_down().await;
}
