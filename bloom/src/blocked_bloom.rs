//! lsmkit's cache-line-blocked bloom filter on xxh3 (`lsmkit.BlockedBloom1`),
//! an lsmkit format extension specified in docs/format-extensions.md
//! ("xxh3 blocked bloom filter").
//!
//! Every key's probes fall in one 64-byte block, so a lookup touches one
//! cache line (two if the filter is not 64-byte aligned in memory) instead of
//! `k` random ones. Keys are hashed once with xxh3-64, whose 64 bits feed
//! the block choice and the probes independently.

use crate::policy::FilterPolicy;
use crate::theory::{blocked_bloom_false_positive_rate, BLOCK_BITS};

/// Bytes in one block: one cache line.
const BLOCK_BYTES: usize = BLOCK_BITS / 8;

/// Bytes after the blocks: the probe count, then the layout byte.
const TRAILER_BYTES: usize = 2;

/// The layout byte of the layout described in docs/format-extensions.md.
const LAYOUT_XXH3_512: u8 = 1;

/// The odd multiplier (2^32 / golden ratio) that derives each next probe from
/// the previous one.
const PROBE_MULTIPLIER: u32 = 0x9e37_79b9;

/// Probe count `k` for `bits_per_key` 1 ..= 64 (index 0 holds the value for 1):
/// for each, the `k` that minimises
/// [`blocked_bloom_false_positive_rate`](crate::theory::blocked_bloom_false_positive_rate).
/// It is smaller than a standard filter's `bits_per_key·ln 2` because fuller
/// blocks punish extra probes. A unit test recomputes it.
const PROBES_FOR_BITS_PER_KEY: [u8; 64] = [
    1, 1, 2, 3, 3, 4, 5, 5, 6, 6, 7, 8, 8, 9, 9, 9, 10, 10, 11, 11, 11, 12, 12, 12, 13, 13, 13, 14, 14, 14,
    14, 15, 15, 15, 15, 16, 16, 16, 16, 16, 17, 17, 17, 17, 17, 18, 18, 18, 18, 18, 18, 19, 19, 19, 19, 19,
    19, 19, 20, 20, 20, 20, 20, 20,
];

/// lsmkit's blocked bloom filter policy, named `lsmkit.BlockedBloom1`.
///
/// Each key is hashed once with xxh3-64; the high 32 bits pick one 512-bit
/// block and the low 32 bits generate the `k` bit positions inside it. The
/// filter is the blocks followed by a two-byte trailer (`k`, layout 1), so a
/// reader needs no parameters. The byte layout is specified in
/// `docs/format-extensions.md`.
///
/// At the same bits per key it has a somewhat higher false-positive rate than
/// [`LevelDbBloom`](crate::LevelDbBloom) (about 0.97% against 0.84% at 10
/// bits per key; see [`BlockedBloom::theoretical_false_positive_rate`]) in
/// exchange for faster building and probing.
///
/// LevelDB does not know this policy's name, so it never reads such a filter:
/// a table carrying one stays readable by LevelDB, which simply reads it as a
/// table without a filter.
///
/// ```
/// use lsmkit_bloom::{BlockedBloom, FilterPolicy};
///
/// let bloom = BlockedBloom::new(10);
/// let mut filter = Vec::new();
/// bloom.create_filter(&[b"apple", b"cherry"], &mut filter);
/// assert_eq!(filter.len(), 64 + 2);
/// assert!(bloom.key_may_match(b"apple", &filter));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockedBloom {
    bits_per_key: u32,
    probes: u8,
}

impl BlockedBloom {
    /// The policy name recorded in the metaindex (`filter.lsmkit.BlockedBloom1`).
    pub const NAME: &'static str = "lsmkit.BlockedBloom1";

    /// The largest probe count a reader accepts; a filter claiming more (or 0)
    /// is not one this version wrote and matches every key.
    pub const MAX_PROBES: u8 = 32;

    /// A policy that spends about `bits_per_key` bits per key (rounded up to
    /// whole 64-byte blocks). `0` is treated as `1`.
    pub fn new(bits_per_key: u32) -> BlockedBloom {
        let bits_per_key = bits_per_key.max(1);
        let index = (bits_per_key as usize).min(PROBES_FOR_BITS_PER_KEY.len()) - 1;
        BlockedBloom { bits_per_key, probes: PROBES_FOR_BITS_PER_KEY[index] }
    }

    /// The bits per key this policy was built with.
    pub fn bits_per_key(&self) -> u32 {
        self.bits_per_key
    }

    /// The number of bits set per key (`k`).
    pub fn probes(&self) -> u8 {
        self.probes
    }

    /// The number of 64-byte blocks a filter of `keys` keys gets:
    /// `ceil(keys · bits_per_key / 512)`, at least one block when there is a
    /// key, at most `u32::MAX`.
    pub fn blocks_for(&self, keys: usize) -> usize {
        let bits = (keys as u64).saturating_mul(u64::from(self.bits_per_key));
        let blocks = bits.div_ceil(BLOCK_BITS as u64).min(u64::from(u32::MAX));
        blocks as usize
    }

    /// The false-positive rate theory predicts for a filter of `keys`
    /// distinct keys built by this policy (see
    /// [`blocked_bloom_false_positive_rate`](crate::theory::blocked_bloom_false_positive_rate)).
    pub fn theoretical_false_positive_rate(&self, keys: usize) -> f64 {
        blocked_bloom_false_positive_rate(keys as u64, self.blocks_for(keys) as u64, u32::from(self.probes))
    }
}

/// The block a key with hash `hash` falls in, out of `blocks` (at most
/// `u32::MAX`): the high 32 bits of the hash scaled to `[0, blocks)`.
#[inline]
fn block_index(hash: u64, blocks: usize) -> usize {
    (((hash >> 32) * blocks as u64) >> 32) as usize
}

/// The bit positions within a block, from the low 32 bits of the hash: each
/// probe is the top 9 bits of the state, and the state is multiplied by
/// [`PROBE_MULTIPLIER`] between probes.
#[inline]
fn probe_bits(hash: u64, probes: u8) -> impl Iterator<Item = usize> {
    let mut state = hash as u32;
    (0..probes).map(move |_| {
        let bit = (state >> (32 - 9)) as usize;
        state = state.wrapping_mul(PROBE_MULTIPLIER);
        bit
    })
}

impl FilterPolicy for BlockedBloom {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn create_filter(&self, keys: &[&[u8]], dst: &mut Vec<u8>) {
        let blocks = self.blocks_for(keys.len());
        let start = dst.len();
        dst.resize(start + blocks * BLOCK_BYTES, 0);
        let array = &mut dst[start..];
        for key in keys {
            let hash = xxhash_rust::xxh3::xxh3_64(key);
            let block_start = block_index(hash, blocks) * BLOCK_BYTES;
            let block = &mut array[block_start..block_start + BLOCK_BYTES];
            for bit in probe_bits(hash, self.probes) {
                block[bit / 8] |= 1 << (bit % 8);
            }
        }
        dst.push(self.probes);
        dst.push(LAYOUT_XXH3_512);
    }

    fn key_may_match(&self, key: &[u8], filter: &[u8]) -> bool {
        if filter.is_empty() {
            // The empty filter a filter block holds for a range of data with
            // no keys (docs/format.md §7) matches nothing, as for LevelDB's policy.
            return false;
        }
        // Anything else that is not a well-formed layout-1 filter may match.
        let Some(blocks_len) = filter.len().checked_sub(TRAILER_BYTES) else {
            return true;
        };
        let (array, trailer) = filter.split_at(blocks_len);
        let (probes, layout) = (trailer[0], trailer[1]);
        if layout != LAYOUT_XXH3_512
            || probes == 0
            || probes > Self::MAX_PROBES
            || blocks_len % BLOCK_BYTES != 0
        {
            return true;
        }
        let blocks = blocks_len / BLOCK_BYTES;
        if blocks == 0 {
            // The filter of an empty key set.
            return false;
        }
        if blocks > u32::MAX as usize {
            return true;
        }
        let hash = xxhash_rust::xxh3::xxh3_64(key);
        let block_start = block_index(hash, blocks) * BLOCK_BYTES;
        let block = &array[block_start..block_start + BLOCK_BYTES];
        // Test every probe without branching on each: the block is one cache
        // line, and an absent key's probe outcomes are unpredictable.
        probe_bits(hash, probes).fold(true, |all_set, bit| all_set & (block[bit / 8] & (1 << (bit % 8)) != 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_table_minimises_the_theoretical_rate() {
        // Many blocks, so the load is close to its Poisson limit.
        const BLOCKS: u64 = 10_000;
        for bits_per_key in 1..=PROBES_FOR_BITS_PER_KEY.len() as u64 {
            let keys = BLOCKS * BLOCK_BITS as u64 / bits_per_key;
            let chosen = u32::from(PROBES_FOR_BITS_PER_KEY[bits_per_key as usize - 1]);
            let rate = |k: u32| blocked_bloom_false_positive_rate(keys, BLOCKS, k);
            let chosen_rate = rate(chosen);
            for other in chosen.saturating_sub(2).max(1)..=chosen + 2 {
                assert!(
                    chosen_rate <= rate(other) * (1.0 + 1e-9),
                    "bits/key {bits_per_key}: k {chosen} gives {chosen_rate}, k {other} gives {}",
                    rate(other)
                );
            }
        }
    }

    #[test]
    fn block_index_covers_every_block_and_stays_in_range() {
        assert_eq!(block_index(0, 7), 0);
        assert_eq!(block_index(u64::MAX, 7), 6);
        assert_eq!(block_index(u64::MAX, u32::MAX as usize), u32::MAX as usize - 1);
        assert_eq!(block_index(0x8000_0000_0000_0000, 2), 1);
        assert_eq!(block_index(0x7fff_ffff_ffff_ffff, 2), 0);
    }

    #[test]
    fn probes_are_top_nine_bits_of_successive_products() {
        let hash = 0x0123_4567_89ab_cdefu64;
        let bits: Vec<usize> = probe_bits(hash, 3).collect();
        let s0 = 0x89ab_cdefu32;
        let s1 = s0.wrapping_mul(0x9e37_79b9);
        let s2 = s1.wrapping_mul(0x9e37_79b9);
        assert_eq!(bits, [(s0 >> 23) as usize, (s1 >> 23) as usize, (s2 >> 23) as usize]);
        assert!(bits.iter().all(|&b| b < BLOCK_BITS));
    }

    #[test]
    fn sizes_round_up_to_whole_blocks() {
        let bloom = BlockedBloom::new(10);
        assert_eq!(bloom.probes(), 6);
        assert_eq!(bloom.blocks_for(0), 0);
        assert_eq!(bloom.blocks_for(1), 1);
        assert_eq!(bloom.blocks_for(51), 1);
        assert_eq!(bloom.blocks_for(52), 2);
        assert_eq!(bloom.blocks_for(100_000), 1954);
        assert_eq!(BlockedBloom::new(0), BlockedBloom::new(1));
        assert_eq!(BlockedBloom::new(1000).probes(), 20);
    }
}
