//! The read path of [`Db`]: point lookups (memtables, then the tables a
//! key may be in, level by level), snapshots and iterators, all over the
//! published read view (engine/src/super_version.rs), without the database
//! mutex.

use std::ops::{Bound, RangeBounds};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use arc_swap::Guard;
use bytes::Bytes;
use lsmkit_base::iterator::InternalIterator;
use lsmkit_base::key::{make_internal_key, parse_internal_key, SequenceNumber, ValueKind};
use lsmkit_base::merging_iterator::MergingIterator;
use lsmkit_base::Result;
use lsmkit_compaction::LevelIterator;
use lsmkit_memtable::MemtableGet;
use lsmkit_version::{GetStats, NUM_LEVELS};

use crate::db::Db;
use crate::db_iterator::DbIterator;
use crate::options::ReadOptions;
use crate::range_iter::DbRange;
use crate::snapshot::Snapshot;
use crate::super_version::SuperVersion;

/// What a read sees: the memtables and the Version at one moment, and the
/// sequence number it reads at.
struct ReadView {
    view: Arc<SuperVersion>,
    sequence: SequenceNumber,
}

impl Db {
    /// The read view, loaded without the database mutex. The sequence is
    /// read first: every write at or below it was inserted into a memtable
    /// that the read view published afterwards still holds, or whose table
    /// it holds.
    fn read_view(&self, snapshot: Option<&Snapshot>) -> ReadView {
        let sequence = self.read_sequence(snapshot);
        ReadView { view: self.shared().super_version.load_full(), sequence }
    }

    /// The sequence a read sees: the snapshot's, or the last published one.
    /// Read before the read view is loaded (see [`read_view`](Self::read_view)).
    pub(crate) fn read_sequence(&self, snapshot: Option<&Snapshot>) -> SequenceNumber {
        match snapshot {
            Some(s) => s.sequence(),
            None => self.shared().last_sequence.load(Ordering::Acquire),
        }
    }

    /// The value of `key`, or `None` if it is absent or deleted.
    pub fn get(&self, key: &[u8]) -> Result<Option<Bytes>> {
        self.get_opt(&ReadOptions::new(), key)
    }

    /// The value of `key` as of `options.snapshot` (or now).
    pub fn get_opt(&self, options: &ReadOptions, key: &[u8]) -> Result<Option<Bytes>> {
        let stored = self.get_stored(options, key)?;
        self.shared().value_format.user_value(key, stored)
    }

    /// The value of `key` as stored (in its TTL frame, for a database with
    /// entry expiry) as of `options.snapshot` (or now).
    fn get_stored(&self, options: &ReadOptions, key: &[u8]) -> Result<Option<Bytes>> {
        let shared = self.shared();
        let sequence = self.read_sequence(options.snapshot.as_ref());
        if shared.options.range_deletions {
            return self.get_stored_with_range_deletions(options, sequence, key);
        }
        // A guard, not a reference count: gets from many threads do not
        // contend on one counter.
        let view = shared.super_version.load();
        let mut memtable_merge = false;
        for mem in view.memtables() {
            match mem.get(key, sequence) {
                MemtableGet::Found(value) => return Ok(Some(value)),
                MemtableGet::Deleted => return Ok(None),
                MemtableGet::NotFound => {}
                MemtableGet::Merge => {
                    memtable_merge = true;
                    break;
                }
            }
        }
        if memtable_merge {
            return self.get_merged(options, Guard::into_inner(view), sequence, key);
        }
        let lookup = make_internal_key(key, sequence, lsmkit_base::key::VALUE_KIND_FOR_SEEK);
        let table_read = lsmkit_sstable::ReadOptions {
            verify_checksums: options.verify_checksums || shared.options.paranoid_checks,
            fill_cache: options.fill_cache,
        };
        let mut stats = GetStats::new();
        let mut answer = None;
        let mut found_merge = false;
        for (level, file) in view.version.files_for_get(&lookup) {
            stats.note_file_read(level, &file);
            let found = shared.table_cache.get(&table_read, file.number, file.file_size, &lookup)?;
            if let Some((found_key, value)) = found {
                let parsed =
                    parse_internal_key(&found_key).map_err(|e| e.in_file(shared.table_path(file.number)))?;
                if shared.icmp.compare_user_keys(parsed.user_key, key) == std::cmp::Ordering::Equal {
                    match parsed.kind {
                        ValueKind::Value => answer = Some(value),
                        ValueKind::Deletion => {}
                        ValueKind::Merge => found_merge = true,
                        ValueKind::RangeDeletion => {
                            return Err(crate::range_del::tombstone_kind_in_data_block(
                                shared,
                                file.number,
                                key,
                            ));
                        }
                    }
                    break;
                }
            }
        }
        if view.version.update_stats(&stats) {
            shared.wake_background_for_reader();
        }
        if found_merge {
            return self.get_merged(options, Guard::into_inner(view), sequence, key);
        }
        Ok(answer)
    }

    /// A snapshot of the current state; reads given it see exactly the
    /// writes made before it, and compaction keeps what it sees.
    pub fn snapshot(&self) -> Snapshot {
        // No lock: the sequence only grows, and a compaction that started
        // before this snapshot only holds entries at or below it.
        let shared = self.shared();
        shared.snapshots.acquire(shared.last_sequence.load(Ordering::Acquire))
    }

    /// The merged internal iterator over a read view.
    fn internal_iterator(&self, view: &ReadView, options: &ReadOptions) -> Box<dyn InternalIterator> {
        self.internal_iterator_over(&view.view, options, view.sequence)
    }

    /// The merged internal iterator over the memtables and tables of
    /// `view`, which the caller keeps alive for as long as the iterator.
    /// In a database with range deletions, entries that range tombstones
    /// delete as of `sequence` are left out.
    pub(crate) fn internal_iterator_over(
        &self,
        view: &SuperVersion,
        options: &ReadOptions,
        sequence: SequenceNumber,
    ) -> Box<dyn InternalIterator> {
        let shared = self.shared();
        let table_read = lsmkit_sstable::ReadOptions {
            verify_checksums: options.verify_checksums || shared.options.paranoid_checks,
            fill_cache: options.fill_cache,
        };
        let mut children: Vec<Box<dyn InternalIterator>> = Vec::new();
        for mem in view.memtables() {
            children.push(Box::new(mem.iter()));
        }
        let version = &view.version;
        let mut level0: Vec<_> = version.files(0).to_vec();
        level0.sort_by_key(|f| std::cmp::Reverse(f.number));
        for file in level0 {
            match shared.table_cache.iter(table_read, file.number, file.file_size) {
                Ok(it) => children.push(Box::new(it)),
                Err(e) => children.push(Box::new(lsmkit_base::iterator::EmptyIterator::with_error(e))),
            }
        }
        for level in 1..NUM_LEVELS {
            let files = version.files(level);
            if !files.is_empty() {
                children.push(Box::new(LevelIterator::new(
                    Arc::clone(&shared.table_cache),
                    shared.icmp.clone(),
                    table_read,
                    files.to_vec(),
                )));
            }
        }
        if shared.options.range_deletions {
            match crate::range_del::source_tombstones(shared, view) {
                Ok(own) => {
                    children = crate::range_del::wrap_children(
                        children,
                        own,
                        sequence,
                        shared.icmp.user_comparator(),
                    );
                }
                Err(e) => return Box::new(lsmkit_base::iterator::EmptyIterator::with_error(e)),
            }
        }
        Box::new(MergingIterator::new(Arc::new(shared.icmp.clone()), children))
    }

    /// An iterator over the user view (as of `options.snapshot`, or now),
    /// unpositioned: call `seek_to_first`, `seek_to_last` or `seek` first.
    pub fn iter(&self, options: ReadOptions) -> DbIterator {
        let view = self.read_view(options.snapshot.as_ref());
        let internal = self.internal_iterator(&view, &options);
        let sequence = view.sequence;
        // Read sampling (LevelDB's): a key that several files may hold
        // charges a seek to the first, so a range read over and over gets
        // its overlapping files compacted, as repeated gets would.
        let version = Arc::clone(&view.view.version);
        let shared = Arc::clone(self.shared());
        let sampler = Box::new(move |internal_key: &[u8], _bytes: usize| {
            if version.record_read_sample(internal_key) {
                shared.wake_background_for_reader();
            }
        });
        let pins: Box<dyn std::any::Any + Send> = Box::new((view.view, options.snapshot));
        let iterator = DbIterator::new(internal, self.shared().options.comparator.clone(), sequence, pins)
            .with_read_sampler(sampler)
            .with_merge_operator(self.shared().options.merge_operator.clone());
        self.shared().value_format.user_iterator(iterator)
    }

    /// The entries with keys in `range`, in order; also iterable from the back.
    pub fn range<K: AsRef<[u8]>>(&self, range: impl RangeBounds<K>) -> DbRange {
        let snapshot = self.snapshot();
        let options = ReadOptions { snapshot: Some(snapshot), ..ReadOptions::new() };
        let front = self.iter(options.clone());
        let back = self.iter(options);
        let start = owned_bound(range.start_bound());
        let end = owned_bound(range.end_bound());
        DbRange::new(front, back, (start, end))
    }

    /// The entries whose keys start with `prefix`, in order; also iterable from the back.
    pub fn prefix(&self, prefix: &[u8]) -> DbRange {
        let snapshot = self.snapshot();
        let options = ReadOptions { snapshot: Some(snapshot), ..ReadOptions::new() };
        let front = self.iter(options.clone());
        let back = self.iter(options);
        DbRange::prefix(front, back, prefix)
    }
}

/// A range bound with the key copied out.
fn owned_bound<K: AsRef<[u8]>>(bound: Bound<&K>) -> Bound<Vec<u8>> {
    match bound {
        Bound::Included(k) => Bound::Included(k.as_ref().to_vec()),
        Bound::Excluded(k) => Bound::Excluded(k.as_ref().to_vec()),
        Bound::Unbounded => Bound::Unbounded,
    }
}
