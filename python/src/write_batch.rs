//! plyvel's `WriteBatch`: puts and deletes collected in memory and applied
//! atomically by `write()`, or at the end of a `with` block (not at all when
//! the block raises and the batch was made with `transaction=True`).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::convert::{concat, value_arg};
use crate::core::DbCore;
use crate::errors::Fail;
use crate::options::seconds;

const DB_CLOSED: &str = "Database is closed";

/// A batch of writes applied atomically. `put`, `delete` and `clear` only
/// change the batch; `write()` applies it (and leaves it as it is, so it
/// can be written again).
#[pyclass(frozen, module = "lsmkit")]
pub struct WriteBatch {
    core: Arc<DbCore>,
    prefix: Option<Vec<u8>>,
    transaction: bool,
    sync: bool,
    // Held only for in-memory work, never across a call into the engine.
    batch: Mutex<lsmkit::WriteBatch>,
}

impl WriteBatch {
    /// An empty batch for the database (keys prefixed with `prefix`).
    pub(crate) fn new(
        core: &Arc<DbCore>,
        prefix: Option<Vec<u8>>,
        transaction: bool,
        sync: bool,
    ) -> PyResult<WriteBatch> {
        core.ensure_open(DB_CLOSED)?;
        Ok(WriteBatch {
            core: Arc::clone(core),
            prefix,
            transaction,
            sync,
            batch: Mutex::new(lsmkit::WriteBatch::new()),
        })
    }

    fn batch(&self) -> PyResult<MutexGuard<'_, lsmkit::WriteBatch>> {
        self.core.ensure_open(DB_CLOSED)?;
        Ok(self.batch.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn full_key(&self, key: &[u8]) -> Vec<u8> {
        match &self.prefix {
            Some(p) => concat(p, key),
            None => key.to_vec(),
        }
    }
}

#[pymethods]
impl WriteBatch {
    /// Adds "set `key` to `value`". With `ttl` (seconds; lsmkit only, for a
    /// database opened with `enable_ttl=True`) the entry expires after it.
    #[pyo3(signature = (key, value, *, ttl=None))]
    fn put(&self, key: &[u8], value: &Bound<'_, PyAny>, ttl: Option<f64>) -> PyResult<()> {
        let value = value_arg(value)?;
        let key = self.full_key(key);
        match ttl {
            None => self.batch()?.put(&key, value.as_slice()),
            Some(ttl) => {
                if !self.core.ttl_enabled {
                    return Err(PyValueError::new_err("'ttl' needs a database opened with enable_ttl=True"));
                }
                let ttl = seconds(ttl, "ttl", false)?;
                self.batch()?.put_with_ttl(&key, value.as_slice(), ttl);
            }
        }
        Ok(())
    }

    /// Adds "delete `key`".
    fn delete(&self, key: &[u8]) -> PyResult<()> {
        let key = self.full_key(key);
        self.batch()?.delete(&key);
        Ok(())
    }

    /// Empties the batch.
    fn clear(&self) -> PyResult<()> {
        self.batch()?.clear();
        Ok(())
    }

    /// Applies the batch atomically.
    fn write(&self, py: Python<'_>) -> PyResult<()> {
        let batch = self.batch()?.clone();
        let options = lsmkit::WriteOptions { sync: self.sync, ..lsmkit::WriteOptions::default() };
        self.core.run(py, DB_CLOSED, |db| db.write(options, batch).map_err(Fail::Engine))
    }

    /// The size of the batch's encoding in bytes.
    fn approximate_size(&self) -> PyResult<usize> {
        Ok(self.batch()?.approximate_size())
    }

    /// Adds every operation of `source` to this batch.
    fn append(&self, source: &WriteBatch) -> PyResult<()> {
        let other = source.batch()?.clone();
        self.batch()?.append(&other);
        Ok(())
    }

    fn __enter__(slf: Py<Self>, py: Python<'_>) -> PyResult<Py<Self>> {
        slf.get().core.ensure_open(DB_CLOSED)?;
        Ok(slf.clone_ref(py))
    }

    /// Writes the batch (unless this is a transaction and the block
    /// raised), then empties it.
    fn __exit__(
        &self,
        py: Python<'_>,
        exc_type: Option<&Bound<'_, PyAny>>,
        _exc_value: Option<&Bound<'_, PyAny>>,
        _traceback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        self.core.ensure_open(DB_CLOSED)?;
        if !(self.transaction && exc_type.is_some_and(|t| !t.is_none())) {
            self.write(py)?;
        }
        self.clear()?;
        Ok(false)
    }
}
