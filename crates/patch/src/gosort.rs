//! Go's `sort.SliceStable` (insertion sort in blocks of 20, then SymMerge), reproduced step for step.
//!
//! Upstream orders merge lists with a comparator that is not a strict weak ordering (it answers `true`
//! whenever an element is missing from the reference list), so the result depends on the exact
//! algorithm; any other stable sort agrees only when the comparator is consistent.

/// Sorts `data` in place exactly as Go's `sort.SliceStable(data, less)` does.
pub fn slice_stable<T>(data: &mut [T], less: &dyn Fn(&T, &T) -> bool) {
    let n = data.len();
    let mut block = 20;
    let (mut a, mut b) = (0, block);
    while b <= n {
        insertion_sort(data, less, a, b);
        a = b;
        b += block;
    }
    insertion_sort(data, less, a, n);
    while block < n {
        a = 0;
        b = 2 * block;
        while b <= n {
            sym_merge(data, less, a, a + block, b);
            a = b;
            b += 2 * block;
        }
        let m = a + block;
        if m < n {
            sym_merge(data, less, a, m, n);
        }
        block *= 2;
    }
}

fn lt<T>(data: &[T], less: &dyn Fn(&T, &T) -> bool, i: usize, j: usize) -> bool {
    less(&data[i], &data[j])
}

fn insertion_sort<T>(data: &mut [T], less: &dyn Fn(&T, &T) -> bool, a: usize, b: usize) {
    for i in a + 1..b {
        let mut j = i;
        while j > a && lt(data, less, j, j - 1) {
            data.swap(j, j - 1);
            j -= 1;
        }
    }
}

fn sym_merge<T>(data: &mut [T], less: &dyn Fn(&T, &T) -> bool, a: usize, m: usize, b: usize) {
    if m - a == 1 {
        // Binary search for the first index in data[m..b] not less than data[a], then rotate it in.
        let (mut i, mut j) = (m, b);
        while i < j {
            let h = (i + j) / 2;
            if lt(data, less, h, a) {
                i = h + 1;
            } else {
                j = h;
            }
        }
        for k in a..i.saturating_sub(1) {
            data.swap(k, k + 1);
        }
        return;
    }
    if b - m == 1 {
        let (mut i, mut j) = (a, m);
        while i < j {
            let h = (i + j) / 2;
            if !lt(data, less, m, h) {
                i = h + 1;
            } else {
                j = h;
            }
        }
        let mut k = m;
        while k > i {
            data.swap(k, k - 1);
            k -= 1;
        }
        return;
    }
    let mid = (a + b) / 2;
    let n = mid + m;
    let (mut start, mut r) = if m > mid { (n - b, mid) } else { (a, m) };
    let p = n - 1;
    while start < r {
        let c = (start + r) / 2;
        if !lt(data, less, p - c, c) {
            start = c + 1;
        } else {
            r = c;
        }
    }
    let end = n - start;
    if start < m && m < end {
        rotate(data, start, m, end);
    }
    if a < start && start < mid {
        sym_merge(data, less, a, start, mid);
    }
    if mid < end && end < b {
        sym_merge(data, less, mid, end, b);
    }
}

fn rotate<T>(data: &mut [T], a: usize, m: usize, b: usize) {
    let mut i = m - a;
    let mut j = b - m;
    while i != j {
        if i > j {
            swap_range(data, m - i, m, j);
            i -= j;
        } else {
            swap_range(data, m - i, m + j - i, i);
            j -= i;
        }
    }
    swap_range(data, m - i, m, i);
}

fn swap_range<T>(data: &mut [T], a: usize, b: usize, n: usize) {
    for i in 0..n {
        data.swap(a + i, b + i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_stably_with_a_consistent_comparator() {
        for n in [0usize, 1, 2, 19, 20, 21, 45, 100] {
            // Key = value / 3 so that many elements tie; stability keeps ties in input order.
            let mut data: Vec<(usize, usize)> = (0..n).map(|i| ((i * 7919) % 23, i)).collect();
            let mut expected = data.clone();
            expected.sort_by_key(|&(k, _)| k / 3);
            slice_stable(&mut data, &|x: &(usize, usize), y: &(usize, usize)| x.0 / 3 < y.0 / 3);
            assert_eq!(data, expected, "n={n}");
        }
    }

    #[test]
    fn always_true_comparator_reverses_small_slices() {
        // Go's insertion sort moves every element to the front when `less` is always true.
        let mut data = vec![1, 2, 3, 4];
        slice_stable(&mut data, &|_: &i32, _: &i32| true);
        assert_eq!(data, vec![4, 3, 2, 1]);
    }
}
