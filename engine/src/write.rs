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

use std::sync::Arc;
use std::time::{Duration, Instant};

use lsmkit_base::filename::log_file_name;
use lsmkit_base::key::SequenceNumber;
use lsmkit_base::{Error, Result};
use lsmkit_memtable::Memtable;
use lsmkit_wal::{SyncPolicy, WalOptions, WalWriter, WriteBatch};

use crate::options::WriteOptions;
use crate::state::{thread_wakeup, DbShared, DbState, ImmutableMemtable, QueuedWriter, WriterStatus};

/// LevelDB's cap on the bytes of one write group (FORMAT.md §4).
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

impl DbShared {
    /// Writes `batch` (or, with `None`, switches to a new memtable so the
    /// current one gets flushed). The batch is validated first: a malformed
    /// batch must not reach the WAL.
    pub(crate) fn write(&self, options: WriteOptions, batch: Option<Arc<WriteBatch>>) -> Result<()> {
        if let Some(b) = &batch {
            for op in b.ops() {
                op?;
            }
        }
        self.write_well_formed(options, batch)
    }

    /// [`DbShared::write`] for a batch known to be well formed (built by the
    /// engine through `WriteBatch::put`/`delete`, or already validated).
    pub(crate) fn write_well_formed(
        &self,
        options: WriteOptions,
        batch: Option<Arc<WriteBatch>>,
    ) -> Result<()> {
        self.queue_and_wait(QueuedWriter {
            id: 0,
            batch,
            sync: options.sync,
            disable_wal: options.disable_wal,
            sync_only: false,
            status: WriterStatus::Waiting,
            wakeup: thread_wakeup(),
        })
    }

    /// Makes every acknowledged write durable: syncs the current WAL and
    /// any earlier one switched out unsynced. Queued like a write, so the
    /// WAL is not in a leader's hands meanwhile.
    pub(crate) fn sync_wal(&self) -> Result<()> {
        self.queue_and_wait(QueuedWriter {
            id: 0,
            batch: None,
            sync: true,
            disable_wal: false,
            sync_only: true,
            status: WriterStatus::Waiting,
            wakeup: thread_wakeup(),
        })
    }

    /// Queues `writer` (its id is assigned here) and waits until its group
    /// is done, leading a group when it reaches the front.
    fn queue_and_wait(&self, mut writer: QueuedWriter) -> Result<()> {
        let mut state = self.lock();
        let id = state.next_writer_id;
        state.next_writer_id += 1;
        writer.id = id;
        let wakeup = Arc::clone(&writer.wakeup);
        state.writers.push_back(writer);
        loop {
            if let Some(result) = state.finished_writers.remove(&id) {
                return result;
            }
            let position = state.writers.iter().position(|w| w.id == id);
            if let Some(pos) = position {
                if let WriterStatus::Insert { sequence, mem } = &state.writers[pos].status {
                    let (sequence, mem) = (*sequence, mem.clone());
                    let batch = state.writers[pos].batch.clone();
                    drop(state);
                    let result = match &batch {
                        Some(b) => insert_batch(&mem, b, sequence),
                        None => Ok(()),
                    };
                    state = self.lock();
                    if let Err(e) = result {
                        self.record_background_error(&mut state, e);
                    }
                    if let Some(w) = state.writers.iter_mut().find(|w| w.id == id) {
                        w.status = WriterStatus::Inserted;
                    }
                    state.group_inserts_pending -= 1;
                    if state.group_inserts_pending == 0 {
                        // The leader, still at the front, waits for the last insert.
                        state.wake_front_writer();
                    }
                    continue;
                }
                if pos == 0 && matches!(state.writers[0].status, WriterStatus::Waiting) {
                    return self.lead_group(state);
                }
            }
            state = self.wait(&wakeup, state);
        }
    }

    /// Runs the group led by the writer at the front of the queue.
    fn lead_group<'a>(&'a self, mut state: std::sync::MutexGuard<'a, DbState>) -> Result<()> {
        if state.writers[0].sync_only {
            let (result, mut state) = self.sync_all_wals(state);
            state.writers.pop_front();
            state.wake_front_writer();
            return result;
        }
        let force_switch = state.writers[0].batch.is_none();
        let (room, guard) = self.make_room_for_write(state, force_switch);
        state = guard;
        if let Err(e) = room {
            state.writers.pop_front();
            state.wake_front_writer();
            return Err(e);
        }
        if force_switch {
            state.writers.pop_front();
            state.wake_front_writer();
            return Ok(());
        }

        // Build the group.
        let leader_sync = state.writers[0].sync;
        let disable_wal = state.writers[0].disable_wal;
        let first_size = state.writers[0].batch.as_ref().map_or(0, |b| b.approximate_size());
        let max_size =
            if first_size <= SMALL_BATCH_GROWTH { first_size + SMALL_BATCH_GROWTH } else { MAX_GROUP_BYTES };
        let mut group_len = 1;
        let mut group_size = first_size;
        let mut sync = leader_sync;
        for w in state.writers.iter().skip(1) {
            let Some(b) = &w.batch else { break };
            if w.disable_wal != disable_wal || (w.sync && !leader_sync) {
                break;
            }
            if group_size + b.approximate_size() > max_size {
                break;
            }
            group_size += b.approximate_size();
            sync |= w.sync;
            group_len += 1;
        }
        let first_sequence = state.versions.last_sequence() + 1;
        let last_sequence = state
            .writers
            .iter()
            .take(group_len)
            .fold(first_sequence, |next, w| next + u64::from(w.batch.as_ref().map_or(0, |b| b.count())))
            - 1;
        let mem = state.mem.clone();
        let user_bytes: usize = state
            .writers
            .iter()
            .take(group_len)
            .map(|w| w.batch.as_ref().map_or(0, |b| b.approximate_size().saturating_sub(12)))
            .sum();
        let solo = group_len == 1;
        // Small groups are inserted by the leader alone, as LevelDB does:
        // waking every member to insert a few hundred bytes costs more
        // context switches than the inserts save. Large groups insert in
        // parallel, each member its own batch.
        let leader_inserts_all = solo || group_size < PARALLEL_INSERT_MIN_BYTES;

        // One WAL record for the group, written without the lock: only the
        // leader touches the WAL, and it stays the leader until it pops.
        let mut wal_result = Ok(());
        // The leader inserts the whole record right after the WAL write,
        // before locking again, when it inserts alone (`leader_inserts_all`).
        let mut solo_insert = None;
        if !disable_wal {
            let record = self.group_record(&mut state, group_len, first_sequence);
            let mut wal = state.wal.take();
            let needs_dir_sync = sync && !state.wal_dir_synced;
            let mut earlier_wals = if sync { std::mem::take(&mut state.unsynced_wals) } else { Vec::new() };
            drop(state);
            wal_result = match wal.as_mut() {
                None => Err(Error::InvalidArgument("the database has no open WAL".into())),
                Some(wal) => {
                    let mut result = wal.add_batch(&record);
                    if result.is_ok() && sync {
                        result = self.sync_logs(&mut earlier_wals, Some(wal), needs_dir_sync);
                    }
                    result
                }
            };
            // The group's record holds every member's batch, numbered from
            // `first_sequence`: inserting it is inserting all of them.
            if leader_inserts_all && wal_result.is_ok() {
                solo_insert = Some(insert_batch(&mem, &record, first_sequence));
            }
            state = self.lock();
            state.wal = wal;
            if wal_result.is_ok() {
                if needs_dir_sync {
                    state.wal_dir_synced = true;
                }
                state.stats.wal_bytes_written += record.data().len() as u64;
            }
        }
        if let Err(e) = wal_result {
            // The log may now hold part of a record: nothing more may be
            // appended to it, and the group's writes must not be applied.
            self.record_background_error(&mut state, e.clone());
            let leader_id = state.writers[0].id;
            for _ in 0..group_len {
                if let Some(w) = state.writers.pop_front() {
                    if w.id != leader_id {
                        state.finished_writers.insert(w.id, Err(e.clone()));
                        w.wakeup.notify_one();
                    }
                }
            }
            state.wake_front_writer();
            return Err(e);
        }

        let leader_id = state.writers[0].id;
        let insert_result = match solo_insert {
            Some(result) => result,
            None => {
                // Insert: followers in parallel with the leader.
                let mut next = first_sequence;
                for (i, w) in state.writers.iter_mut().enumerate().take(group_len) {
                    let count = u64::from(w.batch.as_ref().map_or(0, |b| b.count()));
                    if i > 0 {
                        w.status = WriterStatus::Insert { sequence: next, mem: mem.clone() };
                        w.wakeup.notify_one();
                    }
                    next += count;
                }
                state.group_inserts_pending = group_len - 1;
                let leader_batch = state.writers[0].batch.clone();
                drop(state);
                let result = match &leader_batch {
                    Some(b) => insert_batch(&mem, b, first_sequence),
                    None => Ok(()),
                };
                state = self.lock();
                let leader_wakeup = Arc::clone(&state.writers[0].wakeup);
                while state.group_inserts_pending > 0 {
                    state = self.wait(&leader_wakeup, state);
                }
                result
            }
        };
        if let Err(e) = &insert_result {
            self.record_background_error(&mut state, e.clone());
        }
        self.set_last_sequence(&mut state, last_sequence);
        state.stats.user_bytes_written += user_bytes as u64;
        for _ in 0..group_len {
            if let Some(w) = state.writers.pop_front() {
                if w.id != leader_id {
                    state.finished_writers.insert(w.id, Ok(()));
                    w.wakeup.notify_one();
                }
            }
        }
        // The next writer in the queue leads the next group.
        state.wake_front_writer();
        insert_result
    }

    /// Syncs every WAL that may hold an unsynced acknowledged write (the
    /// earlier ones first), and the directory when a new WAL's entry is not
    /// yet durable, without the lock. The caller leads the writer queue, so
    /// no group writes meanwhile.
    fn sync_all_wals<'a>(
        &'a self,
        mut state: std::sync::MutexGuard<'a, DbState>,
    ) -> (Result<()>, std::sync::MutexGuard<'a, DbState>) {
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

    /// The WAL record of the group of `group_len` writers at the front of the
    /// queue, numbered from `first_sequence`. A group of one logs its own
    /// batch, given its sequence in place (LevelDB does the same); a larger
    /// group's batches are concatenated into a new one.
    fn group_record(
        &self,
        state: &mut DbState,
        group_len: usize,
        first_sequence: SequenceNumber,
    ) -> Arc<WriteBatch> {
        if group_len == 1 {
            if let Some(batch) = state.writers[0].batch.as_mut() {
                // Only the writer's queue entry holds its batch before the
                // group's inserts begin; should another handle exist, the
                // batch is copied instead of changed.
                if let Some(own) = Arc::get_mut(batch) {
                    own.set_sequence(first_sequence);
                    return Arc::clone(batch);
                }
            }
        }
        let mut record = WriteBatch::new();
        for w in state.writers.iter().take(group_len) {
            if let Some(b) = &w.batch {
                record.append(b);
            }
        }
        record.set_sequence(first_sequence);
        Arc::new(record)
    }

    /// LevelDB's MakeRoomForWrite: returns once the memtable has room (or,
    /// with `force`, once the current memtable, if not empty, has been
    /// switched out for flushing).
    pub(crate) fn make_room_for_write<'a>(
        &'a self,
        mut state: std::sync::MutexGuard<'a, DbState>,
        mut force: bool,
    ) -> (Result<()>, std::sync::MutexGuard<'a, DbState>) {
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
