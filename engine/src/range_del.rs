//! Range deletions in the engine ([`Options::range_deletions`]):
//! [`Db::delete_range`], the mark that keeps other readers away from a
//! database that may hold range tombstones, the get path that weighs point
//! entries against the tombstones covering their key, and the tombstones
//! every iterator source is wrapped with (docs/format-extensions.md, "Range
//! deletions").
//!
//! Reads walk the sources newest first — the memtables, the level-0 tables
//! by descending number, then one level after the other — and rely on the
//! LSM order: for any user key, every entry of a source is newer than every
//! entry of a later source. A tombstone at sequence `t` therefore covers
//! every entry of the later sources in its range, and the entries of its
//! own source whose sequence is below `t`.

use std::sync::Arc;

use arc_swap::Guard;
use bytes::Bytes;
use lsmkit_base::comparator::Comparator;
use lsmkit_base::iterator::InternalIterator;
use lsmkit_base::key::{
    make_internal_key, parse_internal_key, SequenceNumber, ValueKind, VALUE_KIND_FOR_SEEK,
};
use lsmkit_base::range_tombstone::{FragmentedRangeTombstones, RangeDelIterator, RangeTombstone};
use lsmkit_base::{Error, Result};
use lsmkit_memtable::MemtableGet;
use lsmkit_version::{GetStats, NUM_LEVELS};

use crate::db::Db;
use crate::options::{Options, ReadOptions, WriteOptions};
use crate::state::DbShared;
use crate::super_version::SuperVersion;

/// What the MANIFEST's comparator name of a database with range deletions
/// starts with; the rest is the name it would have without them (the user
/// comparator's, possibly marked for a merge operator or entry expiry).
pub const RANGE_DEL_COMPARATOR_PREFIX: &str = lsmkit_sstable::range_del_block::RANGE_DEL_COMPARATOR_PREFIX;

/// Checks one range deletion of a batch: the database must allow them, and
/// `begin` must not sort after `end` (`begin == end` is an empty range,
/// accepted and without effect, as in RocksDB).
pub(crate) fn check_range_deletion(options: &Options, begin: &[u8], end: &[u8]) -> Result<()> {
    if !options.range_deletions {
        return Err(Error::InvalidArgument(
            "the batch holds a range deletion, but the database was opened without Options::range_deletions"
                .into(),
        ));
    }
    if options.comparator.compare(begin, end) == std::cmp::Ordering::Greater {
        return Err(Error::InvalidArgument(format!(
            "range deletion begin '{}' sorts after its end '{}'",
            begin.escape_ascii(),
            end.escape_ascii()
        )));
    }
    Ok(())
}

impl Db {
    /// Deletes every key in [`begin`, `end`) — however many there are — in
    /// one write of one sequence number: a range tombstone. Keys written
    /// later are not affected; snapshots taken before still see the keys.
    /// Needs [`Options::range_deletions`] (else `Error::InvalidArgument`,
    /// as is a `begin` that sorts after `end`; `begin == end` deletes
    /// nothing).
    ///
    /// ```
    /// use lsmkit::{Db, Options};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let options = Options { create_if_missing: true, range_deletions: true, ..Options::default() };
    /// let db = Db::open(dir.path(), options)?;
    /// for i in 0..100u32 {
    ///     db.put(format!("user:{i:03}").as_bytes(), b"x")?;
    /// }
    /// db.delete_range(b"user:010", b"user:090")?;
    /// assert_eq!(db.get(b"user:050")?, None);
    /// assert!(db.get(b"user:090")?.is_some());
    /// assert_eq!(db.prefix(b"user:").count(), 20);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn delete_range(&self, begin: &[u8], end: &[u8]) -> Result<()> {
        self.delete_range_opt(WriteOptions::default(), begin, end)
    }

    /// [`delete_range`](Self::delete_range) with write options.
    pub fn delete_range_opt(&self, options: WriteOptions, begin: &[u8], end: &[u8]) -> Result<()> {
        let mut batch = lsmkit_wal::WriteBatch::new();
        batch.delete_range(begin, end);
        self.write(options, batch)
    }

    /// The stored value of `key` as of `sequence` in a database with range
    /// deletions: [`Db::get`]'s walk through the sources, keeping the newest
    /// visible tombstone sequence covering `key` seen so far; an entry
    /// below it is deleted, and once one covers the key, a source without
    /// a newer entry ends the walk (later sources hold only older ones).
    pub(crate) fn get_stored_with_range_deletions(
        &self,
        options: &ReadOptions,
        sequence: SequenceNumber,
        key: &[u8],
    ) -> Result<Option<Bytes>> {
        let shared = self.shared();
        let view = shared.super_version.load();
        let mut covered: SequenceNumber = 0;
        let mut memtable_merge = false;
        for mem in view.memtables() {
            if let Some(tombstones) = mem.range_tombstones() {
                covered = covered.max(tombstones.max_covering_seq(key, sequence));
            }
            let (found, found_sequence) = mem.get_with_sequence(key, sequence);
            match found {
                MemtableGet::NotFound if covered == 0 => continue,
                MemtableGet::NotFound => return Ok(None),
                _ if found_sequence < covered => return Ok(None),
                MemtableGet::Found(value) => return Ok(Some(value)),
                MemtableGet::Deleted => return Ok(None),
                MemtableGet::Merge => {
                    memtable_merge = true;
                    break;
                }
            }
        }
        if memtable_merge {
            return self.get_merged(options, Guard::into_inner(view), sequence, key);
        }
        let lookup = make_internal_key(key, sequence, VALUE_KIND_FOR_SEEK);
        let table_read = lsmkit_sstable::ReadOptions {
            verify_checksums: options.verify_checksums || shared.options.paranoid_checks,
            fill_cache: options.fill_cache,
        };
        let mut stats = GetStats::new();
        let mut answer = None;
        let mut found_merge = false;
        for (level, file) in view.version.files_for_get(&lookup) {
            stats.note_file_read(level, &file);
            let (found, tombstones) = shared.table_cache.get_with_range_tombstones(
                &table_read,
                file.number,
                file.file_size,
                &lookup,
            )?;
            if let Some(tombstones) = tombstones {
                covered = covered.max(tombstones.max_covering_seq(key, sequence));
            }
            let mut hit = None;
            if let Some((found_key, value)) = found {
                let parsed =
                    parse_internal_key(&found_key).map_err(|e| e.in_file(shared.table_path(file.number)))?;
                if shared.icmp.compare_user_keys(parsed.user_key, key) == std::cmp::Ordering::Equal {
                    hit = Some((parsed.sequence, parsed.kind, value));
                }
            }
            match hit {
                None if covered == 0 => continue,
                None => break,
                Some((found_sequence, _, _)) if found_sequence < covered => break,
                Some((_, ValueKind::Value, value)) => answer = Some(value),
                Some((_, ValueKind::Deletion, _)) => {}
                Some((_, ValueKind::Merge, _)) => found_merge = true,
                Some((_, ValueKind::RangeDeletion, _)) => {
                    return Err(tombstone_kind_in_data_block(shared, file.number, key));
                }
            }
            break;
        }
        if view.version.update_stats(&stats) {
            shared.wake_background_for_reader();
        }
        if found_merge {
            return self.get_merged(options, Guard::into_inner(view), sequence, key);
        }
        Ok(answer)
    }
}

/// The range tombstones of every table read so far, by file number: a read
/// view's first iterator asks for those of all its tables, and each table
/// is looked at once in the database's life (not once per read view, which
/// with a table cache smaller than the database would reopen tables).
#[derive(Default)]
pub(crate) struct TableTombstoneRegistry {
    tables: std::sync::Mutex<std::collections::HashMap<u64, Option<Arc<FragmentedRangeTombstones>>>>,
}

impl TableTombstoneRegistry {
    /// The tombstones of table `number`, read through the table cache the
    /// first time.
    fn get(
        &self,
        shared: &DbShared,
        number: u64,
        file_size: u64,
    ) -> Result<Option<Arc<FragmentedRangeTombstones>>> {
        if let Some(found) = self.tables.lock().unwrap_or_else(|e| e.into_inner()).get(&number) {
            return Ok(found.clone());
        }
        let read = shared.table_cache.range_tombstones(number, file_size)?;
        self.tables.lock().unwrap_or_else(|e| e.into_inner()).insert(number, read.clone());
        Ok(read)
    }

    /// Forgets tables that are not in `live` once the registry holds many
    /// more than them (deleted tables' numbers are never reused).
    fn prune(&self, live: &std::collections::HashSet<u64>) {
        let mut tables = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        if tables.len() > 2 * live.len() + 64 {
            tables.retain(|number, _| live.contains(number));
        }
    }
}

/// The corruption a get reports when table `number` holds an entry of the
/// range-tombstone kind among its point entries (tombstones belong in the
/// table's range-deletion block).
#[cold]
pub(crate) fn tombstone_kind_in_data_block(shared: &DbShared, number: u64, key: &[u8]) -> Error {
    Error::corruption(format!("range tombstone kind in a data block for key '{}'", key.escape_ascii()))
        .in_file(shared.table_path(number))
}

/// The range tombstones of a read view's tables, per iterator source.
pub(crate) struct TableTombstones {
    /// One per level-0 table, by descending file number (the iterator's order).
    level0: Vec<Option<Arc<FragmentedRangeTombstones>>>,
    /// One per level (index 0 unused): the tombstones of all its tables.
    levels: Vec<Option<Arc<FragmentedRangeTombstones>>>,
}

impl TableTombstones {
    /// Gathers them from the registry (which opens each table once).
    fn gather(shared: &DbShared, view: &SuperVersion) -> Result<TableTombstones> {
        let version = &view.version;
        let mut level0_files = version.files(0).to_vec();
        level0_files.sort_by_key(|f| std::cmp::Reverse(f.number));
        let registry = &shared.table_tombstones;
        let mut live = std::collections::HashSet::new();
        let mut level0 = Vec::with_capacity(level0_files.len());
        for file in &level0_files {
            live.insert(file.number);
            level0.push(registry.get(shared, file.number, file.file_size)?);
        }
        let mut levels = vec![None];
        for level in 1..NUM_LEVELS {
            let mut all: Vec<RangeTombstone> = Vec::new();
            for file in version.files(level) {
                live.insert(file.number);
                if let Some(t) = registry.get(shared, file.number, file.file_size)? {
                    all.extend(t.tombstones());
                }
            }
            levels.push((!all.is_empty()).then(|| {
                Arc::new(FragmentedRangeTombstones::new(all, Arc::clone(shared.icmp.user_comparator())))
            }));
        }
        registry.prune(&live);
        Ok(TableTombstones { level0, levels })
    }
}

/// The tombstones of `view`'s tables, gathered once per read view.
pub(crate) fn table_tombstones(shared: &DbShared, view: &SuperVersion) -> Result<Arc<TableTombstones>> {
    if let Some(found) = view.table_tombstones.get() {
        return Ok(Arc::clone(found));
    }
    let gathered = Arc::new(TableTombstones::gather(shared, view)?);
    let _ = view.table_tombstones.set(Arc::clone(&gathered));
    Ok(gathered)
}

/// The own tombstones of each iterator source of `view`, in the order
/// `internal_iterator_over` builds the children: memtables newest first,
/// level-0 tables by descending number, then levels 1.. that have files.
pub(crate) fn source_tombstones(
    shared: &DbShared,
    view: &SuperVersion,
) -> Result<Vec<Option<Arc<FragmentedRangeTombstones>>>> {
    let mut out: Vec<_> = view.memtables().map(|m| m.range_tombstones()).collect();
    let tables = table_tombstones(shared, view)?;
    out.extend(tables.level0.iter().cloned());
    for level in 1..NUM_LEVELS {
        if !view.version.files(level).is_empty() {
            out.push(tables.levels[level].clone());
        }
    }
    Ok(out)
}

/// Wraps each child (newest source first) so that entries deleted by a
/// range tombstone as of `sequence` are hidden: a child's own tombstones
/// and those of every newer source apply to it. Children of a view without
/// tombstones come back as they were.
pub(crate) fn wrap_children(
    children: Vec<Box<dyn InternalIterator>>,
    own: Vec<Option<Arc<FragmentedRangeTombstones>>>,
    sequence: SequenceNumber,
    user_comparator: &Arc<dyn Comparator>,
) -> Vec<Box<dyn InternalIterator>> {
    debug_assert_eq!(children.len(), own.len());
    if own.iter().all(Option::is_none) {
        return children;
    }
    let mut newer_tombstones: Vec<RangeTombstone> = Vec::new();
    let mut newer: Option<Arc<FragmentedRangeTombstones>> = None;
    let mut out: Vec<Box<dyn InternalIterator>> = Vec::with_capacity(children.len());
    for (child, own) in children.into_iter().zip(own) {
        if newer.is_none() && own.is_none() {
            out.push(child);
        } else {
            out.push(Box::new(RangeDelIterator::new(child, newer.clone(), own.clone(), sequence)));
        }
        if let Some(own) = own {
            let before = newer_tombstones.len();
            newer_tombstones.extend(own.tombstones().filter(|t| t.sequence <= sequence));
            if newer_tombstones.len() > before {
                newer = Some(Arc::new(FragmentedRangeTombstones::new(
                    newer_tombstones.iter().cloned(),
                    Arc::clone(user_comparator),
                )));
            }
        }
    }
    out
}
