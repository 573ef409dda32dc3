//! plyvel's `DB` and `PrefixedDB` classes over the engine's [`lsmkit::Db`],
//! plus lsmkit's own methods (`flush`, `checkpoint`, `updates_since`,
//! `latest_sequence`, puts with a time to live).

use std::sync::Arc;

use bytes::Bytes;
use lsmkit::{Db, FlushOptions, ReadOptions, WriteOptions};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};

use crate::convert::{concat, fs_path, value_arg};
use crate::core::DbCore;
use crate::errors::engine_error;
use crate::iterator::{IterArgs, Iterator, RawIterator};
use crate::options::{build_options, seconds, CompressionArg, LsmkitArgs, TableArgs};
use crate::snapshot::Snapshot;
use crate::wal::WalUpdates;
use crate::write_batch::WriteBatch;

const DB_CLOSED: &str = "Database is closed";

/// Reads `key` with `options`: its value as `bytes`, or `default`.
pub(crate) fn read_value(
    py: Python<'_>,
    core: &DbCore,
    closed: &'static str,
    options: ReadOptions,
    key: &[u8],
    default: Option<Py<PyAny>>,
) -> PyResult<Py<PyAny>> {
    let found: Option<Bytes> = core.run(py, closed, |db| Ok(db.get_opt(&options, key)?))?;
    Ok(match found {
        Some(value) => PyBytes::new(py, &value).into_any().unbind(),
        None => default.unwrap_or_else(|| py.None()),
    })
}

/// Writes `key = value` (with a time to live in seconds, if given).
fn put_value(
    py: Python<'_>,
    core: &DbCore,
    key: &[u8],
    value: &Bound<'_, PyAny>,
    sync: bool,
    ttl: Option<f64>,
) -> PyResult<()> {
    core.ensure_open(DB_CLOSED)?;
    let value = value_arg(value)?;
    let value = value.as_slice();
    let options = WriteOptions { sync, ..WriteOptions::default() };
    match ttl {
        None => core.run(py, DB_CLOSED, |db| Ok(db.put_opt(options, key, value)?)),
        Some(ttl) => {
            if !core.ttl_enabled {
                return Err(PyValueError::new_err("'ttl' needs a database opened with enable_ttl=True"));
            }
            let ttl = seconds(ttl, "ttl", false)?;
            core.run(py, DB_CLOSED, |db| Ok(db.put_with_ttl_opt(options, key, value, ttl)?))
        }
    }
}

/// A LevelDB database (plyvel's `DB`), opened or created in directory
/// `name`. The keyword arguments are plyvel's, with its defaults (Snappy
/// compression, no bloom filter unless `bloom_filter_bits` is set); lsmkit
/// adds `enable_ttl` (puts with a time to live; LevelDB then refuses the
/// database), `wal_ttl_seconds` and `wal_size_limit` (keep old write-ahead
/// logs for `updates_since`).
///
/// Safe to share between threads; every call that reads or writes files
/// releases the GIL. After `close()`, every use of the database or of its
/// iterators, snapshots and write batches raises `RuntimeError`.
#[pyclass(frozen, module = "lsmkit", name = "DB")]
pub struct PyDb {
    pub(crate) core: Arc<DbCore>,
    name: Py<PyAny>,
}

#[pymethods]
impl PyDb {
    #[new]
    #[pyo3(signature = (name, *, create_if_missing=false, error_if_exists=false, paranoid_checks=None,
                        write_buffer_size=None, max_open_files=None, lru_cache_size=None, block_size=None,
                        block_restart_interval=None, max_file_size=None, compression=CompressionArg(lsmkit::Compression::Snappy),
                        bloom_filter_bits=0, comparator=None, comparator_name=None,
                        enable_ttl=false, wal_ttl_seconds=0.0, wal_size_limit=0))]
    #[allow(clippy::too_many_arguments)] // plyvel's keyword arguments
    fn new(
        py: Python<'_>,
        name: Bound<'_, PyAny>,
        create_if_missing: bool,
        error_if_exists: bool,
        paranoid_checks: Option<bool>,
        write_buffer_size: Option<usize>,
        max_open_files: Option<usize>,
        lru_cache_size: Option<u64>,
        block_size: Option<usize>,
        block_restart_interval: Option<usize>,
        max_file_size: Option<u64>,
        compression: CompressionArg,
        bloom_filter_bits: i32,
        comparator: Option<Bound<'_, PyAny>>,
        comparator_name: Option<&[u8]>,
        enable_ttl: bool,
        wal_ttl_seconds: f64,
        wal_size_limit: u64,
    ) -> PyResult<PyDb> {
        let path = fs_path(&name)?;
        let table = TableArgs {
            paranoid_checks,
            write_buffer_size,
            max_open_files,
            lru_cache_size,
            block_size,
            block_restart_interval,
            max_file_size,
            compression,
            bloom_filter_bits,
            comparator,
            comparator_name,
        };
        let extra = LsmkitArgs { enable_ttl, wal_ttl_seconds, wal_size_limit };
        let (mut options, comparator) = build_options(table, extra)?;
        options.create_if_missing = create_if_missing;
        options.error_if_exists = error_if_exists;
        let db = py.detach(|| Db::open(&path, options)).map_err(|e| engine_error(py, e))?;
        Ok(PyDb { core: DbCore::new(db, enable_ttl, comparator), name: name.unbind() })
    }

    /// The name the database was opened with.
    #[getter]
    fn name(&self, py: Python<'_>) -> Py<PyAny> {
        self.name.clone_ref(py)
    }

    /// True once `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.core.is_closed()
    }

    /// Closes the database: waits for calls in progress in other threads,
    /// invalidates its iterators, snapshots and write batches, and unlocks
    /// the directory. Closing twice does nothing.
    fn close(&self, py: Python<'_>) {
        self.core.close(py);
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "<lsmkit.DB with name {}{} at {:#x}>",
            self.name.bind(py).repr()?,
            if self.core.is_closed() { " (closed)" } else { "" },
            self as *const PyDb as usize
        ))
    }

    /// The value of `key`, or `default` if it is absent.
    #[pyo3(signature = (key, default=None, *, verify_checksums=None, fill_cache=Some(true)))]
    fn get(
        &self,
        py: Python<'_>,
        key: &[u8],
        default: Option<Py<PyAny>>,
        verify_checksums: Option<bool>,
        fill_cache: Option<bool>,
    ) -> PyResult<Py<PyAny>> {
        self.core.ensure_open(DB_CLOSED)?;
        let options = ReadOptions {
            snapshot: None,
            verify_checksums: verify_checksums.unwrap_or(false),
            fill_cache: fill_cache.unwrap_or(false),
        };
        read_value(py, &self.core, DB_CLOSED, options, key, default)
    }

    /// Sets `key` to `value` (bytes or any bytes-like object). With `sync`,
    /// the write is on disk when this returns. With `ttl` (seconds; lsmkit
    /// only, for a database opened with `enable_ttl=True`) the entry
    /// expires after that long.
    #[pyo3(signature = (key, value, *, sync=false, ttl=None))]
    fn put(
        &self,
        py: Python<'_>,
        key: &[u8],
        value: &Bound<'_, PyAny>,
        sync: bool,
        ttl: Option<f64>,
    ) -> PyResult<()> {
        put_value(py, &self.core, key, value, sync, ttl)
    }

    /// Deletes `key` (a missing key is not an error).
    #[pyo3(signature = (key, *, sync=false))]
    fn delete(&self, py: Python<'_>, key: &[u8], sync: bool) -> PyResult<()> {
        self.core.ensure_open(DB_CLOSED)?;
        let options = WriteOptions { sync, ..WriteOptions::default() };
        self.core.run(py, DB_CLOSED, |db| Ok(db.delete_opt(options, key)?))
    }

    /// A new write batch. Used as a context manager it is written at the
    /// end of the block; with `transaction=True`, not if the block raises.
    #[pyo3(signature = (*, transaction=false, sync=false))]
    fn write_batch(&self, transaction: bool, sync: bool) -> PyResult<WriteBatch> {
        WriteBatch::new(&self.core, None, transaction, sync)
    }

    fn __iter__(&self, py: Python<'_>) -> PyResult<Iterator> {
        self.core.ensure_open(DB_CLOSED)?;
        self.iterator(py, false, None, None, true, false, None, true, true, None, Some(true))
    }

    /// An iterator over the keys in a range (`start`/`stop`, each included
    /// or not, or all keys starting with `prefix`), forward or `reverse`;
    /// yields `(key, value)` tuples, or keys or values alone as
    /// `include_key` and `include_value` say.
    #[pyo3(signature = (*, reverse=false, start=None, stop=None, include_start=true, include_stop=false,
                        prefix=None, include_key=true, include_value=true, verify_checksums=None, fill_cache=Some(true)))]
    #[allow(clippy::too_many_arguments)] // plyvel's keyword arguments
    fn iterator(
        &self,
        py: Python<'_>,
        reverse: bool,
        start: Option<&[u8]>,
        stop: Option<&[u8]>,
        include_start: bool,
        include_stop: bool,
        prefix: Option<&[u8]>,
        include_key: bool,
        include_value: bool,
        verify_checksums: Option<bool>,
        fill_cache: Option<bool>,
    ) -> PyResult<Iterator> {
        let args = IterArgs {
            reverse,
            start,
            stop,
            include_start,
            include_stop,
            prefix,
            include_key,
            include_value,
            verify_checksums: verify_checksums.unwrap_or(false),
            fill_cache: fill_cache.unwrap_or(false),
        };
        Iterator::open(py, &self.core, None, None, args)
    }

    /// LevelDB's iterator as is (`seek_to_first`, `next`, `key`, ...).
    #[pyo3(signature = (*, verify_checksums=None, fill_cache=Some(true)))]
    fn raw_iterator(
        &self,
        py: Python<'_>,
        verify_checksums: Option<bool>,
        fill_cache: Option<bool>,
    ) -> PyResult<RawIterator> {
        RawIterator::open(
            py,
            &self.core,
            None,
            verify_checksums.unwrap_or(false),
            fill_cache.unwrap_or(false),
        )
    }

    /// A snapshot of the database now.
    fn snapshot(&self, py: Python<'_>) -> PyResult<Snapshot> {
        Snapshot::take(py, &self.core, None)
    }

    /// A property as bytes (`b'leveldb.stats'`, `b'leveldb.sstables'`,
    /// `b'leveldb.num-files-at-level<N>'`,
    /// `b'leveldb.approximate-memory-usage'`, and the same names with
    /// `lsmkit.`), or `None` for an unknown name.
    fn get_property<'py>(&self, py: Python<'py>, name: &[u8]) -> PyResult<Option<Bound<'py, PyBytes>>> {
        self.core.ensure_open(DB_CLOSED)?;
        let Ok(name) = std::str::from_utf8(name) else { return Ok(None) };
        let value = self.core.run(py, DB_CLOSED, |db| Ok(db.property(name)))?;
        Ok(value.map(|v| PyBytes::new(py, v.as_bytes())))
    }

    /// Compacts the keys from `start` to `stop` (both included; `None`:
    /// unbounded) down through every level that holds them.
    #[pyo3(signature = (*, start=None, stop=None))]
    fn compact_range(&self, py: Python<'_>, start: Option<&[u8]>, stop: Option<&[u8]>) -> PyResult<()> {
        self.core.ensure_open(DB_CLOSED)?;
        self.core.run(py, DB_CLOSED, |db| Ok(db.compact_range(start, stop)?))
    }

    /// Approximate bytes on disk used by the keys in `[start, stop)`.
    fn approximate_size(&self, py: Python<'_>, start: &[u8], stop: &[u8]) -> PyResult<u64> {
        self.core.ensure_open(DB_CLOSED)?;
        let sizes = self.core.run(py, DB_CLOSED, |db| Ok(db.approximate_sizes(&[(start, stop)])))?;
        Ok(sizes.first().copied().unwrap_or(0))
    }

    /// `approximate_size` of each `(start, stop)` range given, as a list.
    #[pyo3(signature = (*ranges))]
    fn approximate_sizes(&self, py: Python<'_>, ranges: &Bound<'_, PyTuple>) -> PyResult<Vec<u64>> {
        self.core.ensure_open(DB_CLOSED)?;
        let mut owned: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(ranges.len());
        for range in ranges.iter() {
            let pair: (Bound<'_, PyAny>, Bound<'_, PyAny>) = range.extract().map_err(|_| {
                PyTypeError::new_err("each range must be a (start, stop) tuple of byte strings")
            })?;
            let (Ok(start), Ok(stop)) = (pair.0.cast::<PyBytes>(), pair.1.cast::<PyBytes>()) else {
                return Err(PyTypeError::new_err("Start and stop of range must be byte strings"));
            };
            owned.push((start.as_bytes().to_vec(), stop.as_bytes().to_vec()));
        }
        self.core.run(py, DB_CLOSED, |db| {
            let borrowed: Vec<(&[u8], &[u8])> =
                owned.iter().map(|(a, b)| (a.as_slice(), b.as_slice())).collect();
            Ok(db.approximate_sizes(&borrowed))
        })
    }

    /// A view of the keys that start with `prefix`, with the prefix left
    /// out of the keys it takes and returns.
    fn prefixed_db(slf: &Bound<'_, Self>, prefix: &[u8]) -> PrefixedDb {
        PrefixedDb { db: slf.clone().unbind(), prefix: prefix.to_vec() }
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> bool {
        self.core.close(py);
        false
    }

    // ----- lsmkit's own --------------------------------------------------------

    /// Writes the memtable to a table now (lsmkit only). With `wait` (the
    /// default), returns once it is on disk.
    #[pyo3(signature = (*, wait=true))]
    fn flush(&self, py: Python<'_>, wait: bool) -> PyResult<()> {
        self.core.ensure_open(DB_CLOSED)?;
        self.core.run(py, DB_CLOSED, |db| Ok(db.flush(FlushOptions { wait })?))
    }

    /// Writes an openable copy of the database to directory `path`, which
    /// must not exist yet, while reads and writes go on (lsmkit only).
    /// Returns the sequence number of the last write the copy holds.
    fn checkpoint(&self, py: Python<'_>, path: &Bound<'_, PyAny>) -> PyResult<u64> {
        self.core.ensure_open(DB_CLOSED)?;
        let path = fs_path(path)?;
        self.core.run(py, DB_CLOSED, |db| Ok(db.checkpoint(&path)?))
    }

    /// The sequence number of the last write (lsmkit only).
    fn latest_sequence(&self, py: Python<'_>) -> PyResult<u64> {
        self.core.ensure_open(DB_CLOSED)?;
        self.core.run(py, DB_CLOSED, |db| Ok(db.latest_sequence()))
    }

    /// The writes logged from sequence number `sequence` on, read back
    /// from the write-ahead log (lsmkit only): an iterator of
    /// `(sequence, "put", key, value)` and `(sequence, "delete", key, None)`
    /// that, with `follow_tail`, sees later writes when iterated again.
    /// Raises `lsmkit.Error` if some of those writes are no longer logged
    /// (keep old logs with `wal_ttl_seconds` or `wal_size_limit`).
    #[pyo3(signature = (sequence=0, *, follow_tail=true))]
    fn updates_since(&self, py: Python<'_>, sequence: u64, follow_tail: bool) -> PyResult<WalUpdates> {
        self.core.ensure_open(DB_CLOSED)?;
        WalUpdates::open(py, &self.core, sequence, follow_tail)
    }
}

/// A view of a database restricted to the keys that start with `prefix`
/// (plyvel's `PrefixedDB`): keys given to it and returned by it leave the
/// prefix out.
#[pyclass(frozen, module = "lsmkit", name = "PrefixedDB")]
pub struct PrefixedDb {
    db: Py<PyDb>,
    prefix: Vec<u8>,
}

impl PrefixedDb {
    fn core(&self) -> &Arc<DbCore> {
        &self.db.get().core
    }
}

#[pymethods]
impl PrefixedDb {
    /// The database this is a view of.
    #[getter]
    fn db(&self, py: Python<'_>) -> Py<PyDb> {
        self.db.clone_ref(py)
    }

    /// The key prefix.
    #[getter]
    fn prefix<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.prefix)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "<lsmkit.PrefixedDB with prefix {} at {:#x}>",
            self.prefix(py).repr()?,
            self as *const _ as usize
        ))
    }

    /// The value of `prefix + key`, or `default`.
    #[pyo3(signature = (key, default=None, *, verify_checksums=None, fill_cache=Some(true)))]
    fn get(
        &self,
        py: Python<'_>,
        key: &[u8],
        default: Option<Py<PyAny>>,
        verify_checksums: Option<bool>,
        fill_cache: Option<bool>,
    ) -> PyResult<Py<PyAny>> {
        self.core().ensure_open(DB_CLOSED)?;
        let options = ReadOptions {
            snapshot: None,
            verify_checksums: verify_checksums.unwrap_or(false),
            fill_cache: fill_cache.unwrap_or(false),
        };
        read_value(py, self.core(), DB_CLOSED, options, &concat(&self.prefix, key), default)
    }

    /// Sets `prefix + key` to `value`.
    #[pyo3(signature = (key, value, *, sync=false, ttl=None))]
    fn put(
        &self,
        py: Python<'_>,
        key: &[u8],
        value: &Bound<'_, PyAny>,
        sync: bool,
        ttl: Option<f64>,
    ) -> PyResult<()> {
        put_value(py, self.core(), &concat(&self.prefix, key), value, sync, ttl)
    }

    /// Deletes `prefix + key`.
    #[pyo3(signature = (key, *, sync=false))]
    fn delete(&self, py: Python<'_>, key: &[u8], sync: bool) -> PyResult<()> {
        self.core().ensure_open(DB_CLOSED)?;
        let key = concat(&self.prefix, key);
        let options = WriteOptions { sync, ..WriteOptions::default() };
        self.core().run(py, DB_CLOSED, |db| Ok(db.delete_opt(options, &key)?))
    }

    /// A write batch whose keys get the prefix.
    #[pyo3(signature = (*, transaction=false, sync=false))]
    fn write_batch(&self, transaction: bool, sync: bool) -> PyResult<WriteBatch> {
        WriteBatch::new(self.core(), Some(self.prefix.clone()), transaction, sync)
    }

    fn __iter__(&self, py: Python<'_>) -> PyResult<Iterator> {
        self.iterator(py, false, None, None, true, false, None, true, true, None, Some(true))
    }

    /// An iterator over the view (the same arguments as `DB.iterator`,
    /// keys without the prefix).
    #[pyo3(signature = (*, reverse=false, start=None, stop=None, include_start=true, include_stop=false,
                        prefix=None, include_key=true, include_value=true, verify_checksums=None, fill_cache=Some(true)))]
    #[allow(clippy::too_many_arguments)] // plyvel's keyword arguments
    fn iterator(
        &self,
        py: Python<'_>,
        reverse: bool,
        start: Option<&[u8]>,
        stop: Option<&[u8]>,
        include_start: bool,
        include_stop: bool,
        prefix: Option<&[u8]>,
        include_key: bool,
        include_value: bool,
        verify_checksums: Option<bool>,
        fill_cache: Option<bool>,
    ) -> PyResult<Iterator> {
        let args = IterArgs {
            reverse,
            start,
            stop,
            include_start,
            include_stop,
            prefix,
            include_key,
            include_value,
            verify_checksums: verify_checksums.unwrap_or(false),
            fill_cache: fill_cache.unwrap_or(false),
        };
        Iterator::open(py, self.core(), Some(&self.prefix), None, args)
    }

    /// A snapshot read through this view.
    fn snapshot(&self, py: Python<'_>) -> PyResult<Snapshot> {
        Snapshot::take(py, self.core(), Some(self.prefix.clone()))
    }

    /// A view of the keys starting with `prefix + prefix`.
    fn prefixed_db(&self, py: Python<'_>, prefix: &[u8]) -> PrefixedDb {
        PrefixedDb { db: self.db.clone_ref(py), prefix: concat(&self.prefix, prefix) }
    }
}
