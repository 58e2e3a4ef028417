//! Per-key linearizability of a register history (GUIDE.md §5, layer 4).
//!
//! Each key is checked on its own (linearizability is compositional) with the Wing–Gong–Lowe
//! search: walk the history's call/return events in time order, try to linearize each pending
//! call against a sequential register, backtrack when a return is reached for an op that could
//! not be placed. The search memoises every (set of linearized ops, register value) it has
//! reached — Lowe's "just-in-time linearizability" cache, as in Horn & Kroening and
//! porcupine — so a configuration is never explored twice.
//!
//! The register model: the initial value is "absent" (reads return null); `Write(v)` sets v;
//! `Cas(from → to)` sets `to` iff the value is `from`; `Read` returns the value.
//!
//! How outcomes enter the search:
//! - `Ok` ops must be linearized between their invocation and their completion. An Ok read
//!   constrains the value; an Ok CAS must have matched.
//! - `Fail` ops definitely had no effect and are dropped — including a CAS the node answered
//!   with "mismatch", which the workload records as Fail.
//! - Unknown writes and CASes (outcome `Unknown`, or never completed) may take effect at any
//!   point after their invocation, or never: their completion is taken as infinity and they
//!   need not be linearized. An unknown write is never assumed absent.
//! - Failed and unknown reads say nothing and are dropped.
//!
//! The search is bounded by a step budget per key. A key that exhausts it is reported as
//! indeterminate, never as a violation and never as linearizable.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::ops::ControlFlow;

use serde::Serialize;

use crate::history::{Op, OpKind, Outcome};

/// Steps (list events visited) the search may take per key before giving up on it. A few
/// thousand ops on one key with ten processes and some unknown ops took a few million.
pub const DEFAULT_STEP_BUDGET: u64 = 20_000_000;

/// Memory the configuration cache of one key may use before the key is given up on: each
/// entry is a bitset over the key's ops, so long histories of one key fill it fast.
pub const CACHE_BYTES_LIMIT: usize = 512 << 20;

/// What [`check_registers`] found.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct LinVerdict {
    /// Every key was shown linearizable. False on a violation *or* an indeterminate key.
    pub ok: bool,
    /// Keys that had at least one register op.
    pub keys_checked: usize,
    /// Ops that entered the search (Ok reads, Ok and unknown writes and CASes).
    pub ops_checked: usize,
    /// The earliest non-linearizable window, for a human: key, the op that cannot be
    /// linearized, the register values possible just before it, the ops concurrent with it.
    pub first_violation: Option<String>,
    /// Every key with a violation, sorted.
    pub violating_keys: Vec<String>,
    /// Keys whose search exceeded the step budget or the cache memory limit: neither shown
    /// linearizable nor violated.
    pub indeterminate_keys: Vec<String>,
    /// Ok reads whose result was neither null nor an integer; left out of the search.
    pub malformed_reads: usize,
}

/// Checks every key's Read/Write/Cas ops with [`DEFAULT_STEP_BUDGET`]. Add and ReadAll ops are
/// ignored (they belong to the set checker).
pub fn check_registers(ops: &[Op]) -> LinVerdict {
    check_registers_with_budget(ops, DEFAULT_STEP_BUDGET)
}

/// [`check_registers`] with an explicit step budget per key.
pub fn check_registers_with_budget(ops: &[Op], step_budget: u64) -> LinVerdict {
    let mut by_key: BTreeMap<&str, Vec<&Op>> = BTreeMap::new();
    for op in ops {
        if matches!(op.kind, OpKind::Read | OpKind::Write | OpKind::Cas) {
            by_key.entry(op.key.as_str()).or_default().push(op);
        }
    }
    let mut verdict = LinVerdict {
        ok: true,
        keys_checked: by_key.len(),
        ops_checked: 0,
        first_violation: None,
        violating_keys: Vec::new(),
        indeterminate_keys: Vec::new(),
        malformed_reads: 0,
    };
    // (completion time of the blocked op, description) of the earliest violation so far.
    let mut first: Option<(u64, String)> = None;
    for (key, key_ops) in by_key {
        let prepared = prepare(&key_ops);
        verdict.ops_checked += prepared.ops.len();
        verdict.malformed_reads += prepared.malformed_reads;
        match search(&prepared.ops, step_budget) {
            SearchResult::Linearizable => {}
            SearchResult::Indeterminate => {
                verdict.ok = false;
                verdict.indeterminate_keys.push(key.to_string());
            }
            SearchResult::Violation(failure) => {
                verdict.ok = false;
                verdict.violating_keys.push(key.to_string());
                let at = prepared.ops[failure.op].ret;
                if first.as_ref().is_none_or(|(t, _)| at < *t) {
                    first = Some((at, describe_violation(key, &prepared.ops, &failure)));
                }
            }
        }
    }
    verdict.first_violation = first.map(|(_, text)| text);
    verdict
}

/// The planted-bug control: write 1 completes, write 2 completes, then a read returns 1. A
/// checker that accepts this cannot see stale reads. The runner checks it in every profile.
pub fn planted_stale_read_history() -> Vec<Op> {
    let op = |id: u64, kind, value, result, invoke_ns, complete_ns| Op {
        id,
        process: id,
        kind,
        key: "planted-stale-read".to_string(),
        value,
        expected: None,
        result,
        invoke_ns,
        complete_ns: Some(complete_ns),
        outcome: Some(Outcome::Ok),
        error: None,
    };
    vec![
        op(0, OpKind::Write, Some(1), None, 0, 10),
        op(1, OpKind::Write, Some(2), None, 20, 30),
        op(2, OpKind::Read, None, Some(serde_json::json!(1)), 40, 50),
    ]
}

/// Register value: None is "absent".
type Value = Option<i64>;

/// Completion time of an op that may take effect at any point after its invocation.
const INFINITY: u64 = u64::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ModelOp {
    Read(Value),
    Write(Value),
    Cas { from: Value, to: Value },
}

impl ModelOp {
    /// The value this op reads or compares against.
    fn observes(self) -> Option<Value> {
        match self {
            ModelOp::Read(v) | ModelOp::Cas { from: v, .. } => Some(v),
            ModelOp::Write(_) => None,
        }
    }

    /// The value this op sets.
    fn produces(self) -> Option<Value> {
        match self {
            ModelOp::Write(v) | ModelOp::Cas { to: v, .. } => Some(v),
            ModelOp::Read(_) => None,
        }
    }

    /// The value after this op, or None if it cannot happen in `state`.
    fn apply(self, state: Value) -> Option<Value> {
        match self {
            ModelOp::Read(seen) => (seen == state).then_some(state),
            ModelOp::Write(v) => Some(v),
            ModelOp::Cas { from, to } => (from == state).then_some(to),
        }
    }
}

/// One op as the search sees it.
#[derive(Debug, Clone)]
struct LinOp<'a> {
    source: &'a Op,
    model: ModelOp,
    call: u64,
    /// Completion time; [`INFINITY`] for unknown ops and for Ok ops missing a completion time.
    ret: u64,
    /// Must be linearized (Ok); unknown ops need not be.
    required: bool,
}

struct Prepared<'a> {
    ops: Vec<LinOp<'a>>,
    malformed_reads: usize,
}

fn fmt_value(v: Value) -> String {
    v.map_or_else(|| "null".to_string(), |v| v.to_string())
}

fn prepare<'a>(key_ops: &[&'a Op]) -> Prepared<'a> {
    let mut ops = Vec::with_capacity(key_ops.len());
    let mut malformed_reads = 0;
    for &op in key_ops {
        let outcome = op.effective_outcome();
        let model = match (op.kind, outcome) {
            (_, Outcome::Fail) | (OpKind::Read, Outcome::Unknown) => continue,
            // Serde reads a JSON null into `result: None`, so None is a null read too.
            (OpKind::Read, Outcome::Ok) => match &op.result {
                None | Some(serde_json::Value::Null) => ModelOp::Read(None),
                Some(v) => match v.as_i64() {
                    Some(n) => ModelOp::Read(Some(n)),
                    None => {
                        malformed_reads += 1;
                        continue;
                    }
                },
            },
            (OpKind::Write, _) => ModelOp::Write(op.value),
            (OpKind::Cas, _) => ModelOp::Cas {
                from: op.expected,
                to: op.value,
            },
            (OpKind::Add | OpKind::ReadAll, _) => continue,
        };
        let required = outcome == Outcome::Ok;
        let ret = match (required, op.complete_ns) {
            (true, Some(t)) => t.max(op.invoke_ns),
            _ => INFINITY,
        };
        ops.push(LinOp {
            source: op,
            model,
            call: op.invoke_ns,
            ret,
            required,
        });
    }
    Prepared {
        ops,
        malformed_reads,
    }
}

/// Why a key is not linearizable: the deepest point the search reached.
#[derive(Debug, Clone)]
struct Failure {
    /// Index (into the key's ops) of the op whose completion was reached before it could be
    /// linearized.
    op: usize,
    /// How many ops were linearized at that point.
    depth: usize,
    /// Register values the search had at that point.
    states: BTreeSet<Value>,
    /// The last ops linearized before it, oldest first.
    before: Vec<usize>,
}

enum SearchResult {
    Linearizable,
    Violation(Failure),
    Indeterminate,
}

const NIL: usize = usize::MAX;

/// Allocation header, box pointer and hash table slot of one cache entry, roughly.
const CACHE_ENTRY_OVERHEAD_BYTES: usize = 48;

/// A doubly linked list of events WGL lifts ops out of. Node 0 is the head sentinel; node
/// `1 + 2i` is op i's call, `2 + 2i` its return.
struct Events {
    next: Vec<usize>,
    prev: Vec<usize>,
}

impl Events {
    /// A list of `nodes` in the order of their sort keys (time, return?, node).
    fn new(len: usize, mut nodes: Vec<(u64, u8, usize)>) -> Self {
        nodes.sort_unstable();
        let mut next = vec![NIL; len];
        let mut prev = vec![NIL; len];
        let mut last = 0;
        for &(_, _, node) in &nodes {
            next[last] = node;
            prev[node] = last;
            last = node;
        }
        Events { next, prev }
    }

    fn unlink(&mut self, node: usize) {
        let (p, n) = (self.prev[node], self.next[node]);
        self.next[p] = n;
        if n != NIL {
            self.prev[n] = p;
        }
    }

    /// Undoes the latest [`Events::unlink`] still in effect, which must have been of `node`.
    fn relink(&mut self, node: usize) {
        let (p, n) = (self.prev[node], self.next[node]);
        self.next[p] = node;
        if n != NIL {
            self.prev[n] = node;
        }
    }
}

/// The bits of `bits` that are set in `sub` are all set: `sub` ⊆ `bits`.
fn is_subset(sub: &[u64], bits: &[u64]) -> bool {
    sub.iter().zip(bits).all(|(s, b)| s & !b == 0)
}

fn set_bit(bits: &mut [u64], i: usize, on: bool) {
    if on {
        bits[i / 64] |= 1 << (i % 64);
    } else {
        bits[i / 64] &= !(1 << (i % 64));
    }
}

/// The first return left in the required list: it closes the window of candidates.
fn first_return(required: &Events) -> Option<usize> {
    let mut node = required.next[0];
    while node != NIL && node % 2 == 1 {
        node = required.next[node];
    }
    (node != NIL).then(|| (node - 1) / 2)
}

/// Wing–Gong–Lowe over `ops` of one key.
///
/// Required ops live in one list of calls and returns, as in WGL. Optional ops never have to
/// be placed, so they have no return: they sit in a second list of calls, and an optional op
/// is a candidate while its call precedes the first required return. Every required op
/// placed (the required list empty) is success.
///
/// A configuration is (required ops linearized R, optional ops linearized U, value). Lowe's
/// cache stops the search from exploring a configuration twice; here it also stops it from
/// exploring one *dominated* by a configuration already reached: (R, U', v) with U' ⊆ U can
/// do everything (R, U, v) can, since an optional op left out may still be placed later or
/// never. To reach the dominating configurations first, each configuration tries its required
/// candidates before its optional ones, and a write never directly follows an optional op
/// (whose effect it would hide: the configuration without that op dominates). An optional op
/// is not tried at all while no op left reads or compares against the value it would set.
/// Without these, every unknown write that never took effect would multiply the work after
/// it; with them, unknown writes of values nobody observed cost almost nothing, so workloads
/// that write unique values are cheap to check.
fn search(ops: &[LinOp<'_>], step_budget: u64) -> SearchResult {
    Search::new(ops).run(step_budget)
}

/// What the search does after one step, or the answer it reached.
type Step = ControlFlow<SearchResult>;

/// The next thing the search looks at in the current window.
enum Next {
    /// Op i's call: a candidate to linearize next.
    Candidate(usize),
    /// The required candidates are exhausted; the optional pass starts at the next step.
    OptionalPass,
    /// No candidate is left before the window's return: the last choice was wrong.
    WindowClosed,
}

/// R → the U sets reached with it (none a superset of another).
type Reached = HashMap<Box<[u64]>, Vec<Box<[u64]>>>;

/// Lowe's cache of reached configurations, keeping only undominated ones.
struct Cache {
    /// value → R → U sets.
    reached: HashMap<Value, Reached>,
    /// What the entries added so far take, roughly.
    bytes: usize,
    /// What one entry takes, roughly.
    entry_bytes: usize,
}

/// What [`Cache::admit`] made of a configuration.
enum Admitted {
    /// New and not dominated: explore it.
    New,
    /// A configuration reached before dominates it: skip it.
    Dominated,
    /// Over [`CACHE_BYTES_LIMIT`]: give up on the key.
    Full,
}

impl Cache {
    /// A cache holding the root: nothing linearized, the key absent.
    fn new(required_bits: &[u64], optional_bits: &[u64]) -> Cache {
        let mut reached: HashMap<Value, Reached> = HashMap::new();
        reached
            .entry(None)
            .or_default()
            .insert(required_bits.into(), vec![optional_bits.into()]);
        Cache {
            reached,
            bytes: 0,
            entry_bytes: (required_bits.len() + optional_bits.len()) * 8
                + CACHE_ENTRY_OVERHEAD_BYTES,
        }
    }

    /// Records (R, U, value) unless a configuration already reached dominates it, dropping
    /// the entries it dominates.
    fn admit(&mut self, value: Value, required_bits: &[u64], optional_bits: &[u64]) -> Admitted {
        let reached = self.reached.entry(value).or_default();
        let dominated = reached
            .get(required_bits)
            .is_some_and(|us| us.iter().any(|u| is_subset(u, optional_bits)));
        if dominated {
            return Admitted::Dominated;
        }
        self.bytes += self.entry_bytes;
        if self.bytes > CACHE_BYTES_LIMIT {
            return Admitted::Full;
        }
        let u: Box<[u64]> = optional_bits.into();
        match reached.get_mut(required_bits) {
            Some(us) => {
                us.retain(|other| !is_subset(&u, other));
                us.push(u);
            }
            None => {
                reached.insert(required_bits.into(), vec![u]);
            }
        }
        Admitted::New
    }
}

/// The state of one key's search (see [`search`]): the configuration on the current path,
/// the way back, and where in the event lists the next candidate is.
struct Search<'s, 'a> {
    ops: &'s [LinOp<'a>],
    /// Each op's bit, in the required or the optional bitset.
    bit: Vec<usize>,
    /// How many ops not yet linearized read or compare against each value. An optional op
    /// whose result nobody left can observe is never worth placing: whatever follows it must
    /// overwrite it, and the same path without it is valid too.
    observers: HashMap<Value, u32>,
    required: Events,
    optional: Events,
    required_bits: Vec<u64>,
    optional_bits: Vec<u64>,
    cache: Cache,
    /// (op linearized, value before it) for backtracking.
    stack: Vec<(usize, Value)>,
    state: Value,
    best: Option<Failure>,
    /// The node visited next: in the required list, or in the optional list during the
    /// optional pass, which tries the optional candidates once the required ones are
    /// exhausted.
    node: usize,
    optional_pass: bool,
    /// The required op whose return closes the current window (set in the optional pass).
    window_op: usize,
}

impl<'s, 'a> Search<'s, 'a> {
    /// The root configuration of `ops`: nothing linearized, the key absent.
    fn new(ops: &'s [LinOp<'a>]) -> Self {
        let len = 2 * ops.len() + 1;
        let mut required_events = Vec::new();
        let mut optional_events = Vec::new();
        let mut bit = Vec::with_capacity(ops.len());
        let (mut n_required, mut n_optional) = (0usize, 0usize);
        for (i, op) in ops.iter().enumerate() {
            if op.required {
                // Calls before returns at equal times: touching ops count as concurrent, so
                // equal timestamps never manufacture an order the clock did not see.
                required_events.push((op.call, 0, 1 + 2 * i));
                required_events.push((op.ret, 1, 2 + 2 * i));
                bit.push(n_required);
                n_required += 1;
            } else {
                optional_events.push((op.call, 0, 1 + 2 * i));
                bit.push(n_optional);
                n_optional += 1;
            }
        }
        let mut observers: HashMap<Value, u32> = HashMap::new();
        for op in ops {
            if let Some(v) = op.model.observes() {
                *observers.entry(v).or_default() += 1;
            }
        }
        let required = Events::new(len, required_events);
        let optional = Events::new(len, optional_events);
        let required_bits = vec![0u64; n_required.div_ceil(64)];
        let optional_bits = vec![0u64; n_optional.div_ceil(64)];
        let cache = Cache::new(&required_bits, &optional_bits);
        Search {
            ops,
            bit,
            observers,
            node: required.next[0],
            required,
            optional,
            required_bits,
            optional_bits,
            cache,
            stack: Vec::new(),
            state: None,
            best: None,
            optional_pass: false,
            window_op: 0,
        }
    }

    /// Steps until every required op is placed, the budget is spent or every path failed.
    fn run(mut self, step_budget: u64) -> SearchResult {
        let mut steps = 0u64;
        loop {
            if self.required.next[0] == NIL {
                return SearchResult::Linearizable;
            }
            if steps >= step_budget {
                return SearchResult::Indeterminate;
            }
            steps += 1;
            let step = match self.next() {
                Next::Candidate(i) => self.try_candidate(i),
                Next::OptionalPass => ControlFlow::Continue(()),
                Next::WindowClosed => self.backtrack(),
            };
            if let ControlFlow::Break(result) = step {
                return result;
            }
        }
    }

    /// Looks at the current node; at the first required return, closes the window or
    /// switches to the optional pass.
    fn next(&mut self) -> Next {
        let node = self.node;
        if self.optional_pass {
            let open = node != NIL && self.ops[(node - 1) / 2].call <= self.ops[self.window_op].ret;
            if open {
                Next::Candidate((node - 1) / 2)
            } else {
                Next::WindowClosed
            }
        } else if node % 2 == 1 {
            Next::Candidate((node - 1) / 2)
        } else {
            // The first required return: the required candidates are exhausted.
            self.window_op = (node - 1) / 2;
            if self.optional.next[0] != NIL {
                self.optional_pass = true;
                self.node = self.optional.next[0];
                Next::OptionalPass
            } else {
                Next::WindowClosed
            }
        }
    }

    /// Linearizes op i if it may go next and leads somewhere new; else moves on to the
    /// next candidate.
    fn try_candidate(&mut self, i: usize) -> Step {
        if let Some(after) = self.placeable(i) {
            self.set_op_bit(i, true);
            match self
                .cache
                .admit(after, &self.required_bits, &self.optional_bits)
            {
                Admitted::New => {
                    self.place(i, after);
                    return ControlFlow::Continue(());
                }
                Admitted::Full => return ControlFlow::Break(SearchResult::Indeterminate),
                Admitted::Dominated => self.set_op_bit(i, false),
            }
        }
        self.node = if self.optional_pass {
            self.optional.next[self.node]
        } else {
            self.required.next[self.node]
        };
        ControlFlow::Continue(())
    }

    /// The register value after op i, if i can take effect now and is worth trying.
    fn placeable(&self, i: usize) -> Option<Value> {
        let op = &self.ops[i];
        // A write straight after an optional op would hide that op's effect: the same
        // configuration without the optional op dominates it and is reached from the
        // parent, where this write is a candidate too.
        let hides_optional = matches!(op.model, ModelOp::Write(_))
            && self
                .stack
                .last()
                .is_some_and(|&(j, _)| !self.ops[j].required);
        let unobservable = !op.required
            && op
                .model
                .produces()
                .is_some_and(|v| self.observers.get(&v).is_none_or(|&n| n == 0));
        op.model
            .apply(self.state)
            .filter(|_| !hides_optional && !unobservable)
    }

    /// Sets or clears op i's bit in the bitset of its kind.
    fn set_op_bit(&mut self, i: usize, on: bool) {
        let bits = if self.ops[i].required {
            &mut self.required_bits
        } else {
            &mut self.optional_bits
        };
        set_bit(bits, self.bit[i], on);
    }

    /// Linearizes op i (its bit already set), leaving `after` in the register, and starts
    /// over at the first remaining required event.
    fn place(&mut self, i: usize, after: Value) {
        let ops = self.ops;
        let op = &ops[i];
        if let Some(v) = op.model.observes() {
            *self.observers.entry(v).or_default() -= 1;
        }
        self.stack.push((i, self.state));
        self.state = after;
        if op.required {
            self.required.unlink(1 + 2 * i);
            self.required.unlink(2 + 2 * i);
        } else {
            self.optional.unlink(1 + 2 * i);
        }
        self.node = self.required.next[0];
        self.optional_pass = false;
    }

    /// The window closed: records the failure and undoes the last choice, or ends the
    /// search with the deepest failure when there is none left.
    fn backtrack(&mut self) -> Step {
        self.record_failure();
        let Some((j, before)) = self.stack.pop() else {
            return ControlFlow::Break(match self.best.take() {
                Some(failure) => SearchResult::Violation(failure),
                // Unreachable: a failure was recorded just above.
                None => SearchResult::Indeterminate,
            });
        };
        self.unplace(j, before)
    }

    /// Op window_op completed without being linearized: keeps the deepest such point, and
    /// every register value seen there.
    fn record_failure(&mut self) {
        let depth = self.stack.len();
        let deeper = self.best.as_ref().is_none_or(|b| depth > b.depth);
        if deeper {
            self.best = Some(Failure {
                op: self.window_op,
                depth,
                states: BTreeSet::from([self.state]),
                before: self.stack[depth.saturating_sub(3)..]
                    .iter()
                    .map(|&(j, _)| j)
                    .collect(),
            });
        } else if let Some(b) = self
            .best
            .as_mut()
            .filter(|b| b.depth == depth && b.op == self.window_op)
        {
            b.states.insert(self.state);
        }
    }

    /// Takes op j (just popped, `before` the value it overwrote) back out, and carries on
    /// with the parent's candidates after j, in the pass j belonged to.
    fn unplace(&mut self, j: usize, before: Value) -> Step {
        let ops = self.ops;
        let op = &ops[j];
        self.set_op_bit(j, false);
        if let Some(v) = op.model.observes() {
            *self.observers.entry(v).or_default() += 1;
        }
        self.state = before;
        if op.required {
            self.required.relink(2 + 2 * j);
            self.required.relink(1 + 2 * j);
            self.node = self.required.next[1 + 2 * j];
            self.optional_pass = false;
        } else {
            self.optional.relink(1 + 2 * j);
            self.node = self.optional.next[1 + 2 * j];
            self.optional_pass = true;
            // Optional ops do not move the window: it is the parent's, still open.
            match first_return(&self.required) {
                Some(w) => self.window_op = w,
                // Unreachable: the parent had required ops left, or it would have succeeded.
                None => return ControlFlow::Break(SearchResult::Linearizable),
            }
        }
        ControlFlow::Continue(())
    }
}

fn fmt_ns(ns: u64) -> String {
    if ns == INFINITY {
        "∞".to_string()
    } else {
        format!("{:.6}s", ns as f64 / 1e9)
    }
}

fn describe_op(op: &LinOp<'_>) -> String {
    let src = op.source;
    let what = match op.model {
        ModelOp::Read(v) => format!("read → {}", fmt_value(v)),
        ModelOp::Write(v) => format!("write {}", fmt_value(v)),
        ModelOp::Cas { from, to } => format!("cas {} → {}", fmt_value(from), fmt_value(to)),
    };
    let outcome = match src.outcome {
        Some(Outcome::Ok) => "ok",
        Some(Outcome::Fail) => "fail",
        Some(Outcome::Unknown) => "unknown",
        None => "never completed",
    };
    format!(
        "op {} (process {}) {what} {outcome} [{} .. {}]",
        src.id,
        src.process,
        fmt_ns(op.call),
        fmt_ns(op.ret)
    )
}

/// How many concurrent ops a violation report lists.
const MAX_CONCURRENT_LISTED: usize = 20;

fn describe_violation(key: &str, ops: &[LinOp<'_>], failure: &Failure) -> String {
    let blocked = &ops[failure.op];
    let states: Vec<String> = failure.states.iter().map(|&v| fmt_value(v)).collect();
    let mut text = format!(
        "key {key:?}: {} cannot be linearized; after {} linearized op(s) the register could \
         only hold {{{}}}",
        describe_op(blocked),
        failure.depth,
        states.join(", ")
    );
    if !failure.before.is_empty() {
        text.push_str("; last linearized: ");
        let before: Vec<String> = failure
            .before
            .iter()
            .map(|&j| describe_op(&ops[j]))
            .collect();
        text.push_str(&before.join("; "));
    }
    let concurrent: Vec<&LinOp<'_>> = ops
        .iter()
        .enumerate()
        .filter(|&(j, op)| j != failure.op && op.call <= blocked.ret && op.ret >= blocked.call)
        .map(|(_, op)| op)
        .collect();
    if concurrent.is_empty() {
        text.push_str("; no op was concurrent with it");
    } else {
        let _ = write!(text, "; {} concurrent op(s): ", concurrent.len());
        let listed: Vec<String> = concurrent
            .iter()
            .take(MAX_CONCURRENT_LISTED)
            .map(|op| describe_op(op))
            .collect();
        text.push_str(&listed.join("; "));
        if concurrent.len() > MAX_CONCURRENT_LISTED {
            let _ = write!(
                text,
                "; and {} more",
                concurrent.len() - MAX_CONCURRENT_LISTED
            );
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use serde_json::json;

    /// A tiny history builder: ops get ids in order, times are given explicitly.
    #[derive(Default)]
    struct H {
        ops: Vec<Op>,
    }

    impl H {
        #[allow(clippy::too_many_arguments)]
        fn push(
            &mut self,
            process: u64,
            kind: OpKind,
            key: &str,
            value: Option<i64>,
            expected: Option<i64>,
            result: Option<serde_json::Value>,
            span: (u64, Option<u64>),
            outcome: Option<Outcome>,
        ) -> &mut Self {
            self.ops.push(Op {
                id: self.ops.len() as u64,
                process,
                kind,
                key: key.to_string(),
                value,
                expected,
                result,
                invoke_ns: span.0,
                complete_ns: span.1,
                outcome,
                error: None,
            });
            self
        }
        fn write(&mut self, p: u64, v: i64, t: (u64, u64)) -> &mut Self {
            self.push(
                p,
                OpKind::Write,
                "k",
                Some(v),
                None,
                None,
                (t.0, Some(t.1)),
                Some(Outcome::Ok),
            )
        }
        fn write_unknown(&mut self, p: u64, v: i64, invoke: u64) -> &mut Self {
            self.push(
                p,
                OpKind::Write,
                "k",
                Some(v),
                None,
                None,
                (invoke, None),
                None,
            )
        }
        fn read(&mut self, p: u64, v: Option<i64>, t: (u64, u64)) -> &mut Self {
            self.push(
                p,
                OpKind::Read,
                "k",
                None,
                None,
                Some(v.map_or(json!(null), |v| json!(v))),
                (t.0, Some(t.1)),
                Some(Outcome::Ok),
            )
        }
        fn cas(&mut self, p: u64, from: i64, to: i64, t: (u64, u64), o: Outcome) -> &mut Self {
            self.push(
                p,
                OpKind::Cas,
                "k",
                Some(to),
                Some(from),
                None,
                (t.0, Some(t.1)),
                Some(o),
            )
        }
        fn cas_unknown(&mut self, p: u64, from: i64, to: i64, invoke: u64) -> &mut Self {
            self.push(
                p,
                OpKind::Cas,
                "k",
                Some(to),
                Some(from),
                None,
                (invoke, None),
                None,
            )
        }
        fn check(&self) -> LinVerdict {
            check_registers(&self.ops)
        }
    }

    fn assert_violation(v: &LinVerdict) -> &str {
        assert!(!v.ok, "{v:?}");
        assert!(v.indeterminate_keys.is_empty(), "{v:?}");
        v.first_violation.as_deref().expect("violation described")
    }

    #[test]
    fn empty_and_odd_input_is_linearizable() {
        assert!(check_registers(&[]).ok);
        assert_eq!(check_registers(&[]).keys_checked, 0);
        // Only unknown ops and failed ones: nothing must be placed.
        let mut h = H::default();
        h.write_unknown(0, 1, 5).cas(1, 3, 4, (0, 9), Outcome::Fail);
        let v = h.check();
        assert!(v.ok, "{v:?}");
        assert_eq!((v.keys_checked, v.ops_checked), (1, 1));
        // Completion before invocation and an Ok op without completion time are tolerated.
        let mut h = H::default();
        h.push(
            0,
            OpKind::Write,
            "k",
            Some(1),
            None,
            None,
            (10, Some(5)),
            Some(Outcome::Ok),
        )
        .push(
            1,
            OpKind::Read,
            "k",
            None,
            None,
            Some(json!(1)),
            (20, None),
            Some(Outcome::Ok),
        )
        .push(
            2,
            OpKind::Read,
            "k",
            None,
            None,
            Some(json!("garbage")),
            (20, Some(30)),
            Some(Outcome::Ok),
        );
        let v = h.check();
        assert!(v.ok, "{v:?}");
        assert_eq!(v.malformed_reads, 1);
    }

    #[test]
    fn sequential_histories() {
        let mut h = H::default();
        h.read(0, None, (0, 1))
            .write(0, 1, (2, 3))
            .read(0, Some(1), (4, 5))
            .write(1, 2, (6, 7))
            .read(2, Some(2), (8, 9));
        assert!(h.check().ok);

        // A read of the initial value after a write completed is stale.
        let mut h = H::default();
        h.write(0, 1, (0, 1)).read(1, None, (2, 3));
        let text = assert_violation(&h.check()).to_string();
        assert!(text.contains("read → null"), "{text}");

        // A value nobody wrote.
        let mut h = H::default();
        h.write(0, 1, (0, 1)).read(1, Some(7), (2, 3));
        assert_violation(&h.check());
    }

    #[test]
    fn planted_stale_read_is_rejected() {
        let v = check_registers(&planted_stale_read_history());
        let text = assert_violation(&v);
        assert_eq!(v.violating_keys, vec!["planted-stale-read".to_string()]);
        // The report names the read that cannot be placed and the value it should have seen.
        assert!(text.contains("op 2 (process 2) read → 1"), "{text}");
        assert!(text.contains("could only hold {2}"), "{text}");
        assert!(text.contains("op 1 (process 1) write 2"), "{text}");
    }

    #[test]
    fn concurrent_writes_linearizable_in_one_order_only() {
        // Writes 1 and 2 overlap; reads after both show 1 then 1: only "2 then 1" works.
        let mut h = H::default();
        h.write(0, 1, (0, 10))
            .write(1, 2, (1, 9))
            .read(2, Some(2), (2, 8))
            .read(2, Some(1), (11, 12))
            .read(3, Some(1), (13, 14));
        assert!(h.check().ok);

        // ... but a later read of 2 after reading 1 has no order.
        h.read(2, Some(2), (15, 16));
        assert_violation(&h.check());

        // Reads on both sides of one order inside the overlap: 1 then 2 then 1 is impossible.
        let mut h = H::default();
        h.write(0, 1, (0, 10))
            .write(1, 2, (0, 10))
            .read(2, Some(1), (1, 2))
            .read(2, Some(2), (3, 4))
            .read(2, Some(1), (5, 6));
        assert_violation(&h.check());
    }

    #[test]
    fn unknown_write_must_be_taken() {
        // The only source of 5 is a write that timed out: it must have happened.
        let mut h = H::default();
        h.write(0, 1, (0, 1))
            .write_unknown(1, 5, 2)
            .read(2, Some(5), (10, 11))
            .write(0, 6, (12, 13))
            .read(2, Some(6), (14, 15));
        assert!(h.check().ok, "{:?}", h.check());
        // ... and once taken it cannot happen again.
        h.read(2, Some(5), (16, 17));
        assert_violation(&h.check());
    }

    #[test]
    fn unknown_write_must_not_be_taken_or_only_late() {
        // The unknown write may never have happened: later reads keep seeing 1.
        let mut h = H::default();
        h.write(0, 1, (0, 1))
            .write_unknown(1, 9, 2)
            .read(2, Some(1), (10, 11))
            .read(2, Some(1), (20, 21));
        assert!(h.check().ok);
        // It cannot take effect before its invocation.
        let mut h = H::default();
        h.write(0, 1, (0, 1))
            .read(2, Some(9), (3, 4))
            .write_unknown(1, 9, 5);
        assert_violation(&h.check());
        // An unknown write that completed with a timeout can still land after that time.
        let mut h = H::default();
        h.write(0, 1, (0, 1))
            .push(
                1,
                OpKind::Write,
                "k",
                Some(9),
                None,
                None,
                (2, Some(3)),
                Some(Outcome::Unknown),
            )
            .read(2, Some(1), (10, 11))
            .read(2, Some(9), (20, 21));
        assert!(h.check().ok);
    }

    #[test]
    fn cas_chains() {
        let mut h = H::default();
        h.write(0, 0, (0, 1))
            .cas(1, 0, 1, (2, 10), Outcome::Ok)
            .cas(2, 1, 2, (3, 9), Outcome::Ok)
            .cas(3, 2, 3, (4, 11), Outcome::Ok)
            // A mismatch is a definite no-effect, dropped.
            .cas(4, 0, 7, (5, 6), Outcome::Fail)
            .read(0, Some(3), (12, 13));
        assert!(h.check().ok);

        // An Ok CAS must have matched: 0→1 cannot succeed after the value became 5.
        let mut h = H::default();
        h.write(0, 5, (0, 1))
            .cas(1, 0, 1, (2, 3), Outcome::Ok)
            .read(0, Some(1), (4, 5));
        assert_violation(&h.check());

        // Two Ok CASes from the same value cannot both succeed.
        let mut h = H::default();
        h.write(0, 0, (0, 1))
            .cas(1, 0, 1, (2, 10), Outcome::Ok)
            .cas(2, 0, 2, (2, 10), Outcome::Ok);
        assert_violation(&h.check());

        // An unknown CAS may have happened, but only if it matched.
        let mut h = H::default();
        h.write(0, 0, (0, 1))
            .cas_unknown(1, 0, 4, 2)
            .read(2, Some(4), (5, 6));
        assert!(h.check().ok);
        let mut h = H::default();
        h.write(0, 3, (0, 1))
            .cas_unknown(1, 0, 4, 2)
            .read(2, Some(4), (5, 6));
        assert_violation(&h.check());
        // CAS from absent (create-if-absent).
        let mut h = H::default();
        h.push(
            0,
            OpKind::Cas,
            "k",
            Some(1),
            None,
            None,
            (0, Some(1)),
            Some(Outcome::Ok),
        )
        .read(1, Some(1), (2, 3));
        assert!(h.check().ok);
    }

    #[test]
    fn lost_write_is_rejected() {
        // Write 2 was acknowledged, then every read shows the older value.
        let mut h = H::default();
        h.write(0, 1, (0, 1))
            .write(1, 2, (2, 3))
            .read(2, Some(1), (4, 5))
            .read(0, Some(1), (6, 7));
        let text = assert_violation(&h.check()).to_string();
        assert!(text.contains("key \"k\""), "{text}");
    }

    #[test]
    fn failed_and_unknown_reads_do_not_constrain() {
        let mut h = H::default();
        h.write(0, 1, (0, 1))
            .push(
                1,
                OpKind::Read,
                "k",
                None,
                None,
                Some(json!(42)),
                (2, Some(3)),
                Some(Outcome::Fail),
            )
            .push(
                2,
                OpKind::Read,
                "k",
                None,
                None,
                Some(json!(43)),
                (2, None),
                None,
            );
        let v = h.check();
        assert!(v.ok, "{v:?}");
        assert_eq!(v.ops_checked, 1);
    }

    #[test]
    fn keys_are_independent_and_the_earliest_violation_is_reported() {
        let mut ops = planted_stale_read_history();
        let mut other = planted_stale_read_history();
        for op in &mut other {
            op.key = "late".into();
            op.id += 10;
            op.invoke_ns += 1000;
            op.complete_ns = op.complete_ns.map(|t| t + 1000);
        }
        ops.extend(other);
        let mut fine = H::default();
        fine.write(0, 1, (0, 1)).read(1, Some(1), (2, 3));
        ops.extend(fine.ops.iter().cloned().map(|mut op| {
            op.key = "fine".into();
            op.id += 100;
            op
        }));
        let v = check_registers(&ops);
        assert_eq!(v.keys_checked, 3);
        assert_eq!(v.violating_keys, vec!["late", "planted-stale-read"]);
        assert!(v
            .first_violation
            .as_deref()
            .unwrap()
            .starts_with("key \"planted-stale-read\""));
    }

    #[test]
    fn exhausted_budget_is_indeterminate_not_a_violation() {
        let v = check_registers_with_budget(&generate(7, 300, 5, 1, 2).0, 50);
        assert!(!v.ok);
        assert_eq!(v.indeterminate_keys, vec!["k0"]);
        assert!(v.first_violation.is_none());
        assert!(v.violating_keys.is_empty());
    }

    /// A history of `n` ops by `procs` processes over `keys` keys, produced by a simulated
    /// atomic register: each op takes effect at a random instant inside its interval. Every
    /// written value is unique. Some writes and CASes are unknown (they took effect or not at
    /// random, their process is replaced), some fail outright. Returns the ops and the
    /// indices of Ok writes.
    fn generate(
        seed: u64,
        n: usize,
        procs: u64,
        keys: usize,
        unknown_percent: u32,
    ) -> (Vec<Op>, Vec<usize>) {
        let mut rng = StdRng::seed_from_u64(seed);
        // (invoke, effect instant, complete, process) with per-process sequential intervals.
        let mut slots = Vec::with_capacity(n);
        let mut clock = vec![0u64; procs as usize];
        for i in 0..n {
            let p = i % procs as usize;
            let invoke = clock[p] + rng.random_range(0..20);
            let complete = invoke + rng.random_range(1..100);
            let effect = rng.random_range(invoke..=complete);
            clock[p] = complete;
            slots.push((invoke, effect, complete, p as u64));
        }
        slots.sort_by_key(|s| s.1);
        let mut register: Vec<Option<i64>> = vec![None; keys];
        let mut written: Vec<Vec<i64>> = vec![Vec::new(); keys];
        let mut next_value = 0i64;
        let mut generation = vec![0u64; procs as usize];
        let mut ops = Vec::with_capacity(n);
        for (invoke, _, complete, p) in slots {
            let k = rng.random_range(0..keys);
            let process = p + procs * generation[p as usize];
            let mut op = Op {
                id: 0,
                process,
                kind: OpKind::Read,
                key: format!("k{k}"),
                value: None,
                expected: None,
                result: None,
                invoke_ns: invoke,
                complete_ns: Some(complete),
                outcome: Some(Outcome::Ok),
                error: None,
            };
            let roll = rng.random_range(0..100);
            if roll < 45 {
                op.result = Some(register[k].map_or(json!(null), |v| json!(v)));
                if rng.random_range(0..100) < 3 {
                    op.outcome = Some(Outcome::Fail);
                }
            } else {
                next_value += 1;
                op.value = Some(next_value);
                let matched = if roll < 75 {
                    op.kind = OpKind::Write;
                    true
                } else {
                    op.kind = OpKind::Cas;
                    op.expected = if rng.random_bool(0.5) || written[k].is_empty() {
                        register[k]
                    } else {
                        Some(written[k][rng.random_range(0..written[k].len())])
                    };
                    op.expected == register[k]
                };
                let fate: u32 = rng.random_range(0..100);
                let applied = if fate < unknown_percent {
                    // Unknown: may or may not have landed; the client gives up.
                    op.outcome = if rng.random_bool(0.5) {
                        None
                    } else {
                        Some(Outcome::Unknown)
                    };
                    if op.outcome.is_none() {
                        op.complete_ns = None;
                    }
                    generation[p as usize] += 1;
                    matched && rng.random_bool(0.5)
                } else if fate < unknown_percent + 2 || !matched {
                    op.outcome = Some(Outcome::Fail);
                    false
                } else {
                    true
                };
                if applied {
                    register[k] = op.value;
                    written[k].push(next_value);
                }
            }
            ops.push(op);
        }
        ops.sort_by_key(|op| op.invoke_ns);
        let mut ok_writes = Vec::new();
        for (i, op) in ops.iter_mut().enumerate() {
            op.id = i as u64;
            if op.kind == OpKind::Write && op.outcome == Some(Outcome::Ok) {
                ok_writes.push(i);
            }
        }
        (ops, ok_writes)
    }

    #[test]
    fn generated_histories_are_linearizable() {
        for seed in 0..20 {
            let (ops, _) = generate(seed, 200, 4, 2, 2);
            let v = check_registers(&ops);
            assert!(v.ok, "seed {seed}: {v:?}");
        }
    }

    #[test]
    fn generated_histories_with_many_unknown_ops_are_linearizable() {
        // One write or CAS in five is unknown: the cache's dominance pruning must not lose
        // a linearization (these histories are linearizable by construction).
        for seed in 0..10 {
            let (ops, _) = generate(100 + seed, 300, 5, 2, 20);
            let unknown = ops
                .iter()
                .filter(|op| op.effective_outcome() == Outcome::Unknown);
            assert!(unknown.count() > 20);
            let v = check_registers(&ops);
            assert!(v.ok, "seed {seed}: {v:?}");
        }
    }

    #[test]
    fn one_hot_key_with_ten_processes_and_unknown_ops_is_decided() {
        // Ten processes on one key, one write or CAS in twenty unknown: the search must
        // decide (linearizable, by construction) within the default budget.
        let (ops, _) = generate(9, 2000, 10, 1, 5);
        let v = check_registers(&ops);
        assert!(v.ok, "{v:?}");
    }

    #[test]
    fn many_unknown_writes_that_never_happened_do_not_hide_a_violation() {
        // 40 timed-out writes nobody ever read, then a stale read. Without the dominance
        // pruning every subset of the 40 would be a configuration to refute.
        let mut h = H::default();
        h.write(0, 1, (0, 1));
        for v in 0..40 {
            h.write_unknown(10 + v, 100 + v as i64, 2 + v);
        }
        h.write(1, 2, (50, 51))
            .read(2, Some(2), (52, 53))
            .read(3, Some(1), (60, 61));
        let v = h.check();
        let text = assert_violation(&v);
        assert!(text.contains("read → 1"), "{text}");
        assert_eq!(v.ops_checked, 44);
    }

    #[test]
    fn thousand_op_history_passes_and_a_stale_read_mutation_fails() {
        let (ops, ok_writes) = generate(42, 1000, 5, 3, 2);
        let v = check_registers(&ops);
        assert!(v.ok, "{v:?}");
        assert_eq!(v.keys_checked, 3);
        assert!(v.ops_checked > 800, "{v:?}");
        assert!(ops.iter().any(|op| op.outcome.is_none()));
        assert!(ops
            .iter()
            .any(|op| op.kind == OpKind::Cas && op.outcome == Some(Outcome::Ok)));

        // Mutate one read to return a value that was overwritten before the read began: an
        // Ok write W_old, an Ok write W_new invoked after W_old completed, and an Ok read
        // invoked after W_new completed. Values are unique, so the read is stale.
        let mut mutated = ops.clone();
        let mut planted = None;
        'search: for &old in &ok_writes {
            for &new in &ok_writes {
                let (o, w) = (&ops[old], &ops[new]);
                if o.key != w.key || w.invoke_ns <= o.complete_ns.unwrap() {
                    continue;
                }
                let read = ops.iter().position(|r| {
                    r.kind == OpKind::Read
                        && r.outcome == Some(Outcome::Ok)
                        && r.key == o.key
                        && r.invoke_ns > w.complete_ns.unwrap()
                });
                if let Some(r) = read {
                    mutated[r].result = Some(json!(o.value.unwrap()));
                    planted = Some((r, o.key.clone()));
                    break 'search;
                }
            }
        }
        let (r, key) = planted.expect("the generator leaves a stale-read candidate");
        let v = check_registers(&mutated);
        assert!(!v.ok);
        assert!(v.indeterminate_keys.is_empty(), "{v:?}");
        assert_eq!(v.violating_keys, vec![key]);
        assert!(v.first_violation.is_some(), "{v:?} (planted at op {r})");
    }
}
