//! [`WalWriter`]: a write-ahead log file with a sync policy and an I/O mode
//! (LotusDB's design) on top of [`LogWriter`] (FORMAT.md §3.2).
//!
//! Both I/O modes produce the same bytes; mmap mode only changes how they
//! reach the file (a mapping grown in preallocated zero chunks, cut to the
//! written length on a clean close).

use std::path::{Path, PathBuf};

use lsmkit_base::fs::{parent_dir, FileSystem, WritableFile, WriteMode};
use lsmkit_base::Result;

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
#[derive(Debug)]
pub struct WalWriter {
    log: LogWriter,
    path: PathBuf,
    sync_policy: SyncPolicy,
    /// File length at the last successful sync.
    synced_len: u64,
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
        Ok(WalWriter::from_file(file, path, options.sync_policy))
    }

    /// A writer that continues the log in `file` (positioned at its end,
    /// e.g. from `FileSystem::open_appendable`); the bytes already there
    /// count as synced.
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

    /// Makes every record added so far durable.
    pub fn sync(&mut self) -> Result<()> {
        self.log.sync()?;
        self.synced_len = self.log.file_len();
        Ok(())
    }

    /// Closes the file (in mmap mode it is cut to its written length).
    /// Does not sync: call [`sync`](Self::sync) first for durability.
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
