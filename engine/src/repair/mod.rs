//! [`Db::repair`]: rebuilds a database's MANIFEST from the tables and logs
//! found in its directory, keeping whatever is readable (LevelDB's
//! `RepairDB`). It reads logs (docs/format.md §3, §4) and tables (§6) and writes
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
//!    holding the key (docs/format.md §10.1), so for every two tables whose key
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

mod convert_logs;
mod find_files;
mod order_level0;
mod scan_tables;
mod table_writer;
mod write_manifest;

use std::path::{Path, PathBuf};

use lsmkit_base::filename::{lock_file_name, parse_file_name, FileType};
use lsmkit_base::fs::FileSystem;
use lsmkit_base::key::{InternalKeyComparator, SequenceNumber};
use lsmkit_base::{Error, Result};
use lsmkit_sstable::TableOptions;

use crate::db::Db;
use crate::options::Options;

/// The subdirectory of the database directory that receives the files a
/// repair sets aside.
pub const LOST_DIR_NAME: &str = "lost";

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

    /// The steps of the module comment, in order.
    fn run(mut self, names: &[String]) -> Result<RepairReport> {
        let files = self.find_files(names);
        // Before anything is changed: the comparator must be the one the
        // database was written with, as far as an old MANIFEST still says.
        self.check_recorded_comparator(&files.manifests)?;
        for path in &files.implausible {
            self.set_aside(path)?;
        }

        let mut found = Vec::new();
        for &number in &files.logs {
            found.extend(self.convert_log(number)?);
        }
        for (number, path) in files.tables {
            found.extend(self.scan_table(number, path)?);
        }
        let found = self.order_for_level0(found)?;
        self.write_manifest(&found, &files.manifests)?;
        Ok(self.report)
    }

    /// A fresh file number, past every file seen.
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
}
