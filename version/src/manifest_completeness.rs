//! Under `paranoid_checks`: does a recovered MANIFEST still describe the
//! database directory, or has it lost records at its end (docs/format.md §10.2
//! recovery, §10.4 which files a database keeps)?
//!
//! Recovery cannot tell from the MANIFEST's bytes alone whether its end is
//! a crash-torn record (an edit whose write was never acknowledged, which
//! LevelDB rightly ignores) or the loss of whole acknowledged records (a
//! file cut short after a later edit became durable, or a damaged length
//! field that makes a record seem to run past the end). The directory
//! tells them apart. The files a crash can leave behind always include
//! those the last *durable* edit needs, because files are deleted only
//! after the edit that makes them obsolete is durable:
//!
//! - the WAL named by the log number (a flush's edit moves the log number
//!   on before the older WAL is deleted), unless the log number is 0 (a
//!   database that never had a WAL recorded, as a new or repaired one);
//! - every table of the recovered Version (a compaction's edit removes its
//!   inputs before they are deleted).
//!
//! A missing one means acknowledged edits were lost, and opening would
//! silently drop acknowledged writes (and delete their tables as
//! obsolete): that is `Corruption` naming the MANIFEST, at the offset of
//! the dropped tail (or of its end, when it was cut between records).
//!
//! Tables on disk that the Version does not name are *not* flagged, even
//! numbered at or above the recovered next file number: a flush or
//! compaction that was writing its outputs when the process died leaves
//! exactly such files, a legitimate crash state.

use std::collections::BTreeSet;
use std::path::Path;

use lsmkit_base::filename::{log_file_name, parse_file_name, table_file_name, FileType};
use lsmkit_base::fs::FileSystem;
use lsmkit_base::{Error, Result};

use crate::version::Version;

/// How the MANIFEST that recovery read ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ManifestEnd {
    /// The MANIFEST's length in bytes.
    pub(crate) file_len: u64,
    /// The tail that recovery dropped as a crash-torn record, if any: its
    /// offset and length.
    pub(crate) torn_tail: Option<(u64, u64)>,
}

impl ManifestEnd {
    /// Where records would be missing: the dropped tail's offset, or the end of the file.
    fn loss_offset(&self) -> u64 {
        self.torn_tail.map_or(self.file_len, |(offset, _)| offset)
    }

    /// How the MANIFEST ends, for error messages.
    fn describe(&self) -> String {
        match self.torn_tail {
            Some((offset, bytes)) => {
                format!("its last {bytes} bytes, from offset {offset}, were dropped as a torn record")
            }
            None => format!("it ends cleanly at offset {}", self.file_len),
        }
    }
}

/// Checks that the files the recovered state needs are in `dir`: the WAL
/// named by `log_number` (when not 0) and every table of `version`.
/// Returns `Corruption` in `manifest` (at the offset where records seem
/// lost) otherwise.
pub(crate) fn check_manifest_is_complete(
    fs: &dyn FileSystem,
    dir: &Path,
    manifest: &Path,
    end: ManifestEnd,
    log_number: u64,
    version: &Version,
) -> Result<()> {
    let mut logs = BTreeSet::new();
    let mut tables = BTreeSet::new();
    for name in fs.list_dir(dir)? {
        match parse_file_name(&name) {
            Some((number, FileType::Log)) => {
                logs.insert(number);
            }
            Some((number, FileType::Table)) => {
                tables.insert(number);
            }
            _ => {}
        }
    }
    let lost = |what: String| {
        Error::corruption_at(
            manifest,
            end.loss_offset(),
            format!("records seem lost at the end of the MANIFEST ({}): {what}", end.describe()),
        )
    };
    if log_number != 0 && !logs.contains(&log_number) {
        return Err(lost(format!(
            "its log number names {}, which does not exist",
            log_file_name(dir, log_number).display()
        )));
    }
    let missing: Vec<u64> = version.table_numbers().filter(|n| !tables.contains(n)).collect();
    if let Some(&first) = missing.first() {
        return Err(lost(format!(
            "{} live table(s) missing, e.g. {}",
            missing.len(),
            table_file_name(dir, first).display()
        )));
    }
    Ok(())
}
