//! [`WriteBatch`]: a group of puts and deletes applied atomically, and its
//! byte format, the payload of every WAL record (docs/format.md §4).
//!
//! ```text
//! fixed64 sequence | fixed32 count | count × (tag 1: klen key vlen value | tag 0: klen key
//!                                              | tag 2: klen key vlen operand
//!                                              | tag 15: blen begin elen end)
//! ```
//!
//! Tag 2, a merge operand ([`WriteBatch::merge`]), is an lsmkit extension
//! (docs/format-extensions.md, "Merge operator"); LevelDB 1.23 refuses it.
//! So is tag 15, a range deletion ([`WriteBatch::delete_range`],
//! docs/format-extensions.md, "Range deletions").
//!
//! A batch for a database with entry expiry stores every put's value in the
//! TTL frame of [`crate::ttl_value`]; the layout above is unchanged.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use lsmkit_base::coding::{
    decode_fixed32, decode_fixed64, get_length_prefixed_slice, get_varint32, put_length_prefixed_slice,
    DecodeError,
};
use lsmkit_base::key::{SequenceNumber, ValueKind, MAX_SEQUENCE_NUMBER};
use lsmkit_base::{Error, Result};

use crate::ttl_value::{expire_at_after, put_length_prefixed_ttl_value, system_time_millis, TtlValue};

/// Size of the header: sequence (8) and count (4).
pub const WRITE_BATCH_HEADER_SIZE: usize = 12;

/// A batch of updates in LevelDB's `WriteBatch` byte format.
///
/// The batch keeps its encoded bytes ([`data`](Self::data)); operation `i`
/// (0-based) gets sequence number `sequence() + i` when applied.
///
/// A batch is either plain or TTL-framed ([`is_ttl_framed`](Self::is_ttl_framed)):
/// in a framed batch every put's value carries the TTL frame. The first
/// [`put_with_ttl`](Self::put_with_ttl) frames the values already added.
#[derive(Clone, PartialEq, Eq)]
pub struct WriteBatch {
    rep: Vec<u8>,
    /// Every put's value is in the TTL frame (not part of the encoding).
    ttl_framed: bool,
}

/// Receives the operations of a batch from [`WriteBatch::iterate`], in order.
pub trait WriteBatchHandler {
    /// `key` is set to `value`.
    fn put(&mut self, key: &[u8], value: &[u8]);
    /// `key` is deleted.
    fn delete(&mut self, key: &[u8]);
    /// `operand` is merged into `key` (the default refuses it: the
    /// handler's caller gets `Error::Corruption`, as LevelDB reports an
    /// unknown tag).
    fn merge(&mut self, key: &[u8], operand: &[u8]) -> Result<()> {
        let _ = operand;
        Err(Error::corruption(format!(
            "WriteBatch holds a merge operand for key '{}', which this handler does not take",
            key.escape_ascii()
        )))
    }
    /// Every key in [`begin`, `end`) is deleted (the default refuses it,
    /// as for [`merge`](Self::merge)).
    fn delete_range(&mut self, begin: &[u8], end: &[u8]) -> Result<()> {
        let _ = end;
        Err(Error::corruption(format!(
            "WriteBatch holds a range deletion from '{}', which this handler does not take",
            begin.escape_ascii()
        )))
    }
}

/// One decoded operation of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchOp<'a> {
    /// [`ValueKind::Value`] for a put, [`ValueKind::Deletion`] for a delete,
    /// [`ValueKind::Merge`] for a merge operand, [`ValueKind::RangeDeletion`]
    /// for a range deletion.
    pub kind: ValueKind,
    /// The user key; the (inclusive) begin of a range deletion.
    pub key: &'a [u8],
    /// The value of a put or the operand of a merge; empty for a delete;
    /// the (exclusive) end of a range deletion.
    pub value: &'a [u8],
}

impl Default for WriteBatch {
    fn default() -> WriteBatch {
        WriteBatch::new()
    }
}

impl WriteBatch {
    /// An empty batch: sequence 0, count 0, 12 bytes.
    pub fn new() -> WriteBatch {
        WriteBatch { rep: vec![0; WRITE_BATCH_HEADER_SIZE], ttl_framed: false }
    }

    /// A batch from its encoded bytes (a WAL record). Only the header is
    /// checked here; the operations are checked when they are read
    /// ([`iterate`](Self::iterate), [`ops`](Self::ops)). The batch is plain
    /// (not TTL-framed).
    pub fn from_data(data: Vec<u8>) -> Result<WriteBatch> {
        if data.len() < WRITE_BATCH_HEADER_SIZE {
            return Err(Error::corruption("malformed WriteBatch (too small)"));
        }
        Ok(WriteBatch { rep: data, ttl_framed: false })
    }

    /// A TTL-framed batch from its encoded bytes, as a database with entry
    /// expiry logs it (for example a batch `Db::updates_since` returned):
    /// every put's value must already carry the TTL frame. Applying it to
    /// another database with entry expiry keeps each entry's expiry time
    /// (a batch from [`from_data`](Self::from_data) would be framed a
    /// second time). A malformed operation or frame is `Error::Corruption`.
    ///
    /// ```
    /// use lsmkit_wal::WriteBatch;
    /// use std::time::Duration;
    ///
    /// let mut logged = WriteBatch::new();
    /// logged.put_with_ttl(b"session", b"abc", Duration::from_secs(60));
    /// let replayed = WriteBatch::from_ttl_framed_data(logged.data().to_vec())?;
    /// assert!(replayed.is_ttl_framed());
    /// assert_eq!(replayed.data(), logged.data());
    /// assert!(WriteBatch::from_ttl_framed_data(WriteBatch::new().data().to_vec()).is_ok());
    /// # Ok::<(), lsmkit_base::Error>(())
    /// ```
    pub fn from_ttl_framed_data(data: Vec<u8>) -> Result<WriteBatch> {
        let mut batch = WriteBatch::from_data(data)?;
        for op in batch.ops() {
            let op = op?;
            if op.kind == ValueKind::Value {
                TtlValue::decode(op.value)?;
            }
        }
        batch.ttl_framed = true;
        Ok(batch)
    }

    /// Adds "set `key` to `value`" (a value that never expires).
    pub fn put(&mut self, key: &[u8], value: &[u8]) {
        self.set_count(self.count().wrapping_add(1));
        self.rep.push(ValueKind::Value as u8);
        put_length_prefixed_slice(&mut self.rep, key);
        if self.ttl_framed {
            put_length_prefixed_ttl_value(&mut self.rep, None, value);
        } else {
            put_length_prefixed_slice(&mut self.rep, value);
        }
    }

    /// Adds "set `key` to `value`, expiring `ttl` from now" (system time,
    /// whole milliseconds). Only a database opened with TTL enabled accepts
    /// the batch.
    pub fn put_with_ttl(&mut self, key: &[u8], value: &[u8], ttl: Duration) {
        self.put_with_expiry(key, value, expire_at_after(system_time_millis(), ttl));
    }

    /// Adds "set `key` to `value`, expiring at `expire_at`" (milliseconds
    /// since the Unix epoch; expired once the database's clock reads
    /// `expire_at` or later). Frames the batch's values if it is plain.
    pub fn put_with_expiry(&mut self, key: &[u8], value: &[u8], expire_at: u64) {
        self.frame_for_ttl();
        self.set_count(self.count().wrapping_add(1));
        self.rep.push(ValueKind::Value as u8);
        put_length_prefixed_slice(&mut self.rep, key);
        put_length_prefixed_ttl_value(&mut self.rep, Some(expire_at), value);
    }

    /// True when every put's value is in the TTL frame.
    pub fn is_ttl_framed(&self) -> bool {
        self.ttl_framed
    }

    /// Makes the batch TTL-framed: the value of every put already added is
    /// framed as never expiring. Does nothing if the batch is framed. A
    /// malformed operation and everything after it are kept as they are (the
    /// batch stays malformed).
    pub fn frame_for_ttl(&mut self) {
        if self.ttl_framed {
            return;
        }
        self.ttl_framed = true;
        if self.rep.len() == WRITE_BATCH_HEADER_SIZE {
            return;
        }
        let mut framed = Vec::with_capacity(self.rep.len() + self.count() as usize);
        framed.extend_from_slice(&self.rep[..WRITE_BATCH_HEADER_SIZE]);
        append_framed_ops(&mut framed, &self.rep[WRITE_BATCH_HEADER_SIZE..]);
        self.rep = framed;
    }

    /// Adds "delete `key`".
    pub fn delete(&mut self, key: &[u8]) {
        self.set_count(self.count().wrapping_add(1));
        self.rep.push(ValueKind::Deletion as u8);
        put_length_prefixed_slice(&mut self.rep, key);
    }

    /// Adds "merge `operand` into `key`" (tag 2). Only a database opened
    /// with a merge operator accepts the batch; the operand is stored as
    /// given, also in a TTL-framed batch (a database cannot have both).
    pub fn merge(&mut self, key: &[u8], operand: &[u8]) {
        self.set_count(self.count().wrapping_add(1));
        self.rep.push(ValueKind::Merge as u8);
        put_length_prefixed_slice(&mut self.rep, key);
        put_length_prefixed_slice(&mut self.rep, operand);
    }

    /// True when the batch holds a merge operand (or a malformed operation,
    /// which [`validate`](Self::validate) reports).
    pub fn has_merge(&self) -> bool {
        self.ops().any(|op| op.is_ok_and(|op| op.kind == ValueKind::Merge))
    }

    /// Adds "delete every key in [`begin`, `end`)" (tag 15, two
    /// length-prefixed slices; one sequence number like any operation).
    /// Only a database opened with range deletions accepts the batch.
    ///
    /// ```
    /// use lsmkit_base::key::ValueKind;
    /// use lsmkit_wal::WriteBatch;
    ///
    /// let mut batch = WriteBatch::new();
    /// batch.delete_range(b"a", b"c");
    /// assert_eq!(&batch.data()[12..], [0x0f, 1, b'a', 1, b'c']);
    /// let op = batch.ops().next().unwrap()?;
    /// assert_eq!((op.kind, op.key, op.value), (ValueKind::RangeDeletion, &b"a"[..], &b"c"[..]));
    /// assert!(batch.has_range_deletion());
    /// # Ok::<(), lsmkit_base::Error>(())
    /// ```
    pub fn delete_range(&mut self, begin: &[u8], end: &[u8]) {
        self.set_count(self.count().wrapping_add(1));
        self.rep.push(ValueKind::RangeDeletion as u8);
        put_length_prefixed_slice(&mut self.rep, begin);
        put_length_prefixed_slice(&mut self.rep, end);
    }

    /// True when the batch holds a range deletion (or a malformed
    /// operation, which [`validate`](Self::validate) reports).
    pub fn has_range_deletion(&self) -> bool {
        self.ops().any(|op| op.is_ok_and(|op| op.kind == ValueKind::RangeDeletion))
    }

    /// Removes every operation and resets the sequence to 0 (the batch
    /// becomes plain).
    pub fn clear(&mut self) {
        self.rep.clear();
        self.rep.resize(WRITE_BATCH_HEADER_SIZE, 0);
        self.ttl_framed = false;
    }

    /// Appends the operations of `other` after this batch's own; the
    /// sequence stays this batch's. When one of the two is TTL-framed, the
    /// result is framed.
    pub fn append(&mut self, other: &WriteBatch) {
        if other.ttl_framed {
            self.frame_for_ttl();
        }
        self.set_count(self.count().wrapping_add(other.count()));
        let other_ops = &other.rep[WRITE_BATCH_HEADER_SIZE..];
        if self.ttl_framed && !other.ttl_framed {
            append_framed_ops(&mut self.rep, other_ops);
        } else {
            self.rep.extend_from_slice(other_ops);
        }
    }

    /// The number of operations the header declares.
    pub fn count(&self) -> u32 {
        decode_fixed32(&self.rep[8..WRITE_BATCH_HEADER_SIZE])
    }

    /// True when the header declares no operations.
    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }

    fn set_count(&mut self, count: u32) {
        self.rep[8..WRITE_BATCH_HEADER_SIZE].copy_from_slice(&count.to_le_bytes());
    }

    /// The sequence number of the first operation.
    pub fn sequence(&self) -> SequenceNumber {
        decode_fixed64(&self.rep[..8])
    }

    /// Sets the sequence number of the first operation.
    pub fn set_sequence(&mut self, sequence: SequenceNumber) {
        self.rep[..8].copy_from_slice(&sequence.to_le_bytes());
    }

    /// The size of the encoded batch in bytes (what the WAL record will carry).
    pub fn approximate_size(&self) -> usize {
        self.rep.len()
    }

    /// The encoded batch (docs/format.md §4).
    pub fn data(&self) -> &[u8] {
        &self.rep
    }

    /// The encoded batch, by value.
    pub fn into_data(self) -> Vec<u8> {
        self.rep
    }

    /// Calls `handler` for each operation in order. Fails with
    /// `Error::Corruption` on a malformed operation or when the number of
    /// operations differs from [`count`](Self::count); operations before the
    /// failure have already been handed over (as in LevelDB).
    pub fn iterate(&self, handler: &mut impl WriteBatchHandler) -> Result<()> {
        for op in self.ops() {
            let op = op?;
            match op.kind {
                ValueKind::Value => handler.put(op.key, op.value),
                ValueKind::Deletion => handler.delete(op.key),
                ValueKind::Merge => handler.merge(op.key, op.value)?,
                ValueKind::RangeDeletion => handler.delete_range(op.key, op.value)?,
            }
        }
        Ok(())
    }

    /// The operations in order. After the last one (or the first error) the
    /// iterator ends; a count mismatch is its last item.
    pub fn ops(&self) -> BatchOps<'_> {
        BatchOps {
            input: &self.rep[WRITE_BATCH_HEADER_SIZE..],
            declared: self.count(),
            found: 0,
            done: false,
        }
    }

    /// A batch read back from a log: the payload of the WAL record that
    /// starts at file offset `offset` of the log `path`, checked in full by
    /// [`validate`](Self::validate) before anything uses it. Every reader of
    /// logged batches (recovery, repair, the WAL iterator, the CLI) goes
    /// through here, so a record with a valid checksum but malformed
    /// contents is always `Error::Corruption` naming `path` and `offset`,
    /// never a panic further on.
    ///
    /// ```
    /// use std::path::Path;
    /// use lsmkit_wal::WriteBatch;
    ///
    /// let mut batch = WriteBatch::new();
    /// batch.set_sequence((1 << 56) - 1);
    /// batch.put(b"k", b"v");
    /// let path = Path::new("000003.log");
    /// assert!(WriteBatch::from_log_record(batch.data().to_vec(), path, 0).is_ok());
    /// batch.put(b"k2", b"v"); // its sequence would be 2^56, past the largest
    /// let error = WriteBatch::from_log_record(batch.data().to_vec(), path, 96).unwrap_err();
    /// assert!(error.is_corruption());
    /// assert!(error.to_string().ends_with("(in 000003.log at offset 96)"), "{error}");
    /// ```
    pub fn from_log_record(record: Vec<u8>, path: &Path, offset: u64) -> Result<WriteBatch> {
        let located = |error: Error| error.in_file(path).at_offset(offset);
        let batch = WriteBatch::from_data(record).map_err(located)?;
        batch.validate().map_err(located)?;
        Ok(batch)
    }

    /// Checks the whole batch: every operation decodes (known kind byte,
    /// complete length varints, lengths within the record), the number of
    /// operations is the header's count with no bytes after the last one,
    /// and every operation's sequence number (`sequence() + i`) is at most
    /// 2^56 − 1, the largest an internal key can carry. The first problem
    /// found is `Error::Corruption` (with no location; see
    /// [`from_log_record`](Self::from_log_record)).
    pub fn validate(&self) -> Result<()> {
        let declared = self.count();
        let sequence = self.sequence();
        if declared > 0 {
            let last = sequence.checked_add(u64::from(declared) - 1);
            if last.is_none_or(|last| last > MAX_SEQUENCE_NUMBER) {
                return Err(Error::corruption(format!(
                    "WriteBatch sequence range {sequence} + {declared} operations runs past \
                     the largest sequence number {MAX_SEQUENCE_NUMBER}"
                )));
            }
        } else if sequence > MAX_SEQUENCE_NUMBER + 1 {
            // An empty batch takes no number; the one it would give next
            // must still be representable (at most 2^56).
            return Err(Error::corruption(format!(
                "empty WriteBatch with sequence {sequence}, past the largest sequence number {MAX_SEQUENCE_NUMBER}"
            )));
        }
        let record = &self.rep[..];
        let mut input = &record[WRITE_BATCH_HEADER_SIZE..];
        let mut found: u32 = 0;
        while let Some((&tag, rest)) = input.split_first() {
            let at = record.len() - input.len();
            if found == declared {
                return Err(Error::corruption(format!(
                    "WriteBatch has {} trailing bytes at byte {at}, after the {declared} operations its header declares",
                    input.len()
                )));
            }
            let kind = ValueKind::from_byte(tag).ok_or_else(|| {
                Error::corruption(format!("unknown WriteBatch tag {tag} in operation {found} at byte {at}"))
            })?;
            input = rest;
            let fields: &[&str] = match kind {
                ValueKind::Value => &["key", "value"],
                ValueKind::Deletion => &["key"],
                ValueKind::Merge => &["key", "operand"],
                ValueKind::RangeDeletion => &["begin", "end"],
            };
            for field in fields {
                let field_at = record.len() - input.len();
                let mut after_length = input;
                let problem = match get_varint32(&mut after_length) {
                    Err(DecodeError::Truncated) => Some("truncated length varint"),
                    Err(DecodeError::Overlong) => Some("overlong length varint"),
                    Ok(len) if (len as usize) > after_length.len() => {
                        Some("length past the end of the record")
                    }
                    Ok(len) => {
                        input = &after_length[len as usize..];
                        None
                    }
                };
                if let Some(problem) = problem {
                    return Err(Error::corruption(format!(
                        "bad WriteBatch {}: {problem} of the {field} in operation {found} at byte {field_at}",
                        match kind {
                            ValueKind::Value => "Put",
                            ValueKind::Deletion => "Delete",
                            ValueKind::Merge => "Merge",
                            ValueKind::RangeDeletion => "DeleteRange",
                        }
                    )));
                }
            }
            found += 1;
        }
        if found != declared {
            return Err(Error::corruption(format!(
                "WriteBatch has wrong count: the header declares {declared} operations, the record holds {found}"
            )));
        }
        Ok(())
    }
}

impl fmt::Debug for WriteBatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteBatch")
            .field("sequence", &self.sequence())
            .field("count", &self.count())
            .field("bytes", &self.rep.len())
            .field("ttl_framed", &self.ttl_framed)
            .finish()
    }
}

/// Appends the encoded operations `ops` (a batch without its header) to
/// `dst`, each put's value in the TTL frame (never expiring). From the first
/// malformed operation on, the bytes are copied unchanged.
fn append_framed_ops(dst: &mut Vec<u8>, ops: &[u8]) {
    let mut input = ops;
    loop {
        let before = input;
        let Some((&tag, mut rest)) = input.split_first() else { return };
        let decoded = match ValueKind::from_byte(tag) {
            Some(ValueKind::Value) => get_length_prefixed_slice(&mut rest)
                .and_then(|key| Ok((key, Some(get_length_prefixed_slice(&mut rest)?)))),
            Some(ValueKind::Deletion) => get_length_prefixed_slice(&mut rest).map(|key| (key, None)),
            // Operands and range deletions are not framed; copy the
            // operation as it is.
            Some(ValueKind::Merge | ValueKind::RangeDeletion) => {
                let copied = get_length_prefixed_slice(&mut rest)
                    .and_then(|_| get_length_prefixed_slice(&mut rest))
                    .is_ok();
                if !copied {
                    dst.extend_from_slice(before);
                    return;
                }
                dst.extend_from_slice(&before[..before.len() - rest.len()]);
                input = rest;
                continue;
            }
            None => {
                dst.extend_from_slice(before);
                return;
            }
        };
        let Ok((key, value)) = decoded else {
            dst.extend_from_slice(before);
            return;
        };
        dst.push(tag);
        put_length_prefixed_slice(dst, key);
        if let Some(value) = value {
            put_length_prefixed_ttl_value(dst, None, value);
        }
        input = rest;
    }
}

/// Iterator over the operations of a [`WriteBatch`] (see [`WriteBatch::ops`]).
#[derive(Debug, Clone)]
pub struct BatchOps<'a> {
    /// Bytes not decoded yet.
    input: &'a [u8],
    /// The count from the header.
    declared: u32,
    /// Operations decoded so far.
    found: u32,
    done: bool,
}

impl<'a> BatchOps<'a> {
    fn fail(&mut self, message: &str) -> Option<Result<BatchOp<'a>>> {
        self.done = true;
        Some(Err(Error::corruption(message)))
    }
}

impl<'a> Iterator for BatchOps<'a> {
    type Item = Result<BatchOp<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let Some((&tag, mut rest)) = self.input.split_first() else {
            self.done = true;
            if self.found != self.declared {
                return self.fail("WriteBatch has wrong count");
            }
            return None;
        };
        let op = match ValueKind::from_byte(tag) {
            Some(ValueKind::Value) => {
                let Ok(key) = get_length_prefixed_slice(&mut rest) else {
                    return self.fail("bad WriteBatch Put");
                };
                let Ok(value) = get_length_prefixed_slice(&mut rest) else {
                    return self.fail("bad WriteBatch Put");
                };
                BatchOp { kind: ValueKind::Value, key, value }
            }
            Some(ValueKind::Deletion) => {
                let Ok(key) = get_length_prefixed_slice(&mut rest) else {
                    return self.fail("bad WriteBatch Delete");
                };
                BatchOp { kind: ValueKind::Deletion, key, value: &[] }
            }
            Some(ValueKind::Merge) => {
                let Ok(key) = get_length_prefixed_slice(&mut rest) else {
                    return self.fail("bad WriteBatch Merge");
                };
                let Ok(value) = get_length_prefixed_slice(&mut rest) else {
                    return self.fail("bad WriteBatch Merge");
                };
                BatchOp { kind: ValueKind::Merge, key, value }
            }
            Some(ValueKind::RangeDeletion) => {
                let Ok(key) = get_length_prefixed_slice(&mut rest) else {
                    return self.fail("bad WriteBatch DeleteRange");
                };
                let Ok(value) = get_length_prefixed_slice(&mut rest) else {
                    return self.fail("bad WriteBatch DeleteRange");
                };
                BatchOp { kind: ValueKind::RangeDeletion, key, value }
            }
            None => return self.fail("unknown WriteBatch tag"),
        };
        self.input = rest;
        self.found = self.found.wrapping_add(1);
        Some(Ok(op))
    }
}

impl std::iter::FusedIterator for BatchOps<'_> {}
