//! Hand-built Versions for the unit tests of the pickers and of
//! [`Compaction`](crate::Compaction): files with chosen numbers, sizes and
//! key ranges, no tables behind them.

use std::sync::Arc;

use lsmkit_base::comparator::BytewiseComparator;
use lsmkit_base::key::{make_internal_key, InternalKeyComparator, ValueKind};
use lsmkit_version::version_builder::VersionBuilder;
use lsmkit_version::{FileMetaData, Version, VersionEdit};

/// The bytewise internal-key comparator.
pub(crate) fn icmp() -> InternalKeyComparator {
    InternalKeyComparator::new(BytewiseComparator::shared())
}

/// File `number` of 1000 bytes holding user keys `smallest..=largest` (at sequence 100).
pub(crate) fn file(number: u64, smallest: &str, largest: &str) -> Arc<FileMetaData> {
    sized_file(number, smallest, largest, 1000)
}

/// File `number` of `size` bytes holding user keys `smallest..=largest` (at sequence 100).
pub(crate) fn sized_file(number: u64, smallest: &str, largest: &str, size: u64) -> Arc<FileMetaData> {
    file_at(number, (smallest, 100), (largest, 100), size)
}

/// File `number` of `size` bytes from `smallest` to `largest`, each a (user key, sequence).
pub(crate) fn file_at(
    number: u64,
    smallest: (&str, u64),
    largest: (&str, u64),
    size: u64,
) -> Arc<FileMetaData> {
    Arc::new(FileMetaData::new(
        number,
        size,
        make_internal_key(smallest.0.as_bytes(), smallest.1, ValueKind::Value),
        make_internal_key(largest.0.as_bytes(), largest.1, ValueKind::Value),
    ))
}

/// A Version with the given files per level (checked like a MANIFEST's).
pub(crate) fn version(levels: Vec<(usize, Vec<Arc<FileMetaData>>)>) -> Arc<Version> {
    let mut edit = VersionEdit::new();
    for (level, files) in levels {
        for f in files {
            edit.add_file(level, FileMetaData::clone(&f));
        }
    }
    let mut builder = VersionBuilder::new(icmp(), Arc::new(Version::empty(icmp())));
    builder.apply(&edit);
    Arc::new(builder.build().expect("a valid test version"))
}

/// The numbers of `files`, in order.
pub(crate) fn numbers(files: &[Arc<FileMetaData>]) -> Vec<u64> {
    files.iter().map(|f| f.number).collect()
}
