//! The storage-engine interface the workloads drive, the engines it has
//! adapters for, the settings every engine gets alike, and the one measure
//! of space they share (bytes of the files under the database directory).

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

    /// The cargo feature of xtask that compiles the adapter in (`None`: always there).
    pub fn cargo_feature(self) -> Option<&'static str> {
        match self {
            EngineName::Lsmkit => None,
            EngineName::Leveldb => Some("leveldb"),
            EngineName::Rocksdb => Some("rocksdb"),
            EngineName::Fjall => Some("fjall"),
        }
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

    /// The engine's version and how `settings` map onto its options.
    pub fn describe(self, settings: &EngineSettings) -> String {
        match self {
            EngineName::Lsmkit => super::engine_lsmkit::describe(settings),
            #[cfg(feature = "leveldb")]
            EngineName::Leveldb => super::engine_leveldb::describe(settings),
            #[cfg(feature = "rocksdb")]
            EngineName::Rocksdb => super::engine_rocksdb::describe(settings),
            #[cfg(feature = "fjall")]
            EngineName::Fjall => super::engine_fjall::describe(settings),
            #[allow(unreachable_patterns)]
            _ => format!("{self} (not compiled in)"),
        }
    }

    /// Opens (creating if missing) the database in `dir`.
    pub fn open(self, dir: &Path, settings: &EngineSettings) -> EngineResult<Box<dyn Engine>> {
        match self {
            EngineName::Lsmkit => super::engine_lsmkit::open(dir, settings),
            #[cfg(feature = "leveldb")]
            EngineName::Leveldb => super::engine_leveldb::open(dir, settings),
            #[cfg(feature = "rocksdb")]
            EngineName::Rocksdb => super::engine_rocksdb::open(dir, settings),
            #[cfg(feature = "fjall")]
            EngineName::Fjall => super::engine_fjall::open(dir, settings),
            #[allow(unreachable_patterns)]
            _ => {
                Err(format!("this xtask was built without feature `{}`", self.cargo_feature().unwrap_or("")))
            }
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
}
