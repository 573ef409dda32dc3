//! `WalWriter`'s sync preallocation (zeros written ahead of the log so that
//! synced appends need no size change): the zero tail is read as the clean
//! end of the log in every recovery mode, a clean close removes it, writers
//! that never sync (or sync big amounts) do not preallocate, and a power cut
//! (`FaultFs::crash`) keeps every synced record and reports nothing.

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

mod common;

use std::path::Path;
use std::sync::Arc;

use lsmkit_base::fs::{read_file_to_vec, FaultFs, FaultOp, FaultRule, FileSystem, MemFs, StdFs};
use lsmkit_wal::log_format::BLOCK_SIZE;
use lsmkit_wal::{LogReader, RecoveryMode, SyncPolicy, SyncPreallocation, WalIoMode, WalOptions, WalWriter};
use proptest::prelude::*;

use common::record;

const LOG: &str = "000007.log";
const CHUNK: u64 = 64 << 10;

fn options(sync_policy: SyncPolicy) -> WalOptions {
    WalOptions { sync_policy, io_mode: WalIoMode::Buffered }
}

/// Every record of the log at `path` read in `mode`, failing on any
/// dropped region or error.
fn read_clean(fs: &dyn FileSystem, path: &Path, mode: RecoveryMode) -> Vec<Vec<u8>> {
    let mut reader = LogReader::new(fs.open_sequential(path).unwrap(), path, mode);
    let mut records = Vec::new();
    while let Some(r) = reader.read_record().unwrap_or_else(|e| panic!("{mode:?}: {e}")) {
        records.push(r);
    }
    assert_eq!(reader.dropped_regions(), &[], "{mode:?}");
    records
}

fn mixed_records() -> Vec<Vec<u8>> {
    (0..300u32).map(|i| record(i, [100, 7, 0, 1000, 32_761, 250][(i % 6) as usize])).collect()
}

#[test]
fn synced_log_has_a_zero_tail_that_readers_skip_and_close_removes() {
    let dir = tempfile::tempdir().unwrap();
    let fs = StdFs::new();
    let path = dir.path().join(LOG);
    let plain_path = dir.path().join("plain.log");
    let mut wal = WalWriter::create(&fs, &path, options(SyncPolicy::EveryWrite)).unwrap();
    wal.set_sync_preallocation(SyncPreallocation::Chunk(CHUNK));
    let mut plain = WalWriter::create(&fs, &plain_path, options(SyncPolicy::EveryWrite)).unwrap();
    plain.set_sync_preallocation(SyncPreallocation::Off);
    let records = mixed_records();
    let mut chunks_seen = std::collections::BTreeSet::new();
    for (i, r) in records.iter().enumerate() {
        wal.add_record(r).unwrap();
        plain.add_record(r).unwrap();
        chunks_seen.insert(wal.allocated_len());
        if i % 50 == 0 {
            // The file on disk is the log followed by zeros up to a 32 KiB
            // block boundary, and reads as exactly the records so far.
            let on_disk = std::fs::read(&path).unwrap();
            assert_eq!(on_disk.len() as u64, wal.allocated_len());
            assert!(wal.allocated_len() > wal.file_len());
            assert_eq!(wal.allocated_len() % BLOCK_SIZE as u64, 0);
            assert!(on_disk[wal.file_len() as usize..].iter().all(|&b| b == 0));
            for mode in RecoveryMode::ALL {
                assert_eq!(read_clean(&fs, &path, mode), records[..=i], "{mode:?} after {i}");
            }
        }
    }
    assert!(chunks_seen.len() > 10, "the log grew through many chunks: {chunks_seen:?}");
    assert_eq!(plain.allocated_len(), plain.file_len());
    assert_eq!(std::fs::read(&plain_path).unwrap().len() as u64, plain.file_len());

    wal.close().unwrap();
    plain.close().unwrap();
    // Clean close: the same bytes as without preallocation.
    assert_eq!(std::fs::read(&path).unwrap(), std::fs::read(&plain_path).unwrap());
}

#[test]
fn writers_that_do_not_sync_small_amounts_do_not_preallocate() {
    let fs = MemFs::new();
    // Never synced: no zeros, ever.
    let path = Path::new("os.log");
    let mut wal = WalWriter::create(&fs, path, options(SyncPolicy::Os)).unwrap();
    for i in 0..200 {
        wal.add_record(&record(i, 3000)).unwrap();
    }
    assert_eq!(fs.file_size(path).unwrap(), wal.file_len());
    assert_eq!(wal.allocated_len(), wal.file_len());
    // Syncs of more than a quarter of a chunk write no zeros either.
    let path = Path::new("big.log");
    let mut wal = WalWriter::create(&fs, path, options(SyncPolicy::EveryBytes(CHUNK / 2))).unwrap();
    wal.set_sync_preallocation(SyncPreallocation::Chunk(CHUNK));
    for i in 0..200 {
        wal.add_record(&record(i, 3000)).unwrap();
        assert_eq!(fs.file_size(path).unwrap(), wal.file_len(), "record {i}");
    }
    // Small syncs do.
    let path = Path::new("small.log");
    let mut wal = WalWriter::create(&fs, path, options(SyncPolicy::EveryBytes(CHUNK / 8))).unwrap();
    wal.set_sync_preallocation(SyncPreallocation::Chunk(CHUNK));
    for i in 0..200 {
        wal.add_record(&record(i, 3000)).unwrap();
    }
    assert!(fs.file_size(path).unwrap() > wal.file_len());
    // Mmap mode grows its own chunks and leaves this off.
    let mmap = WalOptions { sync_policy: SyncPolicy::EveryWrite, io_mode: WalIoMode::mmap() };
    let wal = WalWriter::create(&fs, Path::new("mmap.log"), mmap).unwrap();
    assert_eq!(wal.sync_preallocation(), SyncPreallocation::Off);
}

#[test]
fn appendable_file_falls_back_to_plain_syncs() {
    let fs = MemFs::new();
    let path = Path::new(LOG);
    let mut first = WalWriter::create(&fs, path, options(SyncPolicy::EveryWrite)).unwrap();
    first.add_record(b"before").unwrap();
    first.close().unwrap();
    let mut wal = WalWriter::from_file(fs.open_appendable(path).unwrap(), path, SyncPolicy::EveryWrite);
    assert_eq!(wal.sync_preallocation(), SyncPreallocation::PageTail);
    wal.add_record(b"after").unwrap();
    assert_eq!(wal.sync_preallocation(), SyncPreallocation::Off, "an O_APPEND file cannot preallocate");
    assert_eq!(fs.file_size(path).unwrap(), wal.file_len());
    wal.add_record(b"again").unwrap();
    wal.close().unwrap();
    assert_eq!(
        read_clean(&fs, path, RecoveryMode::AbsoluteConsistency),
        [&b"before"[..], b"after", b"again"]
    );
}

#[test]
fn failed_preallocation_is_not_a_failed_sync() {
    let fs = FaultFs::new(Arc::new(MemFs::new()));
    fs.add_rule(FaultRule::new(std::io::ErrorKind::StorageFull).on_ops([FaultOp::Preallocate]));
    let path = Path::new(LOG);
    let mut wal = WalWriter::create(&fs, path, options(SyncPolicy::EveryWrite)).unwrap();
    wal.add_record(b"durable anyway").unwrap();
    assert_eq!(wal.sync_preallocation(), SyncPreallocation::Off, "turned off after the failure");
    assert_eq!(wal.synced_len(), wal.file_len());
    fs.crash().unwrap();
    assert_eq!(read_clean(&fs, path, RecoveryMode::AbsoluteConsistency), [&b"durable anyway"[..]]);
}

/// Writes `records` (syncing after those flagged), cuts the power, and
/// checks that the log holds every record up to the last synced one, read
/// cleanly in every recovery mode.
fn crash_keeps_synced_records(fs: &FaultFs, dir: &Path, records: &[(Vec<u8>, bool)]) -> bool {
    fs.create_dir_all(dir).unwrap();
    let path = dir.join(LOG);
    let mut wal = WalWriter::create(fs, &path, options(SyncPolicy::Os)).unwrap();
    fs.sync_dir(dir).unwrap();
    wal.set_sync_preallocation(SyncPreallocation::Chunk(CHUNK));
    let mut synced = 0;
    for (i, (r, sync)) in records.iter().enumerate() {
        wal.add_record(r).unwrap();
        if *sync {
            wal.sync().unwrap();
            synced = i + 1;
        }
    }
    let had_zero_tail = wal.allocated_len() > wal.synced_len();
    fs.crash().unwrap();
    let expected: Vec<Vec<u8>> = records[..synced].iter().map(|(r, _)| r.clone()).collect();
    for mode in RecoveryMode::ALL {
        assert_eq!(read_clean(fs, &path, mode), expected, "{mode:?}");
    }
    had_zero_tail
}

#[test]
fn power_cut_keeps_every_synced_record_of_a_preallocated_log() {
    let tempdir = tempfile::tempdir().unwrap();
    // (Fewer cuts on real files: every sync is an fdatasync.)
    let setups: [(FaultFs, &Path, &[usize]); 2] = [
        (FaultFs::new(Arc::new(MemFs::new())), Path::new("/db"), &[1, 2, 37, 150, 599, 600, 1200]),
        (FaultFs::new(Arc::new(StdFs::new())), tempdir.path(), &[1, 37, 600]),
    ];
    for (fs, dir, cuts) in &setups {
        // Cut after every few records, through several chunks: the records
        // after the last sync are lost, the zeros stay and end the log.
        for &cut in *cuts {
            let records: Vec<(Vec<u8>, bool)> = (0..cut)
                .map(|i| (record(i as u32, 100 + (i % 7) * 300), i % 3 != 2 || i + 1 == cut))
                .collect();
            assert!(crash_keeps_synced_records(fs, dir, &records), "cut {cut}: no zero tail exercised");
            // Unsynced records after the last sync read as zeros again.
            let mut with_tail = records.clone();
            with_tail.push((record(9999, 5000), false));
            with_tail.push((record(9998, 50), false));
            assert!(crash_keeps_synced_records(fs, dir, &with_tail));
        }
    }
}

#[test]
fn power_cut_after_a_clean_close_may_bring_the_zeros_back() {
    // The truncation at close is not synced, so the FaultFs model puts the
    // durable zeros back; the log still reads cleanly.
    let fs = FaultFs::new(Arc::new(MemFs::new()));
    let path = Path::new(LOG);
    let mut wal = WalWriter::create(&fs, path, options(SyncPolicy::EveryWrite)).unwrap();
    wal.set_sync_preallocation(SyncPreallocation::Chunk(CHUNK));
    wal.add_record(b"one").unwrap();
    wal.add_record(b"two").unwrap();
    let allocated = wal.allocated_len();
    wal.close().unwrap();
    assert_eq!(fs.file_size(path).unwrap(), wal.file_len());
    fs.crash().unwrap();
    assert_eq!(fs.file_size(path).unwrap(), allocated);
    for mode in RecoveryMode::ALL {
        assert_eq!(read_clean(&fs, path, mode), [&b"one"[..], b"two"]);
    }
    assert!(read_file_to_vec(&fs, path).unwrap()[wal.file_len() as usize..].iter().all(|&b| b == 0));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Random record sizes and sync points, a power cut at the end: exactly
    /// the records up to the last sync come back, with nothing reported.
    #[test]
    fn power_cut_loses_no_synced_record(
        steps in prop::collection::vec((0usize..40_000, any::<bool>()), 1..60),
    ) {
        let fs = FaultFs::new(Arc::new(MemFs::new()));
        let records: Vec<(Vec<u8>, bool)> = steps
            .iter()
            .enumerate()
            .map(|(i, &(len, sync))| (record(i as u32, if i % 4 == 0 { len } else { len % 500 }), sync))
            .collect();
        crash_keeps_synced_records(&fs, Path::new("/db"), &records);
    }
}

#[test]
fn half_written_last_record_before_the_zeros_is_tolerated_at_the_end() {
    // A real power cut during the sync of a record may leave part of it on
    // disk with zeros after it. Every synced record is still read, and all
    // modes but absolute consistency end the log there without an error.
    let fs = MemFs::new();
    let path = Path::new(LOG);
    let mut wal = WalWriter::create(&fs, path, options(SyncPolicy::Os)).unwrap();
    wal.set_sync_preallocation(SyncPreallocation::Chunk(CHUNK));
    let synced: Vec<Vec<u8>> = (0..20).map(|i| record(i, 300)).collect();
    for r in &synced {
        wal.add_record(r).unwrap();
        wal.sync().unwrap();
    }
    let torn_start = wal.file_len() as usize;
    wal.add_record(&record(99, 2000)).unwrap();
    let mut bytes = read_file_to_vec(&fs, path).unwrap();
    assert!(bytes.len() as u64 > wal.file_len(), "zeros follow the records");
    // Keep the header and the first 1000 payload bytes of the last record.
    bytes[torn_start + 7 + 1000..].fill(0);
    for mode in RecoveryMode::ALL {
        let outcome = common::read_log(&bytes, mode);
        assert_eq!(outcome.records, synced, "{mode:?}");
        if mode == RecoveryMode::AbsoluteConsistency {
            assert!(outcome.end.is_err());
        } else {
            assert!(outcome.end.is_ok(), "{mode:?}: {:?}", outcome.end);
        }
    }
}

#[test]
fn page_tail_syncs_fill_only_the_page_the_log_ends_in() {
    let dir = tempfile::tempdir().unwrap();
    let fs = StdFs::new();
    let path = dir.path().join(LOG);
    // The default.
    let mut wal = WalWriter::create(&fs, &path, options(SyncPolicy::EveryWrite)).unwrap();
    assert_eq!(wal.sync_preallocation(), SyncPreallocation::PageTail);
    let records = mixed_records();
    let mut tails_seen = 0;
    for (i, r) in records.iter().enumerate() {
        wal.add_record(r).unwrap();
        let on_disk = std::fs::read(&path).unwrap();
        let len = wal.file_len();
        // Exactly the page the log ends in is filled, never a page more.
        assert_eq!(on_disk.len() as u64, len.div_ceil(4096) * 4096, "record {i}");
        assert_eq!(wal.allocated_len(), on_disk.len() as u64);
        assert!(on_disk[len as usize..].iter().all(|&b| b == 0));
        tails_seen += usize::from(on_disk.len() as u64 > len);
        if i % 50 == 0 {
            for mode in [RecoveryMode::AbsoluteConsistency, RecoveryMode::TolerateCorruptedTailRecords] {
                assert_eq!(read_clean(&fs, &path, mode), records[..=i], "{mode:?} after {i}");
            }
        }
    }
    assert!(tails_seen > records.len() / 2, "most syncs left a zero tail: {tails_seen}");
    wal.close().unwrap();
    assert_eq!(std::fs::read(&path).unwrap().len() as u64, wal.file_len(), "close cuts the tail off");
}

#[test]
fn a_continued_log_starts_a_fresh_block_after_a_page_tail_left_by_a_crash() {
    let fs = MemFs::new();
    let path = Path::new(LOG);
    let mut wal = WalWriter::create(&fs, path, options(SyncPolicy::EveryWrite)).unwrap();
    wal.add_record(b"first").unwrap();
    wal.add_record(&record(1, 5000)).unwrap();
    // The crash: the file as it is now, zero tail up to the page boundary
    // included (a dropped writer would cut the tail off, as a close does).
    let crashed = read_file_to_vec(&fs, path).unwrap();
    let left = crashed.len() as u64;
    assert!(left > wal.file_len() && left % 4096 == 0 && left % BLOCK_SIZE as u64 != 0);
    drop(wal);
    lsmkit_base::fs::write_file(&fs, path, &crashed, false).unwrap();

    let mut continued = WalWriter::from_file(fs.open_appendable(path).unwrap(), path, SyncPolicy::EveryWrite);
    continued.add_record(b"after the crash").unwrap();
    assert_eq!(continued.file_len(), BLOCK_SIZE as u64 + 7 + 15, "the new record opens the second block");
    continued.close().unwrap();
    for mode in [RecoveryMode::AbsoluteConsistency, RecoveryMode::TolerateCorruptedTailRecords] {
        assert_eq!(
            read_clean(&fs, path, mode),
            [b"first".to_vec(), record(1, 5000), b"after the crash".to_vec()]
        );
    }
}
