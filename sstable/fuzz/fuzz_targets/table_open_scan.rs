//! Fuzz target: open a table from arbitrary file contents and scan it
//! (docs/format.md §6, §7), on an in-memory file system.
//!
//! Checksums cannot be forged by mutation, so the input is prepared in one of
//! two ways, chosen by the first byte:
//! - even: the rest is the whole file, taken as is; then the trailers of the
//!   blocks the footer and metaindex point at are rewritten with correct
//!   checksums, so mutated index and meta blocks reach the decoders;
//! - odd: a valid table is built from entries cut out of the input, then
//!   damaged at input-chosen positions (checksums left stale).
//!
//! The table is opened without paranoid checks (data-block checksums are not
//! verified, as with LevelDB's defaults), scanned both ways and probed with
//! `get`. Nothing may panic, and every error must be a corruption.

#![no_main]

use std::path::Path;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use lsmkit_base::comparator::BytewiseComparator;
use lsmkit_base::crc;
use lsmkit_base::fs::{write_file, FileSystem, MemFs, WriteMode};
use lsmkit_base::iterator::InternalIterator;
use lsmkit_bloom::LevelDbBloom;
use lsmkit_sstable::{
    Block, BlockHandle, Compression, Footer, ReadOptions, Table, TableBuilder, TableOptions,
    BLOCK_TRAILER_LEN, FOOTER_LEN,
};

const PATH: &str = "/fuzz/000001.ldb";

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let fs = MemFs::new();
    fs.create_dir_all(Path::new("/fuzz")).expect("mkdir");
    let options = TableOptions {
        filter_policy: Some(Arc::new(LevelDbBloom::new(10))),
        block_size: 64 + (mode as usize >> 1) * 16,
        restart_interval: 1 + (mode as usize >> 4),
        compression: if mode & 2 == 0 { Compression::None } else { Compression::Snappy },
        ..TableOptions::default()
    };
    let file = if mode % 2 == 0 {
        with_fixed_checksums(rest.to_vec())
    } else {
        damaged_valid_table(&fs, &options, rest)
    };
    write_file(&fs, Path::new(PATH), &file, false).expect("write");
    open_and_scan(&fs, options, rest);
});

/// Rewrites the trailer checksum of the block at `handle`, if it lies inside `file`.
fn fix_trailer(file: &mut [u8], handle: BlockHandle) -> Option<()> {
    let start = usize::try_from(handle.offset).ok()?;
    let size = usize::try_from(handle.size).ok()?;
    let type_at = start.checked_add(size)?;
    if type_at.checked_add(BLOCK_TRAILER_LEN)? > file.len() {
        return None;
    }
    let checksum = crc::mask(crc::value(&file[start..=type_at]));
    file[type_at + 1..type_at + 5].copy_from_slice(&checksum.to_le_bytes());
    Some(())
}

fn with_fixed_checksums(mut file: Vec<u8>) -> Vec<u8> {
    if file.len() < FOOTER_LEN {
        return file;
    }
    let Ok(footer) = Footer::decode(&file[file.len() - FOOTER_LEN..]) else { return file };
    fix_trailer(&mut file, footer.index_handle);
    if fix_trailer(&mut file, footer.metaindex_handle).is_some() {
        // Fix the blocks the metaindex lists too (filter, properties).
        let start = footer.metaindex_handle.offset as usize;
        let end = start + footer.metaindex_handle.size as usize;
        if file[end] == 0 {
            if let Ok(block) = Block::new(bytes::Bytes::copy_from_slice(&file[start..end])) {
                let mut it = block.iter(BytewiseComparator::shared());
                it.seek_to_first();
                let mut handles = Vec::new();
                while it.valid() && handles.len() < 8 {
                    if let Ok(handle) = BlockHandle::decode(it.value()) {
                        handles.push(handle);
                    }
                    it.next();
                }
                for handle in handles {
                    fix_trailer(&mut file, handle);
                }
            }
        }
    }
    file
}

fn damaged_valid_table(fs: &MemFs, options: &TableOptions, input: &[u8]) -> Vec<u8> {
    // Entries: "k" ++ two input bytes as the key, the next byte as a value
    // length, repeating bytes as the value; sorted and deduplicated.
    let mut entries: Vec<(Vec<u8>, Vec<u8>)> = input
        .chunks(3)
        .take(300)
        .map(|c| {
            let key = [b"k".as_slice(), c].concat();
            let value = vec![c[0]; *c.last().unwrap_or(&0) as usize % 40];
            (key, value)
        })
        .collect();
    entries.sort();
    entries.dedup_by(|a, b| a.0 == b.0);
    let file = fs.create_writable(Path::new(PATH), WriteMode::Buffered).expect("create");
    let mut builder = TableBuilder::new(options.clone(), file);
    for (key, value) in &entries {
        builder.add(key, value).expect("add");
    }
    builder.finish(false).expect("finish");
    let mut file = lsmkit_base::fs::read_file_to_vec(fs, Path::new(PATH)).expect("read");
    // Damage: (position, xor) pairs from the tail of the input.
    for pair in input.rchunks(3).take(4) {
        if let [hi, lo, xor] = pair {
            let position = (usize::from(*hi) << 8 | usize::from(*lo)) % file.len();
            file[position] ^= xor;
        }
    }
    file
}

fn open_and_scan(fs: &MemFs, options: TableOptions, input: &[u8]) {
    let table = match Table::open_path(fs, Path::new(PATH), options) {
        Ok(table) => Arc::new(table),
        Err(e) => {
            assert!(e.is_corruption(), "{e}");
            return;
        }
    };
    let limit = 100_000;
    let read = ReadOptions::default();
    let mut it = table.iter(read);
    let mut steps = 0;
    it.seek_to_first();
    while it.valid() && steps < limit {
        let _ = (it.key(), it.value_bytes());
        it.next();
        steps += 1;
    }
    check(it.status());
    it.seek_to_last();
    while it.valid() && steps < 2 * limit {
        it.prev();
        steps += 1;
    }
    check(it.status());
    for probe in input.chunks(5).take(16) {
        let mut it = table.iter(read);
        it.seek(probe);
        if it.valid() {
            it.prev();
        }
        check(it.status());
        check(table.get(&read, probe).map(|_| ()));
        let _ = table.approximate_offset_of(probe);
    }
}

fn check(result: lsmkit_base::Result<()>) {
    if let Err(e) = result {
        assert!(e.is_corruption(), "{e}");
    }
}
