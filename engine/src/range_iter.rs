//! [`DbRange`]: a key range (or a key prefix) of a database view as a Rust
//! iterator of `(key, value)` pairs, walkable from both ends.
//!
//! It drives two [`DbIterator`]s over the same view: one moves forward from
//! the start of the range, the other backward from its end. Each end
//! remembers the last key it yielded, and an end stops as soon as its next
//! key is not strictly beyond the other end's last key, so the two ends meet
//! without yielding an entry twice. Keys are compared with the view's user
//! comparator (docs/format.md §9 for the bytewise one).

use std::cmp::Ordering;
use std::iter::FusedIterator;
use std::ops::{Bound, RangeBounds};

use bytes::Bytes;
use lsmkit_base::key::InternalKeyComparator;
use lsmkit_base::Result;

use crate::db_iterator::DbIterator;

/// The entries of a view whose keys lie in a range, in key order from the
/// front and in reverse from the back.
///
/// The first error either end meets is yielded once as `Some(Err(..))`;
/// after it both ends yield `None`.
///
/// [`Db::range`](crate::Db::range) and [`Db::prefix`](crate::Db::prefix)
/// read the latest state; [`DbRange::new`] reads a range with any read
/// options, through two iterators at one snapshot.
///
/// ```
/// use std::sync::Arc;
/// use lsmkit::{Db, DbRange, Options, ReadOptions};
/// use lsmkit_base::fs::MemFs;
///
/// let db = Db::open("/db", Options { create_if_missing: true, fs: Arc::new(MemFs::new()), ..Options::default() })?;
/// for key in [b"a", b"b", b"c", b"d"] {
///     db.put(key, b"v")?;
/// }
/// let read = ReadOptions { snapshot: Some(db.snapshot()), verify_checksums: true, ..ReadOptions::new() };
/// let mut range = DbRange::new(db.iter(read.clone()), db.iter(read), b"b".to_vec()..);
/// assert_eq!(range.next().unwrap()?.0, &b"b"[..]);
/// assert_eq!(range.next_back().unwrap()?.0, &b"d"[..]);
/// assert_eq!(range.next().unwrap()?.0, &b"c"[..]);
/// assert!(range.next_back().is_none()); // the ends met
/// # Ok::<(), lsmkit::Error>(())
/// ```
pub struct DbRange {
    front: DbIterator,
    back: DbIterator,
    start: Bound<Vec<u8>>,
    end: Bound<Vec<u8>>,
    /// Keys must start with this; set for prefix ranges under a comparator
    /// whose prefix ranges cannot be expressed as bounds.
    required_prefix: Option<Vec<u8>>,
    icmp: InternalKeyComparator,
    front_positioned: bool,
    back_positioned: bool,
    /// The last key yielded by each end.
    last_front_key: Option<Bytes>,
    last_back_key: Option<Bytes>,
    finished: bool,
}

impl DbRange {
    /// The entries with keys in `bounds`, read through `front` and `back`:
    /// two fresh iterators over the same view (made by [`Db::iter`](crate::Db::iter)
    /// with the same snapshot).
    pub fn new(front: DbIterator, back: DbIterator, bounds: impl RangeBounds<Vec<u8>>) -> DbRange {
        let start = bounds.start_bound().cloned();
        let end = bounds.end_bound().cloned();
        DbRange::with_bounds(front, back, start, end, None)
    }

    /// The entries whose keys start with `prefix`.
    ///
    /// Under the bytewise comparator this is the range
    /// `[prefix, successor(prefix))`. Under another comparator, keys with
    /// the prefix must sort together, starting at `prefix`: the front reads
    /// from `prefix` until a key without it, and the back end first walks
    /// forward over the prefix's keys to find the last one.
    pub fn prefix(front: DbIterator, back: DbIterator, prefix: &[u8]) -> DbRange {
        let start = Bound::Included(prefix.to_vec());
        if front.user_comparator().is_bytewise() {
            let end = prefix_successor(prefix).map_or(Bound::Unbounded, Bound::Excluded);
            DbRange::with_bounds(front, back, start, end, None)
        } else {
            DbRange::with_bounds(front, back, start, Bound::Unbounded, Some(prefix.to_vec()))
        }
    }

    fn with_bounds(
        front: DbIterator,
        back: DbIterator,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
        required_prefix: Option<Vec<u8>>,
    ) -> DbRange {
        let icmp = InternalKeyComparator::new(front.user_comparator().clone());
        DbRange {
            front,
            back,
            start,
            end,
            required_prefix,
            icmp,
            front_positioned: false,
            back_positioned: false,
            last_front_key: None,
            last_back_key: None,
            finished: false,
        }
    }

    /// The lower bound of the keys yielded.
    pub fn start_bound(&self) -> Bound<&[u8]> {
        as_slice_bound(&self.start)
    }

    /// The upper bound of the keys yielded (unbounded for a prefix under a
    /// non-bytewise comparator, which stops at the first key without it).
    pub fn end_bound(&self) -> Bound<&[u8]> {
        as_slice_bound(&self.end)
    }

    fn compare(&self, a: &[u8], b: &[u8]) -> Ordering {
        self.icmp.compare_user_keys(a, b)
    }

    fn after_start(&self, key: &[u8]) -> bool {
        match &self.start {
            Bound::Unbounded => true,
            Bound::Included(start) => self.compare(key, start) != Ordering::Less,
            Bound::Excluded(start) => self.compare(key, start) == Ordering::Greater,
        }
    }

    fn before_end(&self, key: &[u8]) -> bool {
        match &self.end {
            Bound::Unbounded => true,
            Bound::Included(end) => self.compare(key, end) != Ordering::Greater,
            Bound::Excluded(end) => self.compare(key, end) == Ordering::Less,
        }
    }

    fn has_required_prefix(&self, key: &[u8]) -> bool {
        self.required_prefix.as_ref().is_none_or(|prefix| key.starts_with(prefix))
    }

    /// Puts the front iterator on the first key not below the start.
    fn position_front(&mut self) {
        match &self.start {
            Bound::Unbounded => self.front.seek_to_first(),
            Bound::Included(start) => self.front.seek(start),
            Bound::Excluded(start) => {
                self.front.seek(start);
                if self.front.valid() && self.compare(self.front.key(), start) == Ordering::Equal {
                    self.front.next();
                }
            }
        }
    }

    /// Puts the back iterator on the last key not above the end.
    fn position_back(&mut self) {
        if let Some(prefix) = &self.required_prefix {
            self.back.seek(prefix);
            while self.back.valid() && self.back.key().starts_with(prefix) {
                self.back.next();
            }
            step_back_or_seek_to_last(&mut self.back);
            return;
        }
        match &self.end {
            Bound::Unbounded => self.back.seek_to_last(),
            Bound::Included(end) => {
                self.back.seek(end);
                if !self.back.valid() {
                    self.back.seek_to_last();
                } else if self.compare(self.back.key(), end) == Ordering::Greater {
                    self.back.prev();
                }
            }
            Bound::Excluded(end) => {
                self.back.seek(end);
                step_back_or_seek_to_last(&mut self.back);
            }
        }
    }

    /// Ends the iteration from both ends, yielding `status`'s error if any.
    fn finish(&mut self, status: Result<()>) -> Option<Result<(Bytes, Bytes)>> {
        self.finished = true;
        status.err().map(Err)
    }
}

/// Moves `iterator` to the entry before the one it is on, or to the last
/// entry when it has run off the end.
fn step_back_or_seek_to_last(iterator: &mut DbIterator) {
    if iterator.valid() {
        iterator.prev();
    } else {
        iterator.seek_to_last();
    }
}

fn as_slice_bound(bound: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match bound {
        Bound::Included(key) => Bound::Included(key),
        Bound::Excluded(key) => Bound::Excluded(key),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// The smallest byte string greater than every string starting with
/// `prefix`, or `None` when there is none (`prefix` is empty or all `0xff`).
fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let last = prefix.iter().rposition(|&byte| byte != 0xff)?;
    let mut successor = prefix[..=last].to_vec();
    successor[last] += 1;
    Some(successor)
}

impl Iterator for DbRange {
    type Item = Result<(Bytes, Bytes)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        if self.front_positioned {
            self.front.next();
        } else {
            self.position_front();
            self.front_positioned = true;
        }
        if !self.front.valid() {
            return self.finish(self.front.status());
        }
        let key = self.front.key();
        let met_back =
            self.last_back_key.as_ref().is_some_and(|back| self.compare(key, back) != Ordering::Less);
        if met_back || !self.before_end(key) || !self.has_required_prefix(key) {
            return self.finish(Ok(()));
        }
        let key = self.front.key_bytes();
        self.last_front_key = Some(key.clone());
        Some(Ok((key, self.front.value_bytes())))
    }
}

impl DoubleEndedIterator for DbRange {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        if self.back_positioned {
            self.back.prev();
        } else {
            self.position_back();
            self.back_positioned = true;
        }
        if !self.back.valid() {
            return self.finish(self.back.status());
        }
        let key = self.back.key();
        let met_front =
            self.last_front_key.as_ref().is_some_and(|front| self.compare(key, front) != Ordering::Greater);
        if met_front || !self.after_start(key) || !self.has_required_prefix(key) {
            return self.finish(Ok(()));
        }
        let key = self.back.key_bytes();
        self.last_back_key = Some(key.clone());
        Some(Ok((key, self.back.value_bytes())))
    }
}

impl FusedIterator for DbRange {}

impl std::fmt::Debug for DbRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |bound: Bound<&[u8]>| bound.map(|key| key.escape_ascii().to_string());
        f.debug_struct("DbRange")
            .field("start", &show(self.start_bound()))
            .field("end", &show(self.end_bound()))
            .field("required_prefix", &self.required_prefix.as_ref().map(|p| p.escape_ascii().to_string()))
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::prefix_successor;

    #[test]
    fn prefix_successor_handles_trailing_ff() {
        assert_eq!(prefix_successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_successor(b"a\xff\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_successor(b"\x00\xff"), Some(b"\x01".to_vec()));
        assert_eq!(prefix_successor(b"\xff\xff"), None);
        assert_eq!(prefix_successor(b""), None);
    }
}
