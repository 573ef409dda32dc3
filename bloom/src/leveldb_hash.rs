//! LevelDB's 32-bit hash (`util/hash.cc`), docs/format.md §8.1. The built-in bloom
//! filter hashes every key with it, so it is part of the on-disk format.

/// The seed the built-in bloom filter passes to [`leveldb_hash`] (docs/format.md §8.1).
pub const BLOOM_HASH_SEED: u32 = 0xbc9f1d34;

/// The multiplier of LevelDB's hash.
const MULTIPLIER: u32 = 0xc6a4a793;

/// LevelDB's `Hash(data, n, seed)`: a Murmur-like 32-bit hash, bytes taken as
/// unsigned (docs/format.md §8.1).
///
/// ```
/// use lsmkit_bloom::{leveldb_hash, BLOOM_HASH_SEED};
/// assert_eq!(leveldb_hash(b"k", BLOOM_HASH_SEED), 0xeadd29bc);
/// ```
pub fn leveldb_hash(data: &[u8], seed: u32) -> u32 {
    // LevelDB multiplies the length as a size_t and keeps the low 32 bits,
    // which is the same as truncating the length first.
    let mut h = seed ^ (data.len() as u32).wrapping_mul(MULTIPLIER);
    let mut words = data.chunks_exact(4);
    for word in &mut words {
        let w = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
        h = h.wrapping_add(w).wrapping_mul(MULTIPLIER);
        h ^= h >> 16;
    }
    let tail = words.remainder();
    if !tail.is_empty() {
        // The C++ switch falls through from 3 to 2 to 1: add the tail bytes
        // high to low, then mix once.
        for (i, &byte) in tail.iter().enumerate().rev() {
            h = h.wrapping_add(u32::from(byte) << (8 * i));
        }
        h = h.wrapping_mul(MULTIPLIER);
        h ^= h >> 24;
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_lengths_one_to_three_each_mix_once() {
        // Worked through by hand from §8.1 for "k": seed ^ M, + 0x6b, * M, ^ >> 24.
        let mut h = BLOOM_HASH_SEED ^ MULTIPLIER;
        assert_eq!(h, 0x7a3bbaa7);
        h = h.wrapping_add(0x6b).wrapping_mul(MULTIPLIER);
        h ^= h >> 24;
        assert_eq!(leveldb_hash(b"k", BLOOM_HASH_SEED), h);
        // A 4-byte key takes the word path only, a 5-byte key both paths.
        assert_eq!(leveldb_hash(b"key1", BLOOM_HASH_SEED), 0x87cf4896);
        assert_eq!(leveldb_hash(b"hello", BLOOM_HASH_SEED), 0xf795964e);
    }
}
