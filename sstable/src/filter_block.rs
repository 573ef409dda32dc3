//! The filter block (docs/format.md §7): one filter per 2 KiB window of data-block
//! start offsets, then the offset array, the array's start and `base_lg`.
//!
//! [`FilterBlockBuilder`] reproduces LevelDB's algorithm exactly, empty
//! filters for windows without a block start included, so the bytes match.
//! [`FilterBlockReader`] treats malformed contents the way LevelDB does:
//! anything it cannot interpret answers "may match", so a damaged filter
//! costs a block read and never hides a key.
//!
//! ```text
//!  +----------+-----+------------+--------------------+--------------+---------+
//!  | filter 0 | ... | filter N-1 | offset[i]: fixed32 | array_offset | base_lg |
//!  |          |     |            | × N                | fixed32      | u8 = 11 |
//!  +----------+-----+------------+--------------------+--------------+---------+
//!  filter i: bytes offset[i] .. offset[i+1] (the last ends at array_offset),
//!  covering the data blocks whose start offset o has o >> 11 == i; empty
//!  (zero bytes) when no block starts in that 2 KiB window.
//!  e.g. one key "k": 40 00 00 01 04 04 10 10 06 | 00 00 00 00 | 09 00 00 00 | 0b
//! ```

use std::sync::Arc;

use bytes::Bytes;
use lsmkit_base::coding::{decode_fixed32, put_fixed32};
use lsmkit_bloom::FilterPolicy;

/// log2 of the window of data-block offsets one filter covers (2 KiB).
pub const FILTER_BASE_LG: u8 = 11;
const FILTER_BASE: u64 = 1 << FILTER_BASE_LG;

/// Collects the keys of each data block and emits the filter block.
pub struct FilterBlockBuilder {
    policy: Arc<dyn FilterPolicy>,
    /// Keys added since the last filter, stored back to back.
    pending_keys: Vec<u8>,
    /// Start of each pending key in `pending_keys`.
    pending_starts: Vec<usize>,
    /// Filters emitted so far, back to back.
    result: Vec<u8>,
    filter_offsets: Vec<u32>,
}

impl FilterBlockBuilder {
    /// A builder whose filters are made by `policy`.
    pub fn new(policy: Arc<dyn FilterPolicy>) -> FilterBlockBuilder {
        FilterBlockBuilder {
            policy,
            pending_keys: Vec::new(),
            pending_starts: Vec::new(),
            result: Vec::new(),
            filter_offsets: Vec::new(),
        }
    }

    /// Called when a data block will start at `block_offset`: emits filters
    /// (empty ones for windows holding no block start) until the window that
    /// contains `block_offset` is the current one.
    pub fn start_block(&mut self, block_offset: u64) {
        let filter_index = block_offset / FILTER_BASE;
        while filter_index > self.filter_offsets.len() as u64 {
            self.generate_filter();
        }
    }

    /// Adds a key of the current data block (duplicates count).
    pub fn add_key(&mut self, key: &[u8]) {
        self.pending_starts.push(self.pending_keys.len());
        self.pending_keys.extend_from_slice(key);
    }

    /// Emits the last filter (if keys are pending) and the trailing arrays,
    /// and returns the finished block.
    pub fn finish(&mut self) -> &[u8] {
        if !self.pending_starts.is_empty() {
            self.generate_filter();
        }
        let array_offset = self.result.len() as u32;
        for &offset in &self.filter_offsets {
            put_fixed32(&mut self.result, offset);
        }
        put_fixed32(&mut self.result, array_offset);
        self.result.push(FILTER_BASE_LG);
        &self.result
    }

    fn generate_filter(&mut self) {
        self.filter_offsets.push(self.result.len() as u32);
        if self.pending_starts.is_empty() {
            // An empty filter: the offset is recorded and nothing is written.
            return;
        }
        let keys: Vec<&[u8]> = self
            .pending_starts
            .iter()
            .enumerate()
            .map(|(i, &start)| {
                let end = self.pending_starts.get(i + 1).copied().unwrap_or(self.pending_keys.len());
                &self.pending_keys[start..end]
            })
            .collect();
        self.policy.create_filter(&keys, &mut self.result);
        self.pending_keys.clear();
        self.pending_starts.clear();
    }
}

/// Answers "may this data block hold the key?" from a table's filter block.
pub struct FilterBlockReader {
    policy: Arc<dyn FilterPolicy>,
    data: Bytes,
    /// Start of the offset array; 0 filters when the block is unusable.
    array_offset: usize,
    num_filters: usize,
    base_lg: u8,
}

impl FilterBlockReader {
    /// Interprets `contents` with `policy`. Contents too short, or whose
    /// array offset points past the end, give a reader with no filters
    /// (every key may match), as in LevelDB.
    pub fn new(policy: Arc<dyn FilterPolicy>, contents: Bytes) -> FilterBlockReader {
        let n = contents.len();
        let mut reader =
            FilterBlockReader { policy, data: contents, array_offset: 0, num_filters: 0, base_lg: 0 };
        if n < 5 {
            return reader;
        }
        reader.base_lg = reader.data[n - 1];
        let array_offset = decode_fixed32(&reader.data[n - 5..]) as usize;
        if array_offset > n - 5 {
            return reader;
        }
        reader.array_offset = array_offset;
        reader.num_filters = (n - 5 - array_offset) / 4;
        reader
    }

    /// The number of filters in the block (0 when it was unusable).
    pub fn num_filters(&self) -> usize {
        self.num_filters
    }

    /// False only if the data block starting at `block_offset` certainly
    /// does not hold `key`.
    pub fn key_may_match(&self, block_offset: u64, key: &[u8]) -> bool {
        let Some(index) = block_offset.checked_shr(u32::from(self.base_lg)) else {
            return true;
        };
        let Ok(index) = usize::try_from(index) else {
            return true;
        };
        if index >= self.num_filters {
            return true;
        }
        // Entry index+1 of the array is the next filter's start, or the
        // array offset itself after the last filter; both lie inside the block.
        let at = self.array_offset + 4 * index;
        let start = decode_fixed32(&self.data[at..at + 4]) as usize;
        let limit = decode_fixed32(&self.data[at + 4..at + 8]) as usize;
        if start < limit && limit <= self.array_offset {
            self.policy.key_may_match(key, &self.data[start..limit])
        } else if start == limit {
            // An empty filter: the window holds no block with keys.
            false
        } else {
            // Inconsistent offsets: assume a match.
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsmkit_bloom::LevelDbBloom;

    /// A policy whose filter is the keys themselves, so tests can see them.
    struct ListPolicy;

    impl FilterPolicy for ListPolicy {
        fn name(&self) -> &str {
            "test.List"
        }
        fn create_filter(&self, keys: &[&[u8]], dst: &mut Vec<u8>) {
            for key in keys {
                dst.push(key.len() as u8);
                dst.extend_from_slice(key);
            }
        }
        fn key_may_match(&self, key: &[u8], mut filter: &[u8]) -> bool {
            while let Some((&len, rest)) = filter.split_first() {
                let Some(candidate) = rest.get(..len as usize) else { return true };
                if candidate == key {
                    return true;
                }
                filter = &rest[len as usize..];
            }
            false
        }
    }

    #[test]
    fn empty_builder_matches_format_md() {
        let mut builder = FilterBlockBuilder::new(Arc::new(ListPolicy));
        assert_eq!(builder.finish(), &[0, 0, 0, 0, FILTER_BASE_LG]);
        let reader = FilterBlockReader::new(Arc::new(ListPolicy), Bytes::from_static(&[0, 0, 0, 0, 11]));
        assert!(reader.key_may_match(0, b"foo"));
        assert!(reader.key_may_match(100_000, b"foo"));
    }

    #[test]
    fn single_chunk() {
        let mut builder = FilterBlockBuilder::new(Arc::new(ListPolicy));
        builder.start_block(100);
        builder.add_key(b"foo");
        builder.add_key(b"bar");
        builder.add_key(b"box");
        builder.start_block(200);
        builder.add_key(b"box");
        builder.start_block(300);
        builder.add_key(b"hello");
        let block = Bytes::copy_from_slice(builder.finish());
        let reader = FilterBlockReader::new(Arc::new(ListPolicy), block);
        assert_eq!(reader.num_filters(), 1);
        for key in [&b"foo"[..], b"bar", b"box", b"hello"] {
            assert!(reader.key_may_match(100, key));
        }
        assert!(!reader.key_may_match(100, b"missing"));
        assert!(!reader.key_may_match(100, b"other"));
    }

    #[test]
    fn multi_chunk_with_empty_windows() {
        let mut builder = FilterBlockBuilder::new(Arc::new(ListPolicy));
        // First filter.
        builder.start_block(0);
        builder.add_key(b"foo");
        builder.start_block(2000);
        builder.add_key(b"bar");
        // Second filter.
        builder.start_block(3100);
        builder.add_key(b"box");
        // Third filter is empty; fourth holds "hello".
        builder.start_block(9000);
        builder.add_key(b"box");
        builder.add_key(b"hello");
        let block = Bytes::copy_from_slice(builder.finish());
        let reader = FilterBlockReader::new(Arc::new(ListPolicy), block);
        assert_eq!(reader.num_filters(), 5);
        assert!(reader.key_may_match(0, b"foo"));
        assert!(reader.key_may_match(2000, b"bar"));
        assert!(!reader.key_may_match(0, b"box"));
        assert!(reader.key_may_match(3100, b"box"));
        assert!(!reader.key_may_match(3100, b"foo"));
        assert!(!reader.key_may_match(4100, b"box"), "empty filter matches nothing");
        assert!(!reader.key_may_match(6200, b"box"));
        assert!(reader.key_may_match(9000, b"box"));
        assert!(reader.key_may_match(9000, b"hello"));
        assert!(!reader.key_may_match(9000, b"foo"));
        // Beyond the last filter: may match.
        assert!(reader.key_may_match(20_000, b"foo"));
    }

    #[test]
    fn format_md_single_key_filter_block() {
        // §6.10: the filter block for "k" with bloom 10 bits/key.
        let mut builder = FilterBlockBuilder::new(Arc::new(LevelDbBloom::new(10)));
        builder.start_block(0);
        builder.add_key(b"k");
        builder.start_block(26);
        assert_eq!(
            builder.finish(),
            &[0x40, 0x00, 0x00, 0x01, 0x04, 0x04, 0x10, 0x10, 0x06, 0, 0, 0, 0, 9, 0, 0, 0, 0x0b]
        );
    }

    #[test]
    fn malformed_blocks_may_match_everything() {
        let policy: Arc<dyn FilterPolicy> = Arc::new(ListPolicy);
        for bytes in [
            &[][..],
            &[11][..],
            &[0xff, 0xff, 0xff, 0x7f, 11][..],
            // base_lg too large to shift by.
            &[1, b'x', 0, 0, 0, 0, 2, 0, 0, 0, 200][..],
            // A filter whose start lies after its limit.
            &[1, b'x', 9, 0, 0, 0, 2, 0, 0, 0, 11][..],
        ] {
            let reader = FilterBlockReader::new(Arc::clone(&policy), Bytes::copy_from_slice(bytes));
            assert!(reader.key_may_match(0, b"anything"), "{bytes:?}");
        }
    }
}
