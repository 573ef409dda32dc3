//! WAL retention and [`Db::updates_since`]: the updates a database logged
//! from a sequence number on, for a follower to catch up with, and the
//! archive of obsolete logs that keeps them available after flushes
//! (RocksDB's `GetUpdatesSince` with `WAL_ttl_seconds` / `WAL_size_limit_MB`).
//! Log file names are docs/format.md §10.4's; records are WriteBatches (§4).
//!
//! # Retention
//!
//! With [`Options::wal_ttl`](crate::Options::wal_ttl) and
//! [`Options::wal_size_limit`](crate::Options::wal_size_limit) both zero (the
//! default), an obsolete log (one whose writes are all in tables) is deleted,
//! as LevelDB does. Otherwise it is moved into the `archive/` subdirectory of
//! the database ([`WAL_ARCHIVE_DIR_NAME`](crate::WAL_ARCHIVE_DIR_NAME)) and deleted from there
//!
//! - once it has been archived for longer than `wal_ttl` (when not zero), and
//! - oldest (lowest file number) first, while the archive's logs together are
//!   larger than `wal_size_limit` bytes (when not zero); the age check runs first.
//!
//! An empty obsolete log holds no update and is deleted, not archived.
//!
//! The file system interface has no modification times, so the archive time
//! of each log is recorded in memory when the database moves it. Logs found
//! in the archive when the database opens (or put there by anyone else) are
//! taken to be archived when the database first sees them: a restart
//! restarts their time to live. The rules are applied whenever obsolete files
//! are collected (at open, and after every flush and compaction), not on a
//! timer: in a database that writes nothing, an expired log stays until the
//! next flush. With retention off, logs an earlier open archived are
//! deleted at the next collection too.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use lsmkit_base::filename::{log_file_name, parse_file_name, FileType};
use lsmkit_base::key::SequenceNumber;
use lsmkit_base::{Error, Result};
use lsmkit_wal::wal_iterator::wal_archive_dir;
use lsmkit_wal::{WalIterator, WalIteratorOptions};

use crate::db::Db;
use crate::state::{DbShared, DbState};

/// How long, and how many bytes of, obsolete logs are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WalRetention {
    /// Archived logs older than this are deleted (zero: no age limit).
    pub(crate) ttl: Duration,
    /// The archive is cut, oldest first, to at most this many bytes (zero: no size limit).
    pub(crate) size_limit: u64,
}

impl WalRetention {
    /// True when obsolete logs are archived rather than deleted.
    pub(crate) fn is_enabled(&self) -> bool {
        !self.ttl.is_zero() || self.size_limit > 0
    }
}

/// One archived log, as the database recorded it.
#[derive(Debug, Clone, Copy)]
struct ArchivedLog {
    archived_at: Instant,
    size: u64,
}

/// The logs in the archive directory, by file number, with their archive
/// times (kept in memory only; see the module documentation).
#[derive(Debug, Default)]
pub(crate) struct WalArchive {
    logs: BTreeMap<u64, ArchivedLog>,
}

impl WalArchive {
    /// Records that log `number`, `size` bytes, was archived at `at`.
    fn record(&mut self, number: u64, size: u64, at: Instant) {
        self.logs.insert(number, ArchivedLog { archived_at: at, size });
    }

    /// Makes the record match the logs `present` in the archive directory:
    /// forgets logs no longer there, and records those not known yet as
    /// archived at `now` (`size_of` gives their sizes; one it cannot size
    /// is left for the next time).
    fn sync_with(&mut self, present: &[u64], now: Instant, mut size_of: impl FnMut(u64) -> Option<u64>) {
        self.logs.retain(|number, _| present.contains(number));
        for &number in present {
            if !self.logs.contains_key(&number) {
                if let Some(size) = size_of(number) {
                    self.record(number, size, now);
                }
            }
        }
    }

    /// The recorded logs that `retention` says to delete at `now`, oldest first.
    fn expired(&self, now: Instant, retention: WalRetention) -> Vec<u64> {
        if !retention.is_enabled() {
            return self.logs.keys().copied().collect();
        }
        let mut expired = Vec::new();
        let mut kept = Vec::new();
        for (&number, log) in &self.logs {
            let too_old =
                !retention.ttl.is_zero() && now.saturating_duration_since(log.archived_at) > retention.ttl;
            if too_old {
                expired.push(number);
            } else {
                kept.push((number, log.size));
            }
        }
        if retention.size_limit > 0 {
            let mut total: u64 = kept.iter().map(|&(_, size)| size).sum();
            for (number, size) in kept {
                if total <= retention.size_limit {
                    break;
                }
                total -= size;
                expired.push(number);
            }
        }
        expired.sort_unstable();
        expired
    }

    fn forget(&mut self, number: u64) {
        self.logs.remove(&number);
    }
}

impl DbShared {
    /// The retention the options ask for.
    pub(crate) fn wal_retention(&self) -> WalRetention {
        WalRetention { ttl: self.options.wal_ttl, size_limit: self.options.wal_size_limit }
    }

    /// Called by `delete_obsolete_files` for each obsolete file `name`:
    /// returns true when the file is an obsolete log that retention keeps,
    /// having moved it into the archive (or, if that failed, left it for the
    /// next collection); false when the file is to be deleted as usual.
    pub(crate) fn archive_obsolete_log(&self, state: &mut DbState, name: &str) -> bool {
        let Some((number, FileType::Log)) = parse_file_name(name) else { return false };
        if !self.wal_retention().is_enabled() {
            return false;
        }
        let from = self.dir.join(name);
        let size = match self.fs.file_size(&from) {
            Ok(0) => return false, // no update to keep
            Ok(size) => size,
            Err(_) => return true,
        };
        let archive = wal_archive_dir(&self.dir);
        if self.fs.create_dir_all(&archive).is_err() {
            return true;
        }
        if self.fs.rename(&from, &log_file_name(&archive, number)).is_ok() {
            state.wal_archive.record(number, size, Instant::now());
        }
        true
    }

    /// Called by `delete_obsolete_files` after the obsolete files are
    /// handled: deletes the archived logs that retention no longer keeps.
    /// Errors are ignored (a log left behind is deleted next time).
    pub(crate) fn purge_wal_archive(&self, state: &mut DbState) {
        let archive = wal_archive_dir(&self.dir);
        let Ok(names) = self.fs.list_dir(&archive) else { return }; // no archive yet
        let present: Vec<u64> = names
            .iter()
            .filter_map(|name| match parse_file_name(name) {
                Some((number, FileType::Log)) => Some(number),
                _ => None,
            })
            .collect();
        let now = Instant::now();
        state
            .wal_archive
            .sync_with(&present, now, |number| self.fs.file_size(&log_file_name(&archive, number)).ok());
        for number in state.wal_archive.expired(now, self.wal_retention()) {
            match self.fs.remove_file(&log_file_name(&archive, number)) {
                Ok(()) => state.wal_archive.forget(number),
                Err(e) if e.is_not_found() => state.wal_archive.forget(number),
                Err(_) => {}
            }
        }
    }
}

impl Db {
    /// The updates logged from `sequence` on: a [`WalIterator`] over the
    /// database's logs (those in the directory and, with WAL retention, the
    /// archived ones; see [`Options::wal_ttl`](crate::Options::wal_ttl)),
    /// positioned before the batch that holds `sequence` (0 means the first
    /// sequence, 1). It goes forward and backward, per operation or per
    /// batch (each batch is one WAL record: a write group of the database),
    /// and follows the tail: after its end, a later call sees writes made
    /// since, across new log files.
    ///
    /// A follower that starts empty and writes every batch, in order, as one
    /// [`write`](Db::write), gets the same sequence numbers as this database.
    ///
    /// Fails with `InvalidArgument` when the updates cannot all be served: a
    /// `sequence` this database has written whose log is gone (deleted or
    /// purged from the archive), or written with
    /// [`disable_wal`](crate::WriteOptions::disable_wal). The same error
    /// comes from the iterator when it meets such a gap later on.
    pub fn updates_since(&self, sequence: SequenceNumber) -> Result<WalIterator> {
        self.updates_since_opt(sequence, WalIteratorOptions::default())
    }

    /// [`updates_since`](Db::updates_since) with iterator options (say, not
    /// following the tail, or a stricter recovery mode for damaged logs).
    pub fn updates_since_opt(
        &self,
        sequence: SequenceNumber,
        options: WalIteratorOptions,
    ) -> Result<WalIterator> {
        let shared = self.shared();
        let start = sequence.max(1);
        // Every write up to `latest` is in a log (flushed to the OS before
        // it was acknowledged) unless it was not logged or its log is gone.
        let latest = self.latest_sequence();
        let mut iter = WalIterator::new(shared.fs.clone(), &shared.dir, start, options)?;
        if start <= latest {
            // Read the first batch now, so a gap at the start fails here.
            match iter.next_batch() {
                Some(Ok(_)) => match iter.prev_batch() {
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(e),
                    None => return Err(Error::corruption("WAL iterator lost its first batch")),
                },
                Some(Err(e)) => return Err(e),
                None => {
                    return Err(Error::InvalidArgument(format!(
                        "gap in the WAL of {}: sequence {start} (of {latest} written) is in no log \
                         (written with disable_wal, or its log is gone)",
                        shared.dir.display()
                    )))
                }
            }
        }
        Ok(iter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    /// An archive with logs 10, 11, 12 of 100, 200, 300 bytes archived 3, 2
    /// and 1 hours before the instant returned.
    fn archive() -> (WalArchive, Instant) {
        let start = Instant::now();
        let mut archive = WalArchive::default();
        archive.record(10, 100, start);
        archive.record(11, 200, start + HOUR);
        archive.record(12, 300, start + 2 * HOUR);
        (archive, start + 3 * HOUR)
    }

    fn retention(ttl: Duration, size_limit: u64) -> WalRetention {
        WalRetention { ttl, size_limit }
    }

    #[test]
    fn without_retention_every_archived_log_goes() {
        let (archive, now) = archive();
        assert_eq!(archive.expired(now, retention(Duration::ZERO, 0)), [10, 11, 12]);
    }

    #[test]
    fn ttl_deletes_logs_archived_longer_ago() {
        let (archive, now) = archive();
        assert_eq!(archive.expired(now, retention(HOUR * 5 / 2, 0)), [10]);
        assert_eq!(archive.expired(now, retention(HOUR * 3 / 2, 0)), [10, 11]);
        assert!(archive.expired(now, retention(4 * HOUR, 0)).is_empty());
    }

    #[test]
    fn size_limit_deletes_oldest_first_until_within() {
        let (archive, now) = archive();
        assert!(archive.expired(now, retention(Duration::ZERO, 600)).is_empty());
        assert_eq!(archive.expired(now, retention(Duration::ZERO, 599)), [10]);
        assert_eq!(archive.expired(now, retention(Duration::ZERO, 500)), [10]);
        assert_eq!(archive.expired(now, retention(Duration::ZERO, 499)), [10, 11]);
        assert_eq!(archive.expired(now, retention(Duration::ZERO, 1)), [10, 11, 12]);
    }

    #[test]
    fn ttl_applies_before_the_size_limit() {
        let (archive, now) = archive();
        // The ttl removes 10 and 11; 12 alone fits in 300 bytes.
        assert_eq!(archive.expired(now, retention(HOUR * 3 / 2, 300)), [10, 11]);
        // Only 10 is too old; 11 + 12 exceed 400 bytes, so 11 goes too.
        assert_eq!(archive.expired(now, retention(HOUR * 5 / 2, 400)), [10, 11]);
    }

    #[test]
    fn logs_found_in_the_archive_count_from_when_they_are_seen() {
        let (mut archive, now) = archive();
        // 11 was removed by someone else; 13 appeared (say, at open).
        archive.sync_with(&[10, 12, 13], now, |number| Some(number * 1000));
        assert_eq!(archive.logs.keys().copied().collect::<Vec<_>>(), [10, 12, 13]);
        assert_eq!(archive.logs[&13].size, 13_000);
        assert_eq!(archive.expired(now, retention(HOUR / 2, 0)), [10, 12]);
        assert_eq!(archive.expired(now + HOUR, retention(HOUR / 2, 0)), [10, 12, 13]);
        // A log that cannot be sized is not recorded yet.
        archive.sync_with(&[10, 12, 13, 14], now, |_| None);
        assert!(!archive.logs.contains_key(&14));
    }
}
