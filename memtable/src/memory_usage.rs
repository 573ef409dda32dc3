//! How the memtable estimates the memory it holds.
//!
//! Every added entry is charged its key and value bytes plus a fixed
//! per-entry overhead:
//! - the skiplist node: a reference-count-and-height word, the skiplist key
//!   (see `skiplist_key`: 6 or 8 words) and the tower of next pointers. Tower heights are
//!   geometric with p = 1/2, so a tower holds 2 pointers on average;
//! - the header `Bytes` keeps in front of a shared buffer (a reference count
//!   and a drop function, 16 bytes, plus the owning box's pointer and
//!   length, 16 bytes).
//!
//! The allocator's own bookkeeping (headers, size-class rounding) is not
//! counted: the figure is the bytes the memtable asked for. The
//! `memory_usage` integration test checks it against a counting allocator.

use std::mem::size_of;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Pointers in an average skiplist tower (heights are geometric, p = 1/2).
const AVERAGE_TOWER_POINTERS: usize = 2;

/// The header of one `Bytes::from_owner` allocation: reference count, drop
/// function, and the owned `Box<[u8]>` (pointer and length).
const SHARED_BUFFER_HEADER: usize = 4 * size_of::<usize>();

/// The bytes charged to one entry on top of its internal key and value, for a
/// skiplist whose keys are `K`.
pub(crate) const fn entry_overhead<K>() -> usize {
    let node = size_of::<usize>() + size_of::<K>() + AVERAGE_TOWER_POINTERS * size_of::<usize>();
    node + SHARED_BUFFER_HEADER
}

/// The running byte count, alone on its cache lines: every add updates it,
/// and sharing a line with the skiplist's head tower (read by every search)
/// would make concurrent adds and reads slow each other down.
#[repr(align(128))]
pub(crate) struct MemoryCounter {
    bytes: AtomicUsize,
}

impl MemoryCounter {
    /// A counter starting at `bytes`.
    pub(crate) fn new(bytes: usize) -> MemoryCounter {
        MemoryCounter { bytes: AtomicUsize::new(bytes) }
    }

    /// Charges `bytes` more.
    pub(crate) fn add(&self, bytes: usize) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// The bytes charged so far.
    pub(crate) fn get(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::skiplist_key::{BytewiseKey, ComparatorKey};

    #[test]
    fn overhead_counts_node_and_buffer_header() {
        const WORD: usize = size_of::<usize>();
        // A comparator key is a `Bytes` (4 words), the key length and the
        // comparator pointer.
        assert_eq!(size_of::<ComparatorKey>(), 6 * WORD);
        assert_eq!(entry_overhead::<ComparatorKey>(), 13 * WORD);
        // A bytewise key has no comparator but 3 words of inline prefix and trailer.
        assert_eq!(size_of::<BytewiseKey>(), 8 * WORD);
        assert_eq!(entry_overhead::<BytewiseKey>(), 15 * WORD);
    }
}
