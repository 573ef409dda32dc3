//! The side file: the writer's own log of what the database acknowledged,
//! one text line per record, appended right after the database call
//! returns and synced whenever the call made its writes durable (a synced
//! write or a completed flush). After the kill the harness reads it to know
//! which writes must have survived. A last line without its newline was
//! torn by the kill and is ignored.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

/// One line of the side file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// The writer started cycle `cycle` at history index `base` (written
    /// before the database is opened).
    Begin {
        /// The cycle.
        cycle: u64,
        /// The first operation's history index.
        base: u64,
    },
    /// `Db::open` returned.
    Opened,
    /// A WAL-logged batch of operations `start..end` was acknowledged.
    Write {
        /// First operation (history index).
        start: u64,
        /// One past the last operation.
        end: u64,
        /// It was written with `sync` (and this record was synced).
        synced: bool,
    },
    /// A `disable_wal` batch of operations `start..end` was acknowledged
    /// (not durable until the `Flushed` record that follows).
    Unlogged {
        /// First operation (history index).
        start: u64,
        /// One past the last operation.
        end: u64,
    },
    /// A waited flush returned: every operation before `through` is durable.
    Flushed {
        /// One past the last durable operation.
        through: u64,
    },
    /// A manual compaction returned.
    Compacted,
}

impl Record {
    /// The record as one line, newline included.
    pub fn encode(&self) -> String {
        match self {
            Record::Begin { cycle, base } => format!("B {cycle} {base}\n"),
            Record::Opened => "O\n".to_string(),
            Record::Write { start, end, synced } => format!("W {start} {end} {}\n", u8::from(*synced)),
            Record::Unlogged { start, end } => format!("U {start} {end}\n"),
            Record::Flushed { through } => format!("F {through}\n"),
            Record::Compacted => "C\n".to_string(),
        }
    }

    /// Parses one line (without its newline).
    pub fn parse(line: &str) -> Result<Record, String> {
        let fields: Vec<&str> = line.split(' ').collect();
        let number = |i: usize| -> Result<u64, String> {
            fields
                .get(i)
                .and_then(|f| f.parse().ok())
                .ok_or_else(|| format!("side file: bad field {i} in line {line:?}"))
        };
        let record = match (fields[0], fields.len()) {
            ("B", 3) => Record::Begin { cycle: number(1)?, base: number(2)? },
            ("O", 1) => Record::Opened,
            ("W", 4) => {
                let synced = match fields[3] {
                    "0" => false,
                    "1" => true,
                    _ => return Err(format!("side file: bad sync flag in line {line:?}")),
                };
                Record::Write { start: number(1)?, end: number(2)?, synced }
            }
            ("U", 3) => Record::Unlogged { start: number(1)?, end: number(2)? },
            ("F", 2) => Record::Flushed { through: number(1)? },
            ("C", 1) => Record::Compacted,
            _ => return Err(format!("side file: unknown line {line:?}")),
        };
        Ok(record)
    }
}

/// The writer's handle on its side file.
pub struct SideFile {
    file: File,
}

impl SideFile {
    /// Creates (or truncates) the side file at `path` and makes its name durable.
    pub fn create(path: &Path) -> Result<SideFile, String> {
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(path)
            .map_err(|e| format!("cannot create side file {}: {e}", path.display()))?;
        if let Some(parent) = path.parent() {
            File::open(parent)
                .and_then(|d| d.sync_all())
                .map_err(|e| format!("cannot sync directory {}: {e}", parent.display()))?;
        }
        Ok(SideFile { file })
    }

    /// Appends `record` in one `write` call and, with `sync`, syncs the file
    /// before returning.
    pub fn append(&mut self, record: &Record, sync: bool) -> Result<(), String> {
        self.file.write_all(record.encode().as_bytes()).map_err(|e| format!("side file write: {e}"))?;
        if sync {
            self.file.sync_data().map_err(|e| format!("side file sync: {e}"))?;
        }
        Ok(())
    }
}

/// The complete records of the side file at `path` (none if it does not
/// exist: the writer was killed before creating it).
pub fn read_records(path: &Path) -> Result<Vec<Record>, String> {
    let text = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot read side file {}: {e}", path.display())),
    };
    parse_records(&text)
}

/// The complete records in a side file's bytes; a torn last line is ignored.
pub fn parse_records(text: &[u8]) -> Result<Vec<Record>, String> {
    let complete = match text.iter().rposition(|&b| b == b'\n') {
        Some(last_newline) => &text[..last_newline],
        None => return Ok(Vec::new()),
    };
    let complete = std::str::from_utf8(complete).map_err(|e| format!("side file is not text: {e}"))?;
    complete.split('\n').map(Record::parse).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_kinds() -> Vec<Record> {
        vec![
            Record::Begin { cycle: 3, base: 100 },
            Record::Opened,
            Record::Write { start: 100, end: 110, synced: false },
            Record::Write { start: 110, end: 111, synced: true },
            Record::Unlogged { start: 111, end: 120 },
            Record::Flushed { through: 120 },
            Record::Compacted,
        ]
    }

    #[test]
    fn records_round_trip() {
        let text: String = all_kinds().iter().map(Record::encode).collect();
        assert_eq!(parse_records(text.as_bytes()).unwrap(), all_kinds());
    }

    #[test]
    fn a_torn_last_line_is_ignored() {
        let mut text: String = all_kinds().iter().map(Record::encode).collect();
        text.push_str("W 120 13");
        assert_eq!(parse_records(text.as_bytes()).unwrap(), all_kinds());
        assert_eq!(parse_records(b"B 1 2").unwrap(), Vec::new());
        assert_eq!(parse_records(b"").unwrap(), Vec::new());
    }

    #[test]
    fn malformed_lines_are_errors() {
        for bad in ["X 1\n", "W 1 2 7\n", "W 1 x 0\n", "F\n", "O 1\n", "\n"] {
            assert!(parse_records(bad.as_bytes()).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn appended_records_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("side");
        assert_eq!(read_records(&path).unwrap(), Vec::new());
        let mut side = SideFile::create(&path).unwrap();
        for (i, record) in all_kinds().iter().enumerate() {
            side.append(record, i % 2 == 0).unwrap();
        }
        assert_eq!(read_records(&path).unwrap(), all_kinds());
    }
}
