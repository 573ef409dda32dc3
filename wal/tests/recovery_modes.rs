//! The four recovery modes on the same damaged files: a torn tail, a zeroed
//! tail, a flipped byte in the middle of the file and a bad length in the
//! middle of the file.

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

mod common;

use std::path::Path;

use lsmkit_base::Error;
use lsmkit_wal::log_format::{BLOCK_SIZE, HEADER_SIZE};
use lsmkit_wal::{DropReason, DroppedRegion, RecoveryMode};

use common::{log_bytes, read_log, record, ReadOutcome};

const RECORDS: usize = 100;

/// 100 records of 1000 bytes (about 3 blocks) and the file offset of each
/// record's first header.
fn sample_log() -> (Vec<Vec<u8>>, Vec<u8>, Vec<usize>) {
    let records: Vec<Vec<u8>> = (0..RECORDS as u32).map(|i| record(i, 1000)).collect();
    let bytes = log_bytes(&records);
    let mut offsets = Vec::new();
    let mut at = 0usize;
    for r in &records {
        if BLOCK_SIZE - at % BLOCK_SIZE < HEADER_SIZE {
            at += BLOCK_SIZE - at % BLOCK_SIZE;
        }
        offsets.push(at);
        // Payload plus one header per block the record touches.
        let mut left = r.len();
        loop {
            if BLOCK_SIZE - at % BLOCK_SIZE < HEADER_SIZE {
                at += BLOCK_SIZE - at % BLOCK_SIZE;
            }
            let n = left.min(BLOCK_SIZE - at % BLOCK_SIZE - HEADER_SIZE);
            at += HEADER_SIZE + n;
            left -= n;
            if left == 0 {
                break;
            }
        }
    }
    assert_eq!(at, bytes.len());
    (records, bytes, offsets)
}

/// The index of a record lying wholly inside block 1, well after its start.
fn victim(offsets: &[usize]) -> usize {
    (0..RECORDS - 1)
        .find(|&i| offsets[i] > BLOCK_SIZE + 5000 && offsets[i + 1] < 2 * BLOCK_SIZE - HEADER_SIZE)
        .unwrap()
}

fn region(offset: usize, bytes: usize, reason: DropReason) -> DroppedRegion {
    DroppedRegion { offset: offset as u64, bytes: bytes as u64, reason }
}

fn assert_corruption_at(outcome: &ReadOutcome, expected_offset: usize) {
    match &outcome.end {
        Err(Error::Corruption { file, offset, .. }) => {
            assert_eq!(file.as_deref(), Some(Path::new("log")));
            assert_eq!(*offset, Some(expected_offset as u64));
        }
        other => panic!("expected a corruption error, got {other:?}"),
    }
}

#[test]
fn torn_tail() {
    let (records, bytes, offsets) = sample_log();
    let cut = bytes.len() - 500;
    let torn = &bytes[..cut];
    let last = offsets[RECORDS - 1];
    let expected_drop = vec![region(last, cut - last, DropReason::TruncatedRecordAtEnd)];
    for mode in RecoveryMode::ALL {
        let outcome = read_log(torn, mode);
        assert_eq!(outcome.records, records[..RECORDS - 1], "{mode:?}");
        assert_eq!(outcome.dropped, expected_drop, "{mode:?}");
        assert_eq!(outcome.reported, expected_drop, "{mode:?}");
        if mode == RecoveryMode::AbsoluteConsistency {
            assert_corruption_at(&outcome, last);
        } else {
            assert!(outcome.end.is_ok(), "{mode:?}: {:?}", outcome.end);
        }
    }
}

#[test]
fn zeroed_tail() {
    let (records, bytes, _) = sample_log();
    // Zeros after the last record, longer than a block (preallocation).
    let mut zeroed = bytes.clone();
    zeroed.resize(bytes.len() + 40_000, 0);
    for mode in RecoveryMode::ALL {
        let outcome = read_log(&zeroed, mode);
        assert_eq!(outcome.records, records, "{mode:?}");
        assert!(outcome.dropped.is_empty(), "{mode:?}");
        assert!(outcome.end.is_ok(), "{mode:?}");
    }
}

/// Checks the four outcomes for damage at record `v` that drops the rest of
/// block 1 with `reason`.
fn check_mid_file_damage(
    damaged: &[u8],
    records: &[Vec<u8>],
    offsets: &[usize],
    v: usize,
    reason: DropReason,
) {
    let bad_offset = offsets[v];
    let block_drop = region(bad_offset, 2 * BLOCK_SIZE - bad_offset, reason);
    // Records whose first header lies in block 1 after the damage are lost;
    // the one starting in block 1 and ending in block 2 leaves an orphan.
    let first_after = (v..RECORDS).find(|&i| offsets[i] >= 2 * BLOCK_SIZE).unwrap();
    let orphan_end = offsets[first_after];

    let outcome = read_log(damaged, RecoveryMode::SkipAnyCorruptedRecords);
    let expected: Vec<Vec<u8>> = records[..v].iter().chain(&records[first_after..]).cloned().collect();
    assert_eq!(outcome.records, expected);
    assert!(orphan_end > 2 * BLOCK_SIZE, "the sample log has a record across blocks 1 and 2");
    let orphan =
        region(2 * BLOCK_SIZE, orphan_end - 2 * BLOCK_SIZE, DropReason::MissingStartOfFragmentedRecord);
    assert_eq!(outcome.dropped, vec![block_drop.clone(), orphan]);
    assert!(outcome.end.is_ok());

    let outcome = read_log(damaged, RecoveryMode::PointInTimeRecovery);
    assert_eq!(outcome.records, records[..v]);
    let rest = region(2 * BLOCK_SIZE, damaged.len() - 2 * BLOCK_SIZE, DropReason::IgnoredAfterCorruption);
    assert_eq!(outcome.dropped, vec![block_drop.clone(), rest]);
    assert_eq!(outcome.reported, outcome.dropped);
    assert!(outcome.end.is_ok());

    for mode in [RecoveryMode::AbsoluteConsistency, RecoveryMode::TolerateCorruptedTailRecords] {
        let outcome = read_log(damaged, mode);
        assert_eq!(outcome.records, records[..v], "{mode:?}");
        assert_eq!(outcome.dropped[0], block_drop, "{mode:?}");
        assert_corruption_at(&outcome, bad_offset);
    }
}

#[test]
fn flipped_byte_mid_file() {
    let (records, bytes, offsets) = sample_log();
    let v = victim(&offsets);
    let mut damaged = bytes.clone();
    damaged[offsets[v] + HEADER_SIZE + 10] ^= 0x80;
    check_mid_file_damage(&damaged, &records, &offsets, v, DropReason::ChecksumMismatch);
}

#[test]
fn bad_length_mid_file() {
    let (records, bytes, offsets) = sample_log();
    let v = victim(&offsets);
    let mut damaged = bytes.clone();
    damaged[offsets[v] + 4..offsets[v] + 6].copy_from_slice(&0xffffu16.to_le_bytes());
    check_mid_file_damage(&damaged, &records, &offsets, v, DropReason::BadRecordLength);
}

#[test]
fn damage_in_last_record_is_tolerated_as_tail() {
    // A flipped byte in the very last record: nothing valid follows, so
    // TolerateCorruptedTailRecords accepts it while AbsoluteConsistency fails.
    let (records, bytes, offsets) = sample_log();
    let last = offsets[RECORDS - 1];
    let mut damaged = bytes.clone();
    let at = damaged.len() - 3;
    damaged[at] ^= 0x01;
    let tolerate = read_log(&damaged, RecoveryMode::TolerateCorruptedTailRecords);
    assert_eq!(tolerate.records, records[..RECORDS - 1]);
    assert!(tolerate.end.is_ok());
    assert_eq!(tolerate.dropped, vec![region(last, damaged.len() - last, DropReason::ChecksumMismatch)]);
    let absolute = read_log(&damaged, RecoveryMode::AbsoluteConsistency);
    assert!(absolute.end.is_err());
    assert_eq!(absolute.records, records[..RECORDS - 1]);
}
