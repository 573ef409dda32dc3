//! Properties every filter policy must have, checked for both policies:
//! no false negatives (proptest against the key list that built the filter),
//! appending to a non-empty buffer, filters of 0 and 1 keys, never panicking
//! on arbitrary or truncated filter bytes, and sharing across threads.

use std::sync::Arc;

use lsmkit_bloom::{BlockedBloom, FilterPolicy, LevelDbBloom};
use proptest::prelude::*;

fn policies(bits_per_key: u32) -> [Arc<dyn FilterPolicy>; 2] {
    [Arc::new(LevelDbBloom::new(bits_per_key)), Arc::new(BlockedBloom::new(bits_per_key))]
}

fn build(policy: &dyn FilterPolicy, keys: &[Vec<u8>]) -> Vec<u8> {
    let key_refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
    let mut filter = Vec::new();
    policy.create_filter(&key_refs, &mut filter);
    filter
}

fn keys_strategy() -> impl Strategy<Value = Vec<Vec<u8>>> {
    // Short keys collide on prefixes and exercise every hash tail length;
    // duplicates are allowed, as in a filter block.
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..400)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn every_key_that_built_a_filter_matches_it(keys in keys_strategy(), bits_per_key in 0u32..40) {
        for policy in policies(bits_per_key) {
            let filter = build(policy.as_ref(), &keys);
            for key in &keys {
                prop_assert!(policy.key_may_match(key, &filter), "{}: false negative for {:02x?}", policy.name(), key);
            }
        }
    }

    #[test]
    fn create_filter_only_appends(
        keys in keys_strategy(),
        prefix in prop::collection::vec(any::<u8>(), 0..100),
        bits_per_key in 1u32..20,
    ) {
        for policy in policies(bits_per_key) {
            let alone = build(policy.as_ref(), &keys);
            let key_refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
            let mut appended = prefix.clone();
            policy.create_filter(&key_refs, &mut appended);
            prop_assert_eq!(&appended[..prefix.len()], &prefix[..]);
            prop_assert_eq!(&appended[prefix.len()..], &alone[..]);
        }
    }

    #[test]
    fn arbitrary_filter_bytes_never_panic(
        filter in prop::collection::vec(any::<u8>(), 0..700),
        key in prop::collection::vec(any::<u8>(), 0..40),
    ) {
        let leveldb = LevelDbBloom::new(10);
        let answer = leveldb.key_may_match(&key, &filter);
        // LevelDB's rules for what it cannot probe (docs/format.md §8.3).
        if filter.len() < 2 {
            prop_assert!(!answer);
        } else if filter[filter.len() - 1] > LevelDbBloom::MAX_PROBES {
            prop_assert!(answer);
        }

        let blocked = BlockedBloom::new(10);
        let answer = blocked.key_may_match(&key, &filter);
        // Anything but a layout-1 filter, or the empty filter, may match.
        let well_formed = filter.len() >= 2
            && filter[filter.len() - 1] == 1
            && (1..=BlockedBloom::MAX_PROBES).contains(&filter[filter.len() - 2])
            && (filter.len() - 2) % 64 == 0;
        if filter.is_empty() {
            prop_assert!(!answer);
        } else if !well_formed {
            prop_assert!(answer);
        }
    }

    #[test]
    fn truncated_and_damaged_filters_never_panic(
        keys in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..20), 1..120),
        damage_at in any::<prop::sample::Index>(),
        damage in any::<u8>(),
    ) {
        for policy in policies(10) {
            let filter = build(policy.as_ref(), &keys);
            for len in 0..=filter.len() {
                for key in keys.iter().take(8) {
                    policy.key_may_match(key, &filter[..len]);
                }
            }
            let mut damaged = filter.clone();
            let at = damage_at.index(damaged.len());
            damaged[at] ^= damage;
            for key in &keys {
                policy.key_may_match(key, &damaged);
            }
        }
    }
}

#[test]
fn filters_of_zero_keys_match_nothing() {
    for bits_per_key in [1, 10, 20] {
        for policy in policies(bits_per_key) {
            let filter = build(policy.as_ref(), &[]);
            for key in [&b""[..], b"a", b"some longer key"] {
                assert!(!policy.key_may_match(key, &filter), "{}: {key:?}", policy.name());
            }
        }
    }
    // The blocked filter of no keys is its bare trailer: k = 6, layout 1.
    assert_eq!(build(&BlockedBloom::new(10), &[]), [6, 1]);
}

#[test]
fn filters_of_one_key_match_it() {
    for policy in policies(10) {
        for key in [&b""[..], b"k", b"\x80\xff", b"a key that is longer than sixteen bytes"] {
            let filter = build(policy.as_ref(), &[key.to_vec()]);
            assert!(policy.key_may_match(key, &filter), "{}: {key:?}", policy.name());
        }
    }
    // One key: LevelDB's 64-bit minimum, or one 64-byte block.
    assert_eq!(build(&LevelDbBloom::new(10), &[b"k".to_vec()]).len(), 9);
    assert_eq!(build(&BlockedBloom::new(10), &[b"k".to_vec()]).len(), 66);
}

#[test]
fn policies_have_distinct_names() {
    assert_eq!(LevelDbBloom::new(10).name(), "leveldb.BuiltinBloomFilter2");
    assert_eq!(BlockedBloom::new(10).name(), "lsmkit.BlockedBloom1");
}

#[test]
fn policies_are_shared_between_threads_as_trait_objects() {
    let keys: Vec<Vec<u8>> = (0..2000u32).map(|i| format!("thread-key-{i}").into_bytes()).collect();
    for policy in policies(10) {
        let filter = Arc::new(build(policy.as_ref(), &keys));
        let keys = Arc::new(keys.clone());
        let workers: Vec<_> = (0..4)
            .map(|worker| {
                let (policy, filter, keys) = (Arc::clone(&policy), Arc::clone(&filter), Arc::clone(&keys));
                std::thread::spawn(move || {
                    keys.iter().skip(worker).step_by(4).all(|k| policy.key_may_match(k, &filter))
                })
            })
            .collect();
        for worker in workers {
            assert!(worker.join().expect("worker panicked"));
        }
    }
}
