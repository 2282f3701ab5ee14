//! Fuzzing of the parsers and patchers every API request reaches, on stable Rust.
//!
//! Each [`Target`] takes arbitrary bytes. A campaign ([`run_campaign`]) feeds a target its committed seed corpus
//! (`fuzz/corpus/<target>/`), then seeded random mutations of it (bit flips, insertions, deletions, repeated
//! chunks, tokens of the target's grammar, splices of two seeds), and fails on:
//!
//! - a panic (the target must answer every input with `Ok` or `Err`),
//! - an input that runs longer than the time bound (work multiplied by the input, e.g. a walk over every index
//!   of `0-2147483646`),
//! - an allocation past the memory bound ([`MEMORY_BOUND`] above what was live before the input): the
//!   allocator refuses it and the process aborts with a message naming the bound, as a server would die.
//!
//! A campaign is deterministic for a seed, so a failure is replayed with the same `--seed`. `scripts/fuzz` runs
//! long campaigns; the crate's tests run a short one per target in CI.

mod alloc;
mod mutate;
pub mod targets;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub use alloc::MEMORY_BOUND;
pub use targets::{TARGETS, Target, by_name};

/// Largest input a campaign makes (request bodies are larger, but the parsers' cost per byte is what matters).
pub const MAX_INPUT_BYTES: usize = 64 * 1024;

/// How much a campaign does.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Stop after this many mutated inputs...
    pub iterations: u64,
    /// ...or after this long, whichever comes first.
    pub time: Duration,
    /// One input taking longer than this is a finding.
    pub per_input: Duration,
}

/// What a campaign found wrong, with the input that shows it.
#[derive(Debug)]
pub struct Finding {
    pub target: &'static str,
    pub what: String,
    pub input: Vec<u8>,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} on input {:?}", self.target, self.what, String::from_utf8_lossy(&self.input))
    }
}

/// What a clean campaign did.
#[derive(Debug, Clone, Copy)]
pub struct Stats {
    pub seeds: usize,
    pub mutations: u64,
}

/// The directory of the committed seed corpora.
pub fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus")
}

/// The seed inputs of `target`, in file name order.
pub fn load_corpus(target: &Target) -> std::io::Result<Vec<Vec<u8>>> {
    let dir = corpus_root().join(target.name);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    paths.sort();
    paths.iter().map(std::fs::read).collect()
}

/// Runs `target` on its seeds, then on mutations of them, within `budget`. A time-out leaves the stuck input
/// running on its own thread: the caller should stop (the process exits soon after in every use).
pub fn run_campaign(target: &'static Target, seeds: &[Vec<u8>], budget: Budget, seed: u64) -> Result<Stats, Finding> {
    let (to_worker, inputs) = mpsc::channel::<Vec<u8>>();
    let (to_driver, outcomes) = mpsc::channel::<Result<(), String>>();
    let run = target.run;
    let name = target.name;
    std::thread::Builder::new()
        .name(format!("fuzz-{name}"))
        .spawn(move || {
            for input in inputs {
                alloc::begin_input(name);
                let outcome = std::panic::catch_unwind(|| run(&input)).map_err(|panic| panic_message(&panic));
                alloc::end_input();
                if to_driver.send(outcome).is_err() {
                    return;
                }
            }
        })
        .map_err(|e| Finding { target: name, what: format!("cannot start the worker: {e}"), input: Vec::new() })?;
    let check = |input: Vec<u8>| -> Result<(), Finding> {
        to_worker.send(input.clone()).map_err(|_| Finding {
            target: name,
            what: "the worker stopped".into(),
            input: input.clone(),
        })?;
        match outcomes.recv_timeout(budget.per_input) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(panic)) => Err(Finding { target: name, what: format!("panic: {panic}"), input }),
            Err(_) => Err(Finding { target: name, what: format!("took longer than {:?}", budget.per_input), input }),
        }
    };
    for input in seeds {
        check(input.clone())?;
    }
    let started = Instant::now();
    let mut mutator = mutate::Mutator::new(seed, target.tokens);
    let mut mutations = 0;
    while mutations < budget.iterations && started.elapsed() < budget.time {
        let input = mutator.next(seeds, MAX_INPUT_BYTES);
        check(input)?;
        mutations += 1;
    }
    Ok(Stats { seeds: seeds.len(), mutations })
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".into()
    }
}

/// Keeps panics of the targets off stderr: a campaign reports them itself.
pub fn quiet_panics() {
    std::panic::set_hook(Box::new(|_| {}));
}
