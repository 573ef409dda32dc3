//! The binary encoding of log entries in the log database (docs/raft.md,
//! "Entry encoding"): byte strings are stored raw instead of as JSON
//! arrays of numbers, which would cost up to four bytes per byte.
//!
//! ```text
//! version   1 byte   1
//! term      8 bytes  little-endian
//! node id   8 bytes  little-endian (the leader that made the entry)
//! index     8 bytes  little-endian
//! payload   1 byte   0 blank, 1 normal, 2 membership
//! normal:     1 byte 0 put / 1 delete, key length (4 bytes LE), key,
//!             and for a put the value length (4 bytes LE) and value
//! membership: the JSON `Membership`, to the end of the value
//! ```
//!
//! Nothing may follow a blank or normal payload.

use std::path::Path;

use openraft::{CommittedLeaderId, EntryPayload, LogId};

use crate::{Error, LogEntry, Request, Result};

const VERSION: u8 = 1;
const BLANK: u8 = 0;
const NORMAL: u8 = 1;
const MEMBERSHIP: u8 = 2;
const PUT: u8 = 0;
const DELETE: u8 = 1;

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) -> Result<()> {
    let len = u32::try_from(bytes.len())
        .map_err(|_| Error::InvalidArgument(format!("a key or value of {} bytes", bytes.len())))?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

/// Encodes `entry`.
pub(crate) fn encode(entry: &LogEntry) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(64);
    out.push(VERSION);
    out.extend_from_slice(&entry.log_id.leader_id.term.to_le_bytes());
    out.extend_from_slice(&entry.log_id.leader_id.node_id.to_le_bytes());
    out.extend_from_slice(&entry.log_id.index.to_le_bytes());
    match &entry.payload {
        EntryPayload::Blank => out.push(BLANK),
        EntryPayload::Normal(Request::Put { key, value }) => {
            out.extend_from_slice(&[NORMAL, PUT]);
            put_bytes(&mut out, key)?;
            put_bytes(&mut out, value)?;
        }
        EntryPayload::Normal(Request::Delete { key }) => {
            out.extend_from_slice(&[NORMAL, DELETE]);
            put_bytes(&mut out, key)?;
        }
        EntryPayload::Membership(m) => {
            out.push(MEMBERSHIP);
            serde_json::to_writer(&mut out, m)
                .map_err(|e| Error::InvalidArgument(format!("cannot serialize a membership: {e}")))?;
        }
    }
    Ok(out)
}

/// Reads an encoded entry, failing with a corruption (naming the database
/// and the offset inside the value) on anything malformed.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    db: &'a Path,
}

impl Reader<'_> {
    fn corrupt(&self, message: &str) -> Error {
        Error::Corruption {
            message: format!("log entry value: {message} at byte {}", self.at),
            file: Some(self.db.to_path_buf()),
            offset: None,
        }
    }

    fn take(&mut self, n: usize) -> Result<&[u8]> {
        let end = self.at.checked_add(n).filter(|&end| end <= self.bytes.len());
        match end {
            Some(end) => {
                let out = &self.bytes[self.at..end];
                self.at = end;
                Ok(out)
            }
            None => Err(self.corrupt("truncated")),
        }
    }

    fn byte(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u64(&mut self) -> Result<u64> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(b))
    }

    fn bytes(&mut self) -> Result<Vec<u8>> {
        let mut b = [0u8; 4];
        b.copy_from_slice(self.take(4)?);
        let len = u32::from_le_bytes(b) as usize;
        Ok(self.take(len)?.to_vec())
    }

    fn finish(&self) -> Result<()> {
        if self.at == self.bytes.len() {
            Ok(())
        } else {
            Err(self.corrupt("trailing bytes"))
        }
    }
}

/// Decodes an entry stored in the log database at `db`.
pub(crate) fn decode(db: &Path, bytes: &[u8]) -> Result<LogEntry> {
    let mut r = Reader { bytes, at: 0, db };
    let version = r.byte()?;
    if version != VERSION {
        r.at = 0;
        return Err(r.corrupt(&format!("unknown version {version}")));
    }
    let term = r.u64()?;
    let node_id = r.u64()?;
    let index = r.u64()?;
    let log_id = LogId::new(CommittedLeaderId::new(term, node_id), index);
    let payload = match r.byte()? {
        BLANK => EntryPayload::Blank,
        NORMAL => {
            let request = match r.byte()? {
                PUT => {
                    let key = r.bytes()?;
                    Request::Put { key, value: r.bytes()? }
                }
                DELETE => Request::Delete { key: r.bytes()? },
                _ => return Err(r.corrupt("unknown request kind")),
            };
            EntryPayload::Normal(request)
        }
        MEMBERSHIP => {
            let m =
                serde_json::from_slice(&bytes[r.at..]).map_err(|e| r.corrupt(&format!("membership: {e}")))?;
            r.at = bytes.len();
            EntryPayload::Membership(m)
        }
        _ => return Err(r.corrupt("unknown payload kind")),
    };
    r.finish()?;
    Ok(LogEntry { log_id, payload })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn samples() -> Vec<LogEntry> {
        let id = |i| LogId::new(CommittedLeaderId::new(7, 3), i);
        vec![
            LogEntry { log_id: id(1), payload: EntryPayload::Blank },
            LogEntry {
                log_id: id(2),
                payload: EntryPayload::Normal(Request::Put { key: b"k\0\xff".to_vec(), value: vec![9; 300] }),
            },
            LogEntry {
                log_id: id(3),
                payload: EntryPayload::Normal(Request::Put { key: vec![], value: vec![] }),
            },
            LogEntry {
                log_id: id(u64::MAX),
                payload: EntryPayload::Normal(Request::Delete { key: b"gone".to_vec() }),
            },
            LogEntry {
                log_id: id(5),
                payload: EntryPayload::Membership(openraft::Membership::new(
                    vec![BTreeSet::from([1, 2, 3])],
                    BTreeSet::from([4]),
                )),
            },
        ]
    }

    #[test]
    fn entries_round_trip() {
        for entry in samples() {
            let bytes = encode(&entry).unwrap();
            assert_eq!(decode(Path::new("log"), &bytes).unwrap(), entry);
        }
    }

    /// Every truncation, an extra byte, and unknown tags are corruptions.
    #[test]
    fn malformed_values_are_corruptions() {
        for entry in samples() {
            let bytes = encode(&entry).unwrap();
            for len in 0..bytes.len() {
                let err = decode(Path::new("log"), &bytes[..len]).unwrap_err();
                assert!(matches!(err, Error::Corruption { .. }), "{entry}: cut to {len}: {err}");
            }
            let mut longer = bytes.clone();
            longer.push(b' ');
            // Whitespace after JSON is valid JSON; anything else is not.
            longer.push(b'x');
            assert!(matches!(decode(Path::new("log"), &longer), Err(Error::Corruption { .. })), "{entry}");
        }
        let mut bad = encode(&samples()[0]).unwrap();
        bad[0] = 2;
        assert!(matches!(decode(Path::new("log"), &bad), Err(Error::Corruption { .. })));
        bad[0] = VERSION;
        bad[25] = 9;
        assert!(matches!(decode(Path::new("log"), &bad), Err(Error::Corruption { .. })));
        let mut bad = encode(&samples()[3]).unwrap();
        bad[26] = 7;
        assert!(matches!(decode(Path::new("log"), &bad), Err(Error::Corruption { .. })));
    }
}
