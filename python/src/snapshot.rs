//! plyvel's `Snapshot`: reads (`get`, `iterator`, `raw_iterator`) of the
//! database as it was when the snapshot was taken, through a `DB` or a
//! `PrefixedDB` (whose key prefix it keeps).

use std::sync::{Arc, Mutex, PoisonError};

use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::convert::concat;
use crate::core::DbCore;
use crate::db::read_value;
use crate::iterator::{IterArgs, Iterator, RawIterator};

const SNAPSHOT_CLOSED: &str = "Database or snapshot is closed";

/// A consistent read-only view of the database at one moment. Release it
/// with `close()` (or a `with` block) when done: while it lives, compactions
/// keep the old versions of keys it can see.
#[pyclass(frozen, module = "lsmkit")]
pub struct Snapshot {
    core: Arc<DbCore>,
    prefix: Option<Vec<u8>>,
    snapshot: Mutex<Option<lsmkit::Snapshot>>,
}

impl Snapshot {
    /// A snapshot of the database now.
    pub(crate) fn take(py: Python<'_>, core: &Arc<DbCore>, prefix: Option<Vec<u8>>) -> PyResult<Snapshot> {
        core.ensure_open("Cannot operate on closed LevelDB database")?;
        let snapshot = core.run(py, "Cannot operate on closed LevelDB database", |db| Ok(db.snapshot()))?;
        Ok(Snapshot { core: Arc::clone(core), prefix, snapshot: Mutex::new(Some(snapshot)) })
    }

    /// The engine snapshot, or `RuntimeError` if it or the database is closed.
    fn current(&self) -> PyResult<lsmkit::Snapshot> {
        self.core.ensure_open(SNAPSHOT_CLOSED)?;
        self.snapshot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| pyo3::exceptions::PyRuntimeError::new_err(SNAPSHOT_CLOSED))
    }
}

#[pymethods]
impl Snapshot {
    /// The value of `key` in the snapshot, or `default` if it was absent.
    #[pyo3(signature = (key, default=None, *, verify_checksums=None, fill_cache=Some(true)))]
    fn get(
        &self,
        py: Python<'_>,
        key: &[u8],
        default: Option<Py<PyAny>>,
        verify_checksums: Option<bool>,
        fill_cache: Option<bool>,
    ) -> PyResult<Py<PyAny>> {
        let snapshot = self.current()?;
        let key = match &self.prefix {
            Some(p) => concat(p, key),
            None => key.to_vec(),
        };
        let options = lsmkit::ReadOptions {
            snapshot: Some(snapshot),
            verify_checksums: verify_checksums.unwrap_or(false),
            fill_cache: fill_cache.unwrap_or(false),
        };
        read_value(py, &self.core, SNAPSHOT_CLOSED, options, &key, default)
    }

    /// An iterator over the snapshot (the same arguments as `DB.iterator`).
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
        let snapshot = self.current()?;
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
        Iterator::open(py, &self.core, self.prefix.as_deref(), Some(snapshot), args)
    }

    /// A raw iterator over the snapshot.
    #[pyo3(signature = (*, verify_checksums=None, fill_cache=Some(true)))]
    fn raw_iterator(
        &self,
        py: Python<'_>,
        verify_checksums: Option<bool>,
        fill_cache: Option<bool>,
    ) -> PyResult<RawIterator> {
        let snapshot = self.current()?;
        RawIterator::open(
            py,
            &self.core,
            Some(snapshot),
            verify_checksums.unwrap_or(false),
            fill_cache.unwrap_or(false),
        )
    }

    fn __iter__(&self, py: Python<'_>) -> PyResult<Iterator> {
        self.iterator(py, false, None, None, true, false, None, true, true, None, Some(true))
    }

    /// Releases the snapshot (twice is harmless); reading it afterwards
    /// raises `RuntimeError`.
    fn close(&self) {
        let taken = self.snapshot.lock().unwrap_or_else(PoisonError::into_inner).take();
        drop(taken);
    }

    /// The same as `close()`.
    fn release(&self) {
        self.close();
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, _exc: &Bound<'_, PyTuple>) -> bool {
        self.close();
        false
    }
}
