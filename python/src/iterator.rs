//! plyvel's two iterator classes over the engine's [`DbIterator`]:
//!
//! * `Iterator` (from `DB.iterator()`, `PrefixedDB.iterator()`,
//!   `Snapshot.iterator()`): a Python iterator over a key range (`start`,
//!   `stop`, `include_start`, `include_stop`, or `prefix`), in either
//!   direction, that can also step back (`prev()`) and be repositioned
//!   (`seek`, `seek_to_start`, `seek_to_stop`).
//! * `RawIterator` (`raw_iterator()`): LevelDB's iterator as is (`valid`,
//!   `seek_to_first`, `next`, `key`, ...).
//!
//! The cursor of an `Iterator` sits *between* two entries of its range:
//! moving forward returns the entry after the cursor and passes it, moving
//! back returns the entry before it and passes it, so `next()` then
//! `prev()` returns the same entry twice. The engine iterator is kept on
//! one of the two entries beside the cursor, as [`Position`] records,
//! except that `next()` reads ahead in the iterator's direction (`Ahead`):
//! the entries read ahead sit between the cursor and the engine.

use std::cmp::Ordering;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use lsmkit::{Db, DbIterator, ReadOptions, Snapshot};
use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};

use crate::convert::{concat, prefix_successor};
use crate::core::{DbCore, Release};
use crate::errors::Fail;

const ITER_CLOSED: &str = "Database or iterator is closed";

/// Where the cursor of an [`Iterator`] is, and where the engine iterator is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    /// Before the first entry of the range (the engine position is unused).
    BeforeStart,
    /// After the last entry of the range (the engine position is unused).
    AfterStop,
    /// Between two entries; the engine is on the entry just before the
    /// cursor, which is in the range.
    EngineBefore,
    /// Between two entries; the engine is on the entry just after the
    /// cursor (after a `seek`), which may be past the range's end.
    EngineAfter,
}

/// The key range of an [`Iterator`].
#[derive(Debug, Clone, Default)]
struct Range {
    start: Option<Vec<u8>>,
    stop: Option<Vec<u8>>,
    include_start: bool,
    include_stop: bool,
}

/// The engine iterator of an [`Iterator`] and its position.
struct Cursor {
    it: DbIterator,
    position: Position,
}

impl Cursor {
    fn compare(&self, a: &[u8], b: &[u8]) -> Ordering {
        self.it.user_comparator().compare(a, b)
    }

    /// `key` is before the range (below `start`, or at an excluded `start`).
    fn before_range(&self, range: &Range, key: &[u8]) -> bool {
        range.start.as_deref().is_some_and(|start| match self.compare(key, start) {
            Ordering::Less => true,
            Ordering::Equal => !range.include_start,
            Ordering::Greater => false,
        })
    }

    /// `key` is past the range (above `stop`, or at an excluded `stop`).
    fn past_range(&self, range: &Range, key: &[u8]) -> bool {
        range.stop.as_deref().is_some_and(|stop| match self.compare(key, stop) {
            Ordering::Greater => true,
            Ordering::Equal => !range.include_stop,
            Ordering::Less => false,
        })
    }

    fn status(&self) -> Result<(), Fail> {
        self.it.status().map_err(Fail::Engine)
    }

    /// Passes the entry after the cursor (in key order) to `emit` and
    /// moves past it.
    fn forward(&mut self, range: &Range, emit: &mut impl FnMut(&[u8], &[u8])) -> Result<(), Fail> {
        match self.position {
            Position::AfterStop => return Err(Fail::Stop),
            Position::BeforeStart => {
                match &range.start {
                    Some(start) => self.it.seek(start),
                    None => self.it.seek_to_first(),
                }
                if self.it.valid() && self.before_range(range, self.it.key()) {
                    self.it.next();
                }
            }
            Position::EngineBefore => self.it.next(),
            Position::EngineAfter => {}
        }
        self.status()?;
        if !self.it.valid() || self.past_range(range, self.it.key()) {
            self.position = Position::AfterStop;
            return Err(Fail::Stop);
        }
        self.position = Position::EngineBefore;
        emit(self.it.key(), self.it.value());
        Ok(())
    }

    /// Passes the entry before the cursor (in key order) to `emit` and
    /// moves before it.
    fn backward(&mut self, range: &Range, emit: &mut impl FnMut(&[u8], &[u8])) -> Result<(), Fail> {
        match self.position {
            Position::BeforeStart => return Err(Fail::Stop),
            Position::EngineBefore => {}
            Position::EngineAfter => {
                self.it.prev();
                self.status()?;
                if !self.it.valid() || self.before_range(range, self.it.key()) {
                    self.position = Position::BeforeStart;
                    return Err(Fail::Stop);
                }
            }
            Position::AfterStop => {
                match &range.stop {
                    None => self.it.seek_to_last(),
                    Some(stop) => {
                        self.it.seek(stop);
                        if !self.it.valid() {
                            self.it.seek_to_last();
                        } else if self.past_range(range, self.it.key()) {
                            self.it.prev();
                        }
                    }
                }
                self.status()?;
                if !self.it.valid() || self.before_range(range, self.it.key()) {
                    // The range is empty.
                    return Err(Fail::Stop);
                }
            }
        }
        emit(self.it.key(), self.it.value());
        self.it.prev();
        self.status()?;
        self.position = if self.it.valid() && !self.before_range(range, self.it.key()) {
            Position::EngineBefore
        } else {
            Position::BeforeStart
        };
        Ok(())
    }

    /// Puts the cursor just before the first entry `>= target`, `target`
    /// kept inside the range.
    fn seek(&mut self, range: &Range, target: &[u8]) -> Result<(), Fail> {
        let mut target = target;
        if let Some(start) = range.start.as_deref() {
            if self.compare(target, start) == Ordering::Less {
                target = start;
            }
        }
        if let Some(stop) = range.stop.as_deref() {
            if self.compare(target, stop) == Ordering::Greater {
                target = stop;
            }
        }
        let target = target.to_vec();
        self.it.seek(&target);
        if self.it.valid() && self.before_range(range, self.it.key()) {
            self.it.next();
        }
        self.status()?;
        self.position = if self.it.valid() { Position::EngineAfter } else { Position::AfterStop };
        Ok(())
    }
}

/// Locks a cursor slot (poisoning ignored: a panic leaves no broken invariant).
fn lock<T>(slot: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    slot.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The arguments of `iterator()`, shared by `DB`, `PrefixedDB` and `Snapshot`.
pub(crate) struct IterArgs<'a> {
    pub(crate) reverse: bool,
    pub(crate) start: Option<&'a [u8]>,
    pub(crate) stop: Option<&'a [u8]>,
    pub(crate) include_start: bool,
    pub(crate) include_stop: bool,
    pub(crate) prefix: Option<&'a [u8]>,
    pub(crate) include_key: bool,
    pub(crate) include_value: bool,
    pub(crate) verify_checksums: bool,
    pub(crate) fill_cache: bool,
}

/// The engine iterator for a read, made with the GIL released.
fn engine_iterator(
    db: &Db,
    snapshot: Option<Snapshot>,
    verify_checksums: bool,
    fill_cache: bool,
) -> DbIterator {
    db.iter(ReadOptions { snapshot, verify_checksums, fill_cache })
}

/// Entries read ahead by `next()` in the iterator's direction, waiting to
/// be returned: the engine iterator is already past them. Reading ahead
/// lets one call into the engine (one release of the GIL, one lock)
/// serve many `next()` calls; any other move first puts the engine back
/// just before the first of them (`materialize`). Its mutex is only held
/// for short copies, never across a call into the engine, so it may be
/// taken with the GIL held.
#[derive(Default)]
struct Ahead {
    /// Set when the iterator or its database is closed.
    closed: bool,
    /// Keys and values, back to back.
    data: Vec<u8>,
    /// Each entry: offset in `data`, key length, value length.
    entries: VecDeque<(usize, usize, usize)>,
    /// How many entries the next read-ahead takes (doubles up to
    /// [`MAX_AHEAD`], starts again at 1 after any other move).
    batch: usize,
}

/// The most entries read ahead at once.
const MAX_AHEAD: usize = 128;
/// A read-ahead stops once it holds this many bytes.
const MAX_AHEAD_BYTES: usize = 256 << 10;

/// An [`Iterator`]'s engine cursor and read-ahead (lock order: `cursor`,
/// then `ahead`).
struct IterState {
    cursor: Mutex<Option<Cursor>>,
    ahead: Mutex<Ahead>,
}

impl Release for IterState {
    fn release(&self) {
        let cursor = lock(&self.cursor).take();
        drop(cursor);
        let mut ahead = lock(&self.ahead);
        *ahead = Ahead { closed: true, ..Ahead::default() };
    }
}

/// An iterator over a range of a database, in plyvel's style: iterate it
/// with `for` or `next()`, step back with `prev()`, reposition it with
/// `seek()`, `seek_to_start()` and `seek_to_stop()`. Yields `(key, value)`
/// tuples, or keys, values or `None` as `include_key` and `include_value`
/// say.
#[pyclass(frozen, module = "lsmkit")]
pub struct Iterator {
    core: Arc<DbCore>,
    state: Arc<IterState>,
    range: Range,
    reverse: bool,
    include_key: bool,
    include_value: bool,
    /// The key prefix of a `PrefixedDB` (stripped from returned keys).
    db_prefix: Option<Vec<u8>>,
}

impl Iterator {
    /// A new iterator (plyvel's rules for `prefix`, `start` and `stop`,
    /// adjusted for a prefixed database's `db_prefix`).
    pub(crate) fn open(
        py: Python<'_>,
        core: &Arc<DbCore>,
        db_prefix: Option<&[u8]>,
        snapshot: Option<Snapshot>,
        args: IterArgs<'_>,
    ) -> PyResult<Iterator> {
        if args.prefix.is_some() && (args.start.is_some() || args.stop.is_some()) {
            return Err(PyTypeError::new_err("'prefix' cannot be used together with 'start' or 'stop'"));
        }
        let mut range = Range {
            start: args.start.map(<[u8]>::to_vec),
            stop: args.stop.map(<[u8]>::to_vec),
            include_start: args.include_start,
            include_stop: args.include_stop,
        };
        let mut prefix = args.prefix.map(<[u8]>::to_vec);
        if let Some(db_prefix) = db_prefix {
            if let Some(p) = &prefix {
                prefix = Some(concat(db_prefix, p));
            } else {
                match &range.start {
                    Some(start) => range.start = Some(concat(db_prefix, start)),
                    None => {
                        range.start = Some(db_prefix.to_vec());
                        range.include_start = true;
                    }
                }
                match &range.stop {
                    Some(stop) => range.stop = Some(concat(db_prefix, stop)),
                    None => {
                        range.stop = prefix_successor(db_prefix);
                        range.include_stop = false;
                    }
                }
            }
        }
        if let Some(prefix) = prefix {
            // A prefix range ignores include_start and include_stop.
            range = Range {
                stop: prefix_successor(&prefix),
                start: Some(prefix),
                include_start: true,
                include_stop: false,
            };
        }
        let (verify, fill) = (args.verify_checksums, args.fill_cache);
        let state = core.run(py, ITER_CLOSED, |db| {
            let it = engine_iterator(db, snapshot, verify, fill);
            it.status()?;
            let position = if args.reverse { Position::AfterStop } else { Position::BeforeStart };
            let state = Arc::new(IterState {
                cursor: Mutex::new(Some(Cursor { it, position })),
                ahead: Mutex::new(Ahead { batch: 1, ..Ahead::default() }),
            });
            core.register(state.clone());
            Ok(state)
        })?;
        Ok(Iterator {
            core: Arc::clone(core),
            state,
            range,
            reverse: args.reverse,
            include_key: args.include_key,
            include_value: args.include_value,
            db_prefix: db_prefix.map(<[u8]>::to_vec),
        })
    }

    /// Runs `f` on the open cursor with the GIL released.
    fn with_cursor<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut Cursor, &Range) -> Result<T, Fail> + Send,
    ) -> PyResult<T> {
        self.core.run(py, ITER_CLOSED, |_db| {
            let mut slot = lock(&self.state.cursor);
            let cursor = slot.as_mut().ok_or(Fail::Closed(ITER_CLOSED))?;
            f(cursor, &self.range)
        })
    }

    /// Drops the read-ahead entries, first putting the engine back just
    /// before them (call with the cursor locked).
    fn materialize(&self, cursor: &mut Cursor) {
        let first_key = {
            let mut ahead = lock(&self.state.ahead);
            let first = ahead.entries.front().map(|&(at, key_len, _)| ahead.data[at..at + key_len].to_vec());
            ahead.entries.clear();
            ahead.data.clear();
            ahead.batch = 1;
            first
        };
        if let Some(key) = first_key {
            // The key is visible at the iterator's snapshot, so the seek
            // lands on it: the entry just after the cursor in key order
            // (forward), just before it (reverse).
            cursor.it.seek(&key);
            cursor.position = if self.reverse { Position::EngineBefore } else { Position::EngineAfter };
        }
    }

    /// The Python value for one entry.
    fn make_item(&self, py: Python<'_>, key: &[u8], value: &[u8]) -> PyResult<Py<PyAny>> {
        let strip = self.db_prefix.as_ref().map_or(0, Vec::len);
        let key = self.include_key.then(|| PyBytes::new(py, key.get(strip..).unwrap_or_default()));
        let value = self.include_value.then(|| PyBytes::new(py, value));
        Ok(match (key, value) {
            (Some(k), Some(v)) => PyTuple::new(py, [k, v])?.into_any().unbind(),
            (Some(k), None) => k.into_any().unbind(),
            (None, Some(v)) => v.into_any().unbind(),
            (None, None) => py.None(),
        })
    }

    /// The next read-ahead entry, if there is one.
    fn pop_ahead(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let mut ahead = lock(&self.state.ahead);
        if ahead.closed {
            return Err(PyRuntimeError::new_err(ITER_CLOSED));
        }
        self.core.ensure_open(ITER_CLOSED)?;
        let Some((at, key_len, value_len)) = ahead.entries.pop_front() else {
            return Ok(None);
        };
        // Copied out so that no lock is held while Python objects are made
        // (an allocation may run a finalizer that uses this iterator).
        let entry = ahead.data[at..at + key_len + value_len].to_vec();
        if ahead.entries.is_empty() {
            ahead.data.clear();
        }
        drop(ahead);
        let (key, value) = entry.split_at(key_len);
        self.make_item(py, key, value).map(Some)
    }

    /// `next()`: from the read-ahead, refilled (with the GIL released) when empty.
    fn next_item(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let forward = !self.reverse;
        let want_value = self.include_value;
        loop {
            if let Some(item) = self.pop_ahead(py)? {
                return Ok(item);
            }
            self.with_cursor(py, |cursor, range| {
                let batch = {
                    let ahead = lock(&self.state.ahead);
                    if !ahead.entries.is_empty() {
                        return Ok(()); // another thread read ahead meanwhile
                    }
                    ahead.batch.max(1)
                };
                // Filled without the read-ahead lock: the engine may call
                // a Python comparator, which needs the GIL.
                let mut data = Vec::new();
                let mut entries = VecDeque::with_capacity(batch);
                for _ in 0..batch {
                    let mut emit = |key: &[u8], value: &[u8]| {
                        let at = data.len();
                        data.extend_from_slice(key);
                        let value_len = if want_value { value.len() } else { 0 };
                        data.extend_from_slice(&value[..value_len]);
                        entries.push_back((at, key.len(), value_len));
                    };
                    let step = if forward {
                        cursor.forward(range, &mut emit)
                    } else {
                        cursor.backward(range, &mut emit)
                    };
                    match step {
                        Ok(()) if data.len() < MAX_AHEAD_BYTES => {}
                        Ok(()) => break,
                        // The end (or an error) comes again on the next
                        // call; return what was read first.
                        Err(_) if !entries.is_empty() => break,
                        Err(e) => return Err(e),
                    }
                }
                let mut ahead = lock(&self.state.ahead);
                ahead.data = data;
                ahead.entries = entries;
                ahead.batch = (batch * 2).min(MAX_AHEAD);
                Ok(())
            })?;
        }
    }

    /// One step against the iterator's direction (`prev()`).
    fn prev_item(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let forward = self.reverse;
        let (key, value) = self.with_cursor(py, |cursor, range| {
            self.materialize(cursor);
            let mut entry = (Vec::new(), Vec::new());
            let mut emit = |key: &[u8], value: &[u8]| entry = (key.to_vec(), value.to_vec());
            if forward {
                cursor.forward(range, &mut emit)?;
            } else {
                cursor.backward(range, &mut emit)?;
            }
            Ok(entry)
        })?;
        self.make_item(py, &key, &value)
    }
}

#[pymethods]
impl Iterator {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// The next entry in the iterator's direction; `StopIteration` at the end.
    fn __next__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.next_item(py)
    }

    /// The previous entry (against the iterator's direction): the one the
    /// last `next()` returned, if nothing moved since. `StopIteration` at
    /// the beginning.
    fn prev(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.prev_item(py)
    }

    /// Moves to the beginning of the range (in key order): the next
    /// forward step returns the first entry.
    fn seek_to_start(&self, py: Python<'_>) -> PyResult<()> {
        self.with_cursor(py, |cursor, _| {
            self.materialize(cursor);
            cursor.position = Position::BeforeStart;
            Ok(())
        })
    }

    /// Moves to the end of the range (in key order): the next backward
    /// step returns the last entry.
    fn seek_to_stop(&self, py: Python<'_>) -> PyResult<()> {
        self.with_cursor(py, |cursor, _| {
            self.materialize(cursor);
            cursor.position = Position::AfterStop;
            Ok(())
        })
    }

    /// Moves just before the first key `>= target` (kept within the
    /// range): a forward step returns that key, a backward step the one
    /// before it.
    fn seek(&self, py: Python<'_>, target: &[u8]) -> PyResult<()> {
        let target = match &self.db_prefix {
            Some(p) => concat(p, target),
            None => target.to_vec(),
        };
        self.with_cursor(py, |cursor, range| {
            self.materialize(cursor);
            cursor.seek(range, &target)
        })
    }

    /// Releases the iterator; using it afterwards raises `RuntimeError`.
    fn close(&self, py: Python<'_>) {
        py.detach(|| self.state.release());
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> bool {
        self.close(py);
        false
    }
}

/// LevelDB's iterator as is: `seek_to_first()`, `seek_to_last()`,
/// `seek(key)`, `next()`, `prev()`, `valid()`, `key()`, `value()`,
/// `item()`. `key()`, `value()`, `next()` and `prev()` raise
/// `IteratorInvalidError` unless `valid()`.
#[pyclass(frozen, module = "lsmkit")]
pub struct RawIterator {
    core: Arc<DbCore>,
    it: Arc<Mutex<Option<DbIterator>>>,
}

impl RawIterator {
    /// A new raw iterator, unpositioned.
    pub(crate) fn open(
        py: Python<'_>,
        core: &Arc<DbCore>,
        snapshot: Option<Snapshot>,
        verify_checksums: bool,
        fill_cache: bool,
    ) -> PyResult<RawIterator> {
        let it = core.run(py, ITER_CLOSED, |db| {
            let it = engine_iterator(db, snapshot, verify_checksums, fill_cache);
            it.status()?;
            let it = Arc::new(Mutex::new(Some(it)));
            core.register(it.clone());
            Ok(it)
        })?;
        Ok(RawIterator { core: Arc::clone(core), it })
    }

    fn with_it<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut DbIterator) -> Result<T, Fail> + Send,
    ) -> PyResult<T> {
        self.core.run(py, ITER_CLOSED, |_db| {
            let mut slot = lock(&self.it);
            let it = slot.as_mut().ok_or(Fail::Closed(ITER_CLOSED))?;
            f(it)
        })
    }

    /// Moves with `step` if valid, then checks the status.
    fn step(&self, py: Python<'_>, step: fn(&mut DbIterator)) -> PyResult<()> {
        self.with_it(py, |it| {
            if !it.valid() {
                return Err(Fail::Invalid);
            }
            step(it);
            Ok(it.status()?)
        })
    }

    fn current(&self, py: Python<'_>, key: bool, value: bool) -> PyResult<(Option<Bytes>, Option<Bytes>)> {
        self.with_it(py, |it| {
            if !it.valid() {
                return Err(Fail::Invalid);
            }
            Ok((key.then(|| it.key_bytes()), value.then(|| it.value_bytes())))
        })
    }
}

#[pymethods]
impl RawIterator {
    /// True while on an entry.
    fn valid(&self, py: Python<'_>) -> PyResult<bool> {
        self.with_it(py, |it| Ok(it.valid()))
    }

    /// Moves to the first entry.
    fn seek_to_first(&self, py: Python<'_>) -> PyResult<()> {
        self.with_it(py, |it| {
            it.seek_to_first();
            Ok(it.status()?)
        })
    }

    /// Moves to the last entry.
    fn seek_to_last(&self, py: Python<'_>) -> PyResult<()> {
        self.with_it(py, |it| {
            it.seek_to_last();
            Ok(it.status()?)
        })
    }

    /// Moves to the first entry whose key is `>= target`.
    fn seek(&self, py: Python<'_>, target: &[u8]) -> PyResult<()> {
        self.with_it(py, |it| {
            it.seek(target);
            Ok(it.status()?)
        })
    }

    /// Moves to the next entry.
    fn next(&self, py: Python<'_>) -> PyResult<()> {
        self.step(py, DbIterator::next)
    }

    /// Moves to the previous entry.
    fn prev(&self, py: Python<'_>) -> PyResult<()> {
        self.step(py, DbIterator::prev)
    }

    /// The current key.
    fn key<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let (key, _) = self.current(py, true, false)?;
        Ok(PyBytes::new(py, &key.unwrap_or_default()))
    }

    /// The current value.
    fn value<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let (_, value) = self.current(py, false, true)?;
        Ok(PyBytes::new(py, &value.unwrap_or_default()))
    }

    /// The current `(key, value)`.
    fn item<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
        let (key, value) = self.current(py, true, true)?;
        Ok((PyBytes::new(py, &key.unwrap_or_default()), PyBytes::new(py, &value.unwrap_or_default())))
    }

    /// Releases the iterator; using it afterwards raises `RuntimeError`.
    fn close(&self, py: Python<'_>) {
        let taken = py.detach(|| lock(&self.it).take());
        py.detach(move || drop(taken));
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> bool {
        self.close(py);
        false
    }
}
