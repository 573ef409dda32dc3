//! `dump FILE`: the contents of one file, chosen by its name as
//! `leveldbutil dump` does — a WAL (`NNNNNN.log`: records with their
//! sequences and operations, docs/format.md §3 and §4), a table (`.ldb`/`.sst`:
//! entries with their internal-key parts, docs/format.md §6) or a MANIFEST
//! (`MANIFEST-NNNNNN`: one VersionEdit per record, docs/format.md §10.1).
//!
//! Damage is printed where it is found and the dump goes on where it can;
//! the command then exits 1.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use lsmkit_base::filename::{parse_file_name, FileType};
use lsmkit_base::fs::StdFs;
use lsmkit_base::iterator::InternalIterator;
use lsmkit_sstable::{ReadOptions, Table, TableOptions};
use lsmkit_version::VersionEdit;
use lsmkit_wal::WriteBatch;

use crate::byte_format::ByteFormat;
use crate::describe::{internal_key, kind_name, write_version_edit};
use crate::error::{CliError, CliResult};
use crate::log_records::{read_log, LogItem};

/// What kind of file a name says it is: LevelDB's names first, then by
/// extension (`x.log`, `x.ldb`, `x.sst`) or prefix (`MANIFEST…`).
pub fn file_kind(path: &Path) -> Option<FileType> {
    let name = path.file_name()?.to_str()?;
    match parse_file_name(name) {
        Some((_, kind @ (FileType::Log | FileType::Table | FileType::Manifest))) => Some(kind),
        Some(_) => None,
        None if name.starts_with("MANIFEST") => Some(FileType::Manifest),
        None => match path.extension()?.to_str()? {
            "log" => Some(FileType::Log),
            "ldb" | "sst" => Some(FileType::Table),
            _ => None,
        },
    }
}

/// `dump FILE`.
pub fn dump(path: &Path, format: ByteFormat, out: &mut dyn Write) -> CliResult {
    let problems = match file_kind(path) {
        Some(FileType::Log) => dump_log(path, format, out)?,
        Some(FileType::Table) => dump_table(path, format, out)?,
        Some(FileType::Manifest) => dump_manifest(path, format, out)?,
        _ => {
            return Err(CliError::Usage(format!(
                "{}: cannot tell the kind of file from its name \
                 (expected NNNNNN.log, NNNNNN.ldb, NNNNNN.sst or MANIFEST-NNNNNN)",
                path.display()
            )))
        }
    };
    if problems > 0 {
        return Err(CliError::Failed(format!("{}: {problems} damaged part(s) found", path.display())));
    }
    Ok(())
}

/// A WAL: `--- offset O; sequence S; count N` and then one line per operation.
fn dump_log(path: &Path, format: ByteFormat, out: &mut dyn Write) -> CliResult<u64> {
    let mut problems = 0;
    read_log(&StdFs::new(), path, |item| {
        match item {
            LogItem::Damage(region) => {
                problems += 1;
                writeln!(out, "--- damage: {region}")?;
            }
            LogItem::Record { offset, data } => match WriteBatch::from_data(data) {
                Err(e) => {
                    problems += 1;
                    writeln!(out, "--- offset {offset}; {}", e.in_file(path).at_offset(offset))?;
                }
                Ok(batch) => {
                    writeln!(
                        out,
                        "--- offset {offset}; sequence {}; count {}",
                        batch.sequence(),
                        batch.count()
                    )?;
                    // The operations that decode are shown even when the
                    // batch as a whole is malformed; the problem follows them.
                    for (i, op) in batch.ops().enumerate() {
                        let Ok(op) = op else { break };
                        let sequence = batch.sequence().checked_add(i as u64);
                        let sequence = sequence.map_or_else(|| "?".to_string(), |s| s.to_string());
                        write!(out, "  {sequence} {} {}", kind_name(op.kind), format.show_key(op.key))?;
                        match op.kind {
                            lsmkit_base::key::ValueKind::Deletion => {}
                            lsmkit_base::key::ValueKind::RangeDeletion => {
                                write!(out, " .. {}", format.show_key(op.value))?
                            }
                            _ => write!(out, " => {}", format.show_value(op.value))?,
                        }
                        writeln!(out)?;
                    }
                    if let Err(e) = batch.validate() {
                        problems += 1;
                        writeln!(out, "  {}", e.in_file(path).at_offset(offset))?;
                    }
                }
            },
        }
        Ok(())
    })?;
    Ok(problems)
}

/// A table: a header line, then `USER_KEY @ SEQUENCE : KIND => VALUE` per entry.
fn dump_table(path: &Path, format: ByteFormat, out: &mut dyn Write) -> CliResult<u64> {
    // Entries are only walked in order, so the comparator is never consulted;
    // every block's checksum is verified.
    let table = Arc::new(Table::open_path(&StdFs::new(), path, TableOptions::default())?);
    let footer = table.footer();
    writeln!(
        out,
        "# {}: {} bytes; index block at {} ({} bytes); metaindex block at {} ({} bytes)",
        path.display(),
        table.file_size(),
        footer.index_handle.offset,
        footer.index_handle.size,
        footer.metaindex_handle.offset,
        footer.metaindex_handle.size
    )?;
    if let Some(p) = table.properties() {
        let optional = |v: Option<u64>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
        writeln!(
            out,
            "# properties: {} entries, {} deletions, {} key bytes, {} value bytes, sequences {} to {}",
            p.entries,
            optional(p.deletions),
            p.raw_key_bytes,
            p.raw_value_bytes,
            optional(p.smallest_sequence),
            optional(p.largest_sequence)
        )?;
    }
    let mut it = table.iter(ReadOptions { verify_checksums: true, fill_cache: false });
    it.seek_to_first();
    while it.valid() {
        writeln!(out, "{} => {}", internal_key(format, it.key()), format.show_value(it.value()))?;
        it.next();
    }
    // The `lsmkit.range_del` block: one line per tombstone, after the entries.
    if let Some(tombstones) = table.range_tombstones() {
        for t in tombstones.tombstones() {
            writeln!(
                out,
                "{} .. {}",
                internal_key(
                    format,
                    &lsmkit_base::key::make_internal_key(
                        &t.begin,
                        t.sequence,
                        lsmkit_base::key::ValueKind::RangeDeletion
                    )
                ),
                format.show_key(&t.end)
            )?;
        }
    }
    match it.status() {
        Ok(()) => Ok(0),
        Err(e) => {
            writeln!(out, "--- damage: {e}")?;
            Ok(1)
        }
    }
}

/// A MANIFEST: `--- offset O` and then the fields of the edit.
fn dump_manifest(path: &Path, format: ByteFormat, out: &mut dyn Write) -> CliResult<u64> {
    let mut problems = 0;
    read_log(&StdFs::new(), path, |item| {
        match item {
            LogItem::Damage(region) => {
                problems += 1;
                writeln!(out, "--- damage: {region}")?;
            }
            LogItem::Record { offset, data } => match VersionEdit::decode(&data) {
                Ok(edit) => {
                    writeln!(out, "--- offset {offset}")?;
                    write_version_edit(format, &edit, "  ", out)?;
                }
                Err(e) => {
                    problems += 1;
                    writeln!(out, "--- offset {offset}; {e}")?;
                }
            },
        }
        Ok(())
    })?;
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_come_from_names() {
        let kind = |name: &str| file_kind(Path::new(name));
        assert_eq!(kind("db/000003.log"), Some(FileType::Log));
        assert_eq!(kind("000005.ldb"), Some(FileType::Table));
        assert_eq!(kind("/x/000005.sst"), Some(FileType::Table));
        assert_eq!(kind("db/MANIFEST-000002"), Some(FileType::Manifest));
        assert_eq!(kind("copy-of.ldb"), Some(FileType::Table));
        assert_eq!(kind("MANIFEST.bak"), Some(FileType::Manifest));
        assert_eq!(kind("CURRENT"), None);
        assert_eq!(kind("LOG"), None);
        assert_eq!(kind("notes.txt"), None);
    }
}
