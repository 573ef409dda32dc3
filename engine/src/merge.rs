//! The merge operator in the engine ([`Options::merge_operator`]):
//! [`Db::merge`], the mark that keeps other readers away from a database
//! holding merge operands, and the get path for a key whose newest visible
//! entry is an operand (docs/format-extensions.md, "Merge operator").
//!
//! A get that meets an operand gathers the key's entries newest first, from
//! the memtables down through every level of the same read view, until a
//! value, a deletion or the end, and applies the operands oldest first to
//! that base. Only such gets take this path: a get that meets a value or a
//! deletion first is the plain lookup.
//!
//! Long chains: a get of the latest state that merges more than
//! [`Options::max_merge_chain_length`] operands writes the value back as a
//! put, through the write queue and only if nothing was numbered after the
//! sequence it read at (else the put could hide a newer write), so later
//! gets stop at it. Flushes and compactions collapse chains too
//! (`compaction/src/merge_chain.rs`).

use std::sync::Arc;

use bytes::Bytes;
use lsmkit_base::iterator::InternalIterator;
use lsmkit_base::key::{
    make_internal_key, parse_internal_key, SequenceNumber, ValueKind, VALUE_KIND_FOR_SEEK,
};
use lsmkit_base::merge_operator::MergeOperator;
use lsmkit_base::{Error, Result};

use crate::db::Db;
use crate::options::{ReadOptions, WriteOptions};
use crate::super_version::SuperVersion;

#[cfg(doc)]
use crate::options::Options;

/// What the MANIFEST's comparator name of a database with a merge operator
/// starts with; the user comparator's own name follows.
pub const MERGE_COMPARATOR_PREFIX: &str = "lsmkit.merge.";

/// The value `operator` makes of `operands` (oldest first, at least one)
/// over `base`; no operator, or one that fails, is `Corruption` naming the
/// key.
pub(crate) fn full_merge(
    operator: Option<&dyn MergeOperator>,
    key: &[u8],
    base: Option<&[u8]>,
    operands: &[&[u8]],
) -> Result<Vec<u8>> {
    let Some(operator) = operator else {
        return Err(Error::corruption(format!(
            "merge operand for key '{}' in a database opened without a merge operator",
            key.escape_ascii()
        )));
    };
    operator.full_merge(key, base, operands).ok_or_else(|| {
        Error::corruption(format!(
            "merge operator {} failed on {} operands of key '{}'",
            operator.name(),
            operands.len(),
            key.escape_ascii()
        ))
    })
}

/// Entries of one key gathered newest first, down to a value, a deletion
/// or the end of the key's entries.
pub(crate) struct MergeChain {
    /// The operands met, newest first.
    pub(crate) operands: Vec<Bytes>,
    /// The value the chain ends on (`None`: a deletion or nothing).
    pub(crate) base: Option<Bytes>,
}

impl MergeChain {
    /// Gathers the entries of `key` visible at `sequence` from `input`.
    pub(crate) fn gather(
        input: &mut dyn InternalIterator,
        icmp: &lsmkit_base::key::InternalKeyComparator,
        key: &[u8],
        sequence: SequenceNumber,
    ) -> Result<MergeChain> {
        input.seek(&make_internal_key(key, sequence, VALUE_KIND_FOR_SEEK));
        let mut chain = MergeChain { operands: Vec::new(), base: None };
        while input.valid() {
            let parsed = parse_internal_key(input.key())?;
            if icmp.compare_user_keys(parsed.user_key, key) != std::cmp::Ordering::Equal {
                break;
            }
            match parsed.kind {
                ValueKind::Merge => chain.operands.push(input.value_bytes()),
                ValueKind::Value => {
                    chain.base = Some(input.value_bytes());
                    break;
                }
                ValueKind::Deletion => break,
                ValueKind::RangeDeletion => {
                    return Err(Error::corruption(format!(
                        "range tombstone kind among the point entries of key '{}'",
                        key.escape_ascii()
                    )))
                }
            }
            input.next();
        }
        input.status()?;
        Ok(chain)
    }

    /// The value the chain stands for, or the base alone without operands.
    pub(crate) fn resolve(&self, operator: Option<&dyn MergeOperator>, key: &[u8]) -> Result<Option<Bytes>> {
        if self.operands.is_empty() {
            return Ok(self.base.clone());
        }
        let oldest_first: Vec<&[u8]> = self.operands.iter().rev().map(|b| &b[..]).collect();
        Ok(Some(full_merge(operator, key, self.base.as_deref(), &oldest_first)?.into()))
    }
}

impl Db {
    /// Merges `operand` into `key` through [`Options::merge_operator`]:
    /// reads then see the operator's merge of every operand, oldest first,
    /// with the key's value below them. Without a merge operator this
    /// fails with `Error::InvalidArgument`.
    pub fn merge(&self, key: &[u8], operand: &[u8]) -> Result<()> {
        self.merge_opt(WriteOptions::default(), key, operand)
    }

    /// [`merge`](Self::merge) with write options.
    pub fn merge_opt(&self, options: WriteOptions, key: &[u8], operand: &[u8]) -> Result<()> {
        let mut batch = lsmkit_wal::WriteBatch::new();
        batch.merge(key, operand);
        self.write(options, batch)
    }

    /// The value of `key` at `sequence` when its newest visible entry is a
    /// merge operand: the chain gathered over `view` (the read view the
    /// plain lookup used), merged.
    pub(crate) fn get_merged(
        &self,
        options: &ReadOptions,
        view: Arc<SuperVersion>,
        sequence: SequenceNumber,
        key: &[u8],
    ) -> Result<Option<Bytes>> {
        let shared = self.shared();
        // `view` keeps the tables the iterator reads from alive.
        let mut input = self.internal_iterator_over(&view, options, sequence);
        let chain = MergeChain::gather(&mut *input, &shared.icmp, key, sequence)?;
        drop(input);
        drop(view);
        let value = chain.resolve(shared.options.merge_operator.as_deref(), key)?;
        let limit = shared.options.max_merge_chain_length;
        if limit > 0 && chain.operands.len() > limit && options.snapshot.is_none() {
            if let Some(value) = &value {
                let mut batch = lsmkit_wal::WriteBatch::new();
                batch.put(key, value);
                // Best effort: the value read is right either way, and a
                // failed write is reported to the writers that follow.
                let _ = shared.write_if_unchanged(batch, sequence);
            }
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsmkit_base::merge_operator::StringAppendOperator;

    #[test]
    fn write_backs_are_dropped_once_anything_was_written_after_the_read() {
        let options = crate::Options {
            create_if_missing: true,
            fs: Arc::new(lsmkit_base::fs::MemFs::new()),
            merge_operator: Some(Arc::new(StringAppendOperator::new(b","))),
            ..crate::Options::default()
        };
        let db = Db::open("/db", options).unwrap();
        db.put(b"k", b"a").unwrap();
        let read_at = db.snapshot().sequence();
        db.merge(b"k", b"b").unwrap();
        let mut stale = lsmkit_wal::WriteBatch::new();
        stale.put(b"k", b"a");
        db.shared().write_if_unchanged(stale, read_at).unwrap();
        assert_eq!(db.get(b"k").unwrap().as_deref(), Some(&b"a,b"[..]));
        assert_eq!(db.snapshot().sequence(), read_at + 1, "the stale write-back took no number");
        let mut current = lsmkit_wal::WriteBatch::new();
        current.put(b"k", b"A,B");
        db.shared().write_if_unchanged(current, read_at + 1).unwrap();
        assert_eq!(db.get(b"k").unwrap().as_deref(), Some(&b"A,B"[..]));
    }

    #[test]
    fn full_merge_needs_an_operator_that_succeeds() {
        let append = StringAppendOperator::new(b"+");
        assert_eq!(full_merge(Some(&append), b"k", Some(b"a"), &[b"b"]).unwrap(), b"a+b");
        let missing = full_merge(None, b"k", None, &[b"b"]).unwrap_err();
        assert!(missing.is_corruption() && missing.to_string().contains("without a merge operator"));
        let failed = full_merge(Some(&lsmkit_base::merge_operator::U64AddOperator), b"k", None, &[b"x"]);
        assert!(failed.unwrap_err().to_string().contains("lsmkit.U64Add failed on 1 operands of key 'k'"));
    }
}
