//! Before the repair changes anything: the files of the directory sorted
//! by kind and number (tables by number, `.ldb` preferred over `.sst`;
//! numbers too large to be real set aside), and the comparator an old
//! MANIFEST records checked against the repair's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lsmkit_base::filename::{manifest_file_name, parse_file_name, FileType};
use lsmkit_base::{Error, Result};
use lsmkit_version::VersionEdit;
use lsmkit_wal::{LogReader, RecoveryMode};

use super::Repairer;
use crate::merge::MERGE_COMPARATOR_PREFIX;
use crate::range_del::RANGE_DEL_COMPARATOR_PREFIX;
use crate::ttl::TTL_COMPARATOR_PREFIX;

/// Files numbered at or above this are not taken for database files (the
/// MANIFEST reader refuses them too).
const MAX_PLAUSIBLE_FILE_NUMBER: u64 = 1 << 62;

/// The files of the directory, by kind.
#[derive(Debug, Default)]
pub(super) struct FoundFiles {
    /// MANIFEST numbers, in directory order.
    pub(super) manifests: Vec<u64>,
    /// Log numbers, ascending.
    pub(super) logs: Vec<u64>,
    /// Tables by number, with their paths.
    pub(super) tables: BTreeMap<u64, PathBuf>,
    /// Database files whose numbers are implausibly large, to set aside.
    pub(super) implausible: Vec<PathBuf>,
}

impl Repairer<'_> {
    /// Sorts the directory's file names (`names`) into what the repair
    /// works on, and moves the next file number past every number seen.
    pub(super) fn find_files(&mut self, names: &[String]) -> FoundFiles {
        let mut files = FoundFiles::default();
        for name in names {
            let Some((number, file_type)) = parse_file_name(name) else { continue };
            if number >= MAX_PLAUSIBLE_FILE_NUMBER {
                if matches!(file_type, FileType::Manifest | FileType::Log | FileType::Table | FileType::Temp)
                {
                    files.implausible.push(self.dir.join(name));
                }
                continue;
            }
            self.next_file_number = self.next_file_number.max(number + 1);
            match file_type {
                FileType::Manifest => files.manifests.push(number),
                FileType::Log => files.logs.push(number),
                FileType::Table => {
                    // Both `.ldb` and `.sst` for one number: the `.ldb` is the
                    // one the database reads; the other is left alone.
                    if name.ends_with(".ldb") || !files.tables.contains_key(&number) {
                        files.tables.insert(number, self.dir.join(name));
                    }
                }
                FileType::Current | FileType::Temp | FileType::Lock | FileType::InfoLog => {}
            }
        }
        files.logs.sort_unstable();
        files
    }

    /// Fails with `InvalidArgument` when an old MANIFEST (the newest one
    /// whose first records can be read) names another comparator than the
    /// repair's, for instance a database with entry expiry (`lsmkit.ttl.`
    /// mark) repaired without `Options::enable_ttl`, or the other way
    /// round: the new MANIFEST would carry the wrong name, and the values
    /// would be read without (or with) their TTL frame. Unreadable or
    /// missing MANIFESTs say nothing; the repair then trusts the options.
    pub(super) fn check_recorded_comparator(&self, manifests: &[u64]) -> Result<()> {
        let ours = self.icmp.user_comparator().name();
        let mut newest_first = manifests.to_vec();
        newest_first.sort_unstable_by(|a, b| b.cmp(a));
        for number in newest_first {
            let path = manifest_file_name(self.dir, number);
            let Some(recorded) = self.recorded_comparator_name(&path) else { continue };
            if recorded == ours.as_bytes() {
                return Ok(());
            }
            let recorded = String::from_utf8_lossy(&recorded).into_owned();
            let hint = if recorded.starts_with(RANGE_DEL_COMPARATOR_PREFIX) {
                " (a database with range deletions: repair it with Options::range_deletions)"
            } else if ours.starts_with(RANGE_DEL_COMPARATOR_PREFIX) {
                " (a database without range deletions: repair it without Options::range_deletions)"
            } else if recorded.starts_with(TTL_COMPARATOR_PREFIX) {
                " (a database with entry expiry: repair it with Options::enable_ttl)"
            } else if ours.starts_with(TTL_COMPARATOR_PREFIX) {
                " (a database without entry expiry: repair it without Options::enable_ttl)"
            } else if recorded.starts_with(MERGE_COMPARATOR_PREFIX) {
                " (a database with a merge operator: repair it with Options::merge_operator)"
            } else if ours.starts_with(MERGE_COMPARATOR_PREFIX) {
                " (a database without a merge operator: repair it without Options::merge_operator)"
            } else {
                ""
            };
            return Err(Error::InvalidArgument(format!(
                "{}: written with comparator {recorded}, repair asked to use {ours}{hint}",
                path.display()
            )));
        }
        Ok(())
    }

    /// The comparator name in the first few records of the MANIFEST at
    /// `path`, if they can be read and one names it.
    fn recorded_comparator_name(&self, path: &Path) -> Option<Vec<u8>> {
        let file = self.fs.open_sequential(path).ok()?;
        let mut reader = LogReader::new(file, path, RecoveryMode::AbsoluteConsistency);
        for _ in 0..4 {
            let record = reader.read_record().ok()??;
            if let Some(name) = VersionEdit::decode(&record).ok()?.comparator_name {
                return Some(name);
            }
        }
        None
    }
}
