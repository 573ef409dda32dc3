//! LevelDB's built-in bloom filter, `leveldb.BuiltinBloomFilter2`
//! (`util/bloom.cc`), docs/format.md §8: byte for byte what LevelDB 1.23 writes and
//! reads.
//!
//! ```text
//! | bit array: max(n × bits_per_key, 64) bits, rounded up to bytes | k: u8 |
//!   bit b = byte b / 8, mask 1 << (b % 8);  k = trunc(bits_per_key × 0.69), 1..=30
//!   per key: h = leveldb_hash(key, 0xbc9f1d34), delta = h rotr 17,
//!            k times { set bit h % bits; h += delta }
//! e.g. "k" at 10 bits per key: 40 00 00 01 04 04 10 10 06
//! ```

use crate::leveldb_hash::{leveldb_hash, BLOOM_HASH_SEED};
use crate::policy::FilterPolicy;
use crate::theory::standard_bloom_false_positive_rate;

/// LevelDB's built-in bloom filter policy (docs/format.md §8).
///
/// A filter is `bytes` bytes of bits (at least 8) followed by one byte holding
/// the probe count `k`. Each key is hashed once with [`leveldb_hash`] and its
/// `k` bit positions come from double hashing modulo the bit count.
///
/// Its false-positive rate follows the standard formula (see
/// [`LevelDbBloom::theoretical_false_positive_rate`]) for the filter sizes
/// tables use, one filter per 2 KiB of data blocks. Filters of more than
/// about 20 000 keys do measurably worse because all `k` positions derive
/// from one 32-bit hash: at 10 bits per key and 100 000 keys, 1.43% instead
/// of 0.84%.
///
/// ```
/// use lsmkit_bloom::{FilterPolicy, LevelDbBloom};
///
/// let bloom = LevelDbBloom::new(10);
/// let mut filter = Vec::new();
/// bloom.create_filter(&[b"k"], &mut filter);
/// // docs/format.md §8.3's example, identical to what LevelDB writes.
/// assert_eq!(filter, [0x40, 0x00, 0x00, 0x01, 0x04, 0x04, 0x10, 0x10, 0x06]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LevelDbBloom {
    bits_per_key: u32,
    probes: u8,
}

impl LevelDbBloom {
    /// The policy name LevelDB records in the metaindex
    /// (`filter.leveldb.BuiltinBloomFilter2`).
    pub const NAME: &'static str = "leveldb.BuiltinBloomFilter2";

    /// The largest probe count LevelDB writes; a filter whose last byte is
    /// larger is a format LevelDB reserves for the future and matches every key.
    pub const MAX_PROBES: u8 = 30;

    /// The smallest filter LevelDB writes has this many bits (8 bytes).
    const MIN_BITS: usize = 64;

    /// A policy that spends `bits_per_key` bits per key, as LevelDB's
    /// `NewBloomFilterPolicy(bits_per_key)`; 10 gives about 1% false positives.
    pub fn new(bits_per_key: u32) -> LevelDbBloom {
        // docs/format.md §8.2: k = trunc(bits_per_key * 0.69) as an f64 product
        // (LevelDB's approximation of ln 2), clamped to [1, 30].
        let probes = (f64::from(bits_per_key) * 0.69) as u32;
        let probes = probes.clamp(1, u32::from(Self::MAX_PROBES)) as u8;
        LevelDbBloom { bits_per_key, probes }
    }

    /// The bits per key this policy was built with.
    pub fn bits_per_key(&self) -> u32 {
        self.bits_per_key
    }

    /// The number of bits set per key (`k`), stored as the filter's last byte.
    pub fn probes(&self) -> u8 {
        self.probes
    }

    /// The standard bloom filter rate `(1 - e^{-k·n/m})^k` for a filter of
    /// `keys` distinct keys built by this policy (`m` its real bit count).
    pub fn theoretical_false_positive_rate(&self, keys: usize) -> f64 {
        let bits = filter_bytes(keys, self.bits_per_key) * 8;
        standard_bloom_false_positive_rate(bits as u64, keys as u64, u32::from(self.probes))
    }
}

/// The bytes of bits (without the probe-count byte) LevelDB gives a filter
/// of `keys` keys: `keys · bits_per_key` bits, at least 64, rounded up to bytes.
fn filter_bytes(keys: usize, bits_per_key: u32) -> usize {
    keys.saturating_mul(bits_per_key as usize).max(LevelDbBloom::MIN_BITS).div_ceil(8)
}

/// Calls `visit` with each of the `probes` bit positions LevelDB derives for
/// `key` in a filter of `bits` bits; stops early when `visit` returns false.
/// Returns false if it stopped early.
#[inline]
fn for_each_probe(key: &[u8], bits: usize, probes: u8, mut visit: impl FnMut(usize) -> bool) -> bool {
    let mut h = leveldb_hash(key, BLOOM_HASH_SEED);
    let delta = h.rotate_right(17);
    for _ in 0..probes {
        // LevelDB computes `h % bits` with `bits` a size_t.
        if !visit(h as usize % bits) {
            return false;
        }
        h = h.wrapping_add(delta);
    }
    true
}

impl FilterPolicy for LevelDbBloom {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn create_filter(&self, keys: &[&[u8]], dst: &mut Vec<u8>) {
        let bytes = filter_bytes(keys.len(), self.bits_per_key);
        let bits = bytes * 8;
        let start = dst.len();
        dst.resize(start + bytes, 0);
        let array = &mut dst[start..];
        for key in keys {
            for_each_probe(key, bits, self.probes, |bit| {
                array[bit / 8] |= 1 << (bit % 8);
                true
            });
        }
        dst.push(self.probes);
    }

    fn key_may_match(&self, key: &[u8], filter: &[u8]) -> bool {
        // docs/format.md §8.3: a filter shorter than 2 bytes matches nothing.
        let Some((&probes, array)) = filter.split_last() else {
            return false;
        };
        if array.is_empty() {
            return false;
        }
        if probes > Self::MAX_PROBES {
            // Reserved by LevelDB for other encodings: consider it a match.
            return true;
        }
        let bits = array.len().saturating_mul(8);
        for_each_probe(key, bits, probes, |bit| array[bit / 8] & (1 << (bit % 8)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_count_follows_the_069_rule() {
        let expected =
            [(0, 1), (1, 1), (2, 1), (3, 2), (5, 3), (10, 6), (16, 11), (20, 13), (43, 29), (44, 30)];
        for (bits_per_key, probes) in expected {
            assert_eq!(LevelDbBloom::new(bits_per_key).probes(), probes, "bits_per_key {bits_per_key}");
        }
        assert_eq!(LevelDbBloom::new(1000).probes(), 30);
    }

    #[test]
    fn filter_size_is_n_times_bits_per_key_rounded_up_to_bytes_with_64_bit_minimum() {
        let bloom = LevelDbBloom::new(10);
        let keys: Vec<Vec<u8>> = (0..100u32).map(|i| i.to_le_bytes().to_vec()).collect();
        for n in [0usize, 1, 6, 7, 13, 100] {
            let refs: Vec<&[u8]> = keys[..n].iter().map(Vec::as_slice).collect();
            let mut filter = Vec::new();
            bloom.create_filter(&refs, &mut filter);
            let expected_bytes = (n * 10).max(64).div_ceil(8);
            assert_eq!(filter.len(), expected_bytes + 1, "n = {n}");
            assert_eq!(filter.last(), Some(&6));
        }
    }

    #[test]
    fn single_key_probes_the_bits_of_the_worked_example() {
        // docs/format.md §8.3: "k" in 64 bits probes 60, 42, 24, 6, 52, 34.
        let mut bits = Vec::new();
        for_each_probe(b"k", 64, 6, |bit| {
            bits.push(bit);
            true
        });
        assert_eq!(bits, [60, 42, 24, 6, 52, 34]);
    }

    #[test]
    fn reserved_probe_counts_match_everything_and_short_filters_match_nothing() {
        let bloom = LevelDbBloom::new(10);
        assert!(!bloom.key_may_match(b"x", &[]));
        assert!(!bloom.key_may_match(b"x", &[6]));
        assert!(bloom.key_may_match(b"x", &[0, 0, 0, 0, 0, 0, 0, 0, 31]));
        assert!(!bloom.key_may_match(b"x", &[0, 0, 0, 0, 0, 0, 0, 0, 30]));
        // k = 0 probes nothing, so LevelDB answers "may match".
        assert!(bloom.key_may_match(b"x", &[0, 0, 0, 0, 0, 0, 0, 0, 0]));
    }
}
