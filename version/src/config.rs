//! LevelDB 1.23's level constants and size thresholds (docs/format.md §11), and
//! the options a [`VersionSet`](crate::VersionSet) is opened with.
//!
//! The constants are shared by the compaction picker and the engine, which
//! both build on this crate.

/// Number of levels: 0 to 6. A MANIFEST naming a level ≥ 7 is corrupt.
pub const NUM_LEVELS: usize = 7;

/// Level-0 file count at which a compaction is wanted (the L0 score is files / 4).
pub const L0_COMPACTION_TRIGGER: usize = 4;

/// Level-0 file count at which each write is delayed by 1 ms.
pub const L0_SLOWDOWN_WRITES_TRIGGER: usize = 8;

/// Level-0 file count at which writes wait for a compaction.
pub const L0_STOP_WRITES_TRIGGER: usize = 12;

/// The deepest level a table flushed from the memtable may be placed at
/// (`kMaxMemCompactLevel`).
pub const MAX_MEM_COMPACT_LEVEL: usize = 2;

/// The smallest number of seeks a file is allowed before a seek compaction.
pub const MIN_ALLOWED_SEEKS: i64 = 100;

/// One allowed seek per this many bytes of file (docs/format.md §11, `allowed_seeks`).
pub const BYTES_PER_ALLOWED_SEEK: u64 = 16 * 1024;

/// LevelDB's default `max_file_size` (2 MiB): the target size of a compaction output.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 2 * 1024 * 1024;

/// The default size past which a running database starts a new MANIFEST
/// (64 MiB, RocksDB's choice; LevelDB 1.23 never rolls a MANIFEST over while open).
pub const DEFAULT_MAX_MANIFEST_FILE_SIZE: u64 = 64 * 1024 * 1024;

/// The total size above which level `level` (≥ 1) wants a compaction:
/// 10 MiB for level 1, ten times more for each deeper level. Level 0 is
/// scored by file count instead; for it (and level 1) this returns 10 MiB.
pub fn max_bytes_for_level(level: usize) -> f64 {
    let mut result = 10.0 * 1_048_576.0;
    let mut level = level;
    while level > 1 {
        result *= 10.0;
        level -= 1;
    }
    result
}

/// How much a flushed table or compaction output may overlap in the level
/// two below before it is kept higher / cut early: 10 × `max_file_size`.
pub fn max_grandparent_overlap_bytes(max_file_size: u64) -> u64 {
    max_file_size.saturating_mul(10)
}

/// How large level-L inputs plus level-(L+1) inputs may grow when a
/// compaction is expanded: 25 × `max_file_size`.
pub fn expanded_compaction_byte_size_limit(max_file_size: u64) -> u64 {
    max_file_size.saturating_mul(25)
}

/// What a [`VersionSet`](crate::VersionSet) needs to know beyond its directory,
/// file system and comparator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionSetOptions {
    /// LevelDB's `max_file_size`: the target size of compaction outputs, used
    /// here to place flushed tables (10 × this bounds the grandparent overlap).
    pub max_file_size: u64,
    /// Once the open MANIFEST is at least this large, the next
    /// [`log_and_apply`](crate::VersionSet::log_and_apply) starts a new one
    /// with a snapshot record.
    pub max_manifest_file_size: u64,
    /// LevelDB's `reuse_logs` for the MANIFEST: at recovery, keep appending
    /// to the existing MANIFEST when it is smaller than
    /// `max_manifest_file_size` and ends cleanly, instead of writing a new one.
    pub reuse_manifest: bool,
    /// The engine's `paranoid_checks`: at recovery, the WAL named by the
    /// recovered log number and every live table must exist, or the
    /// MANIFEST is taken to have lost acknowledged records at its end
    /// (`Corruption` naming it) rather than to end in a crash-torn record.
    pub paranoid_checks: bool,
}

impl Default for VersionSetOptions {
    fn default() -> VersionSetOptions {
        VersionSetOptions {
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            max_manifest_file_size: DEFAULT_MAX_MANIFEST_FILE_SIZE,
            reuse_manifest: false,
            paranoid_checks: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_limits_match_leveldb() {
        assert_eq!(max_bytes_for_level(1), 10_485_760.0);
        assert_eq!(max_bytes_for_level(2), 104_857_600.0);
        assert_eq!(max_bytes_for_level(6), 10_485_760.0 * 100_000.0);
        assert_eq!(max_grandparent_overlap_bytes(DEFAULT_MAX_FILE_SIZE), 20 * 1_048_576);
        assert_eq!(expanded_compaction_byte_size_limit(DEFAULT_MAX_FILE_SIZE), 50 * 1_048_576);
    }
}
