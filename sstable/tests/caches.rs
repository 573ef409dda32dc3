//! The block cache, the table cache, and the two read paths (positional
//! reads and reads out of a guarded mmap) on real files.

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

mod common;

use std::path::Path;
use std::sync::Arc;

use lsmkit_base::filename::{legacy_table_file_name, table_file_name};
use lsmkit_base::fs::{read_file_to_vec, write_file, FileSystem, MemFs, ReadMode, ReadView, StdFs};
use lsmkit_base::iterator::InternalIterator;
use lsmkit_bloom::LevelDbBloom;
use lsmkit_sstable::{BlockCache, BlockHandle, Compression, ReadOptions, Table, TableCache, TableOptions};

use common::{build_table, scan_backward, scan_forward, Entry};

fn entries(n: u32, tag: &str) -> Vec<Entry> {
    (0..n)
        .map(|i| {
            (
                format!("key{i:06}").into_bytes(),
                format!("{tag}-value-{i}-{}", "x".repeat(i as usize % 50)).into_bytes(),
            )
        })
        .collect()
}

fn first_handle(table: &Table) -> BlockHandle {
    let mut index = table.index_iter();
    index.seek_to_first();
    BlockHandle::decode(index.value()).unwrap()
}

#[test]
fn block_cache_is_filled_by_reads_unless_told_not_to() {
    let fs = MemFs::new();
    fs.create_dir_all(Path::new("/db")).unwrap();
    let cache = Arc::new(BlockCache::new(1 << 20));
    let options = TableOptions { block_cache: Some(Arc::clone(&cache)), ..TableOptions::default() };
    let data = entries(2000, "a");
    build_table(&fs, Path::new("/db/000001.ldb"), &options, &data);
    let table = Arc::new(Table::open_path(&fs, Path::new("/db/000001.ldb"), options.clone()).unwrap());

    let no_fill = ReadOptions { fill_cache: false, ..ReadOptions::default() };
    let (all, status) = scan_forward(&mut table.iter(no_fill), usize::MAX);
    status.unwrap();
    assert_eq!(all, data);
    assert!(cache.is_empty());

    table.get(&ReadOptions::default(), b"key000100").unwrap().unwrap();
    assert_eq!(cache.len(), 1);
    table.get(&ReadOptions::default(), b"key000101").unwrap().unwrap();
    assert_eq!(cache.len(), 1, "same block, served from the cache");
    let (all, status) = scan_backward(&mut table.iter(ReadOptions::default()), usize::MAX);
    status.unwrap();
    assert_eq!(all, data);
    assert!(cache.len() > 10);
    assert!(cache.used_bytes() <= cache.capacity());

    // A second table gets its own key space in the shared cache.
    build_table(&fs, Path::new("/db/000002.ldb"), &options, &entries(2000, "b"));
    let other = Table::open_path(&fs, Path::new("/db/000002.ldb"), options).unwrap();
    let (_, value) = other.get(&ReadOptions::default(), b"key000100").unwrap().unwrap();
    assert!(value.starts_with(b"b-value-100"));
    let (_, value) = table.get(&ReadOptions::default(), b"key000100").unwrap().unwrap();
    assert!(value.starts_with(b"a-value-100"));
}

#[test]
fn mmap_blocks_are_copies_out_of_the_mapping_and_cached() {
    let dir = tempfile::tempdir().unwrap();
    let fs = StdFs::new();
    let path = dir.path().join("000003.ldb");
    let cache = Arc::new(BlockCache::new(1 << 20));
    let options = TableOptions {
        compression: Compression::None,
        read_mode: ReadMode::Mmap,
        block_cache: Some(Arc::clone(&cache)),
        filter_policy: Some(Arc::new(LevelDbBloom::new(10))),
        ..TableOptions::default()
    };
    let data = entries(3000, "m");
    build_table(&fs, &path, &options, &data);

    let file = fs.open_random_access(&path, ReadMode::Mmap).unwrap();
    // Where the mapping is: read_with lends the mapped bytes themselves.
    let mut mapping = 0..0;
    file.read_with(0, file.len() as usize, &mut |view| {
        assert!(matches!(view, ReadView::Borrowed(_)), "a mapped file lends its bytes");
        let bytes = view.as_slice();
        mapping = bytes.as_ptr() as usize..bytes.as_ptr() as usize + bytes.len();
        Ok(())
    })
    .unwrap();
    let table = Arc::new(Table::open(options.clone(), Arc::clone(&file), file.len(), &path).unwrap());
    let handle = first_handle(&table);
    let block = table.read_data_block(&ReadOptions::default(), handle).unwrap();
    let block_at = block.contents().as_ptr() as usize;
    assert!(!mapping.contains(&block_at), "an uncompressed block is copied out of the mapping");
    assert_eq!(cache.len(), 1, "a block copied out of a mapping is cached");
    let (_, value) = table.get(&ReadOptions::default(), b"key000000").unwrap().unwrap();
    let value_at = value.as_ptr() as usize;
    assert!(!mapping.contains(&value_at), "a value is never a view of the mapping");
    assert!(value_at >= block_at && value_at < block_at + block.size(), "the get found the cached block");

    // Positional and mmap reads see the same table.
    let positional = TableOptions { read_mode: ReadMode::Positional, ..options };
    let positional = Arc::new(Table::open_path(&fs, &path, positional).unwrap());
    for table in [&table, &positional] {
        let (all, status) = scan_forward(&mut table.iter(ReadOptions::default()), usize::MAX);
        status.unwrap();
        assert_eq!(all, data);
    }
    assert!(cache.len() > 1, "both read paths fill the cache");
}

#[test]
fn compressed_blocks_under_mmap_are_cached() {
    let dir = tempfile::tempdir().unwrap();
    let fs = StdFs::new();
    let path = dir.path().join("000004.ldb");
    let cache = Arc::new(BlockCache::new(1 << 20));
    let options = TableOptions {
        read_mode: ReadMode::Mmap,
        block_cache: Some(Arc::clone(&cache)),
        ..TableOptions::default()
    };
    build_table(&fs, &path, &options, &entries(1000, "c"));
    let table = Table::open_path(&fs, &path, options).unwrap();
    table.get(&ReadOptions::default(), b"key000500").unwrap().unwrap();
    assert_eq!(cache.len(), 1);
}

#[test]
fn table_cache_keeps_at_most_capacity_tables_open() {
    let fs = Arc::new(MemFs::new());
    let dir = Path::new("/db");
    fs.create_dir_all(dir).unwrap();
    let options = TableOptions::default();
    let mut sizes = Vec::new();
    for number in 1..=40u64 {
        let data = entries(50, &format!("t{number}"));
        sizes.push(build_table(fs.as_ref(), &table_file_name(dir, number), &options, &data).file_size);
    }
    let cache = TableCache::new(fs.clone(), dir, options, 5);
    assert_eq!(cache.capacity(), 5);
    for round in 0..3 {
        for number in 1..=40u64 {
            let (_, value) = cache
                .get(&ReadOptions::default(), number, sizes[number as usize - 1], b"key000007")
                .unwrap()
                .unwrap();
            assert!(value.starts_with(format!("t{number}-value-7").as_bytes()), "round {round}");
            assert!(cache.len() <= 5, "{} tables open", cache.len());
        }
    }
    // An iterator keeps its table usable after eviction.
    let mut it = cache.iter(ReadOptions::default(), 1, sizes[0]).unwrap();
    for number in 2..=40u64 {
        cache.find_table(number, sizes[number as usize - 1]).unwrap();
    }
    cache.evict(1);
    let (all, status) = scan_forward(&mut it, usize::MAX);
    status.unwrap();
    assert_eq!(all.len(), 50);
}

#[test]
fn table_cache_falls_back_to_sst_and_reports_missing_files() {
    let fs = Arc::new(MemFs::new());
    let dir = Path::new("/db");
    fs.create_dir_all(dir).unwrap();
    let options = TableOptions::default();
    let size =
        build_table(fs.as_ref(), &legacy_table_file_name(dir, 7), &options, &entries(10, "legacy")).file_size;
    let cache = TableCache::new(fs.clone(), dir, options, 100);
    let table = cache.find_table(7, size).unwrap();
    assert_eq!(table.path(), legacy_table_file_name(dir, 7));
    let err = cache.find_table(8, size).unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(err.to_string().contains("000008.ldb"), "{err}");
}

#[test]
fn table_cache_is_safe_for_concurrent_use() {
    let fs = Arc::new(MemFs::new());
    let dir = Path::new("/db");
    fs.create_dir_all(dir).unwrap();
    let block_cache = Arc::new(BlockCache::new(256 * 1024));
    let options = TableOptions { block_cache: Some(block_cache), ..TableOptions::default() };
    let mut sizes = Vec::new();
    for number in 1..=8u64 {
        sizes.push(
            build_table(
                fs.as_ref(),
                &table_file_name(dir, number),
                &options,
                &entries(500, &format!("t{number}")),
            )
            .file_size,
        );
    }
    let cache = Arc::new(TableCache::new(fs.clone(), dir, options, 3));
    let sizes = Arc::new(sizes);
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let cache = Arc::clone(&cache);
            let sizes = Arc::clone(&sizes);
            std::thread::spawn(move || {
                for i in 0..400u64 {
                    let number = 1 + (i * 7 + t) % 8;
                    let key = format!("key{:06}", (i * 13 + t) % 500);
                    let (k, v) = cache
                        .get(&ReadOptions::default(), number, sizes[number as usize - 1], key.as_bytes())
                        .unwrap()
                        .unwrap();
                    assert_eq!(&k[..], key.as_bytes());
                    assert!(v.starts_with(format!("t{number}-").as_bytes()));
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert!(cache.len() <= 3);
}

#[test]
fn sharded_table_cache_never_exceeds_its_capacity() {
    // 75 does not divide evenly among shards; the shards' shares must still
    // add up to at most 75.
    let fs = Arc::new(MemFs::new());
    let dir = Path::new("/db");
    fs.create_dir_all(dir).unwrap();
    let options = TableOptions::default();
    let data = entries(3, "s");
    let size = build_table(fs.as_ref(), &table_file_name(dir, 1), &options, &data).file_size;
    let bytes = read_file_to_vec(fs.as_ref(), &table_file_name(dir, 1)).unwrap();
    for number in 2..=200u64 {
        write_file(fs.as_ref(), &table_file_name(dir, number), &bytes, false).unwrap();
    }
    let cache = TableCache::new(fs.clone(), dir, options, 75);
    for number in 1..=200u64 {
        cache.find_table(number, size).unwrap();
        assert!(cache.len() <= 75, "{} tables open", cache.len());
    }
    assert!(cache.len() > 30, "the cache keeps tables open: {}", cache.len());
}
