//! Text renderings of on-disk structures for `dump`, `manifest` and
//! `verify`: internal keys (docs/format.md §5.1), table file metadata and
//! VersionEdits (docs/format.md §10.1).

use std::io::Write;

use lsmkit_base::key::{parse_internal_key, ValueKind};
use lsmkit_version::{FileMetaData, VersionEdit};

use crate::byte_format::{quoted, ByteFormat};

/// `put`, `del`, `merge` or `delrange`.
pub fn kind_name(kind: ValueKind) -> &'static str {
    match kind {
        ValueKind::Value => "put",
        ValueKind::Deletion => "del",
        ValueKind::Merge => "merge",
        ValueKind::RangeDeletion => "delrange",
    }
}

/// `USER_KEY @ SEQUENCE : KIND`, or `badkey RAW` when `internal_key` does
/// not parse.
///
/// ```
/// use lsmkit_base::key::{make_internal_key, ValueKind};
/// use lsmkit_cli::byte_format::ByteFormat;
/// use lsmkit_cli::describe::internal_key;
///
/// let key = make_internal_key(b"k", 7, ValueKind::Deletion);
/// assert_eq!(internal_key(ByteFormat::default(), &key), "'k' @ 7 : del");
/// assert_eq!(internal_key(ByteFormat::default(), b"k"), "badkey 'k'");
/// ```
pub fn internal_key(format: ByteFormat, internal_key: &[u8]) -> String {
    match parse_internal_key(internal_key) {
        Ok(parsed) => {
            format!("{} @ {} : {}", format.show_key(parsed.user_key), parsed.sequence, kind_name(parsed.kind))
        }
        Err(_) => format!("badkey {}", format.show_key(internal_key)),
    }
}

/// `#NUMBER SIZE bytes [SMALLEST .. LARGEST]`.
pub fn file_meta(format: ByteFormat, file: &FileMetaData) -> String {
    format!(
        "#{} {} bytes [{} .. {}]",
        file.number,
        file.file_size,
        internal_key(format, &file.smallest),
        internal_key(format, &file.largest)
    )
}

/// Every field of `edit`, one per line, each line starting with `indent`.
pub fn write_version_edit(
    format: ByteFormat,
    edit: &VersionEdit,
    indent: &str,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    if let Some(name) = &edit.comparator_name {
        writeln!(out, "{indent}comparator {}", quoted(name))?;
    }
    if let Some(number) = edit.log_number {
        writeln!(out, "{indent}log number {number}")?;
    }
    if let Some(number) = edit.prev_log_number {
        writeln!(out, "{indent}previous log number {number}")?;
    }
    if let Some(number) = edit.next_file_number {
        writeln!(out, "{indent}next file number {number}")?;
    }
    if let Some(sequence) = edit.last_sequence {
        writeln!(out, "{indent}last sequence {sequence}")?;
    }
    for (level, key) in &edit.compact_pointers {
        writeln!(out, "{indent}compact pointer level {level} {}", internal_key(format, key))?;
    }
    for (level, number) in &edit.deleted_files {
        writeln!(out, "{indent}remove file level {level} #{number}")?;
    }
    for (level, file) in &edit.new_files {
        writeln!(out, "{indent}add file level {level} {}", file_meta(format, file))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsmkit_base::key::make_internal_key;

    #[test]
    fn edits_are_written_field_by_field() {
        let mut edit = VersionEdit::new();
        edit.set_comparator_name("leveldb.BytewiseComparator");
        edit.set_log_number(6);
        edit.set_next_file_number(7);
        edit.set_last_sequence(1);
        edit.remove_file(1, 3);
        let key = make_internal_key(b"\x01", 1, ValueKind::Value);
        edit.add_file(0, FileMetaData::new(5, 114, key.clone(), key));
        let mut out = Vec::new();
        write_version_edit(ByteFormat { key_hex: true, value_hex: false }, &edit, "  ", &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "  comparator 'leveldb.BytewiseComparator'\n  log number 6\n  next file number 7\n  \
             last sequence 1\n  remove file level 1 #3\n  \
             add file level 0 #5 114 bytes [0x01 @ 1 : put .. 0x01 @ 1 : put]\n"
        );
    }
}
