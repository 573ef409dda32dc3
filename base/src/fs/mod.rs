//! The file-system abstraction every lsmkit crate does its I/O through
//! (docs/architecture.md, "The contracts in base").
//!
//! Three implementations:
//! - [`StdFs`]: real files, positional reads, optional mmap for reads and
//!   writes (both guarded against `SIGBUS` by `mapped_read_guard`), `fcntl`
//!   locks compatible with LevelDB's;
//! - [`MemFs`]: everything in memory, for fast tests;
//! - [`FaultFs`]: wraps another file system, fails chosen operations and on
//!   [`FaultFs::crash`] throws away every byte that was not synced, the way a
//!   power cut would.

mod fault_fs;
mod mapped_read_guard;
mod mem_fs;
mod std_fs;

pub use fault_fs::{FaultFs, FaultOp, FaultRule};
pub use mapped_read_guard::{guarded_mappings, MAX_GUARDED_MAPPINGS};
pub use mem_fs::MemFs;
pub use std_fs::StdFs;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use crate::error::Result;

/// A file read from start to end (log and MANIFEST replay).
pub trait SequentialFile: Send {
    /// Reads up to `buf.len()` bytes; returns how many were read (0 at end of file).
    fn read(&mut self, buf: &mut [u8]) -> Result<usize>;
    /// Skips `n` bytes (past the end is allowed and leaves the file at its end).
    fn skip(&mut self, n: u64) -> Result<()>;
}

/// The bytes [`RandomAccessFile::read_with`] hands to its consumer.
#[derive(Debug)]
pub enum ReadView<'a> {
    /// A buffer the consumer may keep views of.
    Owned(Bytes),
    /// Bytes valid only during the call (the inside of a memory mapping):
    /// whatever the consumer keeps, it copies.
    Borrowed(&'a [u8]),
}

impl ReadView<'_> {
    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        match self {
            ReadView::Owned(bytes) => bytes,
            ReadView::Borrowed(slice) => slice,
        }
    }

    /// `range` of the bytes as a buffer that outlives the call: a view of
    /// an owned buffer, a copy of borrowed bytes.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use lsmkit_base::fs::ReadView;
    /// let owned = ReadView::Owned(Bytes::from_static(b"abcdef"));
    /// assert_eq!(&owned.to_bytes(1..3)[..], b"bc");
    /// let borrowed = ReadView::Borrowed(b"abcdef");
    /// assert_eq!(&borrowed.to_bytes(2..6)[..], b"cdef");
    /// ```
    pub fn to_bytes(&self, range: std::ops::Range<usize>) -> Bytes {
        match self {
            ReadView::Owned(bytes) => bytes.slice(range),
            ReadView::Borrowed(slice) => Bytes::copy_from_slice(&slice[range]),
        }
    }
}

/// A file read at arbitrary offsets by many threads at once (tables).
pub trait RandomAccessFile: Send + Sync {
    /// Reads up to `len` bytes at `offset`. Fewer bytes come back only at the
    /// end of the file. The returned buffer is the caller's: a
    /// memory-mapped implementation copies out of the mapping, so no buffer
    /// is a view of a page that can later fail.
    fn read_at(&self, offset: u64, len: usize) -> Result<Bytes>;
    /// Reads up to `len` bytes at `offset` (fewer only at the end of the
    /// file) and hands them to `consume`, which decodes what it needs
    /// (a table block: its checksum, a copy or a decompression).
    ///
    /// A memory-mapped file hands over the mapped bytes in place, without
    /// a copy, and afterwards checks that the pages read were really
    /// there: if not, the result is its `Error::Io`, whatever `consume`
    /// returned (it may have seen zeros). The default reads with
    /// [`read_at`](Self::read_at) and hands over that buffer.
    ///
    /// ```
    /// use std::path::Path;
    /// use lsmkit_base::fs::{write_file, FileSystem, MemFs, ReadMode};
    /// let fs = MemFs::new();
    /// write_file(&fs, Path::new("/t"), b"hello world", false).unwrap();
    /// let file = fs.open_random_access(Path::new("/t"), ReadMode::Mmap).unwrap();
    /// let mut vowels = 0;
    /// file.read_with(0, 5, &mut |view| {
    ///     vowels = view.as_slice().iter().filter(|b| b"aeiou".contains(b)).count();
    ///     Ok(())
    /// })
    /// .unwrap();
    /// assert_eq!(vowels, 2);
    /// ```
    fn read_with(
        &self,
        offset: u64,
        len: usize,
        consume: &mut dyn FnMut(ReadView<'_>) -> Result<()>,
    ) -> Result<()> {
        consume(ReadView::Owned(self.read_at(offset, len)?))
    }
    /// True when [`read_with`](Self::read_with) lends bytes already in
    /// memory (a mapping) instead of making a system call, so reading
    /// ahead saves nothing. False by default.
    fn reads_in_place(&self) -> bool {
        false
    }
    /// The file's length in bytes when it was opened.
    fn len(&self) -> u64;
    /// True when the file is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A file written sequentially from its current end.
pub trait WritableFile: Send {
    /// Appends `data`. It may stay in a user-space buffer until [`flush`](Self::flush).
    fn append(&mut self, data: &[u8]) -> Result<()>;
    /// Hands buffered bytes to the operating system (no durability promise).
    fn flush(&mut self) -> Result<()>;
    /// Makes every appended byte durable (fdatasync / msync).
    fn sync(&mut self) -> Result<()>;
    /// Flushes and closes the file; later calls fail. Dropping without
    /// `close` flushes on a best-effort basis.
    fn close(&mut self) -> Result<()>;
    /// Bytes appended so far, counting from the start of the file.
    fn len(&self) -> u64;
    /// True when nothing has been written.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Writes zero bytes after the appended ones so that the file is at
    /// least `len` bytes long on storage, without changing [`len`](Self::len):
    /// later appends overwrite the zeros in place.
    ///
    /// The zeros are written like data (allocated blocks, not a hole or an
    /// unwritten extent) and become durable with the next
    /// [`sync`](Self::sync); after that, a sync of appends that stay inside
    /// them changes neither the file's size nor its block map, so it costs
    /// a data write only. [`close`](Self::close) cuts the file back to
    /// `len()`; after a crash the zeros may remain, so this is only for
    /// formats whose readers take zero-filled space as unused (the log
    /// format, docs/format.md §3.3).
    ///
    /// Returns the file's length on storage afterwards (at least `len()`).
    /// A file that cannot do this (one opened with `open_appendable`, a
    /// memory-mapped one, or a wrapper that does not forward the call) does
    /// nothing and returns `len()`; that is the default.
    fn preallocate(&mut self, len: u64) -> Result<u64> {
        let _ = len;
        Ok(self.len())
    }
}

/// A held lock on a file; dropping it releases the lock.
pub trait FileLock: Send + Sync + std::fmt::Debug {}

/// How a writable file moves bytes to storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteMode {
    /// Ordinary `write(2)` through a user-space buffer.
    #[default]
    Buffered,
    /// A memory mapping that grows in preallocated chunks of this many bytes.
    /// The unused tail of the last chunk reads as zeros until the file is
    /// closed, when the file is truncated to its written length. A file
    /// system without mmap support falls back to `Buffered`.
    ///
    /// Each chunk's mapping is guarded against `SIGBUS` like a
    /// [`ReadMode::Mmap`] mapping: a store into a page the kernel cannot
    /// provide (the file was truncated behind the writer, a disk error)
    /// makes that append, and every later call on the file, return
    /// `Error::Io` naming the file and the offset, instead of killing the
    /// process. A chunk created while [`MAX_GUARDED_MAPPINGS`] mappings are
    /// live is written with `pwrite(2)` instead, into the same preallocated
    /// layout.
    Mmap {
        /// Bytes added to the file (and mapped) each time it fills up.
        chunk_size: usize,
    },
}

/// How a random-access file is read (default [`ReadMode::Mmap`], as
/// LevelDB 1.23 reads table files).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadMode {
    /// `pread(2)` into a fresh buffer for every read.
    Positional,
    /// A read-only memory mapping, guarded against `SIGBUS`: a page that
    /// cannot be read (a truncated file, a disk error) makes that read and
    /// every later read of the file return `Error::Io` instead of killing
    /// the process. Reads copy or decode the bytes out of the mapping
    /// before checking for such a failure, so no buffer is ever a view of
    /// the mapping. At most [`MAX_GUARDED_MAPPINGS`] files are mapped at
    /// once in a process; a file beyond that, an empty file, or a file
    /// system without mmap support is read `Positional`ly. The default:
    /// a block is decoded straight out of the page cache, with no system
    /// call (docs/benchmarks.md, "Table reads").
    #[default]
    Mmap,
}

/// A file system: the only way lsmkit touches storage.
pub trait FileSystem: Send + Sync + std::fmt::Debug {
    /// Opens an existing file for sequential reading.
    fn open_sequential(&self, path: &Path) -> Result<Box<dyn SequentialFile>>;
    /// Opens an existing file for reads at arbitrary offsets.
    fn open_random_access(&self, path: &Path, mode: ReadMode) -> Result<Arc<dyn RandomAccessFile>>;
    /// Creates `path` (truncating an existing file) for writing.
    fn create_writable(&self, path: &Path, mode: WriteMode) -> Result<Box<dyn WritableFile>>;
    /// Opens `path` for appending at its end, creating it if missing.
    fn open_appendable(&self, path: &Path) -> Result<Box<dyn WritableFile>>;
    /// True if `path` names an existing file or directory.
    fn exists(&self, path: &Path) -> bool;
    /// The names (not paths) of the entries of directory `dir`, in no particular order.
    fn list_dir(&self, dir: &Path) -> Result<Vec<String>>;
    /// Removes a file.
    fn remove_file(&self, path: &Path) -> Result<()>;
    /// Creates a directory and its missing parents; an existing one is fine.
    fn create_dir_all(&self, dir: &Path) -> Result<()>;
    /// Removes an empty directory.
    fn remove_dir(&self, dir: &Path) -> Result<()>;
    /// Atomically renames `from` to `to`, replacing `to` if it exists.
    fn rename(&self, from: &Path, to: &Path) -> Result<()>;
    /// Creates `to` as a hard link to `from` (used by checkpoints); a file
    /// system that cannot returns `NotSupported` and the caller copies.
    fn hard_link(&self, from: &Path, to: &Path) -> Result<()>;
    /// The size of a file in bytes.
    fn file_size(&self, path: &Path) -> Result<u64>;
    /// Makes the directory's entries (creations, renames, removals) durable.
    fn sync_dir(&self, dir: &Path) -> Result<()>;
    /// Takes an exclusive lock on `path`, creating it if missing. A lock held
    /// by anyone else (another process, or this process through another
    /// call) gives `Error::Busy`.
    fn lock_file(&self, path: &Path) -> Result<Box<dyn FileLock>>;
}

/// Reads a whole file into memory through `fs`.
pub fn read_file_to_vec(fs: &dyn FileSystem, path: &Path) -> Result<Vec<u8>> {
    let mut file = fs.open_sequential(path)?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// Writes `data` to `path` through `fs`, optionally syncing it.
pub fn write_file(fs: &dyn FileSystem, path: &Path, data: &[u8], sync: bool) -> Result<()> {
    let mut file = fs.create_writable(path, WriteMode::Buffered)?;
    file.append(data)?;
    if sync {
        file.sync()?;
    }
    file.close()
}

/// The directory that holds `path` ("." for a bare name).
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// `path` with `.` components dropped and `..` applied to the part before it,
/// without asking the OS (so it works for paths that do not exist yet). An
/// empty relative path means the current directory.
pub(crate) fn normalize_path(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if matches!(out.components().next_back(), Some(Component::Normal(_))) {
                    out.pop();
                } else if !out.has_root() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}
