//! [`WalIterator`]: the updates recorded in a directory's write-ahead logs
//! from a given sequence number on (Kvrocks' WAL iterator, RocksDB's
//! `GetUpdatesSince`), for incremental sync and replication.
//!
//! The logs are the directory's `NNNNNN.log` files (docs/format.md §10.4) and
//! those of its [`archive/`](WAL_ARCHIVE_DIR_NAME) subdirectory, where a
//! database with WAL retention moves the logs it no longer needs; they are
//! read in file-number order, and each record is one [`WriteBatch`]
//! (docs/format.md §4).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use lsmkit_base::filename::{log_file_name, parse_file_name, FileType};
use lsmkit_base::fs::{FileSystem, SequentialFile};
use lsmkit_base::key::{SequenceNumber, ValueKind};
use lsmkit_base::{Error, Result};

use crate::log_reader::LogReader;
use crate::recovery_mode::RecoveryMode;
use crate::write_batch::WriteBatch;

/// The name of the subdirectory of a database directory that holds archived
/// (obsolete but retained) logs. A log only ever moves from the directory
/// into its archive, never back, and keeps its file name.
pub const WAL_ARCHIVE_DIR_NAME: &str = "archive";

/// The archive directory of the logs of database directory `dir`.
pub fn wal_archive_dir(dir: &Path) -> PathBuf {
    dir.join(WAL_ARCHIVE_DIR_NAME)
}

/// Options of a [`WalIterator`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalIteratorOptions {
    /// How damaged log bytes are treated. The default,
    /// [`RecoveryMode::TolerateCorruptedTailRecords`], accepts the torn tail
    /// a crash leaves in a log but fails on damage followed by valid records
    /// (updates would be missing from the middle of the history).
    pub recovery_mode: RecoveryMode,
    /// Keep following the newest log: after the end, a later `next` sees
    /// records appended since (default `true`).
    pub follow_tail: bool,
}

impl Default for WalIteratorOptions {
    fn default() -> WalIteratorOptions {
        WalIteratorOptions { recovery_mode: RecoveryMode::TolerateCorruptedTailRecords, follow_tail: true }
    }
}

/// One operation of a logged batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalOp {
    /// The operation's sequence number.
    pub sequence: SequenceNumber,
    /// Put ([`ValueKind::Value`]), delete ([`ValueKind::Deletion`]), merge
    /// ([`ValueKind::Merge`]) or range deletion ([`ValueKind::RangeDeletion`]).
    pub kind: ValueKind,
    /// The user key; the first key of a range deletion.
    pub key: Bytes,
    /// The value of a put or the operand of a merge; empty for a delete;
    /// the end (excluded) of a range deletion.
    pub value: Bytes,
}

/// One logged batch, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalBatch {
    /// The number of the log file that holds it.
    pub log_number: u64,
    /// The batch; its first operation has sequence `batch.sequence()`.
    pub batch: WriteBatch,
}

/// Where a batch already seen lives, so the iterator can step back to it.
#[derive(Debug, Clone, Copy)]
struct BatchLocation {
    log_number: u64,
    /// File offset of the record's first physical header.
    offset: u64,
    sequence: SequenceNumber,
    count: u32,
}

impl BatchLocation {
    fn end_sequence(&self) -> SequenceNumber {
        self.sequence + u64::from(self.count)
    }
}

/// A batch decoded once, with its operations.
struct CachedBatch {
    index: usize,
    batch: WriteBatch,
    ops: Vec<WalOp>,
}

/// The reader of the log file that new batches come from.
struct ForwardReader {
    log_number: u64,
    reader: LogReader,
    /// A newer log exists, so this one is read to its final end.
    complete: bool,
}

/// A cursor over the operations (or whole batches) logged in a directory,
/// starting with the batch that contains a given sequence number.
///
/// The cursor sits between two items: [`next`](Self::next_op) returns the
/// item after it and moves past it, [`prev`](Self::prev_op) the item before
/// it. Batches must be contiguous: if the starting sequence is older than
/// every log, or a batch does not start where the previous one ended (the
/// updates in between were never logged, or their log is gone), the call
/// returns an error instead of skipping. After the end, a later call sees
/// records appended since, including those in newer log files.
///
/// Batches already passed are re-read from their files when the cursor moves
/// back, so memory stays small (a few dozen bytes per batch passed).
///
/// Logs are looked for in `dir` and in its [`archive/`](WAL_ARCHIVE_DIR_NAME)
/// subdirectory, so a log the database archives while it is being read (a
/// rename into the archive) is read on from there. A log that is deleted
/// before it is read is skipped, which shows as a gap if it held batches.
///
/// ```
/// use std::path::Path;
/// use std::sync::Arc;
/// use lsmkit_base::fs::{FileSystem, MemFs};
/// use lsmkit_wal::{WalIterator, WalIteratorOptions, WalOptions, WalWriter, WriteBatch};
///
/// let fs = Arc::new(MemFs::new());
/// fs.create_dir_all(Path::new("db"))?;
/// let mut wal = WalWriter::create(&*fs, Path::new("db/000003.log"), WalOptions::default())?;
/// for (sequence, key) in [(1, "a"), (2, "b"), (3, "c")] {
///     let mut batch = WriteBatch::new();
///     batch.set_sequence(sequence);
///     batch.put(key.as_bytes(), b"v");
///     wal.add_batch(&batch)?;
/// }
/// let mut updates = WalIterator::new(fs.clone(), Path::new("db"), 2, WalIteratorOptions::default())?;
/// let op = updates.next_op().unwrap()?;
/// assert_eq!((op.sequence, &op.key[..]), (2, &b"b"[..]));
/// assert_eq!(updates.next_op().unwrap()?.sequence, 3);
/// assert!(updates.next_op().is_none());
///
/// let mut batch = WriteBatch::new();
/// batch.set_sequence(4);
/// batch.delete(b"a");
/// wal.add_batch(&batch)?;
/// assert_eq!(updates.next_op().unwrap()?.sequence, 4); // follows the tail
/// # Ok::<(), lsmkit_base::Error>(())
/// ```
pub struct WalIterator {
    fs: Arc<dyn FileSystem>,
    dir: PathBuf,
    options: WalIteratorOptions,
    start_sequence: SequenceNumber,
    /// Log files not yet opened by the forward reader, ascending.
    pending_logs: Vec<u64>,
    forward: Option<ForwardReader>,
    /// Every batch from the starting one on that the cursor has reached.
    visited: Vec<BatchLocation>,
    /// Cursor: the next item is operation `op_index` of `visited[batch_index]`
    /// (`batch_index == visited.len()` means: the next batch not read yet).
    batch_index: usize,
    op_index: u32,
    /// The batch `visited[i]` and its decoded operations, for the cursor.
    cached: Option<CachedBatch>,
}

impl WalIterator {
    /// Positions a cursor before the batch of `dir`'s logs that contains
    /// `start_sequence`.
    ///
    /// Fails with `InvalidArgument` when every log starts after
    /// `start_sequence` (the updates it asks for are gone). A sequence newer
    /// than everything logged is fine: the cursor waits at the end.
    pub fn new(
        fs: Arc<dyn FileSystem>,
        dir: &Path,
        start_sequence: SequenceNumber,
        options: WalIteratorOptions,
    ) -> Result<WalIterator> {
        let mut iter = WalIterator {
            fs,
            dir: dir.to_path_buf(),
            options,
            start_sequence,
            pending_logs: Vec::new(),
            forward: None,
            visited: Vec::new(),
            batch_index: 0,
            op_index: 0,
            cached: None,
        };
        let logs = iter.list_logs()?;
        // Start in the newest log whose first batch is at or before the
        // starting sequence; older logs cannot hold it.
        let mut start_at = None;
        let mut oldest_first_sequence = None;
        for (i, &number) in logs.iter().enumerate().rev() {
            if let Some(first) = iter.first_sequence(number)? {
                oldest_first_sequence = Some(first);
                if first <= start_sequence {
                    start_at = Some(i);
                    break;
                }
            }
        }
        match (start_at, oldest_first_sequence) {
            (Some(i), _) => iter.pending_logs = logs[i..].to_vec(),
            (None, Some(oldest)) => {
                return Err(Error::InvalidArgument(format!(
                    "sequence {start_sequence} is no longer in the WAL of {} (its oldest batch starts at {oldest})",
                    dir.display()
                )))
            }
            // No batch logged yet: read every log as it fills.
            (None, None) => iter.pending_logs = logs,
        }
        Ok(iter)
    }

    /// The sequence number this iterator was asked to start from.
    pub fn start_sequence(&self) -> SequenceNumber {
        self.start_sequence
    }

    /// The next operation, or `None` at the end of what is logged so far.
    pub fn next_op(&mut self) -> Option<Result<WalOp>> {
        loop {
            match self.ensure_batch(self.batch_index) {
                Ok(true) => {}
                Ok(false) => return None,
                Err(e) => return Some(Err(e)),
            }
            let location = self.visited[self.batch_index];
            if self.op_index < location.count {
                let op = self.op_at(self.batch_index, self.op_index);
                if op.is_ok() {
                    self.op_index += 1;
                }
                return Some(op);
            }
            self.batch_index += 1;
            self.op_index = 0;
        }
    }

    /// The operation before the cursor, or `None` at the starting batch's start.
    pub fn prev_op(&mut self) -> Option<Result<WalOp>> {
        while self.op_index == 0 {
            if self.batch_index == 0 {
                return None;
            }
            self.batch_index -= 1;
            self.op_index = self.visited[self.batch_index].count;
        }
        let op = self.op_at(self.batch_index, self.op_index - 1);
        if op.is_ok() {
            self.op_index -= 1;
        }
        Some(op)
    }

    /// The next whole batch (from the cursor's batch, even if some of its
    /// operations were already returned), or `None` at the end so far.
    pub fn next_batch(&mut self) -> Option<Result<WalBatch>> {
        // A batch whose operations were all returned is behind the cursor.
        if self.op_index > 0 && self.visited.get(self.batch_index).is_some_and(|b| b.count == self.op_index) {
            self.batch_index += 1;
            self.op_index = 0;
        }
        match self.ensure_batch(self.batch_index) {
            Ok(true) => {}
            Ok(false) => return None,
            Err(e) => return Some(Err(e)),
        }
        let batch = self.batch_at(self.batch_index);
        if batch.is_ok() {
            self.batch_index += 1;
            self.op_index = 0;
        }
        Some(batch)
    }

    /// The batch before the cursor (the cursor's own batch when it is in the
    /// middle of one), or `None` at the starting batch's start.
    pub fn prev_batch(&mut self) -> Option<Result<WalBatch>> {
        let target = if self.op_index > 0 {
            self.batch_index
        } else if self.batch_index > 0 {
            self.batch_index - 1
        } else {
            return None;
        };
        let batch = self.batch_at(target);
        if batch.is_ok() {
            self.batch_index = target;
            self.op_index = 0;
        }
        Some(batch)
    }

    // ----- batches ------------------------------------------------------------

    /// The numbers of the logs in the directory and its archive, ascending.
    fn list_logs(&self) -> Result<Vec<u64>> {
        // The directory first: a log archived between the two listings is
        // then seen twice rather than not at all.
        let mut names = self.fs.list_dir(&self.dir)?;
        match self.fs.list_dir(&wal_archive_dir(&self.dir)) {
            Ok(archived) => names.extend(archived),
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
        let mut logs: Vec<u64> = names
            .iter()
            .filter_map(|name| match parse_file_name(name) {
                Some((number, FileType::Log)) => Some(number),
                _ => None,
            })
            .collect();
        logs.sort_unstable();
        logs.dedup();
        Ok(logs)
    }

    /// Opens log `log_number` where it is now: in the directory or, once
    /// archived, in the archive. A `NotFound` error means it is in neither.
    fn open_log(&self, log_number: u64) -> Result<(Box<dyn SequentialFile>, PathBuf)> {
        // The directory first: a log moves only from there to the archive,
        // so it cannot be missed between the two attempts.
        let live = log_file_name(&self.dir, log_number);
        match self.fs.open_sequential(&live) {
            Ok(file) => Ok((file, live)),
            Err(e) if e.is_not_found() => {
                let archived = log_file_name(&wal_archive_dir(&self.dir), log_number);
                match self.fs.open_sequential(&archived) {
                    Ok(file) => Ok((file, archived)),
                    Err(archive_error) if archive_error.is_not_found() => Err(e),
                    Err(archive_error) => Err(archive_error),
                }
            }
            Err(e) => Err(e),
        }
    }

    fn open_reader(&self, log_number: u64, offset: u64, follow_tail: bool) -> Result<LogReader> {
        let (file, path) = self.open_log(log_number)?;
        let reader = LogReader::starting_at(file, path, self.options.recovery_mode, offset)?;
        Ok(reader.with_follow_tail(follow_tail).with_reopen(self.fs.clone()))
    }

    /// The sequence of the first batch in log `number`, `None` if it holds
    /// none or no longer exists.
    fn first_sequence(&self, number: u64) -> Result<Option<SequenceNumber>> {
        let mut reader = match self.open_reader(number, 0, false) {
            Ok(reader) => reader,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        while let Some(record) = reader.read_record()? {
            // A malformed batch is reported when the forward reader meets it.
            let offset = reader.last_record_offset();
            if let Ok(batch) = WriteBatch::from_log_record(record, reader.path(), offset) {
                return Ok(Some(batch.sequence()));
            }
        }
        Ok(None)
    }

    /// Makes sure `visited[index]` exists, reading forward as needed.
    /// Returns false when the logs hold nothing more yet.
    fn ensure_batch(&mut self, index: usize) -> Result<bool> {
        while self.visited.len() <= index {
            match self.read_forward()? {
                Some(location) => self.visited.push(location),
                None => return Ok(false),
            }
        }
        Ok(true)
    }

    /// The next batch to visit: skips batches before the starting sequence
    /// and checks that each one continues where the previous one ended.
    fn read_forward(&mut self) -> Result<Option<BatchLocation>> {
        loop {
            let Some((location, batch, path)) = self.read_next_record()? else {
                return Ok(None);
            };
            let gap = |expected: SequenceNumber| {
                Error::InvalidArgument(format!(
                    "gap in the WAL of {}: sequence {expected} is missing (log {:06} continues at {})",
                    self.dir.display(),
                    location.log_number,
                    location.sequence
                ))
            };
            match self.visited.last() {
                Some(previous) => {
                    if location.sequence != previous.end_sequence() {
                        return Err(gap(previous.end_sequence()));
                    }
                }
                None => {
                    if location.end_sequence() <= self.start_sequence {
                        continue; // entirely before the start
                    }
                    if location.sequence > self.start_sequence {
                        return Err(gap(self.start_sequence));
                    }
                }
            }
            self.cached = Some(decode(self.visited.len(), &location, &path, batch)?);
            return Ok(Some(location));
        }
    }

    /// The next record of the logs, across files, with the path it was read from.
    fn read_next_record(&mut self) -> Result<Option<(BatchLocation, WriteBatch, PathBuf)>> {
        loop {
            if self.forward.is_none() {
                if self.pending_logs.is_empty() {
                    self.pending_logs = self.newer_logs()?;
                }
                if self.pending_logs.is_empty() {
                    return Ok(None);
                }
                let log_number = self.pending_logs.remove(0);
                let follow = self.options.follow_tail;
                let reader = match self.open_reader(log_number, 0, follow) {
                    Ok(reader) => reader,
                    // Deleted since it was listed: whatever it held is gone,
                    // which the contiguity check reports as a gap.
                    Err(e) if e.is_not_found() => continue,
                    Err(e) => return Err(e),
                };
                self.forward = Some(ForwardReader { log_number, reader, complete: false });
            }
            let Some(forward) = self.forward.as_mut() else { continue };
            let read = match forward.reader.read_record() {
                Err(e) if e.is_not_found() => self.reopen_moved_forward_log(e)?,
                read => read?,
            };
            let Some(forward) = self.forward.as_mut() else { continue };
            if let Some(record) = read {
                let offset = forward.reader.last_record_offset();
                let path = forward.reader.path().to_path_buf();
                let batch = match WriteBatch::from_log_record(record, &path, offset) {
                    Ok(batch) => batch,
                    Err(e) => {
                        // Damage like any other, for the recovery mode.
                        forward.reader.reject_record(&e)?;
                        continue;
                    }
                };
                let location = BatchLocation {
                    log_number: forward.log_number,
                    offset,
                    sequence: batch.sequence(),
                    count: batch.count(),
                };
                return Ok(Some((location, batch, path)));
            }
            // The current log has nothing more for now. If a newer log exists,
            // the writer has moved on and this one is complete: read it to its
            // final end (its tail now judged by the recovery mode), then
            // continue with the next.
            if forward.complete {
                self.forward = None;
                continue;
            }
            if self.pending_logs.is_empty() {
                self.pending_logs = self.newer_logs()?;
            }
            if self.pending_logs.is_empty() {
                return Ok(None);
            }
            if let Some(forward) = self.forward.as_mut() {
                forward.reader.set_follow_tail(false);
                forward.complete = true;
            }
        }
    }

    /// The forward reader lost its file (`error`, a `NotFound` met when it
    /// reopened it by name): the log was moved into the archive while being
    /// read. Goes on with a fresh reader of the archived file from where the
    /// old one would resume, and returns its next record. If the log is in
    /// neither place, it was deleted: `error` is returned.
    fn reopen_moved_forward_log(&mut self, error: Error) -> Result<Option<Vec<u8>>> {
        let Some(forward) = self.forward.as_mut() else { return Err(error) };
        let archived = log_file_name(&wal_archive_dir(&self.dir), forward.log_number);
        if forward.reader.path() == archived {
            return Err(error);
        }
        let file = match self.fs.open_sequential(&archived) {
            Ok(file) => file,
            Err(e) if e.is_not_found() => return Err(error),
            Err(e) => return Err(e),
        };
        let resume = forward.reader.resume_offset();
        let reader = LogReader::starting_at(file, archived, self.options.recovery_mode, resume)?;
        // An archived log is complete: it is read to its final end.
        forward.reader = reader.with_follow_tail(false).with_reopen(self.fs.clone());
        forward.complete = true;
        forward.reader.read_record()
    }

    /// Log files newer than the one being read (or than every one seen).
    fn newer_logs(&self) -> Result<Vec<u64>> {
        let newest_seen =
            self.forward.as_ref().map(|f| f.log_number).or(self.visited.last().map(|l| l.log_number));
        Ok(self.list_logs()?.into_iter().filter(|&n| newest_seen.is_none_or(|seen| n > seen)).collect())
    }

    /// The batch at `visited[index]`, re-read from its file if needed.
    fn load(&mut self, index: usize) -> Result<&CachedBatch> {
        if self.cached.as_ref().map(|c| c.index) != Some(index) {
            let location = self.visited[index];
            let mut reader = self.open_reader(location.log_number, location.offset, false)?;
            let path = reader.path().to_path_buf();
            let record = reader.read_record()?.ok_or_else(|| {
                Error::corruption_at(&path, location.offset, "a logged batch can no longer be read")
            })?;
            let batch = WriteBatch::from_log_record(record, &path, location.offset)?;
            if batch.sequence() != location.sequence || batch.count() != location.count {
                return Err(Error::corruption_at(
                    &path,
                    location.offset,
                    "a logged batch changed after it was read",
                ));
            }
            self.cached = Some(decode(index, &location, &path, batch)?);
        }
        self.cached.as_ref().ok_or_else(|| Error::corruption("batch cache is empty"))
    }

    fn batch_at(&mut self, index: usize) -> Result<WalBatch> {
        let log_number = self.visited[index].log_number;
        let batch = self.load(index)?.batch.clone();
        Ok(WalBatch { log_number, batch })
    }

    fn op_at(&mut self, index: usize, op_index: u32) -> Result<WalOp> {
        let cached = self.load(index)?;
        cached
            .ops
            .get(op_index as usize)
            .cloned()
            .ok_or_else(|| Error::corruption("WriteBatch has wrong count"))
    }
}

/// Decodes every operation of `batch` (found at `location` of the log file
/// `path`); a malformed batch is `Corruption` naming the file and offset.
fn decode(index: usize, location: &BatchLocation, path: &Path, batch: WriteBatch) -> Result<CachedBatch> {
    let mut ops = Vec::with_capacity(batch.count() as usize);
    for (i, op) in batch.ops().enumerate() {
        let op = op.map_err(|e| e.in_file(path).at_offset(location.offset))?;
        ops.push(WalOp {
            sequence: location.sequence + i as u64,
            kind: op.kind,
            key: Bytes::copy_from_slice(op.key),
            value: Bytes::copy_from_slice(op.value),
        });
    }
    if ops.len() != location.count as usize {
        return Err(Error::corruption_at(path, location.offset, "WriteBatch has wrong count"));
    }
    Ok(CachedBatch { index, batch, ops })
}

impl Iterator for WalIterator {
    type Item = Result<WalOp>;

    /// Same as [`WalIterator::next_op`]; note that `None` means "nothing more
    /// for now": a later call may return updates written since.
    fn next(&mut self) -> Option<Result<WalOp>> {
        self.next_op()
    }
}

#[cfg(test)]
mod archive_tests {
    //! Logs that move into the archive, or disappear, while being iterated.

    use lsmkit_base::fs::{MemFs, StdFs};

    use super::*;
    use crate::wal_writer::{SyncPolicy, WalIoMode, WalOptions, WalWriter};

    /// Appends a batch of `count` puts numbered from `sequence` to `wal`.
    fn add(wal: &mut WalWriter, sequence: SequenceNumber, count: u32) {
        let mut batch = WriteBatch::new();
        batch.set_sequence(sequence);
        for i in 0..count {
            batch.put(format!("k{}", sequence + u64::from(i)).as_bytes(), b"v");
        }
        wal.add_batch(&batch).unwrap();
    }

    fn create(fs: &dyn FileSystem, dir: &Path, number: u64, options: WalOptions) -> WalWriter {
        WalWriter::create(fs, &log_file_name(dir, number), options).unwrap()
    }

    fn archive(fs: &dyn FileSystem, dir: &Path, number: u64) {
        fs.create_dir_all(&wal_archive_dir(dir)).unwrap();
        fs.rename(&log_file_name(dir, number), &log_file_name(&wal_archive_dir(dir), number)).unwrap();
    }

    fn sequences(iter: &mut WalIterator) -> Vec<SequenceNumber> {
        std::iter::from_fn(|| iter.next_op()).map(|op| op.unwrap().sequence).collect()
    }

    #[test]
    fn reads_logs_archived_before_and_while_iterating() {
        let fs = Arc::new(MemFs::new());
        let dir = Path::new("db");
        fs.create_dir_all(dir).unwrap();
        let mut log3 = create(&*fs, dir, 3, WalOptions::default());
        add(&mut log3, 1, 2);
        add(&mut log3, 3, 1);
        log3.close().unwrap();
        let mut log4 = create(&*fs, dir, 4, WalOptions::default());
        add(&mut log4, 4, 2);
        archive(&*fs, dir, 3);

        let mut iter = WalIterator::new(fs.clone(), dir, 2, WalIteratorOptions::default()).unwrap();
        // From the start of the batch that holds 2.
        assert_eq!(sequences(&mut iter), [1, 2, 3, 4, 5]);
        // Log 4 is archived while the iterator follows its tail.
        log4.close().unwrap();
        archive(&*fs, dir, 4);
        let mut log5 = create(&*fs, dir, 5, WalOptions::default());
        add(&mut log5, 6, 1);
        assert_eq!(sequences(&mut iter), [6]);
        // Stepping back re-reads batches from their archived files.
        let back: Vec<_> = std::iter::from_fn(|| iter.prev_op()).map(|op| op.unwrap().sequence).collect();
        assert_eq!(back, [6, 5, 4, 3, 2, 1]);
        let batch = iter.next_batch().unwrap().unwrap();
        assert_eq!((batch.log_number, batch.batch.sequence()), (3, 1));
        // A new iterator finds the start in the archive.
        let mut fresh = WalIterator::new(fs.clone(), dir, 1, WalIteratorOptions::default()).unwrap();
        assert_eq!(sequences(&mut fresh), [1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn follows_an_mmap_log_into_the_archive() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path();
        let fs: Arc<dyn FileSystem> = Arc::new(StdFs::new());
        let options =
            WalOptions { sync_policy: SyncPolicy::Os, io_mode: WalIoMode::Mmap { chunk_size: 64 * 1024 } };
        let mut log3 = create(&*fs, dir, 3, options);
        add(&mut log3, 1, 3);
        let mut iter = WalIterator::new(fs.clone(), dir, 1, WalIteratorOptions::default()).unwrap();
        // The reader stops at the mapping's zero tail and must reopen the
        // file to see what lands there, but the file is archived first.
        assert_eq!(sequences(&mut iter), [1, 2, 3]);
        add(&mut log3, 4, 2);
        log3.close().unwrap();
        archive(&*fs, dir, 3);
        let mut log4 = create(&*fs, dir, 4, options);
        add(&mut log4, 6, 1);
        assert_eq!(sequences(&mut iter), [4, 5, 6]);
        add(&mut log4, 7, 1);
        assert_eq!(sequences(&mut iter), [7]);
    }

    #[test]
    fn a_log_deleted_before_it_is_read_is_a_gap() {
        let fs = Arc::new(MemFs::new());
        let dir = Path::new("db");
        fs.create_dir_all(dir).unwrap();
        for (number, sequence) in [(3, 1), (4, 3), (5, 5)] {
            let mut log = create(&*fs, dir, number, WalOptions::default());
            add(&mut log, sequence, 2);
            log.close().unwrap();
        }
        let mut iter = WalIterator::new(fs.clone(), dir, 1, WalIteratorOptions::default()).unwrap();
        assert_eq!(iter.next_op().unwrap().unwrap().sequence, 1);
        fs.remove_file(&log_file_name(dir, 4)).unwrap();
        assert_eq!(iter.next_op().unwrap().unwrap().sequence, 2);
        let error = iter.next_op().unwrap().unwrap_err();
        assert!(
            matches!(&error, Error::InvalidArgument(m) if m.contains("sequence 3 is missing")),
            "{error}"
        );
        // Starting in the deleted log's range is refused the same way.
        let mut late = WalIterator::new(fs.clone(), dir, 3, WalIteratorOptions::default()).unwrap();
        assert!(matches!(late.next_op(), Some(Err(Error::InvalidArgument(_)))));
    }
}
