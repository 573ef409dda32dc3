//! [`StateMachineStore`]: openraft's `RaftStateMachine`, a key-value map in
//! an lsmkit database that snapshot installs replace atomically
//! (docs/raft.md, "The state machine" and "Snapshots").
//!
//! # The state-machine directory
//!
//! ```text
//! <dir>/SM_CURRENT           pointer: which database and which snapshot are current
//! <dir>/db-000001/           the current state-machine database
//! <dir>/snapshot-000004.snap the current snapshot archive (crate::archive)
//! ```
//!
//! `SM_CURRENT` is the only name that decides what the state is. It is
//! replaced by writing `SM_CURRENT.tmp`, syncing it, renaming it over
//! `SM_CURRENT` and syncing the directory. Everything else is written under
//! a fresh number that no pointer names yet, so until the rename the old
//! pointer still names a complete old state, and after it the new pointer
//! names a complete new one. Names no pointer refers to are leftovers of
//! an interrupted build or install and are deleted at open.
//!
//! A new state machine writes its pointer before creating the database it
//! names, so a directory with files but no pointer has lost its pointer
//! and is refused (never silently started empty). A pointer whose
//! database is missing is refused too when it names a snapshot; without
//! one, the database is created empty: the log was then never purged and
//! openraft applies it again from the start.

use std::collections::HashMap;
use std::fmt;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use lsmkit::{Db, Options, WriteBatch, WriteOptions};
use lsmkit_base::fs::{FileSystem, WriteMode};
use openraft::storage::{RaftStateMachine, Snapshot, SnapshotMeta};
use openraft::{
    AnyError, BasicNode, EntryPayload, LogId, OptionalSend, RaftLogId, RaftSnapshotBuilder, StorageError,
    StorageIOError, StoredMembership,
};

use crate::archive::{self, remove_tree};
use crate::keys::{data_key, APPLIED_KEY, DATA_PREFIX, MEMBERSHIP_KEY};
use crate::log_store::{blocking, from_json, to_json};
use crate::{Error, LogEntry, NodeId, Request, Response, Result, TypeConfig};

/// The pointer file's name.
const POINTER: &str = "SM_CURRENT";
/// The pointer's temporary name while it is replaced.
const POINTER_TMP: &str = "SM_CURRENT.tmp";
/// The first line of a pointer file.
const POINTER_MAGIC: &str = "lsmkit-raft state machine v1";
/// Bytes moved per read when a received snapshot is copied.
const COPY_BYTES: usize = 64 << 10;

/// The membership type of this configuration.
type Membership = StoredMembership<NodeId, BasicNode>;
/// The snapshot metadata of this configuration (exported as
/// `lsmkit_raft::SnapshotMeta`).
pub type Meta = SnapshotMeta<NodeId, BasicNode>;

/// The replicated key-value state machine. Cheap to clone: clones share the
/// state, so an application keeps one for reads ([`get`](Self::get),
/// [`scan`](Self::scan)) while openraft owns another.
///
/// ```
/// use lsmkit_raft::{Request, StateMachineStore, StdFs};
/// use openraft::storage::RaftStateMachine;
/// use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId};
/// use std::sync::Arc;
///
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// let dir = tempfile::tempdir()?;
/// let mut sm = StateMachineStore::open(dir.path().join("sm"), Arc::new(StdFs::new()))?;
/// let put = |i: u64, k: &str, v: &str| Entry {
///     log_id: LogId::new(CommittedLeaderId::new(1, 1), i),
///     payload: EntryPayload::Normal(Request::Put { key: k.into(), value: v.into() }),
/// };
/// let replies = sm.apply(vec![put(1, "a", "1"), put(2, "b", "2"), put(3, "a", "3")]).await?;
/// assert_eq!(replies[2].previous.as_deref(), Some(&b"1"[..]));
/// assert_eq!(sm.get(b"a")?, Some(b"3".to_vec()));
/// assert_eq!(sm.scan(b"", None, 10)?, [(b"a".to_vec(), b"3".to_vec()), (b"b".to_vec(), b"2".to_vec())]);
/// assert_eq!(sm.last_applied().map(|id| id.index), Some(3));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct StateMachineStore {
    inner: Arc<SmShared>,
}

/// Builds snapshots of a [`StateMachineStore`] (openraft's
/// `RaftSnapshotBuilder`); holds a clone of it.
pub struct SnapshotBuilder {
    sm: StateMachineStore,
}

struct SmShared {
    fs: Arc<dyn FileSystem>,
    dir: PathBuf,
    state: RwLock<SmState>,
    /// Held by an apply while it writes, and by a snapshot build while it
    /// takes its checkpoint: a checkpoint then holds whole applies and the
    /// applied state cached in `state` describes it exactly.
    apply_gate: Mutex<()>,
    /// Serializes snapshot builds and installs (each replaces the pointer).
    snapshot_gate: Mutex<()>,
    /// The next number for a new file or directory name.
    next_number: AtomicU64,
    /// Files handed out to receive snapshots into, deleted by the next
    /// successful install (and by the next open).
    receiving: Mutex<Vec<String>>,
}

struct SmState {
    db: Db,
    /// The database directory's name.
    db_name: String,
    last_applied: Option<LogId<NodeId>>,
    membership: Membership,
    snapshot: Option<CurrentSnapshot>,
}

#[derive(Clone)]
struct CurrentSnapshot {
    file_name: String,
    meta: Meta,
}

/// What `SM_CURRENT` says.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pointer {
    db: String,
    snapshot: Option<String>,
}

impl fmt::Debug for StateMachineStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateMachineStore").field("dir", &self.inner.dir).finish_non_exhaustive()
    }
}

fn encode_pointer(pointer: &Pointer) -> Vec<u8> {
    let body = format!(
        "{POINTER_MAGIC}\ndb {}\nsnapshot {}\n",
        pointer.db,
        pointer.snapshot.as_deref().unwrap_or("-")
    );
    format!("{body}crc32c {:08x}\n", crc32c::crc32c(body.as_bytes())).into_bytes()
}

fn decode_pointer(path: &Path, bytes: &[u8]) -> Result<Pointer> {
    let bad = |message: &str| Error::corruption_at(path, 0, format!("state-machine pointer: {message}"));
    let text = std::str::from_utf8(bytes).map_err(|_| bad("not UTF-8"))?;
    let crc_at = text.rfind("crc32c ").ok_or_else(|| bad("no checksum line"))?;
    let (body, crc_line) = text.split_at(crc_at);
    let crc = crc_line
        .strip_prefix("crc32c ")
        .and_then(|s| s.strip_suffix('\n'))
        .and_then(|s| u32::from_str_radix(s, 16).ok())
        .ok_or_else(|| bad("malformed checksum line"))?;
    if crc != crc32c::crc32c(body.as_bytes()) {
        return Err(bad("checksum mismatch"));
    }
    let mut lines = body.lines();
    if lines.next() != Some(POINTER_MAGIC) {
        return Err(bad("unknown first line"));
    }
    let db = lines.next().and_then(|l| l.strip_prefix("db ")).ok_or_else(|| bad("no db line"))?;
    let snapshot =
        lines.next().and_then(|l| l.strip_prefix("snapshot ")).ok_or_else(|| bad("no snapshot line"))?;
    let plain =
        |name: &str| !name.is_empty() && !name.contains(['/', '\\', '\0']) && name != "." && name != "..";
    if lines.next().is_some() || !plain(db) || !plain(snapshot) {
        return Err(bad("malformed"));
    }
    Ok(Pointer { db: db.to_string(), snapshot: (snapshot != "-").then(|| snapshot.to_string()) })
}

/// Makes `pointer` the state of the state machine in `dir`: temporary
/// file, sync, rename, directory sync. The outer error means nothing
/// changed (the rename did not happen); the inner one that the rename
/// happened but the directory sync after it failed, so a crash may still
/// bring the old pointer back.
fn write_pointer(fs: &dyn FileSystem, dir: &Path, pointer: &Pointer) -> Result<Result<()>> {
    let tmp = dir.join(POINTER_TMP);
    let renamed = (|| -> Result<()> {
        let mut file = fs.create_writable(&tmp, WriteMode::Buffered)?;
        file.append(&encode_pointer(pointer))?;
        file.sync()?;
        file.close()?;
        fs.rename(&tmp, &dir.join(POINTER))
    })();
    if let Err(e) = renamed {
        let _ = fs.remove_file(&tmp);
        return Err(e);
    }
    Ok(fs.sync_dir(dir))
}

/// The number in a name this module made (`db-000007` → 7), if any.
fn name_number(name: &str) -> Option<u64> {
    let digits: String =
        name.chars().skip_while(|c| !c.is_ascii_digit()).take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn sm_err(e: Error) -> StorageError<NodeId> {
    StorageIOError::write_state_machine(AnyError::new(&e)).into()
}

fn snapshot_err(meta: Option<&Meta>, e: impl std::error::Error + 'static) -> StorageError<NodeId> {
    StorageIOError::write_snapshot(meta.map(Meta::signature), AnyError::new(&e)).into()
}

fn read_json_key<T: serde::de::DeserializeOwned>(db: &Db, key: &[u8]) -> Result<Option<T>> {
    match db.get(key)? {
        Some(bytes) => Ok(Some(from_json(db.path(), key, &bytes)?)),
        None => Ok(None),
    }
}

/// The applied state recorded in a state-machine database.
fn applied_state_of(db: &Db) -> Result<(Option<LogId<NodeId>>, Membership)> {
    let applied = read_json_key(db, APPLIED_KEY)?;
    let membership = read_json_key(db, MEMBERSHIP_KEY)?.unwrap_or_default();
    Ok((applied, membership))
}

impl SmShared {
    fn read_state(&self) -> RwLockReadGuard<'_, SmState> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_state(&self) -> RwLockWriteGuard<'_, SmState> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn number(&self) -> u64 {
        self.next_number.fetch_add(1, Ordering::Relaxed)
    }

    fn db_options(&self, create: bool) -> Options {
        Options { create_if_missing: create, fs: Arc::clone(&self.fs), ..Options::default() }
    }

    fn write_pointer(&self, pointer: &Pointer) -> Result<Result<()>> {
        write_pointer(self.fs.as_ref(), &self.dir, pointer)
    }

    /// Best-effort removal of a leftover (a later open retries).
    fn discard(&self, name: &str) {
        let _ = remove_tree(self.fs.as_ref(), &self.dir.join(name));
    }
}

impl StateMachineStore {
    /// Opens (creating if missing) the state machine kept in `dir` through
    /// `fs`: reads `SM_CURRENT`, opens the database it names, reads the
    /// current snapshot's header and deletes what no pointer names.
    pub fn open(dir: impl Into<PathBuf>, fs: Arc<dyn FileSystem>) -> Result<StateMachineStore> {
        let dir = dir.into();
        fs.create_dir_all(&dir)?;
        let pointer_path = dir.join(POINTER);
        let names = fs.list_dir(&dir)?;
        let next = names.iter().filter_map(|n| name_number(n)).max().unwrap_or(0) + 1;
        let pointer = if fs.exists(&pointer_path) {
            let bytes = lsmkit_base::fs::read_file_to_vec(fs.as_ref(), &pointer_path)?;
            decode_pointer(&pointer_path, &bytes)?
        } else {
            // A new state machine. Anything here but a temporary pointer
            // means the pointer was lost: refuse rather than start empty.
            if let Some(name) = names.iter().find(|n| n.as_str() != POINTER_TMP) {
                return Err(Error::corruption_at(
                    &pointer_path,
                    0,
                    format!("missing, but the state-machine directory holds {name}"),
                ));
            }
            // The pointer first, then the database it names: see below.
            let pointer = Pointer { db: format!("db-{next:06}"), snapshot: None };
            write_pointer(fs.as_ref(), &dir, &pointer)??;
            pointer
        };
        // Leftovers: everything the pointer does not name.
        let keep =
            |name: &str| name == POINTER || pointer.db == name || pointer.snapshot.as_deref() == Some(name);
        for name in names.iter().filter(|n| !keep(n)) {
            remove_tree(fs.as_ref(), &dir.join(name))?;
        }
        let db_dir = dir.join(&pointer.db);
        // A missing database is created only when no snapshot exists: then
        // the log was never purged and openraft re-applies it from the
        // start (a first open that stopped after writing the pointer ends
        // up here too). With a snapshot, it is a lost state.
        if pointer.snapshot.is_some() && !fs.exists(&db_dir) {
            return Err(Error::corruption_at(&pointer_path, 0, format!("names missing {}", pointer.db)));
        }
        let db = Db::open(
            &db_dir,
            Options { create_if_missing: true, fs: Arc::clone(&fs), ..Options::default() },
        )?;
        let (last_applied, membership) = applied_state_of(&db)?;
        let snapshot = match &pointer.snapshot {
            Some(name) => {
                let path = dir.join(name);
                let header = archive::read_header(fs.as_ref(), &path)?;
                let meta: Meta = from_json(&path, b"header", &header)?;
                Some(CurrentSnapshot { file_name: name.clone(), meta })
            }
            None => None,
        };
        let shared = SmShared {
            fs,
            dir,
            state: RwLock::new(SmState {
                db,
                db_name: pointer.db.clone(),
                last_applied,
                membership,
                snapshot,
            }),
            apply_gate: Mutex::new(()),
            snapshot_gate: Mutex::new(()),
            next_number: AtomicU64::new(next + 1),
            receiving: Mutex::new(Vec::new()),
        };
        Ok(StateMachineStore { inner: Arc::new(shared) })
    }

    /// The state-machine directory.
    pub fn path(&self) -> &Path {
        &self.inner.dir
    }

    /// The value of `key`, as of the last applied entry.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let state = self.inner.read_state();
        Ok(state.db.get(&data_key(key))?.map(|v| v.to_vec()))
    }

    /// Up to `limit` pairs with `start <= key < end` (`end` `None`: no upper
    /// bound), in key order, as of one instant. An empty range (`end <=
    /// start`) gives no pairs.
    pub fn scan(&self, start: &[u8], end: Option<&[u8]>, limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        if end.is_some_and(|end| end <= start) || limit == 0 {
            return Ok(Vec::new());
        }
        let state = self.inner.read_state();
        let upper = match end {
            Some(end) => data_key(end),
            None => vec![DATA_PREFIX + 1],
        };
        let mut out = Vec::new();
        for item in state.db.range(data_key(start)..upper).take(limit) {
            let (key, value) = item?;
            out.push((key[1..].to_vec(), value.to_vec()));
        }
        Ok(out)
    }

    /// The id of the last applied log entry.
    pub fn last_applied(&self) -> Option<LogId<NodeId>> {
        self.inner.read_state().last_applied
    }

    /// The last applied membership.
    pub fn membership(&self) -> StoredMembership<NodeId, BasicNode> {
        self.inner.read_state().membership.clone()
    }

    /// The current snapshot's metadata, if a snapshot was built or installed.
    pub fn current_snapshot_meta(&self) -> Option<SnapshotMeta<NodeId, BasicNode>> {
        self.inner.read_state().snapshot.as_ref().map(|s| s.meta.clone())
    }

    /// The current snapshot's archive file, if any.
    pub fn current_snapshot_path(&self) -> Option<PathBuf> {
        self.inner.read_state().snapshot.as_ref().map(|s| self.inner.dir.join(&s.file_name))
    }

    /// A snapshot builder (the same as `RaftStateMachine::get_snapshot_builder`).
    pub fn snapshot_builder(&self) -> SnapshotBuilder {
        SnapshotBuilder { sm: self.clone() }
    }

    /// Applies `entries` in one atomic batch that also records the last
    /// applied log id and, if one of them is a membership entry, the last
    /// membership. The write is not synced: the log holds every applied
    /// entry durably, and openraft applies again from the recorded point
    /// after a crash (a snapshot build syncs first; docs/raft.md).
    pub fn apply_entries(&self, entries: impl IntoIterator<Item = LogEntry>) -> Result<Vec<Response>> {
        let _gate = self.inner.apply_gate.lock().unwrap_or_else(PoisonError::into_inner);
        let (db, mut last_applied, mut membership) = {
            let state = self.inner.read_state();
            (state.db.clone(), state.last_applied, state.membership.clone())
        };
        let mut batch = WriteBatch::new();
        let mut replies = Vec::new();
        let mut membership_changed = false;
        // Values this batch already wrote, for the replies of later entries.
        let mut written: HashMap<Vec<u8>, Option<Vec<u8>>> = HashMap::new();
        for entry in entries {
            let log_id = *entry.get_log_id();
            last_applied = Some(log_id);
            let reply = match entry.payload {
                EntryPayload::Blank => Response::default(),
                EntryPayload::Membership(m) => {
                    membership = StoredMembership::new(Some(log_id), m);
                    membership_changed = true;
                    Response::default()
                }
                EntryPayload::Normal(request) => {
                    let (key, value) = match request {
                        Request::Put { key, value } => (key, Some(value)),
                        Request::Delete { key } => (key, None),
                    };
                    let previous = match written.get(&key) {
                        Some(v) => v.clone(),
                        None => db.get(&data_key(&key))?.map(|v| v.to_vec()),
                    };
                    match &value {
                        Some(v) => batch.put(&data_key(&key), v),
                        None => batch.delete(&data_key(&key)),
                    }
                    written.insert(key, value);
                    Response { previous }
                }
            };
            replies.push(reply);
        }
        if replies.is_empty() {
            return Ok(replies);
        }
        batch.put(APPLIED_KEY, &to_json(&last_applied)?);
        if membership_changed {
            batch.put(MEMBERSHIP_KEY, &to_json(&membership)?);
        }
        db.write(WriteOptions::default(), batch)?;
        let mut state = self.inner.write_state();
        state.last_applied = last_applied;
        state.membership = membership;
        Ok(replies)
    }

    /// Builds a snapshot now (blocking): syncs the database, checkpoints it,
    /// packs the checkpoint into a new archive and makes that the current
    /// snapshot. Returns its metadata and archive path.
    pub fn build_snapshot_now(&self) -> Result<(Meta, PathBuf)> {
        let shared = &self.inner;
        let _snapshot_gate = shared.snapshot_gate.lock().unwrap_or_else(PoisonError::into_inner);
        let number = shared.number();
        let checkpoint_name = format!("checkpoint-{number:06}.tmp");
        let checkpoint_dir = shared.dir.join(&checkpoint_name);
        let (db_name, last_applied, membership) = {
            let _gate = shared.apply_gate.lock().unwrap_or_else(PoisonError::into_inner);
            let state = shared.read_state();
            // Synced first: the database on disk then holds at least what
            // the snapshot holds, so purging the log up to the snapshot
            // never leaves the state machine behind a hole.
            state.db.sync_wal()?;
            state.db.checkpoint(&checkpoint_dir)?;
            (state.db_name.clone(), state.last_applied, state.membership.clone())
        };
        let snapshot_id = match last_applied {
            Some(id) => format!("{}-{}-{}-{number}", id.leader_id.term, id.leader_id.node_id, id.index),
            None => format!("none-{number}"),
        };
        let meta = Meta { last_log_id: last_applied, last_membership: membership, snapshot_id };
        let file_name = format!("snapshot-{number:06}.snap");
        let path = shared.dir.join(&file_name);
        let packed = to_json(&meta).and_then(|header| {
            archive::pack(shared.fs.as_ref(), &checkpoint_dir, &header, &path)?;
            shared.fs.sync_dir(&shared.dir)
        });
        shared.discard(&checkpoint_name);
        if let Err(e) = packed {
            shared.discard(&file_name);
            return Err(e);
        }
        let synced = match shared.write_pointer(&Pointer { db: db_name, snapshot: Some(file_name.clone()) }) {
            Ok(synced) => synced,
            Err(e) => {
                shared.discard(&file_name);
                return Err(e);
            }
        };
        let old = {
            let mut state = shared.write_state();
            state.snapshot.replace(CurrentSnapshot { file_name, meta: meta.clone() })
        };
        // The old archive goes only once the new pointer is durable.
        synced?;
        if let Some(old) = old {
            shared.discard(&old.file_name);
        }
        Ok((meta, path))
    }

    /// Installs the snapshot archive read from `data` (from its start) as
    /// the whole state (blocking): copies it into a new archive file,
    /// unpacks that into a new database directory, checks that the
    /// database holds what `meta` says, then switches `SM_CURRENT` to both
    /// and deletes the old ones. A failure at any step leaves the old state
    /// current, on disk and in memory.
    pub fn install_snapshot_from(&self, meta: &Meta, data: &mut std::fs::File) -> Result<()> {
        let shared = &self.inner;
        let _snapshot_gate = shared.snapshot_gate.lock().unwrap_or_else(PoisonError::into_inner);
        let number = shared.number();
        let file_name = format!("snapshot-{number:06}.snap");
        let db_name = format!("db-{number:06}");
        let prepared = self.prepare_install(meta, data, &file_name, &db_name);
        let db = match prepared {
            Ok(db) => db,
            Err(e) => {
                shared.discard(&db_name);
                shared.discard(&file_name);
                return Err(e);
            }
        };
        let pointer = Pointer { db: db_name.clone(), snapshot: Some(file_name.clone()) };
        let synced = match shared.write_pointer(&pointer) {
            Ok(synced) => synced,
            Err(e) => {
                drop(db);
                shared.discard(&db_name);
                shared.discard(&file_name);
                return Err(e);
            }
        };
        let old = {
            let _gate = shared.apply_gate.lock().unwrap_or_else(PoisonError::into_inner);
            let mut state = shared.write_state();
            let old = (state.db_name.clone(), state.snapshot.as_ref().map(|s| s.file_name.clone()));
            state.db = db;
            state.db_name = db_name;
            state.last_applied = meta.last_log_id;
            state.membership = meta.last_membership.clone();
            state.snapshot = Some(CurrentSnapshot { file_name, meta: meta.clone() });
            old
        };
        // Until the new pointer is durable, a crash may bring the old one
        // back: keep what it names.
        synced?;
        let (old_db, old_snapshot) = old;
        shared.discard(&old_db);
        if let Some(name) = old_snapshot {
            shared.discard(&name);
        }
        // The received data is copied; the files it came in are done with.
        let received = std::mem::take(&mut *shared.receiving.lock().unwrap_or_else(PoisonError::into_inner));
        for name in received {
            shared.discard(&name);
        }
        Ok(())
    }

    /// The install steps before the switch: returns the new database, open.
    fn prepare_install(
        &self,
        meta: &Meta,
        data: &mut std::fs::File,
        file_name: &str,
        db_name: &str,
    ) -> Result<Db> {
        let shared = &self.inner;
        let path = shared.dir.join(file_name);
        // Our own copy of the archive: it becomes the current snapshot.
        data.seek(SeekFrom::Start(0)).map_err(|e| Error::io("seek", &path, e))?;
        let mut out = shared.fs.create_writable(&path, WriteMode::Buffered)?;
        let mut buf = vec![0u8; COPY_BYTES];
        loop {
            let n = data.read(&mut buf).map_err(|e| Error::io("read", &path, e))?;
            if n == 0 {
                break;
            }
            out.append(&buf[..n])?;
        }
        out.sync()?;
        out.close()?;
        let db_dir = shared.dir.join(db_name);
        let header = archive::unpack(shared.fs.as_ref(), &path, &db_dir)?;
        let archived: Meta = from_json(&path, b"header", &header)?;
        if archived.last_log_id != meta.last_log_id || archived.last_membership != meta.last_membership {
            return Err(Error::corruption_at(
                &path,
                0,
                format!("archive holds snapshot {archived}, but snapshot {meta} is being installed"),
            ));
        }
        // The new names (archive, database directory) become durable before
        // the pointer names them.
        shared.fs.sync_dir(&shared.dir)?;
        let db = Db::open(&db_dir, shared.db_options(false))?;
        let (applied, membership) = applied_state_of(&db)?;
        if applied != meta.last_log_id || membership != meta.last_membership {
            return Err(Error::corruption_at(
                &path,
                0,
                format!("the archived database is at {applied:?}, but the snapshot says {meta}"),
            ));
        }
        Ok(db)
    }

    /// A new empty file to receive a snapshot into (openraft's
    /// `begin_receiving_snapshot`), opened for reading and writing; deleted
    /// after the next successful install, or by the next open.
    pub async fn receive_file(&self) -> Result<tokio::fs::File> {
        let name = format!("receive-{:06}.part", self.inner.number());
        let path = self.inner.dir.join(&name);
        let file = tokio::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .await
            .map_err(|e| Error::io("create", &path, e))?;
        self.inner.receiving.lock().unwrap_or_else(PoisonError::into_inner).push(name);
        Ok(file)
    }
}

impl SnapshotBuilder {
    /// The state machine this builder snapshots.
    pub fn state_machine(&self) -> &StateMachineStore {
        &self.sm
    }
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> std::result::Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        let sm = self.sm.clone();
        let (meta, path) = tokio::task::spawn_blocking(move || sm.build_snapshot_now())
            .await
            .map_err(|e| snapshot_err(None, e))?
            .map_err(|e| snapshot_err(None, e))?;
        let file = tokio::fs::File::open(&path).await.map_err(|e| snapshot_err(Some(&meta), e))?;
        Ok(Snapshot { meta, snapshot: Box::new(file) })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> std::result::Result<(Option<LogId<NodeId>>, Membership), StorageError<NodeId>> {
        let state = self.inner.read_state();
        Ok((state.last_applied, state.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> std::result::Result<Vec<Response>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = LogEntry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<LogEntry> = entries.into_iter().collect();
        let sm = self.clone();
        blocking(move || sm.apply_entries(entries)).await.map_err(sm_err)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.snapshot_builder()
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> std::result::Result<Box<tokio::fs::File>, StorageError<NodeId>> {
        self.receive_file().await.map(Box::new).map_err(|e| snapshot_err(None, e))
    }

    async fn install_snapshot(
        &mut self,
        meta: &Meta,
        snapshot: Box<tokio::fs::File>,
    ) -> std::result::Result<(), StorageError<NodeId>> {
        let mut file = snapshot.into_std().await;
        let sm = self.clone();
        let owned_meta = meta.clone();
        tokio::task::spawn_blocking(move || sm.install_snapshot_from(&owned_meta, &mut file))
            .await
            .map_err(|e| snapshot_err(Some(meta), e))?
            .map_err(|e| snapshot_err(Some(meta), e))
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> std::result::Result<Option<Snapshot<TypeConfig>>, StorageError<NodeId>> {
        let current = self.inner.read_state().snapshot.clone();
        match current {
            Some(current) => {
                let path = self.inner.dir.join(&current.file_name);
                let file = tokio::fs::File::open(&path).await.map_err(|e| {
                    StorageIOError::read_snapshot(Some(current.meta.signature()), AnyError::new(&e))
                })?;
                Ok(Some(Snapshot { meta: current.meta, snapshot: Box::new(file) }))
            }
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_round_trips_and_rejects_damage() {
        let path = Path::new("SM_CURRENT");
        for pointer in [
            Pointer { db: "db-000001".into(), snapshot: None },
            Pointer { db: "db-000009".into(), snapshot: Some("snapshot-000009.snap".into()) },
        ] {
            let bytes = encode_pointer(&pointer);
            assert_eq!(decode_pointer(path, &bytes).unwrap(), pointer);
            for i in 0..bytes.len() {
                let mut bad = bytes.clone();
                bad[i] ^= 0x01;
                assert!(decode_pointer(path, &bad).is_err(), "byte {i} changed");
            }
            for len in 0..bytes.len() {
                assert!(decode_pointer(path, &bytes[..len]).is_err(), "cut to {len}");
            }
        }
    }

    #[test]
    fn name_numbers() {
        assert_eq!(name_number("db-000012"), Some(12));
        assert_eq!(name_number("snapshot-000003.snap"), Some(3));
        assert_eq!(name_number("SM_CURRENT"), None);
    }
}
