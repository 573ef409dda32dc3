//! The block cache: one cache of uncompressed data blocks shared by every
//! table of a database, bounded in bytes and keyed by (table, block offset).
//!
//! It is built on `quick_cache`'s sharded, lock-light cache (S3-FIFO-like
//! eviction that resists scans better than plain LRU), weighted by each
//! block's size.

use std::sync::atomic::{AtomicU64, Ordering};

use quick_cache::sync::Cache;
use quick_cache::Weighter;

use crate::block::Block;

/// Weighs a cached block by its size in bytes (at least 1).
#[derive(Debug, Clone, Copy, Default)]
struct BlockWeighter;

impl Weighter<(u64, u64), Block> for BlockWeighter {
    fn weight(&self, _key: &(u64, u64), block: &Block) -> u64 {
        (block.size() as u64).max(1)
    }
}

/// A concurrent cache of data blocks, `capacity` bytes in total.
///
/// Each opened table takes a fresh id from [`BlockCache::new_id`]; blocks are
/// keyed by `(id, block offset)`, so a reopened or replaced file never sees
/// another file's blocks.
///
/// ```
/// use bytes::Bytes;
/// use lsmkit_sstable::{Block, BlockCache};
///
/// let cache = BlockCache::new(1 << 20);
/// let table_id = cache.new_id();
/// let block = Block::new(Bytes::from_static(&[0, 0, 0, 0, 1, 0, 0, 0])).unwrap();
/// cache.insert(table_id, 0, block);
/// assert!(cache.get(table_id, 0).is_some());
/// assert!(cache.get(cache.new_id(), 0).is_none());
/// ```
pub struct BlockCache {
    cache: Cache<(u64, u64), Block, BlockWeighter>,
    next_id: AtomicU64,
    capacity: u64,
}

impl BlockCache {
    /// A cache holding up to `capacity` bytes of blocks (LevelDB's default is 8 MiB).
    pub fn new(capacity: u64) -> BlockCache {
        // quick_cache sizes its tables from an estimate of the item count.
        let estimated_blocks = usize::try_from(capacity / 4096).unwrap_or(usize::MAX).max(16);
        BlockCache {
            cache: Cache::with_weighter(estimated_blocks, capacity, BlockWeighter),
            next_id: AtomicU64::new(1),
            capacity,
        }
    }

    /// A fresh id for a newly opened table.
    pub fn new_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// The block of table `id` at `offset`, if cached.
    pub fn get(&self, id: u64, offset: u64) -> Option<Block> {
        self.cache.get(&(id, offset))
    }

    /// Caches a block. A block larger than a cache shard can hold is not kept.
    pub fn insert(&self, id: u64, offset: u64, block: Block) {
        self.cache.insert((id, offset), block);
    }

    /// Drops the cached block of table `id` at `offset`, if any.
    pub fn remove(&self, id: u64, offset: u64) {
        self.cache.remove(&(id, offset));
    }

    /// The configured capacity in bytes.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Bytes of blocks currently cached.
    pub fn used_bytes(&self) -> u64 {
        self.cache.weight()
    }

    /// Number of blocks currently cached.
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.cache.is_empty()
    }

    /// Drops every cached block.
    pub fn clear(&self) {
        self.cache.clear();
    }
}

impl std::fmt::Debug for BlockCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockCache")
            .field("capacity", &self.capacity)
            .field("used_bytes", &self.used_bytes())
            .field("blocks", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::sync::Arc;

    fn block_of(size: usize) -> Block {
        let mut bytes = vec![0u8; size];
        bytes[size - 4..].copy_from_slice(&0u32.to_le_bytes());
        Block::new(Bytes::from(bytes)).unwrap()
    }

    #[test]
    fn stays_within_capacity() {
        let cache = BlockCache::new(64 * 1024);
        let id = cache.new_id();
        for offset in 0..200u64 {
            cache.insert(id, offset * 4096, block_of(4096));
            assert!(cache.used_bytes() <= cache.capacity());
        }
        assert!(cache.len() <= 16);
        assert!(!cache.is_empty());
        cache.clear();
        assert!(cache.is_empty());
    }

    #[test]
    fn ids_are_distinct_and_remove_works() {
        let cache = BlockCache::new(1 << 20);
        let (a, b) = (cache.new_id(), cache.new_id());
        assert_ne!(a, b);
        cache.insert(a, 10, block_of(100));
        assert!(cache.get(a, 10).is_some());
        assert!(cache.get(b, 10).is_none());
        cache.remove(a, 10);
        assert!(cache.get(a, 10).is_none());
    }

    #[test]
    fn concurrent_use() {
        let cache = Arc::new(BlockCache::new(256 * 1024));
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let cache = Arc::clone(&cache);
                std::thread::spawn(move || {
                    let id = cache.new_id();
                    for i in 0..500u64 {
                        cache.insert(id, i, block_of(1024));
                        if let Some(block) = cache.get(id, i) {
                            assert_eq!(block.size(), 1024);
                        }
                        let _ = cache.get(t, i / 2);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert!(cache.used_bytes() <= cache.capacity());
    }
}
