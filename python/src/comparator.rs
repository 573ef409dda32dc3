//! A key order given by a Python callable (plyvel's `comparator=` and
//! `comparator_name=`): `comparator(a, b)` returns a negative number, zero or
//! a positive number, as `cmp` would.
//!
//! The engine calls it from any thread, background threads included, so
//! each call attaches to the interpreter (takes the GIL). A comparator that
//! raises cannot report that to the engine; the first exception is kept,
//! bytewise order is used from then on, and the binding closes the database
//! at the next call and raises the exception from it (see
//! `DbCore::check_comparator`), rather than aborting the process as plyvel
//! does.

use std::cmp::Ordering;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::{Mutex, PoisonError};

use lsmkit_base::comparator::Comparator;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// A comparator that calls a Python function.
pub(crate) struct PyComparator {
    name: String,
    function: Py<PyAny>,
    /// Set once the function has raised (or returned something that does
    /// not compare with 0).
    failed: AtomicBool,
    /// The first exception, until the binding takes it.
    error: Mutex<Option<PyErr>>,
}

impl PyComparator {
    /// A comparator named `name` (stored in the MANIFEST) calling `function`.
    pub(crate) fn new(name: String, function: Py<PyAny>) -> PyComparator {
        PyComparator { name, function, failed: AtomicBool::new(false), error: Mutex::new(None) }
    }

    /// The first exception the function raised, once.
    pub(crate) fn take_error(&self) -> Option<PyErr> {
        if !self.failed.load(AtomicOrdering::Acquire) {
            return None;
        }
        self.error.lock().unwrap_or_else(PoisonError::into_inner).take()
    }

    fn call(&self, py: Python<'_>, a: &[u8], b: &[u8]) -> PyResult<Ordering> {
        let result = self.function.bind(py).call1((PyBytes::new(py, a), PyBytes::new(py, b)))?;
        Ok(if result.lt(0)? {
            Ordering::Less
        } else if result.gt(0)? {
            Ordering::Greater
        } else {
            Ordering::Equal
        })
    }
}

impl Comparator for PyComparator {
    fn name(&self) -> &str {
        &self.name
    }

    fn compare(&self, a: &[u8], b: &[u8]) -> Ordering {
        if self.failed.load(AtomicOrdering::Acquire) {
            return a.cmp(b);
        }
        Python::attach(|py| match self.call(py, a, b) {
            Ok(order) => order,
            Err(err) => {
                let mut slot = self.error.lock().unwrap_or_else(PoisonError::into_inner);
                if !self.failed.swap(true, AtomicOrdering::AcqRel) {
                    *slot = Some(err);
                }
                a.cmp(b)
            }
        })
    }

    // Returning the key unchanged is always correct; shortening would need
    // knowledge of the Python order (LevelDB's callback comparators in
    // plyvel do the same).
    fn shortest_separator(&self, start: &[u8], _limit: &[u8]) -> Vec<u8> {
        start.to_vec()
    }

    fn short_successor(&self, key: &[u8]) -> Vec<u8> {
        key.to_vec()
    }
}
