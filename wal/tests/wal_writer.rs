//! `WalWriter`: sync policies checked against a simulated power cut
//! (`FaultFs::crash`), buffered and mmap I/O producing the same bytes, the
//! mmap zero tail read as the end of the log, and tail following of a log
//! being written in either mode.

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

mod common;

use std::io;
use std::path::Path;
use std::sync::Arc;

use lsmkit_base::fs::{read_file_to_vec, FaultFs, FileSystem, MemFs, StdFs};
use lsmkit_wal::{LogReader, RecoveryMode, SyncPolicy, WalIoMode, WalOptions, WalWriter};

use common::record;

const LOG: &str = "000003.log";

fn read_all(fs: &dyn FileSystem, path: &Path, mode: RecoveryMode) -> (Vec<Vec<u8>>, usize) {
    let mut reader = LogReader::new(fs.open_sequential(path).unwrap(), path, mode);
    let mut records = Vec::new();
    while let Some(r) = reader.read_record().unwrap() {
        records.push(r);
    }
    (records, reader.dropped_regions().len())
}

fn fault_fs() -> FaultFs {
    FaultFs::new(Arc::new(MemFs::new()))
}

fn options(sync_policy: SyncPolicy) -> WalOptions {
    WalOptions { sync_policy, io_mode: WalIoMode::Buffered }
}

#[test]
fn every_write_survives_a_crash() {
    let fs = fault_fs();
    let path = Path::new(LOG);
    let mut wal = WalWriter::create(&fs, path, options(SyncPolicy::EveryWrite)).unwrap();
    wal.add_record(b"first").unwrap();
    wal.add_record(b"second").unwrap();
    assert_eq!(wal.synced_len(), wal.file_len());
    fs.crash().unwrap();
    let (records, drops) = read_all(&fs, path, RecoveryMode::AbsoluteConsistency);
    assert_eq!(records, vec![b"first".to_vec(), b"second".to_vec()]);
    assert_eq!(drops, 0);
}

#[test]
fn os_policy_leaves_records_to_the_os() {
    let fs = fault_fs();
    let path = Path::new(LOG);
    let mut wal = WalWriter::create(&fs, path, options(SyncPolicy::Os)).unwrap();
    // Make the name durable, so that only the contents are at stake.
    fs.sync_dir(Path::new(".")).unwrap();
    wal.add_record(b"synced by hand").unwrap();
    wal.sync().unwrap();
    wal.add_record(b"never synced").unwrap();
    assert!(wal.synced_len() < wal.file_len());
    fs.crash().unwrap();
    let (records, drops) = read_all(&fs, path, RecoveryMode::AbsoluteConsistency);
    assert_eq!(records, vec![b"synced by hand".to_vec()]);
    assert_eq!(drops, 0);
}

#[test]
fn every_bytes_syncs_once_the_threshold_is_reached() {
    let fs = fault_fs();
    let path = Path::new(LOG);
    let mut wal = WalWriter::create(&fs, path, options(SyncPolicy::EveryBytes(100))).unwrap();
    // 40-byte payloads are 47 file bytes: the third record crosses 100.
    let records: Vec<Vec<u8>> = (0..4).map(|i| record(i, 40)).collect();
    let mut synced_after = Vec::new();
    for r in &records {
        wal.add_record(r).unwrap();
        synced_after.push(wal.synced_len());
    }
    assert_eq!(synced_after, vec![0, 0, 141, 141]);
    fs.crash().unwrap();
    let (survivors, _) = read_all(&fs, path, RecoveryMode::AbsoluteConsistency);
    assert_eq!(survivors, records[..3]);
}

#[test]
fn failed_append_poisons_the_writer() {
    let fs = fault_fs();
    let path = Path::new(LOG);
    let mut wal = WalWriter::create(&fs, path, options(SyncPolicy::Os)).unwrap();
    wal.add_record(b"ok").unwrap();
    // The next operation is the header append of the next record.
    fs.fail_nth(0, io::ErrorKind::Other);
    assert!(wal.add_record(b"lost").is_err());
    let again = wal.add_record(b"after the failure");
    assert!(again.is_err(), "a writer with a torn record must not go on");
    let (records, _) = read_all(&fs, path, RecoveryMode::AbsoluteConsistency);
    assert_eq!(records, vec![b"ok".to_vec()]);
}

fn mixed_records() -> Vec<Vec<u8>> {
    [0usize, 100, 32_761, 7, 70_000, 1024, 200_000, 3, 65_536]
        .iter()
        .enumerate()
        .map(|(i, &len)| record(i as u32, len))
        .collect()
}

#[test]
fn buffered_and_mmap_write_identical_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let fs = StdFs::new();
    let records = mixed_records();
    let buffered_path = dir.path().join("buffered.log");
    let mmap_path = dir.path().join("mmap.log");
    let mut buffered = WalWriter::create(&fs, &buffered_path, options(SyncPolicy::Os)).unwrap();
    let mmap_options =
        WalOptions { sync_policy: SyncPolicy::Os, io_mode: WalIoMode::Mmap { chunk_size: 64 << 10 } };
    let mut mmap = WalWriter::create(&fs, &mmap_path, mmap_options).unwrap();
    for r in &records {
        buffered.add_record(r).unwrap();
        mmap.add_record(r).unwrap();
    }
    buffered.sync().unwrap();
    mmap.sync().unwrap();
    assert_eq!(buffered.file_len(), mmap.file_len());
    let written = buffered.file_len() as usize;

    // While open, the mmap file is longer: its preallocated tail is zeros,
    // which every recovery mode reads as the clean end of the log.
    let open_mmap = std::fs::read(&mmap_path).unwrap();
    let buffered_bytes = std::fs::read(&buffered_path).unwrap();
    assert!(open_mmap.len() > written && open_mmap.len() % (64 << 10) == 0);
    assert_eq!(&open_mmap[..written], &buffered_bytes[..written]);
    assert!(open_mmap[written..].iter().all(|&b| b == 0));
    // The buffered file's sync filled the page it ended in with zeros.
    assert_eq!(buffered_bytes.len(), written.div_ceil(4096) * 4096);
    assert!(buffered_bytes[written..].iter().all(|&b| b == 0));
    for mode in RecoveryMode::ALL {
        let (read, drops) = read_all(&fs, &mmap_path, mode);
        assert_eq!(read, records, "{mode:?}");
        assert_eq!(drops, 0, "{mode:?}");
    }

    // A clean close cuts the mmap file to its written length.
    buffered.close().unwrap();
    mmap.close().unwrap();
    assert_eq!(std::fs::read(&mmap_path).unwrap(), std::fs::read(&buffered_path).unwrap());
}

/// Writes records in rounds while a following reader reads after each
/// round: every record exactly once, nothing reported.
fn follow_while_writing(io_mode: WalIoMode, reopen: bool) {
    let dir = tempfile::tempdir().unwrap();
    let fs: Arc<dyn FileSystem> = Arc::new(StdFs::new());
    let path = dir.path().join(LOG);
    let mut wal =
        WalWriter::create(fs.as_ref(), &path, WalOptions { sync_policy: SyncPolicy::Os, io_mode }).unwrap();
    let mut reader =
        LogReader::new(fs.open_sequential(&path).unwrap(), &path, RecoveryMode::AbsoluteConsistency)
            .with_follow_tail(true);
    if reopen {
        reader = reader.with_reopen(Arc::clone(&fs));
    }
    let records = mixed_records();
    let mut seen = Vec::new();
    for round in records.chunks(2) {
        for r in round {
            wal.add_record(r).unwrap();
        }
        let before = seen.len();
        while let Some(r) = reader.read_record().unwrap() {
            seen.push(r);
        }
        assert_eq!(seen[before..], *round);
        assert!(reader.dropped_regions().is_empty());
    }
    wal.close().unwrap();
    reader.set_follow_tail(false);
    assert_eq!(reader.read_record().unwrap(), None);
    assert!(reader.dropped_regions().is_empty());
    assert_eq!(seen, records);
}

#[test]
fn follow_buffered_log_while_writing() {
    follow_while_writing(WalIoMode::Buffered, false);
}

#[test]
fn follow_mmap_log_while_writing() {
    // The records cross several 64 KiB chunks; the reader reopens the file
    // at the zero tail each time it catches up with the writer.
    follow_while_writing(WalIoMode::Mmap { chunk_size: 64 << 10 }, true);
}

#[test]
fn crashed_mmap_log_keeps_synced_records() {
    // A process killed while writing in mmap mode leaves the zero tail on
    // disk (no clean close); the reader stops there without a report.
    let dir = tempfile::tempdir().unwrap();
    let fs = StdFs::new();
    let path = dir.path().join(LOG);
    let options =
        WalOptions { sync_policy: SyncPolicy::EveryWrite, io_mode: WalIoMode::Mmap { chunk_size: 1 << 20 } };
    let mut wal = WalWriter::create(&fs, &path, options).unwrap();
    wal.add_record(b"one").unwrap();
    wal.add_record(&record(1, 50_000)).unwrap();
    let on_disk = read_file_to_vec(&fs, &path).unwrap();
    assert_eq!(on_disk.len(), 1 << 20);
    // Copy the file as it is now, as a crash would leave it.
    let crashed = dir.path().join("crashed.log");
    std::fs::write(&crashed, &on_disk).unwrap();
    for mode in RecoveryMode::ALL {
        let (records, drops) = read_all(&fs, &crashed, mode);
        assert_eq!(records, vec![b"one".to_vec(), record(1, 50_000)], "{mode:?}");
        assert_eq!(drops, 0);
    }
    wal.close().unwrap();
}
