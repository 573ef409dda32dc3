//! [`FaultFs`]: a file system wrapper that fails chosen operations and
//! simulates a power cut (docs/architecture.md, "The contracts in base", and docs/testing.md).

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;

use super::{
    normalize_path, write_file, FileLock, FileSystem, RandomAccessFile, ReadMode, ReadView, SequentialFile,
    WritableFile, WriteMode,
};
use crate::error::{Error, Result};

/// The kind of an operation, as seen by fault rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultOp {
    /// `open_sequential`, `open_random_access` or `open_appendable`.
    Open,
    /// `create_writable`.
    Create,
    /// `SequentialFile::read`, `SequentialFile::skip` or `RandomAccessFile::read_at`.
    Read,
    /// `WritableFile::append`.
    Write,
    /// `WritableFile::flush`.
    Flush,
    /// `WritableFile::sync`.
    Sync,
    /// `WritableFile::preallocate`.
    Preallocate,
    /// `WritableFile::close`.
    Close,
    /// `remove_file`.
    Remove,
    /// `remove_dir`.
    RemoveDir,
    /// `rename` (the path a rule sees is the source).
    Rename,
    /// `hard_link` (the path a rule sees is the new name).
    Link,
    /// `list_dir`.
    List,
    /// `create_dir_all`.
    CreateDir,
    /// `sync_dir`.
    SyncDir,
    /// `lock_file`.
    Lock,
    /// `file_size`.
    Size,
}

impl FaultOp {
    /// The operation name used in the `Error::Io` of an injected fault.
    pub fn name(self) -> &'static str {
        match self {
            FaultOp::Open => "open",
            FaultOp::Create => "create",
            FaultOp::Read => "read",
            FaultOp::Write => "write",
            FaultOp::Flush => "flush",
            FaultOp::Sync => "sync",
            FaultOp::Preallocate => "preallocate",
            FaultOp::Close => "close",
            FaultOp::Remove => "remove",
            FaultOp::RemoveDir => "remove_dir",
            FaultOp::Rename => "rename",
            FaultOp::Link => "link",
            FaultOp::List => "list",
            FaultOp::CreateDir => "create_dir",
            FaultOp::SyncDir => "sync_dir",
            FaultOp::Lock => "lock",
            FaultOp::Size => "stat",
        }
    }
}

/// A standing fault: every matching operation fails with `kind` while the
/// rule has firings left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    /// Only operations whose path contains this text match (`None`: any path).
    pub path_contains: Option<String>,
    /// Only these kinds of operation match (empty: any kind).
    pub ops: Vec<FaultOp>,
    /// The error kind of the injected failure (`StorageFull` for ENOSPC).
    pub kind: io::ErrorKind,
    /// How many more operations fail (`None`: forever).
    pub remaining: Option<u64>,
}

impl FaultRule {
    /// A rule that fails every operation on every path, forever.
    pub fn new(kind: io::ErrorKind) -> FaultRule {
        FaultRule { path_contains: None, ops: Vec::new(), kind, remaining: None }
    }

    /// Restricts the rule to paths containing `text`.
    pub fn on_path(mut self, text: impl Into<String>) -> FaultRule {
        self.path_contains = Some(text.into());
        self
    }

    /// Restricts the rule to the given kinds of operation.
    pub fn on_ops(mut self, ops: impl IntoIterator<Item = FaultOp>) -> FaultRule {
        self.ops = ops.into_iter().collect();
        self
    }

    /// Lets the rule fire only `n` times.
    pub fn times(mut self, n: u64) -> FaultRule {
        self.remaining = Some(n);
        self
    }

    fn matches(&self, op: FaultOp, path: &Path) -> bool {
        (self.ops.is_empty() || self.ops.contains(&op))
            && self.path_contains.as_deref().is_none_or(|text| path.to_string_lossy().contains(text))
    }
}

/// Wraps another file system, fails chosen operations and simulates crashes.
///
/// # Counting and failing operations
///
/// Every call that can fail is one operation and gets the next number of
/// [`op_count`](FaultFs::op_count): each [`FileSystem`] method except
/// `exists` (which cannot report an error), and each `read`, `skip`,
/// `read_at`, `append`, `flush`, `sync`, `preallocate` and `close` on a file opened through
/// the `FaultFs`. [`fail_nth(n, kind)`](FaultFs::fail_nth) fails the
/// operation `n` places after the current one (`fail_nth(0, ..)` fails the
/// very next), once; [`add_rule`](FaultFs::add_rule) adds a standing
/// [`FaultRule`]. An injected failure returns
/// `Error::io(op, path, io::Error::new(kind, "injected fault"))` and has no
/// effect at all: a failed append writes nothing, a failed rename renames
/// nothing. It still counts as an operation.
///
/// # What survives [`crash`](FaultFs::crash)
///
/// The model is that of a POSIX file system after a power cut, restricted to
/// what goes through this `FaultFs`:
///
/// 1. **File contents.** Bytes a file had before the `FaultFs` first touched
///    it are durable. Bytes appended through a writable file survive up to
///    the length the file had at its last successful
///    [`WritableFile::sync`]; everything after is cut off. A file opened with
///    `create_writable` is truncated, so without a sync it ends up empty.
///    Zeros that [`WritableFile::preallocate`] put after the appended bytes
///    are durable once a sync succeeded after it, and the cut-back
///    at `close` never is: after the crash the file is its synced bytes
///    followed by zeros up to the largest length preallocated before its
///    last sync (appends that were not synced read as zeros again, as
///    they would on a disk where the zeroed blocks were written).
/// 2. **New names.** A file created by `create_writable`, `open_appendable`
///    (when it did not exist) or `hard_link` survives only if `sync_dir` of
///    its parent directory succeeded after the creation; otherwise it is
///    deleted.
/// 3. **Renames.** A rename of a file is durable only once `sync_dir` of the
///    *target's* directory succeeded after it. Otherwise the crash moves the
///    file back to its old name and, if the rename replaced a file, puts back
///    the durable bytes that file had (kept in memory at rename time).
///    Undoing happens newest first, so chains such as `tmp -> CURRENT`
///    repeated several times unwind correctly.
/// 4. **Removals are durable at once.** A removed file is gone for good,
///    under every name it had, even one it had only at the last `sync_dir`
///    (undoing a rename does not bring it back). This is the strict choice
///    for testing: a bug that deletes a file still needed is always caught,
///    while undoing removals could only hide such bugs. A file that an
///    unsynced rename replaced is still put back, even if the renamed file
///    was removed afterwards.
/// 5. **Directories** made by `create_dir_all` or removed by `remove_dir`,
///    and renames of whole directories, are durable at once.
///
/// The crash also acts like the death of the process: every writable file
/// opened before it is closed (its user-space buffer reaches the file and is
/// then cut back to the durable length), every lock taken through the
/// `FaultFs` is released, and every file handle from before the crash fails
/// with an I/O error from then on. The `FaultFs` itself keeps working, and
/// what is on the inner file system afterwards is exactly the durable state,
/// so a database can be reopened on it.
///
/// Writes and namespace operations are serialised by one mutex held across
/// the inner call; reads only take it to count themselves.
#[derive(Clone)]
pub struct FaultFs {
    inner: Arc<dyn FileSystem>,
    state: Arc<Mutex<State>>,
}

/// Everything the `FaultFs` remembers.
#[derive(Default)]
struct State {
    /// Operations counted so far.
    op_count: u64,
    /// Operation numbers that must fail once, with the error kind.
    fail_at: Vec<(u64, io::ErrorKind)>,
    rules: Vec<FaultRule>,
    /// Bumped by every crash; handles from an older generation fail.
    generation: u64,
    /// Source of file ids and handle ids (never reused).
    next_id: u64,
    /// Tracked files: normalised path -> file id (names sharing an id are hard links).
    names: HashMap<PathBuf, u64>,
    /// File id -> bytes that survive a crash.
    durable_len: HashMap<u64, u64>,
    /// File id -> length, past `durable_len`, up to which durable
    /// preallocated zeros follow the surviving bytes.
    durable_zeros: HashMap<u64, u64>,
    /// Namespace changes not yet made durable by `sync_dir`, oldest first.
    pending: Vec<PendingChange>,
    /// Writable files of the current generation, by handle id.
    writers: HashMap<u64, OpenWriter>,
    /// Locks of the current generation, by handle id.
    locks: HashMap<u64, Box<dyn FileLock>>,
}

struct OpenWriter {
    inner: Box<dyn WritableFile>,
    /// The tracked file it writes.
    file: u64,
    /// The file's length on storage as the last `preallocate` left it.
    allocated: u64,
}

/// A namespace change waiting for `sync_dir(dir)`.
struct PendingChange {
    /// Normalised directory whose sync makes the change durable.
    dir: PathBuf,
    change: Change,
}

enum Change {
    /// A new name appeared.
    Created { path: PathBuf },
    /// A file was renamed; `replaced` holds the durable bytes of the file
    /// that `to` named before, if any.
    Renamed { from: PathBuf, to: PathBuf, replaced: Option<Vec<u8>> },
}

fn injected(op: FaultOp, path: &Path, kind: io::ErrorKind) -> Error {
    Error::io(op.name(), path, io::Error::new(kind, "injected fault"))
}

fn stale_handle(op: FaultOp, path: &Path) -> Error {
    Error::io(op.name(), path, io::Error::other("file handle from before a simulated crash"))
}

fn parent_of(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

impl State {
    fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Counts one operation and decides whether it fails.
    fn begin(&mut self, op: FaultOp, path: &Path) -> Result<()> {
        let number = self.op_count;
        self.op_count += 1;
        let mut planned = None;
        self.fail_at.retain(|&(at, kind)| {
            if at == number {
                planned.get_or_insert(kind);
                false
            } else {
                true
            }
        });
        if let Some(kind) = planned {
            return Err(injected(op, path, kind));
        }
        let mut fired = None;
        for (i, rule) in self.rules.iter_mut().enumerate() {
            if rule.remaining != Some(0) && rule.matches(op, path) {
                if let Some(left) = rule.remaining.as_mut() {
                    *left -= 1;
                }
                fired = Some((i, rule.kind));
                break;
            }
        }
        match fired {
            Some((i, kind)) => {
                if self.rules[i].remaining == Some(0) {
                    self.rules.remove(i);
                }
                Err(injected(op, path, kind))
            }
            None => Ok(()),
        }
    }

    /// Like `begin`, for a call on a handle opened in `generation`.
    fn begin_on_handle(&mut self, op: FaultOp, path: &Path, generation: u64) -> Result<()> {
        self.begin(op, path)?;
        if generation == self.generation {
            Ok(())
        } else {
            Err(stale_handle(op, path))
        }
    }

    fn push_change(&mut self, dir: PathBuf, change: Change) {
        self.pending.push(PendingChange { dir, change });
    }
}

impl FaultFs {
    /// Wraps `inner`; nothing fails until faults are added.
    pub fn new(inner: Arc<dyn FileSystem>) -> FaultFs {
        FaultFs { inner, state: Arc::new(Mutex::new(State::default())) }
    }

    /// The wrapped file system (operations on it bypass counting, faults and
    /// crash tracking).
    pub fn inner(&self) -> &Arc<dyn FileSystem> {
        &self.inner
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock_state(&self.state)
    }

    /// Operations counted so far (see the type's documentation).
    pub fn op_count(&self) -> u64 {
        self.state().op_count
    }

    /// Fails, once, the operation `n` places from now: `fail_nth(0, ..)`
    /// fails the next operation, `fail_nth(1, ..)` the one after it.
    pub fn fail_nth(&self, n: u64, kind: io::ErrorKind) {
        let mut state = self.state();
        let at = state.op_count.saturating_add(n);
        state.fail_at.push((at, kind));
    }

    /// Adds a standing fault rule; the first matching rule fires.
    pub fn add_rule(&self, rule: FaultRule) {
        self.state().rules.push(rule);
    }

    /// Removes every planned failure and rule.
    pub fn clear_faults(&self) {
        let mut state = self.state();
        state.fail_at.clear();
        state.rules.clear();
    }

    /// Simulates a power cut followed by a restart: afterwards the inner file
    /// system holds exactly what the model in the type's documentation says
    /// survives, and every handle opened before fails.
    ///
    /// Fails only if the inner file system fails while the crash is being
    /// applied (never for an injected fault; crash steps are not counted).
    pub fn crash(&self) -> Result<()> {
        let mut state = self.state();
        state.generation += 1;
        // The process dies: buffered bytes reach the OS (and are cut below),
        // locks are released.
        for (_, mut writer) in state.writers.drain() {
            let _ = writer.inner.close();
        }
        state.locks.clear();
        // Contents: cut every tracked file back to its durable length.
        let names: Vec<(PathBuf, u64)> = state.names.iter().map(|(p, id)| (p.clone(), *id)).collect();
        for (path, id) in names {
            let keep = state.durable_len.get(&id).copied().unwrap_or(0);
            truncate_to(self.inner.as_ref(), &path, keep)?;
            if let Some(&zeros_to) = state.durable_zeros.get(&id) {
                extend_with_zeros(self.inner.as_ref(), &path, zeros_to)?;
            }
        }
        // Names: undo every change no sync_dir made durable, newest first.
        let pending = std::mem::take(&mut state.pending);
        for PendingChange { change, .. } in pending.into_iter().rev() {
            match change {
                Change::Created { path } => match self.inner.remove_file(&path) {
                    Err(e) if !e.is_not_found() => return Err(e),
                    _ => {}
                },
                Change::Renamed { from, to, replaced } => {
                    // Everything newer is undone already, so `to` still names
                    // the renamed file unless that file was removed; a removed
                    // file stays removed.
                    if self.inner.exists(&to) {
                        self.inner.rename(&to, &from)?;
                    }
                    if let Some(bytes) = replaced {
                        write_file(self.inner.as_ref(), &to, &bytes, false)?;
                    }
                }
            }
        }
        // What is on the inner file system now is all durable.
        state.names.clear();
        state.durable_len.clear();
        state.durable_zeros.clear();
        Ok(())
    }

    /// The bytes of `path` that would survive a crash right now.
    fn durable_bytes(&self, state: &State, path: &Path, norm: &Path) -> Result<Vec<u8>> {
        let file = self.inner.open_random_access(path, ReadMode::Positional)?;
        let (keep, zeros_to) = match state.names.get(norm) {
            Some(id) => (
                state.durable_len.get(id).copied().unwrap_or(0).min(file.len()),
                state.durable_zeros.get(id).copied().unwrap_or(0),
            ),
            None => (file.len(), 0),
        };
        let too_large = || Error::io("read", path, io::Error::other("file too large to keep in memory"));
        let len = usize::try_from(keep).map_err(|_| too_large())?;
        let mut bytes = file.read_at(0, len)?.to_vec();
        if zeros_to > keep {
            bytes.resize(usize::try_from(zeros_to).map_err(|_| too_large())?, 0);
        }
        Ok(bytes)
    }

    /// Registers a writer over tracked file `file` and wraps it.
    fn wrap_writer(
        &self,
        state: &mut State,
        path: &Path,
        inner: Box<dyn WritableFile>,
        file: u64,
    ) -> Box<dyn WritableFile> {
        let handle = state.new_id();
        let len = inner.len();
        state.writers.insert(handle, OpenWriter { inner, file, allocated: len });
        Box::new(FaultWritableFile {
            state: Arc::clone(&self.state),
            handle,
            generation: state.generation,
            path: path.to_path_buf(),
            len,
        })
    }
}

fn lock_state(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // Every update leaves the state consistent, so a panic in a test thread
    // does not make the file system unusable.
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Extends `path` with zeros to `len` bytes, if it is shorter: the durable
/// preallocated zeros of a file whose unsynced bytes were cut off.
fn extend_with_zeros(fs: &dyn FileSystem, path: &Path, len: u64) -> Result<()> {
    let size = match fs.file_size(path) {
        Ok(size) => size,
        Err(e) if e.is_not_found() => return Ok(()),
        Err(e) => return Err(e),
    };
    if size >= len {
        return Ok(());
    }
    let missing = usize::try_from(len - size)
        .map_err(|_| Error::io("preallocate", path, io::Error::other("zero tail too large to write")))?;
    let mut file = fs.open_appendable(path)?;
    file.append(&vec![0u8; missing])?;
    file.close()
}

/// Cuts `path` back to `len` bytes, through the trait (which has no truncate).
fn truncate_to(fs: &dyn FileSystem, path: &Path, len: u64) -> Result<()> {
    let size = match fs.file_size(path) {
        Ok(size) => size,
        Err(e) if e.is_not_found() => return Ok(()),
        Err(e) => return Err(e),
    };
    if size <= len {
        return Ok(());
    }
    let keep = usize::try_from(len)
        .map_err(|_| Error::io("truncate", path, io::Error::other("file too large to rewrite")))?;
    let prefix = fs.open_random_access(path, ReadMode::Positional)?.read_at(0, keep)?;
    write_file(fs, path, &prefix, false)
}

impl fmt::Debug for FaultFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        f.debug_struct("FaultFs")
            .field("inner", &self.inner)
            .field("op_count", &state.op_count)
            .field("generation", &state.generation)
            .field("rules", &state.rules)
            .field("pending_changes", &state.pending.len())
            .finish()
    }
}

impl FileSystem for FaultFs {
    fn open_sequential(&self, path: &Path) -> Result<Box<dyn SequentialFile>> {
        let mut state = self.state();
        state.begin(FaultOp::Open, path)?;
        let inner = self.inner.open_sequential(path)?;
        Ok(Box::new(FaultSequentialFile {
            state: Arc::clone(&self.state),
            generation: state.generation,
            path: path.to_path_buf(),
            inner,
        }))
    }

    fn open_random_access(&self, path: &Path, mode: ReadMode) -> Result<Arc<dyn RandomAccessFile>> {
        let mut state = self.state();
        state.begin(FaultOp::Open, path)?;
        let inner = self.inner.open_random_access(path, mode)?;
        Ok(Arc::new(FaultRandomAccessFile {
            state: Arc::clone(&self.state),
            generation: state.generation,
            path: path.to_path_buf(),
            inner,
        }))
    }

    fn create_writable(&self, path: &Path, mode: WriteMode) -> Result<Box<dyn WritableFile>> {
        let mut state = self.state();
        state.begin(FaultOp::Create, path)?;
        let existed = self.inner.exists(path);
        let inner = self.inner.create_writable(path, mode)?;
        let norm = normalize_path(path);
        let file = state.new_id();
        state.durable_len.insert(file, 0);
        state.names.insert(norm.clone(), file);
        if !existed {
            state.push_change(parent_of(&norm), Change::Created { path: norm });
        }
        Ok(self.wrap_writer(&mut state, path, inner, file))
    }

    fn open_appendable(&self, path: &Path) -> Result<Box<dyn WritableFile>> {
        let mut state = self.state();
        state.begin(FaultOp::Open, path)?;
        let existed = self.inner.exists(path);
        let inner = self.inner.open_appendable(path)?;
        let norm = normalize_path(path);
        let file = match state.names.get(&norm) {
            Some(&file) => file,
            None => {
                let file = state.new_id();
                // Bytes already there were not written through us: durable.
                let durable = if existed { inner.len() } else { 0 };
                state.durable_len.insert(file, durable);
                state.names.insert(norm.clone(), file);
                file
            }
        };
        if !existed {
            state.push_change(parent_of(&norm), Change::Created { path: norm });
        }
        Ok(self.wrap_writer(&mut state, path, inner, file))
    }

    fn exists(&self, path: &Path) -> bool {
        let _state = self.state();
        self.inner.exists(path)
    }

    fn list_dir(&self, dir: &Path) -> Result<Vec<String>> {
        let mut state = self.state();
        state.begin(FaultOp::List, dir)?;
        self.inner.list_dir(dir)
    }

    fn remove_file(&self, path: &Path) -> Result<()> {
        let mut state = self.state();
        state.begin(FaultOp::Remove, path)?;
        self.inner.remove_file(path)?;
        state.names.remove(&normalize_path(path));
        Ok(())
    }

    fn create_dir_all(&self, dir: &Path) -> Result<()> {
        let mut state = self.state();
        state.begin(FaultOp::CreateDir, dir)?;
        self.inner.create_dir_all(dir)
    }

    fn remove_dir(&self, dir: &Path) -> Result<()> {
        let mut state = self.state();
        state.begin(FaultOp::RemoveDir, dir)?;
        self.inner.remove_dir(dir)
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        let mut state = self.state();
        state.begin(FaultOp::Rename, from)?;
        let (from_norm, to_norm) = (normalize_path(from), normalize_path(to));
        if from_norm == to_norm {
            // POSIX: renaming a name onto itself changes nothing.
            return self.inner.rename(from, to);
        }
        if self.inner.list_dir(from).is_ok() {
            // A whole directory: passed through and durable at once; tracked
            // files inside move with it.
            self.inner.rename(from, to)?;
            let moved: Vec<(PathBuf, u64)> = state
                .names
                .iter()
                .filter_map(|(p, id)| p.strip_prefix(&from_norm).ok().map(|rest| (to_norm.join(rest), *id)))
                .collect();
            state.names.retain(|p, _| !p.starts_with(&from_norm));
            state.names.extend(moved);
            return Ok(());
        }
        let replaced =
            if self.inner.exists(to) { Some(self.durable_bytes(&state, to, &to_norm)?) } else { None };
        self.inner.rename(from, to)?;
        state.names.remove(&to_norm);
        if let Some(file) = state.names.remove(&from_norm) {
            state.names.insert(to_norm.clone(), file);
        }
        state.push_change(parent_of(&to_norm), Change::Renamed { from: from_norm, to: to_norm, replaced });
        Ok(())
    }

    fn hard_link(&self, from: &Path, to: &Path) -> Result<()> {
        let mut state = self.state();
        state.begin(FaultOp::Link, to)?;
        self.inner.hard_link(from, to)?;
        let to_norm = normalize_path(to);
        if let Some(&file) = state.names.get(&normalize_path(from)) {
            state.names.insert(to_norm.clone(), file);
        }
        state.push_change(parent_of(&to_norm), Change::Created { path: to_norm });
        Ok(())
    }

    fn file_size(&self, path: &Path) -> Result<u64> {
        let mut state = self.state();
        state.begin(FaultOp::Size, path)?;
        self.inner.file_size(path)
    }

    fn sync_dir(&self, dir: &Path) -> Result<()> {
        let mut state = self.state();
        state.begin(FaultOp::SyncDir, dir)?;
        self.inner.sync_dir(dir)?;
        let norm = normalize_path(dir);
        state.pending.retain(|p| p.dir != norm);
        Ok(())
    }

    fn lock_file(&self, path: &Path) -> Result<Box<dyn FileLock>> {
        let mut state = self.state();
        state.begin(FaultOp::Lock, path)?;
        let inner = self.inner.lock_file(path)?;
        let handle = state.new_id();
        state.locks.insert(handle, inner);
        Ok(Box::new(FaultFileLock {
            state: Arc::clone(&self.state),
            handle,
            generation: state.generation,
            path: path.to_path_buf(),
        }))
    }
}

/// A sequential file opened through a [`FaultFs`].
struct FaultSequentialFile {
    state: Arc<Mutex<State>>,
    generation: u64,
    path: PathBuf,
    inner: Box<dyn SequentialFile>,
}

impl SequentialFile for FaultSequentialFile {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize> {
        lock_state(&self.state).begin_on_handle(FaultOp::Read, &self.path, self.generation)?;
        self.inner.read(buf)
    }

    fn skip(&mut self, n: u64) -> Result<()> {
        lock_state(&self.state).begin_on_handle(FaultOp::Read, &self.path, self.generation)?;
        self.inner.skip(n)
    }
}

/// A random-access file opened through a [`FaultFs`].
struct FaultRandomAccessFile {
    state: Arc<Mutex<State>>,
    generation: u64,
    path: PathBuf,
    inner: Arc<dyn RandomAccessFile>,
}

impl RandomAccessFile for FaultRandomAccessFile {
    fn read_at(&self, offset: u64, len: usize) -> Result<Bytes> {
        lock_state(&self.state).begin_on_handle(FaultOp::Read, &self.path, self.generation)?;
        self.inner.read_at(offset, len)
    }

    fn read_with(
        &self,
        offset: u64,
        len: usize,
        consume: &mut dyn FnMut(ReadView<'_>) -> Result<()>,
    ) -> Result<()> {
        lock_state(&self.state).begin_on_handle(FaultOp::Read, &self.path, self.generation)?;
        self.inner.read_with(offset, len, consume)
    }

    fn reads_in_place(&self) -> bool {
        self.inner.reads_in_place()
    }

    fn len(&self) -> u64 {
        self.inner.len()
    }
}

/// A writable file opened through a [`FaultFs`]; the inner file lives in the
/// shared state so that a crash can close it.
struct FaultWritableFile {
    state: Arc<Mutex<State>>,
    handle: u64,
    generation: u64,
    path: PathBuf,
    /// The inner file's length after the last successful call.
    len: u64,
}

impl FaultWritableFile {
    /// Runs `call` on the inner file under the state lock, after counting
    /// the operation and checking for faults; `after` sees the state and the
    /// inner file once `call` succeeded.
    fn run(
        &mut self,
        op: FaultOp,
        call: impl FnOnce(&mut dyn WritableFile) -> Result<()>,
        after: impl FnOnce(&mut State, u64, u64),
    ) -> Result<()> {
        let mut state = lock_state(&self.state);
        state.begin_on_handle(op, &self.path, self.generation)?;
        let Some(writer) = state.writers.get_mut(&self.handle) else {
            return Err(Error::io(op.name(), &self.path, io::Error::other("file is already closed")));
        };
        call(writer.inner.as_mut())?;
        let (file, len) = (writer.file, writer.inner.len());
        self.len = len;
        after(&mut state, file, len);
        Ok(())
    }
}

impl WritableFile for FaultWritableFile {
    fn append(&mut self, data: &[u8]) -> Result<()> {
        self.run(FaultOp::Write, |w| w.append(data), |_, _, _| {})
    }

    fn flush(&mut self) -> Result<()> {
        self.run(FaultOp::Flush, |w| w.flush(), |_, _, _| {})
    }

    fn sync(&mut self) -> Result<()> {
        let handle = self.handle;
        self.run(
            FaultOp::Sync,
            |w| w.sync(),
            |state, file, len| {
                state.durable_len.insert(file, len);
                let allocated = state.writers.get(&handle).map_or(0, |w| w.allocated);
                if allocated > len {
                    let zeros_to = state.durable_zeros.entry(file).or_insert(0);
                    *zeros_to = (*zeros_to).max(allocated);
                }
            },
        )
    }

    fn preallocate(&mut self, len: u64) -> Result<u64> {
        let handle = self.handle;
        let allocated = std::cell::Cell::new(0);
        self.run(
            FaultOp::Preallocate,
            |w| {
                allocated.set(w.preallocate(len)?);
                Ok(())
            },
            |state, _, _| {
                if let Some(writer) = state.writers.get_mut(&handle) {
                    writer.allocated = writer.allocated.max(allocated.get());
                }
            },
        )?;
        Ok(allocated.get())
    }

    fn close(&mut self) -> Result<()> {
        let handle = self.handle;
        self.run(
            FaultOp::Close,
            |w| w.close(),
            |state, _, _| {
                state.writers.remove(&handle);
            },
        )
    }

    fn len(&self) -> u64 {
        self.len
    }
}

impl Drop for FaultWritableFile {
    fn drop(&mut self) {
        let mut state = lock_state(&self.state);
        // After a crash the handle id is gone already; ids are never reused.
        state.writers.remove(&self.handle);
    }
}

/// A lock taken through a [`FaultFs`]; a crash releases it.
struct FaultFileLock {
    state: Arc<Mutex<State>>,
    handle: u64,
    generation: u64,
    path: PathBuf,
}

impl fmt::Debug for FaultFileLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultFileLock")
            .field("path", &self.path)
            .field("generation", &self.generation)
            .finish()
    }
}

impl FileLock for FaultFileLock {}

impl Drop for FaultFileLock {
    fn drop(&mut self) {
        lock_state(&self.state).locks.remove(&self.handle);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::{read_file_to_vec, MemFs};

    fn mem_fault() -> FaultFs {
        FaultFs::new(Arc::new(MemFs::new()))
    }

    fn content(fs: &dyn FileSystem, path: &str) -> Option<Vec<u8>> {
        fs.exists(Path::new(path)).then(|| read_file_to_vec(fs, Path::new(path)).unwrap())
    }

    #[test]
    fn fail_nth_hits_exactly_that_operation_once() {
        let fs = mem_fault();
        let mut w = fs.create_writable(Path::new("f"), WriteMode::Buffered).unwrap();
        let before = fs.op_count();
        fs.fail_nth(2, io::ErrorKind::StorageFull);
        w.append(b"a").unwrap();
        w.append(b"b").unwrap();
        let err = w.append(b"c").unwrap_err();
        match &err {
            Error::Io { op, source, .. } => {
                assert_eq!(*op, "write");
                assert_eq!(source.kind(), io::ErrorKind::StorageFull);
            }
            other => panic!("unexpected {other:?}"),
        }
        w.append(b"d").unwrap();
        assert_eq!(fs.op_count(), before + 4);
        assert_eq!(w.len(), 3);
        w.close().unwrap();
        assert_eq!(content(&fs, "f").unwrap(), b"abd", "the failed append wrote nothing");
    }

    #[test]
    fn rules_match_path_and_kind_and_run_out() {
        let fs = mem_fault();
        fs.add_rule(
            FaultRule::new(io::ErrorKind::PermissionDenied).on_path(".log").on_ops([FaultOp::Sync]).times(2),
        );
        let mut log = fs.create_writable(Path::new("000001.log"), WriteMode::Buffered).unwrap();
        let mut other = fs.create_writable(Path::new("MANIFEST-000002"), WriteMode::Buffered).unwrap();
        log.append(b"x").unwrap();
        other.sync().unwrap();
        assert!(log.sync().is_err());
        assert!(log.sync().is_err());
        log.sync().unwrap();
        fs.add_rule(FaultRule::new(io::ErrorKind::Other));
        assert!(fs.list_dir(Path::new("")).is_err());
        fs.clear_faults();
        assert_eq!(fs.list_dir(Path::new("")).unwrap().len(), 2);
    }

    #[test]
    fn failed_rename_has_no_effect() {
        let fs = mem_fault();
        write_file(&fs, Path::new("a"), b"1", true).unwrap();
        fs.fail_nth(0, io::ErrorKind::Other);
        assert!(fs.rename(Path::new("a"), Path::new("b")).is_err());
        assert!(fs.exists(Path::new("a")) && !fs.exists(Path::new("b")));
    }

    #[test]
    fn crash_keeps_only_synced_bytes_and_synced_names() {
        let fs = mem_fault();
        fs.create_dir_all(Path::new("db")).unwrap();
        let mut log = fs.create_writable(Path::new("db/000003.log"), WriteMode::Buffered).unwrap();
        log.append(b"durable").unwrap();
        log.sync().unwrap();
        fs.sync_dir(Path::new("db")).unwrap();
        log.append(b" lost").unwrap();
        let mut unsynced = fs.create_writable(Path::new("db/000004.log"), WriteMode::Buffered).unwrap();
        unsynced.append(b"x").unwrap();
        unsynced.sync().unwrap();
        fs.crash().unwrap();
        assert_eq!(content(&fs, "db/000003.log").unwrap(), b"durable");
        assert_eq!(content(&fs, "db/000004.log"), None, "its directory was never synced");
        assert!(log.append(b"y").is_err(), "handles from before the crash fail");
        // The file system keeps working.
        let mut again = fs.open_appendable(Path::new("db/000003.log")).unwrap();
        again.append(b"!").unwrap();
        again.close().unwrap();
        assert_eq!(content(&fs, "db/000003.log").unwrap(), b"durable!");
    }

    #[test]
    fn crash_releases_locks() {
        let fs = mem_fault();
        let lock = fs.lock_file(Path::new("LOCK")).unwrap();
        assert!(matches!(fs.lock_file(Path::new("LOCK")), Err(Error::Busy(_))));
        fs.crash().unwrap();
        let relocked = fs.lock_file(Path::new("LOCK")).unwrap();
        drop(lock); // Releasing the pre-crash handle must not free the new lock.
        assert!(matches!(fs.lock_file(Path::new("LOCK")), Err(Error::Busy(_))));
        drop(relocked);
    }
}
