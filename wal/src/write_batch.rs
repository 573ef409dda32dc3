//! [`WriteBatch`]: a group of puts and deletes applied atomically, and its
//! byte format, the payload of every WAL record (FORMAT.md §4).
//!
//! ```text
//! fixed64 sequence | fixed32 count | count × (tag 1: klen key vlen value | tag 0: klen key)
//! ```

use std::fmt;

use lsmkit_base::coding::{
    decode_fixed32, decode_fixed64, get_length_prefixed_slice, put_length_prefixed_slice,
};
use lsmkit_base::key::{SequenceNumber, ValueKind};
use lsmkit_base::{Error, Result};

/// Size of the header: sequence (8) and count (4).
pub const WRITE_BATCH_HEADER_SIZE: usize = 12;

/// A batch of updates in LevelDB's `WriteBatch` byte format.
///
/// The batch keeps its encoded bytes ([`data`](Self::data)); operation `i`
/// (0-based) gets sequence number `sequence() + i` when applied.
#[derive(Clone, PartialEq, Eq)]
pub struct WriteBatch {
    rep: Vec<u8>,
}

/// Receives the operations of a batch from [`WriteBatch::iterate`], in order.
pub trait WriteBatchHandler {
    /// `key` is set to `value`.
    fn put(&mut self, key: &[u8], value: &[u8]);
    /// `key` is deleted.
    fn delete(&mut self, key: &[u8]);
}

/// One decoded operation of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchOp<'a> {
    /// [`ValueKind::Value`] for a put, [`ValueKind::Deletion`] for a delete.
    pub kind: ValueKind,
    /// The user key.
    pub key: &'a [u8],
    /// The value of a put; empty for a delete.
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
        WriteBatch { rep: vec![0; WRITE_BATCH_HEADER_SIZE] }
    }

    /// A batch from its encoded bytes (a WAL record). Only the header is
    /// checked here; the operations are checked when they are read
    /// ([`iterate`](Self::iterate), [`ops`](Self::ops)).
    pub fn from_data(data: Vec<u8>) -> Result<WriteBatch> {
        if data.len() < WRITE_BATCH_HEADER_SIZE {
            return Err(Error::corruption("malformed WriteBatch (too small)"));
        }
        Ok(WriteBatch { rep: data })
    }

    /// Adds "set `key` to `value`".
    pub fn put(&mut self, key: &[u8], value: &[u8]) {
        self.set_count(self.count().wrapping_add(1));
        self.rep.push(ValueKind::Value as u8);
        put_length_prefixed_slice(&mut self.rep, key);
        put_length_prefixed_slice(&mut self.rep, value);
    }

    /// Adds "delete `key`".
    pub fn delete(&mut self, key: &[u8]) {
        self.set_count(self.count().wrapping_add(1));
        self.rep.push(ValueKind::Deletion as u8);
        put_length_prefixed_slice(&mut self.rep, key);
    }

    /// Removes every operation and resets the sequence to 0.
    pub fn clear(&mut self) {
        self.rep.clear();
        self.rep.resize(WRITE_BATCH_HEADER_SIZE, 0);
    }

    /// Appends the operations of `other` after this batch's own; the
    /// sequence stays this batch's.
    pub fn append(&mut self, other: &WriteBatch) {
        self.set_count(self.count().wrapping_add(other.count()));
        self.rep.extend_from_slice(&other.rep[WRITE_BATCH_HEADER_SIZE..]);
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

    /// The encoded batch (FORMAT.md §4).
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
}

impl fmt::Debug for WriteBatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteBatch")
            .field("sequence", &self.sequence())
            .field("count", &self.count())
            .field("bytes", &self.rep.len())
            .finish()
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
            None => return self.fail("unknown WriteBatch tag"),
        };
        self.input = rest;
        self.found = self.found.wrapping_add(1);
        Some(Ok(op))
    }
}

impl std::iter::FusedIterator for BatchOps<'_> {}
