//! [`EntryArena`]: where a memtable keeps the bytes of its entries (an
//! internal key, docs/format.md §5, followed by the value).
//!
//! Small entries are carved one after the other out of blocks of
//! [`CHUNK_LEN`] bytes, as LevelDB's arena does; an entry of
//! [`OWN_BUFFER_LEN`] bytes or more gets a block of its own, so a block
//! never wastes more than a quarter of its bytes at its end. An entry is
//! addressed by a plain pointer: no reference count per entry, and the
//! skiplist node that points at it stays small (see `skiplist_key`).
//!
//! Blocks are never moved, reused or freed while the arena lives: an entry's
//! bytes are written once, before the entry is published in the skiplist,
//! and are only read afterwards, by any thread. The arena frees every block
//! when it is dropped, which happens with the memtable's shared state,
//! after the skiplist whose nodes point into it (`MemtableShared`).

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::ptr::NonNull;
use std::sync::Mutex;

/// The size of one shared block.
pub(crate) const CHUNK_LEN: usize = 4096;

/// Entries at least this long get a block of their own.
pub(crate) const OWN_BUFFER_LEN: usize = CHUNK_LEN / 4;

/// Hands out entry buffers, from any number of threads at once.
pub(crate) struct EntryArena {
    state: Mutex<ArenaState>,
}

/// The arena's blocks and the free tail of the current shared one.
struct ArenaState {
    /// The next free byte of the current shared block (dangling when
    /// there is none yet, with `left` 0).
    next: NonNull<u8>,
    /// Free bytes from `next` to the end of the current shared block.
    left: usize,
    /// Every block allocated, with its length, freed on drop.
    blocks: Vec<(NonNull<u8>, usize)>,
}

// SAFETY: the pointers are into blocks this state owns (allocated by it,
// freed only by its drop); moving the state to another thread moves that
// ownership with it.
unsafe impl Send for ArenaState {}

impl ArenaState {
    /// Allocates a block of `len` bytes (`len > 0`) owned by the arena.
    fn allocate(&mut self, len: usize) -> NonNull<u8> {
        let layout = block_layout(len);
        // SAFETY: `layout` has a non-zero size.
        let block = unsafe { alloc(layout) };
        let Some(block) = NonNull::new(block) else { handle_alloc_error(layout) };
        self.blocks.push((block, len));
        block
    }
}

/// The layout of a block of `len` bytes (at least one).
fn block_layout(len: usize) -> Layout {
    match Layout::array::<u8>(len.max(1)) {
        Ok(layout) => layout,
        Err(_) => panic!("a memtable entry of {len} bytes is too large to allocate"),
    }
}

impl EntryArena {
    /// An arena with no block yet.
    pub(crate) fn new() -> EntryArena {
        EntryArena {
            state: Mutex::new(ArenaState { next: NonNull::dangling(), left: 0, blocks: Vec::new() }),
        }
    }

    /// Copies `parts`, one after the other, into bytes of the arena's own;
    /// returns where they start and the bytes newly allocated to hold them
    /// (0 when they fit in the current block). The bytes stay where they
    /// are, unchanged, until the arena is dropped.
    pub(crate) fn store(&self, parts: &[&[u8]]) -> (NonNull<u8>, usize) {
        let len: usize = parts.iter().map(|part| part.len()).sum();
        let (start, allocated) = {
            // Only bookkeeping happens under the lock, which cannot leave
            // the state inconsistent, so a poisoned lock is still usable.
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if len >= OWN_BUFFER_LEN {
                (state.allocate(len), len)
            } else {
                let mut allocated = 0;
                if state.left < len {
                    state.next = state.allocate(CHUNK_LEN);
                    state.left = CHUNK_LEN;
                    allocated = CHUNK_LEN;
                }
                let start = state.next;
                // SAFETY: `len <= left`, so the result is at most one past the
                // end of the current block.
                state.next = unsafe { start.add(len) };
                state.left -= len;
                (start, allocated)
            }
        };
        // The range `[start, start + len)` is this call's alone: copied
        // without the lock, so concurrent adds only contend for the
        // bookkeeping.
        let mut at = start.as_ptr();
        for part in parts {
            // SAFETY: the range was reserved above inside a live block of the
            // arena and nothing else writes or reads it before this call
            // returns; `part` cannot overlap it (the arena's bytes are never
            // handed out before they are written).
            unsafe {
                std::ptr::copy_nonoverlapping(part.as_ptr(), at, part.len());
                at = at.add(part.len());
            }
        }
        (start, allocated)
    }
}

impl Drop for EntryArena {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        for &(block, len) in &state.blocks {
            // SAFETY: allocated by `ArenaState::allocate` with this layout and
            // freed only here, once.
            unsafe { dealloc(block.as_ptr(), block_layout(len)) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `len` bytes at `start`.
    fn bytes(start: NonNull<u8>, len: usize) -> Vec<u8> {
        // SAFETY: test-only view of bytes the arena in scope stored.
        unsafe { std::slice::from_raw_parts(start.as_ptr(), len) }.to_vec()
    }

    #[test]
    fn small_entries_share_a_block_and_large_ones_get_their_own() {
        let arena = EntryArena::new();
        let (first, allocated) = arena.store(&[b"ab", b"c"]);
        assert_eq!((bytes(first, 3), allocated), (b"abc".to_vec(), CHUNK_LEN));
        let (second, allocated) = arena.store(&[b"de"]);
        assert_eq!((bytes(second, 2), allocated), (b"de".to_vec(), 0));
        // Carved from the same block, one after the other.
        assert_eq!(second.as_ptr(), first.as_ptr().wrapping_add(3));

        let big = vec![7u8; OWN_BUFFER_LEN];
        let (own, allocated) = arena.store(&[&big]);
        assert_eq!((bytes(own, big.len()), allocated), (big.clone(), OWN_BUFFER_LEN));

        // A block that cannot take the next entry is replaced.
        let filler = vec![1u8; OWN_BUFFER_LEN - 1];
        let mut allocations = 0;
        for _ in 0..CHUNK_LEN / filler.len() + 1 {
            let (stored, allocated) = arena.store(&[&filler]);
            assert_eq!(bytes(stored, filler.len()), filler);
            allocations += usize::from(allocated > 0);
        }
        assert_eq!(allocations, 1);
        // Earlier entries are untouched.
        assert_eq!((bytes(first, 3), bytes(second, 2)), (b"abc".to_vec(), b"de".to_vec()));
    }

    #[test]
    fn concurrent_stores_never_overlap() {
        let arena = EntryArena::new();
        let stored: Vec<Vec<(NonNull<u8>, u8)>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..4u8)
                .map(|t| {
                    let arena = &arena;
                    scope.spawn(move || {
                        (0..500)
                            .map(|i| {
                                let fill = t.wrapping_mul(61).wrapping_add(i as u8);
                                let entry = vec![fill; 1 + (i * 7) % 300];
                                (arena.store(&[&entry]).0, fill)
                            })
                            .map(|(start, fill)| (SendPtr(start), fill))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().unwrap().into_iter().map(|(p, f)| (p.0, f)).collect())
                .collect()
        });
        for (t, entries) in stored.iter().enumerate() {
            for (i, &(start, fill)) in entries.iter().enumerate() {
                assert_eq!(
                    bytes(start, 1 + (i * 7) % 300),
                    vec![fill; 1 + (i * 7) % 300],
                    "thread {t} entry {i}"
                );
            }
        }
    }

    /// A pointer handed back from a test thread.
    struct SendPtr(NonNull<u8>);
    // SAFETY: only compared and read after the threads joined, while the
    // arena that owns the bytes is alive.
    unsafe impl Send for SendPtr {}
}
