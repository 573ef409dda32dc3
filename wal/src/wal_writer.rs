//! [`WalWriter`]: a write-ahead log file with a sync policy and an I/O mode
//! (LotusDB's design) on top of [`LogWriter`] (docs/format.md §3.2).
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
//! it is on storage first writes zeros after the log
//! ([`WritableFile::preallocate`]), and the syncs after it, whose records
//! overwrite the zeros in place, are data writes only. How far ahead is a
//! [`SyncPreallocation`]:
//!
//! - [`SyncPreallocation::PageTail`] (the default) fills the rest of the
//!   4 KiB page the log ends in. That page is written by the sync anyway, so
//!   the zeros cost no extra byte on storage, and the size changes once per
//!   page of log instead of once per sync: a stream of small synced writes
//!   pays the size commit about once every `4096 / record size` syncs, and
//!   writes exactly the pages LevelDB's log would.
//! - [`SyncPreallocation::Chunk`] writes a larger chunk of zeros (whole 32 KiB
//!   blocks): nearly every sync is data-only, at the cost of writing each
//!   chunk's zeros once (one extra byte written per byte of log).
//!
//! Nothing is preallocated for a writer that never syncs, nor, in chunk
//! mode, for a sync of more than a quarter of a chunk (big syncs gain little
//! and would write every byte twice). The zeros are unused space to every
//! reader of the log format, LevelDB 1.23's included (docs/format.md §3.3): a
//! reader skips from a zero header to the end of its 32 KiB block. A clean
//! close cuts the zeros off (so a closed log is byte for byte what it would
//! be without them); after a crash they stay, and recovery ends the log at
//! them. A writer that continues a log ([`WalWriter::from_file`]) whose end
//! could be such a zero tail starts a fresh block, so no reader skips its
//! records along with the zeros.
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

/// What a sync of a [`WalWriter`] in buffered mode writes ahead of the log
/// so that later syncs need not commit a new file size (see the module
/// documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncPreallocation {
    /// Nothing: every sync that grew the file commits its new size.
    Off,
    /// Zeros to the end of the 4 KiB page the log ends in: no extra bytes
    /// on storage, one size commit per page of log.
    #[default]
    PageTail,
    /// This many bytes of zeros (rounded up to whole 32 KiB blocks) past
    /// the block the log ends in: one size commit per chunk, each chunk's
    /// zeros written once. `Chunk(0)` is `Off`.
    Chunk(u64),
}

/// The page [`SyncPreallocation::PageTail`] fills to the end of.
const PAGE_SIZE: u64 = 4096;

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
    /// What a sync writes ahead of the log.
    preallocation: SyncPreallocation,
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
            wal.set_sync_preallocation(SyncPreallocation::Off);
        }
        Ok(wal)
    }

    /// A writer that continues the log in `file` (positioned at its end,
    /// e.g. from `FileSystem::open_appendable`); the bytes already there
    /// count as synced. Sync preallocation is on ([`SyncPreallocation::PageTail`]);
    /// a file that cannot preallocate (one from `open_appendable`) turns it
    /// off at the first sync.
    ///
    /// A log left by a crash may end in zeros a sync wrote ahead, up to a
    /// page boundary inside a block; records appended right after them would
    /// be skipped by readers along with the zeros. So when the file ends on
    /// a page boundary inside a block, the writer first pads that block with
    /// zeros and starts a fresh one (if that write fails, the first
    /// `add_record` reports it).
    pub fn from_file(
        file: Box<dyn WritableFile>,
        path: impl Into<PathBuf>,
        sync_policy: SyncPolicy,
    ) -> WalWriter {
        let existing_len = file.len();
        let mut log = LogWriter::new_with_offset(file, existing_len);
        if existing_len % PAGE_SIZE == 0 && log.block_offset() != 0 {
            log.start_new_block();
        }
        WalWriter {
            log,
            path: path.into(),
            sync_policy,
            synced_len: existing_len,
            preallocation: SyncPreallocation::default(),
            allocated: existing_len,
        }
    }

    /// A chunk size for [`SyncPreallocation::Chunk`]: 256 KiB.
    /// `cargo bench -p lsmkit-wal --bench sync_floor` puts 100-byte synced
    /// writes at the floor (an `fdatasync` into an already sized file) with
    /// any chunk from 64 KiB to 4 MiB, since the chunk's own write is shared
    /// by thousands of syncs.
    pub const DEFAULT_SYNC_PREALLOCATION_CHUNK: u64 = 256 << 10;

    /// Sets what a sync writes ahead of the log. Zeros already written stay
    /// until [`close`](Self::close).
    pub fn set_sync_preallocation(&mut self, preallocation: SyncPreallocation) {
        let block = BLOCK_SIZE as u64;
        self.preallocation = match preallocation {
            SyncPreallocation::Chunk(0) => SyncPreallocation::Off,
            SyncPreallocation::Chunk(chunk) => {
                SyncPreallocation::Chunk(chunk.div_ceil(block).saturating_mul(block))
            }
            other => other,
        };
    }

    /// What a sync writes ahead of the log.
    pub fn sync_preallocation(&self) -> SyncPreallocation {
        self.preallocation
    }

    /// The file's length on storage as far as this writer knows: the log
    /// plus the zeros preallocated after it (just [`file_len`](Self::file_len)
    /// when none are).
    pub fn allocated_len(&self) -> u64 {
        self.allocated.max(self.log.file_len())
    }

    /// Before a sync that would make bytes durable past the zeros written
    /// so far, writes zeros ahead (as [`SyncPreallocation`] says), so that
    /// this sync commits the file's new size and the ones after it, while
    /// they land in the zeros, only write data.
    fn preallocate_for_sync(&mut self) {
        let len = self.log.file_len();
        if len <= self.allocated {
            return;
        }
        let target = match self.preallocation {
            SyncPreallocation::Off => return,
            SyncPreallocation::PageTail => len.div_ceil(PAGE_SIZE).saturating_mul(PAGE_SIZE),
            SyncPreallocation::Chunk(chunk) => {
                if len - self.synced_len > chunk / 4 {
                    return;
                }
                let block = BLOCK_SIZE as u64;
                len.div_ceil(block).saturating_mul(block).saturating_add(chunk)
            }
        };
        if target <= len {
            return;
        }
        match self.log.preallocate(target) {
            Ok(allocated) if allocated > len => self.allocated = allocated,
            // The file cannot preallocate, or failed to (a full disk, say):
            // plain syncs from now on. Nothing is lost by that; the sync
            // itself reports any failure that matters to the records.
            _ => self.preallocation = SyncPreallocation::Off,
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
    /// and the file size needed to read them back), writing zeros ahead
    /// first if this sync would pass the ones written so far (see the
    /// module documentation).
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
