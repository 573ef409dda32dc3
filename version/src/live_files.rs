//! Which files of a database directory are still needed: the registry of
//! Versions that someone still holds, and the garbage-collection rule of
//! docs/format.md §10.4.

use std::collections::BTreeSet;
use std::sync::{Arc, Weak};

use lsmkit_base::filename::{parse_file_name, FileType};

use crate::version::Version;

/// Every Version installed by a VersionSet that is still referenced
/// somewhere (by a reader, an iterator, a compaction).
#[derive(Debug, Default)]
pub(crate) struct LiveVersions {
    versions: Vec<Weak<Version>>,
}

impl LiveVersions {
    /// Records a newly installed Version and forgets the ones nobody holds.
    pub(crate) fn register(&mut self, version: &Arc<Version>) {
        self.versions.retain(|v| v.strong_count() > 0);
        self.versions.push(Arc::downgrade(version));
    }

    /// Forgets every Version (a fresh recovery).
    pub(crate) fn clear(&mut self) {
        self.versions.clear();
    }

    /// The table numbers used by any Version still held.
    pub(crate) fn table_numbers(&self) -> BTreeSet<u64> {
        self.versions
            .iter()
            .filter_map(Weak::upgrade)
            .flat_map(|v| v.table_numbers().collect::<Vec<_>>())
            .collect()
    }
}

/// A file that may be deleted, as found in a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObsoleteFile {
    /// The name in the directory.
    pub name: String,
    /// Its number.
    pub number: u64,
    /// What it is (a table's cached reader should be evicted before deletion).
    pub file_type: FileType,
}

/// What the garbage-collection rule needs to know.
pub(crate) struct KeepRule<'a> {
    /// Tables used by a live Version, and tables or temp files being written.
    pub(crate) needed: &'a BTreeSet<u64>,
    pub(crate) log_number: u64,
    pub(crate) prev_log_number: u64,
    pub(crate) manifest_file_number: u64,
}

impl KeepRule<'_> {
    /// LevelDB's `RemoveObsoleteFiles` rule: keep logs numbered at least the
    /// log number (or equal to the previous log number), MANIFESTs numbered
    /// at least the live one, tables and temp files that are needed, and
    /// every unnumbered file (CURRENT, LOCK, LOG). Names LevelDB does not
    /// know are never touched.
    pub(crate) fn obsolete(&self, names: &[String]) -> Vec<ObsoleteFile> {
        let mut out = Vec::new();
        for name in names {
            let Some((number, file_type)) = parse_file_name(name) else {
                continue;
            };
            let keep = match file_type {
                FileType::Log => number >= self.log_number || number == self.prev_log_number,
                FileType::Manifest => number >= self.manifest_file_number,
                FileType::Table | FileType::Temp => self.needed.contains(&number),
                FileType::Current | FileType::Lock | FileType::InfoLog => true,
            };
            if !keep {
                out.push(ObsoleteFile { name: name.clone(), number, file_type });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsmkit_base::comparator::BytewiseComparator;
    use lsmkit_base::key::InternalKeyComparator;

    #[test]
    fn keep_rule_follows_leveldb() {
        let needed: BTreeSet<u64> = [5, 9].into_iter().collect();
        let rule = KeepRule { needed: &needed, log_number: 8, prev_log_number: 3, manifest_file_number: 7 };
        let names: Vec<String> = [
            "000002.log",
            "000003.log",
            "000008.log",
            "000010.log",
            "000005.ldb",
            "000006.ldb",
            "000009.sst",
            "000004.sst",
            "MANIFEST-000006",
            "MANIFEST-000007",
            "MANIFEST-000011",
            "000011.dbtmp",
            "000009.dbtmp",
            "CURRENT",
            "LOCK",
            "LOG",
            "LOG.old",
            "notes.txt",
            "000012.ldb.bak",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let obsolete: Vec<String> = rule.obsolete(&names).into_iter().map(|f| f.name).collect();
        assert_eq!(
            obsolete,
            ["000002.log", "000006.ldb", "000004.sst", "MANIFEST-000006", "000011.dbtmp"].map(str::to_string)
        );
        let first = &rule.obsolete(&names)[0];
        assert_eq!((first.number, first.file_type), (2, FileType::Log));
    }

    #[test]
    fn registry_tracks_held_versions_only() {
        let icmp = InternalKeyComparator::new(BytewiseComparator::shared());
        let mut live = LiveVersions::default();
        let held = Arc::new(Version::empty(icmp.clone()));
        live.register(&held);
        live.register(&Arc::new(Version::empty(icmp.clone())));
        assert_eq!(live.versions.len(), 2);
        live.register(&Arc::new(Version::empty(icmp)));
        // The dropped one was pruned when the next was registered.
        assert_eq!(live.versions.len(), 2);
        assert!(live.table_numbers().is_empty());
        live.clear();
        assert!(live.versions.is_empty());
    }
}
