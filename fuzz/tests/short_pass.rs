//! The short fuzzing pass CI runs: every target on its committed seeds, then a few seconds of mutations from a
//! fixed seed (so a failure here replays with `scripts/fuzz <target> --seed 1`).

use std::time::Duration;

use runlet_fuzz::{Budget, TARGETS, load_corpus, run_campaign};

/// Seconds of mutations per target: enough for thousands of inputs, short enough for every CI run.
const SECONDS_PER_TARGET: u64 = 3;

#[test]
fn every_target_survives_its_corpus_and_a_short_campaign() {
    runlet_fuzz::quiet_panics();
    let budget = Budget {
        iterations: u64::MAX,
        time: Duration::from_secs(SECONDS_PER_TARGET),
        // Unoptimized code on a loaded machine: generous, but still far below what an input walking billions
        // of indexes or doubling a document forty times takes.
        per_input: Duration::from_secs(20),
    };
    for target in TARGETS {
        let seeds = load_corpus(target).unwrap_or_else(|e| panic!("{}: no corpus: {e}", target.name));
        assert!(!seeds.is_empty(), "{}: the corpus is empty", target.name);
        let stats = run_campaign(target, &seeds, budget, 1).unwrap_or_else(|finding| panic!("{finding}"));
        assert!(stats.mutations > 0, "{}: no mutation ran", target.name);
    }
}

#[test]
fn the_seeds_that_once_broke_the_server_are_in_the_corpus() {
    // The copy-doubling JSON patch and the two-billion-index interval list: committed so every CI run replays them.
    for (target, file) in [("json_patch", "copy-doubling.json"), ("index_intervals", "two-billion.txt")] {
        let path = runlet_fuzz::corpus_root().join(target).join(file);
        assert!(path.is_file(), "{} is missing", path.display());
    }
}
