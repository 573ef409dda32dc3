//! The state behind a Python `DB` object, shared with its iterators,
//! snapshots and write batches: the engine handle (gone once closed), the
//! cursors to release at close, and the rules that keep the binding safe
//! under threads:
//!
//! * Every call that may do I/O runs with the GIL released
//!   ([`DbCore::run`]), holding the read side of `db`, so `close` (the write
//!   side) waits for calls in flight and no call starts on a closed
//!   database: it gets a `RuntimeError` instead.
//! * No Rust lock is ever waited for while the GIL is held, except short
//!   ones never held across a call that may need the GIL (write batches,
//!   snapshots, an iterator's read-ahead, the registries). A Python comparator needs the GIL from
//!   inside engine calls, so holding the GIL while waiting for a lock that
//!   such a call holds would deadlock.
//! * Lock order: `db` (read or write), then a cursor's mutex, then an
//!   iterator's read-ahead.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};

use lsmkit::Db;
use pyo3::prelude::*;

use crate::comparator::PyComparator;
use crate::errors::{Error, Fail};

/// Something holding engine resources (an iterator) that closing the
/// database releases.
pub(crate) trait Release: Send + Sync {
    /// Drops the resources; later uses see a closed object.
    fn release(&self);
}

impl<T: Send> Release for Mutex<Option<T>> {
    fn release(&self) {
        let taken = self.lock().unwrap_or_else(PoisonError::into_inner).take();
        drop(taken);
    }
}

/// Weak references to live cursors, pruned as they die.
#[derive(Default)]
struct Registry {
    live: Vec<Weak<dyn Release>>,
    prune_at: usize,
}

/// An open (or closed) database as the binding sees it.
pub(crate) struct DbCore {
    db: RwLock<Option<Db>>,
    closed: AtomicBool,
    /// Opened with `enable_ttl` (puts may carry a time to live).
    pub(crate) ttl_enabled: bool,
    comparator: Option<Arc<PyComparator>>,
    cursors: Mutex<Registry>,
}

/// Every database opened in this process, closed by the `atexit` hook so
/// that no engine thread is left calling into a finalizing interpreter.
static OPEN: Mutex<Vec<Weak<DbCore>>> = Mutex::new(Vec::new());

impl DbCore {
    /// Wraps a freshly opened database.
    pub(crate) fn new(db: Db, ttl_enabled: bool, comparator: Option<Arc<PyComparator>>) -> Arc<DbCore> {
        let core = Arc::new(DbCore {
            db: RwLock::new(Some(db)),
            closed: AtomicBool::new(false),
            ttl_enabled,
            comparator,
            cursors: Mutex::new(Registry::default()),
        });
        let mut open = OPEN.lock().unwrap_or_else(PoisonError::into_inner);
        open.retain(|c| c.strong_count() > 0);
        open.push(Arc::downgrade(&core));
        core
    }

    /// True once `close` has run.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// `RuntimeError(message)` if the database is closed.
    pub(crate) fn ensure_open(&self, message: &'static str) -> PyResult<()> {
        if self.is_closed() {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(message));
        }
        Ok(())
    }

    /// Runs `f` on the open database with the GIL released; a closed
    /// database gives `RuntimeError(closed_message)`.
    pub(crate) fn run<T, F>(&self, py: Python<'_>, closed_message: &'static str, f: F) -> PyResult<T>
    where
        T: Send,
        F: FnOnce(&Db) -> Result<T, Fail> + Send,
    {
        let result = py.detach(|| {
            let guard = self.db.read().unwrap_or_else(PoisonError::into_inner);
            match guard.as_ref() {
                Some(db) => f(db),
                None => Err(Fail::Closed(closed_message)),
            }
        });
        self.check_comparator(py)?;
        result.map_err(|fail| fail.into_pyerr(py))
    }

    /// Remembers `cursor` so that closing the database releases it. Call
    /// from inside [`run`](Self::run) (while the database is known open).
    pub(crate) fn register(&self, cursor: Arc<dyn Release>) {
        let mut registry = self.cursors.lock().unwrap_or_else(PoisonError::into_inner);
        if registry.live.len() >= registry.prune_at {
            registry.live.retain(|c| c.strong_count() > 0);
            registry.prune_at = (registry.live.len() * 2).max(64);
        }
        registry.live.push(Arc::downgrade(&cursor));
    }

    /// Closes the database: waits for calls in flight, releases every
    /// cursor, stops the background threads and unlocks the directory.
    /// Closing twice does nothing.
    pub(crate) fn close(&self, py: Python<'_>) {
        py.detach(|| self.close_detached());
    }

    /// [`close`](Self::close) for a thread that does not hold the GIL.
    fn close_detached(&self) {
        let db = self.db.write().unwrap_or_else(PoisonError::into_inner).take();
        self.closed.store(true, Ordering::Release);
        let cursors = std::mem::take(&mut self.cursors.lock().unwrap_or_else(PoisonError::into_inner).live);
        for cursor in cursors.iter().filter_map(Weak::upgrade) {
            cursor.release();
        }
        drop(db);
    }

    /// After a call: if the Python comparator raised during it, the
    /// database is closed (its order can no longer be trusted) and the
    /// exception is raised as the cause of an `lsmkit.Error`.
    fn check_comparator(&self, py: Python<'_>) -> PyResult<()> {
        let Some(err) = self.comparator.as_ref().and_then(|c| c.take_error()) else {
            return Ok(());
        };
        self.close(py);
        let wrapped = Error::new_err(
            "the comparator raised an exception (see __cause__); the database was closed, \
             since keys may have been ordered wrongly",
        );
        wrapped.set_cause(py, Some(err));
        Err(wrapped)
    }
}

impl Drop for DbCore {
    fn drop(&mut self) {
        // The last reference went away without `close`: close now, with the
        // GIL released, since the engine's threads may be waiting for it in
        // a Python comparator.
        let db = self.db.get_mut().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(db) = db {
            Python::attach(|py| py.detach(move || drop(db)));
        }
    }
}

/// The `atexit` hook: closes every database still open.
#[pyfunction]
pub(crate) fn _close_all_at_exit(py: Python<'_>) {
    let open = std::mem::take(&mut *OPEN.lock().unwrap_or_else(PoisonError::into_inner));
    for core in open.iter().filter_map(Weak::upgrade) {
        core.close(py);
    }
}
