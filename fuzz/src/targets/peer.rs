//! `peer`: what one member decodes from another's `RaftPeer` calls (the `data` of a
//! `RaftPayload`, a version byte and MessagePack): openraft's append-entries, vote and
//! install-snapshot requests, a forwarded `LeaderRequest`, the reply to a forward, and the
//! writes of a `ForwardWrites` call and its replies.
//!
//! An input is a selector byte (which of the seven) and the payload. Seeds are real requests
//! built from the golden log (entries carrying its commands, membership entries, a snapshot
//! chunk); the generator mutates them as MessagePack trees ([`crate::msgpack`]).
//!
//! Checked: decoding refuses instead of panicking; whatever decodes encodes again, and that
//! encoding decodes and re-encodes to the same bytes.

use std::collections::{BTreeMap, BTreeSet};

use moor_domain::codec;
use moor_domain::command::CommandResult;
use moor_node::errors::ApiError;
use moor_node::raft::forwarder::{ForwardedReplies, ForwardedWrites};
use moor_node::raft::member::{LeaderReply, LeaderRequest};
use moor_node::raft::types::{MemberId, TypeConfig};
use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use openraft::{
    BasicNode, CommittedLeaderId, Entry, EntryPayload, LogId, Membership, SnapshotMeta,
    StoredMembership, Vote,
};
use rand::rngs::SmallRng;
use rand::Rng;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::engine::{Pool, Target};
use crate::golden::golden;
use crate::msgpack;

pub const TARGET: Target = Target {
    name: "peer",
    about:
        "Raft peer payloads: append-entries, vote, install-snapshot, forwarded requests and replies, forwarded write batches and their replies",
    seeds,
    generate,
    run,
};

/// The payloads a member decodes, by selector.
const KINDS: u8 = 7;

fn check<T: Serialize + DeserializeOwned>(payload: &[u8]) -> bool {
    let Ok(value) = codec::decode::<T>("peer payload", payload) else {
        return false;
    };
    let once = codec::encode("peer payload", &value)
        .unwrap_or_else(|e| panic!("a decoded payload does not encode: {e}"));
    let back: T = codec::decode("peer payload", &once)
        .unwrap_or_else(|e| panic!("a re-encoded payload does not decode: {e}"));
    let twice = codec::encode("peer payload", &back).unwrap_or_else(|e| panic!("encodes: {e}"));
    assert!(
        once == twice,
        "a peer payload changed through encode and decode"
    );
    true
}

fn run(input: &[u8]) -> bool {
    let Some((&selector, payload)) = input.split_first() else {
        return false;
    };
    match selector % KINDS {
        0 => check::<AppendEntriesRequest<TypeConfig>>(payload),
        1 => check::<VoteRequest<MemberId>>(payload),
        2 => check::<InstallSnapshotRequest<TypeConfig>>(payload),
        3 => check::<LeaderRequest>(payload),
        4 => check::<Result<LeaderReply, ApiError>>(payload),
        5 => check::<ForwardedWrites>(payload) && forwarded_writes(payload),
        _ => check::<ForwardedReplies>(payload),
    }
}

/// What the leader does with each write of a batch that decodes: decode it on its own.
fn forwarded_writes(payload: &[u8]) -> bool {
    let Ok(ForwardedWrites(writes)) = codec::decode::<ForwardedWrites>("peer payload", payload)
    else {
        return false;
    };
    for w in &writes {
        check::<LeaderRequest>(w);
    }
    true
}

fn log_id(term: u64, index: u64) -> LogId<MemberId> {
    LogId::new(CommittedLeaderId::new(term, 1), index)
}

fn membership() -> Membership<MemberId, BasicNode> {
    let nodes: BTreeMap<MemberId, BasicNode> = (1..=3)
        .map(|id| (id, BasicNode::new(format!("127.0.0.1:740{id}"))))
        .collect();
    Membership::new(vec![BTreeSet::from([1, 2, 3])], nodes)
}

fn seed<T: Serialize>(selector: u8, value: &T) -> Option<Vec<u8>> {
    let mut out = vec![selector];
    out.extend(codec::encode("peer payload", value).ok()?);
    Some(out)
}

fn seeds() -> Vec<Vec<u8>> {
    let g = golden();
    let vote = Vote::new_committed(3, 1);
    let mut seeds = Vec::new();
    for chunk in g.entries.chunks(50).take(6) {
        let mut entries: Vec<Entry<TypeConfig>> = chunk
            .iter()
            .take(3)
            .map(|(index, term, command)| Entry {
                log_id: log_id(*term, *index),
                payload: EntryPayload::Normal(command.clone()),
            })
            .collect();
        let last = entries.last().map_or(log_id(1, 1), |e| e.log_id);
        entries.push(Entry {
            log_id: log_id(last.leader_id.term, last.index + 1),
            payload: EntryPayload::Membership(membership()),
        });
        entries.push(Entry {
            log_id: log_id(last.leader_id.term, last.index + 2),
            payload: EntryPayload::Blank,
        });
        let request = AppendEntriesRequest::<TypeConfig> {
            vote,
            prev_log_id: Some(log_id(1, 1)),
            entries,
            leader_commit: Some(last),
        };
        seeds.extend(seed(0, &request));
        if let Some((_, _, command)) = chunk.first() {
            seeds.extend(seed(3, &LeaderRequest::Write(Box::new(command.clone()))));
        }
    }
    seeds.extend(seed(
        1,
        &VoteRequest::new(Vote::new(4, 2), Some(log_id(3, 600))),
    ));
    seeds.extend(seed(
        2,
        &InstallSnapshotRequest::<TypeConfig> {
            vote,
            meta: SnapshotMeta {
                last_log_id: Some(log_id(3, 600)),
                last_membership: StoredMembership::new(Some(log_id(1, 1)), membership()),
                snapshot_id: "3-600-1".into(),
            },
            offset: 0,
            data: g.snapshot.iter().copied().take(2048).collect(),
            done: false,
        },
    ));
    for request in [
        LeaderRequest::ReadIndex,
        LeaderRequest::AddLearner {
            id: 4,
            addr: "127.0.0.1:7404".into(),
            wait: true,
        },
        LeaderRequest::Promote { id: 4 },
        LeaderRequest::Remove { id: 2 },
    ] {
        seeds.extend(seed(3, &request));
    }
    let replies: [Result<LeaderReply, ApiError>; 3] = [
        Ok(LeaderReply::Written {
            log_index: 601,
            result: CommandResult::Empty,
        }),
        Ok(LeaderReply::ReadIndex { index: 600 }),
        Err(ApiError::invalid("waves", "wave \"0\" is empty")),
    ];
    for reply in &replies {
        seeds.extend(seed(4, reply));
    }
    let writes: Vec<serde_bytes::ByteBuf> = g
        .entries
        .iter()
        .take(3)
        .filter_map(|(_, _, command)| {
            codec::encode(
                "peer payload",
                &LeaderRequest::Write(Box::new(command.clone())),
            )
            .ok()
        })
        .map(serde_bytes::ByteBuf::from)
        .collect();
    seeds.extend(seed(5, &ForwardedWrites(writes)));
    seeds.extend(seed(6, &replies.to_vec()));
    seeds
}

fn generate(rng: &mut SmallRng, pool: &Pool) -> Vec<u8> {
    let input = pool.pick(rng);
    let Some((&selector, payload)) = input.split_first() else {
        return vec![rng.random_range(0..KINDS)];
    };
    let Some(mut tree) = msgpack::read(payload) else {
        return input.to_vec();
    };
    msgpack::mutate(rng, &mut tree, &golden().dictionary);
    let mut out = vec![selector];
    out.extend(msgpack::write(&tree));
    out
}
