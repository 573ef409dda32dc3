//! [`LogWriter`]: appends logical records to a log file in LevelDB's format
//! (docs/format.md §3.2), byte for byte what LevelDB 1.23 writes.
//!
//! ```text
//! one logical record of n bytes, starting `block_offset` bytes into a block:
//!   fits in the block         -> | hdr FULL | n bytes |
//!   does not fit              -> | hdr FIRST | rest of block || hdr MIDDLE | 32 761 ||
//!                                ... || hdr LAST | remainder |
//!   < 7 bytes left in block   -> that many zero bytes first (the trailer)
//!   exactly 7 bytes left      -> | hdr FIRST, length 0 | then the data from the
//!                                next block as MIDDLE/LAST
//! hdr = masked crc32c(type ++ fragment): fixed32 | length: u16 | type: u8
//! ```

use lsmkit_base::fs::WritableFile;
use lsmkit_base::{Error, Result};

use crate::log_format::{encode_header, RecordType, BLOCK_SIZE, HEADER_SIZE};

/// Zeros for block trailers (at most `HEADER_SIZE - 1` are ever needed).
const TRAILER_ZEROS: [u8; HEADER_SIZE - 1] = [0; HEADER_SIZE - 1];

/// Writes logical records into a log file, splitting them into physical
/// records at 32 KiB block boundaries (docs/format.md §3.2).
///
/// After every physical record the bytes are handed to the operating system
/// ([`WritableFile::flush`]), as LevelDB does; they are durable only after
/// [`sync`](LogWriter::sync).
///
/// If an append fails, the file may hold part of a record; the writer then
/// refuses further records and returns that first error again, because a
/// second record written after a torn one could not be told apart from
/// garbage by a reader in every recovery mode.
pub struct LogWriter {
    dest: Box<dyn WritableFile>,
    /// Bytes already used in the current block.
    block_offset: usize,
    /// The first append/flush error; the writer is unusable after it.
    failed: Option<Error>,
}

impl LogWriter {
    /// A writer for a new, empty file.
    pub fn new(dest: Box<dyn WritableFile>) -> LogWriter {
        LogWriter::new_with_offset(dest, 0)
    }

    /// A writer that continues a log file already holding `existing_len`
    /// bytes (`dest` must be positioned at its end, e.g. from
    /// `FileSystem::open_appendable`). Writing resumes in the middle of the
    /// block at `existing_len % 32768`.
    pub fn new_with_offset(dest: Box<dyn WritableFile>, existing_len: u64) -> LogWriter {
        let block_offset = (existing_len % BLOCK_SIZE as u64) as usize;
        LogWriter { dest, block_offset, failed: None }
    }

    /// Pads the rest of the current block with zeros, so that the next
    /// record starts a fresh block (readers skip a zero-filled block tail).
    /// Does nothing at a block boundary. A failed write is reported by the
    /// next [`add_record`](Self::add_record).
    pub fn start_new_block(&mut self) {
        if self.block_offset == 0 || self.failed.is_some() {
            return;
        }
        let padding = vec![0u8; BLOCK_SIZE - self.block_offset];
        match self.dest.append(&padding).and_then(|()| self.dest.flush()) {
            Ok(()) => self.block_offset = 0,
            Err(error) => self.failed = Some(error),
        }
    }

    /// Appends one logical record (possibly empty) and flushes it to the OS.
    pub fn add_record(&mut self, data: &[u8]) -> Result<()> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        let result = self.emit_record(data);
        if let Err(error) = &result {
            self.failed = Some(error.clone());
        }
        result
    }

    fn emit_record(&mut self, mut data: &[u8]) -> Result<()> {
        let mut first = true;
        loop {
            let left_in_block = BLOCK_SIZE - self.block_offset;
            if left_in_block < HEADER_SIZE {
                // Too small for a header: fill with zeros (the trailer).
                self.dest.append(&TRAILER_ZEROS[..left_in_block])?;
                self.block_offset = 0;
            }
            let available = BLOCK_SIZE - self.block_offset - HEADER_SIZE;
            let fragment_len = data.len().min(available);
            let last = fragment_len == data.len();
            let record_type = match (first, last) {
                (true, true) => RecordType::Full,
                (true, false) => RecordType::First,
                (false, true) => RecordType::Last,
                (false, false) => RecordType::Middle,
            };
            let (fragment, rest) = data.split_at(fragment_len);
            self.emit_physical_record(record_type, fragment)?;
            data = rest;
            first = false;
            if last {
                return Ok(());
            }
        }
    }

    fn emit_physical_record(&mut self, record_type: RecordType, payload: &[u8]) -> Result<()> {
        let header = encode_header(record_type, payload);
        self.dest.append(&header)?;
        self.dest.append(payload)?;
        self.dest.flush()?;
        self.block_offset += HEADER_SIZE + payload.len();
        Ok(())
    }

    /// Makes every record added so far durable.
    pub fn sync(&mut self) -> Result<()> {
        self.dest.sync()
    }

    /// Writes zeros after the log so that the file is at least `len` bytes
    /// long on storage ([`WritableFile::preallocate`]); returns that length.
    /// Readers take the zeros as unused space (docs/format.md §3.3), and the
    /// records written later overwrite them. A failure here leaves the
    /// records intact, so unlike a failed append it does not stop the writer.
    pub fn preallocate(&mut self, len: u64) -> Result<u64> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        self.dest.preallocate(len)
    }

    /// Flushes and closes the file (an mmap-written file is cut to its
    /// written length here). Later calls to [`add_record`](Self::add_record) fail.
    pub fn close(&mut self) -> Result<()> {
        self.dest.close()
    }

    /// Bytes in the log file, counting from its start.
    pub fn file_len(&self) -> u64 {
        self.dest.len()
    }

    /// Bytes already used in the current 32 KiB block.
    pub fn block_offset(&self) -> usize {
        self.block_offset
    }
}

impl std::fmt::Debug for LogWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogWriter")
            .field("file_len", &self.dest.len())
            .field("block_offset", &self.block_offset)
            .field("failed", &self.failed)
            .finish()
    }
}
