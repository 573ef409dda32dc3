//! Golden bytes: the log writer and `WriteBatch` produce exactly the bytes of
//! docs/format.md §3.4 and §4, which were taken from files LevelDB 1.23 wrote.

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

mod common;

use std::path::Path;

use lsmkit_base::fs::{read_file_to_vec, FileSystem, MemFs, WriteMode};
use lsmkit_wal::log_format::{RecordType, BLOCK_SIZE, HEADER_SIZE};
use lsmkit_wal::{LogWriter, RecoveryMode, WriteBatch};

use common::{read_log, record};

#[test]
fn single_put_log_matches_format_md() {
    let mut batch = WriteBatch::new();
    batch.set_sequence(1);
    batch.put(b"k", b"v");
    assert_eq!(batch.data(), [1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0x6b, 1, 0x76]);
    let log = common::log_bytes(&[batch.data().to_vec()]);
    let expected: Vec<u8> = [
        &[0xe7, 0x5a, 0x4d, 0x00, 0x11, 0x00, 0x01][..],
        &[1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0x6b, 1, 0x76],
    ]
    .concat();
    assert_eq!(log, expected);
}

#[test]
fn three_op_batch_matches_format_md() {
    let mut batch = WriteBatch::new();
    batch.put(b"a", b"1");
    batch.delete(b"b");
    batch.put(b"c", b"");
    batch.set_sequence(302);
    let expected: &[u8] = &[
        0x2e, 0x01, 0, 0, 0, 0, 0, 0, 0x03, 0, 0, 0, 0x01, 0x01, 0x61, 0x01, 0x31, 0x00, 0x01, 0x62, 0x01,
        0x01, 0x63, 0x00,
    ];
    assert_eq!(batch.data(), expected);
    assert_eq!(batch.count(), 3);
    assert_eq!(batch.sequence(), 302);
}

/// Writes `records` through a writer that believes the file already holds
/// `existing_len` bytes, and returns the bytes it appended.
fn write_at_offset(existing_len: u64, records: &[Vec<u8>]) -> Vec<u8> {
    let fs = MemFs::new();
    let path = Path::new("log");
    let mut writer =
        LogWriter::new_with_offset(fs.create_writable(path, WriteMode::Buffered).unwrap(), existing_len);
    for r in records {
        writer.add_record(r).unwrap();
    }
    writer.close().unwrap();
    read_file_to_vec(&fs, path).unwrap()
}

fn header_at(bytes: &[u8], at: usize) -> (u16, u8) {
    (u16::from_le_bytes([bytes[at + 4], bytes[at + 5]]), bytes[at + 6])
}

#[test]
fn fragmentation_matches_format_md() {
    // A 70 020-byte batch starting at file offset 39368: FIRST (26161) ending
    // at 65536, MIDDLE (32761) at 65536, LAST (11098) at 98304.
    let start = 39368u64;
    let bytes = write_at_offset(start, &[record(1, 70_020)]);
    let rel = |offset: u64| (offset - start) as usize;
    assert_eq!(header_at(&bytes, rel(39368)), (26161, RecordType::First as u8));
    assert_eq!(header_at(&bytes, rel(65536)), (32761, RecordType::Middle as u8));
    assert_eq!(header_at(&bytes, rel(98304)), (11098, RecordType::Last as u8));
    assert_eq!(bytes.len(), rel(98304) + HEADER_SIZE + 11098);
}

#[test]
fn trailer_is_zero_filled() {
    // The first record ends at 32765: three zero bytes, next header at 32768.
    let first = record(2, 32765 - HEADER_SIZE);
    let second = record(3, 10);
    let bytes = common::log_bytes(&[first.clone(), second.clone()]);
    assert_eq!(&bytes[32765..32768], &[0, 0, 0]);
    assert_eq!(header_at(&bytes, 32768), (10, RecordType::Full as u8));
    assert_eq!(bytes.len(), 32768 + HEADER_SIZE + 10);
    let outcome = read_log(&bytes, RecoveryMode::AbsoluteConsistency);
    assert_eq!(outcome.records, vec![first, second]);
}

#[test]
fn exactly_seven_bytes_left_gives_empty_first_record() {
    let first = record(4, 32761 - HEADER_SIZE);
    let second = record(5, 100);
    let bytes = common::log_bytes(&[first.clone(), second.clone()]);
    assert_eq!(&bytes[32761..32768], &[0x64, 0x51, 0xd0, 0xe9, 0x00, 0x00, 0x02]);
    assert_eq!(header_at(&bytes, 32768), (100, RecordType::Last as u8));
    assert_eq!(bytes.len(), BLOCK_SIZE + HEADER_SIZE + 100);
    let outcome = read_log(&bytes, RecoveryMode::AbsoluteConsistency);
    assert_eq!(outcome.records, vec![first, second]);
    assert!(outcome.dropped.is_empty());
}

#[test]
fn empty_record_is_one_full_header() {
    let bytes = common::log_bytes(&[Vec::new()]);
    // masked crc32c of the type byte 01, length 0, FULL.
    assert_eq!(bytes.len(), HEADER_SIZE);
    assert_eq!(header_at(&bytes, 0), (0, RecordType::Full as u8));
    let outcome = read_log(&bytes, RecoveryMode::AbsoluteConsistency);
    assert_eq!(outcome.records, vec![Vec::<u8>::new()]);
}
