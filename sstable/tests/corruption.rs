//! Corruption: for every byte of small tables, flip it and read the table
//! with paranoid checks. The outcome is exactly the original data or a
//! `Corruption` error naming the file (and an offset) — never wrong data,
//! never a panic. Without paranoid checks the reader may return damaged
//! data (as LevelDB does) but still never panics. Plus targeted damage:
//! truncation, a bad magic number, and handles pointing outside the file.

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

mod common;

use std::path::Path;
use std::sync::Arc;

use lsmkit_base::comparator::BytewiseComparator;
use lsmkit_base::fs::{read_file_to_vec, write_file, FileSystem, MemFs};
use lsmkit_base::iterator::InternalIterator;
use lsmkit_base::key::{make_internal_key, ValueKind};
use lsmkit_base::Error;
use lsmkit_bloom::LevelDbBloom;
use lsmkit_sstable::{BlockHandle, Compression, Footer, ReadOptions, Table, TableOptions};

use common::{build_table, scan_backward, scan_forward, Entry};

const PATH: &str = "/t/000042.ldb";

/// ~40 internal-key entries with some deletions, in several small blocks.
fn sample_entries(options: &TableOptions) -> Vec<Entry> {
    let mut entries: Vec<Entry> = (0..40u64)
        .map(|i| {
            let kind = if i % 7 == 3 { ValueKind::Deletion } else { ValueKind::Value };
            let value = if kind == ValueKind::Deletion {
                Vec::new()
            } else {
                format!("v{i}-{}", "ab".repeat(i as usize % 5)).into_bytes()
            };
            (make_internal_key(format!("key{:03}", i * 3).as_bytes(), 100 + i, kind), value)
        })
        .collect();
    entries.sort_by(|a, b| options.comparator.compare(&a.0, &b.0));
    entries
}

fn small_table_options(compression: Compression) -> TableOptions {
    TableOptions {
        block_size: 200,
        restart_interval: 4,
        compression,
        paranoid_checks: true,
        ..TableOptions::for_internal_keys(BytewiseComparator::shared(), Some(Arc::new(LevelDbBloom::new(10))))
    }
}

fn assert_located_corruption(error: &Error, position: usize) {
    match error {
        Error::Corruption { file: Some(file), offset: Some(_), .. } => {
            assert_eq!(file, Path::new(PATH), "byte {position}: {error}");
        }
        other => panic!("byte {position}: expected a located corruption, got {other}"),
    }
}

/// Reads everything a paranoid reader can: open, both scans, every `get`.
/// Returns Ok(()) only when all of it matched `entries` exactly.
fn paranoid_read(fs: &MemFs, options: &TableOptions, entries: &[Entry]) -> Result<(), Error> {
    let table = Arc::new(Table::open_path(fs, Path::new(PATH), options.clone())?);
    let read = ReadOptions { verify_checksums: true, fill_cache: false };
    let mut it = table.iter(read);
    let (forward, status) = scan_forward(&mut it, entries.len() + 1);
    status?;
    assert_eq!(forward, entries, "forward scan returned wrong data without an error");
    let (backward, status) = scan_backward(&mut it, entries.len() + 1);
    status?;
    assert_eq!(backward, entries, "backward scan returned wrong data without an error");
    for (key, value) in entries {
        let got = table.get(&read, key)?;
        let got = got.map(|(k, v)| (k.to_vec(), v.to_vec()));
        assert_eq!(got, Some((key.clone(), value.clone())), "get returned wrong data without an error");
    }
    Ok(())
}

fn sweep(compression: Compression) {
    let options = small_table_options(compression);
    let entries = sample_entries(&options);
    let fs = MemFs::new();
    fs.create_dir_all(Path::new("/t")).unwrap();
    build_table(&fs, Path::new(PATH), &options, &entries);
    let original = read_file_to_vec(&fs, Path::new(PATH)).unwrap();
    assert!(original.len() > 700 && original.len() < 2500, "table is {} bytes", original.len());
    paranoid_read(&fs, &options, &entries).unwrap();

    let relaxed = TableOptions { paranoid_checks: false, ..options.clone() };
    let mut corruptions = 0;
    for position in 0..original.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut damaged = original.clone();
            damaged[position] ^= flip;
            write_file(&fs, Path::new(PATH), &damaged, false).unwrap();
            match paranoid_read(&fs, &options, &entries) {
                Ok(()) => {}
                Err(e) => {
                    assert_located_corruption(&e, position);
                    corruptions += 1;
                }
            }
            // Without checksums the data may be wrong, but nothing panics
            // and every error is a corruption.
            if flip == 0x01 {
                relaxed_read_never_panics(&fs, &relaxed, &entries, position);
            }
        }
    }
    // Everything but the footer's padding is protected.
    assert!(corruptions > original.len() * 2, "only {corruptions} corruptions detected");
}

fn relaxed_read_never_panics(fs: &MemFs, options: &TableOptions, entries: &[Entry], position: usize) {
    let table = match Table::open_path(fs, Path::new(PATH), options.clone()) {
        Ok(table) => Arc::new(table),
        Err(e) => return assert!(e.is_corruption(), "byte {position}: {e}"),
    };
    let mut it = table.iter(ReadOptions::default());
    let limit = entries.len() * 50;
    if let (_, Err(e)) = scan_forward(&mut it, limit) {
        assert_located_corruption(&e, position);
    }
    let mut it = table.iter(ReadOptions::default());
    if let (_, Err(e)) = scan_backward(&mut it, limit) {
        assert_located_corruption(&e, position);
    }
    for (key, _) in entries {
        if let Err(e) = table.get(&ReadOptions::default(), key) {
            assert_located_corruption(&e, position);
        }
    }
}

#[test]
fn every_flipped_byte_gives_right_data_or_corruption_uncompressed() {
    sweep(Compression::None);
}

#[test]
fn every_flipped_byte_gives_right_data_or_corruption_snappy() {
    sweep(Compression::Snappy);
}

fn write_sample(fs: &MemFs) -> (TableOptions, Vec<Entry>, Vec<u8>) {
    let options = small_table_options(Compression::None);
    let entries = sample_entries(&options);
    fs.create_dir_all(Path::new("/t")).unwrap();
    build_table(fs, Path::new(PATH), &options, &entries);
    let bytes = read_file_to_vec(fs, Path::new(PATH)).unwrap();
    (options, entries, bytes)
}

#[test]
fn truncated_tables_are_corruption() {
    let fs = MemFs::new();
    let (options, entries, original) = write_sample(&fs);
    for len in [0, 1, 47, 48, original.len() / 2, original.len() - 1] {
        write_file(&fs, Path::new(PATH), &original[..len], false).unwrap();
        let err = paranoid_read(&fs, &options, &entries).unwrap_err();
        assert_located_corruption(&err, len);
    }
    // A file shorter than the size the caller believes (MANIFEST size).
    write_file(&fs, Path::new(PATH), &original[..original.len() - 10], false).unwrap();
    let file = fs.open_random_access(Path::new(PATH), Default::default()).unwrap();
    let err = Table::open(options, file, original.len() as u64, PATH).unwrap_err();
    assert_located_corruption(&err, 0);
}

#[test]
fn footer_errors_name_the_footer_offset() {
    let fs = MemFs::new();
    let (options, _, mut bytes) = write_sample(&fs);
    let footer_offset = bytes.len() as u64 - 48;
    let last = bytes.len() - 1;
    bytes[last] ^= 0x10;
    write_file(&fs, Path::new(PATH), &bytes, false).unwrap();
    let err = Table::open_path(&fs, Path::new(PATH), options).unwrap_err();
    assert!(err.to_string().contains("bad magic number"), "{err}");
    assert!(matches!(err, Error::Corruption { offset: Some(o), .. } if o == footer_offset), "{err}");
}

#[test]
fn handles_outside_the_file_are_refused_before_reading() {
    let fs = MemFs::new();
    let (options, _, bytes) = write_sample(&fs);
    let footer_at = bytes.len() - 48;
    let footer = Footer::decode(&bytes[footer_at..]).unwrap();
    for index_handle in [
        BlockHandle::new(0, u64::MAX),
        BlockHandle::new(u64::MAX - 2, 10),
        BlockHandle::new(0, 1 << 40),
        BlockHandle::new(footer.index_handle.offset, footer.index_handle.size + 1),
    ] {
        let mut damaged = bytes.clone();
        damaged[footer_at..].copy_from_slice(&Footer { index_handle, ..footer }.encode());
        write_file(&fs, Path::new(PATH), &damaged, false).unwrap();
        let err = Table::open_path(&fs, Path::new(PATH), options.clone()).unwrap_err();
        assert!(
            matches!(err, Error::Corruption { offset: Some(o), .. } if o == index_handle.offset),
            "{err}"
        );
    }
}

#[test]
fn damaged_filter_is_ignored_unless_paranoid() {
    let fs = MemFs::new();
    let (options, entries, mut bytes) = write_sample(&fs);
    let table = Table::open_path(&fs, Path::new(PATH), options.clone()).unwrap();
    assert!(table.has_filter() && table.properties().is_some());
    // The filter block starts right after the last data block: find it via
    // the index's last handle.
    let mut index = table.index_iter();
    index.seek_to_last();
    let last_data = BlockHandle::decode(index.value()).unwrap();
    let filter_at = (last_data.offset + last_data.size + 5) as usize;
    bytes[filter_at] ^= 0xff;
    write_file(&fs, Path::new(PATH), &bytes, false).unwrap();

    let err = Table::open_path(&fs, Path::new(PATH), options.clone()).unwrap_err();
    assert!(matches!(err, Error::Corruption { offset: Some(o), .. } if o == filter_at as u64), "{err}");

    let relaxed = TableOptions { paranoid_checks: false, ..options };
    let table = Arc::new(Table::open_path(&fs, Path::new(PATH), relaxed).unwrap());
    assert!(!table.has_filter());
    let (all, status) = scan_forward(&mut table.iter(ReadOptions::default()), usize::MAX);
    status.unwrap();
    assert_eq!(all, entries);
    for (key, value) in &entries {
        let (k, v) = table.get(&ReadOptions::default(), key).unwrap().unwrap();
        assert_eq!((&k[..], &v[..]), (&key[..], &value[..]));
    }
}

#[test]
fn data_block_errors_stop_the_scan_and_name_the_block() {
    let fs = MemFs::new();
    let (options, entries, mut bytes) = write_sample(&fs);
    let table = Table::open_path(&fs, Path::new(PATH), options.clone()).unwrap();
    let mut index = table.index_iter();
    index.seek_to_first();
    index.next();
    let second = BlockHandle::decode(index.value()).unwrap();
    bytes[second.offset as usize + 3] ^= 0x04;
    write_file(&fs, Path::new(PATH), &bytes, false).unwrap();
    let table = Arc::new(Table::open_path(&fs, Path::new(PATH), options).unwrap());
    let mut it = table.iter(ReadOptions::default());
    let (seen, status) = scan_forward(&mut it, usize::MAX);
    let err = status.unwrap_err();
    assert!(err.to_string().contains("checksum"), "{err}");
    assert!(matches!(err, Error::Corruption { offset: Some(o), .. } if o == second.offset), "{err}");
    // Only the first block's entries came out, all of them right.
    assert!(!seen.is_empty() && seen.len() < entries.len());
    assert_eq!(seen[..], entries[..seen.len()]);
    // The iterator stays invalid.
    it.seek_to_first();
    assert!(!it.valid());
}
