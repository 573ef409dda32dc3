//! `lsmkit`: an embedded LSM-tree key-value store, byte-compatible with
//! LevelDB 1.23 — a database that uses no lsmkit extension opens in
//! LevelDB, and lsmkit opens LevelDB's databases.
//!
//! [`Db`] is the database: `put`, `delete` and atomic `write` of a
//! [`WriteBatch`] (group-committed to a write-ahead log), `get` and
//! iterators over a consistent view (optionally at a [`Snapshot`]), manual
//! `flush` and `compact_range`, and properties. Memtables are flushed and
//! tables compacted in background threads. [`Db::checkpoint`] copies a
//! live database consistently; [`Db::repair`] rebuilds a damaged one's
//! MANIFEST from what is readable, and [`Db::destroy`] deletes one.
//! With [`Options::merge_operator`], [`Db::merge`] records operands that
//! reads combine ([`U64AddOperator`], [`StringAppendOperator`],
//! [`MaxOperator`] or your own [`MergeOperator`]; docs/format-extensions.md).
//! With [`Options::range_deletions`], [`Db::delete_range`] deletes every
//! key of a range in one write.
//!
//! ```
//! use lsmkit::{Db, Options, ReadOptions};
//!
//! let dir = tempfile::tempdir()?;
//! let db = Db::open(dir.path(), Options { create_if_missing: true, ..Options::default() })?;
//! db.put(b"apple", b"red")?;
//! db.put(b"banana", b"yellow")?;
//! db.delete(b"apple")?;
//! assert_eq!(db.get(b"banana")?.as_deref(), Some(&b"yellow"[..]));
//! assert_eq!(db.get(b"apple")?, None);
//! let keys: Vec<_> = db.range(&b"a"[..]..&b"z"[..]).map(|e| e.map(|(k, _)| k)).collect::<Result<_, _>>()?;
//! assert_eq!(keys, [&b"banana"[..]]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]

mod background;
mod checkpoint;
mod db;
mod db_iterator;
#[cfg(test)]
mod db_iterator_tests;
mod destroy;
mod fd_limit;
mod merge;
mod open;
mod options;
mod properties;
mod range_del;
mod range_iter;
mod read;
mod recovery;
mod repair;
mod snapshot;
mod state;
mod super_version;
mod thread_priority;
mod ttl;
mod value_format;
mod wal_retention;
mod write;
mod write_queue;

pub use db::Db;
pub use db_iterator::DbIterator;
pub use lsmkit_base::merge_operator::{MaxOperator, MergeOperator, StringAppendOperator, U64AddOperator};
pub use lsmkit_base::{Error, Result};
pub use lsmkit_compaction::{CompactionPriority, CompactionStyle, TieredOptions};
pub use lsmkit_sstable::Compression;
pub use lsmkit_wal::wal_iterator::WAL_ARCHIVE_DIR_NAME;
pub use lsmkit_wal::{
    RecoveryMode, SyncPolicy, WalBatch, WalIoMode, WalIterator, WalIteratorOptions, WalOp, WriteBatch,
};
pub use merge::MERGE_COMPARATOR_PREFIX;
pub use options::{FlushOptions, Options, ReadOptions, WriteOptions};
pub use range_del::RANGE_DEL_COMPARATOR_PREFIX;
pub use range_iter::DbRange;
pub use repair::{RepairReport, LOST_DIR_NAME};
pub use snapshot::Snapshot;
pub use ttl::{Clock, TTL_COMPARATOR_PREFIX};

/// The README's usage example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
