//! Fuzz target: full recovery (docs/format.md §10.2, §10.3) from an arbitrary
//! MANIFEST named by CURRENT, on an in-memory file system.
//!
//! The first input byte chooses how the rest becomes the MANIFEST: as raw
//! file bytes (exercising the log reader's damage handling), or as a list
//! of `[length byte][record]` chunks written through the log writer (so
//! that inputs reach the VersionEdit decoder and the Version builder).
//!
//! Recovery never panics. When it succeeds, the recovered state must
//! survive a round trip: `log_and_apply` writes a new MANIFEST (snapshot +
//! edit), and recovering that gives the same Version, counters and
//! compaction pointers.

#![no_main]

use std::path::Path;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use lsmkit_base::comparator::BytewiseComparator;
use lsmkit_base::filename::manifest_file_name;
use lsmkit_base::fs::{write_file, FileSystem, MemFs, WriteMode};
use lsmkit_base::key::InternalKeyComparator;
use lsmkit_version::current_file::set_current_file;
use lsmkit_version::{VersionEdit, VersionSet, VersionSetOptions};
use lsmkit_wal::LogWriter;

const DIR: &str = "db";

fn open(fs: &Arc<dyn FileSystem>) -> VersionSet {
    let icmp = InternalKeyComparator::new(BytewiseComparator::shared());
    VersionSet::new(DIR, fs.clone(), icmp, VersionSetOptions::default())
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    let dir = Path::new(DIR);
    fs.create_dir_all(dir).unwrap();
    let path = manifest_file_name(dir, 1);
    if mode & 1 == 0 {
        write_file(fs.as_ref(), &path, rest, false).unwrap();
    } else {
        let mut writer = LogWriter::new(fs.create_writable(&path, WriteMode::Buffered).unwrap());
        let mut input = rest;
        while let Some((&len, tail)) = input.split_first() {
            let len = usize::from(len).min(tail.len());
            writer.add_record(&tail[..len]).unwrap();
            input = &tail[len..];
        }
        writer.close().unwrap();
    }
    set_current_file(fs.as_ref(), dir, 1).unwrap();

    let mut versions = open(&fs);
    if versions.recover().is_err() {
        return;
    }
    let mut edit = VersionEdit::new();
    versions.log_and_apply(&mut edit).expect("re-writing a recovered state");
    let mut reopened = open(&fs);
    reopened.recover().expect("recovering a MANIFEST we wrote");
    assert_eq!(*reopened.current(), *versions.current());
    assert_eq!(reopened.last_sequence(), versions.last_sequence());
    assert_eq!(reopened.log_number(), versions.log_number());
    assert_eq!(reopened.prev_log_number(), versions.prev_log_number());
    assert_eq!(reopened.compact_pointers(), versions.compact_pointers());
    assert_eq!(reopened.next_file_number(), versions.next_file_number() + 1);
});
