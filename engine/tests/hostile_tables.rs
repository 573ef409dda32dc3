//! Tables with valid checksums whose decoded values are hostile (issue 14,
//! "Hostile bytes never panic"): an index entry whose block handle claims
//! a size near 2^64. The table opens (its index block is intact), reads
//! through it fail with `Error::Corruption` at the file and offset, and a
//! repair salvages the readable entries without any size arithmetic
//! overflowing.

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

use std::path::{Path, PathBuf};
use std::sync::Arc;

use lsmkit::{Db, Options, ReadOptions};
use lsmkit_base::comparator::BytewiseComparator;
use lsmkit_base::crc;
use lsmkit_base::filename::table_file_name;
use lsmkit_base::fs::{read_file_to_vec, write_file, FileSystem, MemFs, WriteMode};
use lsmkit_base::iterator::InternalIterator;
use lsmkit_base::key::{make_internal_key, ValueKind};
use lsmkit_sstable::{BlockBuilder, BlockHandle, Footer, Table, TableBuilder, TableOptions, FOOTER_LEN};

const DIR: &str = "/db";

/// Writes table 5 of `/db` with keys `k000`..`k099` (sequences 1..100),
/// then replaces its index block by one that has every original entry and
/// one more, for `zzz`, whose handle is `bad`. Returns the table's path.
fn table_with_extra_index_entry(fs: &MemFs, bad: BlockHandle) -> PathBuf {
    fs.create_dir_all(Path::new(DIR)).unwrap();
    let path = table_file_name(Path::new(DIR), 5);
    let options = TableOptions {
        block_size: 256,
        ..TableOptions::for_internal_keys(BytewiseComparator::shared(), None)
    };
    let mut builder =
        TableBuilder::new(options.clone(), fs.create_writable(&path, WriteMode::Buffered).unwrap());
    for i in 0..100u64 {
        let key = make_internal_key(format!("k{i:03}").as_bytes(), i + 1, ValueKind::Value);
        builder.add(&key, format!("value{i}").as_bytes()).unwrap();
    }
    builder.finish(true).unwrap();

    let table = Table::open_path(fs, &path, options).unwrap();
    let footer = table.footer();
    let mut index = BlockBuilder::new(1);
    let mut it = table.index_iter();
    it.seek_to_first();
    while it.valid() {
        index.add(it.key(), it.value());
        it.next();
    }
    index.add(&make_internal_key(b"zzz", 1, ValueKind::Value), &bad.encoded());
    let index = index.finish().to_vec();
    drop(table);

    let mut bytes = read_file_to_vec(fs, &path).unwrap();
    bytes.truncate(bytes.len() - FOOTER_LEN);
    let index_handle = BlockHandle::new(bytes.len() as u64, index.len() as u64);
    bytes.extend_from_slice(&index);
    bytes.push(0); // no compression
    bytes.extend_from_slice(&crc::mask(crc::extend(crc::value(&index), &[0])).to_le_bytes());
    let footer = Footer { metaindex_handle: footer.metaindex_handle, index_handle };
    bytes.extend_from_slice(&footer.encode());
    write_file(fs, &path, &bytes, false).unwrap();
    path
}

#[test]
fn a_huge_block_size_in_the_index_is_corruption_when_read() {
    let fs = MemFs::new();
    let bad = BlockHandle::new(0, u64::MAX - 2);
    let path = table_with_extra_index_entry(&fs, bad);
    let table = Arc::new(Table::open_path(&fs, &path, TableOptions::default()).unwrap());
    let mut it = table.iter(lsmkit_sstable::ReadOptions { verify_checksums: true, fill_cache: false });
    it.seek_to_first();
    let mut entries = 0;
    while it.valid() {
        entries += 1;
        it.next();
    }
    assert_eq!(entries, 100);
    let error = it.status().unwrap_err();
    assert!(error.is_corruption(), "{error}");
    assert!(error.to_string().contains(&format!("(in {} at offset 0)", path.display())), "{error}");
}

#[test]
fn repair_salvages_a_table_with_a_huge_block_size_in_its_index() {
    for bad in [BlockHandle::new(0, u64::MAX - 2), BlockHandle::new(u64::MAX, u64::MAX)] {
        let fs = Arc::new(MemFs::new());
        table_with_extra_index_entry(&fs, bad);
        let options = Options { fs: fs.clone(), ..Options::default() };
        let report = Db::repair(DIR, &options).unwrap();
        assert_eq!(report.salvaged_tables, [5], "{report:?}");
        // The block that cannot be read counts, saturated, as dropped bytes.
        assert_eq!(report.table_bytes_dropped, u64::MAX, "{report:?}");
        let db = Db::open(DIR, options).unwrap();
        let mut it = db.iter(ReadOptions::default());
        it.seek_to_first();
        let mut entries = 0;
        while it.valid() {
            entries += 1;
            it.next();
        }
        it.status().unwrap();
        assert_eq!(entries, 100);
    }
}

/// A range tombstone's kind (15) among a table's data entries is damage:
/// tombstones belong in the `lsmkit.range_del` block. Repair drops the
/// entry and keeps the others.
#[test]
fn repair_drops_a_range_tombstone_kind_among_data_entries() {
    let fs = Arc::new(MemFs::new());
    fs.create_dir_all(Path::new(DIR)).unwrap();
    let path = table_file_name(Path::new(DIR), 5);
    let options = TableOptions::for_internal_keys(BytewiseComparator::shared(), None);
    let mut builder = TableBuilder::new(options, fs.create_writable(&path, WriteMode::Buffered).unwrap());
    builder.add(&make_internal_key(b"a", 1, ValueKind::Value), b"1").unwrap();
    builder.add(&make_internal_key(b"b", 2, ValueKind::RangeDeletion), b"z").unwrap();
    builder.add(&make_internal_key(b"c", 3, ValueKind::Value), b"3").unwrap();
    builder.finish(true).unwrap();
    let options = Options { fs: fs.clone(), range_deletions: true, ..Options::default() };
    let report = Db::repair(DIR, &options).unwrap();
    assert_eq!(report.salvaged_tables, [5], "{report:?}");
    assert_eq!(report.table_entries_dropped, 1, "{report:?}");
    let db = Db::open(DIR, options).unwrap();
    assert_eq!(db.get(b"a").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(db.get(b"c").unwrap().as_deref(), Some(&b"3"[..]), "the kind-15 entry deletes nothing");
}
