//! The RocksDB adapter of the bench's [`Engine`] interface: the `rocksdb`
//! crate linked against the system's `librocksdb` (Debian's
//! `librocksdb-dev`), with the shared settings mapped onto RocksDB's options
//! and everything else left at RocksDB's defaults, or with its defaults
//! alone. Compiled with feature `rocksdb`.

use std::path::Path;

use rocksdb::{
    BlockBasedOptions, Cache, DBCompressionType, MergeOperands, Options, WriteBatch, WriteOptions, DB,
};

use super::engine::{
    copy_found, files_per_level_from, BatchOp, Direction, Engine, EngineResult, EngineSettings,
};

/// An open RocksDB database.
pub struct RocksdbEngine {
    db: DB,
    write_options: WriteOptions,
    sync_write_options: WriteOptions,
    // Kept alive as long as the database that uses it (`None`: RocksDB's own).
    _cache: Option<Cache>,
}

fn err(e: rocksdb::Error) -> String {
    e.into_string()
}

/// Little-endian u64 addition, wrapping, a missing value counting as 0 —
/// what lsmkit's `U64AddOperator` does (RocksDB's own `uint64add` is not
/// exposed by the `rocksdb` crate). Associative, so RocksDB also uses it
/// to combine operands; a malformed value or operand fails the merge.
fn u64_add(_key: &[u8], existing: Option<&[u8]>, operands: &MergeOperands) -> Option<Vec<u8>> {
    let decode = |bytes: &[u8]| bytes.try_into().ok().map(u64::from_le_bytes);
    let mut sum = match existing {
        Some(value) => decode(value)?,
        None => 0,
    };
    for operand in operands {
        sum = sum.wrapping_add(decode(operand)?);
    }
    Some(sum.to_le_bytes().to_vec())
}

/// Opens (creating if missing) the database in `dir`, with `matched`
/// mapped onto RocksDB's options, or with RocksDB's defaults when `None`;
/// with `u64_add_merge`, with a u64-add merge operator.
pub fn open(
    dir: &Path,
    matched: Option<&EngineSettings>,
    u64_add_merge: bool,
) -> EngineResult<Box<dyn Engine>> {
    let mut options = Options::default();
    options.create_if_missing(true);
    if u64_add_merge {
        options.set_merge_operator_associative("lsmkit.bench.u64add", u64_add);
    }
    let mut cache = None;
    if let Some(settings) = matched {
        let lru = Cache::new_lru_cache(settings.cache_size).map_err(err)?;
        let mut table = BlockBasedOptions::default();
        table.set_block_cache(&lru);
        if let Some(bits) = settings.bloom_bits {
            table.set_bloom_filter(f64::from(bits), false);
        }
        options.set_write_buffer_size(settings.write_buffer_size);
        options.set_compression_type(DBCompressionType::Snappy);
        options.set_block_based_table_factory(&table);
        cache = Some(lru);
    }
    let db = DB::open(&options, dir).map_err(err)?;
    let write_options = WriteOptions::default();
    let mut sync_write_options = WriteOptions::default();
    sync_write_options.set_sync(true);
    Ok(Box::new(RocksdbEngine { db, write_options, sync_write_options, _cache: cache }))
}

/// The version and options in use (`matched`, or RocksDB's defaults).
pub fn describe(matched: Option<&EngineSettings>) -> String {
    let Some(settings) = matched else {
        return "RocksDB (system librocksdb via rocksdb crate 0.20.1) with its defaults: write_buffer_size \
                64 MiB, its own 8 MiB LRU block cache, no bloom filter, Snappy"
            .to_string();
    };
    let bloom = settings
        .bloom_bits
        .map_or("no bloom filter".to_string(), |b| format!("full bloom filter {b} bits/key"));
    format!(
        "RocksDB (system librocksdb via rocksdb crate 0.20.1): write_buffer_size {} B, LRU block cache {} B, \
         {bloom}, Snappy, other options default",
        settings.write_buffer_size, settings.cache_size
    )
}

impl RocksdbEngine {
    fn write_options(&self, sync: bool) -> &WriteOptions {
        if sync {
            &self.sync_write_options
        } else {
            &self.write_options
        }
    }
}

impl Engine for RocksdbEngine {
    fn put(&self, key: &[u8], value: &[u8], sync: bool) -> EngineResult<()> {
        self.db.put_opt(key, value, self.write_options(sync)).map_err(err)
    }

    fn write_batch(&self, ops: &[BatchOp<'_>], sync: bool) -> EngineResult<()> {
        let mut batch = WriteBatch::default();
        for op in ops {
            match *op {
                BatchOp::Put(key, value) => batch.put(key, value),
                BatchOp::Delete(key) => batch.delete(key),
            }
        }
        self.db.write_opt(batch, self.write_options(sync)).map_err(err)
    }

    fn delete(&self, key: &[u8], sync: bool) -> EngineResult<()> {
        self.db.delete_opt(key, self.write_options(sync)).map_err(err)
    }

    fn merge(&self, key: &[u8], operand: &[u8], sync: bool) -> EngineResult<()> {
        self.db.merge_opt(key, operand, self.write_options(sync)).map_err(err)
    }

    fn get(&self, key: &[u8], value: &mut Vec<u8>) -> EngineResult<bool> {
        Ok(copy_found(self.db.get_pinned(key).map_err(err)?, value))
    }

    fn scan(
        &self,
        direction: Direction,
        limit: u64,
        visit: &mut dyn FnMut(&[u8], &[u8]),
    ) -> EngineResult<u64> {
        let mut it = self.db.raw_iterator();
        match direction {
            Direction::Forward => it.seek_to_first(),
            Direction::Backward => it.seek_to_last(),
        }
        let mut visited = 0;
        while visited < limit && it.valid() {
            if let (Some(key), Some(value)) = (it.key(), it.value()) {
                visit(key, value);
            }
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
        let mut it = self.db.raw_iterator();
        it.seek(key);
        if let Some(at) = it.key() {
            found.clear();
            found.extend_from_slice(at);
            return Ok(true);
        }
        it.status().map_err(err)?;
        Ok(false)
    }

    fn compact(&self) -> EngineResult<()> {
        self.db.compact_range::<&[u8], &[u8]>(None, None);
        Ok(())
    }

    fn files_per_level(&self) -> Option<Vec<u64>> {
        files_per_level_from(|level| {
            self.db.property_int_value(format!("rocksdb.num-files-at-level{level}").as_str()).ok().flatten()
        })
    }
}
