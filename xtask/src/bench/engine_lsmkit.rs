//! The `lsmkit` adapter of the bench's [`Engine`] interface: the engine with
//! its defaults (Snappy, LevelDB's bloom filter, leveled compaction) except
//! the shared settings (write buffer, block cache, bloom bits per key).

use std::path::Path;
use std::sync::Arc;

use lsmkit::{Db, Options, ReadOptions, U64AddOperator, WriteBatch, WriteOptions};
use lsmkit_bloom::LevelDbBloom;

use super::engine::{
    copy_found, files_per_level_from, BatchOp, Direction, Engine, EngineResult, EngineSettings,
};

/// An open `lsmkit` database.
pub struct LsmkitEngine {
    db: Db,
}

fn write_options(sync: bool) -> WriteOptions {
    WriteOptions { sync, ..WriteOptions::default() }
}

fn err(e: lsmkit::Error) -> String {
    e.to_string()
}

/// The options `settings` give.
pub fn options(settings: &EngineSettings) -> Options {
    let defaults = Options::default();
    Options {
        create_if_missing: true,
        write_buffer_size: settings.write_buffer_size,
        block_cache_capacity: settings.cache_size as u64,
        filter_policy: settings
            .bloom_bits
            .map(|bits| Arc::new(LevelDbBloom::new(bits)) as Arc<dyn lsmkit_bloom::FilterPolicy>),
        merge_operator: settings
            .u64_add_merge
            .then(|| Arc::new(U64AddOperator) as Arc<dyn lsmkit::MergeOperator>),
        table_read_mode: settings.lsmkit_table_read_mode.unwrap_or(defaults.table_read_mode),
        wal_io_mode: settings.lsmkit_wal_io_mode.unwrap_or(defaults.wal_io_mode),
        compaction_priority: settings.lsmkit_compaction_priority.unwrap_or(defaults.compaction_priority),
        aligned_output_cuts: settings.lsmkit_aligned_output_cuts.unwrap_or(defaults.aligned_output_cuts),
        max_subcompactions: settings.lsmkit_max_subcompactions.unwrap_or(defaults.max_subcompactions),
        ..defaults
    }
}

/// Opens (creating if missing) the database in `dir`.
pub fn open(dir: &Path, settings: &EngineSettings) -> EngineResult<Box<dyn Engine>> {
    let db = Db::open(dir, options(settings)).map_err(err)?;
    Ok(Box::new(LsmkitEngine { db }))
}

/// The version and options in use.
pub fn describe(settings: &EngineSettings) -> String {
    let bloom =
        settings.bloom_bits.map_or("no bloom filter".to_string(), |b| format!("LevelDB bloom {b} bits/key"));
    let options = options(settings);
    let wal = match options.wal_io_mode {
        lsmkit_wal::WalIoMode::Buffered => "buffered".to_string(),
        lsmkit_wal::WalIoMode::Mmap { chunk_size } => format!("mmap ({} KiB chunks)", chunk_size >> 10),
    };
    format!(
        "lsmkit {}: write_buffer_size {} B, block cache {} B, {bloom}, Snappy, 4 KiB blocks, 2 MiB tables, \
         leveled compaction ({:?} priority, {} output cuts, {} thread(s) per compaction), WAL synced \
         only when a write asks, WAL written {}, tables read {:?}",
        env!("CARGO_PKG_VERSION"),
        settings.write_buffer_size,
        settings.cache_size,
        options.compaction_priority,
        if options.aligned_output_cuts { "aligned" } else { "LevelDB's" },
        options.max_subcompactions,
        wal,
        options.table_read_mode,
    )
}

impl Engine for LsmkitEngine {
    fn put(&self, key: &[u8], value: &[u8], sync: bool) -> EngineResult<()> {
        self.db.put_opt(write_options(sync), key, value).map_err(err)
    }

    fn write_batch(&self, ops: &[BatchOp<'_>], sync: bool) -> EngineResult<()> {
        let mut batch = WriteBatch::new();
        for op in ops {
            match *op {
                BatchOp::Put(key, value) => batch.put(key, value),
                BatchOp::Delete(key) => batch.delete(key),
            }
        }
        self.db.write(write_options(sync), batch).map_err(err)
    }

    fn delete(&self, key: &[u8], sync: bool) -> EngineResult<()> {
        self.db.delete_opt(write_options(sync), key).map_err(err)
    }

    fn merge(&self, key: &[u8], operand: &[u8], sync: bool) -> EngineResult<()> {
        self.db.merge_opt(write_options(sync), key, operand).map_err(err)
    }

    fn get(&self, key: &[u8], value: &mut Vec<u8>) -> EngineResult<bool> {
        Ok(copy_found(self.db.get(key).map_err(err)?, value))
    }

    fn scan(
        &self,
        direction: Direction,
        limit: u64,
        visit: &mut dyn FnMut(&[u8], &[u8]),
    ) -> EngineResult<u64> {
        let mut it = self.db.iter(ReadOptions::new());
        let mut visited = 0;
        match direction {
            Direction::Forward => it.seek_to_first(),
            Direction::Backward => it.seek_to_last(),
        }
        while visited < limit && it.valid() {
            visit(it.key(), it.value());
            visited += 1;
            match direction {
                Direction::Forward => it.next(),
                Direction::Backward => it.prev(),
            }
        }
        it.status().map_err(err)?;
        Ok(visited)
    }

    fn seek(&self, key: &[u8], found: &mut Vec<u8>) -> EngineResult<bool> {
        let mut it = self.db.iter(ReadOptions::new());
        it.seek(key);
        if it.valid() {
            found.clear();
            found.extend_from_slice(it.key());
            return Ok(true);
        }
        it.status().map_err(err)?;
        Ok(false)
    }

    fn compact(&self) -> EngineResult<()> {
        self.db.compact_range(None, None).map_err(err)
    }

    fn files_per_level(&self) -> Option<Vec<u64>> {
        files_per_level_from(|level| {
            self.db.property(&format!("leveldb.num-files-at-level{level}"))?.parse().ok()
        })
    }
}
