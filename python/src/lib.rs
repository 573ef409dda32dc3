//! `lsmkit._lsmkit`, the native part of the `lsmkit` Python package: the
//! lsmkit engine behind plyvel's API (`DB`, `PrefixedDB`, `WriteBatch`,
//! `Iterator`, `RawIterator`, `Snapshot`, `repair_db`, `destroy_db` and
//! plyvel's exceptions), with lsmkit's own additions (`flush`,
//! `checkpoint`, `updates_since`, puts with a time to live). Built by
//! maturin from `python/pyproject.toml`; `python/pysrc/lsmkit/__init__.py`
//! re-exports it.

mod comparator;
mod convert;
mod core;
mod db;
mod errors;
mod iterator;
mod options;
mod snapshot;
mod wal;
mod write_batch;

use lsmkit::Db;
use pyo3::prelude::*;

use crate::convert::fs_path;
use crate::errors::engine_error;
use crate::options::{build_options, CompressionArg, LsmkitArgs, TableArgs};

/// The LevelDB version whose formats lsmkit reads and writes, as plyvel
/// reports the LevelDB it links (`'major.minor'`).
const LEVELDB_VERSION: &str = "1.23";

/// Rebuilds the database in `name` from the tables and logs there when its
/// MANIFEST is lost or damaged (LevelDB's `RepairDB`). Takes `DB()`'s
/// table options; the database must not be open.
#[pyfunction]
#[pyo3(signature = (name, *, paranoid_checks=None, write_buffer_size=None, max_open_files=None,
                    lru_cache_size=None, block_size=None, block_restart_interval=None, max_file_size=None,
                    compression=CompressionArg(lsmkit::Compression::Snappy), bloom_filter_bits=0,
                    comparator=None, comparator_name=None))]
#[allow(clippy::too_many_arguments)] // plyvel's keyword arguments
fn repair_db(
    py: Python<'_>,
    name: &Bound<'_, PyAny>,
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
) -> PyResult<()> {
    let path = fs_path(name)?;
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
    let (options, _comparator) = build_options(table, LsmkitArgs::default())?;
    py.detach(|| Db::repair(&path, &options)).map(drop).map_err(|e| engine_error(py, e))
}

/// Deletes the database in `name`: its files, then the directory if
/// nothing else is left in it. A database open anywhere is left alone
/// (`IOError`).
#[pyfunction]
fn destroy_db(py: Python<'_>, name: &Bound<'_, PyAny>) -> PyResult<()> {
    let path = fs_path(name)?;
    py.detach(|| Db::destroy(&path, &lsmkit::Options::default())).map_err(|e| engine_error(py, e))
}

/// The module `lsmkit._lsmkit`.
#[pymodule]
fn _lsmkit(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("__leveldb_version__", LEVELDB_VERSION)?;
    m.add("Error", py.get_type::<errors::Error>())?;
    m.add("IOError", errors::io_error_type(py)?)?;
    m.add("CorruptionError", py.get_type::<errors::CorruptionError>())?;
    m.add("IteratorInvalidError", py.get_type::<errors::IteratorInvalidError>())?;
    m.add_class::<db::PyDb>()?;
    m.add_class::<db::PrefixedDb>()?;
    m.add_class::<write_batch::WriteBatch>()?;
    m.add_class::<iterator::Iterator>()?;
    m.add_class::<iterator::RawIterator>()?;
    m.add_class::<snapshot::Snapshot>()?;
    m.add_class::<wal::WalUpdates>()?;
    m.add_function(wrap_pyfunction!(repair_db, m)?)?;
    m.add_function(wrap_pyfunction!(destroy_db, m)?)?;
    let close_all = wrap_pyfunction!(core::_close_all_at_exit, m)?;
    py.import("atexit")?.call_method1("register", (close_all,))?;
    Ok(())
}
