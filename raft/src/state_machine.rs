//! [`StateMachineStore`]: openraft's `RaftStateMachine`, a key-value map in
//! an lsmkit database that snapshot installs replace atomically
//! (docs/raft.md, "The state machine" and "Snapshots").

use std::path::PathBuf;
use std::sync::Arc;

use lsmkit_base::fs::FileSystem;
use openraft::LogId;

use crate::{NodeId, Result};

/// The replicated key-value state machine. Cheap to clone: clones share the
/// state, so an application keeps one for reads ([`get`](Self::get),
/// [`scan`](Self::scan)) while openraft owns another.
#[derive(Clone)]
pub struct StateMachineStore {
    inner: Arc<()>,
}

/// Builds snapshots of a [`StateMachineStore`] (openraft's
/// `RaftSnapshotBuilder`); holds a clone of it.
pub struct SnapshotBuilder {
    sm: StateMachineStore,
}

impl StateMachineStore {
    /// Opens (creating if missing) the state machine kept in `dir` through
    /// `fs`.
    pub fn open(dir: impl Into<PathBuf>, fs: Arc<dyn FileSystem>) -> Result<StateMachineStore> {
        let _ = (dir.into(), fs);
        todo!("filled in the next commit")
    }

    /// The value of `key`, as of the last applied entry.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let _ = (key, &self.inner);
        todo!("filled in the next commit")
    }

    /// Up to `limit` pairs with `start <= key < end` (`end` `None`: no upper
    /// bound), in key order, as of one instant.
    pub fn scan(&self, start: &[u8], end: Option<&[u8]>, limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let _ = (start, end, limit);
        todo!("filled in the next commit")
    }

    /// The id of the last applied log entry.
    pub fn last_applied(&self) -> Option<LogId<NodeId>> {
        todo!("filled in the next commit")
    }

    /// A snapshot builder (the same as `RaftStateMachine::get_snapshot_builder`).
    pub fn snapshot_builder(&self) -> SnapshotBuilder {
        SnapshotBuilder { sm: self.clone() }
    }
}

impl SnapshotBuilder {
    /// The state machine this builder snapshots.
    pub fn state_machine(&self) -> &StateMachineStore {
        &self.sm
    }
}
