//! [`DbIterator`]: the user's view of a database at one snapshot, built on a
//! merged stream of internal keys (LevelDB's `DBIter`).
//!
//! The stream below holds every version of every key, as internal keys
//! `user_key ++ fixed64(sequence << 8 | kind)` ordered by user key, then
//! newest first (docs/format.md §5.1, §5.2). At snapshot sequence `S` a user key
//! is visible when its newest entry with sequence `≤ S` is a value; a
//! deletion hides it, and entries newer than `S` are ignored.
//!
//! Moving forward, the stream is left on the entry being shown. Moving
//! backward, the newest visible entry of a user key is the *last* of its
//! entries met, so the stream is left just before all entries of the current
//! user key and the key and value shown are saved copies. Switching direction
//! moves the stream back across the current key's entries (LevelDB's
//! forward/reverse state machine).
//!
//! Errors stop the iteration: a malformed internal key or an error of the
//! stream makes the iterator invalid for good, and [`DbIterator::status`]
//! reports it. The stream's status is checked before each entry is shown, so
//! a source that failed mid-way (whose entries would otherwise silently
//! disappear from a merge) never yields a wrong answer.

use std::any::Any;
use std::cmp::Ordering;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::Arc;

use bytes::Bytes;
use lsmkit_base::comparator::Comparator;
use lsmkit_base::iterator::InternalIterator;
use lsmkit_base::key::{
    append_internal_key, extract_user_key, parse_internal_key, InternalKeyComparator, SequenceNumber,
    ValueKind, INTERNAL_KEY_TRAILER_LEN, VALUE_KIND_FOR_SEEK,
};
use lsmkit_base::merge_operator::MergeOperator;
use lsmkit_base::{Error, Result};

use crate::merge::full_merge;

/// Decides from a stored value whether it has expired; an expired value is
/// treated exactly like a deletion (used for entries with a time to live).
pub(crate) type ExpiryCheck = Arc<dyn Fn(&[u8]) -> bool + Send + Sync>;

/// The length of the frame an extension stores before the user's value
/// (the TTL frame), or `Error::Corruption` for a malformed one; the iterator
/// shows values without it.
pub(crate) type ValueFrameLen = Arc<dyn Fn(&[u8]) -> Result<usize> + Send + Sync>;

/// Called about once per [`READ_BYTES_PERIOD`] bytes iterated with the
/// internal key of the entry that crossed the sampling point and that entry's
/// size in bytes (key + value), so the engine can charge a seek to the file
/// holding it (docs/format.md §11, "read sampling period").
pub(crate) type ReadSampler = Box<dyn FnMut(&[u8], usize) + Send>;

/// Average number of bytes (keys + values) read between two read samples
/// (LevelDB's `kReadBytesPeriod`).
pub(crate) const READ_BYTES_PERIOD: u64 = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// The stream is on the entry shown by `key`/`value`.
    Forward,
    /// The stream is just before every entry of the user key shown, which
    /// is held in `saved_key`/`saved_value`.
    Reverse,
}

/// A cursor over the user keys and values visible at one snapshot, made by
/// [`Db::iter`](crate::Db::iter).
///
/// ```
/// use std::sync::Arc;
/// use lsmkit::{Db, Options, ReadOptions};
/// use lsmkit_base::fs::MemFs;
///
/// let db = Db::open("/db", Options { create_if_missing: true, fs: Arc::new(MemFs::new()), ..Options::default() })?;
/// db.put(b"a", b"old")?;
/// db.put(b"b", b"b")?;
/// let snapshot = db.snapshot();
/// db.put(b"a", b"new")?;
/// db.delete(b"b")?;
///
/// // At the snapshot: "a" has its older value, "b" is not deleted yet.
/// let mut it = db.iter(ReadOptions { snapshot: Some(snapshot), ..ReadOptions::new() });
/// it.seek_to_first();
/// assert_eq!((it.key(), it.value()), (&b"a"[..], &b"old"[..]));
/// it.next();
/// assert_eq!(it.key(), b"b");
/// it.prev();
/// assert_eq!(it.key(), b"a");
///
/// // Now the deletion hides "b".
/// let mut it = db.iter(ReadOptions::new());
/// it.seek_to_last();
/// assert_eq!((it.key(), it.value()), (&b"a"[..], &b"new"[..]));
/// it.status()?;
/// # Ok::<(), lsmkit::Error>(())
/// ```
pub struct DbIterator {
    // Declared before `_pins` so the stream is dropped before what it borrows from.
    inner: Box<dyn InternalIterator>,
    icmp: InternalKeyComparator,
    sequence: SequenceNumber,
    direction: Direction,
    valid: bool,
    /// Reverse: the user key shown. Forward: scratch (the key being skipped,
    /// or the seek target).
    saved_key: Vec<u8>,
    /// Reverse: the value shown.
    saved_value: Bytes,
    /// The first error; once set the iterator stays invalid.
    error: Option<Error>,
    is_expired: Option<ExpiryCheck>,
    value_frame_len: Option<ValueFrameLen>,
    /// Forward: the frame length of the value shown (0 without frames).
    value_offset: usize,
    /// The key and value shown are `saved_key` and `saved_value`: always
    /// moving backward; moving forward after a merge (the stream is then
    /// past the merged entries).
    shows_saved: bool,
    /// Combines merge operands (`None`: a merge operand is corruption).
    merge_operator: Option<Arc<dyn MergeOperator>>,
    /// Moving backward: the operands of the key being gathered, oldest first.
    merge_operands: Vec<Bytes>,
    sampling: Option<ReadSampling>,
    /// Whatever keeps the stream's data alive (memtables, a Version).
    _pins: Box<dyn Any + Send>,
}

impl DbIterator {
    /// A user view at snapshot `sequence` of `inner`, a stream of internal
    /// keys ordered by the internal-key comparator over `user_comparator`.
    /// `pins` is kept alive (and dropped after `inner`) for as long as the
    /// iterator lives. The iterator starts unpositioned.
    pub(crate) fn new(
        inner: Box<dyn InternalIterator>,
        user_comparator: Arc<dyn Comparator>,
        sequence: SequenceNumber,
        pins: Box<dyn Any + Send>,
    ) -> DbIterator {
        DbIterator {
            inner,
            icmp: InternalKeyComparator::new(user_comparator),
            sequence,
            direction: Direction::Forward,
            valid: false,
            saved_key: Vec::new(),
            saved_value: Bytes::new(),
            error: None,
            is_expired: None,
            value_frame_len: None,
            value_offset: 0,
            shows_saved: false,
            merge_operator: None,
            merge_operands: Vec::new(),
            sampling: None,
            _pins: pins,
        }
    }

    /// Treats values for which `is_expired` returns true as deletions.
    pub(crate) fn with_expiry(mut self, is_expired: ExpiryCheck) -> DbIterator {
        self.is_expired = Some(is_expired);
        self
    }

    /// Shows values without the frame `frame_len` measures; a malformed
    /// frame makes the iterator fail with its error.
    pub(crate) fn with_value_frame(mut self, frame_len: ValueFrameLen) -> DbIterator {
        self.value_frame_len = Some(frame_len);
        self
    }

    /// Combines merge operands with `operator`.
    pub(crate) fn with_merge_operator(mut self, operator: Option<Arc<dyn MergeOperator>>) -> DbIterator {
        self.merge_operator = operator;
        self
    }

    /// Calls `sampler` about once per [`READ_BYTES_PERIOD`] bytes read (the
    /// gap between samples is drawn uniformly from half to one and a half
    /// periods, so samples do not line up with the data).
    pub(crate) fn with_read_sampler(mut self, sampler: ReadSampler) -> DbIterator {
        self.sampling = Some(ReadSampling::new(sampler));
        self
    }

    /// The snapshot sequence this iterator reads at.
    pub fn sequence(&self) -> SequenceNumber {
        self.sequence
    }

    /// The user-key comparator the keys are ordered by.
    pub fn user_comparator(&self) -> &Arc<dyn Comparator> {
        self.icmp.user_comparator()
    }

    /// The value passed as `pins` to [`DbIterator::new`].
    #[cfg(test)]
    pub(crate) fn pins(&self) -> &(dyn Any + Send) {
        &*self._pins
    }

    /// True while positioned on a visible entry.
    pub fn valid(&self) -> bool {
        self.valid
    }

    /// Moves to the first visible entry.
    pub fn seek_to_first(&mut self) {
        if self.error.is_some() {
            return;
        }
        self.direction = Direction::Forward;
        self.saved_value = Bytes::new();
        self.inner.seek_to_first();
        self.find_next_user_entry(false);
    }

    /// Moves to the last visible entry.
    pub fn seek_to_last(&mut self) {
        if self.error.is_some() {
            return;
        }
        self.direction = Direction::Reverse;
        self.saved_value = Bytes::new();
        self.inner.seek_to_last();
        self.find_prev_user_entry();
    }

    /// Moves to the first visible entry whose user key is `>= user_key`.
    pub fn seek(&mut self, user_key: &[u8]) {
        if self.error.is_some() {
            return;
        }
        self.direction = Direction::Forward;
        self.saved_value = Bytes::new();
        self.saved_key.clear();
        append_internal_key(&mut self.saved_key, user_key, self.sequence, VALUE_KIND_FOR_SEEK);
        self.inner.seek(&self.saved_key);
        self.find_next_user_entry(false);
    }

    /// Moves to the next visible entry; does nothing unless [`valid`](Self::valid).
    pub fn next(&mut self) {
        if !self.valid {
            return;
        }
        if self.direction == Direction::Reverse {
            // The stream is before the current key's entries: step into them;
            // `saved_key` already names the key to skip.
            self.direction = Direction::Forward;
            self.saved_value = Bytes::new();
            if self.inner.valid() {
                self.inner.next();
            } else {
                self.inner.seek_to_first();
            }
        } else if !self.shows_saved {
            self.saved_key.clear();
            self.saved_key.extend_from_slice(extract_user_key(self.inner.key()));
            self.inner.next();
        }
        // After a merge the stream is already past the entries that made
        // the value shown, and `saved_key` names its key.
        self.find_next_user_entry(true);
    }

    /// Moves to the previous visible entry; does nothing unless [`valid`](Self::valid).
    pub fn prev(&mut self) {
        if !self.valid {
            return;
        }
        if self.direction == Direction::Forward && self.shows_saved {
            // A merged entry: the stream is on a later entry (or past the
            // end); move it before every entry of `saved_key`.
            if !self.inner.valid() {
                self.inner.seek_to_last();
            }
            while self.inner.valid()
                && self.icmp.compare_user_keys(extract_user_key(self.inner.key()), &self.saved_key)
                    != Ordering::Less
            {
                self.inner.prev();
            }
            if !self.inner.valid() {
                self.set_exhausted();
                self.check_inner_status();
                return;
            }
            self.direction = Direction::Reverse;
        } else if self.direction == Direction::Forward {
            // The stream is on the current entry: move it before every entry
            // of the current user key.
            self.saved_key.clear();
            self.saved_key.extend_from_slice(extract_user_key(self.inner.key()));
            loop {
                self.inner.prev();
                if !self.inner.valid() {
                    self.set_exhausted();
                    self.check_inner_status();
                    return;
                }
                let user_key = extract_user_key(self.inner.key());
                if self.icmp.compare_user_keys(user_key, &self.saved_key) == Ordering::Less {
                    break;
                }
            }
            self.direction = Direction::Reverse;
        }
        self.find_prev_user_entry();
    }

    /// The current user key; empty unless [`valid`](Self::valid).
    pub fn key(&self) -> &[u8] {
        match (self.valid, self.shows_saved) {
            (false, _) => &[],
            (true, false) => extract_user_key(self.inner.key()),
            (true, true) => &self.saved_key,
        }
    }

    /// The current value; empty unless [`valid`](Self::valid).
    pub fn value(&self) -> &[u8] {
        match (self.valid, self.shows_saved) {
            (false, _) => &[],
            (true, false) => self.inner.value().get(self.value_offset..).unwrap_or_default(),
            (true, true) => &self.saved_value,
        }
    }

    /// The current user key as shared bytes: a view of the stream's key
    /// where the stream allows it (moving forward), else a copy.
    pub fn key_bytes(&self) -> Bytes {
        match (self.valid, self.shows_saved) {
            (false, _) => Bytes::new(),
            (true, false) => {
                let internal_key = self.inner.key_bytes();
                let user_key_len = internal_key.len().saturating_sub(INTERNAL_KEY_TRAILER_LEN);
                internal_key.slice(..user_key_len)
            }
            (true, true) => Bytes::copy_from_slice(&self.saved_key),
        }
    }

    /// The current value as shared bytes (a view of the stream's value where
    /// the stream allows it, in both directions).
    pub fn value_bytes(&self) -> Bytes {
        match (self.valid, self.shows_saved) {
            (false, _) => Bytes::new(),
            (true, false) => {
                let value = self.inner.value_bytes();
                if self.value_offset <= value.len() {
                    value.slice(self.value_offset..)
                } else {
                    Bytes::new()
                }
            }
            (true, true) => self.saved_value.clone(),
        }
    }

    /// The first error met by this iterator or the stream below it.
    pub fn status(&self) -> Result<()> {
        match &self.error {
            Some(e) => Err(e.clone()),
            None => self.inner.status(),
        }
    }

    /// Invalid, with nothing saved.
    fn set_exhausted(&mut self) {
        self.valid = false;
        self.shows_saved = false;
        self.saved_key.clear();
        self.saved_value = Bytes::new();
    }

    fn fail(&mut self, error: Error) {
        self.set_exhausted();
        if self.error.is_none() {
            self.error = Some(error);
        }
    }

    /// Makes the iterator invalid if the stream has failed.
    fn check_inner_status(&mut self) {
        if let Err(e) = self.inner.status() {
            self.fail(e);
        }
    }

    /// Charges the stream's current entry to read sampling and parses its
    /// key; a malformed key makes the iterator fail with `Corruption`.
    fn parse_current(&mut self) -> Option<(SequenceNumber, ValueKind)> {
        let internal_key = self.inner.key();
        if let Some(sampling) = self.sampling.as_mut() {
            sampling.charge(internal_key, internal_key.len() + self.inner.value().len());
        }
        match parse_internal_key(internal_key) {
            Ok(parsed) => Some((parsed.sequence, parsed.kind)),
            Err(e) => {
                let message = match e {
                    Error::Corruption { message, .. } => message,
                    other => other.to_string(),
                };
                self.fail(Error::corruption(format!("corrupted internal key in DbIterator: {message}")));
                None
            }
        }
    }

    /// The kind of the stream's current entry as the user sees it: an
    /// expired value counts as a deletion.
    fn visible_kind(&self, kind: ValueKind) -> ValueKind {
        match (&self.is_expired, kind) {
            (Some(is_expired), ValueKind::Value) if is_expired(self.inner.value()) => ValueKind::Deletion,
            _ => kind,
        }
    }

    /// From the stream's position forward, finds the first entry to show.
    /// With `skipping`, entries of user keys `<= saved_key` are hidden.
    fn find_next_user_entry(&mut self, mut skipping: bool) {
        debug_assert_eq!(self.direction, Direction::Forward);
        self.shows_saved = false;
        while self.inner.valid() {
            let Some((sequence, kind)) = self.parse_current() else {
                return;
            };
            if sequence <= self.sequence {
                let kind = self.visible_kind(kind);
                let user_key = extract_user_key(self.inner.key());
                match kind {
                    ValueKind::RangeDeletion => return self.fail(range_tombstone_in_stream(user_key)),
                    ValueKind::Deletion => {
                        // Hide every older entry of this key.
                        self.saved_key.clear();
                        self.saved_key.extend_from_slice(user_key);
                        skipping = true;
                    }
                    ValueKind::Value => {
                        let hidden = skipping
                            && self.icmp.compare_user_keys(user_key, &self.saved_key) != Ordering::Greater;
                        if !hidden {
                            match measure_frame(self.value_frame_len.as_ref(), self.inner.value()) {
                                Ok(offset) => self.value_offset = offset,
                                Err(e) => return self.fail(e),
                            }
                            self.saved_key.clear();
                            self.valid = true;
                            self.check_inner_status();
                            return;
                        }
                    }
                    ValueKind::Merge => {
                        let hidden = skipping
                            && self.icmp.compare_user_keys(user_key, &self.saved_key) != Ordering::Greater;
                        if !hidden {
                            return self.merge_forward();
                        }
                    }
                }
            }
            self.inner.next();
        }
        self.set_exhausted();
        self.check_inner_status();
    }

    /// From the stream's position backward, finds the entry to show: the
    /// newest visible entry of the first user key (going backward) whose
    /// newest visible entry is a value. Leaves the stream before that key.
    fn find_prev_user_entry(&mut self) {
        debug_assert_eq!(self.direction, Direction::Reverse);
        let mut kind_found = ValueKind::Deletion;
        let mut merge_has_base = false;
        while self.inner.valid() {
            let Some((sequence, kind)) = self.parse_current() else {
                return;
            };
            if sequence <= self.sequence {
                let user_key = extract_user_key(self.inner.key());
                if kind_found != ValueKind::Deletion
                    && self.icmp.compare_user_keys(user_key, &self.saved_key) == Ordering::Less
                {
                    // A value was found for the key after this one.
                    break;
                }
                let kind = self.visible_kind(kind);
                match kind {
                    ValueKind::RangeDeletion => return self.fail(range_tombstone_in_stream(user_key)),
                    ValueKind::Deletion => {
                        self.saved_key.clear();
                        self.saved_value = Bytes::new();
                    }
                    ValueKind::Value => {
                        self.saved_key.clear();
                        self.saved_key.extend_from_slice(user_key);
                        self.saved_value = self.inner.value_bytes();
                    }
                    ValueKind::Merge => {
                        if kind_found != ValueKind::Merge {
                            // The first operand above the base: a value
                            // (kept in `saved_value`) or nothing.
                            merge_has_base = kind_found == ValueKind::Value;
                            self.merge_operands.clear();
                            if !merge_has_base {
                                self.saved_key.clear();
                                self.saved_key.extend_from_slice(user_key);
                                self.saved_value = Bytes::new();
                            }
                        }
                        self.merge_operands.push(self.inner.value_bytes());
                    }
                }
                kind_found = kind;
            }
            self.inner.prev();
        }
        if kind_found == ValueKind::Deletion {
            self.set_exhausted();
            self.direction = Direction::Forward;
        } else if kind_found == ValueKind::Merge {
            let operands: Vec<&[u8]> = self.merge_operands.iter().map(|b| &b[..]).collect();
            let base = merge_has_base.then_some(&self.saved_value[..]);
            match full_merge(self.merge_operator.as_deref(), &self.saved_key, base, &operands) {
                Ok(merged) => self.saved_value = merged.into(),
                Err(e) => return self.fail(e),
            }
            self.merge_operands.clear();
            self.valid = true;
            self.shows_saved = true;
        } else {
            match measure_frame(self.value_frame_len.as_ref(), &self.saved_value) {
                Ok(offset) => self.saved_value = self.saved_value.slice(offset..),
                Err(e) => return self.fail(e),
            }
            self.valid = true;
            self.shows_saved = true;
        }
        self.check_inner_status();
    }

    /// Moving forward, the stream is on the newest visible entry of a key,
    /// a merge operand: gathers the older entries of the key down to a
    /// value, a deletion or the end, and shows the merge of the operands
    /// with that base. The stream is left after the entries used.
    fn merge_forward(&mut self) {
        self.saved_key.clear();
        self.saved_key.extend_from_slice(extract_user_key(self.inner.key()));
        let mut operands = vec![self.inner.value_bytes()];
        let mut base = None;
        self.inner.next();
        while self.inner.valid() {
            let Some((_, kind)) = self.parse_current() else {
                return;
            };
            let user_key = extract_user_key(self.inner.key());
            if self.icmp.compare_user_keys(user_key, &self.saved_key) != Ordering::Equal {
                break;
            }
            // Older entries of the key: all visible at the snapshot.
            match self.visible_kind(kind) {
                ValueKind::Merge => operands.push(self.inner.value_bytes()),
                ValueKind::Value => {
                    base = Some(self.inner.value_bytes());
                    break;
                }
                ValueKind::Deletion => break,
                ValueKind::RangeDeletion => return self.fail(range_tombstone_in_stream(user_key)),
            }
            self.inner.next();
        }
        if let Err(e) = self.inner.status() {
            return self.fail(e);
        }
        let oldest_first: Vec<&[u8]> = operands.iter().rev().map(|b| &b[..]).collect();
        match full_merge(self.merge_operator.as_deref(), &self.saved_key, base.as_deref(), &oldest_first) {
            Ok(merged) => self.saved_value = merged.into(),
            Err(e) => return self.fail(e),
        }
        self.value_offset = 0;
        self.valid = true;
        self.shows_saved = true;
    }
}

/// The length of the frame before the user's part of `value` (0 without a
/// frame measure); a malformed frame is an error.
fn measure_frame(frame_len: Option<&ValueFrameLen>, value: &[u8]) -> Result<usize> {
    let Some(frame_len) = frame_len else { return Ok(0) };
    let len = frame_len(value)?;
    if len > value.len() {
        return Err(Error::corruption(format!(
            "value frame of {len} bytes in a value of {} bytes",
            value.len()
        )));
    }
    Ok(len)
}

impl std::fmt::Debug for DbIterator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbIterator")
            .field("sequence", &self.sequence)
            .field("valid", &self.valid)
            .field("direction", &self.direction)
            .field("key", &self.key().escape_ascii().to_string())
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

/// Read sampling state: the bytes left before the next sample.
struct ReadSampling {
    sampler: ReadSampler,
    bytes_until_sample: u64,
    random_state: u64,
}

impl ReadSampling {
    fn new(sampler: ReadSampler) -> ReadSampling {
        // Different iterators sample at different points.
        static SEEDS: AtomicU64 = AtomicU64::new(0);
        let random_state = SEEDS.fetch_add(1, AtomicOrdering::Relaxed);
        let mut sampling = ReadSampling { sampler, bytes_until_sample: 0, random_state };
        sampling.bytes_until_sample = sampling.next_gap();
        sampling
    }

    /// A gap uniform in `[PERIOD / 2, 3 * PERIOD / 2)` (splitmix64).
    fn next_gap(&mut self) -> u64 {
        self.random_state = self.random_state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.random_state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        READ_BYTES_PERIOD / 2 + z % READ_BYTES_PERIOD
    }

    /// Counts `bytes` read for the entry `internal_key`, sampling it once per
    /// sampling point it crosses.
    fn charge(&mut self, internal_key: &[u8], bytes: usize) {
        let read = bytes as u64;
        while self.bytes_until_sample < read {
            self.bytes_until_sample += self.next_gap();
            (self.sampler)(internal_key, bytes);
        }
        self.bytes_until_sample -= read;
    }
}

/// The error for a range tombstone kind among point entries (they live in
/// their own meta block and memtable store, never in the merged stream).
#[cold]
fn range_tombstone_in_stream(user_key: &[u8]) -> Error {
    Error::corruption(format!(
        "range tombstone kind among point entries in DbIterator (key '{}')",
        user_key.escape_ascii()
    ))
}
