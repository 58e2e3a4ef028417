//! Where a member's memory goes: the heap of a decoded Moor state, by part.
//!
//! Reads a backup file (`moorctl cluster snapshot save`, or the one `moor-bench backup`
//! writes), decodes its state as a member does at restore, and prints the bytes the state
//! holds on the heap, then, part by part, what dropping that part frees (bytes, allocations,
//! bytes per environment), and the most the heap held while decoding. Counted by a global
//! allocator that tracks the bytes requested: the allocator's own overhead per allocation
//! (about 16 B with glibc) comes on top. Properties are shared across steps and applied
//! resources (`moor_domain::properties`): a part's figure is what dropping it frees, so
//! properties still held by a later part count there.
//!
//!     cargo run --release -p moor-jepsen-like-tests --example state_heap -- FILE.backup

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use anyhow::{Context, Result};
use moor_domain::atom::Atom;
use moor_domain::properties::Properties;
use moor_domain::state::MoorState;

/// The system allocator, counting live bytes and allocations.
struct Counting;

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);
static LIVE_ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static PEAK_BYTES: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = LIVE_BYTES.fetch_add(by, Relaxed) + by;
    PEAK_BYTES.fetch_max(now, Relaxed);
}

// SAFETY: every call is forwarded unchanged to the system allocator; only counters change.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        LIVE_ALLOCATIONS.fetch_add(1, Relaxed);
        // SAFETY: the caller upholds `alloc`'s contract, which is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size(), Relaxed);
        LIVE_ALLOCATIONS.fetch_sub(1, Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        grew(new_size);
        LIVE_BYTES.fetch_sub(layout.size(), Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> (usize, usize) {
    (LIVE_BYTES.load(Relaxed), LIVE_ALLOCATIONS.load(Relaxed))
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

type Part = (&'static str, fn(&mut MoorState));

/// Dropped in this order: a part's own fields before the map that holds it.
const PARTS: &[Part] = &[
    ("executions: step properties", |s| {
        for e in s.workflow.executions.values_mut() {
            for step in &mut e.steps {
                step.properties = Properties::default();
            }
        }
    }),
    ("executions: step attempt history", |s| {
        for e in s.workflow.executions.values_mut() {
            for step in &mut e.steps {
                step.attempts = Vec::new();
            }
        }
    }),
    ("executions: step names, digests, errors", |s| {
        for e in s.workflow.executions.values_mut() {
            for step in &mut e.steps {
                step.resource = Atom::default();
                step.resource_type = Atom::default();
                step.desired_digest = Atom::default();
                step.observed_digest = Atom::default();
                step.depends_on = Vec::new();
                step.last_error = None;
            }
        }
    }),
    ("executions: the rest (ids, steps, map)", |s| {
        s.workflow.executions.clear();
        s.workflow.running.clear();
    }),
    ("environments: applied properties", |s| {
        for e in s.workflow.environments.values_mut() {
            for (_, a) in e.applied.iter_mut() {
                a.properties = Properties::default();
            }
        }
    }),
    ("environments: applied (names, digests)", |s| {
        for e in s.workflow.environments.values_mut() {
            e.applied.clear();
        }
    }),
    ("environments: observed", |s| {
        for e in s.workflow.environments.values_mut() {
            e.observed.clear();
        }
    }),
    ("environments: labels", |s| {
        for e in s.workflow.environments.values_mut() {
            e.labels.clear();
        }
    }),
    ("environments: inputs and history", |s| {
        for e in s.workflow.environments.values_mut() {
            e.inputs.clear();
            e.history = Vec::new();
        }
    }),
    ("environments: the rest (names, map)", |s| {
        s.workflow.environments.clear();
        // The derived index of executions by environment.
        s.workflow.reindex();
    }),
    ("sites", |s| s.workflow.sites.clear()),
    ("groups and rollouts", |s| {
        s.workflow.rollouts = Default::default()
    }),
    ("everything else", |s| *s = MoorState::default()),
];

fn main() -> Result<()> {
    let path = std::env::args().nth(1).context(
        "usage: state_heap FILE.backup (a backup written by `moorctl cluster snapshot save`)",
    )?;
    let file = std::fs::read(&path).with_context(|| format!("reading {path}"))?;
    let backup = moor_proto::backup::parse(&file).context("the file is not a valid backup")?;
    let encoding = backup.state.to_vec();
    drop(file);
    let before = live();
    PEAK_BYTES.store(before.0, Relaxed);
    let mut state = MoorState::decode(&encoding).context("decoding the state")?;
    let decoded = live();
    let environments = state.workflow.environments.len().max(1);
    println!(
        "{path}: state encoding {:.1} MiB; decoded {:.1} MiB in {} allocations ({:.0} B per environment), at most {:.1} MiB while decoding; {} environments, {} executions, {} sites",
        mib(encoding.len()),
        mib(decoded.0 - before.0),
        decoded.1 - before.1,
        (decoded.0 - before.0) as f64 / environments as f64,
        mib(PEAK_BYTES.load(Relaxed) - before.0),
        state.workflow.environments.len(),
        state.workflow.executions.len(),
        state.workflow.sites.len(),
    );
    drop(encoding);
    println!(
        "{:<42} {:>10} {:>12} {:>8}",
        "part", "MiB", "allocations", "B/env"
    );
    for (name, drop_part) in PARTS {
        let (bytes, allocations) = live();
        drop_part(&mut state);
        let (after_bytes, after_allocations) = live();
        let freed = bytes.saturating_sub(after_bytes);
        println!(
            "{name:<42} {:>10.1} {:>12} {:>8.0}",
            mib(freed),
            allocations.saturating_sub(after_allocations),
            freed as f64 / environments as f64
        );
    }
    Ok(())
}
