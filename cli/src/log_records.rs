//! Reading every record of a log-format file (a WAL or a MANIFEST,
//! docs/format.md §3) while keeping every damaged region: the reader skips damage
//! and goes on (LevelDB's own behaviour), and each dropped region is handed
//! to the caller in file order, between the records around it.

use std::path::Path;

use lsmkit_base::fs::FileSystem;
use lsmkit_wal::{DroppedRegion, LogReader, RecoveryMode};

use crate::error::CliResult;

/// One thing found in a log file.
#[derive(Debug)]
pub enum LogItem {
    /// A complete logical record that starts at `offset`.
    Record {
        /// File offset of the record's first header.
        offset: u64,
        /// The record's payload.
        data: Vec<u8>,
    },
    /// Bytes that do not form a valid record.
    Damage(DroppedRegion),
}

/// Calls `visit` with every record and every damaged region of the log
/// file `path`, in file order.
pub fn read_log(fs: &dyn FileSystem, path: &Path, mut visit: impl FnMut(LogItem) -> CliResult) -> CliResult {
    let file = fs.open_sequential(path)?;
    let mut reader = LogReader::new(file, path, RecoveryMode::SkipAnyCorruptedRecords);
    let mut reported = 0;
    loop {
        let mut data = Vec::new();
        let more = reader.read_record_into(&mut data)?;
        let found: Vec<DroppedRegion> = reader.dropped_regions()[reported..].to_vec();
        reported += found.len();
        for region in found {
            visit(LogItem::Damage(region))?;
        }
        if !more {
            return Ok(());
        }
        visit(LogItem::Record { offset: reader.last_record_offset(), data })?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsmkit_base::fs::{read_file_to_vec, write_file, MemFs, WriteMode};
    use lsmkit_wal::LogWriter;

    #[test]
    fn damage_is_reported_between_the_records_around_it() {
        let fs = MemFs::new();
        let path = Path::new("000003.log");
        let mut writer = LogWriter::new(fs.create_writable(path, WriteMode::Buffered).unwrap());
        for record in [&b"first"[..], b"second", b"third"] {
            writer.add_record(record).unwrap();
        }
        writer.close().unwrap();
        // Damage the second record's payload (7-byte header + 5 bytes, then its header).
        let mut bytes = read_file_to_vec(&fs, path).unwrap();
        bytes[12 + 7] ^= 0xff;
        write_file(&fs, path, &bytes, false).unwrap();

        let mut seen = Vec::new();
        read_log(&fs, path, |item| {
            seen.push(match item {
                LogItem::Record { offset, data } => format!("{offset}:{}", String::from_utf8_lossy(&data)),
                LogItem::Damage(region) => format!("damage@{}", region.offset),
            });
            Ok(())
        })
        .unwrap();
        // A checksum mismatch drops the rest of its 32 KiB block, so "third" goes too.
        assert_eq!(seen, ["0:first", "damage@12"]);
    }
}
