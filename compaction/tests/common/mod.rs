//! A miniature database for the compaction tests: real tables in a MemFs,
//! a Version built from edits, and the read path's view of the data.

#![allow(dead_code)]

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lsmkit_base::comparator::BytewiseComparator;
use lsmkit_base::filename::table_file_name;
use lsmkit_base::fs::{FileSystem, MemFs, WriteMode};
use lsmkit_base::iterator::InternalIterator;
use lsmkit_base::key::{parse_internal_key, InternalKeyComparator, LookupKey, SequenceNumber, ValueKind};
use lsmkit_compaction::{Compaction, CompactionFilter, CompactionJob, CompactionOutcome, FilterDecision};
use lsmkit_sstable::{ReadOptions, Table, TableBuilder, TableCache, TableOptions};
use lsmkit_version::version_builder::VersionBuilder;
use lsmkit_version::{CompactPointers, FileMetaData, Version, VersionEdit, NUM_LEVELS};

/// One stored entry: internal key and value.
pub type Entry = (Vec<u8>, Vec<u8>);

/// The shape of [`test_filter`].
pub type FilterFn = fn(usize, &[u8], &[u8]) -> FilterDecision;

/// The compaction filter the model tests use: removes values starting with
/// 'x', rewrites 'y…' to 'z…' (idempotent).
pub fn test_filter(_level: usize, _key: &[u8], value: &[u8]) -> FilterDecision {
    match value.first() {
        Some(b'x') => FilterDecision::Remove,
        Some(b'y') => {
            let mut changed = value.to_vec();
            changed[0] = b'z';
            FilterDecision::ChangeValue(changed)
        }
        _ => FilterDecision::Keep,
    }
}

pub fn icmp() -> InternalKeyComparator {
    InternalKeyComparator::new(BytewiseComparator::shared())
}

pub struct TestDb {
    pub fs: Arc<dyn FileSystem>,
    pub dir: PathBuf,
    pub options: TableOptions,
    pub cache: Arc<TableCache>,
    pub version: Arc<Version>,
    pub pointers: CompactPointers,
    pub next_file_number: u64,
}

impl TestDb {
    /// An empty database in `/db` of a fresh MemFs, with small data blocks.
    pub fn new() -> TestDb {
        TestDb::with_fs(Arc::new(MemFs::new()))
    }

    pub fn with_fs(fs: Arc<dyn FileSystem>) -> TestDb {
        let dir = PathBuf::from("/db");
        fs.create_dir_all(&dir).unwrap();
        let mut options = TableOptions::for_internal_keys(BytewiseComparator::shared(), None);
        options.block_size = 256;
        let cache = Arc::new(TableCache::new(Arc::clone(&fs), dir.clone(), options.clone(), 1000));
        TestDb {
            fs,
            dir,
            options,
            cache,
            version: Arc::new(Version::empty(icmp())),
            pointers: CompactPointers::default(),
            next_file_number: 1,
        }
    }

    pub fn new_file_number(&mut self) -> u64 {
        self.next_file_number += 1;
        self.next_file_number - 1
    }

    /// Writes a table of `entries` (sorted internal keys) and returns its metadata.
    pub fn write_table(&mut self, entries: &[Entry]) -> FileMetaData {
        let number = self.new_file_number();
        let file = self.fs.create_writable(&table_file_name(&self.dir, number), WriteMode::Buffered).unwrap();
        let mut builder = TableBuilder::new(self.options.clone(), file);
        for (k, v) in entries {
            builder.add(k, v).unwrap();
        }
        let summary = builder.finish(true).unwrap();
        FileMetaData::new(number, summary.file_size, summary.smallest_key, summary.largest_key)
    }

    /// Installs `edit` (panics if the result is not a valid Version).
    pub fn apply(&mut self, edit: &VersionEdit) {
        let mut builder = VersionBuilder::new(icmp(), Arc::clone(&self.version));
        builder.apply(edit);
        self.version = Arc::new(builder.build().unwrap_or_else(|e| panic!("invalid version: {e}\n{edit:?}")));
        self.pointers.apply(edit);
    }

    /// Runs `compaction` with the given snapshots and filter.
    pub fn run(
        &mut self,
        compaction: &mut Compaction,
        snapshots: &[SequenceNumber],
        filter: Option<&dyn CompactionFilter>,
    ) -> lsmkit_base::Result<CompactionOutcome> {
        let fs = Arc::clone(&self.fs);
        let dir = self.dir.clone();
        let cache = Arc::clone(&self.cache);
        let mut next = self.next_file_number;
        let job = CompactionJob::new(fs.as_ref(), &dir, &cache)
            .snapshots(snapshots)
            .filter(filter)
            .verify_checksums(true);
        let result = job.run(compaction, &mut || {
            next += 1;
            next - 1
        });
        self.next_file_number = next;
        result
    }

    /// Every entry of table `file`, read with checksums verified.
    pub fn table_entries(&self, file: &FileMetaData) -> Vec<Entry> {
        read_table(self.fs.as_ref(), &self.dir, file, &self.options)
    }

    /// Entries of every file of the current Version, by file number.
    pub fn all_entries(&self) -> HashMap<u64, Vec<Entry>> {
        let mut out = HashMap::new();
        for level in 0..NUM_LEVELS {
            for f in self.version.files(level) {
                out.insert(f.number, self.table_entries(f));
            }
        }
        out
    }

    /// What a read at `snapshot` returns for each of `user_keys`, found the
    /// way the read path finds it: files in `Version::files_for_get` order,
    /// the first file holding a version ≤ `snapshot` answers.
    pub fn read_view(&self, user_keys: &[Vec<u8>], snapshot: SequenceNumber) -> BTreeMap<Vec<u8>, Vec<u8>> {
        let entries = self.all_entries();
        read_view_of(&self.version, &entries, user_keys, snapshot)
    }
}

/// [`TestDb::read_view`] over already-read entries.
pub fn read_view_of(
    version: &Version,
    entries: &HashMap<u64, Vec<Entry>>,
    user_keys: &[Vec<u8>],
    snapshot: SequenceNumber,
) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut view = BTreeMap::new();
    for user_key in user_keys {
        let lookup = LookupKey::new(user_key, snapshot);
        for (_, file) in version.files_for_get(lookup.internal_key()) {
            let found = entries[&file.number].iter().find(|(k, _)| {
                let parsed = parse_internal_key(k).unwrap();
                parsed.user_key == user_key.as_slice() && parsed.sequence <= snapshot
            });
            if let Some((k, v)) = found {
                if parse_internal_key(k).unwrap().kind == ValueKind::Value {
                    view.insert(user_key.clone(), v.clone());
                }
                break;
            }
        }
    }
    view
}

/// Every entry of a table file, read with checksums verified; also checks
/// the keys are strictly increasing and match the metadata's range.
pub fn read_table(
    fs: &dyn FileSystem,
    dir: &Path,
    file: &FileMetaData,
    options: &TableOptions,
) -> Vec<Entry> {
    let path = table_file_name(dir, file.number);
    assert_eq!(fs.file_size(&path).unwrap(), file.file_size, "size of table {}", file.number);
    let table = Arc::new(Table::open_path(fs, &path, options.clone()).unwrap());
    let mut it = table.iter(ReadOptions { verify_checksums: true, fill_cache: false });
    it.seek_to_first();
    let mut entries: Vec<Entry> = Vec::new();
    while it.valid() {
        entries.push((it.key().to_vec(), it.value().to_vec()));
        it.next();
    }
    it.status().unwrap();
    let icmp = icmp();
    assert!(entries.windows(2).all(|w| icmp.compare_internal_keys(&w[0].0, &w[1].0) == Ordering::Less));
    assert_eq!(entries.first().map(|e| &e.0), Some(&file.smallest), "smallest key of table {}", file.number);
    assert_eq!(entries.last().map(|e| &e.0), Some(&file.largest), "largest key of table {}", file.number);
    entries
}

/// Checks that no two files of a level ≥ 1 overlap (by internal key).
pub fn assert_levels_disjoint(version: &Version) {
    let icmp = icmp();
    for level in 1..NUM_LEVELS {
        for pair in version.files(level).windows(2) {
            assert_eq!(
                icmp.compare_internal_keys(&pair[0].largest, &pair[1].smallest),
                Ordering::Less,
                "files {} and {} overlap at level {level}",
                pair[0].number,
                pair[1].number
            );
        }
    }
}
