//! Sets of Indexed-Job completion indexes and their interval strings (`status.completedIndexes`,
//! `status.failedIndexes`, `successPolicy.rules[].succeededIndexes`): `0-2,5,7,8`.
//!
//! A set is stored as runs of consecutive indexes, not one entry per index, because an interval string of a few
//! bytes (`0-2147483646`) can name billions of indexes.

use std::fmt;

use crate::field::quote;

/// Why an interval string is not acceptable, with upstream's exact wording (`validateIndexesFormat`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntervalError {
    #[error("the fragment {} violates the requirement that an index interval can have at most two parts separated by '-'", quote(.0))]
    TooManyParts(String),
    #[error("cannot convert string to integer for index: {}", quote(.0))]
    NotAnInteger(String),
    #[error("too large index: {}", quote(.0))]
    TooLarge(String),
    #[error("non-increasing order, previous: {previous}, current: {current}")]
    NonIncreasing { previous: i64, current: i64 },
}

/// A sorted set of indexes without duplicates.
///
/// Invariant: `runs` holds inclusive `(first, last)` pairs, sorted, with `first <= last`, and with at least one
/// missing index between two runs (adjacent runs are merged).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexSet {
    runs: Vec<(i32, i32)>,
}

impl IndexSet {
    pub fn new() -> Self {
        IndexSet::default()
    }

    /// The runs of consecutive indexes, as inclusive `(first, last)` pairs in increasing order.
    pub fn runs(&self) -> &[(i32, i32)] {
        &self.runs
    }

    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// The number of indexes in the set.
    pub fn len(&self) -> usize {
        self.runs.iter().map(|&(first, last)| (i64::from(last) - i64::from(first) + 1) as usize).sum()
    }

    pub fn contains(&self, index: i32) -> bool {
        // The first run that does not end before `index` is the only one that can hold it.
        let at = self.runs.partition_point(|&(_, last)| last < index);
        self.runs.get(at).is_some_and(|&(first, _)| first <= index)
    }

    /// The indexes in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = i32> + '_ {
        self.runs.iter().flat_map(|&(first, last)| first..=last)
    }

    /// Adds one index; returns whether it was new.
    pub fn insert(&mut self, index: i32) -> bool {
        if self.contains(index) {
            return false;
        }
        self.insert_range(index, index);
        true
    }

    /// Adds every index of `first..=last` (nothing when `last < first`).
    pub fn insert_range(&mut self, first: i32, last: i32) {
        if last < first {
            return;
        }
        // Runs that overlap or touch the new range are absorbed into it; i64 keeps `last + 1` from overflowing.
        let start = self.runs.partition_point(|&(_, l)| i64::from(l) + 1 < i64::from(first));
        let end = self.runs.partition_point(|&(f, _)| i64::from(f) <= i64::from(last) + 1);
        let (mut new_first, mut new_last) = (first, last);
        if start < end {
            new_first = new_first.min(self.runs[start].0);
            new_last = new_last.max(self.runs[end - 1].1);
        }
        self.runs.splice(start..end, [(new_first, new_last)]);
    }

    /// The indexes in either set.
    pub fn union(&self, other: &IndexSet) -> IndexSet {
        let mut out = self.clone();
        for &(first, last) in &other.runs {
            out.insert_range(first, last);
        }
        out
    }

    /// The smallest index in both sets, found by walking the runs of both side by side (never index by index:
    /// one run can hold two billion indexes).
    pub fn first_common(&self, other: &IndexSet) -> Option<i32> {
        let (mut mine, mut theirs) = (self.runs.iter().peekable(), other.runs.iter().peekable());
        while let (Some(&&(a_first, a_last)), Some(&&(b_first, b_last))) = (mine.peek(), theirs.peek()) {
            if a_last < b_first {
                mine.next();
            } else if b_last < a_first {
                theirs.next();
            } else {
                return Some(a_first.max(b_first));
            }
        }
        None
    }

    /// The interval string: runs of three or more as `a-b`, runs of two as `a,b`, empty set as `""`.
    pub fn format(&self) -> String {
        self.to_string()
    }

    /// Parses an interval string the way API validation does: strictly increasing, every index below
    /// `completions`, each fragment `n` or `a-b` with `a < b`. The empty string is the empty set.
    pub fn parse(s: &str, completions: i32) -> Result<IndexSet, IntervalError> {
        let mut set = IndexSet::new();
        if s.is_empty() {
            return Ok(set);
        }
        let mut previous: Option<i64> = None;
        for fragment in s.split(',') {
            let (first, last) = parse_fragment(fragment, completions)?;
            if let Some(previous) = previous
                && previous >= first
            {
                return Err(IntervalError::NonIncreasing { previous, current: first });
            }
            // Both bounds are in [0, completions), so they fit in i32.
            set.insert_range(first as i32, last as i32);
            previous = Some(last);
        }
        Ok(set)
    }

    /// Parses an interval string leniently, the way the Job controller reads its own status: fragments that are
    /// not numbers are skipped, indexes at or above `completions` are dropped, and order does not matter.
    pub fn parse_clipped(s: &str, completions: i32) -> IndexSet {
        let mut set = IndexSet::new();
        if s.is_empty() {
            return set;
        }
        let max = i64::from(completions) - 1;
        for fragment in s.split(',') {
            let mut limits = fragment.split('-');
            let Some(Ok(first)) = limits.next().map(str::parse::<i64>) else { continue };
            let last = match limits.next() {
                None => first,
                Some(text) => match text.parse::<i64>() {
                    Ok(last) => last,
                    Err(_) => continue,
                },
            };
            let last = last.min(max);
            if first > max || last < first {
                continue;
            }
            // `first` is non-negative (a '-' can never start a bound) and `last <= max < i32::MAX`.
            set.insert_range(first as i32, last as i32);
        }
        set
    }
}

/// One fragment of a strict interval string: `n` or `a-b`, bounds checked against `completions`.
fn parse_fragment(fragment: &str, completions: i32) -> Result<(i64, i64), IntervalError> {
    let limits: Vec<&str> = fragment.split('-').collect();
    let bound = |text: &str| -> Result<i64, IntervalError> {
        let value: i64 = text.parse().map_err(|_| IntervalError::NotAnInteger(text.to_string()))?;
        if value >= i64::from(completions) {
            return Err(IntervalError::TooLarge(text.to_string()));
        }
        Ok(value)
    };
    match limits.as_slice() {
        [single] => {
            let x = bound(single)?;
            Ok((x, x))
        }
        [first, last] => {
            let x = bound(first)?;
            let y = bound(last)?;
            if x >= y {
                return Err(IntervalError::NonIncreasing { previous: x, current: y });
            }
            Ok((x, y))
        }
        _ => Err(IntervalError::TooManyParts(fragment.to_string())),
    }
}

impl fmt::Display for IndexSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, &(first, last)) in self.runs.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{first}")?;
            if last == first + 1 {
                write!(f, ",{last}")?;
            } else if last > first {
                write!(f, "-{last}")?;
            }
        }
        Ok(())
    }
}

impl FromIterator<i32> for IndexSet {
    fn from_iter<I: IntoIterator<Item = i32>>(iter: I) -> Self {
        let mut indexes: Vec<i32> = iter.into_iter().collect();
        indexes.sort_unstable();
        indexes.dedup();
        let mut set = IndexSet::new();
        for index in indexes {
            // Sorted input only ever extends the last run or starts a new one.
            match set.runs.last_mut() {
                Some((_, last)) if i64::from(*last) + 1 == i64::from(index) => *last = index,
                _ => set.runs.push((index, index)),
            }
        }
        set
    }
}

impl Extend<i32> for IndexSet {
    fn extend<I: IntoIterator<Item = i32>>(&mut self, iter: I) {
        for index in iter {
            self.insert(index);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_the_spec() {
        let cases: &[(&[i32], &str)] = &[
            (&[], ""),
            (&[0, 1, 2], "0-2"),
            (&[7, 8], "7,8"),
            (&[2, 4, 5, 7, 8, 9], "2,4,5,7-9"),
            (&[1, 3, 4, 5], "1,3-5"),
            (&[5], "5"),
            (&[9, 0, 1, 1, 2, 9, 10], "0-2,9,10"),
        ];
        for (indexes, want) in cases {
            let set: IndexSet = indexes.iter().copied().collect();
            assert_eq!(set.format(), *want, "{indexes:?}");
        }
    }

    #[test]
    fn set_operations() {
        let mut set: IndexSet = [5, 1, 3].into_iter().collect();
        assert_eq!(set.len(), 3);
        assert!(set.contains(3) && !set.contains(2) && !set.contains(6) && !set.contains(0));
        assert!(set.insert(2));
        assert!(!set.insert(2));
        assert_eq!(set.runs(), &[(1, 3), (5, 5)]);
        assert!(set.insert(4));
        assert_eq!(set.runs(), &[(1, 5)]);
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![1, 2, 3, 4, 5]);

        let other: IndexSet = [0, 7, 8].into_iter().collect();
        let both = set.union(&other);
        assert_eq!(both.format(), "0-5,7,8");
        assert_eq!(both.len(), 8);
        assert!(IndexSet::new().is_empty());

        let mut wide = IndexSet::new();
        wide.insert_range(10, 20);
        wide.insert_range(30, 40);
        wide.insert_range(15, 35);
        assert_eq!(wide.runs(), &[(10, 40)]);
        wide.insert_range(41, 41);
        wide.insert_range(i32::MAX - 1, i32::MAX);
        assert_eq!(wide.runs(), &[(10, 41), (i32::MAX - 1, i32::MAX)]);
        wide.insert_range(5, 4);
        assert_eq!(wide.len(), 34);
    }

    #[test]
    fn first_common_index() {
        // (one set, the other, the smallest index in both)
        let cases: &[(&str, &str, Option<i32>)] = &[
            ("", "", None),
            ("0-2", "", None),
            ("0-2", "3-5", None),
            ("0-2", "2", Some(2)),
            ("1,3,5", "0,2,4,6", None),
            ("1,3,5", "0,2,5", Some(5)),
            ("0-10,20-30", "11-19,25", Some(25)),
            ("5-9", "0-100", Some(5)),
            // Two billion indexes on each side: answered from the runs, not by counting.
            ("0-2147483645", "2147483646", None),
            ("0-2147483645", "7-2147483646", Some(7)),
        ];
        for (a, b, want) in cases {
            let (a_set, b_set) = (IndexSet::parse_clipped(a, i32::MAX), IndexSet::parse_clipped(b, i32::MAX));
            assert_eq!(a_set.first_common(&b_set), *want, "{a:?} and {b:?}");
            assert_eq!(b_set.first_common(&a_set), *want, "{b:?} and {a:?}");
        }
    }

    #[test]
    fn parses_strictly() {
        let ok: &[(&str, i32, &str)] = &[
            ("", 5, ""),
            ("0", 1, "0"),
            ("0-2", 5, "0-2"),
            ("0,1,2", 5, "0-2"),
            ("1,3-4", 5, "1,3,4"),
            ("2,4,5,7-9", 10, "2,4,5,7-9"),
            ("0-2147483645", i32::MAX, "0-2147483645"),
        ];
        for &(input, completions, want) in ok {
            assert_eq!(IndexSet::parse(input, completions).map(|s| s.format()), Ok(want.to_string()), "{input:?}");
        }
        let bad: &[(&str, i32, &str)] = &[
            ("7", 5, "too large index: \"7\""),
            ("1-7", 5, "too large index: \"7\""),
            ("5", 5, "too large index: \"5\""),
            ("x", 5, "cannot convert string to integer for index: \"x\""),
            ("1-x", 5, "cannot convert string to integer for index: \"x\""),
            ("1,", 5, "cannot convert string to integer for index: \"\""),
            ("-1", 5, "cannot convert string to integer for index: \"\""),
            (" 1", 5, "cannot convert string to integer for index: \" 1\""),
            ("99999999999", 5, "too large index: \"99999999999\""),
            ("3,1", 5, "non-increasing order, previous: 3, current: 1"),
            ("1-3,3", 5, "non-increasing order, previous: 3, current: 3"),
            ("3-1", 5, "non-increasing order, previous: 3, current: 1"),
            ("2-2", 5, "non-increasing order, previous: 2, current: 2"),
            (
                "1-2-3",
                5,
                "the fragment \"1-2-3\" violates the requirement that an index interval can have at most two parts separated by '-'",
            ),
        ];
        for &(input, completions, want) in bad {
            let err = IndexSet::parse(input, completions).expect_err(input);
            assert_eq!(err.to_string(), want, "{input:?}");
        }
    }

    #[test]
    fn parses_leniently() {
        let cases: &[(&str, i32, &str)] = &[
            ("", 5, ""),
            ("0-2,4", 5, "0-2,4"),
            ("0-2,4-9,12", 6, "0-2,4,5"),
            ("7", 5, ""),
            ("x,1,y-3,2-z", 5, "1"),
            ("3,1", 5, "1,3"),
            ("3-1", 5, ""),
            ("1-3-4", 5, "1-3"),
        ];
        for &(input, completions, want) in cases {
            assert_eq!(IndexSet::parse_clipped(input, completions).format(), want, "{input:?}");
        }
    }

    #[test]
    fn format_then_parse_round_trips() {
        let set: IndexSet = [0, 1, 3, 4, 5, 9, 11, 12].into_iter().collect();
        assert_eq!(IndexSet::parse(&set.format(), 13), Ok(set.clone()));
        assert_eq!(IndexSet::parse_clipped(&set.format(), 13), set);
    }
}
