//! Round trips through `LogWriter` and `LogReader`: random record sizes
//! (empty, at block boundaries, larger than a block, several MiB), every
//! leftover at the end of a block, and tail following of a file that grows
//! while it is read.

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

mod common;

use std::path::Path;

use lsmkit_base::fs::{FileSystem, MemFs, WriteMode};
use lsmkit_wal::log_format::{BLOCK_SIZE, HEADER_SIZE, MAX_FRAGMENT_PAYLOAD};
use lsmkit_wal::{LogReader, RecoveryMode};
use proptest::prelude::*;

use common::{log_bytes, read_log, record};

fn record_size() -> impl Strategy<Value = usize> {
    prop_oneof![
        4 => 0usize..200,
        1 => Just(0usize),
        2 => (MAX_FRAGMENT_PAYLOAD - 8)..=(BLOCK_SIZE + 8),
        1 => Just(MAX_FRAGMENT_PAYLOAD),
        1 => Just(2 * MAX_FRAGMENT_PAYLOAD),
        1 => 32_769usize..100_000,
    ]
}

fn records_strategy() -> impl Strategy<Value = Vec<Vec<u8>>> {
    proptest::collection::vec((any::<u32>(), record_size()), 0..24)
        .prop_map(|specs| specs.into_iter().map(|(seed, len)| record(seed, len)).collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn records_round_trip(records in records_strategy()) {
        let bytes = log_bytes(&records);
        let outcome = read_log(&bytes, RecoveryMode::AbsoluteConsistency);
        prop_assert!(outcome.end.is_ok());
        prop_assert!(outcome.dropped.is_empty());
        prop_assert_eq!(outcome.records, records);
    }

    /// The log grows in arbitrary pieces (cutting headers, payloads and
    /// fragmented records); a following reader reads after each piece and
    /// returns every record exactly once, reporting nothing.
    #[test]
    fn following_reader_sees_each_record_once(
        records in records_strategy(),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let bytes = log_bytes(&records);
        let mut cut_points: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
        cut_points.push(bytes.len());
        cut_points.sort_unstable();

        let fs = MemFs::new();
        let path = Path::new("growing.log");
        let mut file = fs.create_writable(path, WriteMode::Buffered).unwrap();
        let mut reader = LogReader::new(fs.open_sequential(path).unwrap(), path, RecoveryMode::AbsoluteConsistency)
            .with_follow_tail(true);
        let mut seen = Vec::new();
        let mut written = 0;
        for cut in cut_points {
            file.append(&bytes[written..cut]).unwrap();
            written = cut;
            while let Some(record) = reader.read_record().unwrap() {
                seen.push(record);
            }
            prop_assert!(reader.dropped_regions().is_empty());
        }
        // The writer is done: the end is now final, and it is clean.
        reader.set_follow_tail(false);
        prop_assert!(reader.read_record().unwrap().is_none());
        prop_assert!(reader.dropped_regions().is_empty());
        prop_assert_eq!(seen, records);
    }

    /// A fresh reader started at `resume_offset` returns exactly the records
    /// the first reader had not returned yet.
    #[test]
    fn resume_offset_continues_exactly(records in records_strategy(), take in any::<prop::sample::Index>()) {
        let bytes = log_bytes(&records);
        let fs = MemFs::new();
        let path = Path::new("log");
        lsmkit_base::fs::write_file(&fs, path, &bytes, false).unwrap();
        let taken = take.index(records.len() + 1);
        let mut first = LogReader::new(fs.open_sequential(path).unwrap(), path, RecoveryMode::AbsoluteConsistency);
        for expected in &records[..taken] {
            prop_assert_eq!(&first.read_record().unwrap().unwrap(), expected);
        }
        let mut second = LogReader::starting_at(
            fs.open_sequential(path).unwrap(), path, RecoveryMode::AbsoluteConsistency, first.resume_offset(),
        ).unwrap();
        let mut rest = Vec::new();
        while let Some(record) = second.read_record().unwrap() {
            rest.push(record);
        }
        prop_assert_eq!(rest, records[taken..].to_vec());
    }
}

#[test]
fn every_leftover_at_block_end() {
    // The first record leaves `left` bytes in block 0 (0..=10, which covers
    // the zero trailer for 1..=6 and the empty FIRST for exactly 7).
    for left in 0..=10usize {
        for second_len in [0usize, 1, 100, 40_000] {
            let records = vec![record(1, BLOCK_SIZE - HEADER_SIZE - left), record(2, second_len)];
            let bytes = log_bytes(&records);
            let outcome = read_log(&bytes, RecoveryMode::AbsoluteConsistency);
            assert_eq!(outcome.records, records, "left {left}, second {second_len}");
            assert!(outcome.dropped.is_empty());
            if (1..HEADER_SIZE).contains(&left) {
                assert!(bytes[BLOCK_SIZE - left..BLOCK_SIZE].iter().all(|&b| b == 0));
            }
        }
    }
}

#[test]
fn records_of_several_mib() {
    let records = vec![record(7, 3 << 20), Vec::new(), record(8, 5 << 20 | 123), record(9, 10)];
    let bytes = log_bytes(&records);
    let outcome = read_log(&bytes, RecoveryMode::AbsoluteConsistency);
    assert!(outcome.end.is_ok() && outcome.dropped.is_empty());
    assert_eq!(outcome.records.len(), records.len());
    assert!(outcome.records == records);
}

#[test]
fn reader_continues_after_end_without_following() {
    // Without tail following, a reader that reached the end at a record
    // boundary still returns records appended later.
    let fs = MemFs::new();
    let path = Path::new("log");
    let mut writer = lsmkit_wal::LogWriter::new(fs.create_writable(path, WriteMode::Buffered).unwrap());
    let mut reader =
        LogReader::new(fs.open_sequential(path).unwrap(), path, RecoveryMode::AbsoluteConsistency);
    writer.add_record(b"one").unwrap();
    assert_eq!(reader.read_record().unwrap().as_deref(), Some(&b"one"[..]));
    assert_eq!(reader.read_record().unwrap(), None);
    writer.add_record(b"two").unwrap();
    assert_eq!(reader.read_record().unwrap().as_deref(), Some(&b"two"[..]));
    assert_eq!(reader.last_record_offset(), (HEADER_SIZE + 3) as u64);
    assert_eq!(reader.read_record().unwrap(), None);
}
