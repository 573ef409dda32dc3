//! [`Db::checkpoint`]: an openable copy of a live database, taken while
//! writes go on — the consistent way to back a database up. The copy holds
//! the tables (hard-linked, or copied when linking fails), the live WALs
//! (docs/format.md §3) cut at one write group's boundary, and a fresh MANIFEST
//! and CURRENT (docs/format.md §10.1–§10.3) that describe exactly that state.
//!
//! # Why the copy is consistent
//!
//! The state a checkpoint captures is (current Version, live WALs, last
//! sequence), read at one instant. Two things could make that instant
//! inconsistent:
//!
//! - A write group's leader appends its WAL record *without* the database
//!   mutex and publishes the new last sequence only after the group's
//!   memtable inserts. Read while a group is in flight, the WAL would hold
//!   records past the last sequence (or a record cut in half).
//! - A flush installs a new Version and deletes the WALs it made obsolete.
//!
//! The capture therefore joins the writer queue as a *barrier*: it queues
//! an entry without a batch (a leader never takes such an entry into its
//! group, so it ends the group in front of it) and waits, under the mutex,
//! until that entry reaches the front of the queue. Every group queued
//! before it has then been fully published and none after it has started:
//! the active WAL's length is exactly the bytes of the writes numbered up
//! to the last sequence. Still under the mutex, and before leaving the
//! queue, the capture pins the current Version (its tables cannot be
//! deleted while it is held), opens every live WAL (the active one and
//! those of the immutable memtables still waiting for a flush) and notes
//! how many bytes of each to copy. Files opened before a flush deletes them
//! stay readable (an open handle outlives the name), so the slow part —
//! linking and copying — runs without the mutex while writes, flushes and
//! compactions go on.
//!
//! Writes made with `disable_wal` are in no WAL: they are in a checkpoint
//! only if a flush installed them before it was taken (call
//! [`Db::flush`](crate::Db::flush) first to include them).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use lsmkit_base::filename::{legacy_table_file_name, log_file_name, manifest_file_name, table_file_name};
use lsmkit_base::fs::{FileSystem, SequentialFile, WriteMode};
use lsmkit_base::key::SequenceNumber;
use lsmkit_base::{Error, Result};
use lsmkit_version::current_file::set_current_file;
use lsmkit_version::{FileMetaData, Version, VersionEdit, NUM_LEVELS};
use lsmkit_wal::LogWriter;

use crate::db::Db;
use crate::state::{DbShared, DbState};
use crate::write_queue::{with_thread_wakeup, WriteRequest};

/// Bytes moved per read when a file is copied.
const COPY_BUFFER_BYTES: usize = 64 << 10;

/// A live WAL as the capture found it.
struct CapturedLog {
    number: u64,
    path: PathBuf,
    /// Opened under the mutex: still readable if a flush deletes the file.
    file: Box<dyn SequentialFile>,
    /// Bytes to copy: the whole file for a finished WAL, the length at the
    /// capture for the active one.
    len: u64,
}

/// The state a checkpoint holds, read at one instant.
struct CapturedState {
    sequence: SequenceNumber,
    /// Pinned: none of its tables is deleted while this is held.
    version: Arc<Version>,
    compact_pointers: Vec<(usize, Vec<u8>)>,
    /// Above every file number of the database; becomes the checkpoint's
    /// MANIFEST number.
    next_file_number: u64,
    /// Oldest first.
    logs: Vec<CapturedLog>,
}

impl Db {
    /// Writes an openable copy of the database to `dir`, which must not
    /// exist yet, while reads and writes go on. Returns the sequence number
    /// it includes: opening the copy with [`Db::open`] gives exactly the
    /// writes numbered up to it, which include every write acknowledged
    /// before this call (except unflushed writes made with `disable_wal`).
    ///
    /// Tables are hard-linked when `dir` is on the same file system (and
    /// copied otherwise), so a checkpoint costs little space until the
    /// database compacts them away; the live WALs are copied, and a new
    /// MANIFEST and CURRENT are written. Every file and `dir` are synced
    /// before this returns. On failure, what was written to `dir` is
    /// removed.
    pub fn checkpoint(&self, dir: impl AsRef<Path>) -> Result<SequenceNumber> {
        let shared = self.shared();
        let dir = dir.as_ref();
        if shared.fs.exists(dir) {
            return Err(Error::InvalidArgument(format!(
                "{}: a checkpoint needs a directory that does not exist yet",
                dir.display()
            )));
        }
        let captured = shared.capture_for_checkpoint()?;
        shared.fs.create_dir_all(dir)?;
        let sequence = captured.sequence;
        match write_checkpoint(shared, dir, captured) {
            Ok(()) => Ok(sequence),
            Err(e) => {
                remove_partial_checkpoint(&*shared.fs, dir);
                Err(e)
            }
        }
    }
}

impl DbShared {
    /// Captures the checkpoint's state at a write-group boundary (see the
    /// module comment).
    fn capture_for_checkpoint(&self) -> Result<CapturedState> {
        let state = self.lock();
        if let Some(e) = &state.bg_error {
            return Err(e.clone());
        }
        // A barrier: a leader's group stops in front of it, and no other
        // writer acts on an entry that is not its own.
        let mut state = with_thread_wakeup(move |wakeup| {
            let mut state = state;
            let id = state.writers.push(WriteRequest::Barrier, Arc::clone(wakeup));
            while !state.writers.is_front(id) {
                state = self.wait(wakeup, state);
            }
            state
        });
        let captured = self.capture_locked(&state);
        state.writers.pop_front();
        captured
    }

    /// Reads the checkpoint's state; the caller holds the mutex and the
    /// front of the writer queue, so no write group is in flight.
    fn capture_locked(&self, state: &DbState) -> Result<CapturedState> {
        if let Some(e) = &state.bg_error {
            // A failed WAL write may have left part of a record behind.
            return Err(e.clone());
        }
        let Some(wal) = state.wal.as_ref() else {
            return Err(Error::InvalidArgument("the database has no open WAL".into()));
        };
        let mut logs = Vec::with_capacity(state.imms.len() + 1);
        for imm in &state.imms {
            // Finished: nothing is appended to it after its memtable was
            // switched out (it may still be unsynced, and may end in zeros
            // preallocated for syncs; the copy is read through the OS and
            // synced by the checkpoint itself).
            let path = log_file_name(&self.dir, imm.log_number);
            let file = self.fs.open_sequential(&path)?;
            let len = self.fs.file_size(&path)?;
            logs.push(CapturedLog { number: imm.log_number, path, file, len });
        }
        // The active WAL's writes are handed to the OS record by record, so
        // its first `file_len` bytes are readable now and are exactly the
        // records of the writes numbered up to the last sequence.
        let path = log_file_name(&self.dir, state.mem_log_number);
        let file = self.fs.open_sequential(&path)?;
        logs.push(CapturedLog { number: state.mem_log_number, path, file, len: wal.file_len() });
        Ok(CapturedState {
            sequence: state.versions.last_sequence(),
            version: state.versions.current(),
            compact_pointers: state
                .versions
                .compact_pointers()
                .iter()
                .map(|(level, key)| (level, key.to_vec()))
                .collect(),
            next_file_number: state.versions.next_file_number(),
            logs,
        })
    }
}

/// Links or copies the captured files into `dir`, then writes the MANIFEST
/// and, last, CURRENT (the copy is a database only once CURRENT exists).
fn write_checkpoint(shared: &DbShared, dir: &Path, captured: CapturedState) -> Result<()> {
    let fs = &*shared.fs;
    for level in 0..NUM_LEVELS {
        for file in captured.version.files(level) {
            link_or_copy_table(fs, &shared.dir, dir, file)?;
        }
    }
    let mut oldest_log = captured.next_file_number;
    for log in captured.logs {
        oldest_log = oldest_log.min(log.number);
        copy_prefix(fs, log.file, &log.path, &log_file_name(dir, log.number), log.len)?;
    }

    // One snapshot record, as at the start of every MANIFEST, carrying the
    // counters too. WALs from `oldest_log` on are replayed at open.
    let manifest_number = captured.next_file_number;
    let mut edit = VersionEdit::new();
    edit.set_comparator_name(shared.icmp.user_comparator().name());
    edit.set_log_number(oldest_log);
    edit.set_prev_log_number(0);
    edit.set_next_file_number(manifest_number + 1);
    edit.set_last_sequence(captured.sequence);
    for (level, key) in &captured.compact_pointers {
        edit.set_compact_pointer(*level, key);
    }
    for level in 0..NUM_LEVELS {
        for file in captured.version.files(level) {
            edit.add_file(level, FileMetaData::clone(file));
        }
    }
    let manifest = manifest_file_name(dir, manifest_number);
    let mut writer = LogWriter::new(fs.create_writable(&manifest, WriteMode::Buffered)?);
    writer.add_record(&edit.encode())?;
    writer.sync()?;
    writer.close()?;
    // Every name so far is durable before CURRENT can point at them.
    fs.sync_dir(dir)?;
    set_current_file(fs, dir, manifest_number)
}

/// Hard-links table `file` of `source_dir` into `target_dir` under the same
/// name (`.ldb`, or the legacy `.sst` if that is what exists); copies it
/// when the file system cannot link (another device, no link support).
fn link_or_copy_table(
    fs: &dyn FileSystem,
    source_dir: &Path,
    target_dir: &Path,
    file: &FileMetaData,
) -> Result<()> {
    let mut source = table_file_name(source_dir, file.number);
    let mut target = table_file_name(target_dir, file.number);
    if !fs.exists(&source) {
        let legacy = legacy_table_file_name(source_dir, file.number);
        if fs.exists(&legacy) {
            source = legacy;
            target = legacy_table_file_name(target_dir, file.number);
        }
    }
    if fs.hard_link(&source, &target).is_ok() {
        return Ok(());
    }
    // A real problem with the source (say, it is missing) shows up here.
    let input = fs.open_sequential(&source)?;
    copy_prefix(fs, input, &source, &target, file.file_size)
}

/// Copies the first `len` bytes of `input` (the file `source`) to a new,
/// synced file `target`.
fn copy_prefix(
    fs: &dyn FileSystem,
    mut input: Box<dyn SequentialFile>,
    source: &Path,
    target: &Path,
    len: u64,
) -> Result<()> {
    let mut output = fs.create_writable(target, WriteMode::Buffered)?;
    let mut buffer = vec![0u8; COPY_BUFFER_BYTES];
    let mut copied = 0u64;
    while copied < len {
        let want = (len - copied).min(buffer.len() as u64) as usize;
        let n = input.read(&mut buffer[..want])?;
        if n == 0 {
            return Err(Error::corruption_at(
                source,
                copied,
                format!("file ends before the {len} bytes the database expects"),
            ));
        }
        output.append(&buffer[..n])?;
        copied += n as u64;
    }
    output.sync()?;
    output.close()
}

/// Best effort: removes what a failed checkpoint wrote, and `dir` itself.
fn remove_partial_checkpoint(fs: &dyn FileSystem, dir: &Path) {
    if let Ok(names) = fs.list_dir(dir) {
        for name in names {
            let _ = fs.remove_file(&dir.join(name));
        }
    }
    let _ = fs.remove_dir(dir);
}
