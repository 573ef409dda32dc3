//! [`LogReader`]: reads logical records back from a log file (docs/format.md §3.3),
//! with LevelDB's handling of every damaged-record case, the four
//! [`RecoveryMode`]s, and tail following for a file that is still being written.
//!
//! ```text
//! physical level, per block:           | hdr | payload | hdr | payload | trailer |
//!   < 7 bytes left                  -> next block (at EOF: a torn header)
//!   type 0, length 0                -> zero-filled: skip the rest of the block
//!   7 + length past the block       -> bad length: drop the rest of the block
//!                                      (at EOF: a torn record)
//!   crc mismatch                    -> drop the rest of the block
//!   type not 1..=4                  -> unknown type: drop the fragment
//! logical level: FULL | FIRST MIDDLE* LAST -> one record; anything else dropped,
//!   each dropped region reported and handled by the RecoveryMode
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lsmkit_base::coding::decode_fixed32;
use lsmkit_base::crc;
use lsmkit_base::fs::{FileSystem, SequentialFile};
use lsmkit_base::{Error, Result};

use crate::log_format::{RecordType, BLOCK_SIZE, HEADER_SIZE};
use crate::recovery_mode::RecoveryMode;

/// Why a region of a log file was dropped. `Display` gives LevelDB's wording
/// where LevelDB has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DropReason {
    /// A record's stored CRC does not match its bytes. Its length may be the
    /// damaged part, so the rest of the block is dropped with it.
    ChecksumMismatch,
    /// A header's length runs past the end of its block; the rest of the
    /// block is dropped.
    BadRecordLength,
    /// A record with a correct checksum has a type byte other than
    /// FULL/FIRST/MIDDLE/LAST (or type 0 with a non-zero length).
    UnknownRecordType(u8),
    /// A FULL or FIRST record started while a fragmented record was still
    /// incomplete; the incomplete one is dropped.
    PartialRecordWithoutEnd,
    /// A MIDDLE or LAST fragment without the FIRST fragment before it.
    MissingStartOfFragmentedRecord,
    /// A damaged record interrupted a fragmented record; the fragments read
    /// before it are dropped.
    ErrorInMiddleOfRecord,
    /// The file ends inside a record: inside a header, inside a payload, or
    /// between the fragments of one logical record (a torn tail).
    TruncatedRecordAtEnd,
    /// [`RecoveryMode::PointInTimeRecovery`]: everything after the first
    /// dropped region.
    IgnoredAfterCorruption,
    /// A record with correct checksums and framing whose contents the
    /// caller found malformed ([`LogReader::reject_record`]); the text says
    /// what is wrong.
    MalformedRecord(String),
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DropReason::ChecksumMismatch => f.write_str("checksum mismatch"),
            DropReason::BadRecordLength => f.write_str("bad record length"),
            DropReason::UnknownRecordType(t) => write!(f, "unknown record type {t}"),
            DropReason::PartialRecordWithoutEnd => f.write_str("partial record without end"),
            DropReason::MissingStartOfFragmentedRecord => f.write_str("missing start of fragmented record"),
            DropReason::ErrorInMiddleOfRecord => f.write_str("error in middle of record"),
            DropReason::TruncatedRecordAtEnd => f.write_str("truncated record at end of file"),
            DropReason::IgnoredAfterCorruption => {
                f.write_str("ignored after corruption (point-in-time recovery)")
            }
            DropReason::MalformedRecord(problem) => write!(f, "malformed record: {problem}"),
        }
    }
}

/// A byte range of a log file that the reader did not turn into records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedRegion {
    /// File offset of the first dropped byte.
    pub offset: u64,
    /// Length of the dropped range of the file (headers and trailers included).
    pub bytes: u64,
    /// Why it was dropped.
    pub reason: DropReason,
}

impl fmt::Display for DroppedRegion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "dropping {} bytes at offset {}: {}", self.bytes, self.offset, self.reason)
    }
}

/// A callback told about every dropped region as it is found.
pub type DropReporter = Box<dyn FnMut(&DroppedRegion) + Send>;

/// What one step of the physical-record parser found.
enum Physical {
    /// A record with a correct checksum; its payload is `block[start..end]`.
    Fragment { type_byte: u8, offset: u64, start: usize, end: usize },
    /// A damaged record (and whatever of its block was dropped with it).
    Bad { offset: u64, bytes: u64, reason: DropReason },
    /// No more complete records in the bytes available now.
    EndOfInput,
}

/// Whether the reader can still return records.
#[derive(Debug)]
enum Status {
    Reading,
    /// Point-in-time recovery reached its first damage.
    Stopped,
    /// Sticky error (absolute consistency, or tolerated damage followed by records).
    Failed(Error),
}

/// Reads the logical records of a log file in order (docs/format.md §3.3).
///
/// ```text
/// let mut reader = LogReader::new(fs.open_sequential(&path)?, &path, RecoveryMode::default());
/// while let Some(record) = reader.read_record()? { /* WriteBatch::from_data(record)? ... */ }
/// ```
///
/// Damage is handled as LevelDB's reader finds it (checksum mismatch and bad
/// length drop the rest of the block; fragments out of order are dropped)
/// and then as the [`RecoveryMode`] says. Every dropped region is kept in
/// [`dropped_regions`](Self::dropped_regions) and passed to the optional
/// reporter. Zero-filled space (type 0, length 0) is never damage: LevelDB
/// skips the rest of that block, and a log that ends in zeros ends cleanly.
///
/// # End of file and tail following
///
/// `read_record` returns `Ok(None)` when the bytes available now hold no
/// further complete record. Bytes of an incomplete record are kept, and a
/// later call reads on from the same file, so records appended in the
/// meantime are returned exactly once. What happens to an incomplete record
/// at the end depends on whether the reader *follows the tail*:
///
/// - by default the file is taken to be complete: an incomplete record at the
///   end is a torn tail, reported as a [`DropReason::TruncatedRecordAtEnd`]
///   region and handled by the recovery mode (an error under
///   [`RecoveryMode::AbsoluteConsistency`]);
/// - with [`with_follow_tail(true)`](Self::with_follow_tail) the writer may
///   still be writing: the incomplete record is not reported, only kept until
///   its remaining bytes arrive. Turning following off later
///   ([`set_follow_tail`](Self::set_follow_tail)) makes the next call treat
///   the end as final.
///
/// A file written in [mmap mode](crate::WalIoMode::Mmap) has a zero tail
/// that the writer later fills in place; bytes the reader has already read
/// as zeros cannot change under a sequential file. A following reader given
/// the file system with [`with_reopen`](Self::with_reopen) therefore takes
/// zero-filled space as the end of the log for now, reopens the file at its
/// start before reading on, and re-reads a
/// damaged record once from a fresh handle before reporting it (the writer
/// may have been in the middle of copying it). Without a file system to
/// reopen with, following only sees bytes appended after the end of the file.
///
/// I/O errors from the file are returned as they are and leave the reader
/// where it was, so the call can be retried.
pub struct LogReader {
    file: Box<dyn SequentialFile>,
    path: PathBuf,
    mode: RecoveryMode,
    reporter: Option<DropReporter>,
    follow_tail: bool,
    reopen: Option<Arc<dyn FileSystem>>,

    /// Bytes of the current block read so far; `block[0]` is at file offset
    /// `block_start`, and the block ends at the next multiple of 32 KiB.
    block: Vec<u8>,
    block_start: u64,
    /// Index in `block` of the next unparsed byte.
    pos: usize,
    /// The rest of the current block (including bytes not read yet) is to
    /// be skipped: after zero-filled space or a damaged record.
    skip_rest_of_block: bool,
    /// Offset of the first zero header after the last valid record, while
    /// only zeros have been seen since.
    zero_tail_start: Option<u64>,
    /// A following reader reopens the file here before reading on.
    reopen_at: Option<u64>,
    /// The damaged record already re-read once from a fresh handle.
    rechecked_offset: Option<u64>,

    /// A fragmented record is being assembled in `scratch`.
    in_fragment: bool,
    /// File offset of the FIRST fragment being assembled.
    fragment_start: u64,
    scratch: Vec<u8>,
    last_record_offset: u64,
    /// File offset just past the last fragment of the record last returned.
    last_record_end: u64,

    dropped: Vec<DroppedRegion>,
    /// [`RecoveryMode::TolerateCorruptedTailRecords`]: the first region
    /// dropped since the last valid record, fatal if a valid record follows.
    tolerated: Option<DroppedRegion>,
    /// [`RecoveryMode::PointInTimeRecovery`]: a region was reported; stop
    /// once the current step has reported everything it found.
    stopping: bool,
    status: Status,
}

impl LogReader {
    /// A reader of the log in `file` from its start. `path` names the file
    /// in errors (and is what [`with_reopen`](Self::with_reopen) reopens).
    pub fn new(file: Box<dyn SequentialFile>, path: impl Into<PathBuf>, mode: RecoveryMode) -> LogReader {
        LogReader {
            file,
            path: path.into(),
            mode,
            reporter: None,
            follow_tail: false,
            reopen: None,
            block: Vec::with_capacity(BLOCK_SIZE),
            block_start: 0,
            pos: 0,
            skip_rest_of_block: false,
            zero_tail_start: None,
            reopen_at: None,
            rechecked_offset: None,
            in_fragment: false,
            fragment_start: 0,
            scratch: Vec::new(),
            last_record_offset: 0,
            last_record_end: 0,
            dropped: Vec::new(),
            tolerated: None,
            stopping: false,
            status: Status::Reading,
        }
    }

    /// A reader that starts at file offset `offset`, which must be the
    /// start of a physical record (typically a [`resume_offset`](Self::resume_offset)
    /// of an earlier reader of the same file). Skips `offset` bytes of `file`.
    pub fn starting_at(
        mut file: Box<dyn SequentialFile>,
        path: impl Into<PathBuf>,
        mode: RecoveryMode,
        offset: u64,
    ) -> Result<LogReader> {
        file.skip(offset)?;
        let mut reader = LogReader::new(file, path, mode);
        reader.block_start = offset;
        reader.fragment_start = offset;
        reader.last_record_offset = offset;
        reader.last_record_end = offset;
        Ok(reader)
    }

    /// Calls `reporter` with every dropped region as it is found.
    pub fn with_reporter(mut self, reporter: impl FnMut(&DroppedRegion) + Send + 'static) -> LogReader {
        self.reporter = Some(Box::new(reporter));
        self
    }

    /// Whether the writer may still be appending (see the type's documentation).
    pub fn with_follow_tail(mut self, follow: bool) -> LogReader {
        self.follow_tail = follow;
        self
    }

    /// Lets a following reader reopen its file through `fs` (needed to follow
    /// a file written in mmap mode; see the type's documentation).
    pub fn with_reopen(mut self, fs: Arc<dyn FileSystem>) -> LogReader {
        self.reopen = Some(fs);
        self
    }

    /// Switches tail following on or off; when off, the next end of input is final.
    pub fn set_follow_tail(&mut self, follow: bool) {
        self.follow_tail = follow;
    }

    /// The next logical record, or `None` when no complete record is
    /// available (end of the log, or, in point-in-time recovery, the first damage).
    pub fn read_record(&mut self) -> Result<Option<Vec<u8>>> {
        let mut record = Vec::new();
        Ok(self.read_record_into(&mut record)?.then_some(record))
    }

    /// Like [`read_record`](Self::read_record), into a caller's buffer
    /// (cleared first); returns false where that returns `None`.
    pub fn read_record_into(&mut self, record: &mut Vec<u8>) -> Result<bool> {
        record.clear();
        match &self.status {
            Status::Reading => {}
            Status::Stopped => return Ok(false),
            Status::Failed(error) => return Err(error.clone()),
        }
        if let Some(offset) = self.reopen_at {
            self.reopen_file_at(offset)?;
            self.reopen_at = None;
        }
        loop {
            match self.read_physical()? {
                Physical::EndOfInput => return self.end_of_input(),
                Physical::Bad { offset, bytes, reason } => {
                    if self.follow_tail && self.reopen.is_some() && self.rechecked_offset != Some(offset) {
                        // The writer may have been copying this record into
                        // a mapping while it was read: look again first.
                        self.rechecked_offset = Some(offset);
                        self.reopen_file_at(offset)?;
                        continue;
                    }
                    if self.in_fragment {
                        let partial = self.region_to(offset, DropReason::ErrorInMiddleOfRecord);
                        self.abandon_fragment();
                        self.report(partial)?;
                    }
                    self.report(DroppedRegion { offset, bytes, reason })?;
                }
                Physical::Fragment { type_byte, offset, start, end } => {
                    let fragment_end = self.block_start + end as u64;
                    match RecordType::from_byte(type_byte) {
                        Some(RecordType::Full) => {
                            self.valid_record_follows()?;
                            self.drop_incomplete_record(offset)?;
                            if !self.stopping {
                                record.extend_from_slice(&self.block[start..end]);
                                self.last_record_offset = offset;
                                self.last_record_end = fragment_end;
                                return Ok(true);
                            }
                        }
                        Some(RecordType::First) => {
                            self.valid_record_follows()?;
                            self.drop_incomplete_record(offset)?;
                            if !self.stopping {
                                self.in_fragment = true;
                                self.fragment_start = offset;
                                self.scratch.clear();
                                self.scratch.extend_from_slice(&self.block[start..end]);
                            }
                        }
                        Some(RecordType::Middle) | Some(RecordType::Last) if self.in_fragment => {
                            self.valid_record_follows()?;
                            self.scratch.extend_from_slice(&self.block[start..end]);
                            if type_byte == RecordType::Last as u8 {
                                std::mem::swap(record, &mut self.scratch);
                                self.in_fragment = false;
                                self.last_record_offset = self.fragment_start;
                                self.last_record_end = fragment_end;
                                return Ok(true);
                            }
                        }
                        Some(RecordType::Middle) | Some(RecordType::Last) => {
                            self.valid_record_follows()?;
                            self.report(DroppedRegion {
                                offset,
                                bytes: fragment_end - offset,
                                reason: DropReason::MissingStartOfFragmentedRecord,
                            })?;
                        }
                        Some(RecordType::Zero) | None => {
                            // Not a record this format knows: drop it, and
                            // with it any record being assembled.
                            let start_offset = if self.in_fragment { self.fragment_start } else { offset };
                            self.abandon_fragment();
                            self.report(DroppedRegion {
                                offset: start_offset,
                                bytes: fragment_end - start_offset,
                                reason: DropReason::UnknownRecordType(type_byte),
                            })?;
                        }
                    }
                }
            }
            if self.stopping {
                return self.stop_after_damage();
            }
        }
    }

    /// File offset of the first header of the record last returned (0 before any).
    pub fn last_record_offset(&self) -> u64 {
        self.last_record_offset
    }

    /// Tells the reader that the record it last returned, though its
    /// checksums and framing are correct, holds malformed contents
    /// (`problem`, for example a write batch that fails
    /// `WriteBatch::validate`). The record's bytes become a dropped region
    /// ([`DropReason::MalformedRecord`]), reported and handled by the
    /// recovery mode exactly as damage the reader found itself:
    ///
    /// - [`AbsoluteConsistency`](RecoveryMode::AbsoluteConsistency): returns
    ///   `Error::Corruption` at the record's offset (and so does every later call);
    /// - [`PointInTimeRecovery`](RecoveryMode::PointInTimeRecovery): the log
    ///   ends before the record (what follows is reported as ignored);
    /// - [`TolerateCorruptedTailRecords`](RecoveryMode::TolerateCorruptedTailRecords):
    ///   fine if no valid record follows, an error when one does;
    /// - [`SkipAnyCorruptedRecords`](RecoveryMode::SkipAnyCorruptedRecords):
    ///   reading goes on with the next record.
    ///
    /// Call it at most once per record, before the next `read_record`.
    pub fn reject_record(&mut self, problem: &Error) -> Result<()> {
        if let Status::Failed(error) = &self.status {
            return Err(error.clone());
        }
        let message = match problem {
            Error::Corruption { message, .. } => message.clone(),
            other => other.to_string(),
        };
        let region = DroppedRegion {
            offset: self.last_record_offset,
            bytes: self.last_record_end.saturating_sub(self.last_record_offset),
            reason: DropReason::MalformedRecord(message),
        };
        self.report(region)?;
        if self.stopping {
            self.stop_after_damage()?;
        }
        Ok(())
    }

    /// Where a fresh reader of the same file would start
    /// ([`starting_at`](Self::starting_at)) to read exactly the records this
    /// one has not returned yet: the start of a record being assembled, the
    /// start of a zero tail, or the end of the last parsed record.
    pub fn resume_offset(&self) -> u64 {
        if self.in_fragment {
            self.fragment_start
        } else if let Some(zero) = self.zero_tail_start {
            zero
        } else if self.skip_rest_of_block {
            self.block_end()
        } else {
            self.block_start + self.pos as u64
        }
    }

    /// Every region dropped so far, in the order found.
    pub fn dropped_regions(&self) -> &[DroppedRegion] {
        &self.dropped
    }

    /// Total bytes of all dropped regions.
    pub fn dropped_bytes(&self) -> u64 {
        self.dropped.iter().map(|region| region.bytes).sum()
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The recovery mode this reader applies.
    pub fn recovery_mode(&self) -> RecoveryMode {
        self.mode
    }

    // ----- physical records -------------------------------------------------

    /// File offset where the current block ends.
    fn block_end(&self) -> u64 {
        self.block_start - self.block_start % BLOCK_SIZE as u64 + BLOCK_SIZE as u64
    }

    /// File offset just past the last byte read.
    fn buffered_end(&self) -> u64 {
        self.block_start + self.block.len() as u64
    }

    fn block_complete(&self) -> bool {
        self.buffered_end() == self.block_end()
    }

    fn next_block(&mut self) {
        self.block_start = self.block_end();
        self.block.clear();
        self.pos = 0;
        self.skip_rest_of_block = false;
    }

    /// Reads the missing part of the current block, as far as the file has
    /// bytes now. Returns how many bytes were added.
    fn fill_block(&mut self) -> Result<usize> {
        let mut added = 0;
        loop {
            // Below BLOCK_SIZE, so it fits in usize.
            let want = (self.block_end() - self.buffered_end()) as usize;
            if want == 0 {
                return Ok(added);
            }
            let old_len = self.block.len();
            self.block.resize(old_len + want, 0);
            let read = self.file.read(&mut self.block[old_len..]);
            let n = match read {
                Ok(n) => n.min(want),
                Err(error) => {
                    self.block.truncate(old_len);
                    return Err(error);
                }
            };
            self.block.truncate(old_len + n);
            if n == 0 {
                return Ok(added);
            }
            added += n;
        }
    }

    /// Drops the rest of the current block from `offset` (the start of a
    /// damaged record) and returns how many bytes that was.
    fn drop_rest_of_block(&mut self, offset: u64) -> Result<u64> {
        self.fill_block()?;
        self.pos = self.block.len();
        self.skip_rest_of_block = !self.block_complete();
        Ok(self.buffered_end() - offset)
    }

    /// Parses the next physical record (docs/format.md §3.3, physical level).
    fn read_physical(&mut self) -> Result<Physical> {
        loop {
            if self.skip_rest_of_block {
                if !self.block_complete() {
                    self.fill_block()?;
                }
                self.pos = self.block.len();
                if !self.block_complete() {
                    return Ok(Physical::EndOfInput);
                }
                self.next_block();
                continue;
            }
            let available = self.block.len() - self.pos;
            if available < HEADER_SIZE {
                if self.block_complete() {
                    // The block's trailer: skipped without looking at it.
                    self.next_block();
                    continue;
                }
                if self.fill_block()? > 0 {
                    continue;
                }
                return Ok(Physical::EndOfInput);
            }
            let header = &self.block[self.pos..self.pos + HEADER_SIZE];
            let length = u16::from_le_bytes([header[4], header[5]]) as usize;
            let type_byte = header[6];
            let offset = self.block_start + self.pos as u64;
            let room_in_block = self.block_end() - offset;
            if (HEADER_SIZE + length) as u64 > room_in_block {
                // No writer produces this: the length itself is damaged.
                let bytes = self.drop_rest_of_block(offset)?;
                return Ok(Physical::Bad { offset, bytes, reason: DropReason::BadRecordLength });
            }
            if HEADER_SIZE + length > available {
                // The record fits in its block but has not been read whole.
                if self.fill_block()? > 0 {
                    continue;
                }
                return Ok(Physical::EndOfInput);
            }
            if type_byte == RecordType::Zero as u8 && length == 0 {
                // Zero-filled space: the rest of the block is unused.
                self.zero_tail_start.get_or_insert(offset);
                if self.follow_tail && self.reopen.is_some() {
                    // A mapped file's unused tail, which the writer fills
                    // in place: the end for now, re-read from here later.
                    return Ok(Physical::EndOfInput);
                }
                self.skip_rest_of_block = true;
                continue;
            }
            let start = self.pos + HEADER_SIZE;
            let end = start + length;
            let stored = crc::unmask(decode_fixed32(&header[..4]));
            let actual = crc::extend(crc::value(&[type_byte]), &self.block[start..end]);
            self.zero_tail_start = None;
            if stored != actual {
                let bytes = self.drop_rest_of_block(offset)?;
                return Ok(Physical::Bad { offset, bytes, reason: DropReason::ChecksumMismatch });
            }
            self.pos = end;
            return Ok(Physical::Fragment { type_byte, offset, start, end });
        }
    }

    /// Starts over from `offset` with a fresh handle of the file.
    fn reopen_file_at(&mut self, offset: u64) -> Result<()> {
        let Some(fs) = self.reopen.as_ref() else {
            return Ok(());
        };
        let mut file = fs.open_sequential(&self.path)?;
        file.skip(offset)?;
        self.file = file;
        self.block.clear();
        self.block_start = offset;
        self.pos = 0;
        self.skip_rest_of_block = false;
        self.zero_tail_start = None;
        Ok(())
    }

    // ----- logical records --------------------------------------------------

    /// The region from the start of the record being assembled to `end`.
    fn region_to(&self, end: u64, reason: DropReason) -> DroppedRegion {
        DroppedRegion { offset: self.fragment_start, bytes: end.saturating_sub(self.fragment_start), reason }
    }

    fn abandon_fragment(&mut self) {
        self.in_fragment = false;
        self.scratch.clear();
    }

    /// A FULL or FIRST record at `offset` starts while another record is
    /// being assembled: drop the old one (silently if it has no bytes, the
    /// trace of an old LevelDB writer bug).
    fn drop_incomplete_record(&mut self, offset: u64) -> Result<()> {
        if self.in_fragment {
            let had_bytes = !self.scratch.is_empty();
            let partial = self.region_to(offset, DropReason::PartialRecordWithoutEnd);
            self.abandon_fragment();
            if had_bytes {
                self.report(partial)?;
                self.valid_record_follows()?;
            }
        }
        Ok(())
    }

    /// Records and reports a dropped region, then applies the recovery mode.
    fn report(&mut self, region: DroppedRegion) -> Result<()> {
        if let Some(reporter) = self.reporter.as_mut() {
            reporter(&region);
        }
        self.dropped.push(region.clone());
        match self.mode {
            RecoveryMode::AbsoluteConsistency => {
                let error = Error::corruption_at(&self.path, region.offset, region.reason.to_string());
                self.status = Status::Failed(error.clone());
                Err(error)
            }
            RecoveryMode::PointInTimeRecovery => {
                self.stopping = true;
                Ok(())
            }
            RecoveryMode::TolerateCorruptedTailRecords => {
                self.tolerated.get_or_insert(region);
                Ok(())
            }
            RecoveryMode::SkipAnyCorruptedRecords => Ok(()),
        }
    }

    /// A valid record was found: under `TolerateCorruptedTailRecords`, any
    /// region dropped before it was not at the tail, which is an error.
    fn valid_record_follows(&mut self) -> Result<()> {
        if let Some(region) = self.tolerated.take() {
            let error = Error::corruption_at(
                &self.path,
                region.offset,
                format!("{} ({} bytes), and valid records follow it", region.reason, region.bytes),
            );
            self.status = Status::Failed(error.clone());
            return Err(error);
        }
        Ok(())
    }

    /// Point-in-time recovery: report everything after the last dropped
    /// region as ignored, and stop.
    fn stop_after_damage(&mut self) -> Result<bool> {
        self.abandon_fragment();
        self.stopping = false;
        self.status = Status::Stopped;
        let from = self.dropped.last().map_or(self.buffered_end(), |region| region.offset + region.bytes);
        let mut end = self.buffered_end();
        let mut sink = vec![0u8; BLOCK_SIZE];
        loop {
            let n = self.file.read(&mut sink)?;
            if n == 0 {
                break;
            }
            end += n.min(sink.len()) as u64;
        }
        if end > from {
            let region =
                DroppedRegion { offset: from, bytes: end - from, reason: DropReason::IgnoredAfterCorruption };
            if let Some(reporter) = self.reporter.as_mut() {
                reporter(&region);
            }
            self.dropped.push(region);
        }
        Ok(false)
    }

    /// No complete record in the bytes available now.
    fn end_of_input(&mut self) -> Result<bool> {
        if self.follow_tail {
            if self.reopen.is_some() {
                self.reopen_at = self.zero_tail_start;
            }
            return Ok(false);
        }
        let tail_start = self.block_start + self.pos as u64;
        let tail_has_data = self.block[self.pos..].iter().any(|&byte| byte != 0);
        if !self.in_fragment && !tail_has_data {
            // Ends at a record boundary, possibly followed by zeros.
            return Ok(false);
        }
        let start = if self.in_fragment { self.fragment_start } else { tail_start };
        let end =
            if tail_has_data { self.buffered_end() } else { self.zero_tail_start.unwrap_or(tail_start) };
        self.abandon_fragment();
        self.pos = self.block.len();
        self.skip_rest_of_block = !self.block_complete();
        self.report(DroppedRegion {
            offset: start,
            bytes: end.saturating_sub(start),
            reason: DropReason::TruncatedRecordAtEnd,
        })?;
        if self.stopping {
            return self.stop_after_damage();
        }
        Ok(false)
    }
}

impl fmt::Debug for LogReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogReader")
            .field("path", &self.path)
            .field("mode", &self.mode)
            .field("follow_tail", &self.follow_tail)
            .field("position", &(self.block_start + self.pos as u64))
            .field("dropped", &self.dropped)
            .field("status", &self.status)
            .finish()
    }
}
