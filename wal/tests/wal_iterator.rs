//! WalIterator: starting points, both directions, whole batches, gaps and
//! tail following, against a Vec model of the operations written.

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

use std::path::{Path, PathBuf};
use std::sync::Arc;

use lsmkit_base::filename::log_file_name;
use lsmkit_base::fs::{FileSystem, MemFs, StdFs};
use lsmkit_base::key::ValueKind;
use lsmkit_base::Error;
use lsmkit_wal::{
    SyncPolicy, WalIoMode, WalIterator, WalIteratorOptions, WalOp, WalOptions, WalWriter, WriteBatch,
};
use proptest::prelude::*;

/// (sequence, kind, key, value) as the model remembers an operation.
type ModelOp = (u64, ValueKind, Vec<u8>, Vec<u8>);

struct Logs {
    fs: Arc<dyn FileSystem>,
    dir: PathBuf,
    writer: Option<WalWriter>,
    log_number: u64,
    next_sequence: u64,
    model: Vec<ModelOp>,
    /// (first sequence, count) of every batch written.
    batches: Vec<(u64, u32)>,
    options: WalOptions,
}

impl Logs {
    fn new(fs: Arc<dyn FileSystem>, dir: &Path, options: WalOptions) -> Logs {
        fs.create_dir_all(dir).unwrap();
        Logs {
            fs,
            dir: dir.to_path_buf(),
            writer: None,
            log_number: 2,
            next_sequence: 1,
            model: Vec::new(),
            batches: Vec::new(),
            options,
        }
    }

    fn roll(&mut self) {
        if let Some(mut w) = self.writer.take() {
            w.close().unwrap();
        }
        self.log_number += 1;
        let path = log_file_name(&self.dir, self.log_number);
        self.writer = Some(WalWriter::create(&*self.fs, &path, self.options).unwrap());
    }

    /// Writes a batch of `ops` operations derived from `seed`.
    fn write_batch(&mut self, ops: u32, seed: u64) {
        if self.writer.is_none() {
            self.roll();
        }
        let mut batch = WriteBatch::new();
        batch.set_sequence(self.next_sequence);
        for i in 0..ops {
            let sequence = self.next_sequence + u64::from(i);
            let key = format!("key{:04}", (seed * 7 + u64::from(i)) % 50).into_bytes();
            if (seed + u64::from(i)) % 4 == 0 {
                batch.delete(&key);
                self.model.push((sequence, ValueKind::Deletion, key, Vec::new()));
            } else {
                let value = vec![b'v'; ((seed * 13 + u64::from(i)) % 300) as usize];
                batch.put(&key, &value);
                self.model.push((sequence, ValueKind::Value, key, value));
            }
        }
        self.writer.as_mut().unwrap().add_batch(&batch).unwrap();
        self.batches.push((self.next_sequence, ops));
        self.next_sequence += u64::from(ops);
    }

    fn iter(&self, start: u64) -> Result<WalIterator, Error> {
        WalIterator::new(self.fs.clone(), &self.dir, start, WalIteratorOptions::default())
    }

    /// Index in the model of the first operation of the batch containing `sequence`.
    fn batch_start_index(&self, sequence: u64) -> usize {
        let (first, _) = *self
            .batches
            .iter()
            .find(|(first, count)| *first <= sequence && sequence < first + u64::from(*count))
            .expect("sequence was written");
        self.model.iter().position(|op| op.0 == first).unwrap()
    }
}

fn as_model(op: &WalOp) -> ModelOp {
    (op.sequence, op.kind, op.key.to_vec(), op.value.to_vec())
}

fn drain(iter: &mut WalIterator) -> Vec<ModelOp> {
    let mut out = Vec::new();
    while let Some(op) = iter.next_op() {
        out.push(as_model(&op.unwrap()));
    }
    out
}

fn mem_logs() -> Logs {
    Logs::new(Arc::new(MemFs::new()), Path::new("/db"), WalOptions::default())
}

#[test]
fn yields_from_the_batch_containing_the_start_across_files() {
    let mut logs = mem_logs();
    for i in 0..30 {
        if i % 7 == 0 {
            logs.roll();
        }
        logs.write_batch(1 + (i % 5) as u32, i);
    }
    let last = logs.next_sequence - 1;
    for start in [1, 2, 3, 10, 17, last] {
        let mut iter = logs.iter(start).unwrap();
        let from = logs.batch_start_index(start);
        assert_eq!(drain(&mut iter), logs.model[from..], "start {start}");
    }
}

#[test]
fn walks_backward_and_forward_again() {
    let mut logs = mem_logs();
    for i in 0..12 {
        if i % 4 == 0 {
            logs.roll();
        }
        logs.write_batch(3, i);
    }
    let mut iter = logs.iter(1).unwrap();
    let forward = drain(&mut iter);
    assert_eq!(forward, logs.model);
    let mut backward = Vec::new();
    while let Some(op) = iter.prev_op() {
        backward.push(as_model(&op.unwrap()));
    }
    backward.reverse();
    assert_eq!(backward, logs.model);
    assert_eq!(drain(&mut iter), logs.model);
}

#[test]
fn yields_whole_batches() {
    let mut logs = mem_logs();
    for i in 0..10 {
        if i % 3 == 0 {
            logs.roll();
        }
        logs.write_batch(1 + i as u32, i);
    }
    let mut iter = logs.iter(7).unwrap();
    let mut seen = Vec::new();
    while let Some(batch) = iter.next_batch() {
        let batch = batch.unwrap();
        seen.push((batch.batch.sequence(), batch.batch.count()));
    }
    let first = logs.batches.iter().position(|(s, c)| *s <= 7 && 7 < s + u64::from(*c)).unwrap();
    assert_eq!(seen, logs.batches[first..]);
    // Backward by batches, then one operation forward.
    let last = iter.prev_batch().unwrap().unwrap();
    assert_eq!(last.batch.sequence(), logs.batches.last().unwrap().0);
    let op = iter.next_op().unwrap().unwrap();
    assert_eq!(op.sequence, last.batch.sequence());
    // In the middle of a batch, prev_batch returns that batch.
    assert_eq!(iter.prev_batch().unwrap().unwrap().batch.sequence(), last.batch.sequence());
}

#[test]
fn a_start_older_than_every_log_is_a_gap() {
    let mut logs = mem_logs();
    logs.next_sequence = 100;
    logs.write_batch(2, 0);
    let err = logs.iter(50).err().expect("sequence 50 was never logged");
    assert!(err.to_string().contains("no longer in the WAL"), "{err}");
    // 100 and 101 are there; 102 and later are in the future, which is fine.
    assert_eq!(drain(&mut logs.iter(101).unwrap()).len(), 2);
    assert!(drain(&mut logs.iter(500).unwrap()).is_empty());
}

#[test]
fn non_contiguous_batches_are_a_gap_not_a_skip() {
    let mut logs = mem_logs();
    logs.write_batch(2, 0); // 1, 2
    logs.next_sequence += 3; // 3..=5 never logged (e.g. written with the WAL disabled)
    logs.write_batch(1, 1); // 6
    let mut iter = logs.iter(1).unwrap();
    assert_eq!(iter.next_op().unwrap().unwrap().sequence, 1);
    assert_eq!(iter.next_op().unwrap().unwrap().sequence, 2);
    let err = iter.next_op().unwrap().unwrap_err();
    assert!(err.to_string().contains("sequence 3 is missing"), "{err}");
    // Starting inside the hole is a gap too.
    let mut iter = logs.iter(4).unwrap();
    assert!(iter.next_op().unwrap().is_err());
}

#[test]
fn follows_the_tail_and_new_log_files() {
    let mut logs = mem_logs();
    logs.write_batch(2, 0);
    let mut iter = logs.iter(1).unwrap();
    assert_eq!(drain(&mut iter).len(), 2);
    assert!(iter.next_op().is_none());
    logs.write_batch(3, 1);
    assert_eq!(drain(&mut iter), logs.model[2..]);
    logs.roll();
    logs.write_batch(1, 2);
    logs.roll();
    logs.write_batch(2, 3);
    assert_eq!(drain(&mut iter), logs.model[5..]);
    // Everything is still reachable backward.
    let mut count = 0;
    while iter.prev_op().is_some() {
        count += 1;
    }
    assert_eq!(count, logs.model.len());
}

#[test]
fn waits_for_a_future_start_sequence() {
    let mut logs = mem_logs();
    logs.write_batch(2, 0); // 1, 2
    let mut iter = logs.iter(3).unwrap();
    assert!(iter.next_op().is_none());
    logs.write_batch(2, 1); // 3, 4
    assert_eq!(drain(&mut iter), logs.model[2..]);
}

#[test]
fn follows_an_mmap_log_on_a_real_file_system() {
    let dir = tempfile::tempdir().unwrap();
    let options =
        WalOptions { sync_policy: SyncPolicy::Os, io_mode: WalIoMode::Mmap { chunk_size: 64 * 1024 } };
    let mut logs = Logs::new(Arc::new(StdFs::new()), dir.path(), options);
    for i in 0..20 {
        logs.write_batch(5, i);
    }
    let mut iter = logs.iter(1).unwrap();
    assert_eq!(drain(&mut iter), logs.model);
    // The file still has its zero tail; more records land inside it.
    for i in 20..400 {
        logs.write_batch(5, i);
    }
    assert_eq!(drain(&mut iter), logs.model[100..]);
    logs.roll();
    logs.write_batch(1, 400);
    assert_eq!(drain(&mut iter), logs.model[2000..]);
}

#[test]
fn follows_a_preallocated_synced_log_on_a_real_file_system() {
    // Every write synced: the live log has preallocated zeros after its
    // records, which the iterator takes as the end for now; later records
    // overwrite them in place and are found on the next call.
    let dir = tempfile::tempdir().unwrap();
    let options = WalOptions { sync_policy: SyncPolicy::EveryWrite, io_mode: WalIoMode::Buffered };
    let mut logs = Logs::new(Arc::new(StdFs::new()), dir.path(), options);
    for i in 0..20 {
        logs.write_batch(5, i);
    }
    let writer = logs.writer.as_ref().unwrap();
    assert!(writer.allocated_len() > writer.file_len(), "the log has a zero tail");
    let mut iter = logs.iter(1).unwrap();
    assert_eq!(drain(&mut iter), logs.model);
    for i in 20..400 {
        logs.write_batch(5, i);
    }
    assert_eq!(drain(&mut iter), logs.model[100..]);
    // A copy of the open log, zero tail and all, as a crash leaves it.
    let live = logs.writer.as_ref().unwrap().path().to_path_buf();
    let copy = dir.path().join("copy");
    std::fs::create_dir(&copy).unwrap();
    std::fs::copy(&live, copy.join(live.file_name().unwrap())).unwrap();
    let mut crashed = WalIterator::new(
        Arc::new(StdFs::new()),
        &copy,
        1,
        WalIteratorOptions { follow_tail: false, ..WalIteratorOptions::default() },
    )
    .unwrap();
    assert_eq!(drain(&mut crashed), logs.model);
    logs.roll();
    logs.write_batch(1, 400);
    assert_eq!(drain(&mut iter), logs.model[2000..]);
}

#[derive(Debug, Clone)]
enum Step {
    Next,
    Prev,
    NextBatch,
    PrevBatch,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random cursor moves agree with a Vec model of the operations.
    #[test]
    fn cursor_matches_model(
        batch_sizes in proptest::collection::vec(1u32..6, 1..20),
        roll_every in 1usize..8,
        start_pick in any::<prop::sample::Index>(),
        steps in proptest::collection::vec(
            prop_oneof![Just(Step::Next), Just(Step::Prev), Just(Step::NextBatch), Just(Step::PrevBatch)], 1..80),
    ) {
        let mut logs = mem_logs();
        for (i, &size) in batch_sizes.iter().enumerate() {
            if i % roll_every == 0 {
                logs.roll();
            }
            logs.write_batch(size, i as u64);
        }
        let start = logs.model[start_pick.index(logs.model.len())].0;
        let base = logs.batch_start_index(start);
        let ops = &logs.model[base..];
        // Batch boundaries within `ops`, as indexes.
        let mut boundaries = vec![0];
        for (first, count) in &logs.batches {
            let end = (first + u64::from(*count)) as usize;
            if *first >= ops[0].0 { boundaries.push(end - ops[0].0 as usize); }
        }
        boundaries.dedup();
        let mut iter = logs.iter(start).unwrap();
        let mut cursor = 0usize; // index into ops of the next item
        for step in steps {
            match step {
                Step::Next => {
                    let got = iter.next_op().map(|r| as_model(&r.unwrap()));
                    prop_assert_eq!(got, ops.get(cursor).cloned());
                    if cursor < ops.len() { cursor += 1; }
                }
                Step::Prev => {
                    let got = iter.prev_op().map(|r| as_model(&r.unwrap()));
                    if cursor == 0 { prop_assert_eq!(got, None); } else {
                        cursor -= 1;
                        prop_assert_eq!(got, Some(ops[cursor].clone()));
                    }
                }
                Step::NextBatch => {
                    let got = iter.next_batch().map(|r| r.unwrap().batch.sequence());
                    // The batch the cursor is in (or at the start of).
                    let start_idx = *boundaries.iter().filter(|&&b| b <= cursor).max().unwrap();
                    if start_idx >= ops.len() { prop_assert_eq!(got, None); } else {
                        prop_assert_eq!(got, Some(ops[start_idx].0));
                        cursor = *boundaries.iter().find(|&&b| b > start_idx).unwrap();
                    }
                }
                Step::PrevBatch => {
                    let got = iter.prev_batch().map(|r| r.unwrap().batch.sequence());
                    if cursor == 0 { prop_assert_eq!(got, None); } else {
                        let start_idx = *boundaries.iter().filter(|&&b| b < cursor).max().unwrap();
                        prop_assert_eq!(got, Some(ops[start_idx].0));
                        cursor = start_idx;
                    }
                }
            }
        }
    }
}
