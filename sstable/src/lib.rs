//! `lsmkit-sstable`: sorted string tables in LevelDB 1.23's format
//! (docs/format.md §6 and §7), with the caches a database needs around them.
//!
//! - [`BlockBuilder`], [`Block`] and [`BlockIter`]: prefix-compressed blocks
//!   with restart points, iterated both ways and sought by binary search;
//! - [`TableBuilder`]: writes data blocks, the filter block, the metaindex,
//!   the index and the footer, byte-identical to LevelDB when compression
//!   and the properties extension are off;
//! - [`Table`] and [`TableIterator`]: open a table from any
//!   [`FileSystem`](lsmkit_base::fs::FileSystem) file (positional reads or
//!   blocks decoded straight out of a `SIGBUS`-guarded mapping), point lookups that consult the filter, and a two-level
//!   iterator;
//! - [`BlockCache`] (shared data-block cache, bounded in bytes) and
//!   [`TableCache`] (at most N open tables);
//! - [`InternalKeyFilterPolicy`]: feeds user keys to a filter policy when
//!   the table's keys are internal keys, as LevelDB does;
//! - [`TableProperties`]: lsmkit's `lsmkit.properties` meta block, which
//!   LevelDB ignores (docs/format-extensions.md).
//!
//! Bytes read from a table are untrusted: malformed input gives
//! `Error::Corruption` naming the file and the block offset, never a panic.
//!
//! ```
//! use std::path::Path;
//! use std::sync::Arc;
//! use lsmkit_base::fs::{FileSystem, MemFs, WriteMode};
//! use lsmkit_base::iterator::InternalIterator;
//! use lsmkit_bloom::LevelDbBloom;
//! use lsmkit_sstable::{ReadOptions, Table, TableBuilder, TableOptions};
//!
//! let fs = MemFs::new();
//! fs.create_dir_all(Path::new("/db"))?;
//! let path = Path::new("/db/000005.ldb");
//! let options = TableOptions { filter_policy: Some(Arc::new(LevelDbBloom::new(10))), ..TableOptions::default() };
//!
//! let mut builder = TableBuilder::new(options.clone(), fs.create_writable(path, WriteMode::Buffered)?);
//! for i in 0..1000u32 {
//!     builder.add(format!("key{i:04}").as_bytes(), format!("value{i}").as_bytes())?;
//! }
//! let summary = builder.finish(true)?;
//! assert_eq!(summary.entries, 1000);
//! assert_eq!(summary.largest_key, b"key0999");
//!
//! let table = Arc::new(Table::open_path(&fs, path, options)?);
//! let (key, value) = table.get(&ReadOptions::default(), b"key0500")?.expect("present");
//! assert_eq!((&key[..], &value[..]), (&b"key0500"[..], &b"value500"[..]));
//!
//! let mut it = table.iter(ReadOptions::default());
//! it.seek_to_last();
//! assert_eq!(it.key(), b"key0999");
//! it.prev();
//! assert_eq!(it.value(), b"value998");
//! # Ok::<(), lsmkit_base::Error>(())
//! ```

#![forbid(unsafe_code)]

mod block;
mod block_builder;
mod block_cache;
mod block_handle;
mod block_read;
mod compression;
mod data_block_scan;
mod filter_block;
mod internal_key_filter_policy;
mod options;
mod properties;
pub mod range_del_block;
mod readahead;
mod table;
mod table_builder;
mod table_cache;
mod table_iterator;

pub use block::{Block, BlockIter};
pub use block_builder::BlockBuilder;
pub use block_cache::BlockCache;
pub use block_handle::{BlockHandle, Footer, BLOCK_TRAILER_LEN, FOOTER_LEN, TABLE_MAGIC_NUMBER};
pub use compression::{Compression, NO_COMPRESSION, SNAPPY_COMPRESSION};
pub use data_block_scan::ScannedBlock;
pub use filter_block::{FilterBlockBuilder, FilterBlockReader, FILTER_BASE_LG};
pub use internal_key_filter_policy::InternalKeyFilterPolicy;
pub use options::{ReadOptions, TableOptions};
pub use properties::{TableProperties, PROPERTIES_BLOCK_NAME};
pub use table::Table;
pub use table_builder::{TableBuilder, TableSummary};
pub use table_cache::TableCache;
pub use table_iterator::TableIterator;
