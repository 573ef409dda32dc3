//! Range tombstones (docs/format-extensions.md, "Range deletions"): a
//! [`RangeTombstone`] deletes every key in [`begin`, `end`) written before
//! its sequence number; [`FragmentedRangeTombstones`] is the form reads,
//! flushes and compactions use — sorted, non-overlapping fragments, each
//! with the sequence numbers of every tombstone that covers it — built from
//! any set of possibly overlapping tombstones; and [`RangeDelIterator`]
//! hides the entries of an internal iterator that tombstones cover.
//!
//! ```
//! use lsmkit_base::comparator::BytewiseComparator;
//! use lsmkit_base::range_tombstone::{FragmentedRangeTombstones, RangeTombstone};
//!
//! let list = FragmentedRangeTombstones::new(
//!     vec![RangeTombstone::new(b"a", b"m", 10), RangeTombstone::new(b"f", b"z", 20)],
//!     BytewiseComparator::shared(),
//! );
//! // [a,f) #10, [f,m) #20 #10, [m,z) #20
//! assert_eq!(list.fragments().len(), 3);
//! assert_eq!(list.max_covering_seq(b"g", 100), 20);
//! assert_eq!(list.max_covering_seq(b"g", 15), 10);
//! assert_eq!(list.max_covering_seq(b"z", 100), 0);
//! ```

use std::cmp::Ordering;
use std::sync::Arc;

use crate::comparator::Comparator;
use crate::iterator::{Bytes, InternalIterator};
use crate::key::{
    extract_trailer, extract_user_key, make_internal_key, SequenceNumber, MAX_SEQUENCE_NUMBER,
    VALUE_KIND_FOR_SEEK,
};
use crate::Result;

/// "Every key in [`begin`, `end`) written before `sequence` is deleted."
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RangeTombstone {
    /// The first key deleted.
    pub begin: Vec<u8>,
    /// The first key after the range (not deleted).
    pub end: Vec<u8>,
    /// The tombstone's sequence number: it covers entries below it.
    pub sequence: SequenceNumber,
}

impl RangeTombstone {
    /// A tombstone over [`begin`, `end`) at `sequence`.
    pub fn new(begin: &[u8], end: &[u8], sequence: SequenceNumber) -> RangeTombstone {
        RangeTombstone { begin: begin.to_vec(), end: end.to_vec(), sequence }
    }
}

/// One fragment: the keys in [`start`, `end`), covered by the tombstones
/// whose sequence numbers `sequences` lists (descending, no duplicates, never
/// empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    /// The first key of the fragment.
    pub start: Vec<u8>,
    /// The first key after the fragment.
    pub end: Vec<u8>,
    /// Sequence numbers of the tombstones covering it, newest first.
    pub sequences: Vec<SequenceNumber>,
}

impl Fragment {
    /// The newest sequence number of the fragment at or below `read_seq`
    /// (0: none is visible).
    pub fn max_seq_at(&self, read_seq: SequenceNumber) -> SequenceNumber {
        self.sequences.iter().copied().find(|&s| s <= read_seq).unwrap_or(0)
    }
}

/// Range tombstones as sorted, non-overlapping fragments.
#[derive(Clone)]
pub struct FragmentedRangeTombstones {
    fragments: Vec<Fragment>,
    comparator: Arc<dyn Comparator>,
}

impl std::fmt::Debug for FragmentedRangeTombstones {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FragmentedRangeTombstones").field("fragments", &self.fragments).finish()
    }
}

impl FragmentedRangeTombstones {
    /// Fragments `tombstones` (any order, overlapping or not) under the user
    /// comparator `comparator`. Empty ranges (`begin >= end`) cover nothing
    /// and are left out; adjacent fragments with the same sequence numbers
    /// are joined.
    pub fn new(
        tombstones: impl IntoIterator<Item = RangeTombstone>,
        comparator: Arc<dyn Comparator>,
    ) -> FragmentedRangeTombstones {
        let cmp = |a: &[u8], b: &[u8]| comparator.compare(a, b);
        let mut tombstones: Vec<RangeTombstone> =
            tombstones.into_iter().filter(|t| cmp(&t.begin, &t.end) == Ordering::Less).collect();
        tombstones.sort_by(|a, b| cmp(&a.begin, &b.begin));
        let mut points: Vec<&[u8]> = Vec::with_capacity(tombstones.len() * 2);
        for t in &tombstones {
            points.push(&t.begin);
            points.push(&t.end);
        }
        points.sort_by(|a, b| cmp(a, b));
        points.dedup_by(|a, b| cmp(a, b) == Ordering::Equal);
        let mut fragments: Vec<Fragment> = Vec::new();
        // Tombstones begun at or before the current point: (end, sequence).
        let mut active: Vec<(&[u8], SequenceNumber)> = Vec::new();
        let mut next_tombstone = 0;
        for window in points.windows(2) {
            let (start, end) = (window[0], window[1]);
            active.retain(|(e, _)| cmp(e, start) == Ordering::Greater);
            while next_tombstone < tombstones.len()
                && cmp(&tombstones[next_tombstone].begin, start) != Ordering::Greater
            {
                let t = &tombstones[next_tombstone];
                active.push((&t.end, t.sequence));
                next_tombstone += 1;
            }
            if active.is_empty() {
                continue;
            }
            let mut sequences: Vec<SequenceNumber> = active.iter().map(|&(_, s)| s).collect();
            sequences.sort_unstable_by(|a, b| b.cmp(a));
            sequences.dedup();
            if let Some(last) = fragments.last_mut() {
                if last.sequences == sequences && cmp(&last.end, start) == Ordering::Equal {
                    last.end = end.to_vec();
                    continue;
                }
            }
            fragments.push(Fragment { start: start.to_vec(), end: end.to_vec(), sequences });
        }
        FragmentedRangeTombstones { fragments, comparator }
    }

    /// An empty list.
    pub fn empty(comparator: Arc<dyn Comparator>) -> FragmentedRangeTombstones {
        FragmentedRangeTombstones { fragments: Vec::new(), comparator }
    }

    /// Fragments that are already fragmented (as read back from a table):
    /// checked to be sorted, non-overlapping, non-empty and with strictly
    /// descending sequence numbers; `Err` names the first problem.
    pub fn from_fragments(
        fragments: Vec<Fragment>,
        comparator: Arc<dyn Comparator>,
    ) -> std::result::Result<FragmentedRangeTombstones, String> {
        for (i, f) in fragments.iter().enumerate() {
            if comparator.compare(&f.start, &f.end) != Ordering::Less {
                return Err(format!("range tombstone fragment {i} is empty"));
            }
            if f.sequences.is_empty() || f.sequences.windows(2).any(|w| w[0] <= w[1]) {
                return Err(format!("range tombstone fragment {i} has unordered sequence numbers"));
            }
            if i > 0 && comparator.compare(&fragments[i - 1].end, &f.start) == Ordering::Greater {
                return Err(format!("range tombstone fragment {i} overlaps the one before"));
            }
        }
        Ok(FragmentedRangeTombstones { fragments, comparator })
    }

    /// The fragments, in key order.
    pub fn fragments(&self) -> &[Fragment] {
        &self.fragments
    }

    /// True when nothing is covered.
    pub fn is_empty(&self) -> bool {
        self.fragments.is_empty()
    }

    /// The user comparator.
    pub fn comparator(&self) -> &Arc<dyn Comparator> {
        &self.comparator
    }

    /// Every (fragment, sequence) pair as a tombstone, in the order a table
    /// stores them: start ascending, then sequence descending.
    pub fn tombstones(&self) -> impl Iterator<Item = RangeTombstone> + '_ {
        self.fragments.iter().flat_map(|f| {
            f.sequences.iter().map(move |&s| RangeTombstone {
                begin: f.start.clone(),
                end: f.end.clone(),
                sequence: s,
            })
        })
    }

    /// The index of the fragment covering `key`, if any.
    pub fn fragment_index(&self, key: &[u8]) -> Option<usize> {
        // The first fragment whose end is after `key`.
        let i = self.fragments.partition_point(|f| self.comparator.compare(&f.end, key) != Ordering::Greater);
        let f = self.fragments.get(i)?;
        (self.comparator.compare(&f.start, key) != Ordering::Greater).then_some(i)
    }

    /// The fragment covering `key`, if any.
    pub fn covering(&self, key: &[u8]) -> Option<&Fragment> {
        self.fragment_index(key).map(|i| &self.fragments[i])
    }

    /// The newest sequence number at or below `read_seq` of a tombstone
    /// covering `key`; 0 when none does. An entry of `key` with a sequence
    /// number below it is deleted as of `read_seq`.
    pub fn max_covering_seq(&self, key: &[u8], read_seq: SequenceNumber) -> SequenceNumber {
        self.covering(key).map_or(0, |f| f.max_seq_at(read_seq))
    }

    /// The tombstones cut to [`lower`, `upper`) (`None`: unbounded), still
    /// fragmented: what one output file of a compaction stores.
    pub fn truncated(&self, lower: Option<&[u8]>, upper: Option<&[u8]>) -> FragmentedRangeTombstones {
        let cmp = |a: &[u8], b: &[u8]| self.comparator.compare(a, b);
        let mut fragments = Vec::new();
        for f in &self.fragments {
            let mut start = f.start.as_slice();
            let mut end = f.end.as_slice();
            if let Some(lower) = lower {
                if cmp(start, lower) == Ordering::Less {
                    start = lower;
                }
            }
            if let Some(upper) = upper {
                if cmp(end, upper) == Ordering::Greater {
                    end = upper;
                }
            }
            if cmp(start, end) == Ordering::Less {
                fragments.push(Fragment {
                    start: start.to_vec(),
                    end: end.to_vec(),
                    sequences: f.sequences.clone(),
                });
            }
        }
        FragmentedRangeTombstones { fragments, comparator: Arc::clone(&self.comparator) }
    }

    /// The same fragments with each sequence list rewritten by `keep`
    /// (fragments left without sequence numbers are dropped); for
    /// compactions, which drop tombstones no snapshot needs.
    pub fn map_sequences(
        &self,
        mut keep: impl FnMut(&Fragment) -> Vec<SequenceNumber>,
    ) -> FragmentedRangeTombstones {
        let mut fragments = Vec::new();
        for f in &self.fragments {
            let mut sequences = keep(f);
            sequences.sort_unstable_by(|a, b| b.cmp(a));
            sequences.dedup();
            if !sequences.is_empty() {
                fragments.push(Fragment { start: f.start.clone(), end: f.end.clone(), sequences });
            }
        }
        FragmentedRangeTombstones { fragments, comparator: Arc::clone(&self.comparator) }
    }
}

/// The smallest and largest internal keys of a table holding point entries
/// from `points` (smallest, largest; `None` without entries) and the range
/// tombstones `tombstones`: a tombstone fragment [`start`, `end`) widens the
/// range to `start@newest#15` below and to the sentinel
/// `end@MAX_SEQUENCE_NUMBER#15` above — which sorts before every real entry
/// of `end`, so the file covers its tombstones without claiming `end`'s
/// entries. `None` when there is neither.
pub fn table_bounds(
    icmp: &crate::key::InternalKeyComparator,
    points: Option<(Vec<u8>, Vec<u8>)>,
    tombstones: &FragmentedRangeTombstones,
) -> Option<(Vec<u8>, Vec<u8>)> {
    let (Some(first), Some(last)) = (tombstones.fragments.first(), tombstones.fragments.last()) else {
        return points;
    };
    let low = make_internal_key(&first.start, first.sequences[0], crate::key::ValueKind::RangeDeletion);
    let high = make_internal_key(&last.end, MAX_SEQUENCE_NUMBER, crate::key::ValueKind::RangeDeletion);
    Some(match points {
        None => (low, high),
        Some((smallest, largest)) => (
            if icmp.compare_internal_keys(&low, &smallest) == Ordering::Less { low } else { smallest },
            if icmp.compare_internal_keys(&high, &largest) == Ordering::Greater { high } else { largest },
        ),
    })
}

/// Hides the entries of an internal iterator (internal keys) that range
/// tombstones delete as of `read_seq`, in both directions.
///
/// Two kinds of tombstones apply to one source (a memtable, a level-0 table,
/// a level): `newer`, those of strictly newer sources, which by the LSM
/// order cover every entry of this source in their range — so a covered
/// entry is left by one seek to the fragment's end (forward) or before its
/// start (backward) — and `own`, the source's own tombstones, which cover
/// only its entries with smaller sequence numbers, stepped over one by one.
/// Entries with sequence numbers above `read_seq` pass through untouched
/// (readers skip them).
pub struct RangeDelIterator<I> {
    inner: I,
    newer: Option<Arc<FragmentedRangeTombstones>>,
    own: Option<Arc<FragmentedRangeTombstones>>,
    read_seq: SequenceNumber,
    /// Seeks made to leave covered fragments (statistics for tests).
    reseeks: u64,
}

impl<I: InternalIterator> RangeDelIterator<I> {
    /// Wraps `inner`; a `None` or empty list is the same as no tombstones.
    pub fn new(
        inner: I,
        newer: Option<Arc<FragmentedRangeTombstones>>,
        own: Option<Arc<FragmentedRangeTombstones>>,
        read_seq: SequenceNumber,
    ) -> RangeDelIterator<I> {
        let newer = newer.filter(|t| !t.is_empty());
        let own = own.filter(|t| !t.is_empty());
        RangeDelIterator { inner, newer, own, read_seq, reseeks: 0 }
    }

    /// How many seeks leaving a covered fragment were made.
    pub fn reseeks(&self) -> u64 {
        self.reseeks
    }

    /// Where the current entry stands: `Some((fragment from newer, index))`
    /// when a newer source covers it, `Some((own, _))` when only its own
    /// source does, `None` when it is visible.
    fn coverage(&self) -> Option<(bool, usize)> {
        let key = self.inner.key();
        let sequence = extract_trailer(key) >> 8;
        if sequence > self.read_seq {
            return None;
        }
        let user_key = extract_user_key(key);
        if let Some(newer) = &self.newer {
            if let Some(i) = newer.fragment_index(user_key) {
                if newer.fragments[i].max_seq_at(self.read_seq) > sequence {
                    return Some((true, i));
                }
            }
        }
        if let Some(own) = &self.own {
            if own.max_covering_seq(user_key, self.read_seq) > sequence {
                return Some((false, 0));
            }
        }
        None
    }

    fn skip_forward(&mut self) {
        while self.inner.valid() {
            match self.coverage() {
                None => return,
                Some((true, i)) => {
                    let end = &self.newer.as_ref().expect("newer").fragments[i].end;
                    let target = make_internal_key(end, MAX_SEQUENCE_NUMBER, VALUE_KIND_FOR_SEEK);
                    self.reseeks += 1;
                    self.inner.seek(&target);
                }
                Some((false, _)) => self.inner.next(),
            }
        }
    }

    fn skip_backward(&mut self) {
        while self.inner.valid() {
            match self.coverage() {
                None => return,
                Some((true, i)) => {
                    let start = &self.newer.as_ref().expect("newer").fragments[i].start;
                    let target = make_internal_key(start, MAX_SEQUENCE_NUMBER, VALUE_KIND_FOR_SEEK);
                    self.reseeks += 1;
                    self.inner.seek(&target);
                    if self.inner.valid() {
                        self.inner.prev();
                    } else if self.inner.status().is_ok() {
                        self.inner.seek_to_last();
                    }
                }
                Some((false, _)) => self.inner.prev(),
            }
        }
    }
}

impl<I: InternalIterator> InternalIterator for RangeDelIterator<I> {
    fn valid(&self) -> bool {
        self.inner.valid()
    }
    fn seek_to_first(&mut self) {
        self.inner.seek_to_first();
        self.skip_forward();
    }
    fn seek_to_last(&mut self) {
        self.inner.seek_to_last();
        self.skip_backward();
    }
    fn seek(&mut self, target: &[u8]) {
        self.inner.seek(target);
        self.skip_forward();
    }
    fn next(&mut self) {
        self.inner.next();
        self.skip_forward();
    }
    fn prev(&mut self) {
        self.inner.prev();
        self.skip_backward();
    }
    fn key(&self) -> &[u8] {
        self.inner.key()
    }
    fn value(&self) -> &[u8] {
        self.inner.value()
    }
    fn status(&self) -> Result<()> {
        self.inner.status()
    }
    fn key_bytes(&self) -> Bytes {
        self.inner.key_bytes()
    }
    fn value_bytes(&self) -> Bytes {
        self.inner.value_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::comparator::BytewiseComparator;
    use crate::iterator::VecIterator;
    use crate::key::{make_internal_key, InternalKeyComparator, ValueKind};
    use proptest::prelude::*;

    fn list(ts: &[(&str, &str, u64)]) -> FragmentedRangeTombstones {
        FragmentedRangeTombstones::new(
            ts.iter().map(|&(b, e, s)| RangeTombstone::new(b.as_bytes(), e.as_bytes(), s)),
            BytewiseComparator::shared(),
        )
    }

    fn shape(l: &FragmentedRangeTombstones) -> Vec<(String, String, Vec<u64>)> {
        l.fragments()
            .iter()
            .map(|f| {
                (
                    String::from_utf8(f.start.clone()).unwrap(),
                    String::from_utf8(f.end.clone()).unwrap(),
                    f.sequences.clone(),
                )
            })
            .collect()
    }

    #[test]
    fn fragments_overlapping_tombstones() {
        let l = list(&[("c", "g", 5), ("a", "e", 3), ("e", "f", 9), ("x", "x", 7), ("q", "p", 8)]);
        let s = |a: &str, b: &str, v: &[u64]| (a.to_string(), b.to_string(), v.to_vec());
        assert_eq!(
            shape(&l),
            [s("a", "c", &[3]), s("c", "e", &[5, 3]), s("e", "f", &[9, 5]), s("f", "g", &[5])]
        );
        assert_eq!(l.max_covering_seq(b"a", 100), 3);
        assert_eq!(l.max_covering_seq(b"d", 4), 3);
        assert_eq!(l.max_covering_seq(b"d", 2), 0);
        assert_eq!(l.max_covering_seq(b"g", 100), 0);
        assert_eq!(l.max_covering_seq(b"x", 100), 0, "empty ranges cover nothing");
        assert_eq!(l.tombstones().count(), 6);
    }

    #[test]
    fn joins_adjacent_fragments_with_equal_sequences() {
        let l = list(&[("a", "c", 4), ("c", "e", 4), ("e", "g", 5)]);
        assert_eq!(l.fragments().len(), 2);
        assert_eq!(l.fragments()[0].end, b"e");
    }

    #[test]
    fn truncation_and_validation() {
        let l = list(&[("a", "m", 4), ("f", "z", 6)]);
        let t = l.truncated(Some(b"c"), Some(b"g"));
        let s = |a: &str, b: &str, v: &[u64]| (a.to_string(), b.to_string(), v.to_vec());
        assert_eq!(shape(&t), [s("c", "f", &[4]), s("f", "g", &[6, 4])]);
        assert!(l.truncated(Some(b"z"), None).is_empty());
        let cmp = BytewiseComparator::shared();
        assert!(FragmentedRangeTombstones::from_fragments(l.fragments().to_vec(), cmp.clone()).is_ok());
        let mut bad = l.fragments().to_vec();
        bad[1].start = b"b".to_vec();
        assert!(FragmentedRangeTombstones::from_fragments(bad, cmp.clone())
            .unwrap_err()
            .contains("overlaps"));
        let mut bad = l.fragments().to_vec();
        bad[0].sequences = vec![1, 2];
        assert!(FragmentedRangeTombstones::from_fragments(bad, cmp).is_err());
    }

    /// A naive model: each key's covering sequences, by looking at every tombstone.
    fn naive(ts: &[(u8, u8, u64)], key: u8, read_seq: u64) -> u64 {
        ts.iter().filter(|&&(b, e, s)| b <= key && key < e && s <= read_seq).map(|t| t.2).max().unwrap_or(0)
    }

    fn ikey(k: u8, s: u64) -> Vec<u8> {
        make_internal_key(&[k], s, ValueKind::Value)
    }

    proptest! {
        #[test]
        fn matches_a_naive_model(
            ts in proptest::collection::vec((0u8..20, 0u8..20, 1u64..30), 0..12),
            read_seq in 0u64..35,
        ) {
            let l = FragmentedRangeTombstones::new(
                ts.iter().map(|&(b, e, s)| RangeTombstone::new(&[b], &[e], s)),
                BytewiseComparator::shared(),
            );
            for w in l.fragments().windows(2) {
                prop_assert!(w[0].end <= w[1].start);
            }
            prop_assert!(FragmentedRangeTombstones::from_fragments(l.fragments().to_vec(), BytewiseComparator::shared()).is_ok());
            for key in 0u8..21 {
                prop_assert_eq!(l.max_covering_seq(&[key], read_seq), naive(&ts, key, read_seq));
            }
            // Rebuilding from the fragments' tombstones gives the same list.
            let again = FragmentedRangeTombstones::new(l.tombstones(), BytewiseComparator::shared());
            prop_assert_eq!(again.fragments(), l.fragments());
            // Truncation keeps coverage inside the bounds only.
            let t = l.truncated(Some(&[5]), Some(&[12]));
            for key in 0u8..21 {
                let expected = if (5..12).contains(&key) { naive(&ts, key, read_seq) } else { 0 };
                prop_assert_eq!(t.max_covering_seq(&[key], read_seq), expected);
            }
        }

        #[test]
        fn the_iterator_hides_exactly_the_covered_entries(
            newer in proptest::collection::vec((0u8..20, 0u8..20, 50u64..60), 0..4),
            own in proptest::collection::vec((0u8..20, 0u8..20, 1u64..40), 0..4),
            entries in proptest::collection::btree_set((0u8..20, 1u64..40), 0..40),
            read_seq in 0u64..70,
            seeks in proptest::collection::vec(0u8..21, 0..4),
        ) {
            let mk = |ts: &Vec<(u8, u8, u64)>| Arc::new(FragmentedRangeTombstones::new(
                ts.iter().map(|&(b, e, s)| RangeTombstone::new(&[b], &[e], s)),
                BytewiseComparator::shared(),
            ));
            let icmp: Arc<dyn Comparator> = Arc::new(InternalKeyComparator::new(BytewiseComparator::shared()));
            let mut sorted: Vec<(Vec<u8>, Vec<u8>)> = entries.iter().map(|&(k, s)| (ikey(k, s), vec![k])).collect();
            sorted.sort_by(|a, b| icmp.compare(&a.0, &b.0));
            let visible: Vec<Vec<u8>> = entries.iter().filter(|&&(k, s)| {
                let cover = naive(&own, k, read_seq).max(naive(&newer, k, read_seq));
                s > read_seq || cover <= s
            }).map(|&(k, s)| ikey(k, s)).collect::<Vec<_>>();
            let mut visible = visible;
            visible.sort_by(|a, b| icmp.compare(a, b));
            let mut it = RangeDelIterator::new(
                VecIterator::new(icmp.clone(), sorted), Some(mk(&newer)), Some(mk(&own)), read_seq);
            let mut forward = Vec::new();
            it.seek_to_first();
            while it.valid() { forward.push(it.key().to_vec()); it.next(); }
            prop_assert_eq!(&forward, &visible);
            let mut backward = Vec::new();
            it.seek_to_last();
            while it.valid() { backward.push(it.key().to_vec()); it.prev(); }
            backward.reverse();
            prop_assert_eq!(&backward, &visible);
            for k in seeks {
                let target = make_internal_key(&[k], MAX_SEQUENCE_NUMBER, VALUE_KIND_FOR_SEEK);
                it.seek(&target);
                let expected = visible.iter().find(|v| icmp.compare(v, &target) != Ordering::Less);
                let at = it.valid().then(|| it.key().to_vec());
                prop_assert_eq!(at.as_ref(), expected);
                if it.valid() {
                    it.prev();
                    let before = visible.iter().rev().find(|v| icmp.compare(v, &target) == Ordering::Less);
                    let at = it.valid().then(|| it.key().to_vec());
                    prop_assert_eq!(at.as_ref(), before);
                }
            }
        }
    }

    #[test]
    fn table_bounds_cover_the_tombstones() {
        let icmp = InternalKeyComparator::new(BytewiseComparator::shared());
        let t = list(&[("c", "f", 5), ("d", "k", 7)]);
        let (lo, hi) = table_bounds(&icmp, None, &t).unwrap();
        assert_eq!(lo, make_internal_key(b"c", 5, ValueKind::RangeDeletion));
        assert_eq!(hi, make_internal_key(b"k", MAX_SEQUENCE_NUMBER, ValueKind::RangeDeletion));
        let points = Some((ikey(b'a', 3), ikey(b'k', 9)));
        let (lo, hi) = table_bounds(&icmp, points, &t).unwrap();
        assert_eq!((lo, hi), (ikey(b'a', 3), ikey(b'k', 9)), "a real entry of `k` sorts after the sentinel");
        assert_eq!(table_bounds(&icmp, None, &list(&[])), None);
    }

    #[test]
    fn leaves_a_newer_sources_fragment_in_one_seek() {
        let icmp: Arc<dyn Comparator> = Arc::new(InternalKeyComparator::new(BytewiseComparator::shared()));
        let entries: Vec<(Vec<u8>, Vec<u8>)> = (0u8..100).map(|k| (ikey(k, 1), vec![k])).collect();
        let newer = Arc::new(FragmentedRangeTombstones::new(
            [RangeTombstone::new(&[10], &[90], 5)],
            BytewiseComparator::shared(),
        ));
        let mut it = RangeDelIterator::new(VecIterator::new(icmp, entries), Some(newer), None, 10);
        it.seek(&ikey(10, MAX_SEQUENCE_NUMBER));
        assert_eq!(extract_user_key(it.key()), [90]);
        it.prev();
        assert_eq!(extract_user_key(it.key()), [9]);
        assert_eq!(it.reseeks(), 2);
    }
}
