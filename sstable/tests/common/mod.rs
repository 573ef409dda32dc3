//! Helpers shared by the integration tests: building tables into a file
//! system and scanning them.

#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use lsmkit_base::fs::{read_file_to_vec, FileSystem, WriteMode};
use lsmkit_base::iterator::InternalIterator;
use lsmkit_base::Result;
use lsmkit_sstable::{Table, TableBuilder, TableOptions, TableSummary};

/// An owned key/value pair.
pub type Entry = (Vec<u8>, Vec<u8>);

/// Writes `entries` (sorted by the options' comparator) as a table at `path`.
pub fn build_table(
    fs: &dyn FileSystem,
    path: &Path,
    options: &TableOptions,
    entries: &[Entry],
) -> TableSummary {
    let file = fs.create_writable(path, WriteMode::Buffered).expect("create table file");
    let mut builder = TableBuilder::new(options.clone(), file);
    for (key, value) in entries {
        builder.add(key, value).expect("add");
    }
    builder.finish(false).expect("finish")
}

/// Writes `entries` as a table and returns the file's bytes.
pub fn table_bytes(fs: &dyn FileSystem, path: &Path, options: &TableOptions, entries: &[Entry]) -> Vec<u8> {
    let summary = build_table(fs, path, options, entries);
    let bytes = read_file_to_vec(fs, path).expect("read table back");
    assert_eq!(bytes.len() as u64, summary.file_size);
    bytes
}

/// Opens the table at `path`.
pub fn open_table(fs: &dyn FileSystem, path: &Path, options: &TableOptions) -> Result<Arc<Table>> {
    Table::open_path(fs, path, options.clone()).map(Arc::new)
}

/// Every entry from the first to the last, and the final status.
pub fn scan_forward(it: &mut dyn InternalIterator, limit: usize) -> (Vec<Entry>, Result<()>) {
    let mut out = Vec::new();
    it.seek_to_first();
    while it.valid() && out.len() < limit {
        out.push((it.key().to_vec(), it.value().to_vec()));
        it.next();
    }
    (out, it.status())
}

/// Every entry from the last to the first (returned in ascending order), and the final status.
pub fn scan_backward(it: &mut dyn InternalIterator, limit: usize) -> (Vec<Entry>, Result<()>) {
    let mut out = Vec::new();
    it.seek_to_last();
    while it.valid() && out.len() < limit {
        out.push((it.key().to_vec(), it.value().to_vec()));
        it.prev();
    }
    out.reverse();
    (out, it.status())
}
