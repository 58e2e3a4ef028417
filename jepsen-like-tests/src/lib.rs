//! Moor's system-level test kit: a harness that runs real `moord` processes and talks to them
//! only over the network, shared by the integration tests, the fault-injection suite and the
//! `moor-bench` program.

pub mod agent_proc;
pub mod backend;
pub mod bench;
pub mod checkers;
pub mod docker;
pub mod docker_backend;
pub mod fleet;
pub mod git_repo;
pub mod harness;
pub mod history;
pub mod nemesis;
pub mod netns;
pub mod report;
pub mod runner;
pub mod security;
pub mod ui_session;
pub mod webhook;
pub mod workload;
