//! [`Db::repair`]: rebuilds a database's MANIFEST from the tables and logs
//! found in its directory, keeping whatever is readable (LevelDB's
//! `RepairDB`). It reads logs (FORMAT.md §3, §4) and tables (§6) and writes
//! a new MANIFEST and CURRENT (§10).
//!
//! The steps, with the directory locked:
//!
//! 1. Every log, oldest first, is read as LevelDB's reader does (damaged
//!    regions are dropped and reading goes on); its write batches go to a
//!    memtable, which becomes level-0 tables. The log is then set aside.
//! 2. Every table is scanned block by block with checksums verified, to
//!    find its key and sequence ranges. A table that does not open, or
//!    holds no readable entry, is set aside as lost. A table with damaged
//!    blocks or entries has its readable entries copied into a new table,
//!    and the original is set aside.
//! 3. Every table goes to level 0. A point lookup consults overlapping
//!    level-0 tables highest file number first and stops at the first one
//!    holding the key (FORMAT.md §10.1), so for every two tables whose key
//!    ranges overlap, the one with the newer entries must have the higher
//!    number. When two such tables also have overlapping *sequence* ranges
//!    (a log converted after its memtable had been flushed, tables from
//!    different levels, a compaction's inputs left behind), no numbering
//!    can be right: they are merged into one table. Then, if some numbers
//!    still disagree with the sequence order, tables are renamed to fresh
//!    numbers in that order. (LevelDB's repair skips this step, and a
//!    lookup after it can return an older value.)
//! 4. A new MANIFEST lists every table at level 0, with log number 0, the
//!    next file number past every file seen, and the largest sequence
//!    found as last sequence (so new writes are numbered after everything
//!    recovered); CURRENT points at it and older MANIFESTs are set aside.
//!
//! Files are set aside by moving them to the `lost/` subdirectory, never
//! deleted, so nothing the repair could not use is destroyed.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lsmkit_base::filename::{
    lock_file_name, log_file_name, manifest_file_name, parse_file_name, table_file_name, FileType,
};
use lsmkit_base::fs::{FileSystem, WriteMode};
use lsmkit_base::iterator::InternalIterator;
use lsmkit_base::key::{
    extract_user_key, parse_internal_key, InternalKeyComparator, SequenceNumber, MAX_SEQUENCE_NUMBER,
};
use lsmkit_base::merging_iterator::MergingIterator;
use lsmkit_base::{Error, Result};
use lsmkit_memtable::Memtable;
use lsmkit_sstable::{BlockHandle, Table, TableBuilder, TableOptions, BLOCK_TRAILER_LEN};
use lsmkit_version::current_file::set_current_file;
use lsmkit_version::{FileMetaData, VersionEdit};
use lsmkit_wal::{LogReader, LogWriter, RecoveryMode, WriteBatch, WRITE_BATCH_HEADER_SIZE};

use crate::db::Db;
use crate::options::Options;
use crate::ttl::TTL_COMPARATOR_PREFIX;
use crate::write::insert_batch;

/// The subdirectory of the database directory that receives the files a
/// repair sets aside.
pub const LOST_DIR_NAME: &str = "lost";

/// Files numbered at or above this are not taken for database files (the
/// MANIFEST reader refuses them too).
const MAX_PLAUSIBLE_FILE_NUMBER: u64 = 1 << 62;

/// What [`Db::repair`] did: what it kept, what it set aside, what it lost.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepairReport {
    /// The tables of the new MANIFEST (all at level 0), by file number.
    pub tables: Vec<u64>,
    /// Tables none of whose entries could be read (they would not open, or
    /// every block was damaged), set aside in `lost/`.
    pub lost_tables: Vec<u64>,
    /// Damaged tables whose readable entries were copied into a new table;
    /// the originals are in `lost/`.
    pub salvaged_tables: Vec<u64>,
    /// Logs whose readable write batches were written to tables; the logs
    /// are in `lost/`.
    pub converted_logs: Vec<u64>,
    /// Tables whose key and sequence ranges both overlapped another's,
    /// merged into new tables (step 3 of the module comment). Tables that
    /// were in the directory before the repair are in `lost/`; those the
    /// repair itself had written are deleted.
    pub merged_tables: Vec<u64>,
    /// Tables renamed to a new, higher number so that, among tables with
    /// overlapping keys, newer entries have higher numbers.
    pub renumbered_tables: Vec<u64>,
    /// The name of every file moved to `lost/`.
    pub set_aside: Vec<String>,
    /// Log records dropped: too short, or not a well-formed write batch.
    pub log_records_dropped: u64,
    /// Bytes of log files the log reader dropped as damaged.
    pub log_bytes_dropped: u64,
    /// Table entries dropped: keys that do not parse as internal keys, or
    /// that are out of order.
    pub table_entries_dropped: u64,
    /// Bytes of tables dropped: data blocks that could not be read, or only
    /// in part (block and trailer), and whole lost tables.
    pub table_bytes_dropped: u64,
    /// The last sequence of the new MANIFEST: the largest found.
    pub last_sequence: SequenceNumber,
    /// The number of the new MANIFEST.
    pub manifest_number: u64,
}

impl Db {
    /// Rebuilds the MANIFEST of the database in `path` from the tables and
    /// logs there, keeping everything readable (LevelDB's `RepairDB`; the
    /// steps are in this module's comment). Use it when [`Db::open`] fails
    /// because the MANIFEST or CURRENT is missing or damaged, or to recover
    /// what can be read from damaged tables and logs. The database must not
    /// be open (the directory is locked: an open one gives `Error::Busy`).
    ///
    /// Uses `options.fs`, the comparator (which must be the one the
    /// database was written with), and the table-building and
    /// `write_buffer_size` options for the tables it writes. Every table
    /// ends up at level 0; compactions after the next open move them down.
    /// Files it cannot use are moved to the `lost/` subdirectory
    /// ([`LOST_DIR_NAME`]). Data lost to damage is reported, not an error;
    /// an I/O error stops the repair (it can be run again).
    pub fn repair(path: impl AsRef<Path>, options: &Options) -> Result<RepairReport> {
        let options = options.clone().sanitized();
        let dir = path.as_ref();
        let fs = &*options.fs;
        if !fs.exists(dir) {
            return Err(Error::InvalidArgument(format!("{}: no database to repair", dir.display())));
        }
        let is_database_file = |name: &String| {
            matches!(
                parse_file_name(name),
                Some((_, FileType::Manifest | FileType::Log | FileType::Table | FileType::Current))
            )
        };
        if !fs.list_dir(dir)?.iter().any(is_database_file) {
            return Err(Error::InvalidArgument(format!("{}: no database files to repair", dir.display())));
        }
        let _lock = fs.lock_file(&lock_file_name(dir))?;
        let names = fs.list_dir(dir)?;
        Repairer::new(dir, fs, &options).run(&names)
    }
}

/// A table that goes into the new MANIFEST, with what the scan found.
#[derive(Debug, Clone)]
struct FoundTable {
    number: u64,
    /// Where it is now (`.ldb`, or a legacy `.sst`).
    path: PathBuf,
    file_size: u64,
    smallest: Vec<u8>,
    largest: Vec<u8>,
    min_sequence: SequenceNumber,
    max_sequence: SequenceNumber,
    /// It was in the directory before the repair (so it is set aside, not
    /// deleted, when a merge replaces it).
    original: bool,
}

/// What a scan of one table found.
struct TableScan {
    entries: u64,
    damaged: bool,
    dropped_entries: u64,
    dropped_bytes: u64,
    smallest: Vec<u8>,
    largest: Vec<u8>,
    min_sequence: SequenceNumber,
    max_sequence: SequenceNumber,
}

/// The state of one repair.
struct Repairer<'a> {
    dir: &'a Path,
    fs: &'a dyn FileSystem,
    icmp: InternalKeyComparator,
    table_options: TableOptions,
    write_buffer_size: usize,
    next_file_number: u64,
    report: RepairReport,
}

impl<'a> Repairer<'a> {
    fn new(dir: &'a Path, fs: &'a dyn FileSystem, options: &Options) -> Repairer<'a> {
        let mut table_options =
            TableOptions::for_internal_keys(options.comparator.clone(), options.filter_policy.clone());
        table_options.block_size = options.block_size;
        table_options.restart_interval = options.block_restart_interval;
        table_options.compression = options.compression;
        table_options.read_mode = options.table_read_mode;
        Repairer {
            dir,
            fs,
            icmp: InternalKeyComparator::new(options.comparator.clone()),
            table_options,
            write_buffer_size: options.write_buffer_size,
            next_file_number: 1,
            report: RepairReport::default(),
        }
    }

    fn run(mut self, names: &[String]) -> Result<RepairReport> {
        let mut manifests = Vec::new();
        let mut logs = Vec::new();
        let mut tables: BTreeMap<u64, PathBuf> = BTreeMap::new();
        let mut implausible = Vec::new();
        for name in names {
            let Some((number, file_type)) = parse_file_name(name) else { continue };
            if number >= MAX_PLAUSIBLE_FILE_NUMBER {
                if matches!(file_type, FileType::Manifest | FileType::Log | FileType::Table | FileType::Temp)
                {
                    implausible.push(self.dir.join(name));
                }
                continue;
            }
            self.next_file_number = self.next_file_number.max(number + 1);
            match file_type {
                FileType::Manifest => manifests.push(number),
                FileType::Log => logs.push(number),
                FileType::Table => {
                    // Both `.ldb` and `.sst` for one number: the `.ldb` is the
                    // one the database reads; the other is left alone.
                    if name.ends_with(".ldb") || !tables.contains_key(&number) {
                        tables.insert(number, self.dir.join(name));
                    }
                }
                FileType::Current | FileType::Temp | FileType::Lock | FileType::InfoLog => {}
            }
        }
        // Before anything is changed: the comparator must be the one the
        // database was written with, as far as an old MANIFEST still says.
        self.check_recorded_comparator(&manifests)?;
        for path in implausible {
            self.set_aside(&path)?;
        }

        logs.sort_unstable();
        let mut found = Vec::new();
        for number in logs {
            found.extend(self.convert_log(number)?);
        }
        for (number, path) in tables {
            found.extend(self.scan_table(number, path)?);
        }
        let found = self.order_for_level0(found)?;
        self.write_manifest(&found, &manifests)?;
        Ok(self.report)
    }

    /// Fails with `InvalidArgument` when an old MANIFEST (the newest one
    /// whose first records can be read) names another comparator than the
    /// repair's, for instance a database with entry expiry (`lsmkit.ttl.`
    /// mark) repaired without `Options::enable_ttl`, or the other way
    /// round: the new MANIFEST would carry the wrong name, and the values
    /// would be read without (or with) their TTL frame. Unreadable or
    /// missing MANIFESTs say nothing; the repair then trusts the options.
    fn check_recorded_comparator(&self, manifests: &[u64]) -> Result<()> {
        let ours = self.icmp.user_comparator().name();
        let mut newest_first = manifests.to_vec();
        newest_first.sort_unstable_by(|a, b| b.cmp(a));
        for number in newest_first {
            let path = manifest_file_name(self.dir, number);
            let Some(recorded) = self.recorded_comparator_name(&path) else { continue };
            if recorded == ours.as_bytes() {
                return Ok(());
            }
            let recorded = String::from_utf8_lossy(&recorded).into_owned();
            let hint = if recorded.starts_with(TTL_COMPARATOR_PREFIX) {
                " (a database with entry expiry: repair it with Options::enable_ttl)"
            } else if ours.starts_with(TTL_COMPARATOR_PREFIX) {
                " (a database without entry expiry: repair it without Options::enable_ttl)"
            } else {
                ""
            };
            return Err(Error::InvalidArgument(format!(
                "{}: written with comparator {recorded}, repair asked to use {ours}{hint}",
                path.display()
            )));
        }
        Ok(())
    }

    /// The comparator name in the first few records of the MANIFEST at
    /// `path`, if they can be read and one names it.
    fn recorded_comparator_name(&self, path: &Path) -> Option<Vec<u8>> {
        let file = self.fs.open_sequential(path).ok()?;
        let mut reader = LogReader::new(file, path, RecoveryMode::AbsoluteConsistency);
        for _ in 0..4 {
            let record = reader.read_record().ok()??;
            if let Some(name) = VersionEdit::decode(&record).ok()?.comparator_name {
                return Some(name);
            }
        }
        None
    }

    fn new_file_number(&mut self) -> u64 {
        let number = self.next_file_number;
        self.next_file_number += 1;
        number
    }

    /// Moves `path` into `lost/`.
    fn set_aside(&mut self, path: &Path) -> Result<()> {
        let lost = self.dir.join(LOST_DIR_NAME);
        self.fs.create_dir_all(&lost)?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        self.fs.rename(path, &lost.join(&name))?;
        self.report.set_aside.push(name);
        Ok(())
    }

    // ----- step 1: logs ------------------------------------------------------

    /// Writes the readable write batches of log `number` to level-0 tables
    /// (one per `write_buffer_size` of memtable), then sets the log aside.
    fn convert_log(&mut self, number: u64) -> Result<Vec<FoundTable>> {
        let path = log_file_name(self.dir, number);
        let file = self.fs.open_sequential(&path)?;
        let mut reader = LogReader::new(file, &path, RecoveryMode::SkipAnyCorruptedRecords);
        let mut mem = Memtable::new(self.icmp.clone());
        let mut tables = Vec::new();
        while let Some(record) = reader.read_record()? {
            let Some(batch) = decode_batch(record) else {
                self.report.log_records_dropped += 1;
                continue;
            };
            insert_batch(&mem, &batch, batch.sequence())?;
            if mem.write_buffer_charge() > self.write_buffer_size {
                let full = std::mem::replace(&mut mem, Memtable::new(self.icmp.clone()));
                tables.extend(self.write_memtable(&full)?);
            }
        }
        self.report.log_bytes_dropped += reader.dropped_bytes();
        tables.extend(self.write_memtable(&mem)?);
        drop(reader);
        self.set_aside(&path)?;
        self.report.converted_logs.push(number);
        Ok(tables)
    }

    fn write_memtable(&mut self, mem: &Memtable) -> Result<Option<FoundTable>> {
        if mem.is_empty() {
            return Ok(None);
        }
        self.write_table(|out| {
            let mut it = mem.iter();
            it.seek_to_first();
            while it.valid() {
                out.add(it.key(), it.value())?;
                it.next();
            }
            it.status()
        })
    }

    // ----- step 2: tables ----------------------------------------------------

    /// Scans table `number`: returns it as it is when it is intact, a copy
    /// of its readable entries when it is damaged, nothing when nothing in
    /// it is readable (it is then set aside as lost).
    fn scan_table(&mut self, number: u64, path: PathBuf) -> Result<Option<FoundTable>> {
        let table = match Table::open_path(self.fs, &path, self.table_options.clone()) {
            Ok(table) => table,
            Err(e) if e.is_corruption() => {
                self.report.table_bytes_dropped += self.fs.file_size(&path)?;
                self.report.lost_tables.push(number);
                self.set_aside(&path)?;
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let scan = scan_entries(&self.icmp, &table, None)?;
        if scan.entries == 0 {
            self.report.table_entries_dropped += scan.dropped_entries;
            self.report.table_bytes_dropped += table.file_size();
            self.report.lost_tables.push(number);
            drop(table);
            self.set_aside(&path)?;
            return Ok(None);
        }
        if !scan.damaged {
            return Ok(Some(FoundTable {
                number,
                file_size: table.file_size(),
                path,
                smallest: scan.smallest,
                largest: scan.largest,
                min_sequence: scan.min_sequence,
                max_sequence: scan.max_sequence,
                original: true,
            }));
        }
        self.report.table_entries_dropped += scan.dropped_entries;
        self.report.table_bytes_dropped += scan.dropped_bytes;
        let icmp = self.icmp.clone();
        let copy = self.write_table(|out| scan_entries(&icmp, &table, Some(out)).map(|_| ()))?;
        drop(table);
        self.set_aside(&path)?;
        self.report.salvaged_tables.push(number);
        Ok(copy)
    }

    // ----- step 3: level-0 order ---------------------------------------------

    /// Makes file-number order agree with sequence order among tables with
    /// overlapping keys: merges tables whose key and sequence ranges both
    /// overlap (until none do), then renumbers if needed.
    fn order_for_level0(&mut self, mut tables: Vec<FoundTable>) -> Result<Vec<FoundTable>> {
        loop {
            let groups = conflict_groups(&self.icmp, &tables);
            if groups.is_empty() {
                break;
            }
            // Each merge turns two or more tables into one: this ends.
            let mut replaced = vec![false; tables.len()];
            let mut merged = Vec::new();
            for group in &groups {
                let inputs: Vec<&FoundTable> = group.iter().map(|&i| &tables[i]).collect();
                merged.extend(self.merge_tables(&inputs)?);
                for &i in group {
                    replaced[i] = true;
                }
            }
            let mut kept = Vec::with_capacity(tables.len());
            for (table, replaced) in tables.into_iter().zip(replaced) {
                if !replaced {
                    kept.push(table);
                    continue;
                }
                self.report.merged_tables.push(table.number);
                if table.original {
                    self.set_aside(&table.path)?;
                } else {
                    self.fs.remove_file(&table.path)?;
                }
            }
            kept.extend(merged);
            tables = kept;
        }

        // Now overlapping tables have disjoint sequence ranges: sequence
        // order is a total order among them.
        tables.sort_by_key(|t| (t.min_sequence, t.max_sequence, t.number));
        let misordered = tables.iter().enumerate().any(|(i, older)| {
            tables[i + 1..]
                .iter()
                .any(|newer| keys_overlap(&self.icmp, older, newer) && older.number > newer.number)
        });
        if misordered {
            let mut last_number = 0;
            for table in &mut tables {
                if table.number <= last_number {
                    let number = self.new_file_number();
                    let path = table_file_name(self.dir, number);
                    self.fs.rename(&table.path, &path)?;
                    self.report.renumbered_tables.push(table.number);
                    table.number = number;
                    table.path = path;
                }
                last_number = table.number;
            }
        }
        Ok(tables)
    }

    /// Merges `inputs` into one new table (exact duplicates, as a log and
    /// the table flushed from it both hold, are kept once).
    fn merge_tables(&mut self, inputs: &[&FoundTable]) -> Result<Option<FoundTable>> {
        let read = lsmkit_sstable::ReadOptions { verify_checksums: true, fill_cache: false };
        let mut children: Vec<Box<dyn InternalIterator>> = Vec::with_capacity(inputs.len());
        for input in inputs {
            let table = Arc::new(Table::open_path(self.fs, &input.path, self.table_options.clone())?);
            children.push(Box::new(table.iter(read)));
        }
        let mut merged = MergingIterator::new(Arc::new(self.icmp.clone()), children);
        self.write_table(|out| {
            merged.seek_to_first();
            while merged.valid() {
                out.add(merged.key(), merged.value())?;
                merged.next();
            }
            merged.status()
        })
    }

    // ----- writing tables and the MANIFEST -----------------------------------

    /// Writes a new table with the entries `fill` adds; `None` (and no
    /// file) when it adds none. On error the file is removed.
    fn write_table(
        &mut self,
        fill: impl FnOnce(&mut TableWriter) -> Result<()>,
    ) -> Result<Option<FoundTable>> {
        let number = self.new_file_number();
        let path = table_file_name(self.dir, number);
        let file = self.fs.create_writable(&path, WriteMode::Buffered)?;
        let mut out = TableWriter {
            icmp: self.icmp.clone(),
            builder: TableBuilder::new(self.table_options.clone(), file),
            entries: 0,
            last_key: Vec::new(),
            min_sequence: MAX_SEQUENCE_NUMBER,
            max_sequence: 0,
        };
        if let Err(e) = fill(&mut out) {
            let _ = out.builder.abandon();
            let _ = self.fs.remove_file(&path);
            return Err(e);
        }
        if out.entries == 0 {
            let _ = out.builder.abandon();
            self.fs.remove_file(&path)?;
            return Ok(None);
        }
        match out.builder.finish(true) {
            Ok(summary) => Ok(Some(FoundTable {
                number,
                path,
                file_size: summary.file_size,
                smallest: summary.smallest_key,
                largest: summary.largest_key,
                min_sequence: out.min_sequence,
                max_sequence: out.max_sequence,
                original: false,
            })),
            Err(e) => {
                let _ = self.fs.remove_file(&path);
                Err(e)
            }
        }
    }

    /// Writes the new MANIFEST (every table at level 0), points CURRENT at
    /// it and sets the old MANIFESTs aside.
    fn write_manifest(&mut self, tables: &[FoundTable], old_manifests: &[u64]) -> Result<()> {
        // The names of the tables written and renamed are durable before
        // the MANIFEST names them.
        self.fs.sync_dir(self.dir)?;
        let manifest_number = self.new_file_number();
        let last_sequence = tables.iter().map(|t| t.max_sequence).max().unwrap_or(0);
        let mut edit = VersionEdit::new();
        edit.set_comparator_name(self.icmp.user_comparator().name());
        edit.set_log_number(0);
        edit.set_prev_log_number(0);
        edit.set_next_file_number(self.next_file_number);
        edit.set_last_sequence(last_sequence);
        let mut numbers = Vec::with_capacity(tables.len());
        for table in tables {
            edit.add_file(
                0,
                FileMetaData::new(
                    table.number,
                    table.file_size,
                    table.smallest.clone(),
                    table.largest.clone(),
                ),
            );
            numbers.push(table.number);
        }
        let path = manifest_file_name(self.dir, manifest_number);
        let written = (|| {
            let mut writer = LogWriter::new(self.fs.create_writable(&path, WriteMode::Buffered)?);
            writer.add_record(&edit.encode())?;
            writer.sync()?;
            writer.close()?;
            self.fs.sync_dir(self.dir)
        })();
        if let Err(e) = written {
            let _ = self.fs.remove_file(&path);
            return Err(e);
        }
        set_current_file(self.fs, self.dir, manifest_number)?;
        for &number in old_manifests {
            self.set_aside(&manifest_file_name(self.dir, number))?;
        }
        numbers.sort_unstable();
        self.report.tables = numbers;
        self.report.last_sequence = last_sequence;
        self.report.manifest_number = manifest_number;
        Ok(())
    }
}

/// A table being written by the repair, with its sequence range.
struct TableWriter {
    icmp: InternalKeyComparator,
    builder: TableBuilder,
    entries: u64,
    last_key: Vec<u8>,
    min_sequence: SequenceNumber,
    max_sequence: SequenceNumber,
}

impl TableWriter {
    /// Adds an entry; one that is not after the last one added (an exact
    /// duplicate from a merge) is skipped.
    fn add(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        let sequence = parse_internal_key(key)?.sequence;
        if self.entries > 0 && self.icmp.compare_internal_keys(key, &self.last_key) != Ordering::Greater {
            return Ok(());
        }
        self.builder.add(key, value)?;
        self.entries += 1;
        self.last_key.clear();
        self.last_key.extend_from_slice(key);
        self.min_sequence = self.min_sequence.min(sequence);
        self.max_sequence = self.max_sequence.max(sequence);
        Ok(())
    }
}

/// A log record as a write batch, or `None` when it is not a well-formed
/// one (too short, undecodable operations, sequence numbers out of range).
fn decode_batch(record: Vec<u8>) -> Option<WriteBatch> {
    if record.len() < WRITE_BATCH_HEADER_SIZE {
        return None;
    }
    let batch = WriteBatch::from_data(record).ok()?;
    let mut operations = 0u64;
    for op in batch.ops() {
        op.ok()?;
        operations += 1;
    }
    let last = batch.sequence().checked_add(operations.saturating_sub(1))?;
    (last <= MAX_SEQUENCE_NUMBER).then_some(batch)
}

/// Reads every data block of `table` with checksums verified and returns
/// what it holds; with `out`, also copies every readable entry there.
/// Damaged blocks, unparsable keys and keys out of order are skipped and
/// counted. Errors other than corruption are returned.
fn scan_entries(
    icmp: &InternalKeyComparator,
    table: &Table,
    mut out: Option<&mut TableWriter>,
) -> Result<TableScan> {
    let read = lsmkit_sstable::ReadOptions { verify_checksums: true, fill_cache: false };
    let mut scan = TableScan {
        entries: 0,
        damaged: false,
        dropped_entries: 0,
        dropped_bytes: 0,
        smallest: Vec::new(),
        largest: Vec::new(),
        min_sequence: MAX_SEQUENCE_NUMBER,
        max_sequence: 0,
    };
    let mut index = table.index_iter();
    index.seek_to_first();
    while index.valid() {
        let handle = match BlockHandle::decode(index.value()) {
            Ok(handle) => handle,
            Err(_) => {
                scan.damaged = true;
                index.next();
                continue;
            }
        };
        let block = match table.read_data_block(&read, handle) {
            Ok(block) => block,
            Err(e) if e.is_corruption() => {
                scan.damaged = true;
                scan.dropped_bytes += handle.size + BLOCK_TRAILER_LEN as u64;
                index.next();
                continue;
            }
            Err(e) => return Err(e),
        };
        let mut entries = block.iter(Arc::clone(&table.options().comparator));
        entries.seek_to_first();
        while entries.valid() {
            let key = entries.key();
            let sequence = parse_internal_key(key).ok().map(|parsed| parsed.sequence);
            let in_order =
                scan.entries == 0 || icmp.compare_internal_keys(key, &scan.largest) == Ordering::Greater;
            match sequence {
                Some(sequence) if in_order => {
                    if let Some(out) = out.as_deref_mut() {
                        out.add(key, entries.value())?;
                    }
                    if scan.entries == 0 {
                        scan.smallest = key.to_vec();
                    }
                    scan.largest.clear();
                    scan.largest.extend_from_slice(key);
                    scan.min_sequence = scan.min_sequence.min(sequence);
                    scan.max_sequence = scan.max_sequence.max(sequence);
                    scan.entries += 1;
                }
                _ => {
                    scan.damaged = true;
                    scan.dropped_entries += 1;
                }
            }
            entries.next();
        }
        if entries.status().is_err() {
            scan.damaged = true;
            scan.dropped_bytes += handle.size + BLOCK_TRAILER_LEN as u64;
        }
        index.next();
    }
    if index.status().is_err() {
        scan.damaged = true;
    }
    Ok(scan)
}

/// Groups (two or more tables each) of tables linked by overlapping both
/// in user keys and in sequence numbers.
fn conflict_groups(icmp: &InternalKeyComparator, tables: &[FoundTable]) -> Vec<Vec<usize>> {
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut parent: Vec<usize> = (0..tables.len()).collect();
    for (i, a) in tables.iter().enumerate() {
        for (j, b) in tables.iter().enumerate().skip(i + 1) {
            let sequences_overlap = a.min_sequence <= b.max_sequence && b.min_sequence <= a.max_sequence;
            if sequences_overlap && keys_overlap(icmp, a, b) {
                let (ra, rb) = (root(&mut parent, i), root(&mut parent, j));
                parent[ra] = rb;
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..tables.len() {
        let r = root(&mut parent, i);
        groups.entry(r).or_default().push(i);
    }
    groups.into_values().filter(|group| group.len() > 1).collect()
}

/// True when the user-key ranges of `a` and `b` overlap.
fn keys_overlap(icmp: &InternalKeyComparator, a: &FoundTable, b: &FoundTable) -> bool {
    let (a_low, a_high) = (extract_user_key(&a.smallest), extract_user_key(&a.largest));
    let (b_low, b_high) = (extract_user_key(&b.smallest), extract_user_key(&b.largest));
    icmp.compare_user_keys(a_low, b_high) != Ordering::Greater
        && icmp.compare_user_keys(b_low, a_high) != Ordering::Greater
}
