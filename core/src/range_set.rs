//! A set of `u64` values stored as sorted, disjoint, non-adjacent half-open ranges.
//!
//! Used for received packet numbers (ACK ranges, duplicate detection), received stream bytes
//! (reassembly) and acknowledged/lost stream bytes (retransmission). The common cases (appending
//! at the end, removing from the front) cost O(1) amortised; the vector never shrinks its
//! allocation, so steady-state use does not allocate.

use core::ops::Range;

/// Sorted disjoint ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RangeSet {
    ranges: Vec<Range<u64>>,
}

impl RangeSet {
    pub(crate) fn new() -> Self {
        RangeSet { ranges: Vec::new() }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Number of disjoint ranges (not values).
    pub(crate) fn len(&self) -> usize {
        self.ranges.len()
    }

    pub(crate) fn first_range(&self) -> Option<Range<u64>> {
        self.ranges.first().cloned()
    }

    pub(crate) fn contains(&self, v: u64) -> bool {
        let i = self.ranges.partition_point(|r| r.end <= v);
        self.ranges.get(i).is_some_and(|r| r.start <= v)
    }

    /// Ranges from highest to lowest, the order ACK frames list them in.
    pub(crate) fn iter_rev(&self) -> impl Iterator<Item = Range<u64>> + '_ {
        self.ranges.iter().rev().cloned()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = Range<u64>> + '_ {
        self.ranges.iter().cloned()
    }

    /// Adds `v`; returns false when it was already present.
    pub(crate) fn insert_one(&mut self, v: u64) -> bool {
        // Fast path: extends the last range (in-order packet numbers, in-order stream data).
        if let Some(last) = self.ranges.last_mut() {
            if last.end == v {
                last.end += 1;
                return true;
            }
            if last.end > v && last.start <= v {
                return false;
            }
        }
        self.insert(v..v + 1)
    }

    /// Adds every value of `r`; returns true when at least one value was new.
    pub(crate) fn insert(&mut self, r: Range<u64>) -> bool {
        if r.start >= r.end {
            return false;
        }
        if let Some(last) = self.ranges.last_mut()
            && last.end <= r.start
        {
            if last.end == r.start {
                last.end = r.end;
            } else {
                self.ranges.push(r);
            }
            return true;
        }
        // First range that ends at or after r.start (adjacent ranges merge).
        let lo = self.ranges.partition_point(|x| x.end < r.start);
        // First range that starts after r.end (not adjacent).
        let hi = self.ranges.partition_point(|x| x.start <= r.end);
        if lo == hi {
            self.ranges.insert(lo, r);
            return true;
        }
        let merged = self.ranges[lo].start.min(r.start)..self.ranges[hi - 1].end.max(r.end);
        let covered = hi - lo == 1 && self.ranges[lo].start <= r.start && self.ranges[lo].end >= r.end;
        self.ranges[lo] = merged;
        self.ranges.drain(lo + 1..hi);
        !covered
    }

    /// Adds the values of `r` that are not in `exclude` (e.g. lost bytes minus those
    /// acknowledged since).
    pub(crate) fn insert_excluding(&mut self, r: Range<u64>, exclude: &RangeSet) {
        self.insert(r.clone());
        for x in exclude.ranges.iter().filter(|x| x.start < r.end && x.end > r.start) {
            self.remove(x.clone());
        }
    }

    /// Removes every value of `r`.
    pub(crate) fn remove(&mut self, r: Range<u64>) {
        if r.start >= r.end {
            return;
        }
        let lo = self.ranges.partition_point(|x| x.end <= r.start);
        let hi = self.ranges.partition_point(|x| x.start < r.end);
        if lo >= hi {
            return;
        }
        let head = (self.ranges[lo].start < r.start).then(|| self.ranges[lo].start..r.start);
        let tail = (self.ranges[hi - 1].end > r.end).then(|| r.end..self.ranges[hi - 1].end);
        let replacement = head.into_iter().chain(tail);
        self.ranges.splice(lo..hi, replacement);
    }

    /// Removes every value below `v`.
    pub(crate) fn remove_below(&mut self, v: u64) {
        let n = self.ranges.partition_point(|x| x.end <= v);
        self.ranges.drain(..n);
        if let Some(first) = self.ranges.first_mut() {
            first.start = first.start.max(v);
        }
    }

    /// Removes and returns the lowest range, clipped to at most `max_len` values.
    pub(crate) fn pop_min(&mut self, max_len: u64) -> Option<Range<u64>> {
        let first = self.ranges.first_mut()?;
        let end = first.end.min(first.start.saturating_add(max_len.max(1)));
        let out = first.start..end;
        if end == first.end {
            self.ranges.remove(0);
        } else {
            first.start = end;
        }
        Some(out)
    }

    /// Drops the lowest range (used to bound memory when a peer creates many gaps).
    pub(crate) fn drop_min_range(&mut self) -> Option<Range<u64>> {
        (!self.ranges.is_empty()).then(|| self.ranges.remove(0))
    }

    pub(crate) fn clear(&mut self) {
        self.ranges.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranges(s: &RangeSet) -> Vec<Range<u64>> {
        s.iter().collect()
    }

    #[test]
    fn inserts_merge_adjacent_and_overlapping_ranges() {
        let mut s = RangeSet::new();
        assert!(s.insert(10..20));
        assert!(s.insert(30..40));
        assert!(s.insert(0..5));
        assert_eq!(ranges(&s), vec![0..5, 10..20, 30..40]);
        assert!(s.insert(20..30));
        assert_eq!(ranges(&s), vec![0..5, 10..40]);
        assert!(!s.insert(12..18), "fully covered insert reports nothing new");
        assert!(s.insert(3..12));
        assert_eq!(ranges(&s), vec![0..40]);
        assert!(!s.insert_one(7));
        assert!(s.insert_one(40));
        assert!(s.contains(40) && !s.contains(41));
    }

    #[test]
    fn remove_splits_ranges() {
        let mut s = RangeSet::new();
        s.insert(0..100);
        s.remove(10..20);
        s.remove(50..60);
        assert_eq!(ranges(&s), vec![0..10, 20..50, 60..100]);
        s.remove(5..70);
        assert_eq!(ranges(&s), vec![0..5, 70..100]);
        s.remove_below(80);
        assert_eq!(ranges(&s), vec![80..100]);
        assert!(s.contains(80) && !s.contains(79) && !s.contains(100));
    }

    #[test]
    fn insert_excluding_skips_excluded_values() {
        let mut acked = RangeSet::new();
        acked.insert(5..8);
        acked.insert(20..30);
        let mut lost = RangeSet::new();
        lost.insert_excluding(0..25, &acked);
        assert_eq!(ranges(&lost), vec![0..5, 8..20]);
    }

    #[test]
    fn pop_min_clips_to_requested_length() {
        let mut s = RangeSet::new();
        s.insert(0..10);
        s.insert(20..25);
        assert_eq!(s.pop_min(4), Some(0..4));
        assert_eq!(s.pop_min(100), Some(4..10));
        assert_eq!(s.pop_min(100), Some(20..25));
        assert_eq!(s.pop_min(100), None);
    }

    #[test]
    fn matches_a_naive_model_on_pseudo_random_operations() {
        let mut s = RangeSet::new();
        let mut model = [false; 200];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..5_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let a = x % 200;
            let b = (a + (x >> 20) % 15).min(200);
            if x & 1 == 0 {
                let new = model[a as usize..b as usize].iter().any(|v| !v);
                assert_eq!(s.insert(a..b), new && a < b);
                model[a as usize..b as usize].fill(true);
            } else {
                s.remove(a..b);
                model[a as usize..b as usize].fill(false);
            }
            for (v, present) in model.iter().enumerate() {
                assert_eq!(s.contains(v as u64), *present);
            }
            let rs = ranges(&s);
            assert!(rs.windows(2).all(|w| w[0].end < w[1].start), "disjoint, non-adjacent");
        }
    }
}
