//! The memtable: a concurrent skiplist of internal keys and values
//! (docs/format.md §5 for the keys, §5.3 for the lookup rule).
//!
//! Writes are added under their sequence numbers and never removed; a read
//! at snapshot `s` sees, for its user key, the newest entry with sequence
//! `<= s`. Adds, reads and iterators may all run at the same time from any
//! number of threads.

use std::cmp::Ordering;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use lsmkit_base::coding::varint_length;
use lsmkit_base::key::{
    extract_trailer, extract_user_key, make_internal_key, pack_sequence_and_kind, InternalKeyComparator,
    SequenceNumber, ValueKind, INTERNAL_KEY_TRAILER_LEN, MAX_SEQUENCE_NUMBER, VALUE_KIND_FOR_SEEK,
};
use lsmkit_base::range_tombstone::{FragmentedRangeTombstones, RangeTombstone};

use crate::append_only_list::AppendOnlyList;
use crate::entry_arena::EntryArena;
use crate::iterator::MemtableIterator;
use crate::memory_usage::{node_overhead, MemoryCounter};
use crate::skiplist_key::{BytewiseKey, ComparatorKey, EntryBuffer, SkiplistKey};

/// The answer of [`Memtable::get`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemtableGet {
    /// The newest visible entry is a value (shared with the memtable, not copied).
    Found(Bytes),
    /// The newest visible entry is a deletion: the key is deleted as of the
    /// snapshot, and older tables must not be consulted.
    Deleted,
    /// The memtable holds no visible entry for the key.
    NotFound,
    /// The newest visible entry is a merge operand: the value is the merge
    /// of it with older entries (of this memtable and below), which the
    /// caller gathers.
    Merge,
}

/// A concurrent, append-only map from internal keys to values.
///
/// Cloning is cheap and shares the table: the engine hands clones to readers
/// and to the flush thread. It is `Send + Sync`; [`Memtable::add`] may be
/// called from several threads at once.
///
/// ```
/// use lsmkit_base::comparator::BytewiseComparator;
/// use lsmkit_base::key::{InternalKeyComparator, ValueKind};
/// use lsmkit_memtable::{Memtable, MemtableGet};
///
/// let memtable = Memtable::new(InternalKeyComparator::new(BytewiseComparator::shared()));
/// memtable.add(1, ValueKind::Value, b"k", b"v1");
/// memtable.add(2, ValueKind::Deletion, b"k", b"");
/// assert_eq!(memtable.get(b"k", 1), MemtableGet::Found("v1".into()));
/// assert_eq!(memtable.get(b"k", 2), MemtableGet::Deleted);
/// assert_eq!(memtable.get(b"other", 2), MemtableGet::NotFound);
/// ```
#[derive(Clone)]
pub struct Memtable {
    shared: Arc<MemtableShared>,
}

/// The state clones of a [`Memtable`] and its iterators share.
pub(crate) struct MemtableShared {
    pub(crate) table: Table,
    comparator: InternalKeyComparator,
    arena: EntryArena,
    memory_usage: MemoryCounter,
    /// See [`Memtable::write_buffer_charge`].
    write_buffer_charge: MemoryCounter,
    /// True once a range tombstone was added: reads that find it false pay
    /// nothing for range deletions.
    has_range_tombstones: AtomicBool,
    /// The range tombstones, apart from the point entries of the skiplist
    /// (readers share the cached fragmented form under the read lock).
    range_tombstones: RwLock<RangeTombstoneStore>,
}

/// The range tombstones of a memtable and their fragmented form, rebuilt
/// when a tombstone was added since it was last asked for.
#[derive(Default)]
struct RangeTombstoneStore {
    tombstones: Vec<RangeTombstone>,
    fragmented: Option<Arc<FragmentedRangeTombstones>>,
}

/// The skiplist, typed by the order it uses.
pub(crate) enum Table {
    /// The bytewise fast path: no comparator calls, and most comparisons
    /// decided inside the node (see `skiplist_key`).
    Bytewise(AppendOnlyList<BytewiseKey>),
    /// Any other user comparator, shared by every key.
    Ordered { map: AppendOnlyList<ComparatorKey>, comparator: Arc<InternalKeyComparator> },
}

impl Memtable {
    /// An empty memtable ordered by `comparator`. A user comparator whose
    /// [`is_bytewise`](lsmkit_base::comparator::Comparator::is_bytewise) is
    /// true gets the bytewise fast path.
    pub fn new(comparator: InternalKeyComparator) -> Memtable {
        let table = if comparator.user_comparator().is_bytewise() {
            Table::Bytewise(AppendOnlyList::new())
        } else {
            Table::Ordered { map: AppendOnlyList::new(), comparator: Arc::new(comparator.clone()) }
        };
        let memory_usage = MemoryCounter::new(std::mem::size_of::<MemtableShared>());
        let arena = EntryArena::new();
        let write_buffer_charge = MemoryCounter::new(0);
        Memtable {
            shared: Arc::new(MemtableShared {
                table,
                comparator,
                arena,
                memory_usage,
                write_buffer_charge,
                has_range_tombstones: AtomicBool::new(false),
                range_tombstones: RwLock::new(RangeTombstoneStore::default()),
            }),
        }
    }

    /// Adds the entry (`user_key`, `sequence`, `kind`) → `value`; for a
    /// deletion the value is normally empty. A [`ValueKind::RangeDeletion`]
    /// goes to [`add_range_tombstone`](Self::add_range_tombstone) (`user_key`
    /// the begin, `value` the end). Safe to call from several
    /// threads at once.
    ///
    /// Each (`user_key`, `sequence`, `kind`) must be added at most once (the
    /// engine's sequence numbers guarantee it); adding one again is ignored:
    /// the entry added first stays, and memory usage is not charged again.
    ///
    /// # Panics
    ///
    /// If `sequence` exceeds [`MAX_SEQUENCE_NUMBER`]; sequence numbers read
    /// from a log must be validated before they get here. If the internal
    /// key or the value is longer than `u32::MAX` bytes (LevelDB's formats
    /// cannot store such an entry either: their lengths are 32-bit).
    pub fn add(&self, sequence: SequenceNumber, kind: ValueKind, user_key: &[u8], value: &[u8]) {
        if kind == ValueKind::RangeDeletion {
            // `user_key` is the range's begin, `value` its end.
            return self.add_range_tombstone(sequence, user_key, value);
        }
        assert!(sequence <= MAX_SEQUENCE_NUMBER, "sequence number {sequence} exceeds 2^56 - 1");
        let internal_key_len = user_key.len() + INTERNAL_KEY_TRAILER_LEN;
        let trailer = pack_sequence_and_kind(sequence, kind).to_le_bytes();
        let (start, allocated) = self.shared.arena.store(&[user_key, &trailer, value]);
        // SAFETY: the arena's bytes stay where they are, unchanged, until the
        // arena is dropped, which happens with `MemtableShared`, after the
        // skiplist holding this entry (and no entry outlives a handle on
        // `MemtableShared`: readers and iterators hold one).
        let entry = unsafe { EntryBuffer::new(start, internal_key_len, value.len()) };
        // The entry's bytes do not move with it: finding their address in the
        // list tells whether this entry went in or an equal one was there.
        let buffer_address = entry.start();
        let (inserted, overhead) = match &self.shared.table {
            Table::Bytewise(map) => (
                map.insert_if_absent(BytewiseKey::new(entry), |k| holds_buffer(k, buffer_address)),
                node_overhead::<BytewiseKey>(),
            ),
            Table::Ordered { map, comparator } => (
                map.insert_if_absent(ComparatorKey::new(entry, comparator.clone()), |k| {
                    holds_buffer(k, buffer_address)
                }),
                node_overhead::<ComparatorKey>(),
            ),
        };
        // A block stays allocated whether or not this entry went in. One
        // atomic add per counter: these run on every write.
        if inserted {
            self.shared.memory_usage.add(allocated + overhead);
            self.shared.write_buffer_charge.add(leveldb_entry_charge(internal_key_len, value.len()));
        } else if allocated > 0 {
            self.shared.memory_usage.add(allocated);
        }
    }

    /// Adds the range tombstone "every key in [`begin`, `end`) written
    /// before `sequence` is deleted" (docs/format-extensions.md, "Range
    /// deletions"). It is kept apart from the point entries: [`get`](Self::get)
    /// and [`iter`](Self::iter) do not see it; readers ask
    /// [`range_tombstones`](Self::range_tombstones).
    ///
    /// ```
    /// use lsmkit_base::comparator::BytewiseComparator;
    /// use lsmkit_base::key::{InternalKeyComparator, ValueKind};
    /// use lsmkit_memtable::Memtable;
    ///
    /// let mem = Memtable::new(InternalKeyComparator::new(BytewiseComparator::shared()));
    /// assert!(mem.range_tombstones().is_none());
    /// mem.add_range_tombstone(2, b"a", b"c");
    /// assert!(!mem.is_empty(), "a memtable holding only a tombstone is not empty");
    /// mem.add(1, ValueKind::Value, b"b", b"v");
    /// assert_eq!(mem.len(), 1, "len counts point entries");
    /// // `add` with the range-deletion kind is the same as `add_range_tombstone`.
    /// mem.add(3, ValueKind::RangeDeletion, b"x", b"y");
    /// assert_eq!(mem.range_tombstone_count(), 2);
    /// let tombstones = mem.range_tombstones().unwrap();
    /// assert_eq!(tombstones.max_covering_seq(b"b", 2), 2);
    /// assert_eq!(tombstones.max_covering_seq(b"b", 1), 0);
    /// ```
    ///
    /// # Panics
    ///
    /// If `sequence` exceeds [`MAX_SEQUENCE_NUMBER`].
    pub fn add_range_tombstone(&self, sequence: SequenceNumber, begin: &[u8], end: &[u8]) {
        assert!(sequence <= MAX_SEQUENCE_NUMBER, "sequence number {sequence} exceeds 2^56 - 1");
        let charge = begin.len() + end.len() + INTERNAL_KEY_TRAILER_LEN;
        {
            let mut store = self.shared.range_tombstones.write().unwrap_or_else(|e| e.into_inner());
            store.tombstones.push(RangeTombstone::new(begin, end, sequence));
            store.fragmented = None;
        }
        self.shared.has_range_tombstones.store(true, AtomicOrdering::Release);
        self.shared.memory_usage.add(charge + std::mem::size_of::<RangeTombstone>());
        self.shared
            .write_buffer_charge
            .add(leveldb_entry_charge(begin.len() + INTERNAL_KEY_TRAILER_LEN, end.len()));
    }

    /// True once a range tombstone was added (one atomic load).
    pub fn has_range_tombstones(&self) -> bool {
        self.shared.has_range_tombstones.load(AtomicOrdering::Acquire)
    }

    /// The range tombstones, fragmented (`None` when there are none). The
    /// fragmented list is cached until the next tombstone is added, so a
    /// full memtable builds it once.
    pub fn range_tombstones(&self) -> Option<Arc<FragmentedRangeTombstones>> {
        if !self.has_range_tombstones() {
            return None;
        }
        if let Some(fragmented) =
            &self.shared.range_tombstones.read().unwrap_or_else(|e| e.into_inner()).fragmented
        {
            return Some(Arc::clone(fragmented));
        }
        let mut store = self.shared.range_tombstones.write().unwrap_or_else(|e| e.into_inner());
        if let Some(fragmented) = &store.fragmented {
            return Some(Arc::clone(fragmented));
        }
        let fragmented = Arc::new(FragmentedRangeTombstones::new(
            store.tombstones.iter().cloned(),
            Arc::clone(self.shared.comparator.user_comparator()),
        ));
        store.fragmented = Some(Arc::clone(&fragmented));
        Some(fragmented)
    }

    /// The number of range tombstones added.
    pub fn range_tombstone_count(&self) -> usize {
        if !self.has_range_tombstones() {
            return 0;
        }
        self.shared.range_tombstones.read().unwrap_or_else(|e| e.into_inner()).tombstones.len()
    }

    /// The newest entry for `user_key` with sequence `<= snapshot`. A
    /// `snapshot` above [`MAX_SEQUENCE_NUMBER`] means "everything".
    pub fn get(&self, user_key: &[u8], snapshot: SequenceNumber) -> MemtableGet {
        self.get_with_sequence(user_key, snapshot).0
    }

    /// [`get`](Self::get), with the sequence number of the entry found (0
    /// with [`MemtableGet::NotFound`]), which a reader compares with the
    /// range tombstones covering the key.
    pub fn get_with_sequence(
        &self,
        user_key: &[u8],
        snapshot: SequenceNumber,
    ) -> (MemtableGet, SequenceNumber) {
        let snapshot = snapshot.min(MAX_SEQUENCE_NUMBER);
        // The search target: the newest possible entry for `user_key` at `snapshot`.
        let target = make_internal_key(user_key, snapshot, VALUE_KIND_FOR_SEEK);
        match &self.shared.table {
            Table::Bytewise(map) => {
                // SAFETY: `target` outlives the search key, dropped at the end
                // of this arm.
                let target = BytewiseKey::new(unsafe { EntryBuffer::key_only(&target) });
                match map.lower_bound(&target) {
                    Some(entry) if extract_user_key(entry.key().entry().internal_key()) == user_key => {
                        visible_entry(&self.shared, entry.key())
                    }
                    _ => (MemtableGet::NotFound, 0),
                }
            }
            Table::Ordered { map, comparator } => {
                // SAFETY: as above.
                let target =
                    ComparatorKey::new(unsafe { EntryBuffer::key_only(&target) }, comparator.clone());
                match map.lower_bound(&target) {
                    Some(entry)
                        if comparator.compare_user_keys(
                            extract_user_key(entry.key().entry().internal_key()),
                            user_key,
                        ) == Ordering::Equal =>
                    {
                        visible_entry(&self.shared, entry.key())
                    }
                    _ => (MemtableGet::NotFound, 0),
                }
            }
        }
    }

    /// An iterator over all entries, in internal-key order. It stays valid
    /// while adds continue and may or may not see entries added after it
    /// was created; what it yields is always ordered and free of duplicates.
    pub fn iter(&self) -> MemtableIterator {
        MemtableIterator::new(Arc::clone(&self.shared))
    }

    /// The number of point entries (values, deletions, merge operands;
    /// range tombstones are counted by
    /// [`range_tombstone_count`](Self::range_tombstone_count)).
    pub fn len(&self) -> usize {
        match &self.shared.table {
            Table::Bytewise(map) => map.len(),
            Table::Ordered { map, .. } => map.len(),
        }
    }

    /// True when no entry has been added (no point entry and no range
    /// tombstone).
    pub fn is_empty(&self) -> bool {
        self.len() == 0 && !self.has_range_tombstones()
    }

    /// An estimate of the bytes this memtable holds: its fixed state, the
    /// arena blocks its entries' bytes live in (shared 4 KiB blocks, or a
    /// block of its own for a large entry), and per
    /// entry a fixed overhead for the skiplist node (reference count and
    /// height word, the skiplist key, an average tower of 2 pointers). The
    /// allocator's own bookkeeping is not counted. For a large random load
    /// this is within a few percent of the bytes really allocated (the
    /// `memory_usage` integration test measures it, and fails beyond 25%).
    pub fn approximate_memory_usage(&self) -> usize {
        self.shared.memory_usage.get()
    }

    /// The bytes LevelDB 1.23's memtable would charge for the same entries:
    /// each entry encoded as in its arena (length-prefixed internal key and
    /// value) plus an average skiplist node of [`LEVELDB_NODE_BYTES`]. An
    /// engine that switches memtables when this passes its write buffer
    /// size flushes tables of the size LevelDB flushes for the same writes;
    /// the real memory use ([`approximate_memory_usage`](Self::approximate_memory_usage))
    /// is higher, by this list's larger nodes.
    ///
    /// ```
    /// use lsmkit_base::comparator::BytewiseComparator;
    /// use lsmkit_base::key::{InternalKeyComparator, ValueKind};
    /// use lsmkit_memtable::{Memtable, LEVELDB_NODE_BYTES};
    ///
    /// let mem = Memtable::new(InternalKeyComparator::new(BytewiseComparator::shared()));
    /// mem.add(1, ValueKind::Value, b"key", b"value");
    /// // 1 + (3 + 8) bytes of internal key, 1 + 5 bytes of value, one node.
    /// assert_eq!(mem.write_buffer_charge(), 18 + LEVELDB_NODE_BYTES);
    /// ```
    pub fn write_buffer_charge(&self) -> usize {
        self.shared.write_buffer_charge.get()
    }

    /// The internal-key comparator the entries are ordered by.
    pub fn comparator(&self) -> &InternalKeyComparator {
        &self.shared.comparator
    }
}

impl std::fmt::Debug for Memtable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memtable")
            .field("comparator", &self.shared.comparator)
            .field("len", &self.len())
            .field("approximate_memory_usage", &self.approximate_memory_usage())
            .finish()
    }
}

/// True when `key`'s entry lives in the buffer starting at `address`.
fn holds_buffer<K: SkiplistKey>(key: &K, address: *const u8) -> bool {
    std::ptr::eq(key.entry().start(), address)
}

/// Bytes of a memtable's arena, handed out without copying: the handle on
/// the memtable keeps them allocated.
struct ArenaBytes {
    /// Keeps the arena, and so the bytes, alive.
    _memtable: Arc<MemtableShared>,
    start: *const u8,
    len: usize,
}

// SAFETY: the bytes are never written after they are handed out, and the
// memtable they belong to is `Send + Sync`.
unsafe impl Send for ArenaBytes {}

impl AsRef<[u8]> for ArenaBytes {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `start..start + len` lies in the arena of `_memtable`,
        // which stays alive (and never changes or frees those bytes) while
        // this value holds it.
        unsafe { std::slice::from_raw_parts(self.start, self.len) }
    }
}

/// `bytes`, which lie in `memtable`'s arena, as shared bytes (no copy).
pub(crate) fn share_arena_bytes(memtable: &Arc<MemtableShared>, bytes: &[u8]) -> Bytes {
    if bytes.is_empty() {
        return Bytes::new();
    }
    Bytes::from_owner(ArenaBytes { _memtable: Arc::clone(memtable), start: bytes.as_ptr(), len: bytes.len() })
}

/// What `key`, already known to hold the looked-up user key, says about
/// it, and its sequence number.
fn visible_entry<K: SkiplistKey>(memtable: &Arc<MemtableShared>, key: &K) -> (MemtableGet, SequenceNumber) {
    let entry = key.entry();
    let trailer = extract_trailer(entry.internal_key());
    let found = match ValueKind::from_byte((trailer & 0xff) as u8) {
        Some(ValueKind::Value) => MemtableGet::Found(share_arena_bytes(memtable, entry.value())),
        Some(ValueKind::Deletion) => MemtableGet::Deleted,
        Some(ValueKind::Merge) => MemtableGet::Merge,
        // `add` only writes the known point kinds; range tombstones live
        // apart (`add_range_tombstone`).
        Some(ValueKind::RangeDeletion) | None => return (MemtableGet::NotFound, 0),
    };
    (found, trailer >> 8)
}

/// The bytes of one skiplist node in LevelDB's memtable arena, on average:
/// the entry pointer and a tower of next pointers whose expected height is
/// 4/3 (branching factor 4), 16 + 8 × 1/3 bytes, rounded up.
pub const LEVELDB_NODE_BYTES: usize = 19;

/// What LevelDB's arena takes for one entry: varint internal-key length, the
/// internal key, varint value length, the value, and a node.
fn leveldb_entry_charge(internal_key_len: usize, value_len: usize) -> usize {
    varint_length(internal_key_len as u64)
        + internal_key_len
        + varint_length(value_len as u64)
        + value_len
        + LEVELDB_NODE_BYTES
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry_arena::{CHUNK_LEN, OWN_BUFFER_LEN};
    use crate::skiplist_key::INLINE_PREFIX_LEN;
    use lsmkit_base::comparator::{BytewiseComparator, Comparator};
    use lsmkit_base::iterator::InternalIterator;

    fn bytewise() -> Memtable {
        Memtable::new(InternalKeyComparator::new(BytewiseComparator::shared()))
    }

    /// Bytewise order, but not flagged bytewise: exercises the general path.
    struct SlowBytewise;

    impl Comparator for SlowBytewise {
        fn name(&self) -> &str {
            "test.SlowBytewise"
        }
        fn compare(&self, a: &[u8], b: &[u8]) -> Ordering {
            a.cmp(b)
        }
        fn shortest_separator(&self, start: &[u8], _limit: &[u8]) -> Vec<u8> {
            start.to_vec()
        }
        fn short_successor(&self, key: &[u8]) -> Vec<u8> {
            key.to_vec()
        }
    }

    fn both_paths() -> [Memtable; 2] {
        [bytewise(), Memtable::new(InternalKeyComparator::new(Arc::new(SlowBytewise)))]
    }

    #[test]
    fn get_honours_snapshots() {
        for m in both_paths() {
            m.add(10, ValueKind::Value, b"k", b"v10");
            m.add(20, ValueKind::Deletion, b"k", b"");
            m.add(30, ValueKind::Value, b"k", b"v30");
            m.add(15, ValueKind::Value, b"j", b"j15");
            m.add(16, ValueKind::Value, b"l", b"l16");
            assert_eq!(m.get(b"k", 9), MemtableGet::NotFound);
            assert_eq!(m.get(b"k", 10), MemtableGet::Found("v10".into()));
            assert_eq!(m.get(b"k", 19), MemtableGet::Found("v10".into()));
            assert_eq!(m.get(b"k", 20), MemtableGet::Deleted);
            assert_eq!(m.get(b"k", 29), MemtableGet::Deleted);
            assert_eq!(m.get(b"k", 30), MemtableGet::Found("v30".into()));
            assert_eq!(m.get(b"k", u64::MAX), MemtableGet::Found("v30".into()));
            assert_eq!(m.get(b"j", 14), MemtableGet::NotFound);
            assert_eq!(m.get(b"", 100), MemtableGet::NotFound);
            assert_eq!(m.get(b"kk", 100), MemtableGet::NotFound);
            assert_eq!(m.len(), 5);
        }
    }

    #[test]
    fn adding_an_entry_again_keeps_the_first() {
        for m in both_paths() {
            m.add(7, ValueKind::Value, b"k", b"first");
            let usage = m.approximate_memory_usage();
            m.add(7, ValueKind::Value, b"k", b"second!");
            assert_eq!(m.get(b"k", 7), MemtableGet::Found("first".into()));
            assert_eq!(m.len(), 1);
            assert_eq!(m.approximate_memory_usage(), usage);
            let mut it = m.iter();
            it.seek_to_first();
            assert_eq!(it.value(), b"first");
            it.next();
            assert!(!it.valid());
        }
    }

    #[test]
    fn same_sequence_deletion_sorts_after_value() {
        // Value and deletion at one sequence are different internal keys;
        // the value (higher kind) is the newer one.
        for m in both_paths() {
            m.add(5, ValueKind::Deletion, b"k", b"");
            m.add(5, ValueKind::Value, b"k", b"v");
            assert_eq!(m.get(b"k", 5), MemtableGet::Found("v".into()));
            assert_eq!(m.len(), 2);
        }
    }

    #[test]
    fn keys_longer_than_the_inline_prefix() {
        for m in both_paths() {
            let long = vec![b'x'; INLINE_PREFIX_LEN * 3];
            let mut longer = long.clone();
            longer.push(b'y');
            m.add(1, ValueKind::Value, &long, b"long");
            m.add(2, ValueKind::Value, &longer, b"longer");
            assert_eq!(m.get(&long, 2), MemtableGet::Found("long".into()));
            assert_eq!(m.get(&longer, 2), MemtableGet::Found("longer".into()));
            assert_eq!(m.get(&long[..INLINE_PREFIX_LEN], 2), MemtableGet::NotFound);
            assert_eq!(m.get(&long[..INLINE_PREFIX_LEN + 1], 2), MemtableGet::NotFound);
            let edge = vec![b'x'; INLINE_PREFIX_LEN];
            m.add(3, ValueKind::Value, &edge, b"edge");
            assert_eq!(m.get(&edge, 3), MemtableGet::Found("edge".into()));
        }
    }

    #[test]
    fn empty_key_and_value() {
        for m in both_paths() {
            assert!(m.is_empty());
            m.add(1, ValueKind::Value, b"", b"");
            assert!(!m.is_empty());
            assert_eq!(m.get(b"", 1), MemtableGet::Found(Bytes::new()));
            assert_eq!(m.get(b"", 0), MemtableGet::NotFound);
        }
    }

    #[test]
    fn values_are_shared_not_copied() {
        let m = bytewise();
        m.add(1, ValueKind::Value, b"k", b"shared value");
        let (MemtableGet::Found(a), MemtableGet::Found(b)) = (m.get(b"k", 1), m.get(b"k", 1)) else {
            panic!("value missing");
        };
        assert_eq!(a.as_ptr(), b.as_ptr());
    }

    #[test]
    fn a_value_outlives_every_handle_on_its_memtable() {
        let m = bytewise();
        m.add(1, ValueKind::Value, b"k", b"kept value");
        let MemtableGet::Found(value) = m.get(b"k", 1) else { panic!("value missing") };
        drop(m);
        // The value keeps the arena it lives in alive.
        assert_eq!(value, &b"kept value"[..]);
    }

    #[test]
    fn memory_usage_grows_by_buffers_and_node_overhead() {
        let m = bytewise();
        let start = m.approximate_memory_usage();
        m.add(1, ValueKind::Value, b"key", b"value");
        let chunk = CHUNK_LEN;
        let node = node_overhead::<BytewiseKey>();
        assert_eq!(m.approximate_memory_usage(), start + chunk + node);
        // The next small entry fits in the same chunk.
        let clone = m.clone();
        clone.add(2, ValueKind::Deletion, b"key", b"");
        assert_eq!(m.approximate_memory_usage(), start + chunk + 2 * node);
        // A large one gets its own buffer.
        let value = vec![0u8; OWN_BUFFER_LEN];
        m.add(3, ValueKind::Value, b"key", &value);
        let own = 3 + 8 + OWN_BUFFER_LEN;
        assert_eq!(m.approximate_memory_usage(), start + chunk + own + 3 * node);
    }

    #[test]
    #[should_panic(expected = "exceeds")]
    fn oversized_sequence_panics() {
        bytewise().add(MAX_SEQUENCE_NUMBER + 1, ValueKind::Value, b"k", b"v");
    }

    #[test]
    fn is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Memtable>();
        check::<MemtableIterator>();
    }
}
