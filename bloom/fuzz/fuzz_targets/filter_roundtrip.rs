//! Fuzz target: keys cut from arbitrary bytes build a filter with each policy
//! at a fuzzed bits-per-key; every key must then match (no false negatives),
//! and `create_filter` must only append to its buffer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lsmkit_bloom::{BlockedBloom, FilterPolicy, LevelDbBloom};

fuzz_target!(|data: &[u8]| {
    let Some((&bits_per_key, rest)) = data.split_first() else {
        return;
    };
    // Keys are the pieces between 0xff bytes (empty and duplicate keys included).
    let keys: Vec<&[u8]> = rest.split(|&b| b == 0xff).collect();
    let bits_per_key = u32::from(bits_per_key % 40);
    let policies: [&dyn FilterPolicy; 2] =
        [&LevelDbBloom::new(bits_per_key), &BlockedBloom::new(bits_per_key)];
    for policy in policies {
        let mut filter = b"prefix".to_vec();
        policy.create_filter(&keys, &mut filter);
        assert!(filter.starts_with(b"prefix"));
        let filter = &filter[6..];
        for key in &keys {
            assert!(policy.key_may_match(key, filter), "{}: false negative for {key:02x?}", policy.name());
        }
    }
});
