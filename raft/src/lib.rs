//! `lsmkit-raft`: lsmkit as the storage under [openraft] 0.9 — the Raft log
//! and the replicated key-value state machine both live in lsmkit
//! databases.
//!
//! # What is here
//!
//! - [`TypeConfig`]: the openraft type configuration (node ids are `u64`,
//!   nodes are [`openraft::BasicNode`], the application data is
//!   [`Request`], the reply [`Response`], and snapshot data is a
//!   [`tokio::fs::File`], so a snapshot is always a file on disk and never
//!   one buffer in memory).
//! - [`LogStore`]: openraft's `RaftLogStorage` and `RaftLogReader`. Entries,
//!   the vote and the log markers are keys of one lsmkit database.
//! - [`StateMachineStore`]: openraft's `RaftStateMachine`, with
//!   [`SnapshotBuilder`] as its `RaftSnapshotBuilder`, and the read API an
//!   application serves from ([`StateMachineStore::get`],
//!   [`StateMachineStore::scan`]).
//! - [`open_stores`]: opens (or creates) both under one directory.
//! - [`archive`]: the one-file snapshot format.
//!
//! `docs/raft.md` in the repository describes the key layout, what is
//! durable when, the snapshot archive format and why a crash at any point
//! leaves a usable node.
//!
//! # Decisions
//!
//! - **openraft 0.9.25 with the `storage-v2` feature** (plus `serde`).
//!   openraft 0.10 is only published as alpha releases; 0.9 is the
//!   current release line, and its v2 storage API splits the log from the
//!   state machine, which is what lets the log be group-synced here.
//! - **Two databases.** The log is one lsmkit database (`<dir>/log`); the
//!   state machine is another, under `<dir>/sm`. Installing a snapshot
//!   replaces the whole state machine, and with a database of its own
//!   that is a switch from one directory to another instead of a delete of
//!   every key followed by a bulk load: the old state stays complete until
//!   the switch, and the switch is one atomic rename of a pointer file.
//!   Log writes and applies also do not share a WAL, so the group sync of
//!   the log is not slowed by applies.
//! - **Serialization**: log entries have a small binary encoding (keys
//!   and values stored raw); the vote, log ids, membership and snapshot
//!   metadata are JSON (`serde_json`). See `docs/raft.md`.
//!
//! # Example
//!
//! ```
//! use lsmkit_raft::{open_stores, Request};
//! use openraft::storage::{RaftLogStorage, RaftStateMachine};
//! use openraft::{Entry, EntryPayload, LogId, CommittedLeaderId};
//!
//! # tokio::runtime::Runtime::new()?.block_on(async {
//! let dir = tempfile::tempdir()?;
//! let (mut log, mut sm) = open_stores(dir.path())?;
//! let entry = Entry::<lsmkit_raft::TypeConfig> {
//!     log_id: LogId::new(CommittedLeaderId::new(1, 1), 1),
//!     payload: EntryPayload::Normal(Request::Put { key: b"k".to_vec(), value: b"v".to_vec() }),
//! };
//! log.append_entries(vec![entry.clone()], |synced| synced.expect("synced"))?;
//! sm.apply(vec![entry]).await?;
//! assert_eq!(sm.get(b"k")?, Some(b"v".to_vec()));
//! assert_eq!(log.get_log_state().await?.last_log_id.map(|id| id.index), Some(1));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod archive;
mod entry_codec;

mod keys;
mod log_store;
mod state_machine;

use std::path::Path;
use std::sync::Arc;

pub use log_store::LogStore;
pub use lsmkit::{Error, Result};
pub use lsmkit_base::fs::{FileSystem, StdFs};
use serde::{Deserialize, Serialize};
pub use state_machine::{Meta as SnapshotMeta, SnapshotBuilder, StateMachineStore};

openraft::declare_raft_types!(
    /// The openraft type configuration of an lsmkit-backed node.
    pub TypeConfig:
        D = Request,
        R = Response,
        NodeId = u64,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = tokio::fs::File,
        AsyncRuntime = openraft::TokioRuntime,
);

/// A node id.
pub type NodeId = u64;

/// A log entry of this configuration.
pub type LogEntry = openraft::Entry<TypeConfig>;

/// A write the state machine applies: the application data of a log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Sets `key` to `value`.
    Put {
        /// The key.
        key: Vec<u8>,
        /// The new value.
        value: Vec<u8>,
    },
    /// Removes `key` (removing a missing key is not an error).
    Delete {
        /// The key.
        key: Vec<u8>,
    },
}

/// The state machine's reply to one applied entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// The value the key had before a `Put` or `Delete` (`None` if it had
    /// none, and for blank and membership entries).
    pub previous: Option<Vec<u8>>,
}

/// Opens (creating if missing) the log store in `<dir>/log` and the state
/// machine in `<dir>/sm`, on the real file system.
///
/// Opening is blocking I/O (a database recovery); call it before starting
/// the Raft node, or from `tokio::task::spawn_blocking`.
pub fn open_stores(dir: impl AsRef<Path>) -> Result<(LogStore, StateMachineStore)> {
    open_stores_with(dir, Arc::new(StdFs::new()))
}

/// [`open_stores`] through the file system `fs`.
///
/// Snapshot data are [`tokio::fs::File`]s opened by path, so `fs` must
/// store its files at their real paths: [`StdFs`], or lsmkit's `FaultFs`
/// wrapped around it (as the crash tests do).
pub fn open_stores_with(
    dir: impl AsRef<Path>,
    fs: Arc<dyn FileSystem>,
) -> Result<(LogStore, StateMachineStore)> {
    let dir = dir.as_ref();
    fs.create_dir_all(dir)?;
    let log = LogStore::open(dir.join("log"), Arc::clone(&fs))?;
    let sm = StateMachineStore::open(dir.join("sm"), fs)?;
    Ok((log, sm))
}
