//! Theoretical false-positive rates of the two filter designs, used to size
//! filters, to choose the blocked filter's probe count, and by the tests that
//! compare measured rates against the design.

/// Bits in one block of the blocked filter (one 64-byte cache line).
pub(crate) const BLOCK_BITS: usize = 512;

/// The classic bloom filter estimate `(1 - e^{-k·n/m})^k` for `keys` keys in
/// `bits` bits with `probes` probes per key, assuming independent uniform probes.
///
/// ```
/// let rate = lsmkit_bloom::theory::standard_bloom_false_positive_rate(1_000_000, 100_000, 6);
/// assert!((rate - 0.00844).abs() < 0.00001);
/// ```
pub fn standard_bloom_false_positive_rate(bits: u64, keys: u64, probes: u32) -> f64 {
    if keys == 0 {
        return 0.0;
    }
    if bits == 0 {
        return 1.0;
    }
    let k = f64::from(probes);
    (1.0 - (-k * keys as f64 / bits as f64).exp()).powf(k)
}

/// The false-positive rate of a blocked bloom filter with `blocks` blocks of
/// 512 bits holding `keys` keys, each key setting `probes` uniformly random
/// bits (with repetition) in one uniformly chosen block.
///
/// It is computed without the usual approximations: the number of keys `L` in
/// the probed block follows Binomial(`keys`, 1/`blocks`); given `L`, the
/// number `X` of set bits after `probes·L` uniform throws into 512 bits is
/// computed exactly by dynamic programming over the throws; an absent key is a
/// false positive with probability `(X/512)^probes`. So the rate is
/// `Σ_L P(L) · E[(X_L/512)^probes]`. The spread of block loads is why a
/// blocked filter needs slightly more bits than a standard one for the same
/// rate.
///
/// ```
/// let rate = lsmkit_bloom::theory::blocked_bloom_false_positive_rate(100_000, 1954, 7);
/// assert!(rate > 0.009 && rate < 0.0105);
/// ```
pub fn blocked_bloom_false_positive_rate(keys: u64, blocks: u64, probes: u32) -> f64 {
    if keys == 0 {
        return 0.0;
    }
    if blocks == 0 {
        return 1.0;
    }
    let load = BlockLoad::new(keys, blocks);
    let probes_per_key = probes as usize;
    let fraction_set: Vec<f64> = (0..=BLOCK_BITS).map(|x| x as f64 / BLOCK_BITS as f64).collect();
    let hit_given_set: Vec<f64> = fraction_set.iter().map(|f| f.powi(probes as i32)).collect();

    // set_bits[x] = P(X = x) after the throws made so far.
    let mut set_bits = vec![0.0f64; BLOCK_BITS + 1];
    set_bits[0] = 1.0;
    let mut rate = 0.0;
    let mut keys_in_block = 0u64;
    for (block_keys, probability) in load {
        while keys_in_block < block_keys {
            for _ in 0..probes_per_key {
                // A throw lands on a set bit with probability x/512 (X stays),
                // otherwise X grows by one. Walk downwards to update in place.
                for x in (1..=BLOCK_BITS).rev() {
                    set_bits[x] =
                        set_bits[x] * fraction_set[x] + set_bits[x - 1] * (1.0 - fraction_set[x - 1]);
                }
                set_bits[0] *= fraction_set[0];
            }
            keys_in_block += 1;
        }
        let hit: f64 = set_bits.iter().zip(&hit_given_set).map(|(p, h)| p * h).sum();
        rate += probability * hit;
    }
    rate
}

/// The distribution of the number of keys in one block: Binomial(keys, 1/blocks),
/// yielded as `(load, probability)` from load 0 upwards until the remaining
/// upper tail is negligible.
struct BlockLoad {
    keys: f64,
    /// ln(p / (1 - p)) for p = 1/blocks.
    log_odds: f64,
    mean: f64,
    next_load: u64,
    max_load: u64,
    /// ln P(load = next_load).
    log_probability: f64,
}

impl BlockLoad {
    fn new(keys: u64, blocks: u64) -> BlockLoad {
        let p = 1.0 / blocks as f64;
        let keys_f = keys as f64;
        let mean = keys_f * p;
        let log_probability = if blocks == 1 { 0.0 } else { keys_f * (-p).ln_1p() };
        BlockLoad {
            keys: keys_f,
            log_odds: if blocks == 1 { f64::INFINITY } else { p.ln() - (-p).ln_1p() },
            mean,
            // With one block every key is in it.
            next_load: if blocks == 1 { keys } else { 0 },
            max_load: keys,
            log_probability,
        }
    }
}

impl Iterator for BlockLoad {
    type Item = (u64, f64);

    fn next(&mut self) -> Option<(u64, f64)> {
        if self.next_load > self.max_load {
            return None;
        }
        let load = self.next_load;
        let probability = self.log_probability.exp();
        // Past the mean the pmf only falls; stop once it is far too small to matter.
        if load as f64 > self.mean && probability < 1e-15 {
            return None;
        }
        if self.log_odds.is_infinite() {
            self.next_load = self.max_load + 1;
            return Some((load, 1.0));
        }
        let l = load as f64;
        self.log_probability += ((self.keys - l) / (l + 1.0)).ln() + self.log_odds;
        self.next_load += 1;
        Some((load, probability))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_load_probabilities_sum_to_one() {
        for (keys, blocks) in [(1, 1), (5, 1), (1, 7), (100, 3), (100_000, 1954), (1000, 1000)] {
            let total: f64 = BlockLoad::new(keys, blocks).map(|(_, p)| p).sum();
            assert!((total - 1.0).abs() < 1e-9, "keys {keys} blocks {blocks}: {total}");
        }
    }

    #[test]
    fn one_key_in_one_block_matches_the_direct_computation() {
        // One key, k throws into 512 bits; an absent key's k probes must all
        // land on set bits. For k = 1 that is exactly 1/512.
        let rate = blocked_bloom_false_positive_rate(1, 1, 1);
        assert!((rate - 1.0 / 512.0).abs() < 1e-15);
        // For k = 2: X = 1 w.p. 1/512, X = 2 otherwise; rate = E[(X/512)^2].
        let expected = (1.0 / 512.0) * (1.0f64 / 512.0).powi(2) + (511.0 / 512.0) * (2.0f64 / 512.0).powi(2);
        assert!((blocked_bloom_false_positive_rate(1, 1, 2) - expected).abs() < 1e-15);
    }

    #[test]
    fn blocked_rate_exceeds_the_standard_rate_for_the_same_bits() {
        for probes in 4..=9 {
            let standard = standard_bloom_false_positive_rate(1_000_448, 100_000, probes);
            let blocked = blocked_bloom_false_positive_rate(100_000, 1954, probes);
            assert!(blocked > standard, "k {probes}: blocked {blocked} standard {standard}");
            assert!(blocked < standard * 1.6, "k {probes}: blocked {blocked} standard {standard}");
        }
    }

    #[test]
    fn empty_and_degenerate_inputs() {
        assert_eq!(blocked_bloom_false_positive_rate(0, 0, 7), 0.0);
        assert_eq!(blocked_bloom_false_positive_rate(5, 0, 7), 1.0);
        assert_eq!(standard_bloom_false_positive_rate(64, 0, 6), 0.0);
        assert_eq!(standard_bloom_false_positive_rate(0, 3, 6), 1.0);
    }
}
