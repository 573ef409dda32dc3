//! The `lsmkit.range_del` meta block (docs/format-extensions.md, "Range
//! deletions"): a table's range tombstones, fragmented and sorted, as an
//! ordinary block (restart interval 1) whose entries are
//! `begin ++ fixed64(sequence << 8 | 15)` → `end`, ordered by begin
//! ascending, then sequence descending; the fragments never overlap.
//!
//! ```
//! use lsmkit_base::comparator::BytewiseComparator;
//! use lsmkit_base::range_tombstone::{FragmentedRangeTombstones, RangeTombstone};
//! use lsmkit_sstable::range_del_block;
//!
//! let cmp = BytewiseComparator::shared();
//! let list = FragmentedRangeTombstones::new(
//!     vec![RangeTombstone::new(b"a", b"c", 7), RangeTombstone::new(b"b", b"d", 9)],
//!     cmp.clone(),
//! );
//! let block = range_del_block::encode(&list);
//! let back = range_del_block::decode(block.into(), cmp).unwrap();
//! assert_eq!(back.fragments(), list.fragments());
//! ```

use std::sync::Arc;

use bytes::Bytes;
use lsmkit_base::comparator::{BytewiseComparator, Comparator};
use lsmkit_base::iterator::InternalIterator;
use lsmkit_base::key::{make_internal_key, parse_internal_key, ValueKind};
use lsmkit_base::range_tombstone::{Fragment, FragmentedRangeTombstones};

use crate::block::Block;
use crate::block_builder::BlockBuilder;

/// The metaindex name of the block.
pub const RANGE_DEL_BLOCK_NAME: &str = "lsmkit.range_del";

/// How the user comparator's name of a database with range deletions
/// starts (the engine's mark). Tables opened with such a comparator treat a
/// damaged metaindex as corruption instead of ignoring it, since it holds
/// the way to the table's tombstones.
pub const RANGE_DEL_COMPARATOR_PREFIX: &str = "lsmkit.rangedel.";

/// The block bytes (without trailer) for `list`.
pub fn encode(list: &FragmentedRangeTombstones) -> Vec<u8> {
    let mut builder = BlockBuilder::new(1);
    for fragment in list.fragments() {
        for &sequence in &fragment.sequences {
            builder
                .add(&make_internal_key(&fragment.start, sequence, ValueKind::RangeDeletion), &fragment.end);
        }
    }
    builder.finish().to_vec()
}

/// The tombstones of a block's contents, checked: every key is an internal
/// key of kind 15, entries of one fragment are adjacent with strictly
/// descending sequences, fragments are sorted by `user_comparator` and do
/// not overlap. `Err` says what is wrong (the caller adds file and offset).
pub fn decode(
    contents: Bytes,
    user_comparator: Arc<dyn Comparator>,
) -> std::result::Result<FragmentedRangeTombstones, String> {
    let block = Block::new(contents).map_err(|e| format!("bad range deletion block: {e}"))?;
    let mut it = block.iter(Arc::new(BytewiseComparator));
    it.seek_to_first();
    let mut fragments: Vec<Fragment> = Vec::new();
    let mut index = 0usize;
    while it.valid() {
        let parsed = parse_internal_key(it.key())
            .map_err(|e| format!("bad range tombstone key in entry {index}: {e}"))?;
        if parsed.kind != ValueKind::RangeDeletion {
            return Err(format!("range tombstone entry {index} has kind {}", parsed.kind as u8));
        }
        let end = it.value();
        match fragments.last_mut() {
            Some(last) if last.start == parsed.user_key && last.end == end => {
                if parsed.sequence >= *last.sequences.last().expect("never empty") {
                    return Err(format!("range tombstone entry {index} is out of order"));
                }
                last.sequences.push(parsed.sequence);
            }
            _ => fragments.push(Fragment {
                start: parsed.user_key.to_vec(),
                end: end.to_vec(),
                sequences: vec![parsed.sequence],
            }),
        }
        index += 1;
        it.next();
    }
    it.status().map_err(|e| format!("bad range deletion block: {e}"))?;
    FragmentedRangeTombstones::from_fragments(fragments, user_comparator)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsmkit_base::range_tombstone::RangeTombstone;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trips(ts in proptest::collection::vec((0u8..30, 0u8..30, 1u64..1000), 0..20)) {
            let cmp = BytewiseComparator::shared();
            let list = FragmentedRangeTombstones::new(
                ts.iter().map(|&(b, e, s)| RangeTombstone::new(&[b], &[e], s)), cmp.clone());
            let back = decode(encode(&list).into(), cmp).unwrap();
            prop_assert_eq!(back.fragments(), list.fragments());
        }

        #[test]
        fn damaged_blocks_are_errors_not_panics(
            ts in proptest::collection::vec((0u8..30, 0u8..30, 1u64..1000), 1..10),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
        ) {
            let cmp = BytewiseComparator::shared();
            let list = FragmentedRangeTombstones::new(
                ts.iter().map(|&(b, e, s)| RangeTombstone::new(&[b], &[e], s)), cmp.clone());
            let mut bytes = encode(&list);
            let i = at.index(bytes.len());
            bytes[i] = byte;
            let _ = decode(bytes.into(), cmp);
        }
    }

    #[test]
    fn rejects_other_kinds_and_overlaps() {
        let cmp = BytewiseComparator::shared();
        let mut b = BlockBuilder::new(1);
        b.add(&make_internal_key(b"a", 3, ValueKind::Value), b"c");
        assert!(decode(b.finish().to_vec().into(), cmp.clone()).unwrap_err().contains("kind 1"));
        let mut b = BlockBuilder::new(1);
        b.add(&make_internal_key(b"a", 3, ValueKind::RangeDeletion), b"d");
        b.add(&make_internal_key(b"b", 3, ValueKind::RangeDeletion), b"e");
        assert!(decode(b.finish().to_vec().into(), cmp.clone()).unwrap_err().contains("overlaps"));
        let mut b = BlockBuilder::new(1);
        b.add(&make_internal_key(b"a", 3, ValueKind::RangeDeletion), b"d");
        b.add(&make_internal_key(b"a", 3, ValueKind::RangeDeletion), b"d");
        assert!(decode(b.finish().to_vec().into(), cmp).unwrap_err().contains("out of order"));
    }

    #[test]
    fn golden_bytes() {
        let list = FragmentedRangeTombstones::new(
            vec![RangeTombstone::new(b"a", b"c", 5)],
            BytewiseComparator::shared(),
        );
        // shared 0, unshared 9, value 1 | a 0f05000000000000 | c | restart 0 | 1 restart
        assert_eq!(encode(&list), [0, 9, 1, b'a', 0x0f, 5, 0, 0, 0, 0, 0, 0, b'c', 0, 0, 0, 0, 1, 0, 0, 0]);
    }
}
