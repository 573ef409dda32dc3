//! Options of a database, of reads, writes and flushes. Defaults are LevelDB
//! 1.23's (docs/format.md §11), except that Snappy compression and a 10-bit
//! LevelDB bloom filter are on.

use std::sync::Arc;

use lsmkit_base::comparator::{BytewiseComparator, Comparator};
use lsmkit_base::fs::{FileSystem, ReadMode, StdFs};
use lsmkit_base::merge_operator::MergeOperator;
use lsmkit_bloom::{FilterPolicy, LevelDbBloom};
use lsmkit_compaction::{CompactionPriority, CompactionStyle};
use lsmkit_sstable::Compression;
use lsmkit_wal::{RecoveryMode, SyncPolicy, WalIoMode};

use crate::snapshot::Snapshot;

/// How a database is opened and run.
#[derive(Clone)]
pub struct Options {
    /// Create the database if it is missing (default false).
    pub create_if_missing: bool,
    /// Fail if the database already exists (default false).
    pub error_if_exists: bool,
    /// Check aggressively: a damaged WAL fails the open instead of being
    /// handled by `wal_recovery_mode`; table reads verify checksums; damaged
    /// meta blocks fail table opens (default false).
    pub paranoid_checks: bool,
    /// The order of user keys; its name is stored in the MANIFEST (default
    /// `leveldb.BytewiseComparator`).
    pub comparator: Arc<dyn Comparator>,
    /// Where files live (default the real file system).
    pub fs: Arc<dyn FileSystem>,
    /// Bytes of writes a memtable takes before it is switched for a new one
    /// and flushed (default 4 MiB, clamped to [64 KiB, 1 GiB]). Counted as
    /// LevelDB 1.23 counts them (each entry's encoded key and value plus an
    /// average skiplist node, `Memtable::write_buffer_charge`), so the same
    /// writes flush tables of the same size as in LevelDB; the memory a full
    /// memtable really holds is somewhat more (see the
    /// `approximate-memory-usage` property).
    pub write_buffer_size: usize,
    /// Full memtables waiting to be flushed before writes wait (default 2;
    /// LevelDB has 1).
    pub max_immutable_memtables: usize,
    /// Target table size for compaction outputs (default 2 MiB, clamped to [1 MiB, 1 GiB]).
    pub max_file_size: u64,
    /// Uncompressed size of a data block (default 4096, clamped to [1 KiB, 4 MiB]).
    pub block_size: usize,
    /// Keys between restart points in data blocks (default 16).
    pub block_restart_interval: usize,
    /// Block compression (default Snappy).
    pub compression: Compression,
    /// Filter policy for tables (default LevelDB's bloom, 10 bits per key;
    /// LevelDB's default is none).
    pub filter_policy: Option<Arc<dyn FilterPolicy>>,
    /// Tables kept open at once (default 1000, clamped to [74, 50 000]; 10
    /// are reserved for other files, as LevelDB does).
    pub max_open_files: usize,
    /// Capacity of the shared block cache in bytes (default 8 MiB).
    pub block_cache_capacity: u64,
    /// How tables are read (default [`ReadMode::Mmap`], as LevelDB 1.23
    /// does). With `Mmap` each table file is mapped read-only and its
    /// blocks are decoded straight out of the mapping (no system call per
    /// block), for at most [`MAX_GUARDED_MAPPINGS`](lsmkit_base::fs::MAX_GUARDED_MAPPINGS)
    /// (1 000) files at once in the process, LevelDB's limit; tables
    /// opened beyond that, and files that cannot be mapped, are read with
    /// `pread`. The table cache keeps at most `max_open_files - 10` tables
    /// open (990 by default), so one database with the default
    /// `max_open_files` maps every table it has open.
    ///
    /// A failing disk or a table file truncated behind the database's back
    /// makes a read of a mapped page raise `SIGBUS`; lsmkit's guard
    /// (`lsmkit_base::fs`, `mapped_read_guard.rs`) turns that into
    /// `Error::Io` naming the file for that read and every later read of
    /// the table, as `pread` would report it, instead of killing the
    /// process. `Positional` reads each block with `pread`.
    pub table_read_mode: ReadMode,
    /// Level-0 files that trigger a compaction (default 4, LevelDB's
    /// constant; at least 1): level 0's compaction score is its file count
    /// divided by this.
    pub l0_compaction_trigger: usize,
    /// Level-0 files at which each write is delayed by 1 ms (default 8).
    pub l0_slowdown_trigger: usize,
    /// Level-0 files at which writes wait for compaction (default 12).
    pub l0_stop_trigger: usize,
    /// Background threads: one flushes memtables, the other
    /// `max_background_jobs - 1` run compactions, as many at once as there
    /// are threads when their inputs and output ranges are disjoint (default
    /// 2: one flush thread and one compaction thread, as LevelDB does its
    /// background work one job at a time; values below 2 count as 2).
    pub max_background_jobs: usize,
    /// How much compaction threads raise their nice value (Linux; default
    /// 10, 0 leaves them at the process's priority). When every core is busy
    /// the scheduler then gives reads, writes and the flush thread the CPU
    /// first, so a compaction does not hold up a read for a scheduler tick;
    /// idle cores still go to compactions. The flush thread keeps the
    /// normal priority: writers wait for it.
    pub compaction_thread_nice: i32,
    /// Threads one compaction may use (RocksDB's `max_subcompactions`;
    /// default 2, 0 counts as 1). A compaction whose inputs exceed twice
    /// `max_file_size` and span several files is split at input-file key
    /// boundaries into up to this many key ranges, merged in parallel and
    /// installed as one edit; the tables written are the same entries a
    /// single thread would write (file boundaries may differ). A manual
    /// `compact_range` benefits as well. The extra threads run at the
    /// compaction thread's priority (`compaction_thread_nice`). 1 merges
    /// every compaction on one thread, as LevelDB does.
    pub max_subcompactions: usize,
    /// Leveled (default) or size-tiered compaction.
    pub compaction_style: CompactionStyle,
    /// Which file of a level ≥ 1 a leveled size compaction starts from
    /// (default [`CompactionPriority::RoundRobin`], LevelDB's rule; RocksDB's
    /// `compaction_pri`). `MinOverlappingRatio` moves down first the file
    /// that overlaps the least of the next level for its size: less
    /// rewriting where writes cluster in parts of the key space, about the
    /// same for uniformly spread writes (docs/benchmarks.md).
    pub compaction_priority: CompactionPriority,
    /// Whether leveled compactions also end an output file where a file of
    /// the level below the output ends, once the output is at least half of
    /// `max_file_size` (or when the keys jump over whole files below it),
    /// as RocksDB's `level_compaction_dynamic_file_size` does (default
    /// true). Output files then line up with the next level's, so each
    /// later compaction of one rewrites fewer partly overlapped files
    /// there: less write amplification, for outputs between half and all
    /// of `max_file_size`. `false` cuts exactly where LevelDB 1.23 cuts
    /// (at `max_file_size`, or after ten times `max_file_size` of overlap
    /// below). Either way the files are ordinary LevelDB tables.
    pub aligned_output_cuts: bool,
    /// When the WAL is synced without being asked (default: only when a
    /// write asks, as LevelDB).
    pub wal_sync_policy: SyncPolicy,
    /// How the WAL reaches its file. The default, [`WalIoMode::mmap`],
    /// grows the file 4 MiB at a time (blocks reserved with
    /// `posix_fallocate`) and copies each record into a shared mapping of
    /// it: a write costs a copy instead of a `write(2)` call, and a synced
    /// write whose record fits the current chunk commits no new file size.
    /// An acknowledged write is in the page cache either way, so a process
    /// crash loses nothing in either mode; durability across power loss
    /// still comes only from a sync. The file keeps LevelDB's log format:
    /// a clean close cuts it to the bytes written, and after a crash its
    /// zero tail reads as the end of the log (LevelDB 1.23's reader skips
    /// it too; LevelDB itself wrote its logs through mappings up to 1.14).
    /// A page that cannot be provided (the file cut behind the mapping, a
    /// failing device) turns the write into `Error::Io`, not a crash (the
    /// mapped-file guard, docs/architecture.md). [`WalIoMode::Buffered`]
    /// writes each record with `write(2)` through a user-space buffer, as
    /// LevelDB 1.23 does.
    pub wal_io_mode: WalIoMode,
    /// What recovery does with a damaged WAL (default point-in-time).
    pub wal_recovery_mode: RecoveryMode,
    /// A MANIFEST larger than this is rewritten at the next change (default 64 MiB).
    pub max_manifest_file_size: u64,
    /// WAL retention (RocksDB's `WAL_ttl_seconds`): when not zero, obsolete
    /// logs are moved into the `archive/` subdirectory, where
    /// [`Db::updates_since`](crate::Db::updates_since) still reads them, and
    /// deleted once archived for longer than this (default zero; the archive
    /// time is kept in memory, and logs already archived at open count from
    /// the open). With this and `wal_size_limit` both zero, obsolete logs are
    /// deleted, as in LevelDB.
    pub wal_ttl: std::time::Duration,
    /// WAL retention (RocksDB's `WAL_size_limit_MB`, in bytes): when not
    /// zero, obsolete logs are archived as with `wal_ttl`, and the oldest
    /// archived logs are deleted while the archive holds more than this
    /// (default zero). Checked, after `wal_ttl`, whenever obsolete files are
    /// collected (at open and after each flush and compaction).
    pub wal_size_limit: u64,
    /// Entry expiry ([`Db::put_with_ttl`](crate::Db::put_with_ttl)), an lsmkit
    /// extension (default false). Every value is then stored with a small
    /// frame, and the database is marked so that LevelDB, and lsmkit without
    /// this option, refuse to open it; a database created without it cannot
    /// be opened with it (both are comparator-name mismatches,
    /// `docs/format-extensions.md`, "Entry expiry (TTL)").
    pub enable_ttl: bool,
    /// The clock entry expiry reads, in milliseconds since the Unix epoch
    /// (default `None`: the system time). Meant for tests.
    pub clock: Option<crate::ttl::Clock>,
    /// The merge operator ([`Db::merge`](crate::Db::merge)), an lsmkit
    /// extension (default `None`). With one, the database is marked so
    /// that LevelDB, and lsmkit without a merge operator, refuse to open it;
    /// a database created without one cannot be opened with one (both are
    /// comparator-name mismatches, `docs/format-extensions.md`, "Merge
    /// operator"). Cannot be combined with `enable_ttl`.
    pub merge_operator: Option<Arc<dyn MergeOperator>>,
    /// A get of the latest state that merges more than this many operands
    /// writes the merged value back as a put (default 32; 0 turns it off),
    /// so the next gets of the key stop at that value instead of walking
    /// the chain again. The put is logged like any write, and is dropped
    /// if anything was written after the get read (it could be stale).
    /// Compactions collapse chains as well.
    pub max_merge_chain_length: usize,
    /// Range deletions ([`Db::delete_range`](crate::Db::delete_range),
    /// [`WriteBatch::delete_range`](crate::WriteBatch::delete_range)), an
    /// lsmkit extension (default false). With it, the database is marked so
    /// that LevelDB, and lsmkit without this option, refuse to open it; a
    /// database created without it cannot be opened with it (comparator-name
    /// mismatches, `docs/format-extensions.md`, "Range deletions"). Without
    /// it, writes of range deletions are refused.
    pub range_deletions: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            create_if_missing: false,
            error_if_exists: false,
            paranoid_checks: false,
            comparator: BytewiseComparator::shared(),
            fs: Arc::new(StdFs::new()),
            write_buffer_size: 4 << 20,
            max_immutable_memtables: 2,
            max_file_size: 2 << 20,
            block_size: 4096,
            block_restart_interval: 16,
            compression: Compression::Snappy,
            filter_policy: Some(Arc::new(LevelDbBloom::new(10))),
            max_open_files: 1000,
            block_cache_capacity: 8 << 20,
            table_read_mode: ReadMode::Mmap,
            l0_compaction_trigger: 4,
            l0_slowdown_trigger: 8,
            l0_stop_trigger: 12,
            max_background_jobs: 2,
            max_subcompactions: 2,
            compaction_thread_nice: 10,
            compaction_style: CompactionStyle::Leveled,
            compaction_priority: CompactionPriority::RoundRobin,
            aligned_output_cuts: true,
            wal_sync_policy: SyncPolicy::Os,
            wal_io_mode: WalIoMode::mmap(),
            wal_recovery_mode: RecoveryMode::PointInTimeRecovery,
            max_manifest_file_size: 64 << 20,
            wal_ttl: std::time::Duration::ZERO,
            wal_size_limit: 0,
            enable_ttl: false,
            clock: None,
            merge_operator: None,
            max_merge_chain_length: 32,
            range_deletions: false,
        }
    }
}

impl Options {
    /// Clamps sizes to LevelDB's ranges (docs/format.md §11).
    pub(crate) fn sanitized(mut self) -> Options {
        self.write_buffer_size = self.write_buffer_size.clamp(64 << 10, 1 << 30);
        self.max_file_size = self.max_file_size.clamp(1 << 20, 1 << 30);
        self.block_size = self.block_size.clamp(1 << 10, 4 << 20);
        self.block_restart_interval = self.block_restart_interval.max(1);
        self.max_open_files = self.max_open_files.clamp(74, 50_000);
        self.max_immutable_memtables = self.max_immutable_memtables.max(1);
        self.l0_compaction_trigger = self.l0_compaction_trigger.max(1);
        self.l0_slowdown_trigger = self.l0_slowdown_trigger.max(self.l0_compaction_trigger);
        self.l0_stop_trigger = self.l0_stop_trigger.max(self.l0_slowdown_trigger);
        self.max_background_jobs = self.max_background_jobs.max(2);
        self.max_subcompactions = self.max_subcompactions.max(1);
        self.compaction_thread_nice = self.compaction_thread_nice.clamp(0, 39);
        if self.enable_ttl {
            self.comparator = crate::ttl::mark_comparator_for_ttl(self.comparator);
        }
        if self.merge_operator.is_some() {
            self.comparator =
                crate::ttl::mark_comparator(self.comparator, crate::merge::MERGE_COMPARATOR_PREFIX);
        }
        // The range-deletion mark goes outside the others:
        // `lsmkit.rangedel.lsmkit.merge.leveldb.BytewiseComparator`.
        if self.range_deletions {
            self.comparator =
                crate::ttl::mark_comparator(self.comparator, crate::range_del::RANGE_DEL_COMPARATOR_PREFIX);
        }
        self
    }
}

/// Options of one read. [`ReadOptions::new`] and [`Default`] give the same
/// options: the latest state, no checksum verification, fill the cache.
#[derive(Clone)]
pub struct ReadOptions {
    /// Read as of this snapshot (default: the latest state).
    pub snapshot: Option<Snapshot>,
    /// Verify the checksum of every block read (default false).
    pub verify_checksums: bool,
    /// Keep blocks read in the block cache (default true).
    pub fill_cache: bool,
}

impl ReadOptions {
    /// Default read options: latest state, no checksum verification, fill the cache.
    pub fn new() -> ReadOptions {
        ReadOptions { snapshot: None, verify_checksums: false, fill_cache: true }
    }
}

impl Default for ReadOptions {
    /// The same as [`ReadOptions::new`].
    fn default() -> ReadOptions {
        ReadOptions::new()
    }
}

/// Options of one write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// Sync the WAL before the write is acknowledged (default false).
    pub sync: bool,
    /// Do not log the write (it is lost in a crash unless a [`flush`](crate::Db::flush)
    /// completes after it).
    pub disable_wal: bool,
}

/// Options of [`Db::flush`](crate::Db::flush).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlushOptions {
    /// Wait until the memtable is written to a table (default true).
    pub wait: bool,
}

impl Default for FlushOptions {
    fn default() -> FlushOptions {
        FlushOptions { wait: true }
    }
}
