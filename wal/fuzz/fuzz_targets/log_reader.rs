//! Fuzz target: arbitrary bytes as a log file (FORMAT.md §3.3), read to the
//! end in every recovery mode, whole and while "growing" in two pieces with a
//! following reader. No input may panic; the records of both ways of reading
//! must agree, and every dropped region must lie inside the file.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use lsmkit_base::fs::{FileSystem, MemFs, WriteMode};
use lsmkit_base::Result;
use lsmkit_wal::{LogReader, RecoveryMode, WriteBatch};

/// Reads records until the end or an error; the records and whether it failed.
fn drain(reader: &mut LogReader, limit: usize, records: &mut Vec<Vec<u8>>) -> Result<()> {
    while let Some(record) = reader.read_record()? {
        // Every record costs at least one 7-byte header.
        assert!(records.len() <= limit, "more records than the input can hold");
        if let Ok(batch) = WriteBatch::from_data(record.clone()) {
            for op in batch.ops() {
                if op.is_err() {
                    break;
                }
            }
        }
        records.push(record);
    }
    Ok(())
}

fuzz_target!(|input: &[u8]| {
    let Some((&control, log)) = input.split_first() else {
        return;
    };
    let limit = log.len() / 7 + 1;
    for mode in RecoveryMode::ALL {
        // The whole file at once.
        let fs = MemFs::new();
        let path = Path::new("fuzz.log");
        let mut file = fs.create_writable(path, WriteMode::Buffered).unwrap();
        file.append(log).unwrap();
        let mut reader = LogReader::new(fs.open_sequential(path).unwrap(), path, mode);
        let mut whole = Vec::new();
        let whole_result = drain(&mut reader, limit, &mut whole);
        for region in reader.dropped_regions() {
            assert!(region.offset + region.bytes <= log.len() as u64, "{region} outside the file");
        }

        // The same bytes arriving in two pieces, read by a following reader.
        let split = (control as usize * log.len()) / 255;
        let path = Path::new("growing.log");
        let mut file = fs.create_writable(path, WriteMode::Buffered).unwrap();
        file.append(&log[..split]).unwrap();
        let mut reader = LogReader::new(fs.open_sequential(path).unwrap(), path, mode).with_follow_tail(true);
        let mut followed = Vec::new();
        let mut result = drain(&mut reader, limit, &mut followed);
        if result.is_ok() {
            file.append(&log[split..]).unwrap();
            result = drain(&mut reader, limit, &mut followed);
        }
        if result.is_ok() {
            reader.set_follow_tail(false);
            result = drain(&mut reader, limit, &mut followed);
        }
        assert_eq!(whole, followed, "{mode:?}: reading in pieces changed the records");
        assert_eq!(whole_result.is_ok(), result.is_ok(), "{mode:?}: {whole_result:?} vs {result:?}");
    }
});
