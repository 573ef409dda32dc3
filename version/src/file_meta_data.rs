//! [`FileMetaData`]: what a Version knows about one table file — the fields
//! of a MANIFEST "new file" entry (docs/format.md §10.1, tag 7) plus the seek
//! budget of docs/format.md §11 (`allowed_seeks`).

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};

use lsmkit_base::key::extract_user_key;

use crate::config::{BYTES_PER_ALLOWED_SEEK, MIN_ALLOWED_SEEKS};

/// One table file of a Version: its number, length and key range.
///
/// Versions share these through `Arc`; the only mutable part is the seek
/// budget, which every Version holding the file sees (as in LevelDB).
pub struct FileMetaData {
    /// The file number (`NNNNNN.ldb`).
    pub number: u64,
    /// The file's length in bytes (it locates the table footer).
    pub file_size: u64,
    /// The smallest internal key in the file.
    pub smallest: Vec<u8>,
    /// The largest internal key in the file.
    pub largest: Vec<u8>,
    /// Seeks left before the file is proposed for a seek compaction.
    allowed_seeks: AtomicI64,
}

impl FileMetaData {
    /// Metadata for table `number`, with the seek budget LevelDB gives a new
    /// file: one seek per 16 KiB, at least 100.
    pub fn new(number: u64, file_size: u64, smallest: Vec<u8>, largest: Vec<u8>) -> FileMetaData {
        FileMetaData {
            number,
            file_size,
            smallest,
            largest,
            allowed_seeks: AtomicI64::new(initial_allowed_seeks(file_size)),
        }
    }

    /// The user-key part of [`smallest`](Self::smallest).
    pub fn smallest_user_key(&self) -> &[u8] {
        extract_user_key(&self.smallest)
    }

    /// The user-key part of [`largest`](Self::largest).
    pub fn largest_user_key(&self) -> &[u8] {
        extract_user_key(&self.largest)
    }

    /// Seeks left before a seek compaction is proposed.
    pub fn allowed_seeks(&self) -> i64 {
        self.allowed_seeks.load(Ordering::Relaxed)
    }

    /// Charges one seek; returns the budget left afterwards.
    pub(crate) fn charge_seek(&self) -> i64 {
        self.allowed_seeks.fetch_sub(1, Ordering::Relaxed) - 1
    }
}

/// `max(100, file_size / 16 KiB)`.
fn initial_allowed_seeks(file_size: u64) -> i64 {
    i64::try_from(file_size / BYTES_PER_ALLOWED_SEEK).unwrap_or(i64::MAX).max(MIN_ALLOWED_SEEKS)
}

impl Clone for FileMetaData {
    /// A copy with the same fields and the current seek budget.
    fn clone(&self) -> FileMetaData {
        FileMetaData {
            number: self.number,
            file_size: self.file_size,
            smallest: self.smallest.clone(),
            largest: self.largest.clone(),
            allowed_seeks: AtomicI64::new(self.allowed_seeks()),
        }
    }
}

/// Equality of what the MANIFEST records (number, size, keys); the seek
/// budget is runtime state and is ignored.
impl PartialEq for FileMetaData {
    fn eq(&self, other: &FileMetaData) -> bool {
        self.number == other.number
            && self.file_size == other.file_size
            && self.smallest == other.smallest
            && self.largest == other.largest
    }
}

impl Eq for FileMetaData {}

impl fmt::Debug for FileMetaData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileMetaData")
            .field("number", &self.number)
            .field("file_size", &self.file_size)
            .field("smallest", &DebugKey(&self.smallest))
            .field("largest", &DebugKey(&self.largest))
            .field("allowed_seeks", &self.allowed_seeks())
            .finish()
    }
}

/// Shows an internal key as `'user key' @ sequence : kind`, escaping bytes.
pub(crate) struct DebugKey<'a>(pub(crate) &'a [u8]);

impl fmt::Debug for DebugKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match lsmkit_base::key::parse_internal_key(self.0) {
            Ok(parsed) => write!(
                f,
                "'{}' @ {} : {}",
                parsed.user_key.escape_ascii(),
                parsed.sequence,
                parsed.kind as u8
            ),
            Err(_) => write!(f, "(bad internal key '{}')", self.0.escape_ascii()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsmkit_base::key::{make_internal_key, ValueKind};

    #[test]
    fn allowed_seeks_follow_leveldb() {
        let key = make_internal_key(b"a", 1, ValueKind::Value);
        assert_eq!(FileMetaData::new(1, 0, key.clone(), key.clone()).allowed_seeks(), 100);
        assert_eq!(FileMetaData::new(1, 100 * 16384 - 1, key.clone(), key.clone()).allowed_seeks(), 100);
        assert_eq!(FileMetaData::new(1, 2 * 1024 * 1024, key.clone(), key.clone()).allowed_seeks(), 128);
        assert_eq!(
            FileMetaData::new(1, u64::MAX, key.clone(), key).allowed_seeks(),
            (u64::MAX / 16384) as i64
        );
    }

    #[test]
    fn charge_and_equality() {
        let a = FileMetaData::new(
            7,
            10,
            make_internal_key(b"a", 1, ValueKind::Value),
            make_internal_key(b"z", 2, ValueKind::Deletion),
        );
        assert_eq!(a.charge_seek(), 99);
        let b = a.clone();
        assert_eq!(b.allowed_seeks(), 99);
        assert_eq!(a, FileMetaData::new(7, 10, a.smallest.clone(), a.largest.clone()));
        assert_eq!(a.smallest_user_key(), b"a");
        assert_eq!(a.largest_user_key(), b"z");
        assert_eq!(format!("{:?}", DebugKey(&a.largest)), "'z' @ 2 : 0");
    }
}
