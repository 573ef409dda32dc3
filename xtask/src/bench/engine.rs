//! The storage-engine interface the workloads drive, the engines it has
//! adapters for, the two ways a peer is configured (the settings every engine
//! gets alike, or the peer's own defaults), and the one measure of space they
//! share (bytes of the files under the database directory).

use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// What a failed engine call reports.
pub type EngineResult<T> = Result<T, String>;

/// One operation of a write batch.
#[derive(Clone, Copy, Debug)]
pub enum BatchOp<'a> {
    /// Set `key` to `value`.
    Put(&'a [u8], &'a [u8]),
    /// Remove `key`.
    Delete(&'a [u8]),
}

/// Which way a scan goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// From the smallest key up.
    Forward,
    /// From the largest key down.
    Backward,
}

/// An open database. All methods take `&self`: workloads call them from
/// several threads at once.
pub trait Engine: Send + Sync {
    /// Sets `key` to `value`; with `sync`, the write is on stable storage
    /// (the WAL is fsynced) when this returns.
    fn put(&self, key: &[u8], value: &[u8], sync: bool) -> EngineResult<()>;
    /// Applies `ops` atomically, in order.
    fn write_batch(&self, ops: &[BatchOp<'_>], sync: bool) -> EngineResult<()>;
    /// Removes `key`.
    fn delete(&self, key: &[u8], sync: bool) -> EngineResult<()>;
    /// Merges `operand` into `key` with the merge operator the database was
    /// opened with ([`EngineSettings::u64_add_merge`]). Engines without a
    /// merge operator (see [`EngineName::has_merge_operator`]) refuse.
    fn merge(&self, key: &[u8], operand: &[u8], sync: bool) -> EngineResult<()> {
        let _ = (key, operand, sync);
        Err("this engine has no merge operator".into())
    }
    /// Reads `key` into `value`; false when it is absent.
    fn get(&self, key: &[u8], value: &mut Vec<u8>) -> EngineResult<bool>;
    /// Visits up to `limit` entries in `direction` order from the first (or
    /// last) key with a new iterator; returns how many it visited.
    fn scan(
        &self,
        direction: Direction,
        limit: u64,
        visit: &mut dyn FnMut(&[u8], &[u8]),
    ) -> EngineResult<u64>;
    /// Positions a new iterator at the first key at or after `key` and copies
    /// that key into `found`; false when there is none.
    fn seek(&self, key: &[u8], found: &mut Vec<u8>) -> EngineResult<bool>;
    /// Compacts the whole key range (LevelDB's `CompactRange(nullptr, nullptr)`).
    fn compact(&self) -> EngineResult<()>;
    /// The number of table files at each level, from level 0 down to the
    /// deepest non-empty level (the engine's `num-files-at-level<N>`
    /// property), or `None` for an engine without levels.
    fn files_per_level(&self) -> Option<Vec<u64>> {
        None
    }
}

/// The levels a leveled engine reports (LevelDB's and lsmkit's seven).
pub const REPORTED_LEVELS: usize = 7;

/// Collects `count(level)` for every level up to the deepest non-empty one
/// (at least level 0), `None` if any count is unknown.
pub fn files_per_level_from(count: impl Fn(usize) -> Option<u64>) -> Option<Vec<u64>> {
    let mut files = (0..REPORTED_LEVELS).map(count).collect::<Option<Vec<u64>>>()?;
    while files.len() > 1 && files.last() == Some(&0) {
        files.pop();
    }
    Some(files)
}

/// The settings every engine is opened with (the `db_bench` flags that are
/// engine options).
#[derive(Clone, Debug, PartialEq)]
pub struct EngineSettings {
    /// Bytes of writes a memtable buffers before it is flushed.
    pub write_buffer_size: usize,
    /// Bytes of block cache.
    pub cache_size: usize,
    /// Bloom filter bits per key; `None` for no filter.
    pub bloom_bits: Option<u32>,
    /// Open the database with a merge operator adding 8-byte little-endian
    /// u64s (wrapping; a missing value counts as 0): lsmkit's
    /// `U64AddOperator`, an associative operator doing the same in RocksDB.
    /// Set for the workloads that merge, whatever the tuning.
    pub u64_add_merge: bool,
    /// lsmkit's `table_read_mode`; `None` for lsmkit's default (peers
    /// ignore it).
    pub lsmkit_table_read_mode: Option<lsmkit_base::fs::ReadMode>,
    /// lsmkit's `wal_io_mode`; `None` for lsmkit's default (peers ignore it).
    pub lsmkit_wal_io_mode: Option<lsmkit_wal::WalIoMode>,
    /// lsmkit's `compaction_priority`; `None` for lsmkit's default.
    pub lsmkit_compaction_priority: Option<lsmkit::CompactionPriority>,
    /// lsmkit's `aligned_output_cuts`; `None` for lsmkit's default.
    pub lsmkit_aligned_output_cuts: Option<bool>,
    /// lsmkit's `max_subcompactions`; `None` for lsmkit's default.
    pub lsmkit_max_subcompactions: Option<usize>,
}

/// The engines `cargo xtask bench` can drive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EngineName {
    /// This project.
    Lsmkit,
    /// LevelDB 1.23 through its C API (feature `leveldb`).
    Leveldb,
    /// RocksDB through the `rocksdb` crate (feature `rocksdb`).
    Rocksdb,
    /// fjall, a pure-Rust LSM-tree (feature `fjall`).
    Fjall,
}

impl EngineName {
    /// Every engine, in report order.
    pub const ALL: [EngineName; 4] =
        [EngineName::Lsmkit, EngineName::Leveldb, EngineName::Rocksdb, EngineName::Fjall];

    /// The name used in `--engines`, the result lines and the JSON.
    pub fn name(self) -> &'static str {
        match self {
            EngineName::Lsmkit => "lsmkit",
            EngineName::Leveldb => "leveldb",
            EngineName::Rocksdb => "rocksdb",
            EngineName::Fjall => "fjall",
        }
    }

    /// Whether this is a peer (not lsmkit itself), which can also run with
    /// its own defaults.
    pub fn is_peer(self) -> bool {
        self != EngineName::Lsmkit
    }

    /// The cargo feature of xtask that compiles the adapter in (`None`: always there).
    pub fn cargo_feature(self) -> Option<&'static str> {
        match self {
            EngineName::Lsmkit => None,
            EngineName::Leveldb => Some("leveldb"),
            EngineName::Rocksdb => Some("rocksdb"),
            EngineName::Fjall => Some("fjall"),
        }
    }

    /// Whether the engine has a merge operator (the `countermerge`
    /// workload is skipped on the others).
    pub fn has_merge_operator(self) -> bool {
        matches!(self, EngineName::Lsmkit | EngineName::Rocksdb)
    }

    /// Whether this build of xtask has the adapter.
    pub fn is_compiled_in(self) -> bool {
        match self {
            EngineName::Lsmkit => true,
            EngineName::Leveldb => cfg!(feature = "leveldb"),
            EngineName::Rocksdb => cfg!(feature = "rocksdb"),
            EngineName::Fjall => cfg!(feature = "fjall"),
        }
    }
}

impl fmt::Display for EngineName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for EngineName {
    type Err = String;

    fn from_str(name: &str) -> Result<EngineName, String> {
        EngineName::ALL
            .into_iter()
            .find(|e| e.name() == name)
            .ok_or_else(|| format!("unknown engine '{name}' (known: lsmkit,leveldb,rocksdb,fjall)"))
    }
}

/// How a peer engine is configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tuning {
    /// The [`EngineSettings`] lsmkit runs with (same write buffer, block
    /// cache, bloom bits, compression), mapped onto the engine's options.
    Matched,
    /// The engine's own defaults, as its users get them without tuning.
    Defaults,
}

/// What is appended to a peer's name for its run with its own defaults.
pub const DEFAULTS_SUFFIX: &str = "-defaults";

/// Whether `label` (an [`EngineSpec`] label) names a run with an engine's
/// own defaults.
pub fn is_defaults_label(label: &str) -> bool {
    label.ends_with(DEFAULTS_SUFFIX)
}

/// One engine run of a bench: which engine and how it is configured. Its
/// label (`leveldb`, `leveldb-defaults`) names it in `--engines`, the result
/// lines, the table, the JSON and the database directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EngineSpec {
    /// The engine.
    pub engine: EngineName,
    /// Its configuration.
    pub tuning: Tuning,
}

impl EngineSpec {
    /// `engine` with the matched settings.
    pub fn matched(engine: EngineName) -> EngineSpec {
        EngineSpec { engine, tuning: Tuning::Matched }
    }

    /// `engine` with its own defaults.
    pub fn defaults(engine: EngineName) -> EngineSpec {
        EngineSpec { engine, tuning: Tuning::Defaults }
    }

    /// The label: the engine's name, with [`DEFAULTS_SUFFIX`] for its defaults.
    pub fn label(self) -> String {
        match self.tuning {
            Tuning::Matched => self.engine.name().to_string(),
            Tuning::Defaults => format!("{}{DEFAULTS_SUFFIX}", self.engine.name()),
        }
    }

    /// The settings the adapter maps onto the engine's options; `None`
    /// means the engine's own defaults.
    fn matched_settings(self, settings: &EngineSettings) -> Option<&EngineSettings> {
        match self.tuning {
            Tuning::Matched => Some(settings),
            Tuning::Defaults => None,
        }
    }

    /// The engine's version and how it is configured (`settings` mapped
    /// onto its options, or its defaults).
    pub fn describe(self, settings: &EngineSettings) -> String {
        let matched = self.matched_settings(settings);
        let text = match self.engine {
            // lsmkit always runs with the settings (no spec of it has `Defaults`).
            EngineName::Lsmkit => super::engine_lsmkit::describe(matched.unwrap_or(settings)),
            #[cfg(feature = "leveldb")]
            EngineName::Leveldb => super::engine_leveldb::describe(matched),
            #[cfg(feature = "rocksdb")]
            EngineName::Rocksdb => super::engine_rocksdb::describe(matched),
            #[cfg(feature = "fjall")]
            EngineName::Fjall => super::engine_fjall::describe(matched),
            #[allow(unreachable_patterns)]
            _ => format!("{} (not compiled in)", self.engine),
        };
        format!("{}: {text}", self.label())
    }

    /// Opens (creating if missing) the database in `dir`.
    pub fn open(self, dir: &Path, settings: &EngineSettings) -> EngineResult<Box<dyn Engine>> {
        let matched = self.matched_settings(settings);
        match self.engine {
            EngineName::Lsmkit => super::engine_lsmkit::open(dir, matched.unwrap_or(settings)),
            #[cfg(feature = "leveldb")]
            EngineName::Leveldb => super::engine_leveldb::open(dir, matched),
            #[cfg(feature = "rocksdb")]
            EngineName::Rocksdb => super::engine_rocksdb::open(dir, matched, settings.u64_add_merge),
            #[cfg(feature = "fjall")]
            EngineName::Fjall => super::engine_fjall::open(dir, matched),
            #[allow(unreachable_patterns)]
            _ => Err(format!(
                "this xtask was built without feature `{}`",
                self.engine.cargo_feature().unwrap_or("")
            )),
        }
    }
}

impl fmt::Display for EngineSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

impl FromStr for EngineSpec {
    type Err = String;

    /// Parses a label: an engine name (matched settings), or a peer's name
    /// with [`DEFAULTS_SUFFIX`] (its defaults). lsmkit has no defaults run:
    /// its defaults are the matched settings' defaults.
    fn from_str(label: &str) -> Result<EngineSpec, String> {
        match label.strip_suffix(DEFAULTS_SUFFIX) {
            Some(name) => {
                let engine: EngineName = name.parse()?;
                if !engine.is_peer() {
                    return Err(format!(
                        "'{label}': lsmkit always runs with the matched settings (the flags' defaults are \
                         its own defaults)"
                    ));
                }
                Ok(EngineSpec::defaults(engine))
            }
            None => label.parse().map(EngineSpec::matched),
        }
    }
}

/// What an adapter's `get` returns: copies `found` (if any) into `out`
/// and says whether there was one.
pub fn copy_found(found: Option<impl AsRef<[u8]>>, out: &mut Vec<u8>) -> bool {
    match found {
        Some(bytes) => {
            out.clear();
            out.extend_from_slice(bytes.as_ref());
            true
        }
        None => false,
    }
}

/// Removes the database directory `dir` and everything in it (the same for
/// every engine, in place of each one's own destroy call).
pub fn destroy(dir: &Path) -> EngineResult<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("cannot remove {}: {e}", dir.display())),
    }
}

/// Bytes of storage allocated to the regular files under `dir`
/// (recursively): the sum of their blocks, so preallocated but unwritten
/// space (fjall's journal) and holes do not count.
pub fn bytes_on_disk(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;

    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    let mut total = 0;
    for entry in entries.flatten() {
        // A file deleted by a background compaction meanwhile counts as 0.
        let Ok(metadata) = entry.metadata() else { continue };
        if metadata.is_dir() {
            total += bytes_on_disk(&entry.path());
        } else if metadata.is_file() {
            // st_blocks counts 512-byte units whatever the file system's block size.
            total += metadata.blocks() * 512;
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_on_disk_sums_files_recursively() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), [1u8; 100]).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/b"), [1u8; 10_000]).unwrap();
        // A sparse file allocates (almost) nothing.
        std::fs::File::create(dir.path().join("sparse")).unwrap().set_len(64 << 20).unwrap();
        let bytes = bytes_on_disk(dir.path());
        // At least the data written, and no more than a few blocks besides.
        assert!((10_100..10_100 + 6 * 4096).contains(&bytes), "{bytes}");
        destroy(dir.path()).unwrap();
        assert_eq!(bytes_on_disk(dir.path()), 0);
        destroy(dir.path()).unwrap();
    }

    #[test]
    fn engine_names_round_trip() {
        for engine in EngineName::ALL {
            assert_eq!(engine.name().parse::<EngineName>().unwrap(), engine);
        }
        assert!(EngineName::Lsmkit.is_compiled_in());
    }

    #[test]
    fn engine_labels_round_trip() {
        for engine in EngineName::ALL {
            let matched = EngineSpec::matched(engine);
            assert_eq!(matched.label(), engine.name());
            assert_eq!(matched.label().parse::<EngineSpec>().unwrap(), matched);
            assert!(!is_defaults_label(&matched.label()));
            if engine.is_peer() {
                let defaults = EngineSpec::defaults(engine);
                assert_eq!(defaults.label(), format!("{engine}-defaults"));
                assert_eq!(defaults.label().parse::<EngineSpec>().unwrap(), defaults);
                assert!(is_defaults_label(&defaults.label()));
            }
        }
        assert!("lsmkit-defaults".parse::<EngineSpec>().is_err());
        assert!("sqlite-defaults".parse::<EngineSpec>().unwrap_err().contains("sqlite"));
        assert!("-defaults".parse::<EngineSpec>().is_err());
    }
}
