//! [`StdFs`]: the file system on real files (docs/architecture.md, "The contracts in base").
//!
//! Reads go through `pread(2)` or a read-only memory mapping, writes through a
//! 64 KiB user-space buffer (optionally ahead of zeros preallocated for cheap
//! syncs) or a memory mapping grown in chunks, and the
//! database lock is an `fcntl` record lock taken exactly as LevelDB's
//! `env_posix` takes it, so a LevelDB process and an lsmkit process keep each
//! other out of the same directory.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use memmap2::{Mmap, MmapMut, MmapOptions};

use super::mapped_read_guard::{Access, Registration};
use super::{
    parent_dir, FileLock, FileSystem, RandomAccessFile, ReadMode, ReadView, SequentialFile, WritableFile,
    WriteMode,
};
use crate::error::{Error, Result};

/// Size of the user-space buffer of a buffered writable file.
const WRITE_BUFFER_SIZE: usize = 64 * 1024;
/// Size of the read buffer of a sequential file.
const READ_BUFFER_SIZE: usize = 64 * 1024;

/// The file system on real files.
///
/// - [`ReadMode::Positional`] reads with `pread(2)` into a fresh buffer;
///   [`ReadMode::Mmap`] maps the file read-only and registers the mapping
///   with the `SIGBUS` guard (mapped_read_guard.rs); reads copy or decode
///   the bytes out of the mapping, and a page that cannot be read (a
///   truncated file, a disk error) becomes `Error::Io` for that read and
///   every later one. An empty file, or one opened while
///   [`MAX_GUARDED_MAPPINGS`](super::MAX_GUARDED_MAPPINGS) mappings are
///   live, is read positionally instead.
/// - [`WriteMode::Buffered`] collects appends in a 64 KiB buffer and can
///   [preallocate](WritableFile::preallocate) written zeros ahead of them;
///   [`WriteMode::Mmap`] grows the file `chunk_size` bytes at a time, maps the
///   new chunk writable, registers it with the same `SIGBUS` guard, and
///   copies appends into it (a chunk made while the guard is full is
///   written with `pwrite(2)` instead); a store the kernel cannot back
///   becomes `Error::Io` for that append and every later call on the file.
///   `close` (or drop) truncates the file to the bytes written.
/// - [`FileSystem::lock_file`] takes an `fcntl(F_SETLK, F_WRLCK)` lock on the
///   whole file, like LevelDB, and also remembers the locked path in a
///   process-wide set, because `fcntl` locks do not exclude the process that
///   holds them.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdFs;

impl StdFs {
    /// The real file system.
    pub fn new() -> StdFs {
        StdFs
    }
}

/// An error for a call on a file handle that was already closed.
fn closed_error(op: &'static str, path: &Path) -> Error {
    Error::io(op, path, io::Error::other("file is already closed"))
}

impl FileSystem for StdFs {
    fn open_sequential(&self, path: &Path) -> Result<Box<dyn SequentialFile>> {
        let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
        Ok(Box::new(StdSequentialFile {
            path: path.to_path_buf(),
            reader: BufReader::with_capacity(READ_BUFFER_SIZE, file),
        }))
    }

    fn open_random_access(&self, path: &Path, mode: ReadMode) -> Result<Arc<dyn RandomAccessFile>> {
        let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
        let len = file.metadata().map_err(|e| Error::io("stat", path, e))?.len();
        if mode == ReadMode::Mmap && len > 0 {
            if let Some(mapped) = StdMmapFile::open(path, &file, len)? {
                return Ok(Arc::new(mapped));
            }
        }
        Ok(Arc::new(StdPositionalFile { path: path.to_path_buf(), file, len }))
    }

    fn create_writable(&self, path: &Path, mode: WriteMode) -> Result<Box<dyn WritableFile>> {
        if let WriteMode::Mmap { chunk_size: 0 } = mode {
            return Err(Error::InvalidArgument("mmap write chunk_size must be positive".into()));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(|e| Error::io("create", path, e))?;
        match mode {
            WriteMode::Buffered => Ok(Box::new(StdBufferedFile::new(path, file, 0, false))),
            WriteMode::Mmap { chunk_size } => {
                Ok(Box::new(StdMmapWritableFile::new(path, file, chunk_size as u64)))
            }
        }
    }

    fn open_appendable(&self, path: &Path) -> Result<Box<dyn WritableFile>> {
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| Error::io("open", path, e))?;
        let len = file.metadata().map_err(|e| Error::io("stat", path, e))?.len();
        Ok(Box::new(StdBufferedFile::new(path, file, len, true)))
    }

    fn exists(&self, path: &Path) -> bool {
        path.try_exists().unwrap_or(false)
    }

    fn list_dir(&self, dir: &Path) -> Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| Error::io("list", dir, e))? {
            let entry = entry.map_err(|e| Error::io("list", dir, e))?;
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        Ok(names)
    }

    fn remove_file(&self, path: &Path) -> Result<()> {
        std::fs::remove_file(path).map_err(|e| Error::io("remove", path, e))
    }

    fn create_dir_all(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create_dir", dir, e))
    }

    fn remove_dir(&self, dir: &Path) -> Result<()> {
        std::fs::remove_dir(dir).map_err(|e| Error::io("remove_dir", dir, e))
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        std::fs::rename(from, to).map_err(|e| Error::io("rename", from, e))
    }

    fn hard_link(&self, from: &Path, to: &Path) -> Result<()> {
        std::fs::hard_link(from, to).map_err(|e| Error::io("link", to, e))
    }

    fn file_size(&self, path: &Path) -> Result<u64> {
        Ok(std::fs::metadata(path).map_err(|e| Error::io("stat", path, e))?.len())
    }

    fn sync_dir(&self, dir: &Path) -> Result<()> {
        let handle = File::open(dir).map_err(|e| Error::io("open_dir", dir, e))?;
        handle.sync_all().map_err(|e| Error::io("sync_dir", dir, e))
    }

    fn lock_file(&self, path: &Path) -> Result<Box<dyn FileLock>> {
        Ok(Box::new(StdFileLock::acquire(path)?))
    }
}

/// A file read front to back through a read buffer.
struct StdSequentialFile {
    path: PathBuf,
    reader: BufReader<File>,
}

impl SequentialFile for StdSequentialFile {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize> {
        loop {
            match self.reader.read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io("read", &self.path, e)),
            }
        }
    }

    fn skip(&mut self, n: u64) -> Result<()> {
        let here = self.reader.stream_position().map_err(|e| Error::io("seek", &self.path, e))?;
        let len = self.reader.get_ref().metadata().map_err(|e| Error::io("stat", &self.path, e))?.len();
        // Seeking past the end is allowed by the OS, but the contract says the
        // file is then at its end; clamping also keeps the offset in range.
        let target = here.saturating_add(n).min(len.max(here));
        self.reader.seek(SeekFrom::Start(target)).map_err(|e| Error::io("seek", &self.path, e))?;
        Ok(())
    }
}

/// A random-access file read with `pread(2)`.
struct StdPositionalFile {
    path: PathBuf,
    file: File,
    len: u64,
}

impl RandomAccessFile for StdPositionalFile {
    /// One `pread(2)` (more only after a short read or `EINTR`) straight
    /// into the buffer the returned bytes live in: no zero-filling and no
    /// copy.
    fn read_at(&self, offset: u64, len: usize) -> Result<Bytes> {
        // Never allocate past the end: `len` often comes from untrusted bytes.
        let available = self.len.saturating_sub(offset);
        let want = usize::try_from(available).map_or(len, |available| available.min(len));
        let mut buf: Vec<u8> = Vec::with_capacity(want);
        let fd = self.file.as_raw_fd();
        while buf.len() < want {
            let filled = buf.len();
            let Ok(at) = libc::off_t::try_from(offset + filled as u64) else {
                break;
            };
            let spare = &mut buf.spare_capacity_mut()[..want - filled];
            // SAFETY: `spare` is writable, uninitialized memory owned by
            // `buf` and exactly `spare.len()` bytes long; pread writes at
            // most that many bytes into it and reads nothing from it.
            let n = unsafe { libc::pread(fd, spare.as_mut_ptr().cast(), spare.len(), at) };
            match n {
                0 => break,
                n if n > 0 => {
                    // SAFETY: pread initialized the first `n` (<= spare.len())
                    // bytes after `filled`, so `filled + n` bytes are initialized.
                    unsafe { buf.set_len(filled + n as usize) };
                }
                _ => {
                    let e = io::Error::last_os_error();
                    if e.kind() != io::ErrorKind::Interrupted {
                        return Err(Error::io("read", &self.path, e));
                    }
                }
            }
        }
        Ok(Bytes::from(buf))
    }

    fn len(&self) -> u64 {
        self.len
    }
}

/// A random-access file read through a read-only memory mapping registered
/// with the `SIGBUS` guard (mapped_read_guard.rs).
///
/// No read returns a view of the mapping: [`read_at`](RandomAccessFile::read_at)
/// copies, [`read_with`](RandomAccessFile::read_with) lets its consumer
/// decode the mapped bytes in place. Both then ask the guard whether a page
/// of the mapping failed; if one did, the read (and every later one) is an
/// `Error::Io` naming the file and the offsets.
struct StdMmapFile {
    path: PathBuf,
    /// Dropped before `map` (fields drop in declaration order): the slot is
    /// freed before the pages are unmapped.
    registration: Registration,
    map: Mmap,
}

impl StdMmapFile {
    /// Maps `file` (`len` bytes, more than zero) and registers the mapping;
    /// `None` when the guard has no free slot (the caller reads positionally).
    fn open(path: &Path, file: &File, len: u64) -> Result<Option<StdMmapFile>> {
        let map_len = usize::try_from(len).map_err(|_| {
            Error::io("mmap", path, io::Error::new(io::ErrorKind::InvalidInput, "file too large to map"))
        })?;
        // SAFETY: the mapping is read-only and private to this handle, and
        // it is registered with the SIGBUS guard before any read: if the
        // file shrinks or a page cannot be read, the guard replaces the
        // page with zeros and marks the mapping failed, and every read
        // checks that mark after it has copied or decoded the bytes, so
        // no caller ever holds a reference into the mapping. Bytes that
        // change under a read (another process writing the file) give
        // wrong data at worst, which the block checksums catch; lsmkit
        // itself never changes a table file once written.
        let map =
            unsafe { MmapOptions::new().len(map_len).map(file) }.map_err(|e| Error::io("mmap", path, e))?;
        let Some(registration) = Registration::new(map.as_ptr(), map.len(), Access::ReadOnly) else {
            return Ok(None);
        };
        Ok(Some(StdMmapFile { path: path.to_path_buf(), registration, map }))
    }

    /// The part of the mapping a read of `len` bytes at `offset` covers.
    fn range(&self, offset: u64, len: usize) -> &[u8] {
        let total = self.map.len();
        let start = usize::try_from(offset).map_or(total, |offset| offset.min(total));
        let end = start + len.min(total - start);
        &self.map[start..end]
    }

    /// The error for a read at `offset` once the guard saw a page of the
    /// mapping fail; `Ok` otherwise.
    fn check(&self, offset: u64) -> Result<()> {
        match self.registration.failure() {
            None => Ok(()),
            Some(page) => Err(Error::io(
                "read",
                &self.path,
                io::Error::other(format!(
                    "memory-mapped read at offset {offset} failed: the page holding offset {page} could not be \
                     read (SIGBUS: the file was truncated or the device reported an I/O error); every \
                     read of this open file fails from now on"
                )),
            )),
        }
    }
}

impl RandomAccessFile for StdMmapFile {
    fn read_at(&self, offset: u64, len: usize) -> Result<Bytes> {
        let bytes = Bytes::copy_from_slice(self.range(offset, len));
        self.check(offset)?;
        Ok(bytes)
    }

    fn read_with(
        &self,
        offset: u64,
        len: usize,
        consume: &mut dyn FnMut(ReadView<'_>) -> Result<()>,
    ) -> Result<()> {
        let result = consume(ReadView::Borrowed(self.range(offset, len)));
        // Checked after the bytes were used: a failed page reads as zeros,
        // which `consume` may have taken for a bad block; the I/O error is
        // the truth.
        self.check(offset)?;
        result
    }

    fn reads_in_place(&self) -> bool {
        true
    }

    fn len(&self) -> u64 {
        self.map.len() as u64
    }
}

/// Zeros for [`WritableFile::preallocate`], written one 4 KiB page per
/// `pwrite(2)`. The page cache sizes a new folio after the write that
/// creates it (ext4 on Linux 6.x has large folios): zeros written 64 KiB at
/// a time become 64 KiB folios, and every later sync of a 100-byte append
/// into one writes the whole folio back (16 times the bytes, measured by
/// `cargo bench -p lsmkit-wal --bench sync_floor`). Page-sized writes keep
/// syncs at one page.
static ZEROS: [u8; 4096] = [0; 4096];

/// A writable file with a 64 KiB user-space buffer in front of `write(2)`.
///
/// [`WritableFile::preallocate`] writes zeros with `pwrite(2)` after the
/// appended bytes; appends keep going through the file position, so they
/// overwrite those zeros in place. A file from `open_appendable` is opened
/// with `O_APPEND`, where every write lands at the end of the file, after
/// any zeros: it does not preallocate.
struct StdBufferedFile {
    path: PathBuf,
    /// `None` once closed.
    file: Option<File>,
    buf: Vec<u8>,
    /// Bytes in the file plus bytes in `buf`.
    len: u64,
    /// Opened with `O_APPEND` (no preallocation).
    append_only: bool,
    /// Length the file may have on storage because of zeros written by
    /// `preallocate` (an upper bound: set before the zeros are written).
    /// When it exceeds `len`, closing cuts the file back to `len`.
    allocated: u64,
}

impl StdBufferedFile {
    fn new(path: &Path, file: File, len: u64, append_only: bool) -> StdBufferedFile {
        StdBufferedFile {
            path: path.to_path_buf(),
            file: Some(file),
            buf: Vec::with_capacity(WRITE_BUFFER_SIZE),
            len,
            append_only,
            allocated: len,
        }
    }

    /// Writes the buffer, then cuts off the preallocated zeros not
    /// overwritten by appends.
    fn finish(&mut self) -> Result<()> {
        let written = self.write_buffer("close");
        let Some(file) = self.file.as_ref() else {
            return written;
        };
        if self.allocated > self.len {
            // Even after a failed write: the zeros must not outlive the handle.
            file.set_len(self.len).map_err(|e| Error::io("truncate", &self.path, e))?;
            self.allocated = self.len;
        }
        written
    }

    /// Writes the buffer to the OS. The buffer is emptied even on error: the
    /// file is then in an unknown state and a retry must not write the same
    /// bytes twice.
    fn write_buffer(&mut self, op: &'static str) -> Result<()> {
        let Some(file) = self.file.as_mut() else {
            return Err(closed_error(op, &self.path));
        };
        if self.buf.is_empty() {
            return Ok(());
        }
        let result = file.write_all(&self.buf);
        self.buf.clear();
        result.map_err(|e| Error::io("write", &self.path, e))
    }
}

impl WritableFile for StdBufferedFile {
    fn append(&mut self, data: &[u8]) -> Result<()> {
        if self.buf.len() + data.len() > WRITE_BUFFER_SIZE {
            self.write_buffer("write")?;
        }
        let Some(file) = self.file.as_mut() else {
            return Err(closed_error("write", &self.path));
        };
        if data.len() >= WRITE_BUFFER_SIZE {
            file.write_all(data).map_err(|e| Error::io("write", &self.path, e))?;
        } else {
            self.buf.extend_from_slice(data);
        }
        self.len += data.len() as u64;
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        self.write_buffer("flush")
    }

    fn sync(&mut self) -> Result<()> {
        self.write_buffer("sync")?;
        let Some(file) = self.file.as_ref() else {
            return Err(closed_error("sync", &self.path));
        };
        file.sync_data().map_err(|e| Error::io("sync", &self.path, e))
    }

    fn close(&mut self) -> Result<()> {
        if self.file.is_none() {
            return Err(closed_error("close", &self.path));
        }
        let result = self.finish();
        self.file = None;
        result
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn preallocate(&mut self, len: u64) -> Result<u64> {
        let Some(file) = self.file.as_ref() else {
            return Err(closed_error("preallocate", &self.path));
        };
        if self.append_only {
            return Ok(self.len);
        }
        // Zeros go after every appended byte, buffered ones included; the
        // buffer is later written at the file position, before them.
        let mut at = self.allocated.max(self.len);
        if len <= at {
            return Ok(at);
        }
        // Raised first, so that a failure part-way still truncates on close.
        self.allocated = len;
        while at < len {
            // Up to the next page boundary, then page by page.
            let page = ZEROS.len() as u64;
            let n = (len - at).min(page - at % page) as usize;
            file.write_all_at(&ZEROS[..n], at).map_err(|e| Error::io("preallocate", &self.path, e))?;
            at += n as u64;
        }
        Ok(len)
    }
}

impl Drop for StdBufferedFile {
    fn drop(&mut self) {
        if self.file.is_some() {
            // Best effort: there is nobody to report a failure to.
            let _ = self.finish();
        }
    }
}

/// A writable file that copies appends into a memory mapping.
///
/// The file is grown `chunk_size` bytes at a time (`ftruncate`, then
/// `posix_fallocate` so that a full disk is reported here rather than as a
/// `SIGBUS` on a store into the mapping) and only the newest chunk is mapped.
/// Bytes of earlier chunks stay in the page cache after their mapping is
/// dropped; `sync` writes them with `fdatasync`.
///
/// Each chunk's mapping is registered with the `SIGBUS` guard
/// (mapped_read_guard.rs) as writable. A store into a page the kernel
/// cannot provide (the file was truncated behind the writer, the device
/// failed) lands in a throwaway page instead of killing the process;
/// [`append`](WritableFile::append) asks the guard after every copy, and
/// once a store failed the append and every later call on the file return
/// `Error::Io` naming the file and the offset. A chunk made while the
/// guard has no free slot is not mapped at all: its appends are written
/// with `pwrite(2)` into the same preallocated chunk, and `sync` uses
/// `fdatasync` for them.
struct StdMmapWritableFile {
    path: PathBuf,
    /// `None` once closed.
    file: Option<File>,
    /// How `[chunk_offset, allocated)` is written, once the first chunk exists.
    chunk: Option<Chunk>,
    chunk_offset: u64,
    chunk_size: u64,
    /// Bytes appended.
    written: u64,
    /// Length of the file on disk (a multiple of `chunk_size`).
    allocated: u64,
    /// `written` at the last successful sync.
    synced: u64,
    /// The file was extended (and an earlier chunk unmapped) since the last sync.
    grown_since_sync: bool,
    /// The file offset of the first store the guard saw fail; every call
    /// fails once it is set.
    failed_at: Option<u64>,
}

/// The chunk of a [`StdMmapWritableFile`] that appends go to.
enum Chunk {
    /// Mapped and guarded.
    Mapped(MappedChunk),
    /// Written with `pwrite(2)`: the guard had no free slot.
    Positional,
}

/// A chunk's writable mapping and its place in the guard's registry.
struct MappedChunk {
    /// Dropped before `map` (fields drop in declaration order): the slot is
    /// freed before the pages are unmapped.
    registration: Registration,
    map: MmapMut,
}

impl StdMmapWritableFile {
    fn new(path: &Path, file: File, chunk_size: u64) -> StdMmapWritableFile {
        StdMmapWritableFile {
            path: path.to_path_buf(),
            file: Some(file),
            chunk: None,
            chunk_offset: 0,
            chunk_size,
            written: 0,
            allocated: 0,
            synced: 0,
            grown_since_sync: false,
            failed_at: None,
        }
    }

    fn file(&self, op: &'static str) -> Result<&File> {
        self.file.as_ref().ok_or_else(|| closed_error(op, &self.path))
    }

    /// The error for `op` once a store into a mapped chunk failed (the
    /// append at `append_offset` if that is the call that saw it); `Ok`
    /// before.
    fn check_failed(&self, op: &'static str, append_offset: Option<u64>) -> Result<()> {
        let Some(page) = self.failed_at else {
            return Ok(());
        };
        let what = match append_offset {
            Some(offset) => format!("memory-mapped write at offset {offset} failed"),
            None => "an earlier memory-mapped write failed".to_string(),
        };
        Err(Error::io(
            op,
            &self.path,
            io::Error::other(format!(
                "{what}: the page holding offset {page} could not be written (SIGBUS: the file was \
                 truncated or the device reported an I/O error); every later call on this open file fails"
            )),
        ))
    }

    /// Ends the current chunk, extends the file by one chunk and maps it
    /// (or, when the guard has no free slot, leaves it to `pwrite`).
    fn grow(&mut self) -> Result<()> {
        self.chunk = None;
        let Some(file) = self.file.as_ref() else {
            return Err(closed_error("write", &self.path));
        };
        let new_len = self.allocated.checked_add(self.chunk_size).ok_or_else(|| {
            Error::io(
                "grow",
                &self.path,
                io::Error::new(io::ErrorKind::FileTooLarge, "file length overflows"),
            )
        })?;
        file.set_len(new_len).map_err(|e| Error::io("grow", &self.path, e))?;
        self.grown_since_sync = true;
        reserve_blocks(file, self.allocated, self.chunk_size)
            .map_err(|e| Error::io("grow", &self.path, e))?;
        let chunk = usize::try_from(self.chunk_size).map_err(|_| {
            Error::io("mmap", &self.path, io::Error::new(io::ErrorKind::InvalidInput, "chunk too large"))
        })?;
        // SAFETY: the mapped range lies inside the file's new length, and
        // the mapping is touched only by `append`, after it is registered
        // with the SIGBUS guard: if the file is cut short behind it or a
        // page cannot be provided, the guard puts a writable throwaway page
        // there and marks the mapping failed, and `append` checks the mark
        // after each copy. No reference into the mapping leaves this type.
        // An unregistered mapping is dropped untouched.
        let map = unsafe { MmapOptions::new().offset(self.allocated).len(chunk).map_mut(file) }
            .map_err(|e| Error::io("mmap", &self.path, e))?;
        self.chunk = Some(match Registration::new(map.as_ptr(), map.len(), Access::ReadWrite) {
            Some(registration) => Chunk::Mapped(MappedChunk { registration, map }),
            None => Chunk::Positional,
        });
        self.chunk_offset = self.allocated;
        self.allocated = new_len;
        Ok(())
    }

    /// Drops the mapping and cuts the file to the bytes written. A file
    /// whose store failed is left at the length it has: it was cut or is
    /// failing behind this handle, and padding it back out would only add
    /// zeros.
    fn finish(&mut self) -> Result<()> {
        self.chunk = None;
        let file = self.file("close")?;
        self.check_failed("close", None)?;
        if self.allocated != self.written {
            file.set_len(self.written).map_err(|e| Error::io("truncate", &self.path, e))?;
            self.allocated = self.written;
        }
        Ok(())
    }
}

/// Asks the file system to allocate `[offset, offset + len)` now; a file
/// system that cannot preallocate is left to allocate on write.
fn reserve_blocks(file: &File, offset: u64, len: u64) -> io::Result<()> {
    let (Ok(offset), Ok(len)) = (libc::off_t::try_from(offset), libc::off_t::try_from(len)) else {
        return Err(io::Error::new(io::ErrorKind::FileTooLarge, "range does not fit off_t"));
    };
    // SAFETY: plain system call on a file descriptor owned by `file`, which
    // stays open for the duration of the call.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), offset, len) };
    match rc {
        0 => Ok(()),
        libc::EOPNOTSUPP | libc::ENOSYS | libc::EINVAL => Ok(()),
        errno => Err(io::Error::from_raw_os_error(errno)),
    }
}

impl WritableFile for StdMmapWritableFile {
    fn append(&mut self, mut data: &[u8]) -> Result<()> {
        self.file("write")?;
        self.check_failed("write", None)?;
        while !data.is_empty() {
            if self.written == self.allocated {
                self.grow()?;
            }
            // Below `chunk_size`, which fits in usize (`grow` checked).
            let at = (self.written - self.chunk_offset) as usize;
            let room = (self.allocated - self.written) as usize;
            let n = data.len().min(room);
            match self.chunk.as_mut() {
                Some(Chunk::Mapped(chunk)) => {
                    chunk.map[at..at + n].copy_from_slice(&data[..n]);
                    if let Some(fault) = chunk.registration.failure() {
                        self.failed_at = Some(self.chunk_offset + fault as u64);
                        return self.check_failed("write", Some(self.written));
                    }
                }
                Some(Chunk::Positional) => {
                    let Some(file) = self.file.as_ref() else {
                        return Err(closed_error("write", &self.path));
                    };
                    file.write_all_at(&data[..n], self.written)
                        .map_err(|e| Error::io("write", &self.path, e))?;
                }
                None => return Err(closed_error("write", &self.path)),
            }
            data = &data[n..];
            self.written += n as u64;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        // Stores into the mapping, and positional writes, are already in
        // the page cache.
        self.file("flush")?;
        self.check_failed("flush", None)
    }

    fn sync(&mut self) -> Result<()> {
        let file = self.file("sync")?;
        self.check_failed("sync", None)?;
        // Earlier chunks are no longer mapped, and the length changed, once
        // the file grew; positionally written bytes have no mapping either:
        // fdatasync writes all of those.
        let mut sync_data = self.grown_since_sync;
        match self.chunk.as_ref() {
            Some(Chunk::Mapped(chunk)) => {
                let start = self.synced.max(self.chunk_offset);
                if self.written > start {
                    let from = (start - self.chunk_offset) as usize;
                    let len = (self.written - start) as usize;
                    chunk.map.flush_range(from, len).map_err(|e| Error::io("sync", &self.path, e))?;
                }
            }
            Some(Chunk::Positional) => sync_data |= self.written > self.synced,
            None => {}
        }
        if sync_data {
            file.sync_data().map_err(|e| Error::io("sync", &self.path, e))?;
            self.grown_since_sync = false;
        }
        self.synced = self.written;
        Ok(())
    }

    fn close(&mut self) -> Result<()> {
        self.file("close")?;
        let result = self.finish();
        self.file = None;
        result
    }

    fn len(&self) -> u64 {
        self.written
    }
}

impl Drop for StdMmapWritableFile {
    fn drop(&mut self) {
        if self.file.is_some() {
            // Best effort: leave no zero tail behind.
            let _ = self.finish();
        }
    }
}

/// Paths locked by this process (canonical directory + file name).
static LOCKED_PATHS: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

fn locked_paths() -> MutexGuard<'static, BTreeSet<PathBuf>> {
    // The set stays consistent even if a holder panicked.
    LOCKED_PATHS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A held `fcntl` write lock on a whole file.
#[derive(Debug)]
struct StdFileLock {
    /// The key in [`LOCKED_PATHS`].
    key: PathBuf,
    file: File,
}

impl FileLock for StdFileLock {}

impl StdFileLock {
    fn acquire(path: &Path) -> Result<StdFileLock> {
        let name = path.file_name().ok_or_else(|| {
            Error::InvalidArgument(format!("lock path {} does not name a file", path.display()))
        })?;
        let dir = parent_dir(path);
        let key = dir.canonicalize().map_err(|e| Error::io("lock", path, e))?.join(name);
        // Claim the path in-process *before* opening the file: closing any
        // descriptor of a file drops this process's fcntl locks on it, so a
        // second attempt must not open (and close) the file at all.
        if !locked_paths().insert(key.clone()) {
            return Err(Error::Busy(format!("lock {}: already held by this process", path.display())));
        }
        match Self::lock_fcntl(path) {
            Ok(file) => Ok(StdFileLock { key, file }),
            Err(e) => {
                locked_paths().remove(&key);
                Err(e)
            }
        }
    }

    fn lock_fcntl(path: &Path) -> Result<File> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(path)
            .map_err(|e| Error::io("lock", path, e))?;
        match set_whole_file_lock(&file, libc::F_WRLCK) {
            Ok(()) => Ok(file),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EACCES)) => {
                Err(Error::Busy(format!("lock {}: held by another process", path.display())))
            }
            Err(e) => Err(Error::io("lock", path, e)),
        }
    }
}

/// `fcntl(F_SETLK)` of `kind` over the whole file, as LevelDB's `LockOrUnlock`.
fn set_whole_file_lock(file: &File, kind: libc::c_int) -> io::Result<()> {
    // SAFETY: `flock` is a plain C struct; all-zero is a valid value that we
    // then fill in.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = kind as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    lock.l_start = 0;
    lock.l_len = 0; // The whole file, however long it grows.
                    // SAFETY: the descriptor belongs to `file`, open for the whole call, and
                    // `lock` is a valid `flock` that outlives the call.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLK, &lock) };
    if rc == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

impl Drop for StdFileLock {
    fn drop(&mut self) {
        // Closing the descriptor would release the lock as well; unlock
        // explicitly first, as LevelDB does.
        let _ = set_whole_file_lock(&self.file, libc::F_UNLCK);
        locked_paths().remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::{read_file_to_vec, write_file};

    fn chunk_of(len: usize, seed: u8) -> Vec<u8> {
        (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
    }

    #[test]
    fn buffered_round_trip_across_buffer_boundaries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let fs = StdFs::new();
        let mut expected = Vec::new();
        let mut w = fs.create_writable(&path, WriteMode::Buffered).unwrap();
        for (i, len) in [10, WRITE_BUFFER_SIZE - 5, 7, 3 * WRITE_BUFFER_SIZE, 0, 1].into_iter().enumerate() {
            let data = chunk_of(len, i as u8);
            w.append(&data).unwrap();
            expected.extend_from_slice(&data);
            assert_eq!(w.len(), expected.len() as u64);
        }
        w.sync().unwrap();
        w.close().unwrap();
        assert!(w.append(b"x").is_err(), "append after close must fail");
        assert!(w.close().is_err(), "second close must fail");
        assert_eq!(read_file_to_vec(&fs, &path).unwrap(), expected);
        assert_eq!(fs.file_size(&path).unwrap(), expected.len() as u64);
    }

    #[test]
    fn buffered_bytes_reach_the_os_only_on_flush() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let fs = StdFs::new();
        let mut w = fs.create_writable(&path, WriteMode::Buffered).unwrap();
        w.append(b"hello").unwrap();
        assert_eq!(fs.file_size(&path).unwrap(), 0);
        w.flush().unwrap();
        assert_eq!(fs.file_size(&path).unwrap(), 5);
        w.append(b" world").unwrap();
        drop(w); // Drop flushes.
        assert_eq!(read_file_to_vec(&fs, &path).unwrap(), b"hello world");
    }

    #[test]
    fn appendable_continues_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let fs = StdFs::new();
        write_file(&fs, &path, b"abc", true).unwrap();
        let mut w = fs.open_appendable(&path).unwrap();
        assert_eq!(w.len(), 3);
        w.append(b"def").unwrap();
        w.close().unwrap();
        assert_eq!(read_file_to_vec(&fs, &path).unwrap(), b"abcdef");
        let mut fresh = fs.open_appendable(&dir.path().join("new")).unwrap();
        assert!(fresh.is_empty());
        fresh.close().unwrap();
        assert!(fs.exists(&dir.path().join("new")));
    }

    #[test]
    fn positional_and_mmap_reads_agree_and_stop_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        let fs = StdFs::new();
        let data = chunk_of(10_000, 7);
        write_file(&fs, &path, &data, false).unwrap();
        let pos = fs.open_random_access(&path, ReadMode::Positional).unwrap();
        let map = fs.open_random_access(&path, ReadMode::Mmap).unwrap();
        assert_eq!((pos.len(), map.len()), (10_000, 10_000));
        for (offset, len) in
            [(0, 10), (9_990, 10), (9_995, 100), (10_000, 5), (20_000, 5), (0, 10_000), (3, 0)]
        {
            let a = pos.read_at(offset, len).unwrap();
            let b = map.read_at(offset, len).unwrap();
            let start = (offset as usize).min(data.len());
            let end = (start + len).min(data.len());
            assert_eq!(&a[..], &data[start..end], "positional {offset}+{len}");
            assert_eq!(a, b, "mmap {offset}+{len}");
        }
        // A huge length from corrupt metadata does not allocate past the end.
        assert_eq!(pos.read_at(5, usize::MAX).unwrap().len(), 9_995);
        assert_eq!(map.read_at(u64::MAX, usize::MAX).unwrap().len(), 0);
    }

    #[test]
    fn mmap_reads_are_copies_and_read_with_sees_the_mapping() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        let fs = StdFs::new();
        let data = chunk_of(8192, 1);
        write_file(&fs, &path, &data, false).unwrap();
        let map = fs.open_random_access(&path, ReadMode::Mmap).unwrap();
        let a = map.read_at(100, 10).unwrap();
        let b = map.read_at(100, 10).unwrap();
        assert_eq!(a, b);
        assert_ne!(a.as_ptr(), b.as_ptr(), "a mapped read must not hand out a view of the mapping");
        // read_with hands over the mapped bytes themselves (the same
        // address both times), borrowed.
        let mut seen = Vec::new();
        for _ in 0..2 {
            map.read_with(100, 10, &mut |view| {
                assert!(matches!(view, ReadView::Borrowed(_)), "{view:?}");
                seen.push((view.as_slice().as_ptr(), view.as_slice().to_vec()));
                Ok(())
            })
            .unwrap();
        }
        assert_eq!(seen[0], seen[1]);
        assert_eq!(seen[0].1, &data[100..110]);
        assert!(map.reads_in_place());
        // The positional default hands over an owned buffer.
        let pos = fs.open_random_access(&path, ReadMode::Positional).unwrap();
        assert!(!pos.reads_in_place());
        pos.read_with(8190, 10, &mut |view| {
            assert!(matches!(&view, ReadView::Owned(b) if b[..] == data[8190..]), "{view:?}");
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn empty_file_opens_in_mmap_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty");
        let fs = StdFs::new();
        write_file(&fs, &path, b"", false).unwrap();
        let f = fs.open_random_access(&path, ReadMode::Mmap).unwrap();
        assert!(f.is_empty());
        assert!(f.read_at(0, 10).unwrap().is_empty());
    }

    #[test]
    fn sequential_skip_clamps_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let fs = StdFs::new();
        write_file(&fs, &path, b"0123456789", false).unwrap();
        let mut f = fs.open_sequential(&path).unwrap();
        let mut buf = [0u8; 3];
        assert_eq!(f.read(&mut buf).unwrap(), 3);
        f.skip(4).unwrap();
        assert_eq!(f.read(&mut buf).unwrap(), 3);
        assert_eq!(&buf, b"789");
        f.skip(u64::MAX).unwrap();
        assert_eq!(f.read(&mut buf).unwrap(), 0);
    }

    #[test]
    fn mmap_writer_grows_by_chunks_and_truncates_on_close() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m");
        let fs = StdFs::new();
        let mut w = fs.create_writable(&path, WriteMode::Mmap { chunk_size: 4096 }).unwrap();
        assert_eq!(fs.file_size(&path).unwrap(), 0);
        let data = chunk_of(5000, 3);
        w.append(&data).unwrap();
        w.sync().unwrap();
        assert_eq!(fs.file_size(&path).unwrap(), 8192);
        let on_disk = read_file_to_vec(&fs, &path).unwrap();
        assert_eq!(&on_disk[..5000], &data[..]);
        assert!(on_disk[5000..].iter().all(|&b| b == 0), "tail must read as zeros");
        w.close().unwrap();
        assert_eq!(read_file_to_vec(&fs, &path).unwrap(), data);
        assert!(w.sync().is_err());
    }

    #[test]
    fn mmap_writer_dropped_without_close_is_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m");
        let fs = StdFs::new();
        let mut w = fs.create_writable(&path, WriteMode::Mmap { chunk_size: 1000 }).unwrap();
        w.append(b"abc").unwrap();
        assert_eq!(fs.file_size(&path).unwrap(), 1000);
        drop(w);
        assert_eq!(read_file_to_vec(&fs, &path).unwrap(), b"abc");
    }

    #[test]
    fn mmap_writer_rejects_zero_chunk() {
        let dir = tempfile::tempdir().unwrap();
        let err = StdFs::new().create_writable(&dir.path().join("m"), WriteMode::Mmap { chunk_size: 0 });
        assert!(matches!(err, Err(Error::InvalidArgument(_))));
    }

    #[test]
    fn namespace_operations() {
        let dir = tempfile::tempdir().unwrap();
        let fs = StdFs::new();
        let sub = dir.path().join("a/b");
        fs.create_dir_all(&sub).unwrap();
        fs.create_dir_all(&sub).unwrap();
        write_file(&fs, &sub.join("x"), b"one", true).unwrap();
        write_file(&fs, &sub.join("y"), b"two", true).unwrap();
        fs.sync_dir(&sub).unwrap();
        let mut names = fs.list_dir(&sub).unwrap();
        names.sort();
        assert_eq!(names, ["x", "y"]);
        fs.rename(&sub.join("x"), &sub.join("y")).unwrap();
        assert!(!fs.exists(&sub.join("x")));
        assert_eq!(read_file_to_vec(&fs, &sub.join("y")).unwrap(), b"one");
        fs.hard_link(&sub.join("y"), &sub.join("z")).unwrap();
        assert_eq!(read_file_to_vec(&fs, &sub.join("z")).unwrap(), b"one");
        fs.remove_file(&sub.join("y")).unwrap();
        fs.remove_file(&sub.join("z")).unwrap();
        fs.remove_dir(&sub).unwrap();
        assert!(!fs.exists(&sub));
    }

    #[test]
    fn errors_name_operation_and_path() {
        let dir = tempfile::tempdir().unwrap();
        let fs = StdFs::new();
        let missing = dir.path().join("missing");
        let err = fs.open_sequential(&missing).err().unwrap();
        assert!(err.is_not_found());
        match &err {
            Error::Io { op, path, .. } => assert_eq!((*op, path.as_path()), ("open", missing.as_path())),
            other => panic!("unexpected {other:?}"),
        }
        assert!(fs.file_size(&missing).unwrap_err().is_not_found());
        assert!(fs.remove_file(&missing).unwrap_err().is_not_found());
        assert!(fs.list_dir(&missing).unwrap_err().is_not_found());
        assert!(fs.create_writable(&dir.path().join("no/such/f"), WriteMode::Buffered).is_err());
    }

    #[test]
    fn second_lock_in_process_is_busy_until_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let fs = StdFs::new();
        let path = dir.path().join("LOCK");
        let first = fs.lock_file(&path).unwrap();
        // The same file named through another spelling is the same lock.
        let other_spelling = dir.path().join(".").join("LOCK");
        match fs.lock_file(&other_spelling) {
            Err(Error::Busy(msg)) => assert!(msg.contains("LOCK"), "{msg}"),
            other => panic!("expected Busy, got {other:?}"),
        }
        drop(first);
        let again = fs.lock_file(&path).unwrap();
        drop(again);
    }
}
