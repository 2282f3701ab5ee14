//! `runlet-fuzz [TARGET...] [--seconds N] [--seed S]`: a campaign per target (all when none is named), each for
//! N seconds. Exits non-zero on the first finding, after writing its input to `fuzz/artifacts/<target>/`.

use std::time::Duration;

use runlet_fuzz::{Budget, TARGETS, by_name, load_corpus, run_campaign};

fn main() {
    let mut names = Vec::new();
    let (mut seconds, mut seed) = (60u64, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = |flag: &str| -> u64 {
            args.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| fail(&format!("{flag} needs a number")))
        };
        match arg.as_str() {
            "--seconds" => seconds = number("--seconds"),
            "--seed" => seed = Some(number("--seed")),
            "--list" => {
                TARGETS.iter().for_each(|t| println!("{}", t.name));
                return;
            }
            name => names.push(name.to_string()),
        }
    }
    let targets: Vec<_> = if names.is_empty() {
        TARGETS.iter().collect()
    } else {
        names.iter().map(|n| by_name(n).unwrap_or_else(|| fail(&format!("no target {n:?} (see --list)")))).collect()
    };
    // A fresh seed each run unless one is given to replay.
    let seed = seed.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
    });
    runlet_fuzz::quiet_panics();
    let budget = Budget { iterations: u64::MAX, time: Duration::from_secs(seconds), per_input: Duration::from_secs(5) };
    for target in targets {
        let seeds = load_corpus(target).unwrap_or_else(|e| fail(&format!("{}: reading its corpus: {e}", target.name)));
        println!("{}: {} seeds, {seconds} s, --seed {seed}", target.name, seeds.len());
        match run_campaign(target, &seeds, budget, seed) {
            Ok(stats) => println!("{}: {} inputs, nothing found", target.name, stats.mutations),
            Err(finding) => {
                let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacts").join(finding.target);
                let _ = std::fs::create_dir_all(&dir);
                let path = dir.join(format!("finding-{seed}"));
                let _ = std::fs::write(&path, &finding.input);
                eprintln!("{finding}");
                eprintln!("input written to {} (replay: --seed {seed} {})", path.display(), finding.target);
                std::process::exit(1);
            }
        }
    }
}

fn fail(message: &str) -> ! {
    eprintln!("runlet-fuzz: {message}");
    std::process::exit(2);
}
