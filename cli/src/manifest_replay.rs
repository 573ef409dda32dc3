//! Replaying a database's live MANIFEST (the one `CURRENT` names, docs/format.md
//! §10.3) record by record: every VersionEdit with its offset, the counters
//! as the MANIFEST last recorded them, and every damaged part.
//!
//! [`VersionSet::recover`](lsmkit_version::VersionSet::recover) builds the
//! Version; this keeps what it does not expose (the edits, the comparator
//! name, the stored next-file counter) and, unlike recovery, reports a torn
//! tail too.

use std::path::{Path, PathBuf};

use lsmkit_base::fs::FileSystem;
use lsmkit_base::key::SequenceNumber;
use lsmkit_version::current_file::read_current_file;
use lsmkit_version::VersionEdit;

use crate::error::CliResult;
use crate::log_records::{read_log, LogItem};

/// What the live MANIFEST holds.
#[derive(Debug, Default)]
pub struct ManifestReplay {
    /// The MANIFEST's path.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Every edit that decoded, with the offset of its record.
    pub edits: Vec<(u64, VersionEdit)>,
    /// Damaged regions and undecodable records, as messages with offsets.
    pub problems: Vec<String>,
    /// The last comparator name recorded.
    pub comparator: Option<Vec<u8>>,
    /// The last log number recorded.
    pub log_number: Option<u64>,
    /// The last previous-log number recorded.
    pub prev_log_number: Option<u64>,
    /// The last next-file number recorded.
    pub next_file_number: Option<u64>,
    /// The last sequence number recorded.
    pub last_sequence: Option<SequenceNumber>,
}

impl ManifestReplay {
    fn apply(&mut self, offset: u64, edit: VersionEdit) {
        self.comparator = edit.comparator_name.clone().or(self.comparator.take());
        self.log_number = edit.log_number.or(self.log_number);
        self.prev_log_number = edit.prev_log_number.or(self.prev_log_number);
        self.next_file_number = edit.next_file_number.or(self.next_file_number);
        self.last_sequence = edit.last_sequence.or(self.last_sequence);
        self.edits.push((offset, edit));
    }
}

/// Reads the MANIFEST that `dir/CURRENT` names. Fails only when `CURRENT`
/// or the MANIFEST cannot be read at all; damage inside is in `problems`.
pub fn replay(fs: &dyn FileSystem, dir: &Path) -> CliResult<ManifestReplay> {
    let (name, _) = read_current_file(fs, dir)?;
    let path = dir.join(name);
    let mut replay = ManifestReplay { size: fs.file_size(&path)?, path: path.clone(), ..Default::default() };
    read_log(fs, &path, |item| {
        match item {
            LogItem::Damage(region) => replay.problems.push(region.to_string()),
            LogItem::Record { offset, data } => match VersionEdit::decode(&data) {
                Ok(edit) => replay.apply(offset, edit),
                Err(e) => replay.problems.push(format!("record at offset {offset}: {e}")),
            },
        }
        Ok(())
    })?;
    Ok(replay)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsmkit_base::comparator::BytewiseComparator;
    use lsmkit_base::fs::{read_file_to_vec, write_file, MemFs};
    use lsmkit_base::key::InternalKeyComparator;
    use lsmkit_version::{VersionSet, VersionSetOptions};
    use std::sync::Arc;

    fn new_db(fs: &Arc<dyn FileSystem>) {
        fs.create_dir_all(Path::new("db")).unwrap();
        let icmp = InternalKeyComparator::new(BytewiseComparator::shared());
        let versions = VersionSet::new("db", fs.clone(), icmp, VersionSetOptions::default());
        versions.create_new_db().unwrap();
    }

    #[test]
    fn counters_are_the_last_recorded() {
        let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
        new_db(&fs);
        let replay = replay(fs.as_ref(), Path::new("db")).unwrap();
        assert_eq!(replay.path, Path::new("db/MANIFEST-000001"));
        assert_eq!(replay.edits.len(), 1);
        assert!(replay.problems.is_empty());
        assert_eq!(replay.comparator.as_deref(), Some(&b"leveldb.BytewiseComparator"[..]));
        assert_eq!(
            (replay.log_number, replay.next_file_number, replay.last_sequence),
            (Some(0), Some(2), Some(0))
        );
        assert_eq!(replay.prev_log_number, None);
    }

    #[test]
    fn a_torn_tail_is_a_problem() {
        let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
        new_db(&fs);
        let path = Path::new("db/MANIFEST-000001");
        let bytes = read_file_to_vec(fs.as_ref(), path).unwrap();
        write_file(fs.as_ref(), path, &bytes[..bytes.len() - 3], false).unwrap();
        let replay = replay(fs.as_ref(), Path::new("db")).unwrap();
        assert!(replay.edits.is_empty());
        assert_eq!(replay.problems.len(), 1, "{:?}", replay.problems);
        assert!(replay.problems[0].contains("truncated"), "{:?}", replay.problems);
    }
}
