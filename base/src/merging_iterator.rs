//! The n-way merge of sorted internal iterators, in both directions.
//!
//! Used to read the memtables and tables of a database as one sorted stream,
//! and by compaction to merge its inputs. Entries with equal keys from
//! different children are all yielded, the earlier child first.
//!
//! A child's status can change only when it moves, so the merge asks only
//! the children it moved and keeps the first error it saw: `status` costs
//! nothing per call, however many children there are (readers check it
//! before every entry they show).

use std::cmp::Ordering;
use std::sync::Arc;

use bytes::Bytes;

use crate::comparator::{Comparator, InlineComparator};
use crate::error::{Error, Result};
use crate::iterator::InternalIterator;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Forward,
    Reverse,
}

/// Merges children that are each sorted by `comparator`.
///
/// ```
/// use lsmkit_base::comparator::BytewiseComparator;
/// use lsmkit_base::iterator::{InternalIterator, VecIterator};
/// use lsmkit_base::merging_iterator::MergingIterator;
/// let cmp = BytewiseComparator::shared();
/// let a = VecIterator::new(cmp.clone(), vec![(b"a".to_vec(), vec![]), (b"c".to_vec(), vec![])]);
/// let b = VecIterator::new(cmp.clone(), vec![(b"b".to_vec(), vec![])]);
/// let mut merged = MergingIterator::new(cmp, vec![Box::new(a), Box::new(b)]);
/// merged.seek_to_first();
/// let mut keys = Vec::new();
/// while merged.valid() {
///     keys.push(merged.key().to_vec());
///     merged.next();
/// }
/// assert_eq!(keys, [b"a", b"b", b"c"]);
/// ```
pub struct MergingIterator {
    /// Compares inline for the bytewise and internal-bytewise orders.
    comparator: InlineComparator,
    children: Vec<Box<dyn InternalIterator>>,
    current: Option<usize>,
    direction: Direction,
    /// The first error a child reported; it stays once set.
    error: Option<Error>,
}

impl MergingIterator {
    /// Merges `children`; on equal keys the child with the lower index comes first.
    pub fn new(comparator: Arc<dyn Comparator>, children: Vec<Box<dyn InternalIterator>>) -> MergingIterator {
        let mut merged = MergingIterator {
            comparator: InlineComparator::new(comparator),
            children,
            current: None,
            direction: Direction::Forward,
            error: None,
        };
        merged.note_all_statuses();
        merged
    }

    /// Records child `index`'s error, if it has one and none was recorded.
    #[inline]
    fn note_status(&mut self, index: usize) {
        if self.error.is_none() {
            if let Err(e) = self.children[index].status() {
                self.error = Some(e);
            }
        }
    }

    /// Records the first error among all children (after moving them all).
    fn note_all_statuses(&mut self) {
        for index in 0..self.children.len() {
            self.note_status(index);
        }
    }

    fn find_smallest(&mut self) {
        // Each child's key is fetched once, however many children follow.
        let mut smallest: Option<(usize, &[u8])> = None;
        for (i, child) in self.children.iter().enumerate() {
            if !child.valid() {
                continue;
            }
            let key = child.key();
            match smallest {
                Some((_, s)) if self.comparator.compare(key, s) != Ordering::Less => {}
                _ => smallest = Some((i, key)),
            }
        }
        self.current = smallest.map(|(i, _)| i);
    }

    fn find_largest(&mut self) {
        // Scan from the back so that, among equal keys, the child with the
        // highest index is yielded first when moving backward (the mirror of
        // the forward order).
        let mut largest: Option<(usize, &[u8])> = None;
        for (i, child) in self.children.iter().enumerate().rev() {
            if !child.valid() {
                continue;
            }
            let key = child.key();
            match largest {
                Some((_, l)) if self.comparator.compare(key, l) != Ordering::Greater => {}
                _ => largest = Some((i, key)),
            }
        }
        self.current = largest.map(|(i, _)| i);
    }

    fn current_index(&self) -> usize {
        self.current.expect("MergingIterator used while not valid")
    }
}

impl InternalIterator for MergingIterator {
    fn valid(&self) -> bool {
        self.current.is_some()
    }

    fn seek_to_first(&mut self) {
        for child in &mut self.children {
            child.seek_to_first();
        }
        self.note_all_statuses();
        self.direction = Direction::Forward;
        self.find_smallest();
    }

    fn seek_to_last(&mut self) {
        for child in &mut self.children {
            child.seek_to_last();
        }
        self.note_all_statuses();
        self.direction = Direction::Reverse;
        self.find_largest();
    }

    fn seek(&mut self, target: &[u8]) {
        for child in &mut self.children {
            child.seek(target);
        }
        self.note_all_statuses();
        self.direction = Direction::Forward;
        self.find_smallest();
    }

    fn next(&mut self) {
        let current = self.current_index();
        if self.direction != Direction::Forward {
            // Every other child is positioned before key(); move each to the
            // first entry after it. Entries equal to key() in children with a
            // lower index were already yielded (they come before current in
            // forward order), so they are skipped; those with a higher index
            // come after current and are kept.
            let key = self.children[current].key().to_vec();
            for (i, child) in self.children.iter_mut().enumerate() {
                if i == current {
                    continue;
                }
                child.seek(&key);
                while child.valid()
                    && i < current
                    && self.comparator.compare(&key, child.key()) == Ordering::Equal
                {
                    child.next();
                }
            }
            self.note_all_statuses();
            self.direction = Direction::Forward;
        }
        self.children[current].next();
        self.note_status(current);
        self.find_smallest();
    }

    fn prev(&mut self) {
        let current = self.current_index();
        if self.direction != Direction::Reverse {
            // Every other child is positioned after key(); move each to the
            // last entry before it (or equal to it, for children with a lower
            // index, which come before current in forward order).
            let key = self.children[current].key().to_vec();
            for (i, child) in self.children.iter_mut().enumerate() {
                if i == current {
                    continue;
                }
                child.seek(&key);
                if i < current {
                    // Step past entries equal to key: they sort before current.
                    while child.valid() && self.comparator.compare(&key, child.key()) == Ordering::Equal {
                        child.next();
                    }
                }
                if child.valid() {
                    child.prev();
                } else {
                    child.seek_to_last();
                }
            }
            self.note_all_statuses();
            self.direction = Direction::Reverse;
        }
        self.children[current].prev();
        self.note_status(current);
        self.find_largest();
    }

    fn key(&self) -> &[u8] {
        self.children[self.current_index()].key()
    }

    fn value(&self) -> &[u8] {
        self.children[self.current_index()].value()
    }

    fn key_bytes(&self) -> Bytes {
        self.children[self.current_index()].key_bytes()
    }

    fn value_bytes(&self) -> Bytes {
        self.children[self.current_index()].value_bytes()
    }

    fn status(&self) -> Result<()> {
        match &self.error {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::comparator::BytewiseComparator;
    use crate::iterator::{EmptyIterator, VecIterator};

    /// A child that starts reporting an error from its `fail_after`-th move
    /// on while staying valid, as a two-level iterator does after skipping a
    /// block it could not read.
    struct FailsAfter {
        inner: VecIterator,
        moves: usize,
        fail_after: usize,
    }

    impl FailsAfter {
        fn moved(&mut self) {
            self.moves += 1;
        }
    }

    impl InternalIterator for FailsAfter {
        fn valid(&self) -> bool {
            self.inner.valid()
        }
        fn seek_to_first(&mut self) {
            self.moved();
            self.inner.seek_to_first();
        }
        fn seek_to_last(&mut self) {
            self.moved();
            self.inner.seek_to_last();
        }
        fn seek(&mut self, target: &[u8]) {
            self.moved();
            self.inner.seek(target);
        }
        fn next(&mut self) {
            self.moved();
            self.inner.next();
        }
        fn prev(&mut self) {
            self.moved();
            self.inner.prev();
        }
        fn key(&self) -> &[u8] {
            self.inner.key()
        }
        fn value(&self) -> &[u8] {
            self.inner.value()
        }
        fn status(&self) -> Result<()> {
            if self.moves >= self.fail_after {
                return Err(Error::corruption("block unreadable"));
            }
            self.inner.status()
        }
    }

    fn entries(keys: &[&[u8]]) -> Vec<(Vec<u8>, Vec<u8>)> {
        keys.iter().map(|k| (k.to_vec(), Vec::new())).collect()
    }

    #[test]
    fn error_of_a_child_that_stays_valid_is_reported_and_kept() {
        let cmp = BytewiseComparator::shared();
        let failing = FailsAfter {
            inner: VecIterator::new(cmp.clone(), entries(&[b"a", b"c", b"e"])),
            moves: 0,
            fail_after: 2,
        };
        let healthy = VecIterator::new(cmp.clone(), entries(&[b"b", b"d"]));
        let mut merged = MergingIterator::new(cmp, vec![Box::new(failing), Box::new(healthy)]);
        merged.seek_to_first();
        assert_eq!(merged.key(), b"a");
        assert!(merged.status().is_ok());
        // Moving past "a" moves the failing child a second time.
        merged.next();
        assert!(merged.valid());
        assert!(merged.status().unwrap_err().is_corruption());
        // The error stays, whatever the merge does next.
        merged.seek(b"d");
        assert!(merged.status().unwrap_err().is_corruption());
    }

    #[test]
    fn child_failed_before_any_move_is_reported() {
        let cmp = BytewiseComparator::shared();
        let healthy = VecIterator::new(cmp.clone(), entries(&[b"a"]));
        let failed = EmptyIterator::with_error(Error::corruption("cannot open table"));
        let merged = MergingIterator::new(cmp, vec![Box::new(healthy), Box::new(failed)]);
        assert!(merged.status().unwrap_err().is_corruption());
    }
}
