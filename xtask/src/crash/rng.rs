//! A small deterministic random number generator (SplitMix64) for the
//! crash test: the writer process and the harness must draw the same
//! numbers from the same seed on every build and platform, so the history
//! is defined here rather than by an external crate whose streams may
//! change between versions.

/// SplitMix64 (Steele, Lea and Flood): 64 bits of state, one multiply-xorshift
/// finaliser per draw. Good enough to shape a test workload; not for crypto.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// The SplitMix64 finaliser: a bijective scramble of one word.
fn finalize(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A stateless hash of two words, used to derive per-cycle and per-operation
/// streams from the run's seed.
pub fn mix(a: u64, b: u64) -> u64 {
    finalize(finalize(a.wrapping_add(GOLDEN_GAMMA)) ^ b.wrapping_mul(GOLDEN_GAMMA))
}

impl SplitMix64 {
    /// A generator whose stream is a function of `seed` only.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        finalize(self.state)
    }

    /// A number in `0..bound` (`bound` 0 is taken as 1), by multiply-high.
    pub fn below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(bound.max(1))) >> 64) as u64
    }

    /// A number in `low..high` (`low` when the range is empty).
    pub fn in_range(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high.saturating_sub(low))
    }

    /// True with probability `permille`/1000.
    pub fn chance(&mut self, permille: u64) -> bool {
        self.below(1000) < permille
    }

    /// One element of a non-empty slice, chosen uniformly.
    pub fn pick<T: Copy>(&mut self, choices: &[T]) -> T {
        choices[self.below(choices.len() as u64) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_gives_the_same_stream() {
        let mut a = SplitMix64::new(42);
        let mut b = SplitMix64::new(42);
        let mut c = SplitMix64::new(43);
        let xs: Vec<u64> = (0..16).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..16).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..16).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }

    #[test]
    fn known_first_value_pins_the_algorithm() {
        // The reference SplitMix64 stream from seed 0 starts with this word;
        // a change here would silently change every recorded seed's history.
        assert_eq!(SplitMix64::new(0).next_u64(), 0xe220_a839_7b1d_cdaf);
    }

    #[test]
    fn below_stays_in_bounds_and_covers_them() {
        let mut rng = SplitMix64::new(7);
        let mut seen = [false; 10];
        for _ in 0..1000 {
            let x = rng.below(10);
            assert!(x < 10);
            seen[x as usize] = true;
        }
        assert!(seen.iter().all(|&s| s));
        assert_eq!(rng.below(0), 0);
        assert_eq!(rng.in_range(5, 5), 5);
    }

    #[test]
    fn mix_separates_its_arguments() {
        assert_ne!(mix(1, 2), mix(2, 1));
        assert_ne!(mix(0, 0), mix(0, 1));
    }
}
