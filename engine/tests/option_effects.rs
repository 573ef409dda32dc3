//! Every field of `Options`, `ReadOptions`, `WriteOptions` and
//! `FlushOptions` shown doing what its doc says — by the files it makes
//! (tables, blocks, filters, MANIFESTs, WALs), by the reads it causes (a
//! file system that counts them), by what survives damage or a power cut,
//! and by the writes it holds back (the stall counters of `lsmkit.stats`,
//! with background work held at a gate). Where each field is shown (tests
//! of this file unless a file is named):
//!
//! | field                       | test |
//! |-----------------------------|------|
//! | `create_if_missing`         | `create_if_missing_and_error_if_exists_decide_what_open_accepts` |
//! | `error_if_exists`           | the same |
//! | `paranoid_checks`           | `verify_checksums_and_paranoid_checks_catch_a_damaged_table_block`, `wal_recovery_mode_decides_what_a_damaged_wal_gives`; `corruption_sweep.rs` |
//! | `comparator`                | `the_comparator_orders_keys_and_must_match_at_open` |
//! | `fs`                        | `files_live_in_the_given_file_system` |
//! | `write_buffer_size`         | `background_options.rs`: `write_buffer_size_counts_entries_as_leveldb_does` |
//! | `max_immutable_memtables`   | `max_immutable_memtables_is_how_many_memtables_wait_for_a_flush` |
//! | `max_file_size`             | `max_file_size_cuts_compaction_outputs` |
//! | `block_size`                | `table_options_shape_the_tables_written` |
//! | `block_restart_interval`    | the same |
//! | `compression`               | the same |
//! | `filter_policy`             | the same, `filter_policy_spares_reads_of_absent_keys` |
//! | `max_open_files`            | `max_open_files_bounds_the_tables_kept_open`; `resource_limits.rs` |
//! | `block_cache_capacity`      | `fill_cache_and_block_cache_capacity_decide_what_is_read_again` |
//! | `table_read_mode`           | `table_read_mode_is_how_tables_are_opened` |
//! | `l0_compaction_trigger`     | `background_options.rs`: `a_high_level0_trigger_lets_level0_fill_up`, `a_low_level0_trigger_compacts_level0_early` |
//! | `l0_slowdown_trigger`       | `level0_slowdown_and_stop_triggers_hold_writes_back` |
//! | `l0_stop_trigger`           | the same |
//! | `max_background_jobs`       | `background_threads.rs`: `max_background_jobs_sets_the_number_of_compaction_threads`; `background_options.rs`: `compactions_on_disjoint_ranges_run_at_once` |
//! | `compaction_thread_nice`    | `background_threads.rs`: `compaction_threads_run_at_a_lower_priority` |
//! | `max_subcompactions`        | `background_options.rs`: `max_subcompactions_splits_one_large_compaction_across_threads` |
//! | `compaction_style`          | `compaction_style_chooses_the_picker` |
//! | `compaction_priority`       | `compaction_priority_chooses_which_level1_file_moves_down` |
//! | `aligned_output_cuts`       | `aligned_output_cuts_end_outputs_where_level2_tables_end` |
//! | `wal_sync_policy`           | `sync_and_wal_sync_policy_decide_what_survives_a_power_cut`; `crash.rs` |
//! | `wal_io_mode`               | `wal_io_mode_is_how_the_wal_file_grows`, `the_default_wal_is_mapped_in_4_mib_chunks_and_cut_at_close` |
//! | `wal_recovery_mode`         | `wal_recovery_mode_decides_what_a_damaged_wal_gives` |
//! | `max_manifest_file_size`    | `max_manifest_file_size_rewrites_a_large_manifest` |
//! | `wal_ttl`                   | `updates_since.rs` (logs archived, read by followers; `without_retention_obsolete_logs_are_deleted_and_a_gap`); expiry: `wal_retention.rs` unit test `ttl_deletes_logs_archived_longer_ago` |
//! | `wal_size_limit`            | `updates_since.rs`: `size_limit_keeps_the_newest_archived_logs` |
//! | `enable_ttl`                | `ttl.rs`: `writes_with_a_ttl_need_enable_ttl`, `lsmkit_without_ttl_refuses_a_ttl_database`, `ttl_cannot_be_enabled_on_a_database_created_without_it` |
//! | `clock`                     | `ttl.rs`: `expired_entries_vanish_at_once_from_gets_iterators_and_ranges` |
//! | `ReadOptions::snapshot`     | `model.rs`: `engine_matches_model` (reads at live snapshots); `ttl.rs`: `compaction_keeps_entries_a_snapshot_sees_until_it_is_released` |
//! | `ReadOptions::verify_checksums` | `verify_checksums_and_paranoid_checks_catch_a_damaged_table_block` |
//! | `ReadOptions::fill_cache`   | `fill_cache_and_block_cache_capacity_decide_what_is_read_again`, `read_options_default_is_new` |
//! | `WriteOptions::sync`        | `sync_and_wal_sync_policy_decide_what_survives_a_power_cut`; `crash.rs` |
//! | `WriteOptions::disable_wal` | `crash.rs`: `unlogged_writes_survive_a_crash_after_a_completed_flush`; `updates_since.rs`: `disable_wal_writes_are_a_gap` |
//! | `FlushOptions::wait`        | `flush_wait_decides_whether_flush_returns_before_the_table_is_installed` |

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

mod common;

use std::cmp::Ordering;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{FsHooks, GatedFs, HookedFs, TestRng};
use lsmkit::{
    CompactionPriority, CompactionStyle, Compression, Db, Error, FlushOptions, Options, ReadOptions,
    RecoveryMode, SyncPolicy, TieredOptions, WalIoMode, WriteOptions,
};
use lsmkit_base::comparator::{BytewiseComparator, Comparator};
use lsmkit_base::fs::{
    read_file_to_vec, write_file, FaultFs, FaultRule, FileSystem, MemFs, RandomAccessFile, ReadMode, StdFs,
};
use lsmkit_base::iterator::InternalIterator;
use lsmkit_bloom::LevelDbBloom;
use lsmkit_sstable::{BlockHandle, Table, TableOptions, BLOCK_TRAILER_LEN, SNAPPY_COMPRESSION};

const DIR: &str = "/db";

/// A bound on waiting for background work that must happen, so that a
/// broken engine fails the test instead of hanging it; not a measurement.
const PATIENCE: Duration = Duration::from_secs(60);

/// Options for a test database on `fs`: tables uncompressed (so their bytes
/// can be found and changed), writes never slowed down.
fn options(fs: Arc<dyn FileSystem>) -> Options {
    Options {
        create_if_missing: true,
        fs,
        compression: Compression::None,
        l0_slowdown_trigger: 100,
        l0_stop_trigger: 100,
        ..Options::default()
    }
}

fn files_at(db: &Db, level: usize) -> usize {
    db.property(&format!("lsmkit.num-files-at-level{level}")).expect("property").parse().expect("number")
}

fn total_files(db: &Db) -> usize {
    (0..7).map(|level| files_at(db, level)).sum()
}

/// The `slowdowns` and `stops` counters of the `lsmkit.stats` property.
fn stalls(db: &Db) -> (u64, u64) {
    let stats = db.property("lsmkit.stats").expect("stats");
    let line = stats.lines().find(|l| l.starts_with("Stalls: ")).expect("stalls line");
    let words: Vec<&str> = line.split_whitespace().collect();
    // "Stalls: N slowdowns, M stops, S s"
    (words[1].parse().expect("slowdowns"), words[3].parse().expect("stops"))
}

/// The error of an open that must fail.
fn open_error(opened: lsmkit::Result<Db>) -> Error {
    match opened {
        Ok(_) => panic!("the database opened"),
        Err(e) => e,
    }
}

/// Waits (bounded by [`PATIENCE`]) until `done` holds.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < PATIENCE, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The database files named `*suffix`, sorted.
fn files_named(fs: &dyn FileSystem, suffix: &str) -> Vec<PathBuf> {
    let mut names: Vec<PathBuf> = fs
        .list_dir(Path::new(DIR))
        .expect("list")
        .into_iter()
        .filter(|name| name.ends_with(suffix) || (suffix == "MANIFEST" && name.starts_with("MANIFEST-")))
        .map(|name| Path::new(DIR).join(name))
        .collect();
    names.sort();
    names
}

/// Opens a table of the database as the engine does (bytewise keys, the
/// default bloom filter).
fn open_table(fs: &dyn FileSystem, path: &Path) -> Table {
    let options =
        TableOptions::for_internal_keys(BytewiseComparator::shared(), Some(Arc::new(LevelDbBloom::new(10))));
    Table::open_path(fs, path, options).expect("open table")
}

/// The handles of a table's data blocks, from its index.
fn data_blocks(table: &Table) -> Vec<BlockHandle> {
    let mut handles = Vec::new();
    let mut index = table.index_iter();
    index.seek_to_first();
    while index.valid() {
        handles.push(BlockHandle::decode(index.value()).expect("handle"));
        index.next();
    }
    handles
}

/// Flips every bit of the first byte of `marker` in the files named
/// `*suffix`; panics unless exactly one file holds it.
fn damage(fs: &dyn FileSystem, suffix: &str, marker: &[u8]) {
    let mut damaged = 0;
    for path in files_named(fs, suffix) {
        let mut bytes = read_file_to_vec(fs, &path).expect("read");
        if let Some(at) = bytes.windows(marker.len()).position(|w| w == marker) {
            bytes[at] ^= 0xff;
            write_file(fs, &path, &bytes, true).expect("write");
            damaged += 1;
        }
    }
    assert_eq!(damaged, 1, "{} files hold the marker", damaged);
}

/// A value of `len` bytes that no compressor shrinks.
fn random_value(rng: &mut TestRng, len: usize) -> Vec<u8> {
    (0..len).map(|_| rng.next_u64() as u8).collect()
}

// ---------------------------------------------------------------------------
// A file system that counts table opens and reads

#[derive(Debug, Default)]
struct Counts {
    table_opens: AtomicU64,
    table_reads: AtomicU64,
    modes: Mutex<Vec<ReadMode>>,
}

/// Passes everything to `inner`, counting the opens of tables for reading,
/// the reads from them, and the read modes asked for.
type CountingFs = HookedFs<TableReadCounter>;

/// The hook of a [`CountingFs`].
#[derive(Debug, Clone, Default)]
struct TableReadCounter {
    counts: Arc<Counts>,
}

impl CountingFs {
    fn new() -> CountingFs {
        HookedFs { inner: Arc::new(MemFs::new()), hooks: TableReadCounter::default() }
    }
    fn table_reads(&self) -> u64 {
        self.hooks.counts.table_reads.load(AtomicOrdering::SeqCst)
    }
    fn table_opens(&self) -> u64 {
        self.hooks.counts.table_opens.load(AtomicOrdering::SeqCst)
    }
}

struct CountingFile {
    inner: Arc<dyn RandomAccessFile>,
    counts: Arc<Counts>,
}

impl RandomAccessFile for CountingFile {
    fn read_at(&self, offset: u64, len: usize) -> lsmkit::Result<Bytes> {
        self.counts.table_reads.fetch_add(1, AtomicOrdering::SeqCst);
        self.inner.read_at(offset, len)
    }
    fn len(&self) -> u64 {
        self.inner.len()
    }
}

impl FsHooks for TableReadCounter {
    fn open_random_access(
        &self,
        inner: &dyn FileSystem,
        path: &Path,
        mode: ReadMode,
    ) -> lsmkit::Result<Arc<dyn RandomAccessFile>> {
        let file = inner.open_random_access(path, mode)?;
        if !path.to_string_lossy().ends_with(".ldb") {
            return Ok(file);
        }
        self.counts.table_opens.fetch_add(1, AtomicOrdering::SeqCst);
        self.counts.modes.lock().expect("modes").push(mode);
        Ok(Arc::new(CountingFile { inner: file, counts: Arc::clone(&self.counts) }))
    }
}

/// Opens the gate when dropped, so that a failed assertion does not leave
/// a background thread waiting at it while the database closes (which
/// would hang the test instead of failing it).
struct OpenOnDrop(GatedFs);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        self.0.open_gate();
    }
}

// ---------------------------------------------------------------------------
// ReadOptions

#[test]
fn read_options_default_is_new() {
    let (default, new) = (ReadOptions::default(), ReadOptions::new());
    assert!(default.fill_cache, "the doc says the cache is filled by default");
    assert_eq!(
        (default.snapshot.is_none(), default.verify_checksums, default.fill_cache),
        (new.snapshot.is_none(), new.verify_checksums, new.fill_cache)
    );
}

/// `fill_cache`: a block read with it stays in the block cache (the next
/// read of the same key reads no file); a block read without it is read
/// from the file again. `block_cache_capacity` 0 caches nothing.
#[test]
fn fill_cache_and_block_cache_capacity_decide_what_is_read_again() {
    for capacity in [8 << 20, 0] {
        let fs = CountingFs::new();
        let db = Db::open(DIR, Options { block_cache_capacity: capacity, ..options(Arc::new(fs.clone())) })
            .expect("open");
        for i in 0..100u32 {
            db.put(format!("key{i:03}").as_bytes(), b"value").expect("put");
        }
        db.flush(FlushOptions { wait: true }).expect("flush");
        let reads_of = |read: &ReadOptions| {
            let before = fs.table_reads();
            assert_eq!(db.get_opt(read, b"key050").expect("get").as_deref(), Some(&b"value"[..]));
            fs.table_reads() - before
        };
        let no_fill = ReadOptions { fill_cache: false, ..ReadOptions::new() };
        reads_of(&no_fill); // opens the table (footer, index, filter) and reads the block
        assert_eq!(
            reads_of(&no_fill),
            1,
            "capacity {capacity}: a block read without fill_cache is not cached"
        );
        assert_eq!(reads_of(&ReadOptions::new()), 1, "capacity {capacity}");
        let again = reads_of(&ReadOptions::default());
        if capacity == 0 {
            assert_eq!(again, 1, "a cache of capacity 0 keeps nothing");
        } else {
            assert_eq!(again, 0, "a block read with fill_cache is cached");
        }
    }
}

/// `verify_checksums` and `paranoid_checks`: a flipped byte inside a value
/// of a table goes unnoticed by a plain read (the damaged value is
/// returned), and is `Corruption` when checksums are verified, per read or
/// for the whole database.
#[test]
fn verify_checksums_and_paranoid_checks_catch_a_damaged_table_block() {
    let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    let db = Db::open(DIR, options(fs.clone())).expect("open");
    db.put(b"key", b"MARKER-value-to-damage").expect("put");
    db.flush(FlushOptions { wait: true }).expect("flush");
    drop(db);
    damage(&*fs, ".ldb", b"MARKER");

    let db = Db::open(DIR, options(fs.clone())).expect("open");
    let verified = db.get_opt(&ReadOptions { verify_checksums: true, ..ReadOptions::new() }, b"key");
    assert!(matches!(&verified, Err(e) if e.is_corruption()), "{verified:?}");
    let plain = db.get(b"key").expect("an unverified read does not look at the checksum");
    assert_eq!(plain.as_deref(), Some(&b"\xb2ARKER-value-to-damage"[..]));
    drop(db);

    let db = Db::open(DIR, Options { paranoid_checks: true, ..options(fs) }).expect("open");
    let paranoid = db.get(b"key");
    assert!(matches!(&paranoid, Err(e) if e.is_corruption()), "{paranoid:?}");
}

// ---------------------------------------------------------------------------
// Opening

#[test]
fn create_if_missing_and_error_if_exists_decide_what_open_accepts() {
    let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    let plain = Options { create_if_missing: false, ..options(fs.clone()) };
    let missing = open_error(Db::open(DIR, plain.clone()));
    assert!(matches!(&missing, Error::InvalidArgument(m) if m.contains("does not exist")), "{missing}");
    assert!(!fs.exists(Path::new(DIR)), "a refused open creates nothing");

    let db = Db::open(DIR, options(fs.clone())).expect("create_if_missing creates the database");
    db.put(b"k", b"v").expect("put");
    drop(db);

    let exclusive = Options { error_if_exists: true, ..options(fs.clone()) };
    let exists = open_error(Db::open(DIR, exclusive));
    assert!(matches!(&exists, Error::InvalidArgument(m) if m.contains("exists")), "{exists}");
    let db = Db::open(DIR, plain).expect("an existing database opens without create_if_missing");
    assert_eq!(db.get(b"k").expect("get").as_deref(), Some(&b"v"[..]));
    drop(db);
    let fresh = Db::open("/other", Options { error_if_exists: true, ..options(fs) });
    assert!(fresh.is_ok(), "error_if_exists accepts a new database: {:?}", fresh.err());
}

/// `fs`: every file lives in the file system given, none on the disk.
#[test]
fn files_live_in_the_given_file_system() {
    let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    let dir = format!("/lsmkit-option-effects-{}", std::process::id());
    let db = Db::open(&dir, options(fs.clone())).expect("open");
    db.put(b"k", b"v").expect("put");
    db.flush(FlushOptions { wait: true }).expect("flush");
    let names = fs.list_dir(Path::new(&dir)).expect("list");
    for expected in ["CURRENT", "LOCK"] {
        assert!(names.iter().any(|n| n == expected), "{expected} missing from {names:?}");
    }
    assert!(names.iter().any(|n| n.starts_with("MANIFEST-")), "{names:?}");
    assert!(names.iter().any(|n| n.ends_with(".ldb")), "{names:?}");
    assert!(names.iter().any(|n| n.ends_with(".log")), "{names:?}");
    assert!(!Path::new(&dir).exists(), "nothing was written to the real file system");
}

/// A comparator that orders keys backward.
#[derive(Debug)]
struct Backward;

impl Comparator for Backward {
    fn name(&self) -> &str {
        "test.Backward"
    }
    fn compare(&self, a: &[u8], b: &[u8]) -> Ordering {
        b.cmp(a)
    }
    fn shortest_separator(&self, start: &[u8], _limit: &[u8]) -> Vec<u8> {
        start.to_vec()
    }
    fn short_successor(&self, key: &[u8]) -> Vec<u8> {
        key.to_vec()
    }
}

/// `comparator`: keys are ordered by it, in memtables and tables alike, and
/// a database is refused under a comparator of another name.
#[test]
fn the_comparator_orders_keys_and_must_match_at_open() {
    let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    let backward = Options { comparator: Arc::new(Backward), ..options(fs.clone()) };
    let db = Db::open(DIR, backward.clone()).expect("open");
    for key in [b"b", b"d"] {
        db.put(key, b"table").expect("put");
    }
    db.flush(FlushOptions { wait: true }).expect("flush");
    for key in [b"a", b"c", b"e"] {
        db.put(key, b"memtable").expect("put");
    }
    let keys: Vec<Vec<u8>> =
        db.range::<&[u8]>(..).map(|e| e.map(|(k, _)| k.to_vec())).collect::<Result<_, _>>().expect("range");
    assert_eq!(keys, [b"e", b"d", b"c", b"b", b"a"]);
    drop(db);

    let refused = open_error(Db::open(DIR, options(fs.clone())));
    assert!(matches!(&refused, Error::InvalidArgument(m) if m.contains("test.Backward")), "{refused}");
    let db = Db::open(DIR, backward).expect("the same comparator opens it");
    assert_eq!(db.get(b"d").expect("get").as_deref(), Some(&b"table"[..]));
}

// ---------------------------------------------------------------------------
// Tables

/// `block_size`, `block_restart_interval`, `compression` and
/// `filter_policy`, read back from the table a flush writes.
#[test]
fn table_options_shape_the_tables_written() {
    struct Shape {
        data_blocks: usize,
        restarts_in_first_block: u32,
        first_block_type: u8,
        has_filter: bool,
        file_size: u64,
    }
    let shape = |options: Options| -> Shape {
        let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
        let db = Db::open(DIR, Options { fs: fs.clone(), ..options }).expect("open");
        for i in 0..2000u32 {
            // Compressible values: 100 repeated bytes.
            db.put(format!("key{i:05}").as_bytes(), &[b'a' + (i % 26) as u8; 100]).expect("put");
        }
        db.flush(FlushOptions { wait: true }).expect("flush");
        drop(db);
        let tables = files_named(&*fs, ".ldb");
        assert_eq!(tables.len(), 1);
        let table = open_table(&*fs, &tables[0]);
        let blocks = data_blocks(&table);
        let first =
            table.read_data_block(&lsmkit_sstable::ReadOptions::default(), blocks[0]).expect("read block");
        let raw = fs.open_random_access(&tables[0], ReadMode::Positional).expect("open");
        let trailer = raw.read_at(blocks[0].offset + blocks[0].size, BLOCK_TRAILER_LEN).expect("trailer");
        Shape {
            data_blocks: blocks.len(),
            restarts_in_first_block: first.num_restarts(),
            first_block_type: trailer[0],
            has_filter: table.has_filter(),
            file_size: table.file_size(),
        }
    };
    let base = || options(Arc::new(MemFs::new()));
    let default = shape(base());
    let big_blocks = shape(Options { block_size: 64 << 10, ..base() });
    assert!(
        default.data_blocks > 4 * big_blocks.data_blocks,
        "block_size: {} blocks of 4 KiB, {} of 64 KiB",
        default.data_blocks,
        big_blocks.data_blocks
    );

    // 4 KiB blocks of ~110-byte entries hold about 37 entries: a restart
    // point every 16 keys gives 3, one every 4 keys about 10.
    let dense = shape(Options { block_restart_interval: 4, ..base() });
    assert!(default.restarts_in_first_block <= 3, "{}", default.restarts_in_first_block);
    assert!(dense.restarts_in_first_block >= 3 * default.restarts_in_first_block);

    let snappy = shape(Options { compression: Compression::Snappy, ..base() });
    assert_eq!(default.first_block_type, 0, "Compression::None stores blocks as they are");
    assert_eq!(snappy.first_block_type, SNAPPY_COMPRESSION);
    assert!(snappy.file_size * 4 < default.file_size, "{} vs {}", snappy.file_size, default.file_size);

    let unfiltered = shape(Options { filter_policy: None, ..base() });
    assert!(default.has_filter, "the default bloom filter is written");
    assert!(!unfiltered.has_filter, "filter_policy None writes no filter");
}

/// `filter_policy`: with a filter, a get of an absent key is answered
/// without reading a data block; without one, the block is read.
#[test]
fn filter_policy_spares_reads_of_absent_keys() {
    for (policy, expect_reads) in [(true, false), (false, true)] {
        let fs = CountingFs::new();
        let options = Options {
            filter_policy: if policy { Some(Arc::new(LevelDbBloom::new(10))) } else { None },
            block_cache_capacity: 0,
            ..options(Arc::new(fs.clone()))
        };
        let db = Db::open(DIR, options).expect("open");
        for i in 0..1000u32 {
            db.put(format!("key{i:04}").as_bytes(), b"value").expect("put");
        }
        db.flush(FlushOptions { wait: true }).expect("flush");
        assert!(db.get(b"key0500").expect("get").is_some()); // opens the table
        let before = fs.table_reads();
        for i in 0..100u32 {
            // Between existing keys, so the index points at a block.
            assert!(db.get(format!("key{i:04}x").as_bytes()).expect("get").is_none());
        }
        let reads = fs.table_reads() - before;
        if expect_reads {
            assert_eq!(reads, 100, "without a filter every absent key reads its block");
        } else {
            assert!(reads <= 5, "the filter rules out almost every absent key: {reads} reads");
        }
    }
}

/// `table_read_mode` is the mode tables are opened in.
#[test]
fn table_read_mode_is_how_tables_are_opened() {
    for mode in [ReadMode::Positional, ReadMode::Mmap] {
        let fs = CountingFs::new();
        let db =
            Db::open(DIR, Options { table_read_mode: mode, ..options(Arc::new(fs.clone())) }).expect("open");
        db.put(b"k", b"v").expect("put");
        db.flush(FlushOptions { wait: true }).expect("flush");
        assert_eq!(db.get(b"k").expect("get").as_deref(), Some(&b"v"[..]));
        let modes = fs.hooks.counts.modes.lock().expect("modes").clone();
        assert!(!modes.is_empty() && modes.iter().all(|&m| m == mode), "{mode:?}: {modes:?}");
    }
}

/// `max_open_files`: at most `max_open_files - 10` tables stay open, so
/// reading 70 tables twice reopens some of them with the smallest setting
/// (64 kept open) and none with the default (990).
#[test]
fn max_open_files_bounds_the_tables_kept_open() {
    for (max_open_files, expect_reopens) in [(1000, false), (74, true)] {
        let fs = CountingFs::new();
        let db = Db::open(DIR, Options { max_open_files, ..options(Arc::new(fs.clone())) }).expect("open");
        // Seventy tables on disjoint key ranges: none overlaps another, so
        // no compaction merges them.
        for i in 0..70u32 {
            db.put(format!("key{i:03}").as_bytes(), b"value").expect("put");
            db.flush(FlushOptions { wait: true }).expect("flush");
        }
        assert_eq!(total_files(&db), 70);
        let read_all = || {
            for i in 0..70u32 {
                assert!(db.get(format!("key{i:03}").as_bytes()).expect("get").is_some());
            }
        };
        read_all();
        let before = fs.table_opens();
        read_all();
        let reopened = fs.table_opens() - before;
        if expect_reopens {
            // Pigeonhole: at most 64 of the 70 tables were still open.
            assert!(reopened >= 6, "max_open_files {max_open_files}: {reopened} tables reopened");
        } else {
            assert_eq!(reopened, 0, "max_open_files {max_open_files}");
        }
    }
}

/// `max_file_size`: a compaction cuts its output into tables of about that
/// size.
#[test]
fn max_file_size_cuts_compaction_outputs() {
    for (max_file_size, expected_tables) in [(1 << 20, 3..=5), (64 << 20, 1..=1)] {
        let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
        let options = Options { max_file_size, write_buffer_size: 1 << 20, ..options(fs.clone()) };
        let db = Db::open(DIR, options).expect("open");
        let mut rng = TestRng::new(7);
        // 3 MiB of incompressible values, the even keys then the odd ones:
        // the tables flushed overlap, so compaction merges them all.
        for i in (0..3072u32).step_by(2).chain((1..3072).step_by(2)) {
            db.put(format!("key{i:05}").as_bytes(), &random_value(&mut rng, 1024)).expect("put");
        }
        db.compact_range(None, None).expect("compact");
        let tables = files_named(&*fs, ".ldb");
        assert!(
            expected_tables.contains(&tables.len()),
            "max_file_size {max_file_size}: {} tables",
            tables.len()
        );
        for table in &tables {
            let size = fs.file_size(table).expect("size");
            assert!(size <= max_file_size + (64 << 10), "{}: {size} bytes", table.display());
        }
    }
}

/// `compaction_style`: the same four overlapping level-0 tables are
/// compacted by the leveled picker (trigger 4) and left alone by the tiered
/// one (seven runs trigger it).
#[test]
fn compaction_style_chooses_the_picker() {
    for tiered in [false, true] {
        let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
        let compaction_style = if tiered {
            CompactionStyle::Tiered(TieredOptions { run_count_trigger: 7, ..TieredOptions::default() })
        } else {
            CompactionStyle::Leveled
        };
        let db = Db::open(DIR, Options { compaction_style, ..options(fs) }).expect("open");
        for i in 0..6u32 {
            for key in [format!("a{i}"), format!("z{i}")] {
                db.put(key.as_bytes(), b"value").expect("put");
            }
            db.flush(FlushOptions { wait: true }).expect("flush");
        }
        wait_for_compactions(&db);
        if tiered {
            assert_eq!(total_files(&db), 6, "six runs are below the tiered trigger of seven");
        } else {
            assert!(total_files(&db) < 6, "leveled compaction merged level 0: {} files", total_files(&db));
        }
    }
}

/// Each live table as (level, smallest user key, largest user key).
fn table_ranges(db: &Db) -> Vec<(usize, String, String)> {
    common::live_tables(db).into_iter().map(|t| (t.level, t.smallest, t.largest)).collect()
}

fn wait_for_compactions(db: &Db) {
    wait_until("compactions finish", || {
        db.property("lsmkit.compaction-pending").as_deref() == Some("0")
            && db.property("lsmkit.num-running-compactions").as_deref() == Some("0")
    });
}

/// `aligned_output_cuts`: level 2 holds small tables of the even keys; the
/// odd keys then come in five flushes spanning the whole range (the first
/// placed at level 1, the next four at level 0), and the level-0
/// compaction merges them into level 1 with the level-2 tables as
/// grandparents. With aligned cuts no level-2 table overlaps two level-1
/// outputs; with LevelDB's cuts (at 1 MiB) some output ends inside one.
#[test]
fn aligned_output_cuts_end_outputs_where_level2_tables_end() {
    for aligned in [false, true] {
        let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
        let options = Options {
            write_buffer_size: 1 << 20,
            max_file_size: 1 << 20,
            aligned_output_cuts: aligned,
            ..options(fs)
        };
        let db = Db::open(DIR, options).expect("open");
        let mut rng = TestRng::new(11);
        let key = |i: u32| format!("key{i:05}");
        for (n, i) in (0..6000u32).step_by(2).enumerate() {
            db.put(key(i).as_bytes(), &random_value(&mut rng, 1000)).expect("put");
            if n % 300 == 299 {
                db.flush(FlushOptions { wait: true }).expect("flush");
            }
        }
        assert_eq!((files_at(&db, 0), files_at(&db, 1), files_at(&db, 2)), (0, 0, 10), "aligned {aligned}");
        for round in 0..5u32 {
            for i in (1 + 2 * round..6000).step_by(10) {
                db.put(key(i).as_bytes(), &random_value(&mut rng, 1000)).expect("put");
            }
            db.flush(FlushOptions { wait: true }).expect("flush");
        }
        wait_for_compactions(&db);
        let tables = table_ranges(&db);
        let at = |level| tables.iter().filter(move |t| t.0 == level).collect::<Vec<_>>();
        let (level1, level2) = (at(1), at(2));
        assert!(at(0).is_empty() && level1.len() >= 3 && level2.len() == 10, "aligned {aligned}: {tables:?}");
        // A level-2 table overlaps two adjacent level-1 outputs when it
        // holds keys on both sides of the cut between them.
        let straddled = level1
            .windows(2)
            .filter(|pair| level2.iter().any(|t| t.1 <= pair[0].2 && t.2 >= pair[1].1))
            .count();
        if aligned {
            assert_eq!(straddled, 0, "{tables:?}");
        } else {
            assert!(straddled > 0, "{tables:?}");
        }
        // The same data either way.
        assert_eq!(common::read_forward(&db, ReadOptions::new()).expect("scan").len(), 6000);
    }
}

/// `compaction_priority`: level 2 holds half of the "a" keys; level 1
/// fills past its 10 MiB target with the other "a" keys and "b" keys, so
/// level 1 is compacted until it is back under. Round robin starts at
/// level 1's first file, an "a" file, and merges it into the "a" tables of
/// level 2; `MinOverlappingRatio` moves the "b" files down first (they
/// overlap nothing there), and leaves level 2's "a" tables as they were.
#[test]
fn compaction_priority_chooses_which_level1_file_moves_down() {
    for priority in [CompactionPriority::RoundRobin, CompactionPriority::MinOverlappingRatio] {
        let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
        let options = Options {
            write_buffer_size: 1 << 20,
            max_file_size: 1 << 20,
            compaction_priority: priority,
            ..options(fs)
        };
        let db = Db::open(DIR, options).expect("open");
        let mut rng = TestRng::new(12);
        for i in (0..6000u32).step_by(2) {
            db.put(format!("a{i:05}").as_bytes(), &random_value(&mut rng, 1000)).expect("put");
            if i % 2000 == 1998 {
                db.flush(FlushOptions { wait: true }).expect("flush");
            }
        }
        let level2_before: Vec<_> = table_ranges(&db).into_iter().filter(|t| t.0 == 2).collect();
        assert_eq!(level2_before.len(), 3, "{priority:?}");
        // 15 MB more, "a" and "b" keys shuffled so that every memtable spans both.
        let mut keys: Vec<String> = (1..6000u32)
            .step_by(2)
            .map(|i| format!("a{i:05}"))
            .chain((0..12000).map(|i| format!("b{i:05}")))
            .collect();
        for i in (1..keys.len()).rev() {
            keys.swap(i, rng.index(i + 1));
        }
        for key in &keys {
            db.put(key.as_bytes(), &random_value(&mut rng, 1000)).expect("put");
        }
        db.flush(FlushOptions { wait: true }).expect("flush");
        wait_for_compactions(&db);
        let tables = table_ranges(&db);
        let a_tables_kept = level2_before.iter().all(|t| tables.contains(t));
        let b_tables_at_level2 = tables.iter().filter(|t| t.0 == 2 && t.1.starts_with('b')).count();
        match priority {
            CompactionPriority::RoundRobin => assert!(!a_tables_kept, "{tables:?}"),
            CompactionPriority::MinOverlappingRatio => {
                assert!(a_tables_kept && b_tables_at_level2 > 0, "{tables:?}")
            }
        }
        assert_eq!(common::read_forward(&db, ReadOptions::new()).expect("scan").len(), 3000 + keys.len());
    }
}

// ---------------------------------------------------------------------------
// The MANIFEST and the WAL

/// `max_manifest_file_size`: a MANIFEST above it is replaced by a new one
/// at the next change; under the default, flushes append to one MANIFEST.
#[test]
fn max_manifest_file_size_rewrites_a_large_manifest() {
    for (limit, expect_rewrites) in [(64 << 20, false), (1, true)] {
        let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
        let db =
            Db::open(DIR, Options { max_manifest_file_size: limit, ..options(fs.clone()) }).expect("open");
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..4u32 {
            db.put(format!("key{i}").as_bytes(), b"value").expect("put");
            db.flush(FlushOptions { wait: true }).expect("flush");
            seen.extend(files_named(&*fs, "MANIFEST"));
        }
        if expect_rewrites {
            assert!(seen.len() >= 4, "limit {limit}: MANIFESTs {seen:?}");
        } else {
            assert_eq!(seen.len(), 1, "limit {limit}: MANIFESTs {seen:?}");
        }
    }
}

/// A WAL with three records, the middle one damaged: "k1" before the
/// damage, a value filling the rest of the 32 KiB block after it, "k3" in
/// the next block.
fn database_with_a_damaged_wal() -> Arc<dyn FileSystem> {
    let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    let db = Db::open(DIR, options(fs.clone())).expect("open");
    db.put(b"k1", b"before").expect("put");
    db.put(b"k2", b"MARKER-damaged").expect("put");
    db.put(b"filler", &[b'f'; 40 << 10]).expect("put");
    db.put(b"k3", b"after").expect("put");
    drop(db);
    damage(&*fs, ".log", b"MARKER");
    fs
}

/// `wal_recovery_mode` (and `paranoid_checks`, which makes the open fail)
/// on a WAL damaged in the middle.
#[test]
fn wal_recovery_mode_decides_what_a_damaged_wal_gives() {
    let present = |db: &Db| -> Vec<&str> {
        ["k1", "k2", "k3"].into_iter().filter(|k| db.get(k.as_bytes()).expect("get").is_some()).collect()
    };
    for mode in RecoveryMode::ALL {
        let fs = database_with_a_damaged_wal();
        let opened = Db::open(DIR, Options { wal_recovery_mode: mode, ..options(fs) });
        match mode {
            RecoveryMode::PointInTimeRecovery => assert_eq!(present(&opened.expect("open")), ["k1"]),
            RecoveryMode::SkipAnyCorruptedRecords => {
                assert_eq!(present(&opened.expect("open")), ["k1", "k3"])
            }
            RecoveryMode::TolerateCorruptedTailRecords | RecoveryMode::AbsoluteConsistency => {
                let error = open_error(opened);
                assert!(error.is_corruption(), "{mode:?}: {error}");
            }
        }
    }
    let fs = database_with_a_damaged_wal();
    let paranoid = open_error(Db::open(DIR, Options { paranoid_checks: true, ..options(fs) }));
    assert!(paranoid.is_corruption(), "{paranoid}");
}

/// `WriteOptions::sync` and `wal_sync_policy`: after a power cut, a write
/// survives when it was synced — asked for with `sync`, or by a policy that
/// syncs every write — and is lost otherwise.
#[test]
fn sync_and_wal_sync_policy_decide_what_survives_a_power_cut() {
    for (policy, sync, survives) in
        [(SyncPolicy::Os, false, false), (SyncPolicy::Os, true, true), (SyncPolicy::EveryWrite, false, true)]
    {
        let memory = MemFs::new();
        let fault_fs = FaultFs::new(Arc::new(memory.clone()));
        let db = Db::open(DIR, Options { wal_sync_policy: policy, ..options(Arc::new(fault_fs.clone())) })
            .expect("open");
        db.put_opt(WriteOptions { sync, disable_wal: false }, b"key", b"value").expect("put");
        // The power goes while the database is open: every later operation
        // fails, and every byte not synced is gone.
        fault_fs.add_rule(FaultRule::new(ErrorKind::Other));
        fault_fs.crash().expect("crash");
        drop(db);
        let db = Db::open(DIR, options(Arc::new(memory))).expect("reopen");
        assert_eq!(db.get(b"key").expect("get").is_some(), survives, "{policy:?}, sync {sync}");
    }
}

/// The lengths of the WAL files in `dir`, oldest first.
fn log_file_sizes(dir: &std::path::Path) -> Vec<u64> {
    common::files_with_extension(dir, "log")
        .iter()
        .map(|path| std::fs::metadata(path).expect("metadata").len())
        .collect()
}

/// `wal_io_mode`: an mmap WAL grows a chunk at a time (its file is a whole
/// chunk long after one small write), a buffered one by what is written;
/// both give back every write at the next open.
#[test]
fn wal_io_mode_is_how_the_wal_file_grows() {
    const CHUNK: usize = 256 << 10;
    for mode in [WalIoMode::Buffered, WalIoMode::Mmap { chunk_size: CHUNK }] {
        let temp = tempfile::tempdir().expect("tempdir");
        let dir = temp.path().join("db");
        let options = Options { wal_io_mode: mode, ..options(Arc::new(StdFs::new())) };
        let db = Db::open(&dir, options.clone()).expect("open");
        db.put(b"key", b"value").expect("put");
        let log_sizes = log_file_sizes(&dir);
        assert_eq!(log_sizes.len(), 1);
        match mode {
            WalIoMode::Buffered => assert!(log_sizes[0] < 100, "{mode:?}: {log_sizes:?}"),
            WalIoMode::Mmap { .. } => assert_eq!(log_sizes[0], CHUNK as u64, "{mode:?}"),
        }
        drop(db);
        let db = Db::open(&dir, options).expect("reopen");
        assert_eq!(db.get(b"key").expect("get").as_deref(), Some(&b"value"[..]), "{mode:?}");
    }
}

/// The default `wal_io_mode` maps the WAL in 4 MiB chunks: a live WAL is
/// a whole chunk long after one small write, and a clean close cuts it to
/// the bytes written, so the closed log is what a buffered writer leaves.
#[test]
fn the_default_wal_is_mapped_in_4_mib_chunks_and_cut_at_close() {
    assert_eq!(Options::default().wal_io_mode, WalIoMode::mmap());
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("db");
    let options = Options { create_if_missing: true, ..Options::default() };
    let db = Db::open(&dir, options.clone()).expect("open");
    db.put(b"key", b"value").expect("put");
    assert_eq!(log_file_sizes(&dir), vec![WalIoMode::DEFAULT_MMAP_CHUNK_SIZE as u64]);
    drop(db);
    // One record: a 7-byte header and the batch (12-byte header, tag,
    // two length-prefixed strings).
    assert_eq!(log_file_sizes(&dir), vec![7 + 12 + 1 + 1 + 3 + 1 + 5]);
    let db = Db::open(&dir, options).expect("reopen");
    assert_eq!(db.get(b"key").expect("get").as_deref(), Some(&b"value"[..]));
}

// ---------------------------------------------------------------------------
// Stalls and flushes, with background work held at a gate

/// `max_immutable_memtables`: that many full memtables may wait for the
/// flush; the next switch waits (a "stop") until one is flushed.
#[test]
fn max_immutable_memtables_is_how_many_memtables_wait_for_a_flush() {
    for waiting in [1usize, 3] {
        let gated = GatedFs::new(Arc::new(MemFs::new()), ".ldb");
        let db =
            Db::open(DIR, Options { max_immutable_memtables: waiting, ..options(Arc::new(gated.clone())) })
                .expect("open");
        // Declared after the database, so dropped (and the gate opened) first.
        let _open = OpenOnDrop(gated.clone());
        gated.close_gate();
        for i in 0..waiting {
            db.put(format!("key{i}").as_bytes(), b"value").expect("put");
            db.flush(FlushOptions { wait: false }).expect("switch");
        }
        // The flush of the first one waits at the gate; none is flushed.
        assert_eq!(gated.wait_for_waiters(1, PATIENCE), 1);
        assert_eq!(stalls(&db).1, 0, "{waiting} memtables may wait without a stop");
        assert_eq!(files_named(&gated, ".log").len(), waiting + 1, "one WAL per memtable");

        let writer = {
            let db = db.clone();
            std::thread::spawn(move || {
                db.put(b"one more", b"value")?;
                db.flush(FlushOptions { wait: false })
            })
        };
        wait_until("the next switch stops", || stalls(&db).1 >= 1);
        assert!(!writer.is_finished(), "the switch waits while {waiting} memtables wait for a flush");
        assert_eq!(files_named(&gated, ".log").len(), waiting + 1);
        gated.open_gate();
        writer.join().expect("writer").expect("the switch goes on once a memtable is flushed");
    }
}

/// `l0_slowdown_trigger`: with that many level-0 files, each write is
/// delayed once (a "slowdown"); `l0_stop_trigger`: with that many, a
/// memtable switch waits (a "stop") until compaction brings level 0 below
/// it. Compactions are held at a gate to keep level 0 full.
#[test]
fn level0_slowdown_and_stop_triggers_hold_writes_back() {
    let gated = GatedFs::new(Arc::new(MemFs::new()), ".ldb").only_threads("lsmkit-compact");
    let options = Options {
        l0_compaction_trigger: 2,
        l0_slowdown_trigger: 3,
        l0_stop_trigger: 3,
        ..options(Arc::new(gated.clone()))
    };
    let db = Db::open(DIR, options).expect("open");
    let _open = OpenOnDrop(gated.clone());
    gated.close_gate();
    // Overlapping tables: the first two go to levels 2 and 1, the next ones
    // stay at level 0, where a compaction (held at the gate) starts at two.
    for i in 0..5u32 {
        for key in [format!("a{i}"), format!("z{i}")] {
            db.put(key.as_bytes(), b"value").expect("put");
        }
        db.flush(FlushOptions { wait: true }).expect("flush");
    }
    assert_eq!(files_at(&db, 0), 3);
    let (slowdowns, stops) = stalls(&db);
    db.put(b"slowed", b"value").expect("put");
    db.put(b"slowed again", b"value").expect("put");
    assert_eq!(stalls(&db), (slowdowns + 2, stops), "each write at 3 level-0 files is delayed once");

    let switch = {
        let db = db.clone();
        std::thread::spawn(move || db.flush(FlushOptions { wait: false }))
    };
    wait_until("the switch stops", || stalls(&db).1 > stops);
    assert!(!switch.is_finished(), "a switch waits at 3 level-0 files");
    gated.open_gate();
    switch.join().expect("switch").expect("the switch goes on once level 0 is compacted");
}

/// `FlushOptions::wait`: without it `flush` returns once the memtable is
/// switched out, while its table is still being written; with it, once the
/// table is installed.
#[test]
fn flush_wait_decides_whether_flush_returns_before_the_table_is_installed() {
    let gated = GatedFs::new(Arc::new(MemFs::new()), ".ldb");
    let db = Db::open(DIR, options(Arc::new(gated.clone()))).expect("open");
    let _open = OpenOnDrop(gated.clone());
    gated.close_gate();
    db.put(b"a", b"value").expect("put");
    db.flush(FlushOptions { wait: false }).expect("flush without waiting");
    assert_eq!(gated.wait_for_waiters(1, PATIENCE), 1, "the flush is under way");
    assert_eq!(total_files(&db), 0, "returned before the table was installed");

    db.put(b"b", b"value").expect("put");
    let waiting_flush = {
        let db = db.clone();
        std::thread::spawn(move || {
            db.flush(FlushOptions { wait: true })?;
            Ok::<usize, Error>(total_files(&db))
        })
    };
    // Both memtables' tables are held at the gate until it opens.
    gated.open_gate();
    let files = waiting_flush.join().expect("flush").expect("flush with waiting");
    assert_eq!(files, 2, "returned once both tables were installed");
}
