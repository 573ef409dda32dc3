//! `manifest`: the database's current version as its MANIFEST records it —
//! counters, then each level's files with sizes and key ranges (docs/format.md
//! §10). Read-only: the MANIFEST is replayed without opening the database,
//! so it works while another process has the database open.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use lsmkit_base::comparator::BytewiseComparator;
use lsmkit_base::fs::{FileSystem, StdFs};
use lsmkit_base::key::InternalKeyComparator;
use lsmkit_version::{VersionSet, VersionSetOptions, NUM_LEVELS};

use crate::byte_format::{quoted, ByteFormat};
use crate::database;
use crate::describe::{file_meta, internal_key, write_version_edit};
use crate::error::CliResult;
use crate::manifest_replay::replay;

/// Recovers the database's version set read-only (bytewise comparator).
pub fn recover_versions(fs: Arc<dyn FileSystem>, dir: &Path) -> lsmkit_base::Result<VersionSet> {
    let icmp = InternalKeyComparator::new(BytewiseComparator::shared());
    let mut versions = VersionSet::new(dir, fs, icmp, VersionSetOptions::default());
    versions.recover()?;
    Ok(versions)
}

fn counter(value: Option<u64>) -> String {
    value.map_or_else(|| "(not recorded)".to_string(), |v| v.to_string())
}

/// `manifest [--verbose]`.
pub fn manifest(dir: &Path, format: ByteFormat, verbose: bool, out: &mut dyn Write) -> CliResult {
    database::check_exists(dir)?;
    let fs: Arc<dyn FileSystem> = Arc::new(StdFs::new());
    let replayed = replay(fs.as_ref(), dir)?;
    if verbose {
        for (offset, edit) in &replayed.edits {
            writeln!(out, "--- edit at offset {offset}")?;
            write_version_edit(format, edit, "  ", out)?;
        }
    }
    let versions = recover_versions(fs, dir)?;
    writeln!(out, "{}: {} bytes, {} edits", replayed.path.display(), replayed.size, replayed.edits.len())?;
    for problem in &replayed.problems {
        writeln!(out, "damage (ignored by recovery): {problem}")?;
    }
    let comparator = replayed.comparator.as_deref().map_or_else(|| "(not recorded)".to_string(), quoted);
    writeln!(out, "comparator: {comparator}")?;
    writeln!(out, "log number: {}", counter(replayed.log_number))?;
    writeln!(out, "previous log number: {}", counter(replayed.prev_log_number))?;
    writeln!(out, "next file number: {}", counter(replayed.next_file_number))?;
    writeln!(out, "last sequence: {}", counter(replayed.last_sequence))?;
    for (level, key) in versions.compact_pointers().iter() {
        writeln!(out, "compact pointer: level {level} {}", internal_key(format, key))?;
    }
    let version = versions.current();
    let (mut total_files, mut total_bytes) = (0, 0);
    for level in 0..NUM_LEVELS {
        let files = version.files(level);
        let bytes = version.num_level_bytes(level);
        total_files += files.len();
        total_bytes += bytes;
        writeln!(out, "level {level}: {} files, {bytes} bytes", files.len())?;
        for file in files {
            writeln!(out, "  {}", file_meta(format, file))?;
        }
    }
    writeln!(out, "total: {total_files} files, {total_bytes} bytes")?;
    Ok(())
}
