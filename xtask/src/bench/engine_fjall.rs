//! The fjall adapter of the bench's [`Engine`] interface: one keyspace of a
//! fjall database, with the shared settings mapped onto fjall's options or
//! with fjall's defaults. fjall has no Snappy, so matched blocks use LZ4 (its
//! default compression). Compiled with feature `fjall`.
//!
//! With the matched settings, every table's index and filter blocks are
//! pinned in memory, outside the block cache, as LevelDB, RocksDB (by
//! default) and lsmkit hold them with each open table: the block cache size
//! then means the same thing for every engine (data blocks). fjall's default
//! pins only L0's filters and L0–L1's indexes and loads the others through
//! the block cache, whose shards (4 per CPU) refuse a block larger than
//! about 80 % of a shard; with an 8 MiB cache on 2 CPUs that is 0.8 MiB, less
//! than the filter and index block of one of fjall's 64 MiB tables, so every
//! point read below L1 read and checksummed them from the file again
//! (0.2–0.6 ms a read instead of a few µs).

use std::path::Path;

use fjall::config::{
    BloomConstructionPolicy, CompressionPolicy, FilterPolicy, FilterPolicyEntry, PinningPolicy,
};
use fjall::{CompressionType, Database, Keyspace, KeyspaceCreateOptions, PersistMode};

use super::engine::{copy_found, BatchOp, Direction, Engine, EngineResult, EngineSettings};

/// An open fjall database and the keyspace the workloads use.
pub struct FjallEngine {
    database: Database,
    keyspace: Keyspace,
}

fn err(e: fjall::Error) -> String {
    e.to_string()
}

/// Opens (creating if missing) the database in `dir`, with `matched`
/// mapped onto fjall's options, or with fjall's defaults when `None`.
pub fn open(dir: &Path, matched: Option<&EngineSettings>) -> EngineResult<Box<dyn Engine>> {
    let Some(settings) = matched else {
        let database = Database::builder(dir).open().map_err(err)?;
        let keyspace = database.keyspace("bench", KeyspaceCreateOptions::default).map_err(err)?;
        return Ok(Box::new(FjallEngine { database, keyspace }));
    };
    let database = Database::builder(dir).cache_size(settings.cache_size as u64).open().map_err(err)?;
    let filter = match settings.bloom_bits {
        Some(bits) => {
            FilterPolicy::all(FilterPolicyEntry::Bloom(BloomConstructionPolicy::BitsPerKey(bits as f32)))
        }
        None => FilterPolicy::disabled(),
    };
    let write_buffer_size = settings.write_buffer_size as u64;
    let keyspace = database
        .keyspace("bench", move || {
            KeyspaceCreateOptions::default()
                .max_memtable_size(write_buffer_size)
                .filter_policy(filter)
                .data_block_compression_policy(CompressionPolicy::all(CompressionType::Lz4))
                .filter_block_pinning_policy(PinningPolicy::all(true))
                .index_block_pinning_policy(PinningPolicy::all(true))
        })
        .map_err(err)?;
    Ok(Box::new(FjallEngine { database, keyspace }))
}

/// The version and options in use (`matched`, or fjall's defaults).
pub fn describe(matched: Option<&EngineSettings>) -> String {
    let Some(settings) = matched else {
        return "fjall 3.1 (one keyspace) with its defaults: max_memtable_size 64 MiB, block cache 32 MiB, \
                bloom filters (0.01 % false positives in L0, 10 bits/key below), no compression in L0 and L1, \
                LZ4 below, synced writes persist with fdatasync"
            .to_string();
    };
    let bloom = settings.bloom_bits.map_or("no bloom filter".to_string(), |b| format!("bloom {b} bits/key"));
    format!(
        "fjall 3.1 (one keyspace): max_memtable_size {} B, block cache {} B, {bloom}, LZ4 (fjall has no \
         Snappy), index and filter blocks pinned (held with each table, as the other engines do), synced \
         writes persist with fdatasync, other options default",
        settings.write_buffer_size, settings.cache_size
    )
}

impl FjallEngine {
    fn persist_if(&self, sync: bool) -> EngineResult<()> {
        if sync {
            self.database.persist(PersistMode::SyncData).map_err(err)?;
        }
        Ok(())
    }
}

impl Engine for FjallEngine {
    fn put(&self, key: &[u8], value: &[u8], sync: bool) -> EngineResult<()> {
        self.keyspace.insert(key, value).map_err(err)?;
        self.persist_if(sync)
    }

    fn write_batch(&self, ops: &[BatchOp<'_>], sync: bool) -> EngineResult<()> {
        let mut batch = self.database.batch();
        for op in ops {
            match *op {
                BatchOp::Put(key, value) => batch.insert(&self.keyspace, key, value),
                BatchOp::Delete(key) => batch.remove(&self.keyspace, key),
            }
        }
        batch.commit().map_err(err)?;
        self.persist_if(sync)
    }

    fn delete(&self, key: &[u8], sync: bool) -> EngineResult<()> {
        self.keyspace.remove(key).map_err(err)?;
        self.persist_if(sync)
    }

    fn get(&self, key: &[u8], value: &mut Vec<u8>) -> EngineResult<bool> {
        Ok(copy_found(self.keyspace.get(key).map_err(err)?, value))
    }

    fn scan(
        &self,
        direction: Direction,
        limit: u64,
        visit: &mut dyn FnMut(&[u8], &[u8]),
    ) -> EngineResult<u64> {
        let mut visited = 0;
        let mut visit_guard = |guard: fjall::Guard| -> EngineResult<()> {
            let (key, value) = guard.into_inner().map_err(err)?;
            visit(&key, &value);
            Ok(())
        };
        match direction {
            Direction::Forward => {
                for guard in self.keyspace.iter().take(usize::try_from(limit).unwrap_or(usize::MAX)) {
                    visit_guard(guard)?;
                    visited += 1;
                }
            }
            Direction::Backward => {
                for guard in self.keyspace.iter().rev().take(usize::try_from(limit).unwrap_or(usize::MAX)) {
                    visit_guard(guard)?;
                    visited += 1;
                }
            }
        }
        Ok(visited)
    }

    fn seek(&self, key: &[u8], found: &mut Vec<u8>) -> EngineResult<bool> {
        match self.keyspace.range(key..).next() {
            Some(guard) => {
                let (at, _) = guard.into_inner().map_err(err)?;
                found.clear();
                found.extend_from_slice(&at);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn compact(&self) -> EngineResult<()> {
        self.keyspace.major_compact().map_err(err)
    }
}
