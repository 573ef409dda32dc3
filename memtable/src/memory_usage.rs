//! How the memtable estimates the memory it holds.
//!
//! Entry bytes live in the arena's buffers (see `entry_arena`), charged
//! when a buffer is allocated. On top of that every added entry is charged
//! a fixed overhead for its skiplist node: a reference-count-and-height
//! word, the skiplist key (see `skiplist_key`: 3 or 4 words) and the tower
//! of next pointers. Tower heights are geometric with p = 1/2, so a tower
//! holds 2 pointers on average.
//!
//! The allocator's own bookkeeping (headers, size-class rounding) is not
//! counted: the figure is the bytes the memtable asked for. The
//! `memory_usage` integration test checks it against a counting allocator.

use std::mem::size_of;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Pointers in an average skiplist tower (heights are geometric, p = 1/2).
const AVERAGE_TOWER_POINTERS: usize = 2;

/// The bytes charged to one entry's skiplist node, for a skiplist whose
/// keys are `K`.
pub(crate) const fn node_overhead<K>() -> usize {
    size_of::<usize>() + size_of::<K>() + AVERAGE_TOWER_POINTERS * size_of::<usize>()
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
    fn overhead_counts_the_node() {
        const WORD: usize = size_of::<usize>();
        // A comparator key is the entry's address and two 32-bit lengths
        // (2 words) and the comparator pointer.
        assert_eq!(size_of::<ComparatorKey>(), 3 * WORD);
        assert_eq!(node_overhead::<ComparatorKey>(), 6 * WORD);
        // A bytewise key has no comparator but 2 words of inline prefix.
        assert_eq!(size_of::<BytewiseKey>(), 4 * WORD);
        assert_eq!(node_overhead::<BytewiseKey>(), 7 * WORD);
    }
}
