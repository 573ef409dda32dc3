//! [`RecoveryMode`]: what a [`LogReader`](crate::LogReader) does when a log
//! file is damaged (the meaning of RocksDB's `WALRecoveryMode`, applied to the
//! corruption cases of docs/format.md §3.3).

/// How a [`LogReader`](crate::LogReader) treats damaged bytes.
///
/// In every mode, zero-filled space (a header of type 0 with length 0, as
/// left by preallocation or the mmap writer's unused tail) is not damage: the
/// rest of that block is skipped silently, and when nothing but zeros follow,
/// the log simply ends there. Every region that *is* dropped is recorded as a
/// [`DroppedRegion`](crate::DroppedRegion) (file offset, byte count, reason)
/// and handed to the reader's reporter, whatever the mode.
///
/// A *torn tail* is a log whose last record is incomplete: the file ends
/// inside a header, inside a payload, or between the fragments of one
/// logical record (the writer died mid-record).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecoveryMode {
    /// Damage at the end of the log is tolerated; damage followed by valid
    /// records is an error.
    ///
    /// A torn tail, or bad records after which the file holds no valid
    /// record, are dropped and reported, and reading ends normally. As soon
    /// as a valid record is found *after* a dropped region, reading fails
    /// with `Error::Corruption` naming the file and the offset of the first
    /// dropped region: records were lost from the middle of the log.
    TolerateCorruptedTailRecords,
    /// The log must be intact: the first dropped region of any kind,
    /// including a torn tail, makes `read_record` return
    /// `Error::Corruption` with the file and offset (and every later call
    /// returns the same error). Use it for logs that were closed cleanly.
    AbsoluteConsistency,
    /// Recover up to the first damage and nothing after it (the default).
    ///
    /// The first dropped region ends the log: it is reported, the bytes after
    /// it are counted and reported as one more region ("ignored after
    /// corruption"), and `read_record` returns `Ok(None)` from then on. The
    /// records returned before it are a consistent prefix of what was
    /// written, so a database recovered this way is the database as it was
    /// at some point in time.
    #[default]
    PointInTimeRecovery,
    /// LevelDB's own behaviour: drop every damaged region, report it, and
    /// keep reading the records after it. Maximises what is recovered, at
    /// the price of possible holes in the middle of the history.
    SkipAnyCorruptedRecords,
}

impl RecoveryMode {
    /// Every mode, for tests that compare them.
    pub const ALL: [RecoveryMode; 4] = [
        RecoveryMode::TolerateCorruptedTailRecords,
        RecoveryMode::AbsoluteConsistency,
        RecoveryMode::PointInTimeRecovery,
        RecoveryMode::SkipAnyCorruptedRecords,
    ];
}
