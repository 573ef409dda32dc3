//! Reading one block (docs/format.md §6.5): [`Block`] validates the restart
//! array, and [`BlockIter`] walks the prefix-compressed entries in both
//! directions and seeks by binary search over the restart points followed
//! by a linear scan.
//!
//! Block bytes come from disk and are untrusted: every length is checked
//! against the entry region before it is used, and a malformed entry makes
//! the iterator invalid with a `Corruption` status. Nothing here panics or
//! reads out of bounds, whatever the bytes.
//!
//! ```text
//!  0                                    restart_offset          len-4   len
//!  +------------------------------------+-----------------------+-------+
//!  | entries (prefix-compressed keys)   | fixed32 × num_restarts| count |
//!  +------------------------------------+-----------------------+-------+
//!    entry: shared | non_shared | value_len (varint32 each) | key suffix | value
//!
//!  restart_offset = len − 4 − 4 × count; every restart offset and every entry
//!  must lie in [0, restart_offset); a restart entry has shared = 0.
//! ```

use std::cmp::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use lsmkit_base::coding::{decode_fixed32, get_varint32};
use lsmkit_base::comparator::{Comparator, InlineComparator};
use lsmkit_base::iterator::InternalIterator;
use lsmkit_base::{Error, Result};

/// The contents of one block, shared cheaply (cloning copies no bytes).
///
/// A block always owns its buffer (decompressed, read positionally, or
/// copied out of a memory mapping); it is never a view of a mapping, whose
/// pages could turn into zeros if the file failed later.
#[derive(Clone, Debug)]
pub struct Block {
    data: Bytes,
    /// Offset of the restart array (= end of the entry region).
    restarts_offset: usize,
    num_restarts: u32,
}

impl Block {
    /// Wraps block bytes, checking that the restart array fits. A block
    /// shorter than 4 bytes, or whose restart count cannot fit, is
    /// `Corruption`.
    pub fn new(data: Bytes) -> Result<Block> {
        if data.len() < 4 {
            return Err(Error::corruption(format!("bad block contents: {} bytes", data.len())));
        }
        let num_restarts = decode_fixed32(&data[data.len() - 4..]);
        let max_restarts = (data.len() - 4) / 4;
        if num_restarts as usize > max_restarts {
            return Err(Error::corruption(format!(
                "bad block contents: {num_restarts} restarts in {} bytes",
                data.len()
            )));
        }
        let restarts_offset = data.len() - 4 - 4 * num_restarts as usize;
        Ok(Block { data, restarts_offset, num_restarts })
    }

    /// The block's bytes, restart array included.
    pub fn contents(&self) -> &Bytes {
        &self.data
    }

    /// The block's size in bytes.
    pub fn size(&self) -> usize {
        self.data.len()
    }

    /// The number of restart points.
    pub fn num_restarts(&self) -> u32 {
        self.num_restarts
    }

    /// An iterator over the block's entries ordered by `comparator`.
    pub fn iter(&self, comparator: Arc<dyn Comparator>) -> BlockIter {
        BlockIter::new(self.clone(), InlineComparator::new(comparator))
    }

    /// Like [`iter`](Self::iter), with the comparator's order already known
    /// (saves a dynamic call per block for callers that open many blocks).
    pub fn iter_inline(&self, comparator: &InlineComparator) -> BlockIter {
        BlockIter::new(self.clone(), comparator.clone())
    }
}

/// A cursor over the entries of one [`Block`].
///
/// Implements [`InternalIterator`]; `value_bytes` is a zero-copy view into
/// the block, while keys are rebuilt from their shared prefixes.
///
/// Stepping backward decodes the restart interval before the current entry
/// once and keeps it (offsets, values and rebuilt keys), so a run of `prev`
/// calls costs one decode per entry instead of a rescan from the restart
/// point per step.
pub struct BlockIter {
    comparator: InlineComparator,
    data: Bytes,
    restarts_offset: usize,
    num_restarts: u32,
    /// Offset of the current entry; `restarts_offset` when not positioned.
    current: usize,
    /// A restart point before the current entry (or at it, for the first
    /// entry of the block or of an interval entered backward).
    restart_index: u32,
    key: Vec<u8>,
    value_start: usize,
    value_len: usize,
    error: Option<Error>,
    /// The restart interval decoded by the last backward step.
    interval: DecodedInterval,
}

/// The three lengths that start every entry.
struct EntryHeader {
    shared: usize,
    non_shared: usize,
    value_len: usize,
    /// Offset of the key suffix.
    key_start: usize,
}

/// One entry of a [`DecodedInterval`].
#[derive(Debug, Clone, Copy)]
struct DecodedEntry {
    /// Offset of the entry in the block.
    offset: usize,
    /// End of the entry's full key in [`DecodedInterval::keys`]; it starts
    /// where the previous entry's key ends.
    key_end: usize,
    value_start: usize,
    value_len: usize,
}

/// The entries from restart point `restart_index` up to (not including)
/// offset `end`, with their keys rebuilt. It depends only on the block's
/// bytes, so it stays correct whatever the iterator does meanwhile.
#[derive(Debug, Default)]
struct DecodedInterval {
    restart_index: u32,
    end: usize,
    entries: Vec<DecodedEntry>,
    keys: Vec<u8>,
}

impl DecodedInterval {
    fn clear(&mut self) {
        self.entries.clear();
        self.keys.clear();
    }

    /// The position of the entry at `offset` (`entries.len()` for `end`),
    /// if the interval covers it.
    fn position_of(&self, offset: usize) -> Option<usize> {
        let first = self.entries.first()?;
        if offset == self.end {
            return Some(self.entries.len());
        }
        if offset < first.offset || offset > self.end {
            return None;
        }
        self.entries.binary_search_by_key(&offset, |e| e.offset).ok()
    }

    fn key(&self, index: usize) -> &[u8] {
        let start = if index == 0 { 0 } else { self.entries[index - 1].key_end };
        &self.keys[start..self.entries[index].key_end]
    }
}

impl BlockIter {
    fn new(block: Block, comparator: InlineComparator) -> BlockIter {
        BlockIter {
            comparator,
            current: block.restarts_offset,
            restart_index: block.num_restarts,
            data: block.data,
            restarts_offset: block.restarts_offset,
            num_restarts: block.num_restarts,
            key: Vec::new(),
            value_start: 0,
            value_len: 0,
            error: None,
            interval: DecodedInterval::default(),
        }
    }

    #[inline]
    fn compare(&self, a: &[u8], b: &[u8]) -> Ordering {
        self.comparator.compare(a, b)
    }

    /// The restart offset `index` (< `num_restarts`), as stored.
    #[inline]
    fn restart_point(&self, index: u32) -> usize {
        let at = self.restarts_offset + 4 * index as usize;
        decode_fixed32(&self.data[at..at + 4]) as usize
    }

    #[inline]
    fn next_entry_offset(&self) -> usize {
        self.value_start + self.value_len
    }

    /// Decodes the header of the entry at `offset`; `None` if it runs past
    /// the entry region.
    #[inline]
    fn decode_entry(&self, offset: usize) -> Option<EntryHeader> {
        let region = self.data.get(offset..self.restarts_offset)?;
        let (shared, non_shared, value_len, header_len) = match region {
            // Fast path: all three lengths fit in one byte each.
            [a, b, c, ..] if (a | b | c) < 0x80 => (*a as usize, *b as usize, *c as usize, 3),
            _ => {
                let mut input = region;
                let shared = get_varint32(&mut input).ok()? as usize;
                let non_shared = get_varint32(&mut input).ok()? as usize;
                let value_len = get_varint32(&mut input).ok()? as usize;
                (shared, non_shared, value_len, region.len() - input.len())
            }
        };
        let body = non_shared.checked_add(value_len)?;
        if body > region.len() - header_len {
            return None;
        }
        Some(EntryHeader { shared, non_shared, value_len, key_start: offset + header_len })
    }

    fn mark_invalid(&mut self) {
        self.current = self.restarts_offset;
        self.restart_index = self.num_restarts;
        self.key.clear();
        self.value_start = self.restarts_offset;
        self.value_len = 0;
    }

    fn corruption(&mut self, message: &str) {
        self.mark_invalid();
        self.interval.clear();
        if self.error.is_none() {
            self.error = Some(Error::corruption(format!("bad entry in block: {message}")));
        }
    }

    /// Positions just before the entry at restart point `index`, so that the
    /// next `parse_next_key` reads it.
    fn seek_to_restart_point(&mut self, index: u32) -> bool {
        self.key.clear();
        self.restart_index = index;
        let offset = self.restart_point(index);
        if offset > self.restarts_offset {
            self.corruption("restart point past the entries");
            return false;
        }
        self.value_start = offset;
        self.value_len = 0;
        true
    }

    /// Reads the entry after the current one; false at the end or on corruption.
    #[inline]
    fn parse_next_key(&mut self) -> bool {
        self.current = self.next_entry_offset();
        if self.current >= self.restarts_offset {
            // No more entries.
            self.mark_invalid();
            return false;
        }
        let Some(header) = self.decode_entry(self.current) else {
            self.corruption("entry runs past the restart array");
            return false;
        };
        if header.shared > self.key.len() {
            self.corruption("shared prefix longer than the previous key");
            return false;
        }
        self.key.truncate(header.shared);
        self.key.extend_from_slice(&self.data[header.key_start..header.key_start + header.non_shared]);
        self.value_start = header.key_start + header.non_shared;
        self.value_len = header.value_len;
        while self.restart_index + 1 < self.num_restarts
            && self.restart_point(self.restart_index + 1) < self.current
        {
            self.restart_index += 1;
        }
        true
    }

    /// Decodes the entries from restart point `index` while they start
    /// before `end` into `self.interval`, and positions on the last of them.
    /// Invalid (without error) when there is none; `Corruption` when an
    /// entry is malformed.
    fn decode_interval(&mut self, index: u32, end: usize) {
        let mut interval = std::mem::take(&mut self.interval);
        interval.clear();
        interval.restart_index = index;
        interval.end = end;
        let mut offset = self.restart_point(index);
        if offset > self.restarts_offset {
            self.interval = interval;
            return self.corruption("restart point past the entries");
        }
        let mut previous_key_start = 0;
        while offset < end {
            if offset >= self.restarts_offset {
                break;
            }
            let Some(header) = self.decode_entry(offset) else {
                self.interval = interval;
                return self.corruption("entry runs past the restart array");
            };
            let key_start = interval.keys.len();
            if header.shared > key_start - previous_key_start {
                self.interval = interval;
                return self.corruption("shared prefix longer than the previous key");
            }
            interval.keys.extend_from_within(previous_key_start..previous_key_start + header.shared);
            interval
                .keys
                .extend_from_slice(&self.data[header.key_start..header.key_start + header.non_shared]);
            let value_start = header.key_start + header.non_shared;
            interval.entries.push(DecodedEntry {
                offset,
                key_end: interval.keys.len(),
                value_start,
                value_len: header.value_len,
            });
            previous_key_start = key_start;
            offset = value_start + header.value_len;
        }
        // An interval cut short by the end of the entries covers up to there.
        interval.end = offset.min(end);
        self.interval = interval;
        match self.interval.entries.len() {
            0 => {
                self.interval.clear();
                self.mark_invalid();
            }
            n => self.load_decoded(n - 1),
        }
    }

    /// Positions on entry `index` of the decoded interval.
    #[inline]
    fn load_decoded(&mut self, index: usize) {
        let entry = self.interval.entries[index];
        self.key.clear();
        self.key.extend_from_slice(self.interval.key(index));
        self.current = entry.offset;
        self.value_start = entry.value_start;
        self.value_len = entry.value_len;
        self.restart_index = self.interval.restart_index;
    }

    /// True when positioning is possible (no error, at least one restart).
    fn usable(&self) -> bool {
        self.error.is_none() && self.num_restarts > 0
    }
}

impl InternalIterator for BlockIter {
    #[inline]
    fn valid(&self) -> bool {
        self.current < self.restarts_offset
    }

    fn seek_to_first(&mut self) {
        if !self.usable() {
            self.mark_invalid();
            return;
        }
        if self.seek_to_restart_point(0) {
            self.parse_next_key();
        }
    }

    fn seek_to_last(&mut self) {
        if !self.usable() {
            self.mark_invalid();
            return;
        }
        // Decoding the last interval whole also prepares the steps back.
        self.decode_interval(self.num_restarts - 1, self.restarts_offset);
    }

    fn seek(&mut self, target: &[u8]) {
        if !self.usable() {
            self.mark_invalid();
            return;
        }
        // Binary search for the last restart point whose key is < target,
        // starting from the current position when it helps.
        let mut left = 0u32;
        let mut right = self.num_restarts - 1;
        let mut current_vs_target = Ordering::Equal;
        if self.valid() {
            current_vs_target = self.compare(&self.key, target);
            match current_vs_target {
                Ordering::Less => left = self.restart_index,
                Ordering::Greater => right = self.restart_index,
                Ordering::Equal => return,
            }
        }
        while left < right {
            let mid = left + (right - left).div_ceil(2);
            let offset = self.restart_point(mid);
            let header = match self.decode_entry(offset) {
                Some(header) if header.shared == 0 => header,
                _ => {
                    self.corruption("bad restart entry");
                    return;
                }
            };
            let mid_key = &self.data[header.key_start..header.key_start + header.non_shared];
            if self.compare(mid_key, target) == Ordering::Less {
                left = mid;
            } else {
                right = mid - 1;
            }
        }
        // Keep scanning from the current entry when it is already in the
        // right restart interval and before the target.
        let continue_from_current = left == self.restart_index && current_vs_target == Ordering::Less;
        if !continue_from_current && !self.seek_to_restart_point(left) {
            return;
        }
        while self.parse_next_key() {
            if self.compare(&self.key, target) != Ordering::Less {
                return;
            }
        }
    }

    #[inline]
    fn next(&mut self) {
        if !self.valid() {
            return;
        }
        self.parse_next_key();
    }

    fn prev(&mut self) {
        if !self.valid() {
            return;
        }
        let original = self.current;
        // The decoded interval holds the entry before this one, unless this
        // is its first entry or the interval is another one.
        if let Some(position) = self.interval.position_of(original) {
            if position > 0 {
                self.load_decoded(position - 1);
                return;
            }
        }
        // Decode the interval of the restart point before the current entry.
        let mut index = self.restart_index;
        while self.restart_point(index) >= original {
            if index == 0 {
                self.mark_invalid();
                return;
            }
            index -= 1;
        }
        self.decode_interval(index, original);
    }

    #[inline]
    fn key(&self) -> &[u8] {
        &self.key
    }

    #[inline]
    fn value(&self) -> &[u8] {
        &self.data[self.value_start..self.value_start + self.value_len]
    }

    fn status(&self) -> Result<()> {
        match &self.error {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    fn value_bytes(&self) -> Bytes {
        self.data.slice(self.value_start..self.value_start + self.value_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block_builder::BlockBuilder;
    use lsmkit_base::comparator::BytewiseComparator;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn build(entries: &[(Vec<u8>, Vec<u8>)], restart_interval: usize) -> Block {
        let mut builder = BlockBuilder::new(restart_interval);
        for (k, v) in entries {
            builder.add(k, v);
        }
        Block::new(Bytes::copy_from_slice(builder.finish())).unwrap()
    }

    fn collect_forward(it: &mut BlockIter) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        it.seek_to_first();
        while it.valid() {
            out.push((it.key().to_vec(), it.value().to_vec()));
            it.next();
        }
        out
    }

    fn collect_backward(it: &mut BlockIter) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        it.seek_to_last();
        while it.valid() {
            out.push((it.key().to_vec(), it.value().to_vec()));
            it.prev();
        }
        out.reverse();
        out
    }

    #[test]
    fn empty_block_iterates_nothing() {
        let block = build(&[], 16);
        let mut it = block.iter(BytewiseComparator::shared());
        it.seek_to_first();
        assert!(!it.valid());
        it.seek_to_last();
        assert!(!it.valid());
        it.seek(b"a");
        assert!(!it.valid());
        assert!(it.status().is_ok());
    }

    #[test]
    fn zero_restarts_is_an_empty_block() {
        let block = Block::new(Bytes::from_static(&[1, 2, 3, 0, 0, 0, 0])).unwrap();
        let mut it = block.iter(BytewiseComparator::shared());
        it.seek_to_first();
        assert!(!it.valid());
        assert!(it.status().is_ok());
    }

    #[test]
    fn too_short_or_too_many_restarts_is_corruption() {
        assert!(Block::new(Bytes::from_static(&[1, 0, 0])).unwrap_err().is_corruption());
        assert!(Block::new(Bytes::from_static(&[0, 0, 0, 0, 2, 0, 0, 0])).unwrap_err().is_corruption());
        assert!(Block::new(Bytes::from_static(&[0xff, 0xff, 0xff, 0xff])).unwrap_err().is_corruption());
    }

    #[test]
    fn seek_lands_on_first_key_at_or_after_target() {
        let entries: Vec<(Vec<u8>, Vec<u8>)> = (0..100u32)
            .map(|i| (format!("key{:04}", i * 2).into_bytes(), i.to_le_bytes().to_vec()))
            .collect();
        let block = build(&entries, 4);
        let mut it = block.iter(BytewiseComparator::shared());
        it.seek(b"key0051");
        assert_eq!(it.key(), b"key0052");
        it.seek(b"key0052");
        assert_eq!(it.key(), b"key0052");
        it.seek(b"key0010");
        assert_eq!(it.key(), b"key0010");
        it.seek(b"key0198");
        assert_eq!(it.key(), b"key0198");
        it.seek(b"key0199");
        assert!(!it.valid());
        it.seek(b"");
        assert_eq!(it.key(), b"key0000");
        it.prev();
        assert!(!it.valid());
        assert!(it.status().is_ok());
    }

    #[test]
    fn value_bytes_is_a_view_into_the_block() {
        let block = build(&[(b"a".to_vec(), b"value".to_vec())], 16);
        let mut it = block.iter(BytewiseComparator::shared());
        it.seek_to_first();
        let value = it.value_bytes();
        let start = block.contents().as_ptr() as usize;
        let at = value.as_ptr() as usize;
        assert!(at >= start && at < start + block.size());
        assert_eq!(&value[..], b"value");
    }

    #[test]
    fn shared_longer_than_previous_key_is_corruption() {
        // One entry claiming 3 shared bytes with no previous key.
        let bytes = [3u8, 1, 0, b'a', 0, 0, 0, 0, 1, 0, 0, 0];
        let block = Block::new(Bytes::copy_from_slice(&bytes)).unwrap();
        let mut it = block.iter(BytewiseComparator::shared());
        it.seek_to_first();
        assert!(!it.valid());
        assert!(it.status().unwrap_err().is_corruption());
        // The error is sticky.
        it.seek_to_first();
        assert!(!it.valid());
        assert!(it.status().is_err());
    }

    #[test]
    fn restart_point_past_entries_is_corruption() {
        let bytes = [0u8, 1, 0, b'a', 0x50, 0, 0, 0, 1, 0, 0, 0];
        let block = Block::new(Bytes::copy_from_slice(&bytes)).unwrap();
        let mut it = block.iter(BytewiseComparator::shared());
        it.seek_to_first();
        assert!(it.status().unwrap_err().is_corruption());
    }

    #[test]
    fn entry_past_restart_array_is_corruption() {
        let bytes = [0u8, 1, 9, b'a', 0, 0, 0, 0, 1, 0, 0, 0];
        let block = Block::new(Bytes::copy_from_slice(&bytes)).unwrap();
        let mut it = block.iter(BytewiseComparator::shared());
        it.seek(b"a");
        assert!(!it.valid());
        assert!(it.status().unwrap_err().is_corruption());
    }

    fn entries_strategy() -> impl Strategy<Value = BTreeMap<Vec<u8>, Vec<u8>>> {
        proptest::collection::btree_map(
            proptest::collection::vec(0u8..4, 0..10),
            proptest::collection::vec(any::<u8>(), 0..20),
            0..200,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn round_trip_against_btreemap(
            model in entries_strategy(),
            restart_interval in prop_oneof![Just(1usize), Just(2), Just(16), Just(1024)],
            targets in proptest::collection::vec(proptest::collection::vec(0u8..4, 0..10), 0..20),
        ) {
            let entries: Vec<(Vec<u8>, Vec<u8>)> = model.clone().into_iter().collect();
            let block = build(&entries, restart_interval);
            let mut it = block.iter(BytewiseComparator::shared());
            prop_assert_eq!(collect_forward(&mut it), entries.clone());
            prop_assert_eq!(collect_backward(&mut it), entries.clone());
            for target in &targets {
                it.seek(target);
                let expected = model.range(target.clone()..).next();
                match expected {
                    Some((k, v)) => {
                        prop_assert!(it.valid());
                        prop_assert_eq!(it.key(), &k[..]);
                        prop_assert_eq!(it.value(), &v[..]);
                        // Step back once and forward again.
                        it.prev();
                        let before = model.range(..target.clone()).next_back();
                        match before {
                            Some((bk, _)) => { prop_assert!(it.valid()); prop_assert_eq!(it.key(), &bk[..]); it.next(); }
                            None => { prop_assert!(!it.valid()); it.seek(target); }
                        }
                        prop_assert_eq!(it.key(), &k[..]);
                    }
                    None => prop_assert!(!it.valid()),
                }
            }
            prop_assert!(it.status().is_ok());
        }

        /// Random walks mixing steps back (served by the decoded interval)
        /// with steps forward and seeks, checked entry by entry against a
        /// sorted model.
        #[test]
        fn random_walk_matches_model(
            model in entries_strategy(),
            restart_interval in prop_oneof![Just(1usize), Just(3), Just(16)],
            ops in proptest::collection::vec((0u8..6, proptest::collection::vec(0u8..4, 0..10)), 1..120),
        ) {
            let entries: Vec<(Vec<u8>, Vec<u8>)> = model.into_iter().collect();
            let block = build(&entries, restart_interval);
            let mut it = block.iter(BytewiseComparator::shared());
            // The model's position: Some(index) when valid.
            let mut at: Option<usize> = None;
            for (op, target) in ops {
                match op {
                    0 => { it.seek_to_first(); at = if entries.is_empty() { None } else { Some(0) }; }
                    1 => { it.seek_to_last(); at = entries.len().checked_sub(1); }
                    2 => {
                        it.seek(&target);
                        let i = entries.partition_point(|(k, _)| k < &target);
                        at = (i < entries.len()).then_some(i);
                    }
                    3 => if let Some(i) = at {
                        it.next();
                        at = (i + 1 < entries.len()).then_some(i + 1);
                    },
                    _ => if let Some(i) = at {
                        it.prev();
                        at = i.checked_sub(1);
                    },
                }
                match at {
                    Some(i) => {
                        prop_assert!(it.valid());
                        prop_assert_eq!(it.key(), &entries[i].0[..]);
                        prop_assert_eq!(it.value(), &entries[i].1[..]);
                        prop_assert_eq!(&it.value_bytes()[..], &entries[i].1[..]);
                    }
                    None => prop_assert!(!it.valid()),
                }
            }
            prop_assert!(it.status().is_ok());
        }

        /// A block whose entries are damaged past some point: stepping
        /// back into the damage reports corruption instead of panicking.
        #[test]
        fn damaged_entries_stop_a_backward_walk(
            model in entries_strategy(),
            flip in any::<prop::sample::Index>(),
            value in any::<u8>(),
        ) {
            let entries: Vec<(Vec<u8>, Vec<u8>)> = model.into_iter().collect();
            let mut bytes = build(&entries, 4).contents().to_vec();
            let restarts = entries.len().div_ceil(4).max(1);
            let entry_region = bytes.len() - 4 - 4 * restarts;
            if entry_region > 0 {
                bytes[flip.index(entry_region)] = value;
            }
            let block = Block::new(Bytes::from(bytes)).unwrap();
            let mut it = block.iter(BytewiseComparator::shared());
            it.seek_to_last();
            let mut steps = 0;
            while it.valid() && steps < 1000 {
                let _ = (it.key(), it.value());
                it.prev();
                steps += 1;
            }
            prop_assert!(steps < 1000);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200),
                                       target in proptest::collection::vec(any::<u8>(), 0..8)) {
            if let Ok(block) = Block::new(Bytes::from(bytes)) {
                let mut it = block.iter(BytewiseComparator::shared());
                it.seek_to_first();
                let mut steps = 0;
                while it.valid() && steps < 1000 { it.next(); steps += 1; }
                it.seek_to_last();
                while it.valid() && steps < 2000 { it.prev(); steps += 1; }
                it.seek(&target);
                if it.valid() { let _ = (it.key(), it.value()); }
            }
        }
    }
}
