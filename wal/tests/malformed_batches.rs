//! Write batches that are well framed in the log (valid checksums) but
//! malformed inside: `WriteBatch::validate` names each kind of problem,
//! `WriteBatch::from_log_record` locates it, and `LogReader::reject_record`
//! hands the record to the recovery mode like any other damage.

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

use std::path::Path;

use lsmkit_base::fs::{FileSystem, MemFs, WriteMode};
use lsmkit_base::key::MAX_SEQUENCE_NUMBER;
use lsmkit_base::Error;
use lsmkit_wal::{DropReason, LogReader, LogWriter, RecoveryMode, WriteBatch};

fn batch(sequence: u64, keys: &[&[u8]]) -> Vec<u8> {
    let mut batch = WriteBatch::new();
    batch.set_sequence(sequence);
    for key in keys {
        batch.put(key, b"v");
    }
    batch.into_data()
}

fn problem(data: Vec<u8>) -> String {
    match WriteBatch::from_data(data).and_then(|batch| batch.validate()) {
        Ok(()) => panic!("the batch passed validation"),
        Err(e) => {
            assert!(e.is_corruption(), "{e}");
            e.to_string()
        }
    }
}

#[test]
fn sequence_ranges_up_to_the_maximum_pass() {
    for data in [
        batch(0, &[]),
        batch(MAX_SEQUENCE_NUMBER, &[b"k"]),
        batch(MAX_SEQUENCE_NUMBER - 2, &[b"a", b"b", b"c"]),
        // An empty batch takes no number; the next one would be 2^56.
        batch(MAX_SEQUENCE_NUMBER + 1, &[]),
    ] {
        WriteBatch::from_data(data).unwrap().validate().unwrap();
    }
}

#[test]
fn sequence_ranges_past_the_maximum_fail() {
    for data in [
        batch(MAX_SEQUENCE_NUMBER + 1, &[b"k"]),
        batch(MAX_SEQUENCE_NUMBER - 1, &[b"a", b"b", b"c"]),
        batch(u64::MAX, &[b"k"]),
        batch(u64::MAX, &[b"a", b"b"]),
        batch(MAX_SEQUENCE_NUMBER + 2, &[]),
    ] {
        assert!(problem(data).contains("largest sequence number"));
    }
}

#[test]
fn counts_that_disagree_with_the_records_fail() {
    let mut more = batch(1, &[b"a"]);
    more[8] = 2;
    assert!(problem(more).contains("wrong count"));
    let mut fewer = batch(1, &[b"a", b"b"]);
    fewer[8] = 1;
    assert!(problem(fewer).contains("trailing bytes at byte 17"));
    let mut none = batch(1, &[b"a"]);
    none[8] = 0;
    assert!(problem(none).contains("trailing bytes"));
}

#[test]
fn malformed_operations_fail_with_their_position() {
    let with_ops = |ops: &[u8]| {
        let mut data = batch(1, &[]);
        data[8] = 1;
        data.extend_from_slice(ops);
        data
    };
    assert!(problem(with_ops(&[5, 1, b'k'])).contains("unknown WriteBatch tag 5 in operation 0 at byte 12"));
    assert!(problem(with_ops(&[1, 0x80])).contains("truncated length varint of the key"));
    assert!(problem(with_ops(&[1, 0xff, 0xff, 0xff, 0xff, 0xff, 1])).contains("overlong length varint"));
    assert!(problem(with_ops(&[1, 1, b'k'])).contains("truncated length varint of the value"));
    assert!(problem(with_ops(&[1, 1, b'k', 4, b'v'])).contains("length past the end of the record"));
    assert!(problem(with_ops(&[0, 3, b'k'])).contains("bad WriteBatch Delete"));
    assert!(problem(b"short".to_vec()).contains("too small"));
    // A length varint padded with continuation bytes is still well formed.
    WriteBatch::from_data(with_ops(&[0, 0x81, 0x80, 0x80, 0x80, 0x00, b'k'])).unwrap().validate().unwrap();
}

#[test]
fn from_log_record_names_the_file_and_offset() {
    let error = WriteBatch::from_log_record(b"tiny".to_vec(), Path::new("000007.log"), 123).unwrap_err();
    match error {
        Error::Corruption { file, offset, .. } => {
            assert_eq!(file.as_deref(), Some(Path::new("000007.log")));
            assert_eq!(offset, Some(123));
        }
        other => panic!("{other}"),
    }
}

/// A log of three records (the middle one to be rejected), read in `mode`;
/// returns the records kept, the reasons of the dropped regions and the
/// first error.
fn read_rejecting_the_second(mode: RecoveryMode) -> (Vec<Vec<u8>>, Vec<DropReason>, Option<Error>) {
    let fs = MemFs::new();
    let path = Path::new("000003.log");
    let mut writer = LogWriter::new(fs.create_writable(path, WriteMode::Buffered).unwrap());
    for record in [&b"first"[..], b"second", b"third"] {
        writer.add_record(record).unwrap();
    }
    writer.close().unwrap();
    let mut reader = LogReader::new(fs.open_sequential(path).unwrap(), path, mode);
    let mut kept = Vec::new();
    let error = loop {
        match reader.read_record() {
            Ok(Some(record)) if record == b"second" => {
                assert_eq!(reader.last_record_offset(), 12);
                if let Err(e) = reader.reject_record(&Error::corruption("bad batch")) {
                    break Some(e);
                }
            }
            Ok(Some(record)) => kept.push(record),
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
    };
    let reasons = reader.dropped_regions().iter().map(|region| region.reason.clone()).collect();
    (kept, reasons, error)
}

#[test]
fn a_rejected_record_is_damage_for_the_recovery_mode() {
    let malformed = DropReason::MalformedRecord("bad batch".into());

    let (kept, reasons, error) = read_rejecting_the_second(RecoveryMode::SkipAnyCorruptedRecords);
    assert_eq!(kept, [b"first".to_vec(), b"third".to_vec()]);
    assert_eq!(reasons, std::slice::from_ref(&malformed));
    assert!(error.is_none());

    let (kept, reasons, error) = read_rejecting_the_second(RecoveryMode::PointInTimeRecovery);
    assert_eq!(kept, [b"first".to_vec()]);
    assert_eq!(reasons, [malformed.clone(), DropReason::IgnoredAfterCorruption]);
    assert!(error.is_none());

    let (kept, _, error) = read_rejecting_the_second(RecoveryMode::AbsoluteConsistency);
    assert_eq!(kept, [b"first".to_vec()]);
    let error = error.expect("an error").to_string();
    assert!(error.contains("malformed record: bad batch (in 000003.log at offset 12)"), "{error}");

    let (kept, _, error) = read_rejecting_the_second(RecoveryMode::TolerateCorruptedTailRecords);
    assert_eq!(kept, [b"first".to_vec()]);
    let error = error.expect("a valid record follows").to_string();
    assert!(error.contains("valid records follow"), "{error}");
}

#[test]
fn a_rejected_record_region_covers_the_record() {
    let fs = MemFs::new();
    let path = Path::new("000003.log");
    let mut writer = LogWriter::new(fs.create_writable(path, WriteMode::Buffered).unwrap());
    writer.add_record(b"first").unwrap();
    writer.add_record(&vec![b'x'; 40_000]).unwrap(); // two fragments
    writer.close().unwrap();
    let mut reader =
        LogReader::new(fs.open_sequential(path).unwrap(), path, RecoveryMode::SkipAnyCorruptedRecords);
    reader.read_record().unwrap();
    assert_eq!(reader.read_record().unwrap().map(|r| r.len()), Some(40_000));
    reader.reject_record(&Error::corruption("too big")).unwrap();
    let region = &reader.dropped_regions()[0];
    assert_eq!((region.offset, region.bytes), (12, fs.file_size(path).unwrap() - 12));
    assert!(reader.read_record().unwrap().is_none());
}
