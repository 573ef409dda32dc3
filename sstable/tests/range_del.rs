//! The `lsmkit.range_del` meta block in whole tables
//! (docs/format-extensions.md, "Range deletions"): tombstones given to the
//! builder read back from the opened table; a table given none is byte for
//! byte the table written without the call; a damaged block fails the open
//! with `Corruption` naming the file and the block's offset, even without
//! paranoid checks.

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

use std::path::Path;

use lsmkit_base::comparator::BytewiseComparator;
use lsmkit_base::fs::{read_file_to_vec, write_file, FileSystem, MemFs, WriteMode};
use lsmkit_base::key::{make_internal_key, ValueKind};
use lsmkit_base::range_tombstone::{FragmentedRangeTombstones, RangeTombstone};
use lsmkit_sstable::range_del_block::{encode, RANGE_DEL_BLOCK_NAME};
use lsmkit_sstable::{Compression, Table, TableBuilder, TableOptions};

/// Uncompressed, so that the test finds the block's bytes in the file.
fn options() -> TableOptions {
    TableOptions {
        compression: Compression::None,
        ..TableOptions::for_internal_keys(BytewiseComparator::shared(), None)
    }
}

fn tombstones() -> FragmentedRangeTombstones {
    FragmentedRangeTombstones::new(
        vec![RangeTombstone::new(b"b", b"f", 9), RangeTombstone::new(b"d", b"k", 4)],
        BytewiseComparator::shared(),
    )
}

/// Writes a table of a few entries at `path`, with `list` as its tombstones.
fn write(fs: &dyn FileSystem, path: &Path, list: Option<&FragmentedRangeTombstones>) -> u64 {
    let file = fs.create_writable(path, WriteMode::Buffered).unwrap();
    let mut builder = TableBuilder::new(options(), file);
    for (i, k) in [b"a", b"c", b"x"].iter().enumerate() {
        builder.add(&make_internal_key(*k, 10 + i as u64, ValueKind::Value), b"v").unwrap();
    }
    if let Some(list) = list {
        builder.set_range_tombstones(list);
    }
    builder.finish(true).unwrap().range_tombstones
}

#[test]
fn tombstones_round_trip_and_tables_without_them_are_unchanged() {
    let fs = MemFs::new();
    assert_eq!(write(&fs, Path::new("/with.ldb"), Some(&tombstones())), 4, "4 (fragment, sequence) entries");
    let table = Table::open_path(&fs, Path::new("/with.ldb"), options()).unwrap();
    assert_eq!(table.range_tombstones().unwrap().fragments(), tombstones().fragments());

    assert_eq!(write(&fs, Path::new("/plain.ldb"), None), 0);
    let empty = FragmentedRangeTombstones::new(Vec::new(), BytewiseComparator::shared());
    assert_eq!(write(&fs, Path::new("/empty.ldb"), Some(&empty)), 0);
    let plain = read_file_to_vec(&fs, Path::new("/plain.ldb")).unwrap();
    assert_eq!(plain, read_file_to_vec(&fs, Path::new("/empty.ldb")).unwrap(), "no block, same bytes");
    assert!(!plain.windows(RANGE_DEL_BLOCK_NAME.len()).any(|w| w == RANGE_DEL_BLOCK_NAME.as_bytes()));
    let table = Table::open_path(&fs, Path::new("/plain.ldb"), options()).unwrap();
    assert!(table.range_tombstones().is_none());
}

#[test]
fn a_damaged_block_fails_the_open_with_file_and_offset() {
    let fs = MemFs::new();
    let path = Path::new("/t.ldb");
    write(&fs, path, Some(&tombstones()));
    let bytes = read_file_to_vec(&fs, path).unwrap();
    let block = encode(&tombstones());
    let at = bytes.windows(block.len()).position(|w| w == block.as_slice()).expect("the block in the file");
    for offset in [at, at + 3, at + block.len() - 1] {
        let mut damaged = bytes.clone();
        damaged[offset] ^= 0x40;
        write_file(&fs, path, &damaged, false).unwrap();
        let error = Table::open_path(&fs, path, options()).unwrap_err();
        assert!(error.is_corruption(), "{error}");
        let text = error.to_string();
        assert!(text.contains("/t.ldb") && text.contains(&format!("offset {at}")), "{text}");
    }
    write_file(&fs, path, &bytes, false).unwrap();
    assert!(Table::open_path(&fs, path, options()).is_ok(), "the undamaged table opens");
}
