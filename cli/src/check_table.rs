//! Checking one live table file in full (docs/format.md §6, §7): its size
//! against the MANIFEST, the footer (including its zero padding), the checksum of every block (index,
//! metaindex, each meta block, each data block), that every key is a
//! well-formed internal key in strictly increasing order, that each index
//! entry is at or after its block's last key, and that the keys lie within
//! the range the MANIFEST records for the file.

use std::cmp::Ordering;
use std::path::Path;
use std::sync::Arc;

use lsmkit_base::coding::decode_fixed32;
use lsmkit_base::comparator::BytewiseComparator;
use lsmkit_base::crc;
use lsmkit_base::fs::{FileSystem, RandomAccessFile, ReadMode};
use lsmkit_base::iterator::InternalIterator;
use lsmkit_base::key::{parse_internal_key, InternalKeyComparator};
use lsmkit_bloom::LevelDbBloom;
use lsmkit_sstable::{
    BlockHandle, ReadOptions, ScannedBlock, Table, TableOptions, BLOCK_TRAILER_LEN, FOOTER_LEN,
    NO_COMPRESSION, SNAPPY_COMPRESSION,
};
use lsmkit_version::FileMetaData;

/// What checking a table found.
#[derive(Debug, Default)]
pub struct TableCheck {
    /// Entries read.
    pub entries: u64,
    /// Data blocks read.
    pub data_blocks: u64,
    /// Other blocks whose checksum was verified (index, metaindex, meta blocks).
    pub other_blocks: u64,
    /// Everything wrong, one message each.
    pub problems: Vec<String>,
}

/// Verifies the stored checksum and compression type of the block at
/// `handle`, without decoding it (meta blocks have formats of their own).
pub fn check_block_checksum(
    file: &dyn RandomAccessFile,
    blocks_end: u64,
    handle: BlockHandle,
) -> Result<(), String> {
    let end =
        handle.offset.checked_add(handle.size).and_then(|end| end.checked_add(BLOCK_TRAILER_LEN as u64));
    let (Some(end), Ok(size)) = (end, usize::try_from(handle.size)) else {
        return Err(format!("block handle {}+{} is out of range", handle.offset, handle.size));
    };
    if end > blocks_end {
        return Err(format!(
            "block at offset {} ({} bytes) runs past the end of the blocks at {blocks_end}",
            handle.offset, handle.size
        ));
    }
    let bytes = file.read_at(handle.offset, size + BLOCK_TRAILER_LEN).map_err(|e| e.to_string())?;
    if bytes.len() != size + BLOCK_TRAILER_LEN {
        return Err(format!("block at offset {}: truncated read", handle.offset));
    }
    let stored = crc::unmask(decode_fixed32(&bytes[size + 1..]));
    if stored != crc::value(&bytes[..size + 1]) {
        return Err(format!("block at offset {}: checksum mismatch", handle.offset));
    }
    match bytes[size] {
        NO_COMPRESSION | SNAPPY_COMPRESSION => Ok(()),
        other => Err(format!("block at offset {}: unknown compression type {other}", handle.offset)),
    }
}

/// The options a table is checked with: LevelDB's internal-key format and
/// bloom filter, and paranoid checks, so a damaged meta block fails the open.
fn paranoid_table_options() -> TableOptions {
    TableOptions {
        paranoid_checks: true,
        ..TableOptions::for_internal_keys(BytewiseComparator::shared(), Some(Arc::new(LevelDbBloom::new(10))))
    }
}

/// Checks the table at `path`, which the MANIFEST describes as `meta`.
pub fn check_table(fs: &dyn FileSystem, path: &Path, meta: &FileMetaData) -> TableCheck {
    let mut check = TableCheck::default();
    let file = match fs.open_random_access(path, ReadMode::Positional) {
        Ok(file) => file,
        Err(e) => {
            check.problems.push(e.to_string());
            return check;
        }
    };
    if file.len() != meta.file_size {
        check.problems.push(format!("file is {} bytes, the MANIFEST says {}", file.len(), meta.file_size));
        return check;
    }
    let table = match Table::open(paranoid_table_options(), Arc::clone(&file), meta.file_size, path) {
        Ok(table) => table,
        Err(e) => {
            check.problems.push(e.to_string());
            return check;
        }
    };
    check_other_blocks(&table, file.as_ref(), &mut check);
    check_data_blocks(&table, meta, &mut check);
    check
}

/// The index and metaindex blocks and every block the metaindex names.
fn check_other_blocks(table: &Table, file: &dyn RandomAccessFile, check: &mut TableCheck) {
    let blocks_end = table.file_size() - FOOTER_LEN as u64;
    let footer = table.footer();
    for handle in [footer.index_handle, footer.metaindex_handle] {
        check.other_blocks += 1;
        if let Err(message) = check_block_checksum(file, blocks_end, handle) {
            check.problems.push(message);
        }
    }
    // LevelDB pads the footer's handles with zeros up to the magic number;
    // nothing else reads those bytes, so they are checked here.
    let handles_len = footer.metaindex_handle.encoded().len() + footer.index_handle.encoded().len();
    match file.read_at(blocks_end, FOOTER_LEN - 8) {
        Ok(bytes) if bytes.len() == FOOTER_LEN - 8 => {
            if bytes.get(handles_len..).is_none_or(|padding| padding.iter().any(|&b| b != 0)) {
                check.problems.push(format!("footer at offset {blocks_end}: padding is not zero"));
            }
        }
        Ok(_) => check.problems.push(format!("footer at offset {blocks_end}: truncated read")),
        Err(e) => check.problems.push(e.to_string()),
    }
    let read = ReadOptions { verify_checksums: true, fill_cache: false };
    let metaindex = match table.read_data_block(&read, footer.metaindex_handle) {
        Ok(block) => block,
        Err(e) => {
            check.problems.push(format!("metaindex block: {e}"));
            return;
        }
    };
    let mut it = metaindex.iter(BytewiseComparator::shared());
    it.seek_to_first();
    while it.valid() {
        let name = it.key().escape_ascii().to_string();
        match BlockHandle::decode(it.value()) {
            Ok(handle) => {
                check.other_blocks += 1;
                if let Err(message) = check_block_checksum(file, blocks_end, handle) {
                    check.problems.push(format!("meta block '{name}': {message}"));
                }
            }
            Err(e) => check.problems.push(format!("metaindex entry '{name}': {e}")),
        }
        it.next();
    }
    if let Err(e) = it.status() {
        check.problems.push(format!("metaindex block: {e}"));
    }
}

/// Every data block, through the index, with its entries.
fn check_data_blocks(table: &Table, meta: &FileMetaData, check: &mut TableCheck) {
    let icmp = InternalKeyComparator::new(BytewiseComparator::shared());
    let mut first_key: Option<Vec<u8>> = None;
    let mut last_key: Vec<u8> = Vec::new();
    let scan = table.scan_data_blocks(|scanned| {
        let (handle, index_key, block) = match scanned {
            ScannedBlock::Block { handle, index_key, block } => (handle, index_key, block),
            ScannedBlock::Damaged { handle, error, .. } => {
                check.data_blocks += u64::from(handle.is_some());
                check.problems.push(match handle {
                    Some(_) => error.to_string(),
                    None => format!("index block: {error}"),
                });
                return Ok(());
            }
        };
        check.data_blocks += 1;
        let entries_before = check.entries;
        let mut it = block.iter(Arc::clone(&table.options().comparator));
        it.seek_to_first();
        while it.valid() {
            let key = it.key();
            if parse_internal_key(key).is_err() {
                check.problems.push(format!(
                    "data block at offset {}: malformed internal key '{}'",
                    handle.offset,
                    key.escape_ascii()
                ));
                break;
            }
            if first_key.is_some() && icmp.compare_internal_keys(&last_key, key) != Ordering::Less {
                check.problems.push(format!(
                    "data block at offset {}: key '{}' is not after the key before it",
                    handle.offset,
                    key.escape_ascii()
                ));
                break;
            }
            if first_key.is_none() {
                first_key = Some(key.to_vec());
            }
            last_key.clear();
            last_key.extend_from_slice(key);
            check.entries += 1;
            it.next();
        }
        if let Err(e) = it.status() {
            check.problems.push(format!("data block at offset {}: {e}", handle.offset));
        }
        if check.entries > entries_before
            && icmp.compare_internal_keys(&last_key, index_key) == Ordering::Greater
        {
            check.problems.push(format!(
                "index entry for the block at offset {} is before the block's last key",
                handle.offset
            ));
        }
        Ok(())
    });
    if let Err(e) = scan {
        check.problems.push(e.to_string());
    }
    match first_key {
        Some(first) => {
            if icmp.compare_internal_keys(&first, &meta.smallest) == Ordering::Less {
                check.problems.push(format!(
                    "first key '{}' is before the smallest key the MANIFEST records",
                    first.escape_ascii()
                ));
            }
            if icmp.compare_internal_keys(&last_key, &meta.largest) == Ordering::Greater {
                check.problems.push(format!(
                    "last key '{}' is after the largest key the MANIFEST records",
                    last_key.escape_ascii()
                ));
            }
        }
        None if check.problems.is_empty() => check.problems.push("the table holds no entries".into()),
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsmkit_base::fs::{read_file_to_vec, write_file, MemFs, WriteMode};
    use lsmkit_base::key::{make_internal_key, ValueKind};
    use lsmkit_sstable::TableBuilder;

    /// Writes a table of `n` keys; returns its metadata.
    fn write_table(fs: &MemFs, path: &Path, n: u32) -> FileMetaData {
        let options = TableOptions { block_size: 256, ..paranoid_table_options() };
        let mut builder = TableBuilder::new(options, fs.create_writable(path, WriteMode::Buffered).unwrap());
        for i in 0..n {
            let key = make_internal_key(format!("key{i:05}").as_bytes(), u64::from(i) + 1, ValueKind::Value);
            builder.add(&key, format!("value{i}").as_bytes()).unwrap();
        }
        let summary = builder.finish(true).unwrap();
        let size = fs.file_size(path).unwrap();
        FileMetaData::new(5, size, summary.smallest_key, summary.largest_key)
    }

    #[test]
    fn an_intact_table_passes() {
        let fs = MemFs::new();
        let path = Path::new("000005.ldb");
        let meta = write_table(&fs, path, 500);
        let check = check_table(&fs, path, &meta);
        assert!(check.problems.is_empty(), "{:?}", check.problems);
        assert_eq!(check.entries, 500);
        assert!(check.data_blocks > 10, "{check:?}");
        assert!(check.other_blocks >= 4, "index, metaindex, filter, properties: {check:?}");
    }

    #[test]
    fn every_flipped_byte_is_found() {
        let fs = MemFs::new();
        let path = Path::new("000005.ldb");
        let meta = write_table(&fs, path, 200);
        let original = read_file_to_vec(&fs, path).unwrap();
        // Every byte of every block and of the footer is covered by a check.
        for at in (0..original.len()).step_by(7) {
            let mut damaged = original.clone();
            damaged[at] ^= 0x40;
            write_file(&fs, path, &damaged, false).unwrap();
            let check = check_table(&fs, path, &meta);
            assert!(!check.problems.is_empty(), "flipping byte {at} went unnoticed");
        }
    }

    #[test]
    fn size_and_key_range_are_compared_with_the_manifest() {
        let fs = MemFs::new();
        let path = Path::new("000005.ldb");
        let meta = write_table(&fs, path, 50);
        let mut wrong_size = meta.clone();
        wrong_size.file_size += 1;
        assert!(check_table(&fs, path, &wrong_size).problems[0].contains("the MANIFEST says"));
        let mut narrow = meta.clone();
        narrow.largest = make_internal_key(b"key00010", 11, ValueKind::Value);
        let problems = check_table(&fs, path, &narrow).problems;
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("after the largest key"), "{problems:?}");
        assert!(check_table(&fs, Path::new("000009.ldb"), &meta).problems[0].contains("000009.ldb"));
    }
}
