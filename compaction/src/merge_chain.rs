//! Combining merge operands (docs/format-extensions.md, "Merge operator"):
//! the one piece of logic that both compactions ([`CompactionJob`]) and
//! memtable flushes ([`FlushCombiner`]) use to collapse a key's operands.
//!
//! When the newest entry of a key in a snapshot stripe (see
//! `retention.rs`) is an operand, `collapse` gathers the older entries of
//! the key in the same stripe and writes:
//!
//! * reaching a value or a deletion marker: one value, the operator's full
//!   merge, at the newest operand's sequence number;
//! * reaching the key's last input entry when nothing older of the key can
//!   exist outside the input: the same, with no base;
//! * otherwise (an older stripe follows, or older entries may exist
//!   elsewhere): one operand, the operator's partial merge, or the
//!   operands unchanged when the operator has none.
//!
//! A merge the operator refuses leaves the entries as they were (reads then
//! report the corruption). Entries of different stripes are never
//! combined, so every live snapshot reads what it read before.
//!
//! Range deletions hide entries from a chain: a chain ends, as at a
//! deletion, at an entry that a range tombstone newer than it (and older
//! than the chain's newest operand) deletes in its stripe, or the merge
//! would bring the entry's value back. Both callers pass that question in
//! as a [`RangeDeletedPredicate`]: a compaction from its inputs'
//! tombstones, a flush from the memtable's.
//!
//! A flush differs from a compaction only in what it does with the other
//! entries: it writes every non-operand entry as it is (LevelDB's flush
//! drops nothing), and an operand that a newer entry of its stripe
//! shadows is written as it is too; a compaction drops both by the
//! retention rules.

use std::cmp::Ordering;

use lsmkit_base::iterator::InternalIterator;
use lsmkit_base::key::{
    make_internal_key, parse_internal_key, InternalKeyComparator, SequenceNumber, ValueKind,
};
use lsmkit_base::merge_operator::MergeOperator;
use lsmkit_base::{Error, Result};

use crate::compaction_job::CompactionStats;
use crate::retention::{EntryFate, Retention};

#[cfg(doc)]
use crate::compaction_job::CompactionJob;

/// Where entries to write go: called with each internal key and value, in
/// order.
pub type EntrySink<'s> = dyn FnMut(&[u8], &[u8]) -> Result<()> + 's;

/// A question about a user key.
pub type KeyPredicate<'s> = dyn Fn(&[u8]) -> bool + 's;

/// Whether a range deletion hides an entry a merge chain reaches, asked
/// with the user key, the entry's sequence and the sequence of the chain's
/// newest operand: true when something deleting the key (a range
/// tombstone) lies between the two sequences, in their snapshot stripe.
/// The chain then ends there as at a deletion; the entry itself is left
/// to the caller. Without one (no tombstones), no entry is hidden.
pub type RangeDeletedPredicate<'s> = dyn Fn(&[u8], SequenceNumber, SequenceNumber) -> bool + 's;

/// Input keys must be strictly increasing; anything else is damage.
// Inlined into the compaction loop (it runs once per input entry), as it
// was before the merge-operator path called it too.
#[inline(always)]
pub(crate) fn check_order(
    icmp: &InternalKeyComparator,
    previous: &mut Option<Vec<u8>>,
    key: &[u8],
) -> Result<()> {
    if let Some(previous) = previous.as_mut() {
        if icmp.compare_internal_keys(previous, key) != Ordering::Less {
            return Err(Error::corruption(format!(
                "compaction input keys out of order: '{}' after '{}'",
                key.escape_ascii(),
                previous.escape_ascii()
            )));
        }
        previous.clear();
        previous.extend_from_slice(key);
    } else {
        *previous = Some(key.to_vec());
    }
    Ok(())
}

/// What a merge chain needs from its caller besides the input.
pub(crate) struct ChainContext<'c> {
    pub(crate) operator: &'c dyn MergeOperator,
    pub(crate) icmp: &'c InternalKeyComparator,
    pub(crate) retention: &'c Retention,
    /// True when no entry of the user key can exist outside the input
    /// (no level below a compaction's output holds it; no table holds it
    /// before a flush): a chain reaching the key's last input entry may
    /// then be merged fully.
    pub(crate) nothing_older: &'c KeyPredicate<'c>,
    /// See [`RangeDeletedPredicate`].
    pub(crate) range_deleted: Option<&'c RangeDeletedPredicate<'c>>,
}

/// The entry a merge chain ends on, within its stripe.
enum ChainBase {
    /// A value or deletion marker (its internal key and value).
    Entry(Vec<u8>, Vec<u8>, ValueKind),
    /// No older entry of the key in the stripe; `more` when older stripes
    /// of the key follow.
    Open { more: bool },
    /// The next entry is hidden by a range deletion newer than it in the
    /// stripe (not consumed).
    RangeDeleted,
}

/// `input` is on `first_key`, a merge operand that is the newest entry of
/// its key in its stripe: consumes it and the older entries of its key in
/// the same stripe that it can combine, and passes the result to `write`.
/// Counts the entries read after the first (`input_entries`), those
/// written (`output_entries`) and those combined away (`merged_entries`)
/// in `stats`; checks the order of the keys it reads against
/// `previous_key`. Leaves `input` on the first entry it did not consume.
// Off the loop of plain entries: only merge operands come here.
#[cold]
#[inline(never)]
pub(crate) fn collapse<I: InternalIterator + ?Sized>(
    cx: &ChainContext<'_>,
    input: &mut I,
    first_key: Vec<u8>,
    previous_key: &mut Option<Vec<u8>>,
    stats: &mut CompactionStats,
    write: &mut EntrySink<'_>,
) -> Result<()> {
    let first = parse_internal_key(&first_key)?;
    let (user_key, sequence) = (first.user_key, first.sequence);
    let mut operands = vec![(first_key.clone(), input.value().to_vec())];
    input.next();
    let base = loop {
        if !input.valid() {
            input.status()?;
            break ChainBase::Open { more: false };
        }
        let key = input.key();
        let entry = parse_internal_key(key).map_err(|e| {
            Error::corruption(format!("compaction input holds a malformed internal key: {e}"))
        })?;
        if cx.icmp.compare_user_keys(entry.user_key, user_key) != Ordering::Equal {
            break ChainBase::Open { more: false };
        }
        if !cx.retention.same_stripe(entry.sequence, sequence) {
            break ChainBase::Open { more: true };
        }
        if cx.range_deleted.is_some_and(|hidden| hidden(user_key, entry.sequence, sequence)) {
            break ChainBase::RangeDeleted;
        }
        check_order(cx.icmp, previous_key, key)?;
        stats.input_entries += 1;
        let kind = entry.kind;
        let pair = (key.to_vec(), input.value().to_vec());
        input.next();
        match kind {
            ValueKind::Merge => operands.push(pair),
            ValueKind::Value | ValueKind::Deletion => break ChainBase::Entry(pair.0, pair.1, kind),
            ValueKind::RangeDeletion => {
                return Err(Error::corruption(format!(
                    "compaction input holds a range tombstone kind in a data block for key '{}'",
                    user_key.escape_ascii()
                )))
            }
        }
    };
    let mut emit = |key: &[u8], value: &[u8]| -> Result<()> {
        write(key, value)?;
        stats.output_entries += 1;
        Ok(())
    };
    let oldest_first: Vec<&[u8]> = operands.iter().rev().map(|(_, v)| &v[..]).collect();
    let full_base = match &base {
        ChainBase::Entry(_, value, ValueKind::Value) => Some(Some(&value[..])),
        ChainBase::Entry(..) | ChainBase::RangeDeleted => Some(None),
        ChainBase::Open { more: false } if (cx.nothing_older)(user_key) => Some(None),
        ChainBase::Open { .. } => None,
    };
    if let Some(existing) = full_base {
        if let Some(merged) = cx.operator.full_merge(user_key, existing, &oldest_first) {
            let consumed = operands.len() - 1 + usize::from(matches!(base, ChainBase::Entry(..)));
            emit(&make_internal_key(user_key, sequence, ValueKind::Value), &merged)?;
            stats.merged_entries += consumed as u64;
            return Ok(());
        }
    } else if operands.len() >= 2 {
        if let Some(combined) = cx.operator.partial_merge(user_key, &oldest_first) {
            emit(&make_internal_key(user_key, sequence, ValueKind::Merge), &combined)?;
            stats.merged_entries += operands.len() as u64 - 1;
            return Ok(());
        }
    }
    // Nothing combined: every entry as it was.
    for (key, value) in &operands {
        emit(key, value)?;
    }
    if let ChainBase::Entry(key, value, _) = &base {
        emit(key, value)?;
    }
    Ok(())
}

/// Writes the entries of a memtable for a flush, combining the merge
/// operands of each key the way a compaction does (see the module
/// documentation): consecutive operands of one snapshot stripe become one
/// operand (the operator's partial merge), and operands that reach a value
/// or a deletion of their stripe become one value (the full merge). Every
/// other entry is written as it is, shadowed ones included.
///
/// The snapshots must be every live snapshot; `nothing_older` (by default
/// always false) may say that no table holds a user key, so that a chain
/// reaching the memtable's oldest entry of that key is merged fully.
///
/// ```
/// use lsmkit_base::comparator::BytewiseComparator;
/// use lsmkit_base::iterator::{InternalIterator, VecIterator};
/// use lsmkit_base::key::{make_internal_key, InternalKeyComparator, ValueKind};
/// use lsmkit_base::merge_operator::U64AddOperator;
/// use lsmkit_compaction::FlushCombiner;
///
/// let icmp = InternalKeyComparator::new(BytewiseComparator::shared());
/// // Key "n": operands at sequences 4, 3 and 2 over the value 10 at sequence 1.
/// let entries: Vec<(Vec<u8>, Vec<u8>)> = (2..=4)
///     .rev()
///     .map(|s| (make_internal_key(b"n", s, ValueKind::Merge), 1u64.to_le_bytes().to_vec()))
///     .chain([(make_internal_key(b"n", 1, ValueKind::Value), 10u64.to_le_bytes().to_vec())])
///     .collect();
/// let mut written = Vec::new();
///
/// // A snapshot at sequence 2 keeps the operand it sees apart from the newer ones.
/// let mut input = VecIterator::new(std::sync::Arc::new(icmp.clone()), entries);
/// input.seek_to_first();
/// let snapshots = [2];
/// let stats = FlushCombiner::new(&icmp)
///     .merge_operator(Some(&U64AddOperator))
///     .snapshots(&snapshots)
///     .run(&mut input, &mut |k, v| {
///         written.push((k.to_vec(), v.to_vec()));
///         Ok(())
///     })?;
/// assert_eq!(written, [
///     (make_internal_key(b"n", 4, ValueKind::Merge), 2u64.to_le_bytes().to_vec()),
///     (make_internal_key(b"n", 2, ValueKind::Value), 11u64.to_le_bytes().to_vec()),
/// ]);
/// assert_eq!((stats.input_entries, stats.output_entries, stats.merged_entries), (4, 2, 2));
/// # Ok::<(), lsmkit_base::Error>(())
/// ```
pub struct FlushCombiner<'a> {
    icmp: &'a InternalKeyComparator,
    snapshots: &'a [SequenceNumber],
    merge_operator: Option<&'a dyn MergeOperator>,
    nothing_older: Option<&'a KeyPredicate<'a>>,
    range_deleted: Option<&'a RangeDeletedPredicate<'a>>,
}

impl<'a> FlushCombiner<'a> {
    /// A combiner for keys ordered by `icmp`, with no live snapshot and no
    /// merge operator (every entry is then written as it is).
    pub fn new(icmp: &'a InternalKeyComparator) -> FlushCombiner<'a> {
        FlushCombiner { icmp, snapshots: &[], merge_operator: None, nothing_older: None, range_deleted: None }
    }

    /// The sequence numbers of every live snapshot, in any order.
    pub fn snapshots(mut self, snapshots: &'a [SequenceNumber]) -> FlushCombiner<'a> {
        self.snapshots = snapshots;
        self
    }

    /// The operator that combines operands. Without one, operands are
    /// written as they are.
    pub fn merge_operator(mut self, operator: Option<&'a dyn MergeOperator>) -> FlushCombiner<'a> {
        self.merge_operator = operator;
        self
    }

    /// Says, for a user key, that no entry of it exists outside the input
    /// (no table of the database holds it). Must never say so wrongly: the
    /// full merge would then hide older entries.
    pub fn nothing_older(mut self, nothing_older: &'a KeyPredicate<'a>) -> FlushCombiner<'a> {
        self.nothing_older = Some(nothing_older);
        self
    }

    /// Says which entries of the memtable its range deletions hide from a
    /// merge chain (see [`RangeDeletedPredicate`]); a chain ends at such an
    /// entry as at a deletion. Needed as soon as a memtable can hold range
    /// tombstones: a chain merged over a value a tombstone deletes would
    /// bring it back.
    pub fn range_deleted(mut self, range_deleted: &'a RangeDeletedPredicate<'a>) -> FlushCombiner<'a> {
        self.range_deleted = Some(range_deleted);
        self
    }

    /// Reads `input` from where it is positioned to its end and passes the
    /// entries to write, in order, to `add`. Returns the counts
    /// (`input_entries`, `output_entries`, `merged_entries`; the others
    /// stay 0). Keys out of order or malformed are `Corruption`.
    pub fn run<I: InternalIterator + ?Sized>(
        &self,
        input: &mut I,
        add: &mut EntrySink<'_>,
    ) -> Result<CompactionStats> {
        let mut stats = CompactionStats::default();
        let Some(operator) = self.merge_operator else {
            while input.valid() {
                add(input.key(), input.value())?;
                stats.input_entries += 1;
                stats.output_entries += 1;
                input.next();
            }
            input.status()?;
            return Ok(stats);
        };
        let never = |_: &[u8]| false;
        let mut retention = Retention::new(self.snapshots);
        let mut previous_key: Option<Vec<u8>> = None;
        while input.valid() {
            let key = input.key();
            let entry = parse_internal_key(key).map_err(|e| {
                Error::corruption(format!("flushed memtable holds a malformed internal key: {e}"))
            })?;
            check_order(self.icmp, &mut previous_key, key)?;
            stats.input_entries += 1;
            // Only whether a newer entry of the key shares the stripe
            // matters here: a flush drops nothing, so no deletion is
            // reported obsolete.
            let fate = retention.decide(self.icmp, &entry, |_| false);
            if entry.kind == ValueKind::Merge && fate == EntryFate::Keep {
                let cx = ChainContext {
                    operator,
                    icmp: self.icmp,
                    retention: &retention,
                    nothing_older: self.nothing_older.unwrap_or(&never),
                    range_deleted: self.range_deleted,
                };
                let first = key.to_vec();
                collapse(&cx, input, first, &mut previous_key, &mut stats, add)?;
                continue;
            }
            add(key, input.value())?;
            stats.output_entries += 1;
            input.next();
        }
        input.status()?;
        Ok(stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsmkit_base::comparator::BytewiseComparator;
    use lsmkit_base::iterator::VecIterator;
    use lsmkit_base::merge_operator::{StringAppendOperator, U64AddOperator};
    use ValueKind::{Deletion, Merge, Value};

    fn icmp() -> InternalKeyComparator {
        InternalKeyComparator::new(BytewiseComparator::shared())
    }

    /// Entries `(user key, sequence, kind, value)`, in internal-key order.
    fn entries(list: &[(&str, u64, ValueKind, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
        list.iter()
            .map(|&(k, s, kind, v)| (make_internal_key(k.as_bytes(), s, kind), v.as_bytes().to_vec()))
            .collect()
    }

    /// What a flush of `list` writes, as `(user key, sequence, kind, value)`.
    fn flush(
        list: &[(&str, u64, ValueKind, &str)],
        snapshots: &[u64],
        operator: Option<&dyn MergeOperator>,
        nothing_older: &dyn Fn(&[u8]) -> bool,
    ) -> (Vec<(String, u64, ValueKind, String)>, CompactionStats) {
        let icmp = icmp();
        let mut input = VecIterator::new(std::sync::Arc::new(icmp.clone()), entries(list));
        input.seek_to_first();
        let mut out = Vec::new();
        let stats = FlushCombiner::new(&icmp)
            .snapshots(snapshots)
            .merge_operator(operator)
            .nothing_older(nothing_older)
            .run(&mut input, &mut |k, v| {
                let parsed = parse_internal_key(k).unwrap();
                out.push((
                    String::from_utf8(parsed.user_key.to_vec()).unwrap(),
                    parsed.sequence,
                    parsed.kind,
                    String::from_utf8(v.to_vec()).unwrap(),
                ));
                Ok(())
            })
            .unwrap();
        (out, stats)
    }

    fn owned(list: &[(&str, u64, ValueKind, &str)]) -> Vec<(String, u64, ValueKind, String)> {
        list.iter().map(|&(k, s, kind, v)| (k.to_string(), s, kind, v.to_string())).collect()
    }

    #[test]
    fn operands_combine_within_stripes_and_merge_fully_over_a_base() {
        let append = StringAppendOperator::new(b",");
        let list = [
            ("a", 9, Merge, "3"),
            ("a", 8, Merge, "2"),
            ("a", 7, Value, "1"),
            ("a", 6, Value, "0"),
            ("b", 9, Merge, "y"),
            ("b", 5, Merge, "x"),
            ("b", 4, Deletion, ""),
            ("c", 3, Merge, "q"),
            ("c", 2, Merge, "p"),
        ];
        let (out, stats) = flush(&list, &[], Some(&append), &|_| false);
        assert_eq!(
            out,
            owned(&[
                ("a", 9, Value, "1,2,3"),
                ("a", 6, Value, "0"), // shadowed, kept as a flush keeps it
                ("b", 9, Value, "x,y"),
                ("c", 3, Merge, "p,q"), // tables may hold older entries of c
            ])
        );
        assert_eq!((stats.input_entries, stats.output_entries, stats.merged_entries), (9, 4, 5));
        // With nothing older of "c" anywhere, its chain is merged fully.
        let (out, _) = flush(&list, &[], Some(&append), &|k| k == b"c");
        assert_eq!(out[3], ("c".to_string(), 3, Value, "p,q".to_string()));
    }

    #[test]
    fn snapshots_split_chains_and_shadowed_operands_stay() {
        let add = U64AddOperator;
        let one = String::from_utf8(1u64.to_le_bytes().to_vec()).unwrap();
        let v = |n: u64| String::from_utf8(n.to_le_bytes().to_vec()).unwrap();
        let list: Vec<(&str, u64, ValueKind, &str)> =
            vec![("k", 6, Merge, &one), ("k", 5, Merge, &one), ("k", 4, Merge, &one), ("k", 3, Merge, &one)];
        // Snapshots at 4 and 5: stripes {6}, {5}, {4, 3}.
        let (out, _) = flush(&list, &[5, 4], Some(&add), &|_| false);
        assert_eq!(out, owned(&[("k", 6, Merge, &one), ("k", 5, Merge, &one), ("k", 4, Merge, &v(2))]));
        // A value newer than the operands in the same stripe shadows them:
        // they stay as they are.
        let list: Vec<(&str, u64, ValueKind, &str)> =
            vec![("k", 9, Value, "x"), ("k", 8, Merge, "m"), ("k", 7, Merge, "n")];
        let (out, stats) = flush(&list, &[], Some(&StringAppendOperator::new(b",")), &|_| true);
        assert_eq!(out, owned(&list));
        assert_eq!(stats.merged_entries, 0);
        // Without an operator, nothing is combined.
        let (out, _) = flush(&list[1..], &[], None, &|_| true);
        assert_eq!(out, owned(&list[1..]));
    }

    /// A range deletion (simulated: key "k" deleted at sequence 7) ends a
    /// chain that reaches an entry below it: the operands above merge over
    /// nothing, the hidden entries stay as they are.
    #[test]
    fn chains_stop_at_entries_a_range_deletion_hides() {
        let append = StringAppendOperator::new(b",");
        let list =
            [("k", 9, Merge, "x"), ("k", 8, Merge, "w"), ("k", 5, Merge, "y"), ("k", 3, Value, "base")];
        let (out, _) = flush(&list, &[], Some(&append), &|_| false);
        assert_eq!(out, owned(&[("k", 9, Value, "base,y,w,x")]), "no deletion: one value");
        let icmp = icmp();
        let mut input = VecIterator::new(std::sync::Arc::new(icmp.clone()), entries(&list));
        input.seek_to_first();
        let hidden = |key: &[u8], sequence: u64, newest: u64| key == b"k" && sequence < 7 && 7 < newest;
        let mut out = Vec::new();
        let stats = FlushCombiner::new(&icmp)
            .merge_operator(Some(&append))
            .range_deleted(&hidden)
            .run(&mut input, &mut |k, v| {
                let parsed = parse_internal_key(k).unwrap();
                out.push((parsed.sequence, parsed.kind, String::from_utf8(v.to_vec()).unwrap()));
                Ok(())
            })
            .unwrap();
        assert_eq!(
            out,
            [(9, Value, "w,x".to_string()), (5, Merge, "y".to_string()), (3, Value, "base".to_string())],
            "the operands above the deletion merge over nothing; the hidden ones stay"
        );
        assert_eq!((stats.input_entries, stats.output_entries, stats.merged_entries), (4, 3, 1));
    }

    #[test]
    fn refused_merges_and_disorder() {
        // A malformed u64 operand: the full merge fails, the entries stay.
        let list = [("k", 3, Merge, "bad"), ("k", 2, Value, "also bad")];
        let (out, stats) = flush(&list, &[], Some(&U64AddOperator), &|_| true);
        assert_eq!(out, owned(&list));
        assert_eq!(stats.merged_entries, 0);

        // Sorted bytewise, so sequence 2 before 3: out of internal-key order.
        let icmp = icmp();
        let mut input = VecIterator::new(
            BytewiseComparator::shared(),
            entries(&[("k", 2, Merge, "a"), ("k", 3, Merge, "b")]),
        );
        input.seek_to_first();
        let append = StringAppendOperator::new(b",");
        let err = FlushCombiner::new(&icmp)
            .merge_operator(Some(&append))
            .run(&mut input, &mut |_, _| Ok(()))
            .unwrap_err();
        assert!(err.is_corruption() && err.to_string().contains("out of order"), "{err}");
    }
}
