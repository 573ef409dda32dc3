//! lsmkit's `DB.updates_since()`: the write-ahead log read back as a Python
//! iterator of operations, for incremental replication or change capture.

use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use lsmkit::WalIterator;
use lsmkit_base::key::ValueKind;
use lsmkit_wal::TtlValue;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use crate::core::DbCore;
use crate::errors::Fail;

const WAL_CLOSED: &str = "Database or WAL iterator is closed";

/// One logged operation: sequence, put or not, key, value.
type Op = (u64, bool, Bytes, Bytes);

/// The operations logged from a sequence number on, oldest first, each as
/// `(sequence, "put", key, value)` or `(sequence, "delete", key, None)`.
/// At the end of what is logged it raises `StopIteration`, but iterating
/// again later returns the writes made since (it follows the log).
#[pyclass(frozen, module = "lsmkit")]
pub struct WalUpdates {
    core: Arc<DbCore>,
    it: Arc<Mutex<Option<WalIterator>>>,
}

impl WalUpdates {
    /// The updates of `core`'s database from `sequence` on.
    pub(crate) fn open(
        py: Python<'_>,
        core: &Arc<DbCore>,
        sequence: u64,
        follow_tail: bool,
    ) -> PyResult<WalUpdates> {
        let options = lsmkit::WalIteratorOptions { follow_tail, ..lsmkit::WalIteratorOptions::default() };
        let it = core.run(py, WAL_CLOSED, |db| {
            let it = Arc::new(Mutex::new(Some(db.updates_since_opt(sequence, options)?)));
            core.register(it.clone());
            Ok(it)
        })?;
        Ok(WalUpdates { core: Arc::clone(core), it })
    }

    /// A user value from a logged one (without its TTL frame, for a
    /// database with entry expiry).
    fn user_value(ttl: bool, value: Bytes) -> Result<Bytes, Fail> {
        if !ttl {
            return Ok(value);
        }
        let frame = TtlValue::decode(&value)?.frame_len();
        Ok(value.slice(frame.min(value.len())..))
    }

    fn op(ttl: bool, op: lsmkit::WalOp) -> Result<Op, Fail> {
        let put = op.kind == ValueKind::Value;
        let value = if put { Self::user_value(ttl, op.value)? } else { op.value };
        Ok((op.sequence, put, op.key, value))
    }

    fn to_python(py: Python<'_>, (sequence, put, key, value): Op) -> PyResult<Py<PyAny>> {
        let kind = if put { "put" } else { "delete" };
        let value = if put { PyBytes::new(py, &value).into_any() } else { py.None().into_bound(py) };
        Ok((sequence, kind, PyBytes::new(py, &key), value).into_pyobject(py)?.into_any().unbind())
    }

    fn with_it<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut WalIterator) -> Result<T, Fail> + Send,
    ) -> PyResult<T> {
        self.core.run(py, WAL_CLOSED, |_db| {
            let mut slot = self.it.lock().unwrap_or_else(PoisonError::into_inner);
            f(slot.as_mut().ok_or(Fail::Closed(WAL_CLOSED))?)
        })
    }
}

#[pymethods]
impl WalUpdates {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// The next logged operation.
    fn __next__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let ttl = self.core.ttl_enabled;
        let op = self.with_it(py, |it| match it.next_op() {
            None => Err(Fail::Stop),
            Some(op) => Self::op(ttl, op?),
        })?;
        Self::to_python(py, op)
    }

    /// The next whole logged batch as `(first_sequence, [operations])`, or
    /// `None` at the end of what is logged so far.
    fn next_batch(&self, py: Python<'_>) -> PyResult<Option<(u64, Py<PyList>)>> {
        let ttl = self.core.ttl_enabled;
        let batch = self.with_it(py, |it| match it.next_batch() {
            None => Ok(None),
            Some(batch) => {
                let batch = batch?.batch;
                let first = batch.sequence();
                let mut ops = Vec::with_capacity(batch.count() as usize);
                for (i, op) in batch.ops().enumerate() {
                    let op = op?;
                    let put = op.kind == ValueKind::Value;
                    let value = Bytes::copy_from_slice(op.value);
                    let value = if put { Self::user_value(ttl, value)? } else { value };
                    ops.push((first + i as u64, put, Bytes::copy_from_slice(op.key), value));
                }
                Ok(Some((first, ops)))
            }
        })?;
        let Some((first, ops)) = batch else { return Ok(None) };
        let list = PyList::empty(py);
        for op in ops {
            list.append(Self::to_python(py, op)?)?;
        }
        Ok(Some((first, list.unbind())))
    }

    /// Releases the iterator's files.
    fn close(&self, py: Python<'_>) {
        py.detach(|| drop(self.it.lock().unwrap_or_else(PoisonError::into_inner).take()));
    }
}
