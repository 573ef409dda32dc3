//! [`VersionEdit`]: one MANIFEST record, the difference between two
//! Versions (docs/format.md §10.1).
//!
//! Encoding writes the fields in LevelDB's order (tags 1, 2, 9, 3, 4, then
//! every 5, every 6 sorted by (level, number), every 7 in insertion order), so
//! a MANIFEST we write is byte-identical to LevelDB 1.23's. Decoding accepts
//! any order and repetition (a later scalar wins, lists accumulate) and is as
//! strict as LevelDB: an unknown tag, a level ≥ 7 or leftover bytes that do
//! not form a tag are `Corruption`. It is stricter in one place: every
//! internal key must be a well-formed internal key (at least 8 bytes, kind 0
//! or 1), where LevelDB only requires it to be non-empty — LevelDB never
//! writes anything else, and a malformed key would give wrong answers later.
//!
//! ```text
//! record = (varint32 tag | value)*
//!  tag 1 comparator       length-prefixed name
//!  tag 2 log number       varint64
//!  tag 9 prev log number  varint64
//!  tag 3 next file        varint64
//!  tag 4 last sequence    varint64
//!  tag 5 compact pointer  varint32 level | length-prefixed internal key
//!  tag 6 deleted file     varint32 level | varint64 number
//!  tag 7 new file         varint32 level | varint64 number | varint64 size
//!                         | length-prefixed smallest | length-prefixed largest
//! e.g. 02 06 | 09 00 | 03 07 | 04 01 | 07 00 05 72 09 'k' 01 01 00.. 09 'k' 01 01 00..
//!      (log 6, prev 0, next file 7, last sequence 1, level-0 table #5 of 114 bytes)
//! ```

use std::collections::BTreeSet;

use lsmkit_base::coding::{
    get_length_prefixed_slice, get_varint32, get_varint64, put_length_prefixed_slice, put_varint32,
    put_varint64,
};
use lsmkit_base::key::{parse_internal_key, SequenceNumber};
use lsmkit_base::{Error, Result};

use crate::config::NUM_LEVELS;
use crate::file_meta_data::FileMetaData;

/// Tag 1: the user comparator's name.
const TAG_COMPARATOR: u32 = 1;
/// Tag 2: the log number (WALs older than this are obsolete).
const TAG_LOG_NUMBER: u32 = 2;
/// Tag 3: the next file number.
const TAG_NEXT_FILE_NUMBER: u32 = 3;
/// Tag 4: the last sequence number.
const TAG_LAST_SEQUENCE: u32 = 4;
/// Tag 5: a level's compaction pointer.
const TAG_COMPACT_POINTER: u32 = 5;
/// Tag 6: a file removed from a level.
const TAG_DELETED_FILE: u32 = 6;
/// Tag 7: a file added to a level.
const TAG_NEW_FILE: u32 = 7;
// Tag 8 ("large value refs") is retired and rejected as an unknown tag.
/// Tag 9: the previous log number.
const TAG_PREV_LOG_NUMBER: u32 = 9;

/// A change to the set of files and counters, as written to the MANIFEST.
///
/// Absent scalar fields are `None`;
/// [`VersionSet::log_and_apply`](crate::VersionSet::log_and_apply) fills in
/// the counters before writing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionEdit {
    /// Tag 1: the user comparator's name (bytes, as stored).
    pub comparator_name: Option<Vec<u8>>,
    /// Tag 2: WALs numbered below this are no longer needed.
    pub log_number: Option<u64>,
    /// Tag 9: the WAL that was being compacted when `log_number` was set (0 if none).
    pub prev_log_number: Option<u64>,
    /// Tag 3: the next unused file number.
    pub next_file_number: Option<u64>,
    /// Tag 4: the last sequence number used.
    pub last_sequence: Option<SequenceNumber>,
    /// Tag 5: (level, internal key) compaction pointers, in the order set.
    pub compact_pointers: Vec<(usize, Vec<u8>)>,
    /// Tag 6: (level, file number) removals; encoded in this set's order.
    pub deleted_files: BTreeSet<(usize, u64)>,
    /// Tag 7: (level, file) additions, in the order added.
    pub new_files: Vec<(usize, FileMetaData)>,
}

impl VersionEdit {
    /// An edit that changes nothing.
    pub fn new() -> VersionEdit {
        VersionEdit::default()
    }

    /// Sets the comparator name (tag 1).
    pub fn set_comparator_name(&mut self, name: &str) {
        self.comparator_name = Some(name.as_bytes().to_vec());
    }

    /// Sets the log number (tag 2).
    pub fn set_log_number(&mut self, number: u64) {
        self.log_number = Some(number);
    }

    /// Sets the previous log number (tag 9).
    pub fn set_prev_log_number(&mut self, number: u64) {
        self.prev_log_number = Some(number);
    }

    /// Sets the next file number (tag 3).
    pub fn set_next_file_number(&mut self, number: u64) {
        self.next_file_number = Some(number);
    }

    /// Sets the last sequence number (tag 4).
    pub fn set_last_sequence(&mut self, sequence: SequenceNumber) {
        self.last_sequence = Some(sequence);
    }

    /// Records `level`'s compaction pointer (tag 5): the largest internal
    /// key of the last compaction at that level.
    pub fn set_compact_pointer(&mut self, level: usize, internal_key: &[u8]) {
        debug_assert!(level < NUM_LEVELS);
        self.compact_pointers.push((level, internal_key.to_vec()));
    }

    /// Adds table `file` at `level` (tag 7).
    pub fn add_file(&mut self, level: usize, file: FileMetaData) {
        debug_assert!(level < NUM_LEVELS);
        self.new_files.push((level, file));
    }

    /// Removes table `number` from `level` (tag 6).
    pub fn remove_file(&mut self, level: usize, number: u64) {
        debug_assert!(level < NUM_LEVELS);
        self.deleted_files.insert((level, number));
    }

    /// Checks that the edit would decode again: every level is below
    /// [`NUM_LEVELS`] and every key is a well-formed internal key.
    pub fn validate(&self) -> Result<(), String> {
        let check_level = |level: usize, what: &str| {
            if level < NUM_LEVELS {
                Ok(())
            } else {
                Err(format!("{what} at level {level}, but there are only {NUM_LEVELS} levels"))
            }
        };
        let check_key = |key: &[u8], what: &str| {
            parse_internal_key(key).map(|_| ()).map_err(|e| format!("{what} is not an internal key: {e}"))
        };
        for (level, key) in &self.compact_pointers {
            check_level(*level, "compaction pointer")?;
            check_key(key, "compaction pointer")?;
        }
        for &(level, number) in &self.deleted_files {
            check_level(level, &format!("deleted file {number}"))?;
        }
        for (level, file) in &self.new_files {
            check_level(*level, &format!("new file {}", file.number))?;
            check_key(&file.smallest, &format!("smallest key of new file {}", file.number))?;
            check_key(&file.largest, &format!("largest key of new file {}", file.number))?;
        }
        Ok(())
    }

    /// Appends the record encoding to `dst`, fields in LevelDB's order.
    pub fn encode_to(&self, dst: &mut Vec<u8>) {
        if let Some(name) = &self.comparator_name {
            put_varint32(dst, TAG_COMPARATOR);
            put_length_prefixed_slice(dst, name);
        }
        if let Some(number) = self.log_number {
            put_varint32(dst, TAG_LOG_NUMBER);
            put_varint64(dst, number);
        }
        if let Some(number) = self.prev_log_number {
            put_varint32(dst, TAG_PREV_LOG_NUMBER);
            put_varint64(dst, number);
        }
        if let Some(number) = self.next_file_number {
            put_varint32(dst, TAG_NEXT_FILE_NUMBER);
            put_varint64(dst, number);
        }
        if let Some(sequence) = self.last_sequence {
            put_varint32(dst, TAG_LAST_SEQUENCE);
            put_varint64(dst, sequence);
        }
        for (level, key) in &self.compact_pointers {
            put_varint32(dst, TAG_COMPACT_POINTER);
            put_level(dst, *level);
            put_length_prefixed_slice(dst, key);
        }
        for &(level, number) in &self.deleted_files {
            put_varint32(dst, TAG_DELETED_FILE);
            put_level(dst, level);
            put_varint64(dst, number);
        }
        for (level, file) in &self.new_files {
            put_varint32(dst, TAG_NEW_FILE);
            put_level(dst, *level);
            put_varint64(dst, file.number);
            put_varint64(dst, file.file_size);
            put_length_prefixed_slice(dst, &file.smallest);
            put_length_prefixed_slice(dst, &file.largest);
        }
    }

    /// The record encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_to(&mut out);
        out
    }

    /// Decodes one MANIFEST record. Errors are `Corruption` whose message
    /// says what could not be read and at which byte of the record.
    pub fn decode(record: &[u8]) -> Result<VersionEdit> {
        let mut edit = VersionEdit::default();
        let mut input = record;
        while !input.is_empty() {
            let at = record.len() - input.len();
            let fail =
                |what: &str| Error::corruption(format!("VersionEdit: {what} at byte {at} of the record"));
            let tag = get_varint32(&mut input).map_err(|_| fail("invalid tag"))?;
            match tag {
                TAG_COMPARATOR => {
                    let name =
                        get_length_prefixed_slice(&mut input).map_err(|_| fail("bad comparator name"))?;
                    edit.comparator_name = Some(name.to_vec());
                }
                TAG_LOG_NUMBER => {
                    edit.log_number = Some(get_varint64(&mut input).map_err(|_| fail("bad log number"))?);
                }
                TAG_PREV_LOG_NUMBER => {
                    edit.prev_log_number =
                        Some(get_varint64(&mut input).map_err(|_| fail("bad previous log number"))?);
                }
                TAG_NEXT_FILE_NUMBER => {
                    edit.next_file_number =
                        Some(get_varint64(&mut input).map_err(|_| fail("bad next file number"))?);
                }
                TAG_LAST_SEQUENCE => {
                    edit.last_sequence =
                        Some(get_varint64(&mut input).map_err(|_| fail("bad last sequence number"))?);
                }
                TAG_COMPACT_POINTER => {
                    let level = get_level(&mut input).ok_or_else(|| fail("bad compaction pointer level"))?;
                    let key =
                        get_internal_key(&mut input).ok_or_else(|| fail("bad compaction pointer key"))?;
                    edit.compact_pointers.push((level, key.to_vec()));
                }
                TAG_DELETED_FILE => {
                    let level = get_level(&mut input).ok_or_else(|| fail("bad deleted-file level"))?;
                    let number = get_varint64(&mut input).map_err(|_| fail("bad deleted-file number"))?;
                    edit.deleted_files.insert((level, number));
                }
                TAG_NEW_FILE => {
                    let level = get_level(&mut input).ok_or_else(|| fail("bad new-file level"))?;
                    let number = get_varint64(&mut input).map_err(|_| fail("bad new-file number"))?;
                    let file_size = get_varint64(&mut input).map_err(|_| fail("bad new-file size"))?;
                    let smallest =
                        get_internal_key(&mut input).ok_or_else(|| fail("bad new-file smallest key"))?;
                    let largest =
                        get_internal_key(&mut input).ok_or_else(|| fail("bad new-file largest key"))?;
                    edit.new_files.push((
                        level,
                        FileMetaData::new(number, file_size, smallest.to_vec(), largest.to_vec()),
                    ));
                }
                other => return Err(fail(&format!("unknown tag {other}"))),
            }
        }
        Ok(edit)
    }
}

fn put_level(dst: &mut Vec<u8>, level: usize) {
    // Levels are < NUM_LEVELS (7), so they always fit.
    put_varint32(dst, level as u32);
}

/// A varint32 level below [`NUM_LEVELS`].
fn get_level(input: &mut &[u8]) -> Option<usize> {
    let level = get_varint32(input).ok()?;
    let level = usize::try_from(level).ok()?;
    (level < NUM_LEVELS).then_some(level)
}

/// A length-prefixed, well-formed internal key.
fn get_internal_key<'a>(input: &mut &'a [u8]) -> Option<&'a [u8]> {
    let key = get_length_prefixed_slice(input).ok()?;
    parse_internal_key(key).ok()?;
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsmkit_base::key::{make_internal_key, ValueKind};

    fn ik(user_key: &[u8], sequence: u64) -> Vec<u8> {
        make_internal_key(user_key, sequence, ValueKind::Value)
    }

    fn message(err: Error) -> String {
        match err {
            Error::Corruption { message, .. } => message,
            other => panic!("expected corruption, got {other}"),
        }
    }

    /// docs/format.md §10.2 [real]: the record of LevelDB's MANIFEST-000001.
    #[test]
    fn golden_new_database_record() {
        let mut edit = VersionEdit::new();
        edit.set_comparator_name("leveldb.BytewiseComparator");
        edit.set_log_number(0);
        edit.set_next_file_number(2);
        edit.set_last_sequence(0);
        let mut expected = vec![0x01, 0x1a];
        expected.extend_from_slice(b"leveldb.BytewiseComparator");
        expected.extend_from_slice(&[0x02, 0x00, 0x03, 0x02, 0x04, 0x00]);
        assert_eq!(edit.encode(), expected);
        assert_eq!(VersionEdit::decode(&expected).unwrap(), edit);
    }

    /// docs/format.md §10.2 [real]: the second record of MANIFEST-000004 (re-open after one Put).
    #[test]
    fn golden_reopen_record() {
        let bytes = [
            0x02, 0x06, 0x09, 0x00, 0x03, 0x07, 0x04, 0x01, 0x07, 0x00, 0x05, 0x72, 0x09, 0x6b, 0x01, 0x01,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09, 0x6b, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        ];
        let edit = VersionEdit::decode(&bytes).unwrap();
        let mut expected = VersionEdit::new();
        expected.set_log_number(6);
        expected.set_prev_log_number(0);
        expected.set_next_file_number(7);
        expected.set_last_sequence(1);
        expected.add_file(0, FileMetaData::new(5, 114, ik(b"k", 1), ik(b"k", 1)));
        assert_eq!(edit, expected);
        assert_eq!(expected.encode(), bytes);
    }

    /// docs/format.md §10.2 [real]: the start of a snapshot carrying a level-0
    /// compaction pointer and then file #201.
    #[test]
    fn golden_compact_pointer_fragment() {
        let mut edit = VersionEdit::new();
        edit.set_compact_pointer(0, &ik(b"key019996", 37061));
        edit.add_file(0, FileMetaData::new(201, 50_346, ik(b"key000000", 1), ik(b"key000001", 2)));
        let bytes = edit.encode();
        let mut prefix = vec![0x05, 0x00, 0x11];
        prefix.extend_from_slice(b"key019996");
        prefix.extend_from_slice(&[0x01, 0xc5, 0x90, 0x00, 0x00, 0x00, 0x00, 0x00]);
        prefix.extend_from_slice(&[0x07, 0x00, 0xc9, 0x01, 0xaa, 0x89, 0x03, 0x11]);
        assert_eq!(&bytes[..prefix.len()], &prefix[..]);
        assert_eq!(VersionEdit::decode(&bytes).unwrap(), edit);
    }

    #[test]
    fn fields_are_encoded_in_leveldb_order() {
        let mut edit = VersionEdit::new();
        edit.add_file(3, FileMetaData::new(9, 1, ik(b"a", 1), ik(b"b", 1)));
        edit.remove_file(2, 8);
        edit.remove_file(1, 9);
        edit.set_compact_pointer(4, &ik(b"c", 3));
        edit.set_last_sequence(5);
        edit.set_next_file_number(10);
        edit.set_prev_log_number(2);
        edit.set_log_number(3);
        edit.set_comparator_name("x");
        let bytes = edit.encode();
        let tags_and_levels = [
            (0usize, 1u8),
            (3, 2),
            (5, 9),
            (7, 3),
            (9, 4),
            (11, 5),
            (23, 6), // level 1, file 9
            (26, 6), // level 2, file 8
            (29, 7),
        ];
        for (at, tag) in tags_and_levels {
            assert_eq!(bytes[at], tag, "byte {at} of {bytes:02x?}");
        }
        assert_eq!(bytes[24], 1);
        assert_eq!(bytes[27], 2);
        assert_eq!(VersionEdit::decode(&bytes).unwrap(), edit);
    }

    #[test]
    fn any_order_and_repetition_are_accepted() {
        // next file 3, log 1, next file 9 (wins), delete (1, 4) twice.
        let bytes = [0x03, 0x03, 0x02, 0x01, 0x06, 0x01, 0x04, 0x03, 0x09, 0x06, 0x01, 0x04];
        let edit = VersionEdit::decode(&bytes).unwrap();
        assert_eq!(edit.next_file_number, Some(9));
        assert_eq!(edit.log_number, Some(1));
        assert_eq!(edit.deleted_files.iter().copied().collect::<Vec<_>>(), [(1, 4)]);
        assert_eq!(VersionEdit::decode(&[]).unwrap(), VersionEdit::new());
    }

    #[test]
    fn strict_decoding_errors() {
        assert_eq!(
            message(VersionEdit::decode(&[0x08, 0x00]).unwrap_err()),
            "VersionEdit: unknown tag 8 at byte 0 of the record"
        );
        assert_eq!(
            message(VersionEdit::decode(&[0x02, 0x01, 0x0a]).unwrap_err()),
            "VersionEdit: unknown tag 10 at byte 2 of the record"
        );
        assert_eq!(
            message(VersionEdit::decode(&[0x02, 0x01, 0x80]).unwrap_err()),
            "VersionEdit: invalid tag at byte 2 of the record"
        );
        // Level 7 is out of range, level 6 is fine.
        assert!(message(VersionEdit::decode(&[0x06, 0x07, 0x01]).unwrap_err()).contains("deleted-file level"));
        assert!(VersionEdit::decode(&[0x06, 0x06, 0x01]).is_ok());
        // Truncated fields.
        assert!(message(VersionEdit::decode(&[0x02]).unwrap_err()).contains("bad log number"));
        assert!(message(VersionEdit::decode(&[0x01, 0x05, b'a']).unwrap_err()).contains("comparator name"));
        assert!(message(VersionEdit::decode(&[0x06, 0x00]).unwrap_err()).contains("deleted-file number"));
        // An internal key that is too short, or of an unknown kind.
        assert!(message(VersionEdit::decode(&[0x05, 0x00, 0x01, b'a']).unwrap_err())
            .contains("compaction pointer key"));
        // Kinds 0 (deletion), 1 (value) and 2 (merge operand) exist; 3 does not.
        let mut bad_kind = vec![0x05, 0x00, 0x09, b'a'];
        bad_kind.extend_from_slice(&[0x03, 0, 0, 0, 0, 0, 0, 0]);
        assert!(VersionEdit::decode(&bad_kind).is_err());
        let mut new_file = vec![0x07, 0x00, 0x05, 0x72, 0x09, b'k', 1, 1, 0, 0, 0, 0, 0, 0];
        assert!(message(VersionEdit::decode(&new_file).unwrap_err()).contains("largest key"));
        new_file.extend_from_slice(&[0x09, b'k', 1, 1, 0, 0, 0, 0, 0, 0]);
        assert!(VersionEdit::decode(&new_file).is_ok());
    }

    #[test]
    fn validate_rejects_what_would_not_decode() {
        let mut edit = VersionEdit::new();
        edit.add_file(6, FileMetaData::new(1, 1, ik(b"a", 1), ik(b"b", 1)));
        edit.set_compact_pointer(0, &ik(b"a", 1));
        edit.remove_file(6, 3);
        assert_eq!(edit.validate(), Ok(()));
        let mut deep = edit.clone();
        deep.deleted_files.insert((7, 3));
        assert!(deep.validate().unwrap_err().contains("deleted file 3 at level 7"));
        let mut short_key = edit.clone();
        short_key.new_files.push((0, FileMetaData::new(2, 1, b"a".to_vec(), ik(b"b", 1))));
        assert!(short_key.validate().unwrap_err().contains("smallest key of new file 2"));
        let mut pointer = edit;
        pointer.compact_pointers.push((9, ik(b"a", 1)));
        assert!(pointer.validate().unwrap_err().contains("compaction pointer at level 9"));
    }
}
