//! LevelDB's bloom filter against the vectors and worked examples of
//! docs/format.md §8 (hash, single-key filter) and §6.10 (a whole filter block of
//! a table LevelDB wrote).

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

mod support {
    pub mod filter_block;
}

use lsmkit_bloom::{leveldb_hash, FilterPolicy, LevelDbBloom, BLOOM_HASH_SEED};
use support::filter_block::{FilterBlockBuilder, FilterBlockReader};

#[test]
fn hash_matches_the_upstream_vectors() {
    // docs/format.md §8.1: LevelDB's hash_test (bytes >= 0x80 in every tail
    // length, so a signed-byte hash fails) and the worked examples.
    let vectors: &[(&[u8], u32)] = &[
        (b"", 0xbc9f1d34),
        (&[0x62], 0xef1345c4),
        (&[0xc3, 0x97], 0x5b663814),
        (&[0xe2, 0x99, 0xa5], 0x323c078f),
        (&[0xe1, 0x80, 0xb9, 0x32], 0xed21633a),
        (b"k", 0xeadd29bc),
        (b"key1", 0x87cf4896),
        (b"hello", 0xf795964e),
    ];
    for &(data, expected) in vectors {
        assert_eq!(leveldb_hash(data, BLOOM_HASH_SEED), expected, "hash of {data:02x?}");
    }
}

#[test]
fn hash_matches_the_48_byte_vector_with_another_seed() {
    let mut data = [0u8; 48];
    for (at, byte) in
        [(0, 0x01), (1, 0xc0), (16, 0x14), (22, 0x04), (27, 0x14), (31, 0x18), (32, 0x28), (40, 0x02)]
    {
        data[at] = byte;
    }
    assert_eq!(leveldb_hash(&data, 0x12345678), 0xf333dabb);
}

#[test]
fn single_key_filter_is_the_section_8_example() {
    let mut filter = Vec::new();
    LevelDbBloom::new(10).create_filter(&[b"k"], &mut filter);
    assert_eq!(filter, [0x40, 0x00, 0x00, 0x01, 0x04, 0x04, 0x10, 0x10, 0x06]);
}

#[test]
fn create_filter_appends_after_existing_bytes() {
    let bloom = LevelDbBloom::new(10);
    let mut filter = b"prefix".to_vec();
    bloom.create_filter(&[b"k"], &mut filter);
    assert_eq!(filter, b"prefix\x40\x00\x00\x01\x04\x04\x10\x10\x06");
}

#[test]
fn filter_block_of_the_section_6_10_table_is_reproduced() {
    // 000005.ldb of docs/format.md §6.10: one data block at offset 0 of 21 bytes
    // holding the user key "k"; its filter block, as LevelDB wrote it.
    let leveldb_filter_block = [
        0x40, 0x00, 0x00, 0x01, 0x04, 0x04, 0x10, 0x10, 0x06, // filter 0
        0x00, 0x00, 0x00, 0x00, // filter_offset[0] = 0
        0x09, 0x00, 0x00, 0x00, // array_offset = 9
        0x0b, // base_lg = 11
    ];
    let bloom = LevelDbBloom::new(10);
    let mut builder = FilterBlockBuilder::new(&bloom);
    builder.add_key(b"k");
    builder.start_block(21 + 5);
    assert_eq!(builder.finish(), leveldb_filter_block);

    let reader = FilterBlockReader::new(&bloom, &leveldb_filter_block);
    assert_eq!(reader.filter_count(), 1);
    assert!(reader.key_may_match(0, b"k"));
    // A data block past the filters' range may hold anything.
    assert!(reader.key_may_match(4096, b"other"));
}

#[test]
fn empty_table_filter_block_is_the_section_6_9_bytes() {
    let bloom = LevelDbBloom::new(10);
    assert_eq!(FilterBlockBuilder::new(&bloom).finish(), [0, 0, 0, 0, 0x0b]);
}

#[test]
fn filters_of_zero_and_one_keys() {
    let bloom = LevelDbBloom::new(10);
    // No key: the 64-bit minimum, all clear, matching nothing.
    let mut empty = Vec::new();
    bloom.create_filter(&[], &mut empty);
    assert_eq!(empty, [0, 0, 0, 0, 0, 0, 0, 0, 6]);
    for key in [&b""[..], b"k", b"anything"] {
        assert!(!bloom.key_may_match(key, &empty), "{key:?}");
    }
    // One key, including the empty key.
    for key in [&b""[..], b"k", b"\xff\xfe"] {
        let mut filter = Vec::new();
        bloom.create_filter(&[key], &mut filter);
        assert_eq!(filter.len(), 9);
        assert!(bloom.key_may_match(key, &filter), "{key:?}");
    }
}
