//! The LevelDB adapter of the bench's [`Engine`] interface: the system's
//! LevelDB (Debian's `libleveldb-dev`, 1.23) through the few functions of its
//! C API (`leveldb/c.h`) the workloads need, opened with the matched settings
//! or with LevelDB's own defaults. Compiled with feature `leveldb`.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr;

use super::engine::{files_per_level_from, BatchOp, Direction, Engine, EngineResult, EngineSettings};

#[repr(C)]
struct LevelDb {
    _opaque: [u8; 0],
}
#[repr(C)]
struct LevelDbOptions {
    _opaque: [u8; 0],
}
#[repr(C)]
struct LevelDbCache {
    _opaque: [u8; 0],
}
#[repr(C)]
struct LevelDbFilterPolicy {
    _opaque: [u8; 0],
}
#[repr(C)]
struct LevelDbReadOptions {
    _opaque: [u8; 0],
}
#[repr(C)]
struct LevelDbWriteOptions {
    _opaque: [u8; 0],
}
#[repr(C)]
struct LevelDbWriteBatch {
    _opaque: [u8; 0],
}
#[repr(C)]
struct LevelDbIterator {
    _opaque: [u8; 0],
}

/// `leveldb_snappy_compression` of `c.h`.
const SNAPPY_COMPRESSION: c_int = 1;

#[link(name = "leveldb")]
extern "C" {
    fn leveldb_open(
        options: *const LevelDbOptions,
        name: *const c_char,
        errptr: *mut *mut c_char,
    ) -> *mut LevelDb;
    fn leveldb_close(db: *mut LevelDb);
    fn leveldb_put(
        db: *mut LevelDb,
        options: *const LevelDbWriteOptions,
        key: *const c_char,
        keylen: usize,
        val: *const c_char,
        vallen: usize,
        errptr: *mut *mut c_char,
    );
    fn leveldb_delete(
        db: *mut LevelDb,
        options: *const LevelDbWriteOptions,
        key: *const c_char,
        keylen: usize,
        errptr: *mut *mut c_char,
    );
    fn leveldb_write(
        db: *mut LevelDb,
        options: *const LevelDbWriteOptions,
        batch: *mut LevelDbWriteBatch,
        errptr: *mut *mut c_char,
    );
    fn leveldb_get(
        db: *mut LevelDb,
        options: *const LevelDbReadOptions,
        key: *const c_char,
        keylen: usize,
        vallen: *mut usize,
        errptr: *mut *mut c_char,
    ) -> *mut c_char;
    fn leveldb_create_iterator(db: *mut LevelDb, options: *const LevelDbReadOptions) -> *mut LevelDbIterator;
    fn leveldb_compact_range(
        db: *mut LevelDb,
        start_key: *const c_char,
        start_key_len: usize,
        limit_key: *const c_char,
        limit_key_len: usize,
    );
    fn leveldb_iter_destroy(iter: *mut LevelDbIterator);
    fn leveldb_iter_valid(iter: *const LevelDbIterator) -> u8;
    fn leveldb_iter_seek_to_first(iter: *mut LevelDbIterator);
    fn leveldb_iter_seek_to_last(iter: *mut LevelDbIterator);
    fn leveldb_iter_seek(iter: *mut LevelDbIterator, k: *const c_char, klen: usize);
    fn leveldb_iter_next(iter: *mut LevelDbIterator);
    fn leveldb_iter_prev(iter: *mut LevelDbIterator);
    fn leveldb_iter_key(iter: *const LevelDbIterator, klen: *mut usize) -> *const c_char;
    fn leveldb_iter_value(iter: *const LevelDbIterator, vlen: *mut usize) -> *const c_char;
    fn leveldb_iter_get_error(iter: *const LevelDbIterator, errptr: *mut *mut c_char);
    fn leveldb_writebatch_create() -> *mut LevelDbWriteBatch;
    fn leveldb_writebatch_destroy(batch: *mut LevelDbWriteBatch);
    fn leveldb_writebatch_put(
        batch: *mut LevelDbWriteBatch,
        key: *const c_char,
        klen: usize,
        val: *const c_char,
        vlen: usize,
    );
    fn leveldb_writebatch_delete(batch: *mut LevelDbWriteBatch, key: *const c_char, klen: usize);
    fn leveldb_options_create() -> *mut LevelDbOptions;
    fn leveldb_options_destroy(options: *mut LevelDbOptions);
    fn leveldb_options_set_filter_policy(options: *mut LevelDbOptions, policy: *mut LevelDbFilterPolicy);
    fn leveldb_options_set_create_if_missing(options: *mut LevelDbOptions, value: u8);
    fn leveldb_options_set_cache(options: *mut LevelDbOptions, cache: *mut LevelDbCache);
    fn leveldb_options_set_write_buffer_size(options: *mut LevelDbOptions, size: usize);
    fn leveldb_options_set_compression(options: *mut LevelDbOptions, compression: c_int);
    fn leveldb_filterpolicy_create_bloom(bits_per_key: c_int) -> *mut LevelDbFilterPolicy;
    fn leveldb_filterpolicy_destroy(policy: *mut LevelDbFilterPolicy);
    fn leveldb_readoptions_create() -> *mut LevelDbReadOptions;
    fn leveldb_readoptions_destroy(options: *mut LevelDbReadOptions);
    fn leveldb_writeoptions_create() -> *mut LevelDbWriteOptions;
    fn leveldb_writeoptions_destroy(options: *mut LevelDbWriteOptions);
    fn leveldb_writeoptions_set_sync(options: *mut LevelDbWriteOptions, value: u8);
    fn leveldb_cache_create_lru(capacity: usize) -> *mut LevelDbCache;
    fn leveldb_cache_destroy(cache: *mut LevelDbCache);
    fn leveldb_free(ptr: *mut c_void);
    fn leveldb_property_value(db: *mut LevelDb, propname: *const c_char) -> *mut c_char;
    fn leveldb_major_version() -> c_int;
    fn leveldb_minor_version() -> c_int;
}

/// Turns a C API error slot into a `Result`, freeing the message.
fn check(error: *mut c_char) -> EngineResult<()> {
    if error.is_null() {
        return Ok(());
    }
    // SAFETY: a non-null error slot holds a NUL-terminated string that the C
    // API allocated with malloc; it is read once and then freed with leveldb_free.
    let message = unsafe { CStr::from_ptr(error) }.to_string_lossy().into_owned();
    // SAFETY: see above; the pointer is not used afterwards.
    unsafe { leveldb_free(error.cast()) };
    Err(message)
}

/// An open LevelDB database with the option objects it was opened with.
pub struct LeveldbEngine {
    db: *mut LevelDb,
    options: *mut LevelDbOptions,
    /// Null with LevelDB's defaults (it makes its own cache).
    cache: *mut LevelDbCache,
    filter: *mut LevelDbFilterPolicy,
    read_options: *mut LevelDbReadOptions,
    write_options: *mut LevelDbWriteOptions,
    sync_write_options: *mut LevelDbWriteOptions,
}

// SAFETY: a `leveldb_t` is safe to use from several threads at once (LevelDB
// synchronizes internally, "Concurrency" in its docs); the option objects are
// only read after `open` sets them up, and are freed only in `drop`.
unsafe impl Send for LeveldbEngine {}
// SAFETY: as for `Send`: every method only reads the handles.
unsafe impl Sync for LeveldbEngine {}

/// Opens (creating if missing) the database in `dir`, with `matched`
/// mapped onto LevelDB's options, or with LevelDB's defaults (4 MiB write
/// buffer, 8 MiB cache, no filter, Snappy) when `None`.
pub fn open(dir: &Path, matched: Option<&EngineSettings>) -> EngineResult<Box<dyn Engine>> {
    let name = CString::new(dir.as_os_str().as_bytes()).map_err(|e| e.to_string())?;
    let bloom_bits = match matched.and_then(|s| s.bloom_bits) {
        Some(bits) => Some(c_int::try_from(bits).map_err(|e| e.to_string())?),
        None => None,
    };
    // SAFETY: every object is created by the C API and owned by the engine,
    // which destroys each once in `drop` (or here, if the open fails).
    unsafe {
        let options = leveldb_options_create();
        leveldb_options_set_create_if_missing(options, 1);
        let mut cache = ptr::null_mut();
        if let Some(settings) = matched {
            leveldb_options_set_write_buffer_size(options, settings.write_buffer_size);
            leveldb_options_set_compression(options, SNAPPY_COMPRESSION);
            cache = leveldb_cache_create_lru(settings.cache_size);
            leveldb_options_set_cache(options, cache);
        }
        let filter = match bloom_bits {
            Some(bits) => leveldb_filterpolicy_create_bloom(bits),
            None => ptr::null_mut(),
        };
        if !filter.is_null() {
            leveldb_options_set_filter_policy(options, filter);
        }
        let read_options = leveldb_readoptions_create();
        let write_options = leveldb_writeoptions_create();
        let sync_write_options = leveldb_writeoptions_create();
        leveldb_writeoptions_set_sync(sync_write_options, 1);
        let mut error = ptr::null_mut();
        let db = leveldb_open(options, name.as_ptr(), &mut error);
        let engine =
            LeveldbEngine { db, options, cache, filter, read_options, write_options, sync_write_options };
        check(error)?;
        if db.is_null() {
            return Err("leveldb_open returned no database".into());
        }
        Ok(Box::new(engine))
    }
}

/// The version and options in use (`matched`, or LevelDB's defaults).
pub fn describe(matched: Option<&EngineSettings>) -> String {
    // SAFETY: plain getters of constants.
    let (major, minor) = unsafe { (leveldb_major_version(), leveldb_minor_version()) };
    let Some(settings) = matched else {
        return format!(
            "LevelDB {major}.{minor} (system libleveldb, C API) with its defaults: write_buffer_size 4 MiB, \
             its own 8 MiB LRU block cache, no bloom filter, Snappy"
        );
    };
    let bloom = settings.bloom_bits.map_or("no bloom filter".to_string(), |b| format!("bloom {b} bits/key"));
    format!(
        "LevelDB {major}.{minor} (system libleveldb, C API): write_buffer_size {} B, LRU block cache {} B, \
         {bloom}, Snappy, other options default",
        settings.write_buffer_size, settings.cache_size
    )
}

impl LeveldbEngine {
    /// The value of LevelDB property `name`, or `None` if it has none.
    fn property(&self, name: &str) -> Option<String> {
        let name = CString::new(name).ok()?;
        // SAFETY: the database is open and `name` is NUL-terminated; a
        // non-null result is a malloc'd NUL-terminated copy that is read
        // once and then freed with leveldb_free.
        unsafe {
            let value = leveldb_property_value(self.db, name.as_ptr());
            if value.is_null() {
                return None;
            }
            let text = CStr::from_ptr(value).to_string_lossy().into_owned();
            leveldb_free(value.cast());
            Some(text)
        }
    }

    fn write_options(&self, sync: bool) -> *const LevelDbWriteOptions {
        if sync {
            self.sync_write_options
        } else {
            self.write_options
        }
    }
}

impl Drop for LeveldbEngine {
    fn drop(&mut self) {
        // SAFETY: each handle was created in `open` and is destroyed once, the
        // database first (it uses the cache and filter until closed).
        unsafe {
            if !self.db.is_null() {
                leveldb_close(self.db);
            }
            leveldb_options_destroy(self.options);
            if !self.cache.is_null() {
                leveldb_cache_destroy(self.cache);
            }
            if !self.filter.is_null() {
                leveldb_filterpolicy_destroy(self.filter);
            }
            leveldb_readoptions_destroy(self.read_options);
            leveldb_writeoptions_destroy(self.write_options);
            leveldb_writeoptions_destroy(self.sync_write_options);
        }
    }
}

/// An iterator that is destroyed when dropped.
struct Iter(*mut LevelDbIterator);

impl Iter {
    fn valid(&self) -> bool {
        // SAFETY: the iterator is live until `drop`.
        unsafe { leveldb_iter_valid(self.0) != 0 }
    }

    fn key(&self) -> &[u8] {
        let mut len = 0;
        // SAFETY: called only while valid; the returned bytes stay put until
        // the iterator moves, which needs `&mut self`.
        unsafe { std::slice::from_raw_parts(leveldb_iter_key(self.0, &mut len).cast(), len) }
    }

    fn value(&self) -> &[u8] {
        let mut len = 0;
        // SAFETY: as for `key`.
        unsafe { std::slice::from_raw_parts(leveldb_iter_value(self.0, &mut len).cast(), len) }
    }

    fn status(&self) -> EngineResult<()> {
        let mut error = ptr::null_mut();
        // SAFETY: the iterator is live; `error` is a valid slot.
        unsafe { leveldb_iter_get_error(self.0, &mut error) };
        check(error)
    }
}

impl Drop for Iter {
    fn drop(&mut self) {
        // SAFETY: created by leveldb_create_iterator, destroyed once.
        unsafe { leveldb_iter_destroy(self.0) }
    }
}

impl Engine for LeveldbEngine {
    fn put(&self, key: &[u8], value: &[u8], sync: bool) -> EngineResult<()> {
        let mut error = ptr::null_mut();
        // SAFETY: the database and options are live; the slices are valid for
        // their lengths during the call.
        unsafe {
            leveldb_put(
                self.db,
                self.write_options(sync),
                key.as_ptr().cast(),
                key.len(),
                value.as_ptr().cast(),
                value.len(),
                &mut error,
            )
        };
        check(error)
    }

    fn write_batch(&self, ops: &[BatchOp<'_>], sync: bool) -> EngineResult<()> {
        let mut error = ptr::null_mut();
        // SAFETY: the batch is created, filled from valid slices (the C API
        // copies them), written and destroyed here.
        unsafe {
            let batch = leveldb_writebatch_create();
            for op in ops {
                match *op {
                    BatchOp::Put(key, value) => leveldb_writebatch_put(
                        batch,
                        key.as_ptr().cast(),
                        key.len(),
                        value.as_ptr().cast(),
                        value.len(),
                    ),
                    BatchOp::Delete(key) => leveldb_writebatch_delete(batch, key.as_ptr().cast(), key.len()),
                }
            }
            leveldb_write(self.db, self.write_options(sync), batch, &mut error);
            leveldb_writebatch_destroy(batch);
        }
        check(error)
    }

    fn delete(&self, key: &[u8], sync: bool) -> EngineResult<()> {
        let mut error = ptr::null_mut();
        // SAFETY: as for `put`.
        unsafe {
            leveldb_delete(self.db, self.write_options(sync), key.as_ptr().cast(), key.len(), &mut error)
        };
        check(error)
    }

    fn get(&self, key: &[u8], value: &mut Vec<u8>) -> EngineResult<bool> {
        let mut error = ptr::null_mut();
        let mut len = 0;
        // SAFETY: as for `put`; a non-null result is a malloc'd buffer of
        // `len` bytes, copied and then freed with leveldb_free.
        unsafe {
            let found =
                leveldb_get(self.db, self.read_options, key.as_ptr().cast(), key.len(), &mut len, &mut error);
            check(error)?;
            if found.is_null() {
                return Ok(false);
            }
            value.clear();
            value.extend_from_slice(std::slice::from_raw_parts(found.cast::<u8>(), len));
            leveldb_free(found.cast());
        }
        Ok(true)
    }

    fn scan(
        &self,
        direction: Direction,
        limit: u64,
        visit: &mut dyn FnMut(&[u8], &[u8]),
    ) -> EngineResult<u64> {
        // SAFETY: the database and read options are live.
        let it = Iter(unsafe { leveldb_create_iterator(self.db, self.read_options) });
        // SAFETY: the iterator is live (owned by `it`).
        unsafe {
            match direction {
                Direction::Forward => leveldb_iter_seek_to_first(it.0),
                Direction::Backward => leveldb_iter_seek_to_last(it.0),
            }
        }
        let mut visited = 0;
        while visited < limit && it.valid() {
            visit(it.key(), it.value());
            visited += 1;
            // SAFETY: the iterator is live and valid.
            unsafe {
                match direction {
                    Direction::Forward => leveldb_iter_next(it.0),
                    Direction::Backward => leveldb_iter_prev(it.0),
                }
            }
        }
        it.status()?;
        Ok(visited)
    }

    fn seek(&self, key: &[u8], found: &mut Vec<u8>) -> EngineResult<bool> {
        // SAFETY: the database and read options are live.
        let it = Iter(unsafe { leveldb_create_iterator(self.db, self.read_options) });
        // SAFETY: the iterator is live; the key slice is valid during the call.
        unsafe { leveldb_iter_seek(it.0, key.as_ptr().cast(), key.len()) };
        if it.valid() {
            found.clear();
            found.extend_from_slice(it.key());
            return Ok(true);
        }
        it.status()?;
        Ok(false)
    }

    fn compact(&self) -> EngineResult<()> {
        // SAFETY: null bounds mean the whole key range.
        unsafe { leveldb_compact_range(self.db, ptr::null(), 0, ptr::null(), 0) };
        Ok(())
    }

    fn files_per_level(&self) -> Option<Vec<u64>> {
        files_per_level_from(|level| {
            self.property(&format!("leveldb.num-files-at-level{level}"))?.parse().ok()
        })
    }
}
