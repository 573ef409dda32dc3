//! [`WriteQueue`]: the line every write joins (LevelDB's `writers_` deque).
//!
//! Each caller of `Db::write` (and each engine request that must not overlap
//! a write group: a memtable switch, a WAL sync, a checkpoint's capture)
//! queues a [`QueuedWriter`] and sleeps on its own condition variable. The
//! writer at the front leads: it takes the batches queued behind it into one
//! group, logs them as one WAL record, has them inserted and publishes them
//! (engine/src/write.rs). The queue lives inside the database mutex; every
//! method here is called with it held.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar};

use lsmkit_base::key::SequenceNumber;
use lsmkit_base::Result;
use lsmkit_memtable::Memtable;
use lsmkit_wal::WriteBatch;

/// What a queued writer asks for.
pub(crate) enum WriteRequest {
    /// Log and apply a batch (validated before it is queued).
    Batch {
        /// The operations, shared with the leader that logs them.
        batch: Arc<WriteBatch>,
        /// Sync the WAL before acknowledging.
        sync: bool,
        /// Apply to the memtable only, without logging.
        disable_wal: bool,
    },
    /// Log and apply a batch only if no write has been numbered after
    /// `if_last_sequence` when it reaches the front of the queue; otherwise
    /// drop it (a merge write-back, engine/src/merge.rs).
    ConditionalBatch {
        /// The operations.
        batch: Arc<WriteBatch>,
        /// The last sequence number the batch was computed at.
        if_last_sequence: SequenceNumber,
    },
    /// Switch the current memtable (if not empty) out for flushing.
    SwitchMemtable,
    /// Make every acknowledged write durable (`Db::sync_wal`).
    SyncWal,
    /// Hold the front of the queue while its owner reads a state that no
    /// write group is changing (a checkpoint's capture). Groups never grow
    /// across a barrier, and only its owner acts on it.
    Barrier,
}

impl WriteRequest {
    /// The batch, for a [`WriteRequest::Batch`].
    pub(crate) fn batch(&self) -> Option<&Arc<WriteBatch>> {
        match self {
            WriteRequest::Batch { batch, .. } => Some(batch),
            _ => None,
        }
    }
}

/// Where a queued batch is in its group's progress.
pub(crate) enum WriterStatus {
    /// Queued; the leader has not taken it into a group yet.
    Waiting,
    /// The group's WAL record is written: insert the batch at this sequence
    /// into this memtable (a large group's members insert in parallel).
    Insert { sequence: SequenceNumber, mem: Memtable },
    /// Inserted; waiting for the leader to publish the group.
    Inserted,
}

/// One entry of the queue.
pub(crate) struct QueuedWriter {
    /// Unique for the life of the database; the owner finds its entry by it.
    pub(crate) id: u64,
    pub(crate) request: WriteRequest,
    pub(crate) status: WriterStatus,
    /// The owner sleeps here and is woken only for its own turn or result
    /// (as LevelDB gives each writer its own condition variable), so a
    /// group's progress does not wake every writer in the queue.
    pub(crate) wakeup: Arc<Condvar>,
}

thread_local! {
    /// Each thread's wake-up for its queue entries (a thread has at most
    /// one entry at a time: queueing blocks until the entry is done).
    static THREAD_WAKEUP: Arc<Condvar> = Arc::new(Condvar::new());
}

/// Runs `f` with the calling thread's wake-up, for the entry it queues
/// and waits on.
pub(crate) fn with_thread_wakeup<R>(f: impl FnOnce(&Arc<Condvar>) -> R) -> R {
    THREAD_WAKEUP.with(f)
}

/// The queue of writers, with the results of the groups that finished.
pub(crate) struct WriteQueue {
    writers: VecDeque<QueuedWriter>,
    next_id: u64,
    /// Results for members of finished groups that have not picked them up
    /// yet (few at a time: one group's members).
    finished: Vec<(u64, Result<()>)>,
    /// Members of the current group still inserting their own batches.
    inserts_pending: usize,
}

impl Default for WriteQueue {
    fn default() -> WriteQueue {
        WriteQueue { writers: VecDeque::new(), next_id: 1, finished: Vec::new(), inserts_pending: 0 }
    }
}

impl WriteQueue {
    /// Queues `request` for the thread that owns `wakeup`; returns its id.
    pub(crate) fn push(&mut self, request: WriteRequest, wakeup: Arc<Condvar>) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.writers.push_back(QueuedWriter { id, request, status: WriterStatus::Waiting, wakeup });
        id
    }

    /// The number of queued writers.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.writers.len()
    }

    /// The writer at the front (the leader, once it has been woken).
    pub(crate) fn front(&self) -> Option<&QueuedWriter> {
        self.writers.front()
    }

    /// True when writer `id` is at the front.
    pub(crate) fn is_front(&self, id: u64) -> bool {
        self.writers.front().is_some_and(|w| w.id == id)
    }

    /// The queued writers, front first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &QueuedWriter> {
        self.writers.iter()
    }

    /// The queued writers, front first, to update their status.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut QueuedWriter> {
        self.writers.iter_mut()
    }

    /// Writer `id`, if still queued.
    pub(crate) fn find(&self, id: u64) -> Option<&QueuedWriter> {
        // A writer that is not the front one is usually close to it.
        self.writers.iter().find(|w| w.id == id)
    }

    /// Writer `id`, if still queued, to update its status.
    pub(crate) fn find_mut(&mut self, id: u64) -> Option<&mut QueuedWriter> {
        self.writers.iter_mut().find(|w| w.id == id)
    }

    /// Takes the result left for writer `id` by its group's leader.
    pub(crate) fn take_result(&mut self, id: u64) -> Option<Result<()>> {
        let index = self.finished.iter().position(|(finished, _)| *finished == id)?;
        Some(self.finished.swap_remove(index).1)
    }

    /// Removes the front writer (its owner returns by itself) and wakes the
    /// next one, which leads the next group.
    pub(crate) fn pop_front(&mut self) {
        self.writers.pop_front();
        self.wake_front();
    }

    /// Removes the `group_len` writers at the front: the first is the
    /// leader, who returns by itself; every other member gets `result` and
    /// is woken to pick it up. Then wakes the next leader.
    pub(crate) fn finish_group(&mut self, group_len: usize, result: &Result<()>) {
        if let Some(_leader) = self.writers.pop_front() {
            for _ in 1..group_len {
                let Some(member) = self.writers.pop_front() else { break };
                self.finished.push((member.id, result.clone()));
                member.wakeup.notify_one();
            }
        }
        self.wake_front();
    }

    /// Wakes the writer at the front of the queue (it leads the next group).
    pub(crate) fn wake_front(&self) {
        if let Some(front) = self.writers.front() {
            front.wakeup.notify_one();
        }
    }

    /// Members of the current group still inserting their batches.
    pub(crate) fn inserts_pending(&self) -> usize {
        self.inserts_pending
    }

    /// Sets how many members of the current group insert in parallel.
    pub(crate) fn set_inserts_pending(&mut self, pending: usize) {
        self.inserts_pending = pending;
    }

    /// Records that one member finished its insert; true when it was the
    /// last one (the leader, waiting for them, must be woken).
    pub(crate) fn insert_done(&mut self) -> bool {
        self.inserts_pending = self.inserts_pending.saturating_sub(1);
        self.inserts_pending == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch_request() -> WriteRequest {
        WriteRequest::Batch { batch: Arc::new(WriteBatch::new()), sync: false, disable_wal: false }
    }

    #[test]
    fn a_finished_group_leaves_results_for_its_members_only() {
        let mut queue = WriteQueue::default();
        let wakeup = Arc::new(Condvar::new());
        let leader = queue.push(batch_request(), Arc::clone(&wakeup));
        let member = queue.push(batch_request(), Arc::clone(&wakeup));
        let next = queue.push(WriteRequest::SyncWal, Arc::clone(&wakeup));
        assert!(queue.is_front(leader));

        queue.finish_group(2, &Ok(()));
        assert!(queue.is_front(next));
        assert_eq!(queue.len(), 1);
        assert!(queue.take_result(leader).is_none());
        assert!(matches!(queue.take_result(member), Some(Ok(()))));
        // A result is picked up once.
        assert!(queue.take_result(member).is_none());
    }

    #[test]
    fn ids_are_unique_and_entries_are_found_by_them() {
        let mut queue = WriteQueue::default();
        let wakeup = Arc::new(Condvar::new());
        let first = queue.push(WriteRequest::Barrier, Arc::clone(&wakeup));
        let second = queue.push(batch_request(), Arc::clone(&wakeup));
        assert_ne!(first, second);
        assert!(queue.find(second).is_some_and(|w| w.request.batch().is_some()));
        queue.pop_front();
        assert!(queue.find(first).is_none());
        assert!(queue.is_front(second));
    }

    #[test]
    fn the_last_parallel_insert_is_reported() {
        let mut queue = WriteQueue::default();
        queue.set_inserts_pending(2);
        assert!(!queue.insert_done());
        assert!(queue.insert_done());
        assert_eq!(queue.inserts_pending(), 0);
    }
}
