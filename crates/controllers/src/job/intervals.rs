//! Completion-index sets kept as ordered intervals, the way the upstream controller keeps them
//! (`orderedIntervals` in `indexed_job_utils.go`).
//!
//! Intervals rather than a set of integers because `completions` may be as large as `i32::MAX` and
//! `status.completedIndexes` is user-writable: `0-2000000000` must stay three numbers, not two billion.
//! Parsing and printing follow upstream exactly, including how it tolerates malformed input.

use std::fmt;

/// Ordered, merged intervals `[first, last]` of completion indexes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Intervals(Vec<(i32, i32)>);

impl Intervals {
    /// Parses an interval list (`1,3-5,7`), dropping indexes `>= completions` (upstream
    /// `parseIndexesFromString`): unparsable pieces are skipped, the first piece starting at or past
    /// `completions` ends the list, and an interval's end is clipped to `completions - 1`.
    pub(crate) fn parse_clipped(text: &str, completions: i32) -> Self {
        let mut out: Vec<(i32, i32)> = Vec::new();
        if text.is_empty() {
            return Intervals(out);
        }
        for piece in text.split(',') {
            let mut limits = piece.split('-');
            let Some(first) = limits.next().and_then(parse_go_int) else { continue };
            if first >= i64::from(completions) {
                break;
            }
            let last = match limits.next() {
                Some(text) => match parse_go_int(text) {
                    Some(last) => last.min(i64::from(completions) - 1),
                    None => continue,
                },
                None => first,
            };
            // Both fit: `first < completions` and `last <= completions - 1`; a negative `last`
            // (as in `5--1`) is clamped rather than wrapped.
            let first = first as i32;
            let last = last.max(i64::from(i32::MIN)) as i32;
            match out.last_mut() {
                Some(prev) if i64::from(prev.1) == i64::from(first) - 1 => prev.1 = last,
                _ => out.push((first, last)),
            }
        }
        Intervals(out)
    }

    /// The union with `indexes`, which must be in increasing order (upstream `withOrderedIndexes`).
    pub(crate) fn with_indexes(&self, indexes: impl IntoIterator<Item = i32>) -> Self {
        let other = Intervals(indexes.into_iter().map(|ix| (ix, ix)).collect());
        self.merge(&other)
    }

    /// The union of two ordered lists (upstream `merge`).
    pub(crate) fn merge(&self, other: &Intervals) -> Self {
        let mut out: Vec<(i32, i32)> = Vec::with_capacity(self.0.len() + other.0.len());
        let mut push = |next: (i32, i32)| match out.last_mut() {
            Some(last) if i64::from(next.0) <= i64::from(last.1) + 1 => last.1 = last.1.max(next.1),
            _ => out.push(next),
        };
        let (mut i, mut j) = (0, 0);
        while i < self.0.len() && j < other.0.len() {
            if self.0[i].0 < other.0[j].0 {
                push(self.0[i]);
                i += 1;
            } else {
                push(other.0[j]);
                j += 1;
            }
        }
        self.0[i..].iter().chain(&other.0[j..]).for_each(|&iv| push(iv));
        Intervals(out)
    }

    /// Number of indexes covered.
    pub(crate) fn total(&self) -> i64 {
        self.0.iter().map(|&(first, last)| i64::from(last) - i64::from(first) + 1).sum()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Binary search, as upstream `has` (which assumes the list is ordered).
    pub(crate) fn contains(&self, ix: i32) -> bool {
        let pos = self.0.partition_point(|&(_, last)| last < ix);
        self.0.get(pos).is_some_and(|&(first, _)| first <= ix)
    }

    pub(crate) fn intervals(&self) -> &[(i32, i32)] {
        &self.0
    }
}

/// Go's `strconv.Atoi`: optional sign, decimal digits, 64-bit range.
fn parse_go_int(text: &str) -> Option<i64> {
    text.parse::<i64>().ok()
}

/// Upstream `String()`: `a-b` for runs of three or more, `a,b` for runs of two.
impl fmt::Display for Intervals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, &(first, last)) in self.0.iter().enumerate() {
            if n > 0 {
                f.write_str(",")?;
            }
            write!(f, "{first}")?;
            if last > first {
                let sep = if i64::from(last) == i64::from(first) + 1 { "," } else { "-" };
                write!(f, "{sep}{last}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(indexes: &[i32]) -> Intervals {
        Intervals::default().with_indexes(indexes.iter().copied())
    }

    #[test]
    fn formats_like_upstream() {
        let cases: &[(&[i32], &str)] = &[
            (&[], ""),
            (&[0, 1, 2], "0-2"),
            (&[7, 8], "7,8"),
            (&[2, 4, 5, 7, 8, 9], "2,4,5,7-9"),
            (&[1, 3, 4, 5], "1,3-5"),
            (&[0], "0"),
        ];
        for (indexes, want) in cases {
            assert_eq!(of(indexes).to_string(), *want, "{indexes:?}");
        }
    }

    #[test]
    fn parses_and_clips_like_upstream() {
        type Case<'a> = (&'a str, i32, &'a [(i32, i32)]);
        let cases: &[Case] = &[
            ("", 5, &[]),
            ("0-2", 5, &[(0, 2)]),
            ("1,3-5", 10, &[(1, 1), (3, 5)]),
            ("1,2,3", 10, &[(1, 3)]),
            ("0-9", 5, &[(0, 4)]),
            ("1,7,8", 5, &[(1, 1)]),
            ("x,2", 5, &[(2, 2)]),
            ("2-y,4", 5, &[(4, 4)]),
            ("0-2000000000", 2147483647, &[(0, 2000000000)]),
            ("99999999999999", 5, &[]),
        ];
        for (text, completions, want) in cases {
            assert_eq!(Intervals::parse_clipped(text, *completions).intervals(), *want, "{text}");
        }
    }

    #[test]
    fn merges_contains_and_counts() {
        let a = Intervals::parse_clipped("0-2,6", 10);
        let b = Intervals::parse_clipped("3,8,9", 10);
        let merged = a.merge(&b);
        assert_eq!(merged.to_string(), "0-3,6,8,9");
        assert_eq!(merged.total(), 7);
        for (ix, want) in [(0, true), (3, true), (4, false), (6, true), (7, false), (9, true), (10, false)] {
            assert_eq!(merged.contains(ix), want, "{ix}");
        }
        assert_eq!(of(&[1, 1, 2]).to_string(), "1,2");
        assert!(Intervals::default().is_empty());
    }
}
