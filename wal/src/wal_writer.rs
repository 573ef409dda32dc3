//! [`WalWriter`]: a write-ahead log file with a sync policy and an I/O mode
//! (LotusDB's design) on top of [`LogWriter`] (FORMAT.md §3.2).
//!
//! Both I/O modes produce the same bytes; mmap mode only changes how they
//! reach the file (a mapping grown in preallocated zero chunks, cut to the
//! written length on a clean close).
//!
//! # Cheap syncs: zeros written ahead
//!
//! An `fdatasync` that also has to commit a new file size (a journal commit
//! on ext4) costs about twice one that only writes data. So in buffered
//! mode, a sync that would make bytes durable past the end of the file as
//! it is on storage first writes a chunk of zeros after the log
//! ([`WritableFile::preallocate`]); that sync commits the new size once,
//! and the syncs after it, whose records overwrite the zeros in place, are
//! data writes only. Nothing is preallocated for a writer that never syncs,
//! nor for a sync of more than a quarter of a chunk (big syncs gain little
//! and would write every byte twice). The zeros are unused space to every
//! reader of the log format, LevelDB 1.23's included (FORMAT.md §3.3); the
//! chunk ends on a 32 KiB block boundary, so even a writer that appends
//! after a leftover zero tail starts a fresh block. A clean close cuts the
//! zeros off (so a closed log is byte for byte what it would be without
//! them); after a crash they stay, and recovery ends the log at them.
//!
//! Durability is unchanged: a sync is still an `fdatasync` of everything
//! written, records and size alike. One thing differs after a real power
//! cut: a record whose sync was in progress may be left half written with
//! zeros after it (without preallocation it would usually just be missing).
//! The reader then drops it as a damaged last record, which every recovery
//! mode except `AbsoluteConsistency` tolerates at the end of a log; no
//! record whose sync returned is affected.

use std::path::{Path, PathBuf};

use lsmkit_base::fs::{parent_dir, FileSystem, WritableFile, WriteMode};
use lsmkit_base::Result;

use crate::log_format::BLOCK_SIZE;
use crate::log_writer::LogWriter;
use crate::write_batch::WriteBatch;

/// When a [`WalWriter`] makes its records durable by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncPolicy {
    /// Sync after every record: a record is durable when `add_record` returns.
    EveryWrite,
    /// Sync after a record once at least this many bytes (file bytes,
    /// headers included) were written since the last sync. `EveryBytes(0)`
    /// is `EveryWrite`.
    EveryBytes(u64),
    /// Never sync by itself: records reach the OS after each write and
    /// become durable when the OS writes them back, or at a manual
    /// [`WalWriter::sync`].
    #[default]
    Os,
}

/// How a [`WalWriter`] moves bytes to its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WalIoMode {
    /// Ordinary writes through a user-space buffer, flushed after each record.
    #[default]
    Buffered,
    /// Stores into a memory mapping that grows `chunk_size` bytes at a time.
    /// Until a clean close, the file's unused tail is zeros, which readers
    /// take as the end of the log.
    Mmap {
        /// Bytes added to the file (and mapped) each time it fills up.
        chunk_size: usize,
    },
}

impl WalIoMode {
    /// The chunk size [`WalIoMode::mmap`] uses: 4 MiB.
    pub const DEFAULT_MMAP_CHUNK_SIZE: usize = 4 << 20;

    /// Mmap mode with the default chunk size.
    pub fn mmap() -> WalIoMode {
        WalIoMode::Mmap { chunk_size: WalIoMode::DEFAULT_MMAP_CHUNK_SIZE }
    }

    /// The file-system write mode that implements this I/O mode.
    pub fn write_mode(self) -> WriteMode {
        match self {
            WalIoMode::Buffered => WriteMode::Buffered,
            WalIoMode::Mmap { chunk_size } => WriteMode::Mmap { chunk_size },
        }
    }
}

/// Options of a [`WalWriter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WalOptions {
    /// When records are synced without being asked.
    pub sync_policy: SyncPolicy,
    /// How bytes reach the file.
    pub io_mode: WalIoMode,
}

/// A write-ahead log file being written: LevelDB's log format, a
/// [`SyncPolicy`] and a [`WalIoMode`].
///
/// In buffered mode, syncs preallocate zeros ahead of the log (see the
/// module documentation); [`set_sync_preallocation`](Self::set_sync_preallocation)
/// changes the chunk size or turns that off.
#[derive(Debug)]
pub struct WalWriter {
    log: LogWriter,
    path: PathBuf,
    sync_policy: SyncPolicy,
    /// File length at the last successful sync.
    synced_len: u64,
    /// Bytes of zeros written ahead at a time before a sync (0: never).
    preallocation_chunk: u64,
    /// The file's length on storage: records plus preallocated zeros.
    allocated: u64,
}

impl WalWriter {
    /// Creates (or truncates) the log file `path` on `fs`.
    ///
    /// Under [`SyncPolicy::EveryWrite`] and [`SyncPolicy::EveryBytes`] the
    /// parent directory is synced once here, so that the file's name is as
    /// durable as the records the policy promises; under [`SyncPolicy::Os`]
    /// that is left to the caller.
    pub fn create(fs: &dyn FileSystem, path: &Path, options: WalOptions) -> Result<WalWriter> {
        let file = fs.create_writable(path, options.io_mode.write_mode())?;
        if options.sync_policy != SyncPolicy::Os {
            fs.sync_dir(&parent_dir(path))?;
        }
        let mut wal = WalWriter::from_file(file, path, options.sync_policy);
        if options.io_mode != WalIoMode::Buffered {
            // The mapping already grows in its own zero chunks.
            wal.set_sync_preallocation(0);
        }
        Ok(wal)
    }

    /// A writer that continues the log in `file` (positioned at its end,
    /// e.g. from `FileSystem::open_appendable`); the bytes already there
    /// count as synced. Sync preallocation is on with the default chunk; a
    /// file that cannot preallocate (one from `open_appendable`) turns it
    /// off at the first sync.
    pub fn from_file(
        file: Box<dyn WritableFile>,
        path: impl Into<PathBuf>,
        sync_policy: SyncPolicy,
    ) -> WalWriter {
        let existing_len = file.len();
        WalWriter {
            log: LogWriter::new_with_offset(file, existing_len),
            path: path.into(),
            sync_policy,
            synced_len: existing_len,
            preallocation_chunk: Self::DEFAULT_SYNC_PREALLOCATION,
            allocated: existing_len,
        }
    }

    /// The default chunk of zeros written ahead of the log before a sync:
    /// 256 KiB. `cargo bench -p lsmkit-wal --bench sync_floor` puts 100-byte
    /// synced writes at the floor (an `fdatasync` into an already sized
    /// file) with any chunk from 64 KiB to 4 MiB, since the chunk's own
    /// write is shared by thousands of syncs; a smaller chunk makes the
    /// one slow sync per chunk shorter and leaves less unused space after a
    /// crash, a larger one lets bigger syncs (up to a quarter of a chunk,
    /// e.g. group commits) skip the size change.
    pub const DEFAULT_SYNC_PREALLOCATION: u64 = 256 << 10;

    /// Sets how many bytes of zeros a sync writes ahead of the log (rounded
    /// up to whole 32 KiB blocks); 0 turns preallocation off. Zeros already
    /// written stay until [`close`](Self::close).
    pub fn set_sync_preallocation(&mut self, chunk: u64) {
        let block = BLOCK_SIZE as u64;
        self.preallocation_chunk = chunk.div_ceil(block).saturating_mul(block);
    }

    /// The sync preallocation chunk in bytes (0: off).
    pub fn sync_preallocation(&self) -> u64 {
        self.preallocation_chunk
    }

    /// The file's length on storage as far as this writer knows: the log
    /// plus the zeros preallocated after it (just [`file_len`](Self::file_len)
    /// when none are).
    pub fn allocated_len(&self) -> u64 {
        self.allocated.max(self.log.file_len())
    }

    /// Before a sync that would make bytes durable past the zeros written
    /// so far, writes the next chunk of zeros, so that this sync commits the
    /// file's new size once and the ones after it only write data.
    fn preallocate_for_sync(&mut self) {
        let chunk = self.preallocation_chunk;
        let len = self.log.file_len();
        if chunk == 0 || len <= self.allocated || len - self.synced_len > chunk / 4 {
            return;
        }
        let block = BLOCK_SIZE as u64;
        let target = len.div_ceil(block).saturating_mul(block).saturating_add(chunk);
        match self.log.preallocate(target) {
            Ok(allocated) if allocated > len => self.allocated = allocated,
            // The file cannot preallocate, or failed to (a full disk, say):
            // plain syncs from now on. Nothing is lost by that; the sync
            // itself reports any failure that matters to the records.
            _ => self.preallocation_chunk = 0,
        }
    }

    /// Appends one record and syncs if the policy says so.
    pub fn add_record(&mut self, record: &[u8]) -> Result<()> {
        self.log.add_record(record)?;
        let unsynced = self.log.file_len() - self.synced_len;
        let due = match self.sync_policy {
            SyncPolicy::EveryWrite => true,
            SyncPolicy::EveryBytes(threshold) => unsynced >= threshold,
            SyncPolicy::Os => false,
        };
        if due {
            self.sync()?;
        }
        Ok(())
    }

    /// Appends the encoded `batch` as one record.
    pub fn add_batch(&mut self, batch: &WriteBatch) -> Result<()> {
        self.add_record(batch.data())
    }

    /// Makes every record added so far durable (`fdatasync`: the records
    /// and the file size needed to read them back), preallocating zeros
    /// first if this sync would pass them (see the module documentation).
    pub fn sync(&mut self) -> Result<()> {
        self.preallocate_for_sync();
        self.log.sync()?;
        self.synced_len = self.log.file_len();
        Ok(())
    }

    /// Closes the file, cutting off preallocated zeros (in either mode the
    /// file is left at its written length). Does not sync: call
    /// [`sync`](Self::sync) first for durability.
    pub fn close(&mut self) -> Result<()> {
        self.log.close()
    }

    /// Bytes written to the log so far.
    pub fn file_len(&self) -> u64 {
        self.log.file_len()
    }

    /// Bytes known to be durable (the file length at the last sync).
    pub fn synced_len(&self) -> u64 {
        self.synced_len
    }

    /// The log file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The sync policy.
    pub fn sync_policy(&self) -> SyncPolicy {
        self.sync_policy
    }
}
