//! Seeded mutation of seed inputs: deterministic for a seed, so a finding is replayed by running again.

/// SplitMix64: small, fast, and the same sequence everywhere for a seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when n is 0).
    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }
}

pub(crate) struct Mutator {
    rng: Rng,
    tokens: &'static [&'static str],
}

impl Mutator {
    pub(crate) fn new(seed: u64, tokens: &'static [&'static str]) -> Self {
        Mutator { rng: Rng(seed), tokens }
    }

    /// A mutation of one of `seeds` (one to four edits), at most `max_len` bytes long.
    pub(crate) fn next(&mut self, seeds: &[Vec<u8>], max_len: usize) -> Vec<u8> {
        let mut input = seeds.get(self.rng.below(seeds.len())).cloned().unwrap_or_default();
        for _ in 0..=self.rng.below(4) {
            self.edit(&mut input, seeds);
        }
        input.truncate(max_len);
        input
    }

    fn edit(&mut self, input: &mut Vec<u8>, seeds: &[Vec<u8>]) {
        let len = input.len();
        match self.rng.below(8) {
            // Flip one bit.
            0 if len > 0 => {
                let at = self.rng.below(len);
                input[at] ^= 1 << self.rng.below(8);
            }
            // Replace a byte with an interesting one.
            1 if len > 0 => {
                const INTERESTING: &[u8] = b"0019-,.:[]{}\"\\ \n\t\0\xff=!()$";
                let at = self.rng.below(len);
                input[at] = INTERESTING[self.rng.below(INTERESTING.len())];
            }
            // Delete a range.
            2 if len > 0 => {
                let at = self.rng.below(len);
                let n = 1 + self.rng.below((len - at).min(16));
                input.drain(at..at + n);
            }
            // Repeat a chunk many times: what finds work or memory multiplied by the input.
            3 if len > 0 => {
                let at = self.rng.below(len);
                let n = 1 + self.rng.below((len - at).min(32));
                let chunk = input[at..at + n].to_vec();
                let times = 1 + self.rng.below(256);
                let copies: Vec<u8> = chunk.iter().copied().cycle().take(chunk.len() * times).collect();
                input.splice(at..at, copies);
            }
            // Splice in part of another seed.
            4 if !seeds.is_empty() => {
                let other = &seeds[self.rng.below(seeds.len())];
                if !other.is_empty() {
                    let from = self.rng.below(other.len());
                    let n = 1 + self.rng.below(other.len() - from);
                    let at = self.rng.below(len + 1);
                    input.splice(at..at, other[from..from + n].iter().copied());
                }
            }
            // Insert a random byte.
            5 => {
                let at = self.rng.below(len + 1);
                input.insert(at, self.rng.next() as u8);
            }
            // Insert a token of the target's grammar.
            _ if !self.tokens.is_empty() => {
                let token = self.tokens[self.rng.below(self.tokens.len())];
                let at = self.rng.below(len + 1);
                input.splice(at..at, token.bytes());
            }
            _ => input.push(self.rng.next() as u8),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_makes_the_same_inputs() {
        let seeds = vec![b"app=web,tier in (a,b)".to_vec(), b"{\"a\":1}".to_vec()];
        let run = |seed| {
            let mut m = Mutator::new(seed, &["in (", "!="]);
            (0..200).map(|_| m.next(&seeds, 1024)).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        assert!(run(7).iter().all(|i| i.len() <= 1024));
    }
}
