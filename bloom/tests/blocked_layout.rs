//! The byte layout of `lsmkit.BlockedBloom1` filters, as specified in
//! docs/format-extensions.md ("xxh3 blocked bloom filter"): pinned worked
//! examples, and an independent re-implementation of the specification that
//! every filter must equal byte for byte.

use lsmkit_bloom::{BlockedBloom, FilterPolicy};
use proptest::prelude::*;
use xxhash_rust::xxh3::xxh3_64;

fn build(policy: &BlockedBloom, keys: &[&[u8]]) -> Vec<u8> {
    let mut filter = Vec::new();
    policy.create_filter(keys, &mut filter);
    filter
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
}

/// The specification, written out plainly: a bit array of `blocks · 512`
/// bits, 64-bit arithmetic, then the trailer.
fn specified_filter(keys: &[Vec<u8>], bits_per_key: u32, probes: u8) -> Vec<u8> {
    let bits_per_key = u64::from(bits_per_key.max(1));
    let blocks = (keys.len() as u64 * bits_per_key).div_ceil(512);
    let mut bit_set = vec![false; blocks as usize * 512];
    for key in keys {
        let hash = xxh3_64(key);
        let block = ((hash >> 32) * blocks) >> 32;
        let mut state = hash & 0xffff_ffff;
        for _ in 0..probes {
            let bit_in_block = state >> 23;
            bit_set[(block * 512 + bit_in_block) as usize] = true;
            state = (state * 0x9e37_79b9) & 0xffff_ffff;
        }
    }
    let mut filter: Vec<u8> = bit_set
        .chunks(8)
        .map(|byte_bits| byte_bits.iter().enumerate().map(|(i, &set)| u8::from(set) << i).sum())
        .collect();
    filter.push(probes);
    filter.push(1);
    filter
}

#[test]
fn xxh3_is_the_reference_xxh3_64() {
    // The published XXH3_64bits("") value, seed 0.
    assert_eq!(xxh3_64(b""), 0x2d06_8005_38d3_94c2);
}

#[test]
fn single_key_filter_is_the_documented_example() {
    // docs/format-extensions.md: xxh3_64("k") = 0xa921e3704fda881d; one block;
    // k = 6; probe bits 159, 70, 425, 357, 389, 61.
    assert_eq!(xxh3_64(b"k"), 0xa921_e370_4fda_881d);
    let filter = build(&BlockedBloom::new(10), &[b"k"]);
    let mut expected = [0u8; 66];
    for bit in [159, 70, 425, 357, 389, 61] {
        expected[bit / 8] |= 1 << (bit % 8);
    }
    expected[64] = 6;
    expected[65] = 1;
    assert_eq!(hex(&filter), hex(&expected));
    assert_eq!(
        hex(&filter),
        "00 00 00 00 00 00 00 20 40 00 00 00 00 00 00 00 00 00 00 80 00 00 00 00 00 00 00 00 00 00 00 00 \
         00 00 00 00 00 00 00 00 00 00 00 00 20 00 00 00 20 00 00 00 00 02 00 00 00 00 00 00 00 00 00 00 06 01"
    );
}

#[test]
fn keys_land_in_the_block_their_high_hash_bits_choose() {
    // 3 keys at 512 bits/key: 3 blocks. (hash >> 32) · 3 >> 32 puts
    // "apple" (0x517a430d…) and "cherry" (0x0c6c9927…) in block 0 and
    // "banana" (0x669f0757…) in block 1; block 2 stays empty.
    let policy = BlockedBloom::new(512);
    let filter = build(&policy, &[b"apple", b"banana", b"cherry"]);
    assert_eq!(filter.len(), 3 * 64 + 2);
    assert_eq!(&filter[192..], [policy.probes(), 1]);
    let blocks: Vec<&[u8]> = filter[..192].chunks(64).collect();
    // Bit positions inside a block come from the low hash bits only, so each
    // block holds exactly the bits its keys set in a filter of their own.
    let alone = |key: &[u8]| build(&policy, &[key])[..64].to_vec();
    let apple_or_cherry: Vec<u8> = alone(b"apple").iter().zip(alone(b"cherry")).map(|(a, c)| a | c).collect();
    assert_eq!(hex(blocks[0]), hex(&apple_or_cherry));
    assert_eq!(hex(blocks[1]), hex(&alone(b"banana")));
    assert_eq!(hex(blocks[2]), hex(&[0; 64]));
}

#[test]
fn trailer_records_probe_count_and_layout() {
    for (bits_per_key, probes) in [(1, 1), (6, 4), (10, 6), (16, 9), (20, 11), (64, 20), (1000, 20)] {
        let policy = BlockedBloom::new(bits_per_key);
        assert_eq!(policy.probes(), probes, "bits/key {bits_per_key}");
        let filter = build(&policy, &[b"x"]);
        assert_eq!(&filter[filter.len() - 2..], [probes, 1]);
    }
}

#[test]
fn reader_follows_the_trailer_not_its_own_parameters() {
    // A filter built with k = 4 (6 bits/key) is read correctly by a policy
    // configured for 20 bits/key, and the other way round.
    let keys: Vec<Vec<u8>> = (0..500u32).map(|i| format!("key{i}").into_bytes()).collect();
    let key_refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
    let (small, large) = (BlockedBloom::new(6), BlockedBloom::new(20));
    let small_filter = build(&small, &key_refs);
    let large_filter = build(&large, &key_refs);
    assert!(key_refs.iter().all(|key| large.key_may_match(key, &small_filter)));
    assert!(key_refs.iter().all(|key| small.key_may_match(key, &large_filter)));
}

#[test]
fn malformed_trailers_match_everything() {
    let filter = build(&BlockedBloom::new(10), &[b"k"]);
    let policy = BlockedBloom::new(10);
    let absent = (0..1000u32)
        .map(|i| format!("absent{i}").into_bytes())
        .find(|key| !policy.key_may_match(key, &filter));
    let absent = absent.expect("some key is rejected by a one-key filter");

    let mut unknown_layout = filter.clone();
    *unknown_layout.last_mut().expect("trailer") = 2;
    let mut zero_probes = filter.clone();
    zero_probes[64] = 0;
    let mut too_many_probes = filter.clone();
    too_many_probes[64] = BlockedBloom::MAX_PROBES + 1;
    let mut ragged = filter[..63].to_vec();
    ragged.extend_from_slice(&[6, 1]);
    for (what, bad) in [
        ("unknown layout", unknown_layout),
        ("k = 0", zero_probes),
        ("k too large", too_many_probes),
        ("ragged", ragged),
    ] {
        assert!(policy.key_may_match(&absent, &bad), "{what}");
    }
    assert!(policy.key_may_match(&absent, &[1]), "one byte");
    assert!(!policy.key_may_match(&absent, &[]), "the empty filter holds no key");
    assert!(!policy.key_may_match(&absent, &[6, 1]), "the filter of no keys");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn filters_equal_the_specification(
        keys in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..32), 0..300),
        bits_per_key in 0u32..70,
    ) {
        let policy = BlockedBloom::new(bits_per_key);
        let key_refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
        let filter = build(&policy, &key_refs);
        prop_assert_eq!(filter, specified_filter(&keys, bits_per_key, policy.probes()));
    }
}
