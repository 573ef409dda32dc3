//! Options for building and reading tables (the table-related part of
//! LevelDB's `Options` and `ReadOptions`, docs/format.md §11).

use std::sync::Arc;

use lsmkit_base::comparator::{BytewiseComparator, Comparator};
use lsmkit_base::fs::ReadMode;
use lsmkit_base::key::InternalKeyComparator;
use lsmkit_bloom::FilterPolicy;

use crate::block_cache::BlockCache;
use crate::compression::Compression;
use crate::internal_key_filter_policy::InternalKeyFilterPolicy;

/// How tables are written and read. One value is usually shared by every
/// table of a database.
#[derive(Clone)]
pub struct TableOptions {
    /// Orders the keys of data and index blocks. In a database this is an
    /// [`InternalKeyComparator`]; see [`TableOptions::for_internal_keys`].
    pub comparator: Arc<dyn Comparator>,
    /// Makes a filter per 2 KiB of data-block offsets (docs/format.md §7) and lets
    /// the reader skip blocks. Keys are handed to it exactly as stored; wrap a
    /// user-key policy in [`InternalKeyFilterPolicy`] for internal keys.
    pub filter_policy: Option<Arc<dyn FilterPolicy>>,
    /// Target uncompressed size of a data block (LevelDB's default 4096).
    pub block_size: usize,
    /// Entries between restart points in data blocks (default 16; the index
    /// block always uses 1). 0 is treated as 1.
    pub restart_interval: usize,
    /// Compression of data, metaindex and index blocks (default Snappy).
    pub compression: Compression,
    /// The keys are internal keys (user key + 8-byte trailer): the builder
    /// rejects keys that do not parse, and the properties block records the
    /// deletion count and sequence range.
    pub internal_keys: bool,
    /// Write the `lsmkit.properties` meta block (an lsmkit extension that
    /// LevelDB 1.23 ignores; see docs/format-extensions.md). Default on.
    pub write_properties: bool,
    /// Verify the checksum of every block read, and fail table opens whose
    /// metaindex, filter or properties block is damaged instead of ignoring
    /// them as LevelDB does.
    pub paranoid_checks: bool,
    /// How [`TableCache`](crate::TableCache) and [`Table::open_path`](crate::Table::open_path)
    /// open table files (default `Mmap`). With `Mmap`, blocks are decoded straight out of the
    /// mapping (a Snappy block is decompressed from it, an uncompressed one
    /// copied) and cached like positionally read ones; a read of a page
    /// that fails (a truncated file, a disk error) is an `Error::Io`, not a
    /// crash ([`ReadMode::Mmap`]).
    pub read_mode: ReadMode,
    /// The cache of uncompressed data blocks shared by every table opened
    /// with these options.
    pub block_cache: Option<Arc<BlockCache>>,
    /// The user-key order of a table of internal keys (set by
    /// [`TableOptions::for_internal_keys`]): range tombstones
    /// (`lsmkit.range_del`) are ordered by it. Without it, a table's range
    /// tombstones are read in bytewise order.
    pub user_comparator: Option<Arc<dyn Comparator>>,
}

impl Default for TableOptions {
    fn default() -> TableOptions {
        TableOptions {
            comparator: Arc::new(BytewiseComparator),
            filter_policy: None,
            block_size: 4096,
            restart_interval: 16,
            compression: Compression::Snappy,
            internal_keys: false,
            write_properties: true,
            paranoid_checks: false,
            read_mode: ReadMode::Mmap,
            block_cache: None,
            user_comparator: None,
        }
    }
}

impl TableOptions {
    /// Options for the tables of a database: keys are internal keys ordered by
    /// `user_comparator`, and a user-key `filter_policy` is wrapped so that
    /// filters hold user keys, exactly as LevelDB writes them.
    pub fn for_internal_keys(
        user_comparator: Arc<dyn Comparator>,
        filter_policy: Option<Arc<dyn FilterPolicy>>,
    ) -> TableOptions {
        TableOptions {
            comparator: Arc::new(InternalKeyComparator::new(Arc::clone(&user_comparator))),
            user_comparator: Some(user_comparator),
            filter_policy: filter_policy
                .map(|policy| Arc::new(InternalKeyFilterPolicy::new(policy)) as Arc<dyn FilterPolicy>),
            internal_keys: true,
            ..TableOptions::default()
        }
    }
}

impl std::fmt::Debug for TableOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableOptions")
            .field("comparator", &self.comparator.name())
            .field("filter_policy", &self.filter_policy.as_ref().map(|p| p.name().to_owned()))
            .field("block_size", &self.block_size)
            .field("restart_interval", &self.restart_interval)
            .field("compression", &self.compression)
            .field("internal_keys", &self.internal_keys)
            .field("write_properties", &self.write_properties)
            .field("paranoid_checks", &self.paranoid_checks)
            .field("read_mode", &self.read_mode)
            .field("block_cache", &self.block_cache.as_ref().map(|c| c.capacity()))
            .finish()
    }
}

/// Options for one read (a `get` or an iterator).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOptions {
    /// Verify the checksum of every data block read (always on when the
    /// table was opened with `paranoid_checks`).
    pub verify_checksums: bool,
    /// Put the data blocks read into the block cache (default true; a
    /// compaction or a full scan turns it off so it does not evict hot blocks).
    pub fill_cache: bool,
}

impl Default for ReadOptions {
    fn default() -> ReadOptions {
        ReadOptions { verify_checksums: false, fill_cache: true }
    }
}
