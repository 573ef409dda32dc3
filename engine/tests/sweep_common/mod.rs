//! Helpers shared by the sweep tests (`fault_sweep`, `corruption_sweep`,
//! `resource_limits`): a model of the database and of the history of writes
//! a workload made, reading a whole database back, a file system that loses
//! power right after a chosen operation, a counter of panics in any thread,
//! and a watchdog that names a case that seems to hang.

#![allow(dead_code)] // Each test binary uses a different subset.

pub use crate::common::Model;

use std::io::{ErrorKind, Write as _};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use lsmkit::{Db, ReadOptions, WriteBatch};
use lsmkit_base::fs::{
    FaultFs, FaultRule, FileLock, FileSystem, RandomAccessFile, ReadMode, SequentialFile, WritableFile,
    WriteMode,
};

/// One atomic write: puts (`Some(value)`) and deletes (`None`).
pub type Write = Vec<(Vec<u8>, Option<Vec<u8>>)>;

/// Applies `write` to `model`.
pub fn apply(model: &mut Model, write: &Write) {
    for (key, value) in write {
        match value {
            Some(v) => model.insert(key.clone(), v.clone()),
            None => model.remove(key),
        };
    }
}

/// The `WriteBatch` that performs `write`.
pub fn batch_of(write: &Write) -> WriteBatch {
    let mut batch = WriteBatch::new();
    for (key, value) in write {
        match value {
            Some(v) => batch.put(key, v),
            None => batch.delete(key),
        }
    }
    batch
}

/// The writes a workload attempted and how many of them the database
/// acknowledged, and promised to keep across a crash.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// Writes attempted, in order; only the last may have failed.
    pub attempted: Vec<Write>,
    /// `attempted[..acked]` were acknowledged.
    pub acked: usize,
    /// `attempted[..durable]` were acknowledged as durable (a synced write,
    /// a completed flush or compaction, a successful reopen).
    pub durable: usize,
}

impl History {
    /// The state after the first `n` writes.
    pub fn state_after(&self, n: usize) -> Model {
        let mut model = Model::new();
        for write in &self.attempted[..n] {
            apply(&mut model, write);
        }
        model
    }

    /// Checks that `recovered` is the state after some prefix of the
    /// attempted writes at least `at_least` long; returns the length of the
    /// longest such prefix (writes that change nothing make several match).
    pub fn matching_prefix(&self, recovered: &Model, at_least: usize) -> Result<usize, String> {
        let mut state = Model::new();
        let mut floor_state = Model::new();
        let mut matched = None;
        for n in 0..=self.attempted.len() {
            if n > 0 {
                apply(&mut state, &self.attempted[n - 1]);
            }
            if n == at_least {
                floor_state = state.clone();
            }
            if n >= at_least && &state == recovered {
                matched = Some(n);
            }
        }
        matched.ok_or_else(|| {
            format!(
                "the state is that after no prefix of the {} attempted writes at least {at_least} long \
                 ({} acknowledged, {} durable); against the state after {at_least} writes: {}; \
                 against the state after all: {}",
                self.attempted.len(),
                self.acked,
                self.durable,
                first_difference(recovered, &floor_state).unwrap_or_else(|| "equal".into()),
                first_difference(recovered, &state).unwrap_or_else(|| "equal".into()),
            )
        })
    }
}

/// Shows a key readably in messages.
pub fn show(key: &[u8]) -> String {
    key.escape_ascii().to_string()
}

/// Describes the first difference between `actual` and `expected`, or
/// `None` when they are equal.
pub fn first_difference(actual: &Model, expected: &Model) -> Option<String> {
    let mut a = actual.iter();
    let mut e = expected.iter();
    loop {
        match (a.next(), e.next()) {
            (None, None) => return None,
            (Some((k, _)), None) => return Some(format!("unexpected key {}", show(k))),
            (None, Some((k, _))) => return Some(format!("missing key {}", show(k))),
            (Some((ak, av)), Some((ek, ev))) => {
                if ak != ek {
                    let (what, key) = if ak < ek { ("unexpected", ak) } else { ("missing", ek) };
                    return Some(format!("{what} key {}", show(key)));
                }
                if av != ev {
                    return Some(format!(
                        "key {}: value {} (len {}), expected {} (len {})",
                        show(ak),
                        show(&av[..av.len().min(24)]),
                        av.len(),
                        show(&ev[..ev.len().min(24)]),
                        ev.len()
                    ));
                }
            }
        }
    }
}

/// Reads the whole database three ways — forward and backward iteration
/// and a point read of every key in `probe_keys` and every key iterated —
/// with `options`. The outer error is a disagreement between the three
/// (always a bug); the inner one is the first error the engine returned.
pub fn read_everything(
    db: &Db,
    options: &ReadOptions,
    probe_keys: &[Vec<u8>],
) -> Result<lsmkit::Result<Model>, String> {
    let mut forward = Model::new();
    let mut it = db.iter(options.clone());
    it.seek_to_first();
    while it.valid() {
        if let Some((last, _)) = forward.last_key_value() {
            if last.as_slice() >= it.key() {
                return Err(format!("forward iteration went from {} to {}", show(last), show(it.key())));
            }
        }
        forward.insert(it.key().to_vec(), it.value().to_vec());
        it.next();
    }
    if let Err(e) = it.status() {
        return Ok(Err(e));
    }
    drop(it);

    let mut backward = Vec::new();
    let mut it = db.iter(options.clone());
    it.seek_to_last();
    while it.valid() {
        backward.push((it.key().to_vec(), it.value().to_vec()));
        it.prev();
    }
    if let Err(e) = it.status() {
        return Ok(Err(e));
    }
    drop(it);
    backward.reverse();
    if !backward.iter().map(|(k, v)| (k, v)).eq(forward.iter()) {
        let backward: Model = backward.into_iter().collect();
        return Err(format!(
            "backward iteration differs from forward iteration: {}",
            first_difference(&backward, &forward).unwrap_or_else(|| "a key repeated".into())
        ));
    }

    for key in probe_keys.iter().chain(forward.keys()) {
        let got = match db.get_opt(options, key) {
            Ok(got) => got,
            Err(e) => return Ok(Err(e)),
        };
        let expected = forward.get(key).map(Vec::as_slice);
        if got.as_deref() != expected {
            return Err(format!(
                "get {} returned {:?} but iteration shows {:?}",
                show(key),
                got.as_deref().map(show),
                expected.map(show)
            ));
        }
    }
    Ok(Ok(forward))
}

// ----- panics -------------------------------------------------------------

static PANICS: AtomicUsize = AtomicUsize::new(0);
static PANIC_HOOK: Once = Once::new();

/// Counts every panic from now on, in any thread — the database's own
/// background threads included, whose panics would otherwise only be
/// printed — then runs the previous hook.
pub fn count_panics() {
    PANIC_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            previous(info);
        }));
    });
}

/// Panics counted so far (see [`count_panics`]).
pub fn panics_so_far() -> usize {
    PANICS.load(Ordering::SeqCst)
}

/// The message of a caught panic.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-text payload".into()
    }
}

// ----- the watchdog --------------------------------------------------------

/// How long a case may run before the watchdog names it as possibly hung.
/// This is no assertion: the message goes straight to stderr (past the test
/// harness's capture), so that if CI kills a hung run, its log says which
/// case hung.
const HANG_REPORT_AFTER: Duration = Duration::from_secs(120);

/// Names the running case on stderr when it runs suspiciously long.
pub struct Watchdog {
    current: Arc<Mutex<Option<(String, Instant, bool)>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    /// Starts the watchdog thread.
    pub fn start() -> Watchdog {
        let current: Arc<Mutex<Option<(String, Instant, bool)>>> = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (current, stop) = (Arc::clone(&current), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    std::thread::park_timeout(Duration::from_secs(1));
                    let mut current = current.lock().unwrap_or_else(PoisonError::into_inner);
                    if let Some((name, started, reported)) = current.as_mut() {
                        if !*reported && started.elapsed() > HANG_REPORT_AFTER {
                            *reported = true;
                            let _ = writeln!(
                                std::io::stderr(),
                                "sweep watchdog: case {name} has run for over {} s; it may hang",
                                HANG_REPORT_AFTER.as_secs()
                            );
                        }
                    }
                }
            })
        };
        Watchdog { current, stop, thread: Some(thread) }
    }

    /// Records that case `name` starts now.
    pub fn case(&self, name: impl Into<String>) {
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((name.into(), Instant::now(), false));
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

// ----- a power cut right after a chosen operation -------------------------

/// A file system over a [`FaultFs`] that loses power right after the
/// operation numbered `last_op` (numbers as in [`FaultFs::op_count`]): when
/// the next operation is about to start, every operation from then on fails
/// (the process is as good as dead and changes nothing more) and
/// [`FaultFs::crash`] throws away every byte and name that was not durable.
/// So the state that survives is exactly the durable state right after
/// operation `last_op`.
///
/// Every counted operation passes through one mutex, so that no other
/// thread can slip an operation in between the check and the call.
#[derive(Debug, Clone)]
pub struct PowerCutFs {
    fault_fs: FaultFs,
    last_op: u64,
    cut: Arc<Mutex<bool>>,
}

impl PowerCutFs {
    /// Loses power right after operation `last_op` of `fault_fs`.
    pub fn new(fault_fs: FaultFs, last_op: u64) -> PowerCutFs {
        PowerCutFs { fault_fs, last_op, cut: Arc::new(Mutex::new(false)) }
    }

    /// Loses power now, if it has not already (for a run that ended before
    /// reaching the operation).
    pub fn cut_now(&self) {
        let mut cut = self.cut.lock().unwrap_or_else(PoisonError::into_inner);
        self.power_cut(&mut cut);
    }

    /// True once the power is gone.
    pub fn was_cut(&self) -> bool {
        *self.cut.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn power_cut(&self, cut: &mut MutexGuard<'_, bool>) {
        if !**cut {
            **cut = true;
            self.fault_fs.add_rule(FaultRule::new(ErrorKind::Other));
            if let Err(e) = self.fault_fs.crash() {
                panic!("the simulated crash itself failed: {e}");
            }
        }
    }

    /// Runs one counted operation, after cutting the power if the
    /// operation `last_op` is behind us.
    fn gate<T>(&self, call: impl FnOnce() -> T) -> T {
        let mut cut = self.cut.lock().unwrap_or_else(PoisonError::into_inner);
        if self.fault_fs.op_count() > self.last_op {
            self.power_cut(&mut cut);
        }
        call()
    }
}

struct GatedSequential {
    fs: PowerCutFs,
    inner: Box<dyn SequentialFile>,
}

impl SequentialFile for GatedSequential {
    fn read(&mut self, buf: &mut [u8]) -> lsmkit::Result<usize> {
        let inner = &mut self.inner;
        self.fs.gate(|| inner.read(buf))
    }
    fn skip(&mut self, n: u64) -> lsmkit::Result<()> {
        let inner = &mut self.inner;
        self.fs.gate(|| inner.skip(n))
    }
}

struct GatedRandomAccess {
    fs: PowerCutFs,
    inner: Arc<dyn RandomAccessFile>,
}

impl RandomAccessFile for GatedRandomAccess {
    fn read_at(&self, offset: u64, len: usize) -> lsmkit::Result<Bytes> {
        self.fs.gate(|| self.inner.read_at(offset, len))
    }
    fn len(&self) -> u64 {
        self.inner.len()
    }
}

struct GatedWritable {
    fs: PowerCutFs,
    inner: Box<dyn WritableFile>,
}

impl WritableFile for GatedWritable {
    fn append(&mut self, data: &[u8]) -> lsmkit::Result<()> {
        let inner = &mut self.inner;
        self.fs.gate(|| inner.append(data))
    }
    fn flush(&mut self) -> lsmkit::Result<()> {
        let inner = &mut self.inner;
        self.fs.gate(|| inner.flush())
    }
    fn sync(&mut self) -> lsmkit::Result<()> {
        let inner = &mut self.inner;
        self.fs.gate(|| inner.sync())
    }
    fn close(&mut self) -> lsmkit::Result<()> {
        let inner = &mut self.inner;
        self.fs.gate(|| inner.close())
    }
    fn len(&self) -> u64 {
        self.inner.len()
    }
    fn preallocate(&mut self, len: u64) -> lsmkit::Result<u64> {
        let inner = &mut self.inner;
        self.fs.gate(|| inner.preallocate(len))
    }
}

impl FileSystem for PowerCutFs {
    fn open_sequential(&self, path: &Path) -> lsmkit::Result<Box<dyn SequentialFile>> {
        let inner = self.gate(|| self.fault_fs.open_sequential(path))?;
        Ok(Box::new(GatedSequential { fs: self.clone(), inner }))
    }
    fn open_random_access(&self, path: &Path, mode: ReadMode) -> lsmkit::Result<Arc<dyn RandomAccessFile>> {
        let inner = self.gate(|| self.fault_fs.open_random_access(path, mode))?;
        Ok(Arc::new(GatedRandomAccess { fs: self.clone(), inner }))
    }
    fn create_writable(&self, path: &Path, mode: WriteMode) -> lsmkit::Result<Box<dyn WritableFile>> {
        let inner = self.gate(|| self.fault_fs.create_writable(path, mode))?;
        Ok(Box::new(GatedWritable { fs: self.clone(), inner }))
    }
    fn open_appendable(&self, path: &Path) -> lsmkit::Result<Box<dyn WritableFile>> {
        let inner = self.gate(|| self.fault_fs.open_appendable(path))?;
        Ok(Box::new(GatedWritable { fs: self.clone(), inner }))
    }
    fn exists(&self, path: &Path) -> bool {
        // Not a counted operation.
        self.fault_fs.exists(path)
    }
    fn list_dir(&self, dir: &Path) -> lsmkit::Result<Vec<String>> {
        self.gate(|| self.fault_fs.list_dir(dir))
    }
    fn remove_file(&self, path: &Path) -> lsmkit::Result<()> {
        self.gate(|| self.fault_fs.remove_file(path))
    }
    fn create_dir_all(&self, dir: &Path) -> lsmkit::Result<()> {
        self.gate(|| self.fault_fs.create_dir_all(dir))
    }
    fn remove_dir(&self, dir: &Path) -> lsmkit::Result<()> {
        self.gate(|| self.fault_fs.remove_dir(dir))
    }
    fn rename(&self, from: &Path, to: &Path) -> lsmkit::Result<()> {
        self.gate(|| self.fault_fs.rename(from, to))
    }
    fn hard_link(&self, from: &Path, to: &Path) -> lsmkit::Result<()> {
        self.gate(|| self.fault_fs.hard_link(from, to))
    }
    fn file_size(&self, path: &Path) -> lsmkit::Result<u64> {
        self.gate(|| self.fault_fs.file_size(path))
    }
    fn sync_dir(&self, dir: &Path) -> lsmkit::Result<()> {
        self.gate(|| self.fault_fs.sync_dir(dir))
    }
    fn lock_file(&self, path: &Path) -> lsmkit::Result<Box<dyn FileLock>> {
        self.gate(|| self.fault_fs.lock_file(path))
    }
}
