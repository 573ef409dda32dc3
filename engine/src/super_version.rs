//! The read view of an open database, published as one immutable value
//! (RocksDB calls it a SuperVersion): the memtable taking writes, the full
//! memtables waiting to be flushed and the current Version. Readers load it
//! without the database mutex; every change to one of its parts (a memtable
//! switch, an installed flush or compaction) publishes a new one under the
//! mutex, so a reader never sees a flushed memtable gone without its table.

use std::sync::{Arc, OnceLock};

use lsmkit_memtable::Memtable;
use lsmkit_version::Version;

/// One consistent read view: every write with a sequence number at or below
/// the published last sequence is in exactly one of these parts (or in
/// several, newest first, which reads resolve by sequence).
pub(crate) struct SuperVersion {
    /// The memtable receiving writes.
    pub(crate) mem: Memtable,
    /// Full memtables waiting to be flushed, newest first.
    pub(crate) imms: Vec<Memtable>,
    /// The current Version.
    pub(crate) version: Arc<Version>,
    /// The range tombstones of the Version's tables, gathered by the first
    /// iterator that needs them (databases with range deletions only).
    pub(crate) table_tombstones: OnceLock<Arc<crate::range_del::TableTombstones>>,
}

impl SuperVersion {
    /// A read view of these parts.
    pub(crate) fn new(mem: Memtable, imms: Vec<Memtable>, version: Arc<Version>) -> SuperVersion {
        SuperVersion { mem, imms, version, table_tombstones: OnceLock::new() }
    }

    /// The memtables, newest first: where a read looks before the tables.
    pub(crate) fn memtables(&self) -> impl Iterator<Item = &Memtable> {
        std::iter::once(&self.mem).chain(self.imms.iter())
    }
}
