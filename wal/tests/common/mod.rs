//! Helpers shared by the integration tests: writing logs into a `MemFs` and
//! reading them back.

#![allow(dead_code)]

use std::path::Path;

use lsmkit_base::fs::{read_file_to_vec, write_file, FileSystem, MemFs, WriteMode};
use lsmkit_base::Result;
use lsmkit_wal::{DroppedRegion, LogReader, LogWriter, RecoveryMode};

/// The bytes of a log holding `records`, as `LogWriter` writes them.
pub fn log_bytes(records: &[Vec<u8>]) -> Vec<u8> {
    let fs = MemFs::new();
    let path = Path::new("log");
    let mut writer = LogWriter::new(fs.create_writable(path, WriteMode::Buffered).unwrap());
    for record in records {
        writer.add_record(record).unwrap();
    }
    writer.close().unwrap();
    read_file_to_vec(&fs, path).unwrap()
}

/// What reading a whole log gave: the records, and how it ended.
#[derive(Debug)]
pub struct ReadOutcome {
    pub records: Vec<Vec<u8>>,
    /// `Err` if `read_record` failed (after `records` were returned).
    pub end: Result<()>,
    pub dropped: Vec<DroppedRegion>,
    /// Regions seen by the reporter callback.
    pub reported: Vec<DroppedRegion>,
}

/// Reads the log `bytes` (stored in a `MemFs` as "log") to its end in `mode`.
pub fn read_log(bytes: &[u8], mode: RecoveryMode) -> ReadOutcome {
    let fs = MemFs::new();
    let path = Path::new("log");
    write_file(&fs, path, bytes, false).unwrap();
    let reported = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = std::sync::Arc::clone(&reported);
    let mut reader = LogReader::new(fs.open_sequential(path).unwrap(), path, mode)
        .with_reporter(move |region| sink.lock().unwrap().push(region.clone()));
    let mut records = Vec::new();
    let end = loop {
        match reader.read_record() {
            Ok(Some(record)) => records.push(record),
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    let dropped = reader.dropped_regions().to_vec();
    let reported = reported.lock().unwrap().clone();
    ReadOutcome { records, end, dropped, reported }
}

/// A record of `len` bytes whose contents depend on `seed`.
pub fn record(seed: u32, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect()
}
