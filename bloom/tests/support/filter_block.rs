//! Test-only filter block (docs/format.md §7) builder and reader, written from the
//! spec so the tests can compare whole filter blocks with LevelDB's and probe
//! LevelDB's filters the way its table reader does. (The real ones live in
//! lsmkit-sstable, which depends on this crate.)

use lsmkit_bloom::FilterPolicy;

/// log2 of the data-block offset range one filter covers (2 KiB).
pub const FILTER_BASE_LG: u8 = 11;

/// Builds a filter block the way LevelDB's `FilterBlockBuilder` does.
pub struct FilterBlockBuilder<'p> {
    policy: &'p dyn FilterPolicy,
    pending_keys: Vec<Vec<u8>>,
    filters: Vec<u8>,
    filter_offsets: Vec<u32>,
}

impl<'p> FilterBlockBuilder<'p> {
    pub fn new(policy: &'p dyn FilterPolicy) -> Self {
        FilterBlockBuilder {
            policy,
            pending_keys: Vec::new(),
            filters: Vec::new(),
            filter_offsets: Vec::new(),
        }
    }

    /// Called after a data block is written, with the offset where the next
    /// block would start: emits filters for every 2 KiB window passed.
    pub fn start_block(&mut self, block_offset: u64) {
        let filter_index = block_offset >> FILTER_BASE_LG;
        while (self.filter_offsets.len() as u64) < filter_index {
            self.emit_filter();
        }
    }

    /// Adds the user key of one table entry.
    pub fn add_key(&mut self, user_key: &[u8]) {
        self.pending_keys.push(user_key.to_vec());
    }

    /// The finished filter block.
    pub fn finish(mut self) -> Vec<u8> {
        if !self.pending_keys.is_empty() {
            self.emit_filter();
        }
        let array_offset = self.filters.len() as u32;
        let mut block = self.filters;
        for offset in self.filter_offsets {
            block.extend_from_slice(&offset.to_le_bytes());
        }
        block.extend_from_slice(&array_offset.to_le_bytes());
        block.push(FILTER_BASE_LG);
        block
    }

    fn emit_filter(&mut self) {
        self.filter_offsets.push(self.filters.len() as u32);
        if self.pending_keys.is_empty() {
            return;
        }
        let keys: Vec<&[u8]> = self.pending_keys.iter().map(Vec::as_slice).collect();
        self.policy.create_filter(&keys, &mut self.filters);
        self.pending_keys.clear();
    }
}

/// Answers "may the data block at `block_offset` hold `key`?" from a filter
/// block, following LevelDB's `FilterBlockReader`.
pub struct FilterBlockReader<'a> {
    policy: &'a dyn FilterPolicy,
    block: &'a [u8],
    /// `None` when the block is too malformed to use (everything may match).
    layout: Option<(usize, usize, u8)>,
}

impl<'a> FilterBlockReader<'a> {
    pub fn new(policy: &'a dyn FilterPolicy, block: &'a [u8]) -> Self {
        let layout = (|| {
            let size = block.len();
            if size < 5 {
                return None;
            }
            let base_lg = block[size - 1];
            let array_offset = u32::from_le_bytes(block[size - 5..size - 1].try_into().ok()?) as usize;
            if array_offset > size - 5 {
                return None;
            }
            let filter_count = (size - 5 - array_offset) / 4;
            Some((array_offset, filter_count, base_lg))
        })();
        FilterBlockReader { policy, block, layout }
    }

    /// The number of filters in the block (0 when it is unusable).
    pub fn filter_count(&self) -> usize {
        self.layout.map_or(0, |(_, count, _)| count)
    }

    pub fn key_may_match(&self, block_offset: u64, key: &[u8]) -> bool {
        let Some((array_offset, filter_count, base_lg)) = self.layout else {
            return true;
        };
        let Some(index) = block_offset.checked_shr(u32::from(base_lg)) else {
            return true;
        };
        if index >= filter_count as u64 {
            return true;
        }
        let at = array_offset + 4 * index as usize;
        let word = |pos: usize| u32::from_le_bytes(self.block[pos..pos + 4].try_into().unwrap()) as usize;
        // The word after the last offset is array_offset itself.
        let (start, limit) = (word(at), word(at + 4));
        if start <= limit && limit <= array_offset {
            // An empty filter (a window with no keys) reaches the policy too,
            // which must answer "no match" for it.
            return self.policy.key_may_match(key, &self.block[start..limit]);
        }
        // Out-of-range offsets: an empty range still means "no keys".
        start != limit
    }
}
