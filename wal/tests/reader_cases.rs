//! Every damaged-record case of docs/format.md §3.3, built physical record by
//! physical record, read with LevelDB's behaviour (`SkipAnyCorruptedRecords`)
//! and, where the modes differ, with the others.

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

mod common;

use lsmkit_wal::log_format::{encode_header, record_checksum, RecordType, BLOCK_SIZE, HEADER_SIZE};
use lsmkit_wal::{DropReason, DroppedRegion, RecoveryMode};

use common::{read_log, record};

const SKIP: RecoveryMode = RecoveryMode::SkipAnyCorruptedRecords;

/// One physical record.
fn phys(record_type: RecordType, payload: &[u8]) -> Vec<u8> {
    [&encode_header(record_type, payload)[..], payload].concat()
}

/// A physical record with an arbitrary type byte and a correct checksum.
fn phys_raw(type_byte: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = record_checksum(type_byte, payload).to_le_bytes().to_vec();
    out.extend_from_slice(&(payload.len() as u16).to_le_bytes());
    out.push(type_byte);
    out.extend_from_slice(payload);
    out
}

fn region(offset: usize, bytes: usize, reason: DropReason) -> DroppedRegion {
    DroppedRegion { offset: offset as u64, bytes: bytes as u64, reason }
}

#[test]
fn checksum_mismatch_drops_rest_of_block() {
    let a = phys(RecordType::Full, b"alpha");
    let mut b = phys(RecordType::Full, b"bravo");
    b[HEADER_SIZE + 1] ^= 0x40;
    let c = phys(RecordType::Full, b"charlie");
    let mut log = [a.clone(), b.clone(), c].concat();
    // Pad block 0 with zeros and put a good record in block 1.
    log.resize(BLOCK_SIZE, 0);
    log.extend(phys(RecordType::Full, b"delta"));
    let outcome = read_log(&log, SKIP);
    assert_eq!(outcome.records, vec![b"alpha".to_vec(), b"delta".to_vec()]);
    // "charlie" is lost with the rest of the block, as in LevelDB.
    assert_eq!(outcome.dropped, vec![region(a.len(), BLOCK_SIZE - a.len(), DropReason::ChecksumMismatch)]);
    assert_eq!(outcome.reported, outcome.dropped);
    assert!(outcome.end.is_ok());
}

#[test]
fn bad_record_length_drops_rest_of_block() {
    let a = phys(RecordType::Full, b"alpha");
    let mut b = phys(RecordType::Full, b"bravo");
    b[4..6].copy_from_slice(&40000u16.to_le_bytes());
    let log = [a.clone(), b.clone(), phys(RecordType::Full, b"charlie")].concat();
    let outcome = read_log(&log, SKIP);
    assert_eq!(outcome.records, vec![b"alpha".to_vec()]);
    assert_eq!(outcome.dropped, vec![region(a.len(), log.len() - a.len(), DropReason::BadRecordLength)]);
}

#[test]
fn wrong_length_inside_block_is_a_checksum_mismatch() {
    let a = phys(RecordType::Full, b"alpha");
    let mut b = phys(RecordType::Full, b"bravo");
    b[4] += 3; // now covers part of the next record
    let log = [a.clone(), b, phys(RecordType::Full, b"charlie")].concat();
    let outcome = read_log(&log, SKIP);
    assert_eq!(outcome.records, vec![b"alpha".to_vec()]);
    assert_eq!(outcome.dropped, vec![region(a.len(), log.len() - a.len(), DropReason::ChecksumMismatch)]);
}

#[test]
fn unknown_record_type_is_dropped_alone() {
    let a = phys(RecordType::Full, b"alpha");
    let odd = phys_raw(7, b"seven");
    let zero_type = phys_raw(0, b"zero with length");
    let log = [a.clone(), odd.clone(), zero_type.clone(), phys(RecordType::Full, b"charlie")].concat();
    let outcome = read_log(&log, SKIP);
    assert_eq!(outcome.records, vec![b"alpha".to_vec(), b"charlie".to_vec()]);
    assert_eq!(
        outcome.dropped,
        vec![
            region(a.len(), odd.len(), DropReason::UnknownRecordType(7)),
            region(a.len() + odd.len(), zero_type.len(), DropReason::UnknownRecordType(0)),
        ]
    );
    assert_eq!(outcome.dropped[0].reason.to_string(), "unknown record type 7");
}

#[test]
fn unknown_type_inside_fragmented_record_drops_both() {
    let first = phys(RecordType::First, b"part one");
    let odd = phys_raw(9, b"nine");
    let log = [first.clone(), odd.clone(), phys(RecordType::Full, b"after")].concat();
    let outcome = read_log(&log, SKIP);
    assert_eq!(outcome.records, vec![b"after".to_vec()]);
    assert_eq!(outcome.dropped, vec![region(0, first.len() + odd.len(), DropReason::UnknownRecordType(9))]);
}

#[test]
fn partial_record_without_end() {
    let first = phys(RecordType::First, b"start");
    let middle = phys(RecordType::Middle, b"more");
    let full = phys(RecordType::Full, b"whole");
    let first2 = phys(RecordType::First, b"again");
    let last = phys(RecordType::Last, b"end");
    let log = [first.clone(), middle.clone(), full.clone(), first2.clone(), first.clone(), last].concat();
    let outcome = read_log(&log, SKIP);
    assert_eq!(outcome.records, vec![b"whole".to_vec(), b"startend".to_vec()]);
    let second_first = first.len() + middle.len() + full.len();
    assert_eq!(
        outcome.dropped,
        vec![
            region(0, first.len() + middle.len(), DropReason::PartialRecordWithoutEnd),
            region(second_first, first2.len(), DropReason::PartialRecordWithoutEnd),
        ]
    );
}

#[test]
fn empty_partial_record_is_dropped_silently() {
    // An empty FIRST followed by a FULL: the trace of an old writer bug,
    // which LevelDB skips without a report.
    let log = [phys(RecordType::First, b""), phys(RecordType::Full, b"whole")].concat();
    for mode in RecoveryMode::ALL {
        let outcome = read_log(&log, mode);
        assert_eq!(outcome.records, vec![b"whole".to_vec()], "{mode:?}");
        assert!(outcome.dropped.is_empty(), "{mode:?}");
        assert!(outcome.end.is_ok());
    }
}

#[test]
fn missing_start_of_fragmented_record() {
    let middle = phys(RecordType::Middle, b"orphan");
    let last = phys(RecordType::Last, b"orphan end");
    let log = [middle.clone(), last.clone(), phys(RecordType::Full, b"ok")].concat();
    let outcome = read_log(&log, SKIP);
    assert_eq!(outcome.records, vec![b"ok".to_vec()]);
    assert_eq!(
        outcome.dropped,
        vec![
            region(0, middle.len(), DropReason::MissingStartOfFragmentedRecord),
            region(middle.len(), last.len(), DropReason::MissingStartOfFragmentedRecord),
        ]
    );
}

#[test]
fn error_in_middle_of_record() {
    let first = phys(RecordType::First, b"start");
    let mut middle = phys(RecordType::Middle, b"damaged");
    middle[0] ^= 1;
    let mut log = [first.clone(), middle].concat();
    log.resize(BLOCK_SIZE, 0);
    log.extend(phys(RecordType::Full, b"next block"));
    let outcome = read_log(&log, SKIP);
    assert_eq!(outcome.records, vec![b"next block".to_vec()]);
    assert_eq!(
        outcome.dropped,
        vec![
            region(0, first.len(), DropReason::ErrorInMiddleOfRecord),
            region(first.len(), BLOCK_SIZE - first.len(), DropReason::ChecksumMismatch),
        ]
    );
}

#[test]
fn fragmented_record_cut_at_end_of_file() {
    let full = phys(RecordType::Full, b"kept");
    let first = phys(RecordType::First, b"never finished");
    let log = [full.clone(), first.clone()].concat();
    for mode in RecoveryMode::ALL {
        let outcome = read_log(&log, mode);
        assert_eq!(outcome.records, vec![b"kept".to_vec()], "{mode:?}");
        assert_eq!(
            outcome.dropped,
            vec![region(full.len(), first.len(), DropReason::TruncatedRecordAtEnd)],
            "{mode:?}"
        );
        assert_eq!(outcome.end.is_err(), mode == RecoveryMode::AbsoluteConsistency, "{mode:?}");
    }
}

#[test]
fn truncated_header_at_end() {
    let full = phys(RecordType::Full, b"kept");
    let log = [full.clone(), vec![0x12, 0x34, 0x56]].concat();
    let outcome = read_log(&log, SKIP);
    assert_eq!(outcome.records, vec![b"kept".to_vec()]);
    assert_eq!(outcome.dropped, vec![region(full.len(), 3, DropReason::TruncatedRecordAtEnd)]);
    // Zero bytes at the end are not a record at all.
    let log = [full, vec![0, 0, 0]].concat();
    for mode in RecoveryMode::ALL {
        let outcome = read_log(&log, mode);
        assert_eq!(outcome.records.len(), 1);
        assert!(outcome.dropped.is_empty() && outcome.end.is_ok(), "{mode:?}");
    }
}

#[test]
fn zero_filled_rest_of_block_then_valid_record() {
    // LevelDB 1.23, docs/format.md §3.3: both records recovered, nothing reported.
    let mut log = phys(RecordType::Full, b"first");
    log.resize(BLOCK_SIZE, 0);
    log.extend(phys(RecordType::Full, b"second"));
    for mode in RecoveryMode::ALL {
        let outcome = read_log(&log, mode);
        assert_eq!(outcome.records, vec![b"first".to_vec(), b"second".to_vec()], "{mode:?}");
        assert!(outcome.dropped.is_empty(), "{mode:?}");
        assert!(outcome.end.is_ok());
    }
}

#[test]
fn fragmented_record_split_by_trailer_and_blocks() {
    // FIRST ending 3 bytes before the block end, the trailer, then MIDDLE
    // and LAST: reassembled as one record.
    let big = record(11, 3 * BLOCK_SIZE);
    let log = common::log_bytes(&[record(10, BLOCK_SIZE - 3 - 2 * HEADER_SIZE), big.clone()]);
    let outcome = read_log(&log, RecoveryMode::AbsoluteConsistency);
    assert_eq!(outcome.records[1], big);
    assert!(outcome.dropped.is_empty());
}

mod reader_state {
    use std::io;
    use std::path::Path;
    use std::sync::Arc;

    use lsmkit_base::fs::{write_file, FaultFs, FileSystem, MemFs, WriteMode};
    use lsmkit_wal::log_format::{RecordType, HEADER_SIZE};
    use lsmkit_wal::{DropReason, LogReader, RecoveryMode};

    use super::{phys, region};

    #[test]
    fn read_error_is_returned_and_can_be_retried() {
        let fs = FaultFs::new(Arc::new(MemFs::new()));
        let path = Path::new("log");
        let log = [phys(RecordType::Full, b"one"), phys(RecordType::Full, b"two")].concat();
        write_file(&fs, path, &log, false).unwrap();
        let mut reader =
            LogReader::new(fs.open_sequential(path).unwrap(), path, RecoveryMode::AbsoluteConsistency);
        fs.fail_nth(0, io::ErrorKind::Other);
        let error = reader.read_record().unwrap_err();
        assert!(!error.is_corruption(), "an I/O error is not damage: {error}");
        assert_eq!(reader.read_record().unwrap().as_deref(), Some(&b"one"[..]));
        assert_eq!(reader.read_record().unwrap().as_deref(), Some(&b"two"[..]));
        assert_eq!(reader.read_record().unwrap(), None);
        assert!(reader.dropped_regions().is_empty());
    }

    #[test]
    fn torn_tail_is_reported_once_following_stops() {
        let fs = MemFs::new();
        let path = Path::new("log");
        let full = phys(RecordType::Full, b"complete");
        let first = phys(RecordType::First, b"incomplete");
        let mut file = fs.create_writable(path, WriteMode::Buffered).unwrap();
        file.append(&full).unwrap();
        file.append(&first).unwrap();
        file.append(&[1, 2, 3]).unwrap(); // part of the next header
        let mut reader =
            LogReader::new(fs.open_sequential(path).unwrap(), path, RecoveryMode::AbsoluteConsistency)
                .with_follow_tail(true);
        assert_eq!(reader.read_record().unwrap().as_deref(), Some(&b"complete"[..]));
        assert_eq!(reader.read_record().unwrap(), None);
        assert_eq!(reader.read_record().unwrap(), None);
        assert!(reader.dropped_regions().is_empty());
        assert_eq!(reader.resume_offset(), full.len() as u64);
        reader.set_follow_tail(false);
        let error = reader.read_record().unwrap_err();
        assert!(error.is_corruption());
        assert_eq!(
            reader.dropped_regions(),
            [region(full.len(), first.len() + 3, DropReason::TruncatedRecordAtEnd)]
        );
        // Absolute consistency: the error is sticky.
        assert_eq!(reader.read_record().unwrap_err().to_string(), error.to_string());
    }

    #[test]
    fn point_in_time_recovery_stays_stopped() {
        let fs = MemFs::new();
        let path = Path::new("log");
        let good = phys(RecordType::Full, b"good");
        let mut bad = phys(RecordType::Full, b"bad!");
        bad[HEADER_SIZE] ^= 1;
        let mut file = fs.create_writable(path, WriteMode::Buffered).unwrap();
        file.append(&good).unwrap();
        file.append(&bad).unwrap();
        let mut reader =
            LogReader::new(fs.open_sequential(path).unwrap(), path, RecoveryMode::PointInTimeRecovery);
        assert_eq!(reader.read_record().unwrap().as_deref(), Some(&b"good"[..]));
        assert_eq!(reader.read_record().unwrap(), None);
        file.append(&phys(RecordType::Full, b"later")).unwrap();
        assert_eq!(reader.read_record().unwrap(), None);
        assert_eq!(reader.dropped_regions(), [region(good.len(), bad.len(), DropReason::ChecksumMismatch)]);
        assert_eq!(reader.dropped_bytes(), bad.len() as u64);
    }

    #[test]
    fn tolerated_tail_damage_becomes_an_error_when_records_follow() {
        // A following reader in TolerateCorruptedTailRecords: damage at the
        // current end is tolerated until a valid record shows up after it.
        let fs = MemFs::new();
        let path = Path::new("log");
        let mut orphan = phys(RecordType::Last, b"orphan");
        orphan[HEADER_SIZE] ^= 0x10;
        let mut file = fs.create_writable(path, WriteMode::Buffered).unwrap();
        file.append(&phys(RecordType::Full, b"ok")).unwrap();
        file.append(&orphan).unwrap();
        let mut reader = LogReader::new(
            fs.open_sequential(path).unwrap(),
            path,
            RecoveryMode::TolerateCorruptedTailRecords,
        );
        assert_eq!(reader.read_record().unwrap().as_deref(), Some(&b"ok"[..]));
        assert_eq!(reader.read_record().unwrap(), None);
        assert_eq!(reader.dropped_regions().len(), 1);
        // The damaged record dropped the rest of its (partial) block, so
        // the next valid record must start in the next block.
        let pad = lsmkit_wal::log_format::BLOCK_SIZE - (phys(RecordType::Full, b"ok").len() + orphan.len());
        file.append(&vec![0u8; pad]).unwrap();
        file.append(&phys(RecordType::Full, b"more")).unwrap();
        let error = reader.read_record().unwrap_err();
        assert!(error.is_corruption());
        assert!(error.to_string().contains("valid records follow"), "{error}");
    }
}
