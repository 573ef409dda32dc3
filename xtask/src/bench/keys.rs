//! Keys and values as LevelDB's `db_bench` makes them: key number `k` is the
//! zero-padded decimal `k` (16 bytes by default, `%016d`); missing keys are a
//! key without its last byte; values are cut from a 1 MiB buffer of
//! fragments that compress to `compression_ratio` of their size; random key
//! numbers come from LevelDB's Park–Miller generator, seeded per thread.

/// LevelDB's `util/random.h` generator (Park–Miller, multiplier 16807,
/// modulus 2^31 − 1), so key orders are those of `db_bench`.
#[derive(Clone, Debug)]
pub struct LevelDbRandom {
    seed: u32,
}

impl LevelDbRandom {
    const MODULUS: u64 = 2_147_483_647;
    const MULTIPLIER: u64 = 16_807;

    /// A generator seeded as LevelDB seeds one (0 and 2^31 − 1 become 1).
    pub fn new(seed: u32) -> LevelDbRandom {
        let seed = seed & 0x7fff_ffff;
        let seed = if seed == 0 || u64::from(seed) == Self::MODULUS { 1 } else { seed };
        LevelDbRandom { seed }
    }

    /// The next value in [1, 2^31 − 2].
    pub fn next_u32(&mut self) -> u32 {
        let product = u64::from(self.seed) * Self::MULTIPLIER;
        let mut next = (product >> 31) + (product & Self::MODULUS);
        if next > Self::MODULUS {
            next -= Self::MODULUS;
        }
        // `next` is at most the modulus, below 2^31.
        self.seed = next as u32;
        self.seed
    }

    /// A value in [0, n) (n > 0).
    pub fn uniform(&mut self, n: u64) -> u64 {
        u64::from(self.next_u32()) % n.max(1)
    }
}

/// Writes key number `k` into `key` as zero-padded decimal of `key_size`
/// bytes (more if `k` has more digits), as `db_bench`'s `%016d`.
pub fn format_key(k: u64, key_size: usize, key: &mut Vec<u8>) {
    use std::io::Write;
    key.clear();
    // Writing into a Vec cannot fail.
    let _ = write!(key, "{k:0key_size$}");
}

/// A key that is never written: key `k` without its last byte (LevelDB
/// 1.23's `ReadMissing`).
pub fn missing_key(k: u64, key_size: usize, key: &mut Vec<u8>) {
    format_key(k, key_size, key);
    key.pop();
}

/// `db_bench`'s `RandomGenerator`: at least 1 MiB of 100-byte fragments,
/// each a random printable prefix of `compression_ratio × 100` bytes repeated
/// to length, handed out in consecutive slices.
#[derive(Clone)]
pub struct ValueGenerator {
    data: Vec<u8>,
    position: usize,
}

impl ValueGenerator {
    /// Bytes of generated data (values are slices of it).
    const DATA_SIZE: usize = 1 << 20;

    /// The generator `db_bench` makes (seed 301) for this ratio; `max_len` is
    /// the longest value that will be asked for (the buffer grows to hold it).
    pub fn new(compression_ratio: f64, max_len: usize) -> ValueGenerator {
        let mut random = LevelDbRandom::new(301);
        let target = Self::DATA_SIZE.max(max_len.saturating_mul(2));
        let mut data = Vec::with_capacity(target + 100);
        while data.len() < target {
            data.extend_from_slice(&compressible_fragment(&mut random, compression_ratio, 100));
        }
        ValueGenerator { data, position: 0 }
    }

    /// The next `len` bytes of the buffer, wrapping to its start when they
    /// would run past its end.
    pub fn generate(&mut self, len: usize) -> &[u8] {
        if self.position + len > self.data.len() {
            self.position = 0;
        }
        let start = self.position;
        self.position += len;
        &self.data[start..start + len]
    }
}

/// `len` bytes made of a random printable string of `ratio × len` bytes
/// (at least 1) repeated (LevelDB's `test::CompressibleString`).
pub fn compressible_fragment(random: &mut LevelDbRandom, ratio: f64, len: usize) -> Vec<u8> {
    let raw_len = ((len as f64 * ratio) as usize).max(1);
    let raw: Vec<u8> = (0..raw_len).map(|_| b' ' + random.uniform(95) as u8).collect();
    let mut fragment = Vec::with_capacity(len + raw_len);
    while fragment.len() < len {
        fragment.extend_from_slice(&raw);
    }
    fragment.truncate(len);
    fragment
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_zero_padded_decimal() {
        let mut key = Vec::new();
        format_key(42, 16, &mut key);
        assert_eq!(key, b"0000000000000042");
        format_key(999_999, 16, &mut key);
        assert_eq!(key, b"0000000000999999");
        format_key(7, 20, &mut key);
        assert_eq!(key.len(), 20);
        assert_eq!(&key[17..], b"007");
        missing_key(42, 16, &mut key);
        assert_eq!(key, b"000000000000004");
    }

    #[test]
    fn keys_sort_as_numbers() {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for k in [0u64, 9, 10, 99, 12345, 999_999] {
            format_key(k, 16, &mut a);
            format_key(k + 1, 16, &mut b);
            assert!(a < b, "{k}");
        }
    }

    #[test]
    fn random_matches_leveldb() {
        // LevelDB's generator: seed 301 → 301 × 16807 = 5 058 907, then
        // 5 058 907 × 16807 mod (2^31 − 1).
        let mut random = LevelDbRandom::new(301);
        assert_eq!(random.next_u32(), 5_058_907);
        assert_eq!(u64::from(random.next_u32()), 5_058_907u64 * 16_807 % 2_147_483_647);
        assert_eq!(LevelDbRandom::new(0).next_u32(), 16_807);
        let mut random = LevelDbRandom::new(1001);
        assert!((0..1000).all(|_| random.uniform(10) < 10));
    }

    #[test]
    fn values_are_compressible_to_the_ratio() {
        let mut random = LevelDbRandom::new(1);
        let fragment = compressible_fragment(&mut random, 0.5, 100);
        assert_eq!(fragment.len(), 100);
        assert_eq!(fragment[..50], fragment[50..]);
        assert!(fragment.iter().all(|b| (b' '..=b'~').contains(b)));
        let mut generator = ValueGenerator::new(0.25, 100);
        let first = generator.generate(100).to_vec();
        assert_eq!(first[..25], first[25..50]);
        let second = generator.generate(100).to_vec();
        assert_ne!(first, second);
        // A long value still fits.
        assert_eq!(ValueGenerator::new(0.5, 3 << 20).generate(3 << 20).len(), 3 << 20);
    }
}
