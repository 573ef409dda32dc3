//! [`MemtableIterator`]: the memtable's entries as an `InternalIterator`
//! (keys are docs/format.md §5 internal keys).
//!
//! The iterator owns a handle on the memtable and holds a skiplist node as
//! its position, so it stays valid while other threads keep adding: the
//! memtable's skiplist never frees a node before it is dropped (see
//! `append_only_list`), so a step costs no epoch pin and no reference count.
//! Moving forward follows the node's successor link, moving backward
//! searches from the current key, so the stream it yields is strictly
//! ordered in either direction; entries added after it was created may or
//! may not appear.

use std::sync::Arc;

use bytes::Bytes;
use lsmkit_base::iterator::InternalIterator;
use lsmkit_base::Result;

use crate::append_only_list::Position;
use crate::memtable::{share_arena_bytes, MemtableShared, Table};
use crate::skiplist_key::{BytewiseKey, ComparatorKey, EntryBuffer, SkiplistKey};

/// A node of one of the two skiplist kinds, borrowed for `'a`.
enum Located<'a> {
    Nothing,
    Bytewise(Position<'a, BytewiseKey>),
    Ordered(Position<'a, ComparatorKey>),
}

/// Where a seek should land.
enum Target<'t> {
    First,
    Last,
    AtOrAfter(&'t [u8]),
}

/// A bidirectional cursor over a memtable's entries in internal-key order.
/// Keys and values are handed out as slices of the memtable's own buffers;
/// [`InternalIterator::key_bytes`] and [`InternalIterator::value_bytes`]
/// share them without copying.
pub struct MemtableIterator {
    // Field order matters: `position` borrows the skiplist owned by `shared`
    // and must be dropped before it.
    position: Located<'static>,
    shared: Arc<MemtableShared>,
}

impl MemtableIterator {
    /// An unpositioned iterator over `shared`'s table.
    pub(crate) fn new(shared: Arc<MemtableShared>) -> MemtableIterator {
        MemtableIterator { position: Located::Nothing, shared }
    }

    /// Moves to the entry `target` names in this iterator's own table.
    fn reposition(&mut self, target: Target<'_>) {
        let located = locate(&self.shared.table, target);
        // SAFETY: `located` borrows the skiplist inside `*self.shared`. That
        // skiplist sits in the `Arc` allocation, which never moves and stays
        // alive while `self.shared` does. `self.shared` is never reassigned,
        // and `position` is declared before `shared`, so the position is
        // dropped before this iterator's reference on the allocation. The
        // skiplist frees no node before it is itself dropped, so the node
        // outlives the position too. Only the lifetime changes in this
        // transmute, never the type.
        self.position = unsafe { std::mem::transmute::<Located<'_>, Located<'static>>(located) };
    }

    /// The current entry, if positioned.
    fn entry(&self) -> Option<&EntryBuffer> {
        match &self.position {
            Located::Nothing => None,
            Located::Bytewise(entry) => Some(entry.key().entry()),
            Located::Ordered(entry) => Some(entry.key().entry()),
        }
    }
}

/// Finds `target` in `table`.
fn locate<'a>(table: &'a Table, target: Target<'_>) -> Located<'a> {
    match table {
        Table::Bytewise(map) => {
            let found = match target {
                Target::First => map.front(),
                Target::Last => map.back(),
                Target::AtOrAfter(key) => {
                    // SAFETY: `key` outlives the search key, dropped at the
                    // end of this block (the search keeps no reference to it).
                    let target = BytewiseKey::new(unsafe { EntryBuffer::key_only(key) });
                    map.lower_bound(&target)
                }
            };
            found.map_or(Located::Nothing, Located::Bytewise)
        }
        Table::Ordered { map, comparator } => {
            let found = match target {
                Target::First => map.front(),
                Target::Last => map.back(),
                Target::AtOrAfter(key) => {
                    // SAFETY: as above.
                    let target =
                        ComparatorKey::new(unsafe { EntryBuffer::key_only(key) }, comparator.clone());
                    map.lower_bound(&target)
                }
            };
            found.map_or(Located::Nothing, Located::Ordered)
        }
    }
}

impl InternalIterator for MemtableIterator {
    fn valid(&self) -> bool {
        !matches!(self.position, Located::Nothing)
    }

    fn seek_to_first(&mut self) {
        self.reposition(Target::First);
    }

    fn seek_to_last(&mut self) {
        self.reposition(Target::Last);
    }

    /// Moves to the first entry whose internal key is `>= target`.
    fn seek(&mut self, target: &[u8]) {
        self.reposition(Target::AtOrAfter(target));
    }

    fn next(&mut self) {
        let moved = match &mut self.position {
            Located::Nothing => false,
            Located::Bytewise(entry) => entry.move_next(),
            Located::Ordered(entry) => entry.move_next(),
        };
        if !moved {
            self.position = Located::Nothing;
        }
    }

    fn prev(&mut self) {
        let moved = match &mut self.position {
            Located::Nothing => false,
            Located::Bytewise(entry) => entry.move_prev(),
            Located::Ordered(entry) => entry.move_prev(),
        };
        if !moved {
            self.position = Located::Nothing;
        }
    }

    /// The current internal key; empty when not positioned.
    fn key(&self) -> &[u8] {
        self.entry().map_or(&[], EntryBuffer::internal_key)
    }

    /// The current value; empty when not positioned.
    fn value(&self) -> &[u8] {
        self.entry().map_or(&[], EntryBuffer::value)
    }

    fn status(&self) -> Result<()> {
        Ok(())
    }

    fn key_bytes(&self) -> Bytes {
        share_arena_bytes(&self.shared, self.key())
    }

    fn value_bytes(&self) -> Bytes {
        share_arena_bytes(&self.shared, self.value())
    }
}

impl std::fmt::Debug for MemtableIterator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemtableIterator").field("valid", &self.valid()).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Memtable;
    use lsmkit_base::comparator::BytewiseComparator;
    use lsmkit_base::key::{make_internal_key, parse_internal_key, InternalKeyComparator, ValueKind};

    fn sample() -> Memtable {
        let m = Memtable::new(InternalKeyComparator::new(BytewiseComparator::shared()));
        m.add(3, ValueKind::Value, b"b", b"b3");
        m.add(1, ValueKind::Value, b"a", b"a1");
        m.add(4, ValueKind::Deletion, b"b", b"");
        m.add(2, ValueKind::Value, b"c", b"c2");
        m
    }

    fn user_key_and_sequence(it: &MemtableIterator) -> (Vec<u8>, u64) {
        let parsed = parse_internal_key(it.key()).unwrap();
        (parsed.user_key.to_vec(), parsed.sequence)
    }

    #[test]
    fn walks_both_directions() {
        let m = sample();
        let mut it = m.iter();
        assert!(!it.valid());
        assert_eq!(it.key(), b"");
        it.seek_to_first();
        let mut forward = Vec::new();
        while it.valid() {
            forward.push(user_key_and_sequence(&it));
            it.next();
        }
        let expected = [(b"a".to_vec(), 1), (b"b".to_vec(), 4), (b"b".to_vec(), 3), (b"c".to_vec(), 2)];
        assert_eq!(forward, expected);
        it.seek_to_last();
        let mut backward = Vec::new();
        while it.valid() {
            backward.push(user_key_and_sequence(&it));
            it.prev();
        }
        backward.reverse();
        assert_eq!(backward, expected);
    }

    #[test]
    fn seek_lands_on_first_key_at_or_after() {
        let m = sample();
        let mut it = m.iter();
        it.seek(&make_internal_key(b"b", 3, ValueKind::Value));
        assert_eq!(user_key_and_sequence(&it), (b"b".to_vec(), 3));
        assert_eq!(it.value(), b"b3");
        assert_eq!(it.value_bytes(), &b"b3"[..]);
        it.seek(&make_internal_key(b"b", 100, ValueKind::Value));
        assert_eq!(user_key_and_sequence(&it), (b"b".to_vec(), 4));
        it.prev();
        assert_eq!(user_key_and_sequence(&it), (b"a".to_vec(), 1));
        it.prev();
        assert!(!it.valid());
        it.seek(&make_internal_key(b"c", 1, ValueKind::Value));
        assert!(!it.valid());
        it.seek(b"x");
        assert_eq!(user_key_and_sequence(&it), (b"a".to_vec(), 1));
    }

    #[test]
    fn key_bytes_share_the_memtable_buffer() {
        let m = sample();
        let mut it = m.iter();
        it.seek_to_first();
        let key = it.key_bytes();
        assert_eq!(&key[..], it.key());
        assert_eq!(key.as_ptr(), it.key().as_ptr());
        assert_eq!(it.value_bytes().as_ptr(), it.value().as_ptr());
    }

    #[test]
    fn outlives_the_memtable_handle_and_sees_later_adds() {
        let m = sample();
        let mut it = m.iter();
        it.seek_to_first();
        m.add(5, ValueKind::Value, b"aa", b"aa5");
        drop(m);
        it.next();
        assert_eq!(user_key_and_sequence(&it), (b"aa".to_vec(), 5));
        assert_eq!(it.value(), b"aa5");
    }

    #[test]
    fn moving_an_invalid_iterator_is_harmless() {
        let m = Memtable::new(InternalKeyComparator::new(BytewiseComparator::shared()));
        let mut it = m.iter();
        it.seek_to_first();
        assert!(!it.valid());
        it.next();
        it.prev();
        assert!(!it.valid());
        assert!(it.key_bytes().is_empty());
        assert!(it.status().is_ok());
    }
}
