//! `moor-fuzz`: fuzzing on the stable toolchain.
//!
//! Every parser and decoder that takes input from outside a member — blueprint YAML, site
//! and group definitions, wave specifications, durations, template references, webhook
//! payloads, every gRPC message — and the replicated apply, which must never panic, are
//! driven with generated inputs for a fixed time. No nightly compiler and no sanitizer
//! runtime: inputs come from a seeded generator (`rand`) and, for structured targets, from
//! `arbitrary`'s `Unstructured` over bytes, so every input is a byte string that a crash
//! file holds and `--replay` runs again.
//!
//! - [`engine`]: the loop (budget, input strategies, the pool of accepted inputs, panics
//!   caught, deduplicated and written out);
//! - [`mutate`]: byte-level mutations; [`msgpack`]: structure-aware mutation of log
//!   payloads; [`pick`]: choosing values from input bytes;
//! - [`golden`]: the domain's golden log and snapshot, the real payloads mutation starts from;
//! - [`targets`]: one file per target.
//!
//! `make fuzz` runs every target; `docs/RELIABILITY.md` records the long runs.

pub mod engine;
pub mod golden;
pub mod msgpack;
pub mod mutate;
pub mod pick;
pub mod targets;
