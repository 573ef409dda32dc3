//! Helpers shared by the engine's integration tests: a small deterministic
//! random generator, database options for in-memory test databases, and
//! reading a whole database view into a `BTreeMap` to compare with a model.

#![allow(dead_code)] // Each test binary uses a different subset.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};

use lsmkit::{CompactionStyle, Db, Options, ReadOptions, TieredOptions};
use lsmkit_base::fs::{
    FileLock, FileSystem, RandomAccessFile, ReadMode, SequentialFile, WritableFile, WriteMode,
};

/// The files in `dir` whose extension is `extension` (`"log"`, `"ldb"`),
/// sorted by name (so by file number: oldest first).
pub fn files_with_extension(dir: &Path, extension: &str) -> Vec<std::path::PathBuf> {
    let mut found: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .expect("list the database directory")
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == extension))
        .collect();
    found.sort();
    found
}

/// One live table, as the `lsmkit.sstables` property lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveTable {
    pub level: usize,
    pub number: u64,
    /// The smallest and largest user keys (printable keys only: the
    /// listing escapes other bytes).
    pub smallest: String,
    pub largest: String,
}

/// The live tables of `db`, level by level, parsed from the
/// `lsmkit.sstables` listing (`--- level N ---`, then
/// ` number:size['key' @ seq : kind .. 'key' @ seq : kind]` per table).
pub fn live_tables(db: &Db) -> Vec<LiveTable> {
    let listing = db.property("lsmkit.sstables").expect("lsmkit.sstables property");
    let mut level = 0;
    let mut tables = Vec::new();
    for line in listing.lines() {
        if let Some(rest) = line.strip_prefix("--- level ") {
            level = rest.trim_end_matches(" ---").parse().expect("level number");
        } else if let Some((number, rest)) = line.trim().split_once(':') {
            let (_, bounds) = rest.split_once('[').expect("key bounds");
            let (smallest, largest) = bounds.split_once(" .. ").expect("two bounds");
            let user_key = |bound: &str| bound.split('\'').nth(1).expect("quoted user key").to_string();
            tables.push(LiveTable {
                level,
                number: number.parse().expect("file number"),
                smallest: user_key(smallest),
                largest: user_key(largest),
            });
        }
    }
    tables
}

/// A model of a database state: key → value.
pub type Model = BTreeMap<Vec<u8>, Vec<u8>>;

/// splitmix64: a tiny, seedable generator, so every test run is reproducible
/// from the seed printed on failure.
#[derive(Debug, Clone)]
pub struct TestRng {
    state: u64,
}

impl TestRng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> TestRng {
        TestRng { state: seed ^ 0x5851_f42d_4c95_7f2d }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// An index in `0..n` (`n > 0`).
    pub fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    /// True with probability `percent`/100.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Options for a small test database on `fs`: a 64 KiB write buffer (the
/// smallest allowed) so memtables fill and flush often, small blocks, and
/// the given compaction style.
pub fn small_options(fs: Arc<dyn FileSystem>, tiered: bool) -> Options {
    Options {
        create_if_missing: true,
        fs,
        write_buffer_size: 64 << 10,
        block_size: 1024,
        l0_compaction_trigger: 2,
        compaction_style: if tiered {
            CompactionStyle::Tiered(TieredOptions { run_count_trigger: 3, ..TieredOptions::default() })
        } else {
            CompactionStyle::Leveled
        },
        block_cache_capacity: 256 << 10,
        ..Options::default()
    }
}

/// Every entry of the view `options` selects, read front to back with a
/// `DbIterator`.
pub fn read_forward(db: &Db, options: ReadOptions) -> lsmkit::Result<Model> {
    let mut it = db.iter(options);
    let mut out = Model::new();
    it.seek_to_first();
    while it.valid() {
        let previous = out.insert(it.key().to_vec(), it.value().to_vec());
        assert!(previous.is_none(), "iterator yielded {:?} twice", it.key().escape_ascii().to_string());
        it.next();
    }
    it.status()?;
    Ok(out)
}

/// Every entry of the view `options` selects, read back to front, in key order.
pub fn read_backward(db: &Db, options: ReadOptions) -> lsmkit::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut it = db.iter(options);
    let mut out = Vec::new();
    it.seek_to_last();
    while it.valid() {
        out.push((it.key().to_vec(), it.value().to_vec()));
        it.prev();
    }
    it.status()?;
    out.reverse();
    Ok(out)
}

/// Shows a key readably in assertion messages.
pub fn show(key: &[u8]) -> String {
    key.escape_ascii().to_string()
}

/// Describes the first difference between `actual` and `expected`, or
/// `None` when they are equal (full maps are too long to print usefully).
/// Asserts that `db`, read with `options`, agrees with `model`: a get of
/// each of `keys`, a forward and a backward scan. `what` names the moment
/// in failure messages.
pub fn assert_reads_match(
    db: &Db,
    options: &ReadOptions,
    keys: impl IntoIterator<Item = Vec<u8>>,
    model: &Model,
    what: &str,
) {
    for key in keys {
        let got = db.get_opt(options, &key).unwrap_or_else(|e| panic!("{what}: get: {e}"));
        assert_eq!(got.as_deref(), model.get(&key).map(Vec::as_slice), "{what}: get {}", show(&key));
    }
    let forward = read_forward(db, options.clone()).unwrap_or_else(|e| panic!("{what}: forward: {e}"));
    assert_eq!(first_difference(&forward, model), None, "{what}: forward");
    let backward = read_backward(db, options.clone()).unwrap_or_else(|e| panic!("{what}: backward: {e}"));
    assert_eq!(backward, model.clone().into_iter().collect::<Vec<_>>(), "{what}: backward");
}

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
                    return Some(if ak < ek {
                        format!("unexpected key {}", show(ak))
                    } else {
                        format!("missing key {}", show(ek))
                    });
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

/// What a test's file system does differently from the one it wraps. Every
/// hook passes the call through to `inner` unless a test overrides it.
pub trait FsHooks: Send + Sync + std::fmt::Debug {
    /// Creating a file for writing.
    fn create_writable(
        &self,
        inner: &dyn FileSystem,
        path: &Path,
        mode: WriteMode,
    ) -> lsmkit::Result<Box<dyn WritableFile>> {
        inner.create_writable(path, mode)
    }
    /// Opening a file for positional reads.
    fn open_random_access(
        &self,
        inner: &dyn FileSystem,
        path: &Path,
        mode: ReadMode,
    ) -> lsmkit::Result<Arc<dyn RandomAccessFile>> {
        inner.open_random_access(path, mode)
    }
    /// Removing a file.
    fn remove_file(&self, inner: &dyn FileSystem, path: &Path) -> lsmkit::Result<()> {
        inner.remove_file(path)
    }
}

/// A file system that passes every call to `inner`, except what `hooks`
/// changes: the one place the whole `FileSystem` trait is forwarded, so a
/// test's file system states only what it does differently.
#[derive(Debug, Clone)]
pub struct HookedFs<H> {
    pub inner: Arc<dyn FileSystem>,
    pub hooks: H,
}

impl<H: FsHooks> FileSystem for HookedFs<H> {
    fn open_sequential(&self, path: &Path) -> lsmkit::Result<Box<dyn SequentialFile>> {
        self.inner.open_sequential(path)
    }
    fn open_random_access(&self, path: &Path, mode: ReadMode) -> lsmkit::Result<Arc<dyn RandomAccessFile>> {
        self.hooks.open_random_access(&*self.inner, path, mode)
    }
    fn create_writable(&self, path: &Path, mode: WriteMode) -> lsmkit::Result<Box<dyn WritableFile>> {
        self.hooks.create_writable(&*self.inner, path, mode)
    }
    fn open_appendable(&self, path: &Path) -> lsmkit::Result<Box<dyn WritableFile>> {
        self.inner.open_appendable(path)
    }
    fn exists(&self, path: &Path) -> bool {
        self.inner.exists(path)
    }
    fn list_dir(&self, dir: &Path) -> lsmkit::Result<Vec<String>> {
        self.inner.list_dir(dir)
    }
    fn remove_file(&self, path: &Path) -> lsmkit::Result<()> {
        self.hooks.remove_file(&*self.inner, path)
    }
    fn create_dir_all(&self, dir: &Path) -> lsmkit::Result<()> {
        self.inner.create_dir_all(dir)
    }
    fn remove_dir(&self, dir: &Path) -> lsmkit::Result<()> {
        self.inner.remove_dir(dir)
    }
    fn rename(&self, from: &Path, to: &Path) -> lsmkit::Result<()> {
        self.inner.rename(from, to)
    }
    fn hard_link(&self, from: &Path, to: &Path) -> lsmkit::Result<()> {
        self.inner.hard_link(from, to)
    }
    fn file_size(&self, path: &Path) -> lsmkit::Result<u64> {
        self.inner.file_size(path)
    }
    fn sync_dir(&self, dir: &Path) -> lsmkit::Result<()> {
        self.inner.sync_dir(dir)
    }
    fn lock_file(&self, path: &Path) -> lsmkit::Result<Box<dyn FileLock>> {
        self.inner.lock_file(path)
    }
}

/// A file system that passes everything to `inner`, except that creating a
/// file whose name ends with `suffix` waits while the gate is closed: a test
/// can hold back a flush (".ldb") at a chosen moment and release it later.
/// With [`only_threads`](HookedFs::only_threads) the gate holds back only
/// threads whose name starts with a prefix (say, compaction threads).
pub type GatedFs = HookedFs<Gate>;

/// The gate of a [`GatedFs`].
#[derive(Debug, Clone)]
pub struct Gate {
    suffix: &'static str,
    thread_prefix: Option<&'static str>,
    /// True while closed, and how many creations wait at it.
    state: Arc<(Mutex<(bool, usize)>, Condvar)>,
}

impl GatedFs {
    /// A gate, initially open, on creations of files named `*suffix` in `inner`.
    pub fn new(inner: Arc<dyn FileSystem>, suffix: &'static str) -> GatedFs {
        HookedFs {
            inner,
            hooks: Gate {
                suffix,
                thread_prefix: None,
                state: Arc::new((Mutex::new((false, 0)), Condvar::new())),
            },
        }
    }

    /// The gate applies only to threads named `prefix*`.
    pub fn only_threads(mut self, prefix: &'static str) -> GatedFs {
        self.hooks.thread_prefix = Some(prefix);
        self
    }

    /// Makes later creations of matching files wait.
    pub fn close_gate(&self) {
        self.hooks.state.0.lock().unwrap().0 = true;
    }

    /// Lets waiting and later creations go on.
    pub fn open_gate(&self) {
        self.hooks.state.0.lock().unwrap().0 = false;
        self.hooks.state.1.notify_all();
    }

    /// Waits until `n` creations wait at the gate at once, or `limit`
    /// passes (a bound against hanging, not a measurement); returns the
    /// largest number seen waiting.
    pub fn wait_for_waiters(&self, n: usize, limit: std::time::Duration) -> usize {
        let deadline = std::time::Instant::now() + limit;
        let (lock, changed) = &*self.hooks.state;
        let mut gate = lock.lock().unwrap();
        while gate.1 < n {
            let now = std::time::Instant::now();
            if now >= deadline {
                break;
            }
            gate = changed.wait_timeout(gate, deadline - now).unwrap().0;
        }
        gate.1
    }
}

impl FsHooks for Gate {
    fn create_writable(
        &self,
        inner: &dyn FileSystem,
        path: &Path,
        mode: WriteMode,
    ) -> lsmkit::Result<Box<dyn WritableFile>> {
        let thread_matches = match self.thread_prefix {
            None => true,
            Some(prefix) => std::thread::current().name().is_some_and(|name| name.starts_with(prefix)),
        };
        if thread_matches && path.to_string_lossy().ends_with(self.suffix) {
            let (lock, changed) = &*self.state;
            let mut gate = lock.lock().unwrap();
            if gate.0 {
                gate.1 += 1;
                changed.notify_all();
                while gate.0 {
                    gate = changed.wait(gate).unwrap();
                }
                gate.1 -= 1;
            }
        }
        inner.create_writable(path, mode)
    }
}
