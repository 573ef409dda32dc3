//! Snapshots: a read view pinned at a sequence number. While a snapshot
//! lives, compaction keeps every version of a key it can see; dropping the
//! last handle releases it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use lsmkit_base::key::SequenceNumber;

/// The live snapshots of a database: sequence → number of handles.
#[derive(Debug, Default)]
pub(crate) struct SnapshotList {
    live: Mutex<BTreeMap<SequenceNumber, usize>>,
}

impl SnapshotList {
    pub(crate) fn acquire(self: &Arc<Self>, sequence: SequenceNumber) -> Snapshot {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        *live.entry(sequence).or_insert(0) += 1;
        Snapshot { inner: Arc::new(SnapshotInner { sequence, list: Arc::clone(self) }) }
    }

    fn release(&self, sequence: SequenceNumber) {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = live.get_mut(&sequence) {
            *count -= 1;
            if *count == 0 {
                live.remove(&sequence);
            }
        }
    }

    /// The sequence of every live snapshot, ascending.
    pub(crate) fn all(&self) -> Vec<SequenceNumber> {
        self.live.lock().unwrap_or_else(|e| e.into_inner()).keys().copied().collect()
    }

    /// Number of live snapshots (distinct handles counted once per acquire).
    pub(crate) fn count(&self) -> usize {
        self.live.lock().unwrap_or_else(|e| e.into_inner()).values().sum()
    }
}

#[derive(Debug)]
struct SnapshotInner {
    sequence: SequenceNumber,
    list: Arc<SnapshotList>,
}

impl Drop for SnapshotInner {
    fn drop(&mut self) {
        self.list.release(self.sequence);
    }
}

/// A consistent, read-only view of the database as of one sequence number.
/// Cheap to clone; released when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct Snapshot {
    inner: Arc<SnapshotInner>,
}

impl Snapshot {
    /// The sequence number of the last write this snapshot sees.
    pub fn sequence(&self) -> SequenceNumber {
        self.inner.sequence
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oldest_tracks_live_handles() {
        let list = Arc::new(SnapshotList::default());
        assert!(list.all().is_empty());
        let a = list.acquire(5);
        let b = list.acquire(9);
        let a2 = a.clone();
        assert_eq!(list.all(), [5, 9]);
        drop(a);
        assert_eq!(list.all(), [5, 9], "a clone still holds 5");
        drop(a2);
        assert_eq!(list.all(), [9]);
        assert_eq!(b.sequence(), 9);
        drop(b);
        assert_eq!(list.count(), 0);
    }
}
