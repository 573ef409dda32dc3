//! Checking one live write-ahead log in full (docs/format.md §3, §4): every
//! record's checksum and framing (a torn tail counts as damage too), every
//! record a well-formed WriteBatch whose operation count matches its
//! header, and sequence numbers that only go up from batch to batch.

use std::path::Path;

use lsmkit_base::fs::FileSystem;
use lsmkit_base::key::SequenceNumber;
use lsmkit_wal::WriteBatch;

use crate::log_records::{read_log, LogItem};

/// What checking a log found.
#[derive(Debug, Default)]
pub struct LogCheck {
    /// Records read.
    pub records: u64,
    /// Operations in those records.
    pub operations: u64,
    /// Everything wrong, one message each.
    pub problems: Vec<String>,
}

/// Checks the log at `path`. `last_sequence` is the last sequence number of
/// the batches seen so far (in older logs); it is advanced past this log's.
pub fn check_log(fs: &dyn FileSystem, path: &Path, last_sequence: &mut Option<SequenceNumber>) -> LogCheck {
    let mut check = LogCheck::default();
    let read = read_log(fs, path, |item| {
        match item {
            LogItem::Damage(region) => check.problems.push(region.to_string()),
            LogItem::Record { offset, data } => {
                check.records += 1;
                check_batch(path, offset, data, last_sequence, &mut check);
            }
        }
        Ok(())
    });
    if let Err(e) = read {
        check.problems.push(e.to_string());
    }
    check
}

fn check_batch(
    path: &Path,
    offset: u64,
    data: Vec<u8>,
    last_sequence: &mut Option<SequenceNumber>,
    check: &mut LogCheck,
) {
    let batch = match WriteBatch::from_log_record(data, path, offset) {
        Ok(batch) => batch,
        Err(e) => {
            check.problems.push(format!("record at offset {offset}: {e}"));
            return;
        }
    };
    check.operations += u64::from(batch.count());
    let first = batch.sequence();
    if let Some(last) = *last_sequence {
        if first <= last {
            check.problems.push(format!(
                "record at offset {offset}: batch starts at sequence {first}, not after {last}"
            ));
        }
    }
    if batch.count() > 0 {
        // Validated: the batch's last sequence is at most 2^56 - 1.
        let end = first + u64::from(batch.count() - 1);
        *last_sequence = Some(last_sequence.map_or(end, |last| last.max(end)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsmkit_base::fs::{read_file_to_vec, write_file, MemFs, WriteMode};
    use lsmkit_wal::LogWriter;

    fn write_log(fs: &MemFs, path: &Path, batches: &[(u64, &[&[u8]])]) {
        let mut writer = LogWriter::new(fs.create_writable(path, WriteMode::Buffered).unwrap());
        for (sequence, keys) in batches {
            let mut batch = WriteBatch::new();
            batch.set_sequence(*sequence);
            for key in *keys {
                batch.put(key, b"v");
            }
            writer.add_record(batch.data()).unwrap();
        }
        writer.close().unwrap();
    }

    #[test]
    fn an_intact_log_passes_and_advances_the_sequence() {
        let fs = MemFs::new();
        let path = Path::new("000003.log");
        write_log(&fs, path, &[(1, &[b"a", b"b"]), (3, &[b"c"])]);
        let mut last = None;
        let check = check_log(&fs, path, &mut last);
        assert!(check.problems.is_empty(), "{:?}", check.problems);
        assert_eq!((check.records, check.operations, last), (2, 3, Some(3)));
        // A later log that goes back in sequence is a problem.
        let older = Path::new("000004.log");
        write_log(&fs, older, &[(2, &[b"x"])]);
        let check = check_log(&fs, older, &mut last);
        assert_eq!(check.problems.len(), 1, "{:?}", check.problems);
        assert!(check.problems[0].contains("not after 3"));
    }

    #[test]
    fn damage_and_bad_batches_are_found() {
        let fs = MemFs::new();
        let path = Path::new("000003.log");
        write_log(&fs, path, &[(1, &[b"a"]), (2, &[b"b"])]);
        let bytes = read_file_to_vec(&fs, path).unwrap();
        write_file(&fs, path, &bytes[..bytes.len() - 2], false).unwrap();
        let check = check_log(&fs, path, &mut None);
        assert_eq!(check.records, 1);
        assert!(check.problems[0].contains("truncated"), "{:?}", check.problems);

        let mut writer = LogWriter::new(fs.create_writable(path, WriteMode::Buffered).unwrap());
        writer.add_record(b"short").unwrap();
        let mut lying = WriteBatch::new();
        lying.put(b"k", b"v");
        let mut data = lying.into_data();
        data[8] = 2; // the header claims two operations
        writer.add_record(&data).unwrap();
        writer.close().unwrap();
        let check = check_log(&fs, path, &mut None);
        assert_eq!(check.problems.len(), 2, "{:?}", check.problems);
        assert!(check.problems[0].contains("offset 0"), "{:?}", check.problems);
    }
}
