//! The Raft layer of a member: openraft's types ([`types`]), the running member and its one
//! path to the leader ([`member`]), leader-side batching of writes ([`proposer`]) and of
//! read confirmations ([`read_index`]), Raft traffic between members ([`network`] out,
//! [`peer_service`] in; [`identity`]: the cluster identity they carry; [`removal`]: a removed member stops serving), and the adapter that lets the RocksDB store drive the pure domain
//! state ([`state_machine`]).

pub mod features;
pub mod forwarder;
pub mod identity;
pub mod member;
pub mod network;
pub mod peer_service;
pub mod proposer;
pub mod read_index;
pub mod removal;
pub mod state_machine;
pub mod types;
