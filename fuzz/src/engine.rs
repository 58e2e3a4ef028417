//! The fuzzing loop: one target, a fixed budget (seconds or executions), a seeded generator,
//! and every panic caught, deduplicated and written out.
//!
//! Each execution feeds one input to the target. An input is made one of three ways, chosen
//! at random: random bytes; byte-level mutations of an input from the pool ([`mutate`]); or
//! the target's own structure-aware generator, which knows the input's grammar and starts
//! from valid examples. The pool starts with the target's seeds and keeps inputs the target
//! accepted (a blueprint that parsed, a message that decoded), so mutation goes on from
//! inputs that reach the deeper code. Stable Rust gives no coverage feedback; acceptance is
//! the cheap stand-in.
//!
//! A panic is the only failure: targets check their properties with `assert!`. The panic
//! hook records the location and message quietly (a million printed backtraces help no one);
//! two crashes are the same when location and message match with every number blanked (an
//! index out of bounds at another index is the same bug). The first input of each unique
//! crash is written to the crash directory, named by the target and a hash of the crash, and
//! `--replay` runs it again.
//!
//! Targets run on a thread with a 2 MiB stack, the stack of a tokio worker, where moord runs
//! these parsers: input that recurses too deep for moord overflows here too.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::mutate;

/// One thing to fuzz.
pub struct Target {
    pub name: &'static str,
    /// One line: what the target feeds and what it checks.
    pub about: &'static str,
    /// Valid inputs that mutation starts from.
    pub seeds: fn() -> Vec<Vec<u8>>,
    /// A structure-aware input: from scratch, or made from inputs of the pool.
    pub generate: fn(&mut SmallRng, &Pool) -> Vec<u8>,
    /// Runs one input and checks its properties, panicking on a bug. True when the input was
    /// accepted (parsed, decoded): it is then worth mutating further.
    pub run: fn(&[u8]) -> bool,
}

/// How long to run one target.
#[derive(Debug, Clone, Copy)]
pub enum Budget {
    Time(Duration),
    Executions(u64),
}

/// Stack of the thread targets run on: a tokio worker's.
pub const STACK_BYTES: usize = 2 * 1024 * 1024;
/// Longest input the generic strategies make.
const MAX_INPUT_BYTES: usize = 64 * 1024;
/// Most accepted inputs the pool keeps beyond the seeds.
const POOL_CAP: usize = 512;

/// The inputs mutation starts from: the target's seeds and the accepted inputs found since.
pub struct Pool {
    seeds: Vec<Vec<u8>>,
    found: Vec<Vec<u8>>,
}

impl Pool {
    fn new(seeds: Vec<Vec<u8>>) -> Pool {
        Pool {
            seeds,
            found: Vec::new(),
        }
    }

    /// One input of the pool (a seed as often as a found one), or nothing when empty.
    pub fn pick<'a>(&'a self, rng: &mut SmallRng) -> &'a [u8] {
        let from_found = !self.found.is_empty() && (self.seeds.is_empty() || rng.random_bool(0.5));
        let list = if from_found { &self.found } else { &self.seeds };
        if list.is_empty() {
            return &[];
        }
        &list[rng.random_range(0..list.len())]
    }

    /// One of the target's seeds, or nothing when it has none.
    pub fn seed<'a>(&'a self, rng: &mut SmallRng) -> &'a [u8] {
        if self.seeds.is_empty() {
            return &[];
        }
        &self.seeds[rng.random_range(0..self.seeds.len())]
    }

    fn keep(&mut self, rng: &mut SmallRng, input: &[u8]) {
        if self.found.len() < POOL_CAP {
            self.found.push(input.to_vec());
        } else if rng.random_ratio(1, 8) {
            let i = rng.random_range(0..self.found.len());
            self.found[i] = input.to_vec();
        }
    }
}

/// One unique crash.
#[derive(Debug, Clone)]
pub struct Crash {
    /// `file:line:col: message`, as the panic reported it.
    pub panic: String,
    /// Times it was hit.
    pub hits: u64,
    /// Where its first input was written (none when no directory was given or writing failed).
    pub file: Option<PathBuf>,
    pub input: Vec<u8>,
}

/// What one target's run did.
#[derive(Debug, Clone)]
pub struct Report {
    pub target: &'static str,
    pub executions: u64,
    pub accepted: u64,
    pub elapsed: Duration,
    /// The slowest single execution.
    pub slowest: Duration,
    /// By deduplication key.
    pub crashes: BTreeMap<String, Crash>,
}

impl Report {
    pub fn executions_per_second(&self) -> f64 {
        self.executions as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

thread_local! {
    /// Set while a target runs on this thread: its panics are recorded here, not printed.
    static CAUGHT: RefCell<Option<Option<String>>> = const { RefCell::new(None) };
}

/// Installs, once, a panic hook that records panics of fuzzing threads quietly and leaves
/// every other thread's panics to the hook that was there before.
fn install_quiet_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let fuzzing = CAUGHT.with(|c| c.borrow().is_some());
            if !fuzzing {
                return previous(info);
            }
            let message = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(a panic without a message)".into());
            let location = info.location().map_or_else(
                || "?".into(),
                |l| format!("{}:{}:{}", l.file(), l.line(), l.column()),
            );
            CAUGHT.with(|c| *c.borrow_mut() = Some(Some(format!("{location}: {message}"))));
        }));
    });
}

/// Runs `input` through `target` with panics caught: `Ok(accepted)`, or the panic.
pub fn execute(target: &Target, input: &[u8]) -> Result<bool, String> {
    install_quiet_hook();
    CAUGHT.with(|c| *c.borrow_mut() = Some(None));
    let result = panic::catch_unwind(AssertUnwindSafe(|| (target.run)(input)));
    let caught = CAUGHT.with(|c| c.borrow_mut().take().flatten());
    result.map_err(|_| caught.unwrap_or_else(|| "(panic not recorded)".into()))
}

/// The deduplication key of a panic: its text with every run of digits and every quoted
/// string blanked (an index out of bounds at another index, or an assertion that prints
/// another input, is the same bug).
pub fn crash_key(panic: &str) -> String {
    let mut key = String::with_capacity(panic.len());
    let mut chars = panic.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            key.push('#');
            while chars.peek().is_some_and(char::is_ascii_digit) {
                chars.next();
            }
        } else if c == '"' {
            key.push_str("\"…\"");
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        chars.next();
                    }
                    '"' => break,
                    _ => {}
                }
            }
        } else {
            key.push(c);
        }
    }
    key
}

/// A stable 64-bit FNV-1a hash (file names must not change between runs or builds).
pub fn fnv64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Runs `target` for `budget` from `seed`, writing each unique crash's first input under
/// `crash_dir`.
pub fn run(target: &Target, budget: Budget, seed: u64, crash_dir: Option<&Path>) -> Report {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name(format!("fuzz-{}", target.name))
            .stack_size(STACK_BYTES)
            .spawn_scoped(s, || run_here(target, budget, seed, crash_dir))
            .unwrap_or_else(|e| panic!("cannot start the fuzzing thread: {e}"))
            .join()
            .unwrap_or_else(|_| panic!("the fuzzing loop of {} panicked", target.name))
    })
}

fn run_here(target: &Target, budget: Budget, seed: u64, crash_dir: Option<&Path>) -> Report {
    let mut rng = SmallRng::seed_from_u64(seed ^ fnv64(target.name.as_bytes()));
    let mut pool = Pool::new((target.seeds)());
    let mut report = Report {
        target: target.name,
        executions: 0,
        accepted: 0,
        elapsed: Duration::ZERO,
        slowest: Duration::ZERO,
        crashes: BTreeMap::new(),
    };
    let start = Instant::now();
    // The seeds first, as they are: a seed that crashes is the plainest report there is.
    let mut queue: Vec<Vec<u8>> = pool.seeds.clone();
    queue.reverse();
    loop {
        let done = match budget {
            Budget::Executions(n) => report.executions >= n,
            Budget::Time(t) => start.elapsed() >= t,
        };
        if done {
            break;
        }
        let input = queue
            .pop()
            .unwrap_or_else(|| next_input(target, &mut rng, &pool));
        let began = Instant::now();
        let outcome = execute(target, &input);
        report.slowest = report.slowest.max(began.elapsed());
        report.executions += 1;
        match outcome {
            Ok(true) => {
                report.accepted += 1;
                pool.keep(&mut rng, &input);
            }
            Ok(false) => {}
            Err(panic) => record(&mut report, target.name, panic, input, crash_dir),
        }
    }
    report.elapsed = start.elapsed();
    report
}

fn next_input(target: &Target, rng: &mut SmallRng, pool: &Pool) -> Vec<u8> {
    match rng.random_range(0..20) {
        0..=1 => {
            let len = rng.random_range(0..=256);
            (0..len).map(|_| rng.random()).collect()
        }
        2..=7 => {
            let mut input = pool.pick(rng).to_vec();
            mutate::bytes(rng, &mut input, pool, MAX_INPUT_BYTES);
            input
        }
        _ => (target.generate)(rng, pool),
    }
}

fn record(
    report: &mut Report,
    target: &str,
    panic: String,
    input: Vec<u8>,
    crash_dir: Option<&Path>,
) {
    let key = crash_key(&panic);
    if let Some(crash) = report.crashes.get_mut(&key) {
        crash.hits += 1;
        return;
    }
    let file = crash_dir.and_then(|dir| {
        let path = dir.join(format!("{target}-{:016x}.bin", fnv64(key.as_bytes())));
        let written = std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::write(&path, &input))
            .and_then(|()| std::fs::write(path.with_extension("txt"), format!("{panic}\n")));
        match written {
            Ok(()) => Some(path),
            Err(e) => {
                eprintln!("cannot write crash input {}: {e}", path.display());
                None
            }
        }
    });
    report.crashes.insert(
        key,
        Crash {
            panic,
            hits: 1,
            file,
            input,
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crash_keys_blank_numbers_and_quoted_strings() {
        assert_eq!(
            crash_key("src/a.rs:10:5: index out of bounds: the len is 3 but the index is 7"),
            "src/a.rs:#:#: index out of bounds: the len is # but the index is #"
        );
        assert_eq!(
            crash_key(r#"src/a.rs:1:2: refused: {"id": "a\"b", "n": "x"}"#),
            r#"src/a.rs:#:#: refused: {"…": "…", "…": "…"}"#
        );
    }

    #[test]
    fn a_panicking_target_is_caught_deduplicated_and_written() {
        fn run(input: &[u8]) -> bool {
            assert!(input.first() != Some(&7), "seven at {}", input.len());
            true
        }
        let target = Target {
            name: "self-test",
            about: "panics on inputs starting with 7",
            seeds: || vec![vec![7], vec![7, 7], vec![1]],
            generate: |_, _| vec![1],
            run,
        };
        let dir = std::env::temp_dir().join(format!("moor-fuzz-self-test-{}", std::process::id()));
        let report = super::run(&target, Budget::Executions(10), 1, Some(&dir));
        assert_eq!(report.executions, 10);
        assert_eq!(report.crashes.len(), 1, "{:?}", report.crashes);
        let crash = report.crashes.values().next().expect("one crash");
        assert_eq!(crash.hits, 2);
        assert!(crash.panic.contains("seven at 1"), "{}", crash.panic);
        let file = crash.file.as_ref().expect("written");
        assert_eq!(std::fs::read(file).expect("readable"), vec![7]);
        std::fs::remove_dir_all(&dir).ok();
    }
}
