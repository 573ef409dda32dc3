//! The internal iterator contract (docs/architecture.md, "The contracts in base"), plus
//! two small implementations: [`VecIterator`] over sorted owned entries and
//! [`EmptyIterator`], which may carry an error.
//!
//! An internal iterator walks entries in its comparator's order. It is
//! positioned on an entry only while [`InternalIterator::valid`] is true;
//! `key` and `value` may be called only then. A failure makes the iterator
//! invalid and is reported by [`InternalIterator::status`].

use std::cmp::Ordering;
use std::sync::Arc;

/// The shared-bytes type of [`InternalIterator::key_bytes`] and
/// [`InternalIterator::value_bytes`], re-exported for implementors.
pub use bytes::Bytes;

use crate::comparator::Comparator;
use crate::error::{Error, Result};

/// A bidirectional cursor over sorted key/value entries.
pub trait InternalIterator: Send {
    /// True while positioned on an entry.
    fn valid(&self) -> bool;
    /// Moves to the first entry (invalid if there is none).
    fn seek_to_first(&mut self);
    /// Moves to the last entry (invalid if there is none).
    fn seek_to_last(&mut self);
    /// Moves to the first entry whose key is `>= target`.
    fn seek(&mut self, target: &[u8]);
    /// Moves to the next entry. Requires `valid()`.
    fn next(&mut self);
    /// Moves to the previous entry. Requires `valid()`.
    fn prev(&mut self);
    /// The current key. Requires `valid()`.
    fn key(&self) -> &[u8];
    /// The current value. Requires `valid()`.
    fn value(&self) -> &[u8];
    /// The first error met, if any.
    fn status(&self) -> Result<()>;
    /// The current key as shared bytes; iterators over shared storage
    /// override this to avoid the copy.
    fn key_bytes(&self) -> Bytes {
        Bytes::copy_from_slice(self.key())
    }
    /// The current value as shared bytes; iterators over shared storage
    /// override this to avoid the copy.
    fn value_bytes(&self) -> Bytes {
        Bytes::copy_from_slice(self.value())
    }
}

impl<I: InternalIterator + ?Sized> InternalIterator for Box<I> {
    fn valid(&self) -> bool {
        (**self).valid()
    }
    fn seek_to_first(&mut self) {
        (**self).seek_to_first()
    }
    fn seek_to_last(&mut self) {
        (**self).seek_to_last()
    }
    fn seek(&mut self, target: &[u8]) {
        (**self).seek(target)
    }
    fn next(&mut self) {
        (**self).next()
    }
    fn prev(&mut self) {
        (**self).prev()
    }
    fn key(&self) -> &[u8] {
        (**self).key()
    }
    fn value(&self) -> &[u8] {
        (**self).value()
    }
    fn status(&self) -> Result<()> {
        (**self).status()
    }
    fn key_bytes(&self) -> Bytes {
        (**self).key_bytes()
    }
    fn value_bytes(&self) -> Bytes {
        (**self).value_bytes()
    }
}

/// An iterator over owned entries already sorted by `comparator`.
///
/// ```
/// use lsmkit_base::comparator::BytewiseComparator;
/// use lsmkit_base::iterator::{InternalIterator, VecIterator};
/// let entries = vec![(b"a".to_vec(), b"1".to_vec()), (b"c".to_vec(), b"3".to_vec())];
/// let mut it = VecIterator::new(BytewiseComparator::shared(), entries);
/// it.seek(b"b");
/// assert_eq!(it.key(), b"c");
/// it.prev();
/// assert_eq!(it.value(), b"1");
/// ```
pub struct VecIterator {
    comparator: Arc<dyn Comparator>,
    entries: Vec<(Bytes, Bytes)>,
    /// Index of the current entry; `entries.len()` when invalid.
    position: usize,
}

impl VecIterator {
    /// Wraps `entries`, which must be sorted by `comparator` without duplicates.
    pub fn new(comparator: Arc<dyn Comparator>, entries: Vec<(Vec<u8>, Vec<u8>)>) -> VecIterator {
        let entries: Vec<(Bytes, Bytes)> =
            entries.into_iter().map(|(k, v)| (Bytes::from(k), Bytes::from(v))).collect();
        debug_assert!(entries.windows(2).all(|w| comparator.compare(&w[0].0, &w[1].0) == Ordering::Less));
        let position = entries.len();
        VecIterator { comparator, entries, position }
    }
}

impl InternalIterator for VecIterator {
    fn valid(&self) -> bool {
        self.position < self.entries.len()
    }
    fn seek_to_first(&mut self) {
        self.position = 0;
    }
    fn seek_to_last(&mut self) {
        self.position = if self.entries.is_empty() { 0 } else { self.entries.len() - 1 };
    }
    fn seek(&mut self, target: &[u8]) {
        self.position =
            self.entries.partition_point(|(k, _)| self.comparator.compare(k, target) == Ordering::Less);
    }
    fn next(&mut self) {
        debug_assert!(self.valid());
        self.position += 1;
    }
    fn prev(&mut self) {
        debug_assert!(self.valid());
        self.position = if self.position == 0 { self.entries.len() } else { self.position - 1 };
    }
    fn key(&self) -> &[u8] {
        &self.entries[self.position].0
    }
    fn value(&self) -> &[u8] {
        &self.entries[self.position].1
    }
    fn status(&self) -> Result<()> {
        Ok(())
    }
    fn key_bytes(&self) -> Bytes {
        self.entries[self.position].0.clone()
    }
    fn value_bytes(&self) -> Bytes {
        self.entries[self.position].1.clone()
    }
}

/// An iterator with no entries, optionally reporting an error.
#[derive(Debug, Default)]
pub struct EmptyIterator {
    error: Option<Error>,
}

impl EmptyIterator {
    /// An empty iterator with an OK status.
    pub fn new() -> EmptyIterator {
        EmptyIterator { error: None }
    }

    /// An empty iterator whose status is `error`.
    pub fn with_error(error: Error) -> EmptyIterator {
        EmptyIterator { error: Some(error) }
    }
}

impl InternalIterator for EmptyIterator {
    fn valid(&self) -> bool {
        false
    }
    fn seek_to_first(&mut self) {}
    fn seek_to_last(&mut self) {}
    fn seek(&mut self, _target: &[u8]) {}
    fn next(&mut self) {}
    fn prev(&mut self) {}
    fn key(&self) -> &[u8] {
        &[]
    }
    fn value(&self) -> &[u8] {
        &[]
    }
    fn status(&self) -> Result<()> {
        match &self.error {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }
}
