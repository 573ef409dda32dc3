//! Golden bytes: the two tables of docs/format.md §6.10 (written by LevelDB
//! 1.23) reproduced exactly, and the index keys and block layout of
//! docs/format.md §6.7 and §6.10's 300-key table.

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

mod common;

use std::path::Path;
use std::sync::Arc;

use lsmkit_base::comparator::BytewiseComparator;
use lsmkit_base::fs::{FileSystem, MemFs};
use lsmkit_base::iterator::InternalIterator;
use lsmkit_base::key::{make_internal_key, ValueKind, MAX_TRAILER};
use lsmkit_bloom::LevelDbBloom;
use lsmkit_sstable::{BlockHandle, Compression, ReadOptions, TableOptions};

use common::{build_table, open_table, table_bytes, Entry};

/// Options LevelDB used for the §6.10 tables: internal keys, no
/// compression, and no lsmkit extension.
fn leveldb_options(bloom: bool) -> TableOptions {
    let policy = bloom.then(|| Arc::new(LevelDbBloom::new(10)) as Arc<dyn lsmkit_bloom::FilterPolicy>);
    TableOptions {
        compression: Compression::None,
        write_properties: false,
        ..TableOptions::for_internal_keys(BytewiseComparator::shared(), policy)
    }
}

fn ik(user_key: &[u8], sequence: u64) -> Vec<u8> {
    make_internal_key(user_key, sequence, ValueKind::Value)
}

fn shortened(user_key: &[u8]) -> Vec<u8> {
    let mut key = user_key.to_vec();
    key.extend_from_slice(&MAX_TRAILER.to_le_bytes());
    key
}

fn fs_with_dir() -> MemFs {
    let fs = MemFs::new();
    fs.create_dir_all(Path::new("/db")).unwrap();
    fs
}

const K_AT_1: [u8; 9] = [0x6b, 0x01, 0x01, 0, 0, 0, 0, 0, 0];

#[rustfmt::skip]
fn format_md_table_with_filter() -> Vec<u8> {
    let mut t = Vec::new();
    // 0x00 data block (21 bytes) and trailer.
    t.extend([0x00, 0x09, 0x01]); t.extend(K_AT_1); t.push(0x76);
    t.extend([0, 0, 0, 0, 1, 0, 0, 0]);
    t.extend([0x00, 0x50, 0x32, 0x88, 0x48]);
    // 0x1a filter block (18 bytes) and trailer.
    t.extend([0x40, 0x00, 0x00, 0x01, 0x04, 0x04, 0x10, 0x10, 0x06, 0, 0, 0, 0, 9, 0, 0, 0, 0x0b]);
    t.extend([0x00, 0xe3, 0xfa, 0xa8, 0x48]);
    // 0x31 metaindex (47 bytes) and trailer.
    t.extend([0x00, 0x22, 0x02]); t.extend(b"filter.leveldb.BuiltinBloomFilter2"); t.extend([0x1a, 0x12]);
    t.extend([0, 0, 0, 0, 1, 0, 0, 0]);
    t.extend([0x00, 0x2b, 0x90, 0xff, 0xd7]);
    // 0x65 index (22 bytes) and trailer.
    t.extend([0x00, 0x09, 0x02]); t.extend(K_AT_1); t.extend([0x00, 0x15]);
    t.extend([0, 0, 0, 0, 1, 0, 0, 0]);
    t.extend([0x00, 0x8e, 0xe7, 0xe8, 0xf6]);
    // 0x80 footer.
    t.extend([0x31, 0x2f, 0x65, 0x16]); t.extend([0u8; 36]);
    t.extend([0x57, 0xfb, 0x80, 0x8b, 0x24, 0x75, 0x47, 0xdb]);
    t
}

#[rustfmt::skip]
fn format_md_table_without_filter() -> Vec<u8> {
    let mut t = Vec::new();
    t.extend([0x00, 0x09, 0x01]); t.extend(K_AT_1); t.push(0x76);
    t.extend([0, 0, 0, 0, 1, 0, 0, 0]);
    t.extend([0x00, 0x50, 0x32, 0x88, 0x48]);
    // 26: the empty metaindex.
    t.extend([0, 0, 0, 0, 1, 0, 0, 0]);
    t.extend([0x00, 0xc0, 0xf2, 0xa1, 0xb0]);
    // 39: the index.
    t.extend([0x00, 0x09, 0x02]); t.extend(K_AT_1); t.extend([0x00, 0x15]);
    t.extend([0, 0, 0, 0, 1, 0, 0, 0]);
    t.extend([0x00, 0x8e, 0xe7, 0xe8, 0xf6]);
    t.extend([0x1a, 0x08, 0x27, 0x16]); t.extend([0u8; 36]);
    t.extend([0x57, 0xfb, 0x80, 0x8b, 0x24, 0x75, 0x47, 0xdb]);
    t
}

#[test]
fn format_md_6_10_table_with_bloom_filter_is_byte_identical() {
    let expected = format_md_table_with_filter();
    assert_eq!(expected.len(), 176);
    let fs = fs_with_dir();
    let path = Path::new("/db/000005.ldb");
    let entries: Vec<Entry> = vec![(K_AT_1.to_vec(), b"v".to_vec())];
    let bytes = table_bytes(&fs, path, &leveldb_options(true), &entries);
    assert_eq!(bytes, expected);

    // And it reads back, through the filter.
    let table = open_table(&fs, path, &leveldb_options(true)).unwrap();
    assert!(table.has_filter());
    assert!(table.properties().is_none());
    let (key, value) = table.get(&ReadOptions::default(), &ik(b"k", 5)).unwrap().unwrap();
    assert_eq!((&key[..], &value[..]), (&K_AT_1[..], &b"v"[..]));
    // "j" is not in the filter: the data block is not even read.
    assert_eq!(table.get(&ReadOptions::default(), &ik(b"j", 5)).unwrap(), None);
}

#[test]
fn format_md_6_10_table_without_filter_is_byte_identical() {
    let expected = format_md_table_without_filter();
    assert_eq!(expected.len(), 114);
    let fs = fs_with_dir();
    let path = Path::new("/db/000005.ldb");
    let entries: Vec<Entry> = vec![(K_AT_1.to_vec(), b"v".to_vec())];
    assert_eq!(table_bytes(&fs, path, &leveldb_options(false), &entries), expected);
}

#[test]
fn format_md_6_7_index_keys() {
    // One entry per data block (block_size 1), so every pair of neighbours
    // gets a separator.
    let entries: Vec<Entry> = vec![
        (ik(b"apple", 1), b"1".to_vec()),
        (ik(b"apricot", 2), b"2".to_vec()),
        (ik(b"cherry", 3), b"3".to_vec()),
        (ik(b"zebra\xff", 4), b"4".to_vec()),
        (ik(b"\xff\xff", 5), b"5".to_vec()),
    ];
    let options = TableOptions { block_size: 1, ..leveldb_options(false) };
    let fs = fs_with_dir();
    let path = Path::new("/db/000007.ldb");
    build_table(&fs, path, &options, &entries);
    let table = open_table(&fs, path, &options).unwrap();
    let mut index = table.index_iter();
    let mut keys = Vec::new();
    index.seek_to_first();
    while index.valid() {
        keys.push(index.key().to_vec());
        index.next();
    }
    assert_eq!(
        keys,
        vec![shortened(b"apq"), shortened(b"b"), shortened(b"d"), shortened(b"{"), ik(b"\xff\xff", 5)]
    );

    // Keys kept unchanged: `big`@305 before `c`@304 (no room) and
    // `key000035`@36 before `key000036`@37; the last keys `c`@304 and `k`@1
    // (their successors are not shorter), while `key000036`@37 becomes "l".
    for (first, second, last_index_key) in [
        (ik(b"big", 305), ik(b"c", 304), ik(b"c", 304)),
        (ik(b"key000035", 36), ik(b"key000036", 37), shortened(b"l")),
    ] {
        build_table(&fs, path, &options, &[(first.clone(), b"x".to_vec()), (second, b"y".to_vec())]);
        let table = open_table(&fs, path, &options).unwrap();
        let mut index = table.index_iter();
        index.seek_to_first();
        assert_eq!(index.key(), &first[..]);
        index.next();
        assert_eq!(index.key(), &last_index_key[..]);
    }
    build_table(&fs, path, &options, &[(K_AT_1.to_vec(), b"v".to_vec())]);
    let mut index = open_table(&fs, path, &options).unwrap().index_iter();
    index.seek_to_first();
    assert_eq!(index.key(), &K_AT_1[..]);
}

#[test]
fn format_md_300_key_table_layout() {
    // §6.7 and §6.10: keys key000036..key000299 at sequences 37..300 with
    // 100-byte values, bloom 10, no compression. The first block is the
    // one docs/format.md §6.10 shows starting at key000036@37.
    let entries: Vec<Entry> =
        (36..300u64).map(|i| (ik(format!("key{i:06}").as_bytes(), i + 1), vec![b'x'; 100])).collect();
    let options = leveldb_options(true);
    let fs = fs_with_dir();
    let path = Path::new("/db/000009.ldb");
    build_table(&fs, path, &options, &entries);
    let table = open_table(&fs, path, &options).unwrap();
    let mut index = table.index_iter();
    index.seek_to_first();
    let first = BlockHandle::decode(index.value()).unwrap();
    index.seek_to_last();
    // key000299@300 is the last key: its index key is "l" + the max trailer.
    assert_eq!(index.key(), &shortened(b"l")[..]);

    // 4188 bytes, restarts at 0, 1802 and 3603, entries encoded as shown.
    let block = table.read_data_block(&ReadOptions::default(), first).unwrap();
    let bytes = block.contents();
    assert_eq!((first.offset, bytes.len()), (0, 4188));
    assert_eq!(&bytes[bytes.len() - 16..], &[0, 0, 0, 0, 0x0a, 0x07, 0, 0, 0x13, 0x0e, 0, 0, 3, 0, 0, 0]);
    assert_eq!(&bytes[..3], &[0x00, 0x11, 0x64]);
    assert_eq!(&bytes[3..20], &ik(b"key000036", 37)[..]);
    // The second entry shares "key00003" and stores the 9 bytes "7" ++
    // trailer(38, Value). (docs/format.md §6.10 lists those 9 bytes,
    // the kind byte 01 first.)
    assert_eq!(&bytes[120..132], &[0x08, 0x09, 0x64, 0x37, 0x01, 0x26, 0, 0, 0, 0, 0, 0]);
}
