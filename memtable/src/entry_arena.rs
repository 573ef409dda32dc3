//! [`EntryArena`]: where a memtable keeps the bytes of its entries (an
//! internal key, docs/format.md §5, followed by the value).
//!
//! Small entries are carved one after the other out of shared chunks of
//! [`CHUNK_LEN`] bytes, as LevelDB's arena does, so an add costs a copy and
//! a reference-count increment instead of two allocations (the buffer and
//! its shared header), and dropping the memtable frees a chunk per few dozen
//! entries instead of two blocks per entry. Each entry is still its own
//! [`Bytes`], so readers share it without copying; a value a reader keeps
//! keeps its chunk alive (at most [`CHUNK_LEN`] bytes). Entries of
//! [`OWN_BUFFER_LEN`] bytes or more get a buffer of their own, so a chunk
//! never wastes more than a quarter of its bytes at its end.

use std::sync::Mutex;

use bytes::{Bytes, BytesMut};

/// The size of one shared chunk.
pub(crate) const CHUNK_LEN: usize = 4096;

/// Entries at least this long are not put in a chunk.
pub(crate) const OWN_BUFFER_LEN: usize = CHUNK_LEN / 4;

/// The header `bytes` allocates once per shared buffer (the reference count
/// and the original buffer's pointer, capacity and kind).
pub(crate) const SHARED_BUFFER_HEADER: usize = 4 * std::mem::size_of::<usize>();

/// Hands out entry buffers, from any number of threads at once.
pub(crate) struct EntryArena {
    /// The free tail of the current chunk.
    chunk: Mutex<BytesMut>,
}

impl EntryArena {
    /// An arena with no chunk yet.
    pub(crate) fn new() -> EntryArena {
        EntryArena { chunk: Mutex::new(BytesMut::new()) }
    }

    /// A buffer holding the `len` bytes `fill` appends, and the bytes newly
    /// allocated to provide it (0 when it fit in the current chunk).
    pub(crate) fn store(&self, len: usize, fill: impl FnOnce(&mut BytesMut)) -> (Bytes, usize) {
        if len >= OWN_BUFFER_LEN {
            let mut own = BytesMut::with_capacity(len);
            fill(&mut own);
            debug_assert_eq!(own.len(), len);
            return (own.freeze(), len + SHARED_BUFFER_HEADER);
        }
        // Only copies happen under the lock, which cannot leave the chunk
        // inconsistent, so a poisoned lock is still usable.
        let mut chunk = self.chunk.lock().unwrap_or_else(|e| e.into_inner());
        let mut allocated = 0;
        if chunk.capacity() < len {
            *chunk = BytesMut::with_capacity(CHUNK_LEN);
            allocated = CHUNK_LEN + SHARED_BUFFER_HEADER;
        }
        fill(&mut chunk);
        debug_assert_eq!(chunk.len(), len);
        // Splits the filled bytes off; the chunk keeps its free tail.
        (chunk.split().freeze(), allocated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_entries_share_a_chunk_and_large_ones_get_their_own() {
        let arena = EntryArena::new();
        let (first, allocated) = arena.store(3, |b| b.extend_from_slice(b"abc"));
        assert_eq!((&first[..], allocated), (&b"abc"[..], CHUNK_LEN + SHARED_BUFFER_HEADER));
        let (second, allocated) = arena.store(2, |b| b.extend_from_slice(b"de"));
        assert_eq!((&second[..], allocated), (&b"de"[..], 0));
        // Carved from the same chunk, one after the other.
        assert_eq!(second.as_ptr(), first.as_ptr().wrapping_add(3));

        let big = vec![7u8; OWN_BUFFER_LEN];
        let (own, allocated) = arena.store(big.len(), |b| b.extend_from_slice(&big));
        assert_eq!((&own[..], allocated), (&big[..], OWN_BUFFER_LEN + SHARED_BUFFER_HEADER));

        // A chunk that cannot take the next entry is replaced.
        let filler = vec![1u8; OWN_BUFFER_LEN - 1];
        let mut allocations = 0;
        for _ in 0..CHUNK_LEN / filler.len() + 1 {
            let (stored, allocated) = arena.store(filler.len(), |b| b.extend_from_slice(&filler));
            assert_eq!(&stored[..], &filler[..]);
            allocations += usize::from(allocated > 0);
        }
        assert_eq!(allocations, 1);
        // Earlier entries are untouched.
        assert_eq!((&first[..], &second[..]), (&b"abc"[..], &b"de"[..]));
    }
}
