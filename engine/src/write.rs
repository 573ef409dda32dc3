//! The write path: a queue of writers with group commit.
//!
//! The writer at the front of the queue leads a group: it makes room (a new
//! memtable and WAL when the current one is full, waiting or slowing down
//! when level 0 or the immutable list is too large), takes the batches queued
//! behind it (up to LevelDB's group size cap), assigns their sequence
//! numbers, writes one WAL record for the whole group and syncs it at most
//! once. Then the memtable inserts: a small group's record is inserted by
//! the leader right after the WAL write (as LevelDB does), a large group's
//! members insert their own batches at the same time; the leader publishes
//! the new last sequence once all are in. A group of one logs its own batch
//! instead of a copy. Each queued writer waits on its own condition
//! variable and is woken only for its turn to insert, its result, or its
//! turn to lead.

use std::sync::{Arc, MutexGuard};
use std::time::{Duration, Instant};

use lsmkit_base::filename::log_file_name;
use lsmkit_base::key::{SequenceNumber, MAX_SEQUENCE_NUMBER};
use lsmkit_base::{Error, Result};
use lsmkit_memtable::Memtable;
use lsmkit_wal::{SyncPolicy, WalOptions, WalWriter, WriteBatch, WRITE_BATCH_HEADER_SIZE};

use crate::options::WriteOptions;
use crate::state::{DbShared, DbState, ImmutableMemtable};
use crate::write_queue::{with_thread_wakeup, QueuedWriter, WriteRequest, WriterStatus};

/// LevelDB's cap on the bytes of one write group (docs/format.md §4).
const MAX_GROUP_BYTES: usize = 1 << 20;
/// A group led by a small batch grows by at most this much.
const SMALL_BATCH_GROWTH: usize = 128 << 10;
/// Groups of at least this many bytes have their members insert their own
/// batches into the memtable in parallel; smaller ones are inserted by the
/// leader alone.
const PARALLEL_INSERT_MIN_BYTES: usize = 64 << 10;

/// Inserts every operation of `batch`, numbered from `sequence`, into `mem`.
pub(crate) fn insert_batch(mem: &Memtable, batch: &WriteBatch, sequence: SequenceNumber) -> Result<()> {
    for (i, op) in batch.ops().enumerate() {
        let op = op?;
        mem.add(sequence + i as u64, op.kind, op.key, op.value);
    }
    Ok(())
}

/// One write group, as its leader formed it from the front of the queue.
struct WriteGroup {
    /// Queued writers in the group, the leader first.
    len: usize,
    /// Sync the WAL before acknowledging (some member asked for it).
    sync: bool,
    /// Apply without logging (every member asked for that).
    disable_wal: bool,
    /// The sequence of the group's first operation.
    first_sequence: SequenceNumber,
    /// The sequence of its last operation: published once all are inserted.
    last_sequence: SequenceNumber,
    /// The members' operation bytes (batch headers left out), for stats.
    user_bytes: usize,
    /// The leader inserts every batch itself: the group is small enough
    /// that waking the members to insert their own would cost more than it
    /// saves.
    leader_inserts_all: bool,
    /// The memtable the group goes into.
    mem: Memtable,
}

impl DbShared {
    /// Writes `batch` after validating it: a malformed batch must not reach
    /// the WAL.
    pub(crate) fn write(&self, options: WriteOptions, batch: Arc<WriteBatch>) -> Result<()> {
        let merges_allowed = self.options.merge_operator.is_some();
        for op in batch.ops() {
            let op = op?;
            if op.kind == lsmkit_base::key::ValueKind::Merge && !merges_allowed {
                return Err(lsmkit_base::Error::InvalidArgument(
                    "the batch holds a merge operand, but the database was opened without \
                     Options::merge_operator"
                        .into(),
                ));
            }
            if op.kind == lsmkit_base::key::ValueKind::RangeDeletion {
                crate::range_del::check_range_deletion(&self.options, op.key, op.value)?;
            }
        }
        self.write_well_formed(options, batch)
    }

    /// [`DbShared::write`] for a batch known to be well formed (built by the
    /// engine through `WriteBatch::put`/`delete`, or already validated).
    pub(crate) fn write_well_formed(&self, options: WriteOptions, batch: Arc<WriteBatch>) -> Result<()> {
        self.queue_and_wait(WriteRequest::Batch {
            batch,
            sync: options.sync,
            disable_wal: options.disable_wal,
        })
    }

    /// Writes `batch` (well formed) only if no write is numbered after
    /// `if_last_sequence` before it; otherwise does nothing.
    pub(crate) fn write_if_unchanged(
        &self,
        batch: WriteBatch,
        if_last_sequence: SequenceNumber,
    ) -> Result<()> {
        self.queue_and_wait(WriteRequest::ConditionalBatch { batch: Arc::new(batch), if_last_sequence })
    }

    /// Switches the current memtable, if not empty, out for flushing, in
    /// order with the writes queued before.
    pub(crate) fn switch_memtable(&self) -> Result<()> {
        self.queue_and_wait(WriteRequest::SwitchMemtable)
    }

    /// Makes every acknowledged write durable: syncs the current WAL and
    /// any earlier one switched out unsynced. Queued like a write, so the
    /// WAL is not in a leader's hands meanwhile.
    pub(crate) fn sync_wal(&self) -> Result<()> {
        self.queue_and_wait(WriteRequest::SyncWal)
    }

    /// Queues `request` and waits until it is done: inserting its batch
    /// when its group's leader asks, picking up its result when the group
    /// finishes, or leading a group when it reaches the front.
    fn queue_and_wait(&self, request: WriteRequest) -> Result<()> {
        with_thread_wakeup(|wakeup| {
            let mut state = self.lock();
            let id = state.writers.push(request, Arc::clone(wakeup));
            loop {
                if let Some(front) = state.writers.front() {
                    if front.id == id && matches!(front.status, WriterStatus::Waiting) {
                        return self.lead(state);
                    }
                }
                if let Some(result) = state.writers.take_result(id) {
                    return result;
                }
                let insert = match state.writers.find(id) {
                    Some(QueuedWriter {
                        status: WriterStatus::Insert { sequence, mem }, request, ..
                    }) => Some((*sequence, mem.clone(), request.batch().cloned())),
                    _ => None,
                };
                if let Some((sequence, mem, batch)) = insert {
                    state = self.insert_member_batch(state, id, sequence, &mem, batch.as_deref());
                    continue;
                }
                state = self.wait(wakeup, state);
            }
        })
    }

    /// A member's part of a large group: inserts its own batch without the
    /// lock, then tells the leader when it was the last to finish.
    fn insert_member_batch<'a>(
        &'a self,
        state: MutexGuard<'a, DbState>,
        id: u64,
        sequence: SequenceNumber,
        mem: &Memtable,
        batch: Option<&WriteBatch>,
    ) -> MutexGuard<'a, DbState> {
        drop(state);
        let result = batch.map_or(Ok(()), |b| insert_batch(mem, b, sequence));
        let mut state = self.lock();
        if let Err(e) = result {
            self.record_background_error(&mut state, e);
        }
        if let Some(w) = state.writers.find_mut(id) {
            w.status = WriterStatus::Inserted;
        }
        if state.writers.insert_done() {
            // The leader, still at the front, waits for the last insert.
            state.writers.wake_front();
        }
        state
    }

    /// Carries out the request at the front of the queue, whose owner is
    /// the caller.
    fn lead<'a>(&'a self, mut state: MutexGuard<'a, DbState>) -> Result<()> {
        let Some(front) = state.writers.front() else {
            return Err(Error::InvalidArgument("the write queue is empty".into()));
        };
        match front.request {
            WriteRequest::Batch { .. } => self.commit_group(state),
            WriteRequest::ConditionalBatch { ref batch, if_last_sequence } => {
                let (id, batch) = (front.id, Arc::clone(batch));
                self.lead_conditional(state, id, batch, if_last_sequence)
            }
            WriteRequest::SyncWal => {
                let (result, mut state) = self.sync_all_wals(state);
                state.writers.pop_front();
                result
            }
            WriteRequest::SwitchMemtable => {
                let (result, mut state) = self.make_room_for_write(state, true);
                state.writers.pop_front();
                result
            }
            // Reaching the front is all a barrier waits for.
            WriteRequest::Barrier => {
                state.writers.pop_front();
                Ok(())
            }
        }
    }

    /// Leads a [`WriteRequest::ConditionalBatch`] (writer `id`): drops it if
    /// a write was numbered after `if_last_sequence`, else leads it as a
    /// batch. Kept out of [`lead`](Self::lead), which every write runs.
    #[cold]
    #[inline(never)]
    fn lead_conditional<'a>(
        &'a self,
        mut state: MutexGuard<'a, DbState>,
        id: u64,
        batch: Arc<WriteBatch>,
        if_last_sequence: SequenceNumber,
    ) -> Result<()> {
        if state.versions.last_sequence() != if_last_sequence {
            // Something was written since: the batch may be stale.
            state.writers.pop_front();
            return Ok(());
        }
        // Nothing can be numbered before it now: lead it as a batch.
        if let Some(writer) = state.writers.find_mut(id) {
            writer.request = WriteRequest::Batch { batch, sync: false, disable_wal: false };
        }
        self.commit_group(state)
    }

    /// Leads a write group: makes room, forms the group, logs it, has it
    /// inserted and publishes it.
    fn commit_group<'a>(&'a self, state: MutexGuard<'a, DbState>) -> Result<()> {
        let (room, mut state) = self.make_room_for_write(state, false);
        if let Err(e) = room {
            state.writers.pop_front();
            return Err(e);
        }
        let Some(group) = self.form_group(&state) else {
            state.writers.pop_front();
            return Err(Error::InvalidArgument("the write queue's front holds no batch".into()));
        };
        if group.last_sequence > MAX_SEQUENCE_NUMBER {
            // Every sequence number is used (a log replayed from elsewhere
            // may have reached the end): nothing more can be numbered.
            let result = Err(Error::InvalidArgument(format!(
                "sequence numbers are exhausted: the last one used is {}, the largest is {MAX_SEQUENCE_NUMBER}",
                group.first_sequence - 1
            )));
            state.writers.finish_group(group.len, &result);
            return result;
        }
        let (logged, mut state) = self.log_group(state, &group);
        let leader_insert = match logged {
            Ok(leader_insert) => leader_insert,
            Err(e) => {
                // The log may now hold part of a record: nothing more may be
                // appended to it, and the group's writes must not be applied.
                self.record_background_error(&mut state, e.clone());
                let result = Err(e);
                state.writers.finish_group(group.len, &result);
                return result;
            }
        };
        let (insert_result, mut state) = match leader_insert {
            Some(result) => (result, state),
            None => self.insert_in_parallel(state, &group),
        };
        if let Err(e) = &insert_result {
            self.record_background_error(&mut state, e.clone());
        }
        self.set_last_sequence(&mut state, group.last_sequence);
        state.stats.user_bytes_written += group.user_bytes as u64;
        // Members whose batches the leader inserted share its result; those
        // that inserted their own reported any failure themselves.
        let members_result = if group.leader_inserts_all { insert_result.clone() } else { Ok(()) };
        state.writers.finish_group(group.len, &members_result);
        insert_result
    }

    /// Takes the batches queued behind the leader into its group (up to
    /// LevelDB's size cap, stopping at a request that is not a compatible
    /// batch) and assigns the group its sequence numbers.
    fn form_group(&self, state: &DbState) -> Option<WriteGroup> {
        let mut writers = state.writers.iter();
        let Some(WriteRequest::Batch { batch: leader_batch, sync: leader_sync, disable_wal }) =
            writers.next().map(|w| &w.request)
        else {
            return None;
        };
        let (leader_sync, disable_wal) = (*leader_sync, *disable_wal);
        let first_size = leader_batch.approximate_size();
        let max_size =
            if first_size <= SMALL_BATCH_GROWTH { first_size + SMALL_BATCH_GROWTH } else { MAX_GROUP_BYTES };
        let mut len = 1;
        let mut size = first_size;
        let mut sync = leader_sync;
        let mut count = u64::from(leader_batch.count());
        let mut user_bytes = first_size.saturating_sub(WRITE_BATCH_HEADER_SIZE);
        for w in writers {
            let WriteRequest::Batch { batch, sync: member_sync, disable_wal: member_disable_wal } =
                &w.request
            else {
                break;
            };
            if *member_disable_wal != disable_wal || (*member_sync && !leader_sync) {
                break;
            }
            if size + batch.approximate_size() > max_size {
                break;
            }
            size += batch.approximate_size();
            sync |= member_sync;
            count += u64::from(batch.count());
            user_bytes += batch.approximate_size().saturating_sub(WRITE_BATCH_HEADER_SIZE);
            len += 1;
        }
        let first_sequence = state.versions.last_sequence().saturating_add(1);
        Some(WriteGroup {
            len,
            sync,
            disable_wal,
            first_sequence,
            last_sequence: first_sequence.saturating_add(count) - 1,
            user_bytes,
            // Small groups are inserted by the leader alone, as LevelDB
            // does: waking every member to insert a few hundred bytes costs
            // more context switches than the inserts save.
            leader_inserts_all: len == 1 || size < PARALLEL_INSERT_MIN_BYTES,
            mem: state.mem.clone(),
        })
    }

    /// Writes the group's WAL record (and syncs it when asked) without the
    /// lock: only the leader touches the WAL, and it stays the leader until
    /// it pops. When the leader inserts alone it does so right after the
    /// WAL write, before locking again, and the insert's result is returned
    /// as `Some`. An error is the WAL's.
    fn log_group<'a>(
        &'a self,
        mut state: MutexGuard<'a, DbState>,
        group: &WriteGroup,
    ) -> (Result<Option<Result<()>>>, MutexGuard<'a, DbState>) {
        if group.disable_wal && !group.leader_inserts_all {
            return (Ok(None), state);
        }
        // The group's record holds every member's batch, numbered from
        // `first_sequence`: inserting it is inserting all of them.
        let record = self.group_record(&mut state, group.len, group.first_sequence);
        if group.disable_wal {
            drop(state);
            let inserted = insert_batch(&group.mem, &record, group.first_sequence);
            let mut state = self.lock();
            self.return_group_record(&mut state, record);
            return (Ok(Some(inserted)), state);
        }
        let mut wal = state.wal.take();
        let needs_dir_sync = group.sync && !state.wal_dir_synced;
        let mut earlier_wals = if group.sync { std::mem::take(&mut state.unsynced_wals) } else { Vec::new() };
        drop(state);
        let logged = match wal.as_mut() {
            None => Err(Error::InvalidArgument("the database has no open WAL".into())),
            Some(wal) => {
                let mut result = wal.add_batch(&record);
                if result.is_ok() && group.sync {
                    result = self.sync_logs(&mut earlier_wals, Some(wal), needs_dir_sync);
                }
                result
            }
        };
        let leader_insert = match &logged {
            Ok(()) if group.leader_inserts_all => {
                Some(insert_batch(&group.mem, &record, group.first_sequence))
            }
            _ => None,
        };
        let mut state = self.lock();
        state.wal = wal;
        if logged.is_ok() {
            if needs_dir_sync {
                state.wal_dir_synced = true;
            }
            state.stats.wal_bytes_written += record.data().len() as u64;
        }
        self.return_group_record(&mut state, record);
        (logged.map(|()| leader_insert), state)
    }

    /// A large group's inserts: every member inserts its own batch while the
    /// leader inserts its own; returns the leader's result once all are in.
    fn insert_in_parallel<'a>(
        &'a self,
        mut state: MutexGuard<'a, DbState>,
        group: &WriteGroup,
    ) -> (Result<()>, MutexGuard<'a, DbState>) {
        let mut next = group.first_sequence;
        let mut leader_batch = None;
        for (i, w) in state.writers.iter_mut().enumerate().take(group.len) {
            let batch = w.request.batch().cloned();
            let count = u64::from(batch.as_ref().map_or(0, |b| b.count()));
            if i == 0 {
                leader_batch = batch;
            } else {
                w.status = WriterStatus::Insert { sequence: next, mem: group.mem.clone() };
                w.wakeup.notify_one();
            }
            next += count;
        }
        state.writers.set_inserts_pending(group.len - 1);
        drop(state);
        let result = leader_batch.map_or(Ok(()), |b| insert_batch(&group.mem, &b, group.first_sequence));
        let mut state = self.lock();
        if state.writers.inserts_pending() > 0 {
            let leader_wakeup = state.writers.front().map(|w| Arc::clone(&w.wakeup));
            if let Some(leader_wakeup) = leader_wakeup {
                while state.writers.inserts_pending() > 0 {
                    state = self.wait(&leader_wakeup, state);
                }
            }
        }
        (result, state)
    }

    /// Syncs every WAL that may hold an unsynced acknowledged write (the
    /// earlier ones first), and the directory when a new WAL's entry is not
    /// yet durable, without the lock. The caller leads the writer queue, so
    /// no group writes meanwhile.
    fn sync_all_wals<'a>(
        &'a self,
        mut state: MutexGuard<'a, DbState>,
    ) -> (Result<()>, MutexGuard<'a, DbState>) {
        if let Some(e) = &state.bg_error {
            return (Err(e.clone()), state);
        }
        let mut wal = state.wal.take();
        let mut earlier_wals = std::mem::take(&mut state.unsynced_wals);
        let needs_dir_sync = !state.wal_dir_synced;
        drop(state);
        let result = self.sync_logs(&mut earlier_wals, wal.as_mut(), needs_dir_sync);
        let mut state = self.lock();
        state.wal = wal;
        match &result {
            Ok(()) => {
                if needs_dir_sync {
                    state.wal_dir_synced = true;
                }
            }
            Err(e) => self.record_background_error(&mut state, e.clone()),
        }
        (result, state)
    }

    /// Makes every logged write durable, in order: each earlier WAL switched
    /// out unsynced (synced, then closed), the current WAL, and the
    /// directory when a new WAL's entry is not yet durable. Stops at the
    /// first error, leaving what follows unsynced (the caller records the
    /// error, which stops all writes). Called without the lock by the leader
    /// of the writer queue.
    fn sync_logs(
        &self,
        earlier_wals: &mut Vec<(u64, WalWriter)>,
        wal: Option<&mut WalWriter>,
        needs_dir_sync: bool,
    ) -> Result<()> {
        for (_, earlier) in earlier_wals.iter_mut() {
            earlier.sync()?;
            let _ = earlier.close();
        }
        earlier_wals.clear();
        if let Some(wal) = wal {
            wal.sync()?;
        }
        if needs_dir_sync {
            self.fs.sync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// The WAL record of the group of `group_len` writers at the front of
    /// the queue, numbered from `first_sequence`: their batches one after
    /// the other, in a buffer reused from group to group (LevelDB's
    /// `tmp_batch_`), so that logging a group allocates nothing. A group of
    /// one is copied too, since its caller may keep a handle on its batch.
    /// Hand the record back with [`DbShared::return_group_record`].
    fn group_record(
        &self,
        state: &mut DbState,
        group_len: usize,
        first_sequence: SequenceNumber,
    ) -> WriteBatch {
        let mut record = state.group_record.take().unwrap_or_default();
        record.clear();
        for w in state.writers.iter().take(group_len) {
            if let Some(b) = w.request.batch() {
                record.append(b);
            }
        }
        record.set_sequence(first_sequence);
        record
    }

    /// Keeps `record`'s buffer for the next group, unless it grew past the
    /// cap on a group's size (a single huge batch).
    fn return_group_record(&self, state: &mut DbState, record: WriteBatch) {
        if record.approximate_size() <= MAX_GROUP_BYTES {
            state.group_record = Some(record);
        }
    }

    /// LevelDB's MakeRoomForWrite: returns once the memtable has room (or,
    /// with `force`, once the current memtable, if not empty, has been
    /// switched out for flushing).
    pub(crate) fn make_room_for_write<'a>(
        &'a self,
        mut state: MutexGuard<'a, DbState>,
        mut force: bool,
    ) -> (Result<()>, MutexGuard<'a, DbState>) {
        let mut allow_delay = !force;
        loop {
            if let Some(e) = &state.bg_error {
                return (Err(e.clone()), state);
            }
            if self.is_shutting_down() {
                return (Err(Error::Closed), state);
            }
            let level0_files = state.versions.num_level_files(0);
            if allow_delay && level0_files >= self.options.l0_slowdown_trigger {
                // Spread the pain: delay each write by 1 ms once, instead of
                // stopping for seconds when the stop trigger is reached.
                drop(state);
                let started = Instant::now();
                std::thread::sleep(Duration::from_millis(1));
                state = self.lock();
                state.stats.slowdowns += 1;
                state.stats.stall_micros += started.elapsed().as_micros() as u64;
                allow_delay = false;
                continue;
            }
            if !force && state.mem.write_buffer_charge() <= self.options.write_buffer_size {
                return (Ok(()), state);
            }
            if force && state.mem.is_empty() {
                return (Ok(()), state);
            }
            if state.imms.len() >= self.options.max_immutable_memtables
                || level0_files >= self.options.l0_stop_trigger
            {
                let started = Instant::now();
                state.stats.stops += 1;
                self.work_cv.notify_all();
                state = self.wait(&self.progress_cv, state);
                state.stats.stall_micros += started.elapsed().as_micros() as u64;
                continue;
            }
            // Switch to a new memtable and WAL.
            let log_number = state.versions.new_file_number();
            let path = log_file_name(&self.dir, log_number);
            let wal_options =
                WalOptions { sync_policy: self.options.wal_sync_policy, io_mode: self.options.wal_io_mode };
            let new_wal = match WalWriter::create(&*self.fs, &path, wal_options) {
                Ok(w) => w,
                Err(e) => {
                    state.versions.reuse_file_number(log_number);
                    return (Err(e), state);
                }
            };
            let old_log_number = state.mem_log_number;
            if let Some(mut old) = state.wal.replace(new_wal) {
                // Until the full memtable is flushed the old WAL is its writes'
                // only copy, and a synced write (or `sync_wal`) in the new WAL
                // promises that every write before it survives: the old WAL's
                // unsynced tail must be durable before any later sync returns.
                // With the default policy that sync is deferred to the next
                // synced write (which syncs `unsynced_wals` first) and skipped
                // if the memtable is flushed before one comes, so a memtable
                // switch costs no sync (LevelDB closes the old log without
                // one, leaving a hole after a crash). With a sync policy the
                // tail is synced now, under the lock, so `sync_wal` cannot
                // return before it.
                if old.synced_len() < old.file_len() && self.options.wal_sync_policy == SyncPolicy::Os {
                    state.unsynced_wals.push((old_log_number, old));
                } else {
                    let synced = if old.synced_len() < old.file_len() { old.sync() } else { Ok(()) };
                    if let Err(e) = synced.and_then(|()| old.close()) {
                        self.record_background_error(&mut state, e.clone());
                        return (Err(e), state);
                    }
                }
            }
            state.wal_dir_synced = self.options.wal_sync_policy != SyncPolicy::Os;
            let full = std::mem::replace(&mut state.mem, Memtable::new(self.icmp.clone()));
            let full_log = std::mem::replace(&mut state.mem_log_number, log_number);
            state.imms.push_back(ImmutableMemtable { mem: full, log_number: full_log });
            self.publish_super_version(&state);
            force = false;
            self.work_cv.notify_all();
        }
    }
}
