//! The table cache: keeps at most `capacity` tables of a database open
//! (LevelDB's `max_open_files`), keyed by file number, and closes the rest.
//!
//! Tables are opened through the [`FileSystem`] under their `.ldb` name, or
//! the legacy `.sst` name when the `.ldb` file does not exist (docs/format.md
//! §10.4). An evicted table is closed once the last iterator using it is
//! dropped.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use lsmkit_base::filename::{legacy_table_file_name, table_file_name};
use lsmkit_base::fs::FileSystem;
use lsmkit_base::Result;
use quick_cache::sync::Cache;
use quick_cache::{OptionsBuilder, UnitWeighter};

use crate::options::{ReadOptions, TableOptions};
use crate::table::Table;
use crate::table_iterator::TableIterator;

/// A bounded set of open tables of one database directory.
pub struct TableCache {
    fs: Arc<dyn FileSystem>,
    dir: PathBuf,
    options: TableOptions,
    capacity: usize,
    tables: Cache<u64, Arc<Table>>,
}

impl TableCache {
    /// A cache of at most `capacity` (at least 1) open tables of directory
    /// `dir`, opened with `options`.
    pub fn new(
        fs: Arc<dyn FileSystem>,
        dir: impl Into<PathBuf>,
        options: TableOptions,
        capacity: usize,
    ) -> TableCache {
        let capacity = capacity.max(1);
        // Each shard holds a fixed share, so the shares must add up to no
        // more than `capacity`: use a power-of-two shard count that divides
        // it with shares of at least 32 tables, rounding shares down.
        let parallelism = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut shards = (parallelism * 4).next_power_of_two();
        while shards > 1 && capacity / shards < 32 {
            shards /= 2;
        }
        let per_shard = capacity / shards;
        let cache_options = OptionsBuilder::new()
            .estimated_items_capacity(per_shard * shards)
            .weight_capacity((per_shard * shards) as u64)
            .shards(shards)
            .build();
        let tables = match cache_options {
            Ok(cache_options) => {
                Cache::with_options(cache_options, UnitWeighter, Default::default(), Default::default())
            }
            Err(_) => Cache::new(capacity),
        };
        TableCache { fs, dir: dir.into(), options, capacity, tables }
    }

    /// The most tables kept open at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Number of tables currently open in the cache.
    pub fn len(&self) -> usize {
        self.tables.len()
    }

    /// True when no table is open.
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }

    /// The options tables are opened with.
    pub fn options(&self) -> &TableOptions {
        &self.options
    }

    /// The open table `file_number`, opening it (with `file_size` from the
    /// MANIFEST) if it is not cached. Concurrent callers asking for the same
    /// table wait for one open instead of opening it twice.
    pub fn find_table(&self, file_number: u64, file_size: u64) -> Result<Arc<Table>> {
        self.tables.get_or_insert_with(&file_number, || self.open_table(file_number, file_size))
    }

    fn open_table(&self, file_number: u64, file_size: u64) -> Result<Arc<Table>> {
        let path = table_file_name(&self.dir, file_number);
        let file = match self.fs.open_random_access(&path, self.options.read_mode) {
            Ok(file) => (file, path),
            Err(e) if e.is_not_found() => {
                let legacy = legacy_table_file_name(&self.dir, file_number);
                match self.fs.open_random_access(&legacy, self.options.read_mode) {
                    Ok(file) => (file, legacy),
                    // Report the modern name, which is the one expected.
                    Err(_) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        let (file, path) = file;
        Ok(Arc::new(Table::open(self.options.clone(), file, file_size, path)?))
    }

    /// [`Table::get`] on table `file_number`.
    pub fn get(
        &self,
        read_options: &ReadOptions,
        file_number: u64,
        file_size: u64,
        key: &[u8],
    ) -> Result<Option<(Bytes, Bytes)>> {
        self.find_table(file_number, file_size)?.get(read_options, key)
    }

    /// The range tombstones of table `file_number`, read when the table was
    /// opened (`None` when it has none).
    pub fn range_tombstones(
        &self,
        file_number: u64,
        file_size: u64,
    ) -> Result<Option<Arc<lsmkit_base::range_tombstone::FragmentedRangeTombstones>>> {
        Ok(self.find_table(file_number, file_size)?.range_tombstones().cloned())
    }

    /// [`Table::get`] on table `file_number`, with the table's range
    /// tombstones (one cache lookup for both).
    #[allow(clippy::type_complexity)]
    pub fn get_with_range_tombstones(
        &self,
        read_options: &ReadOptions,
        file_number: u64,
        file_size: u64,
        key: &[u8],
    ) -> Result<(Option<(Bytes, Bytes)>, Option<Arc<lsmkit_base::range_tombstone::FragmentedRangeTombstones>>)>
    {
        let table = self.find_table(file_number, file_size)?;
        Ok((table.get(read_options, key)?, table.range_tombstones().cloned()))
    }

    /// An iterator over table `file_number`; it keeps the table open even if
    /// the cache evicts it meanwhile.
    pub fn iter(&self, read_options: ReadOptions, file_number: u64, file_size: u64) -> Result<TableIterator> {
        Ok(self.find_table(file_number, file_size)?.iter(read_options))
    }

    /// Closes table `file_number` (once unused), e.g. after the file was deleted.
    pub fn evict(&self, file_number: u64) {
        self.tables.remove(&file_number);
    }

    /// The directory the tables live in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl std::fmt::Debug for TableCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableCache")
            .field("dir", &self.dir)
            .field("capacity", &self.capacity)
            .field("open", &self.len())
            .finish()
    }
}
