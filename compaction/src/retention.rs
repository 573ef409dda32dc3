//! Which entries a compaction keeps: LevelDB's drop rules
//! (`DBImpl::DoCompactionWork`), applied per live snapshot.
//!
//! The live snapshots cut the sequence numbers into *stripes*: stripe `i`
//! holds the sequences `s` with `snapshot[i-1] < s ≤ snapshot[i]`, and the
//! top stripe those above every snapshot. A reader at snapshot `S` sees, for
//! each key, the newest version with sequence ≤ `S`; so within one stripe
//! only the newest version of a key can ever be seen (the current state is
//! read at the top). The rules, for the versions of one user key, newest
//! first:
//!
//! 1. a version in the same stripe as a newer version of its key is
//!    shadowed: dropped;
//! 2. a deletion marker in the bottom stripe (no snapshot older than it)
//!    is dropped when no level below the output holds the key: nothing
//!    older is left for it to hide, and the older versions in this
//!    compaction are dropped by rule 1.
//!
//! A merge operand is not a whole value: the job hands it and the older
//! entries of its stripe to the merge operator instead (see
//! `CompactionJob`), so rule 1 never drops what an operand still needs.
//!
//! With no snapshot there is one stripe, and these are exactly LevelDB's
//! rules with `smallest_snapshot` = the last sequence. With snapshots they
//! keep less than LevelDB (which keeps every version newer than the oldest
//! snapshot), and every snapshot still sees what it saw — which is why the
//! job needs *every* live snapshot, not only the oldest.

use std::cmp::Ordering;

use lsmkit_base::key::{InternalKeyComparator, ParsedInternalKey, SequenceNumber, ValueKind};

/// The fate of one input entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EntryFate {
    /// Written to the output.
    Keep,
    /// Dropped: a newer version of the key is seen by every reader that could see this one.
    Shadowed,
    /// Dropped: a deletion marker with nothing left to hide.
    ObsoleteDeletion,
}

/// Applies the rules to the entries of a compaction, in internal-key order.
#[derive(Debug)]
pub(crate) struct Retention {
    /// Live snapshots, ascending, without duplicates.
    snapshots: Vec<SequenceNumber>,
    current_user_key: Option<Vec<u8>>,
    /// The stripe of the previous (newer) entry of the current user key.
    previous_stripe: Option<usize>,
}

impl Retention {
    /// Rules for the given live snapshots (any order).
    pub(crate) fn new(snapshots: &[SequenceNumber]) -> Retention {
        let mut snapshots = snapshots.to_vec();
        snapshots.sort_unstable();
        snapshots.dedup();
        Retention { snapshots, current_user_key: None, previous_stripe: None }
    }

    fn stripe(&self, sequence: SequenceNumber) -> usize {
        self.snapshots.partition_point(|&s| s < sequence)
    }

    /// True when no snapshot can see an entry with this sequence: only
    /// current readers can (the compaction filter may change it).
    pub(crate) fn above_every_snapshot(&self, sequence: SequenceNumber) -> bool {
        self.stripe(sequence) == self.snapshots.len()
    }

    /// True when no live snapshot falls between the two sequences: every
    /// reader that sees the older one sees the newer one too (merge
    /// operands may then be combined).
    pub(crate) fn same_stripe(&self, a: SequenceNumber, b: SequenceNumber) -> bool {
        self.stripe(a) == self.stripe(b)
    }

    /// True when a deletion marker with this sequence has no snapshot below
    /// it (rule 2 may drop it).
    pub(crate) fn in_bottom_stripe(&self, sequence: SequenceNumber) -> bool {
        self.stripe(sequence) == 0
    }

    /// Decides the fate of the next entry. `is_base_level` is asked (only
    /// for bottom-stripe deletion markers) whether no level below the
    /// output holds the user key.
    pub(crate) fn decide(
        &mut self,
        icmp: &InternalKeyComparator,
        entry: &ParsedInternalKey<'_>,
        is_base_level: impl FnOnce(&[u8]) -> bool,
    ) -> EntryFate {
        let same_key = self
            .current_user_key
            .as_deref()
            .is_some_and(|k| icmp.compare_user_keys(k, entry.user_key) == Ordering::Equal);
        if !same_key {
            let key = self.current_user_key.get_or_insert_with(Vec::new);
            key.clear();
            key.extend_from_slice(entry.user_key);
            self.previous_stripe = None;
        }
        let stripe = self.stripe(entry.sequence);
        let fate = if self.previous_stripe == Some(stripe) {
            EntryFate::Shadowed
        } else if entry.kind == ValueKind::Deletion && stripe == 0 && is_base_level(entry.user_key) {
            EntryFate::ObsoleteDeletion
        } else {
            EntryFate::Keep
        };
        self.previous_stripe = Some(stripe);
        fate
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsmkit_base::comparator::BytewiseComparator;

    fn entry(user_key: &'static str, sequence: u64, kind: ValueKind) -> ParsedInternalKey<'static> {
        ParsedInternalKey { user_key: user_key.as_bytes(), sequence, kind }
    }

    /// Fates of the entries, in order, with `base` as the base-level answer.
    fn fates(snapshots: &[u64], entries: &[(&'static str, u64, ValueKind)], base: bool) -> Vec<EntryFate> {
        let icmp = InternalKeyComparator::new(BytewiseComparator::shared());
        let mut rules = Retention::new(snapshots);
        entries.iter().map(|&(k, s, kind)| rules.decide(&icmp, &entry(k, s, kind), |_| base)).collect()
    }

    use EntryFate::{Keep, ObsoleteDeletion, Shadowed};
    use ValueKind::{Deletion, Value};

    #[test]
    fn without_snapshots_only_the_newest_survives() {
        let entries = [("a", 9, Value), ("a", 5, Value), ("a", 2, Deletion), ("b", 7, Value)];
        assert_eq!(fates(&[], &entries, true), [Keep, Shadowed, Shadowed, Keep]);
    }

    #[test]
    fn deletions_drop_only_at_the_base_level_and_below_every_snapshot() {
        let entries = [("a", 9, Deletion), ("a", 5, Value), ("b", 3, Deletion)];
        assert_eq!(fates(&[], &entries, true), [ObsoleteDeletion, Shadowed, ObsoleteDeletion]);
        assert_eq!(fates(&[], &entries, false), [Keep, Shadowed, Keep]);
        // With snapshot 4: the marker a@9 is above it, so it is kept; a@5
        // shares its stripe (5 > 4) and is shadowed; b@3 is below it: dropped.
        assert_eq!(fates(&[4], &entries, true), [Keep, Shadowed, ObsoleteDeletion]);
    }

    #[test]
    fn each_snapshot_keeps_the_version_it_sees() {
        // Snapshots 3 and 6: stripes (..3], (3..6], (6..).
        let entries = [
            ("k", 8, Value),
            ("k", 7, Value),
            ("k", 6, Value),
            ("k", 4, Deletion),
            ("k", 3, Value),
            ("k", 1, Value),
        ];
        assert_eq!(fates(&[6, 3, 6], &entries, true), [Keep, Shadowed, Keep, Shadowed, Keep, Shadowed]);
        // A deletion that is the newest of the bottom stripe hides older entries there.
        let entries = [("k", 5, Value), ("k", 3, Deletion), ("k", 2, Value)];
        assert_eq!(fates(&[3], &entries, true), [Keep, ObsoleteDeletion, Shadowed]);
        assert_eq!(fates(&[3], &entries, false), [Keep, Keep, Shadowed]);
    }

    #[test]
    fn stripe_queries() {
        let rules = Retention::new(&[10, 20]);
        assert!(rules.in_bottom_stripe(10));
        assert!(!rules.in_bottom_stripe(11));
        assert!(!rules.above_every_snapshot(20));
        assert!(rules.above_every_snapshot(21));
        let none = Retention::new(&[]);
        assert!(none.in_bottom_stripe(5) && none.above_every_snapshot(5));
    }
}
