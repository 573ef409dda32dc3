//! The `ops_vs_model` fuzz check, shared by the cargo-fuzz target
//! (`engine/fuzz/fuzz_targets/ops_vs_model.rs`) and the regression test that
//! replays saved inputs (`engine/tests/fuzz_regressions.rs`).
//!
//! The input bytes are decoded into a bounded sequence of engine operations
//! — puts, deletes, write batches, point reads, forward and backward scans,
//! cursor walks from a seek, snapshots taken, released and read at, manual
//! flushes, `compact_range` with bounds, and close + reopen — which run
//! against a database on a `MemFs` with the smallest write buffer (so
//! flushes and compactions really happen) and against a `BTreeMap` model
//! (with a copy per live snapshot). Range deletions (`delete_range`) are
//! among the operations when the configuration turns them on. Every read must match the model of the
//! view it reads; any error or difference panics, which is the fuzz
//! failure. Keys come from a small alphabet so that writes overwrite and
//! delete each other.
//!
//! Input layout: byte 0 chooses the configuration (bit 0 size-tiered
//! compaction, bit 1 `paranoid_checks`, bit 2 no compression, bit 3 a
//! string-append merge operator: opcode 2 then merges instead of putting,
//! and a quarter of batch puts become merges; bit 4 range deletions: opcode
//! 3 then deletes the range between two targets instead of one key, and
//! batch deletes of a key whose byte is 4 mod 8 delete from it to a target);
//! then each
//! operation is an opcode byte followed by its argument bytes. Missing
//! argument bytes read as zero; decoding stops at the end of the input or
//! after `MAX_OPS` operations.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use lsmkit::{
    CompactionStyle, Db, FlushOptions, Options, ReadOptions, Snapshot, StringAppendOperator, TieredOptions,
    WriteBatch, WriteOptions,
};
use lsmkit_base::fs::{FileSystem, MemFs};

/// Operations decoded from one input, at most (keeps executions fast).
pub const MAX_OPS: usize = 200;
/// Snapshots live at once, at most (the oldest is released first).
const MAX_SNAPSHOTS: usize = 4;
/// Operations in one write batch, at most.
const MAX_BATCH_OPS: usize = 8;
/// Cursor moves of one walk, at most.
const MAX_WALK_MOVES: usize = 12;
/// Where the database lives on the in-memory file system.
const DB_DIR: &str = "/fuzzdb";

/// The key alphabet: small, so that writes collide; with the empty key,
/// keys that are prefixes of others and `0xff` bytes.
const KEYS: [&[u8]; 16] = [
    b"",
    b"a",
    b"a0",
    b"a1",
    b"a10",
    b"a2",
    b"b",
    b"b0",
    b"b1",
    b"c",
    b"c\x00",
    b"d",
    b"m",
    b"z",
    b"\xff",
    b"\xff\xff",
];

/// Seek targets and range bounds besides the keys: strings between and
/// around them.
const EXTRA_TARGETS: [&[u8]; 6] = [b"a00", b"a11", b"bb", b"e", b"\xfe", b"\xff\xff\xff"];

/// A model of one database view: key → value.
type Model = BTreeMap<Vec<u8>, Vec<u8>>;

/// Reads input bytes one at a time; past the end it yields zeros.
struct ByteReader<'a> {
    data: &'a [u8],
}

impl ByteReader<'_> {
    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    fn key(&mut self) -> usize {
        usize::from(self.byte()) % KEYS.len()
    }

    /// A seek target or bound: one of the keys or of the extra targets.
    fn target(&mut self) -> Vec<u8> {
        let i = usize::from(self.byte()) % (KEYS.len() + EXTRA_TARGETS.len());
        KEYS.get(i).copied().unwrap_or_else(|| EXTRA_TARGETS[i - KEYS.len()]).to_vec()
    }

    /// A value length: mostly short, sometimes several KiB, so that the
    /// 64 KiB write buffer fills within a few dozen operations.
    fn value_len(&mut self) -> usize {
        let b = usize::from(self.byte());
        if b < 192 {
            b % 48
        } else {
            (b - 191) * 128
        }
    }

    /// A read view: the latest state, or a live snapshot (index modulo their number).
    fn view(&mut self) -> View {
        let b = self.byte();
        if b & 1 == 0 {
            View::Latest
        } else {
            View::Snapshot(usize::from(b >> 1))
        }
    }
}

/// Where a read looks.
#[derive(Debug, Clone, Copy)]
enum View {
    Latest,
    Snapshot(usize),
}

/// The value written by operation `step` for `key`: a header that makes it
/// unique, then filler up to `len` bytes (empty when `len` is 0).
fn make_value(step: usize, key: usize, len: usize) -> Vec<u8> {
    if len == 0 {
        return Vec::new();
    }
    let mut value = format!("s{step}k{key}:").into_bytes();
    let filler = (step as u8).wrapping_mul(31).wrapping_add(key as u8);
    while value.len() < len {
        value.push(filler.wrapping_add(value.len() as u8));
    }
    value.truncate(len);
    value
}

fn show(bytes: &[u8]) -> String {
    bytes[..bytes.len().min(24)].escape_ascii().to_string()
}

/// The database, its options, and the model of its latest state and of
/// each live snapshot.
struct Harness {
    options: Options,
    db: Option<Db>,
    model: Model,
    snapshots: Vec<(Snapshot, Model)>,
}

impl Harness {
    fn new(config: u8) -> Harness {
        let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
        let options = Options {
            create_if_missing: true,
            paranoid_checks: config & 2 != 0,
            fs,
            write_buffer_size: 64 << 10,
            block_size: 1024,
            l0_compaction_trigger: 2,
            compaction_style: if config & 1 != 0 {
                CompactionStyle::Tiered(TieredOptions { run_count_trigger: 3, ..TieredOptions::default() })
            } else {
                CompactionStyle::Leveled
            },
            compression: if config & 4 != 0 {
                lsmkit_sstable::Compression::None
            } else {
                lsmkit_sstable::Compression::Snappy
            },
            block_cache_capacity: 64 << 10,
            merge_operator: (config & 8 != 0).then(|| Arc::new(StringAppendOperator::new(b",")) as _),
            // Gets of chains longer than 3 operands write the value back.
            max_merge_chain_length: 3,
            range_deletions: config & 16 != 0,
            ..Options::default()
        };
        let db = Db::open(DB_DIR, options.clone()).unwrap_or_else(|e| panic!("create: {e}"));
        Harness { options, db: Some(db), model: Model::new(), snapshots: Vec::new() }
    }

    fn db(&self) -> &Db {
        self.db.as_ref().expect("the database is open between operations")
    }

    /// The model and read options of `view` (the latest state when no snapshot is live).
    fn view(&self, view: View) -> (&Model, ReadOptions, String) {
        match view {
            View::Snapshot(i) if !self.snapshots.is_empty() => {
                let i = i % self.snapshots.len();
                let (snapshot, model) = &self.snapshots[i];
                let options = ReadOptions { snapshot: Some(snapshot.clone()), ..ReadOptions::new() };
                (model, options, format!("snapshot {i} (sequence {})", snapshot.sequence()))
            }
            _ => (&self.model, ReadOptions::new(), "latest".to_owned()),
        }
    }

    fn put(&mut self, step: usize, key: usize, len: usize) {
        let value = make_value(step, key, len);
        self.db().put(KEYS[key], &value).unwrap_or_else(|e| panic!("step {step}: put: {e}"));
        self.model.insert(KEYS[key].to_vec(), value);
    }

    /// Merges an operand into `key` (string append with `,`).
    fn merge(&mut self, step: usize, key: usize, len: usize) {
        let operand = make_value(step, key, len);
        self.db().merge(KEYS[key], &operand).unwrap_or_else(|e| panic!("step {step}: merge: {e}"));
        apply_merge(&mut self.model, KEYS[key], &operand);
    }

    fn delete(&mut self, step: usize, key: usize) {
        self.db().delete(KEYS[key]).unwrap_or_else(|e| panic!("step {step}: delete: {e}"));
        self.model.remove(KEYS[key]);
    }

    /// Deletes every key in [`a`, `b`) or [`b`, `a`), whichever is not
    /// backwards (an empty range when they are equal).
    fn delete_range(&mut self, step: usize, a: &[u8], b: &[u8]) {
        let (begin, end) = if a <= b { (a, b) } else { (b, a) };
        self.db().delete_range(begin, end).unwrap_or_else(|e| panic!("step {step}: delete_range: {e}"));
        remove_range(&mut self.model, begin, end);
    }

    fn batch(&mut self, step: usize, ops: &[(usize, Option<usize>)], range_ends: &[Vec<u8>]) {
        let mut batch = WriteBatch::new();
        let mut after = self.model.clone();
        let merges = self.options.merge_operator.is_some();
        for &(key, len) in ops {
            match len {
                Some(len) if merges && len % 32 == 8 => {
                    let operand = make_value(step, key, len);
                    batch.merge(KEYS[key], &operand);
                    apply_merge(&mut after, KEYS[key], &operand);
                }
                Some(len) => {
                    let value = make_value(step, key, len);
                    batch.put(KEYS[key], &value);
                    after.insert(KEYS[key].to_vec(), value);
                }
                None => match range_ends.get(key) {
                    Some(end) if self.options.range_deletions && end.as_slice() >= KEYS[key] => {
                        batch.delete_range(KEYS[key], end);
                        remove_range(&mut after, KEYS[key], end);
                    }
                    _ => {
                        batch.delete(KEYS[key]);
                        after.remove(KEYS[key]);
                    }
                },
            }
        }
        self.db().write(WriteOptions::default(), batch).unwrap_or_else(|e| panic!("step {step}: batch: {e}"));
        self.model = after;
    }

    fn get(&self, step: usize, key: usize, view: View) {
        let (model, options, name) = self.view(view);
        let got = self.db().get_opt(&options, KEYS[key]).unwrap_or_else(|e| panic!("step {step}: get: {e}"));
        let expected = model.get(KEYS[key]);
        assert_eq!(
            got.as_deref(),
            expected.map(Vec::as_slice),
            "step {step}: get {} at {name}",
            show(KEYS[key])
        );
    }

    /// Reads the whole view front to back (or back to front) and compares.
    fn scan(&self, step: usize, view: View, backward: bool) {
        let (model, options, name) = self.view(view);
        let mut it = self.db().iter(options);
        let mut got = Vec::new();
        if backward {
            it.seek_to_last();
        } else {
            it.seek_to_first();
        }
        while it.valid() {
            got.push((it.key().to_vec(), it.value().to_vec()));
            if backward {
                it.prev();
            } else {
                it.next();
            }
        }
        it.status().unwrap_or_else(|e| panic!("step {step}: scan at {name}: {e}"));
        let mut expected: Vec<(Vec<u8>, Vec<u8>)> =
            model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        if backward {
            expected.reverse();
        }
        if got != expected {
            let at =
                got.iter().zip(&expected).position(|(g, e)| g != e).unwrap_or(got.len().min(expected.len()));
            panic!(
                "step {step}: {} scan at {name}: {} entries, expected {}; first difference at entry {at}: got {:?}, expected {:?}",
                if backward { "backward" } else { "forward" },
                got.len(),
                expected.len(),
                got.get(at).map(|(k, v)| (show(k), v.len())),
                expected.get(at).map(|(k, v)| (show(k), v.len())),
            );
        }
    }

    /// Seeks to `target`, then moves `next` (true) or `prev` (false) as
    /// `moves` says, checking the position after each step against the model.
    fn walk(&self, step: usize, view: View, target: &[u8], moves: &[bool]) {
        let (model, options, name) = self.view(view);
        let mut it = self.db().iter(options);
        it.seek(target);
        // The model's position: a key of the model, or None (not valid).
        let mut expected: Option<&Vec<u8>> =
            model.range::<[u8], _>((Bound::Included(target), Bound::Unbounded)).next().map(|(k, _)| k);
        for (i, &forward) in std::iter::once(&true).chain(moves).enumerate() {
            if i > 0 {
                // Moves from an invalid position do nothing: stop the walk there.
                let Some(current) = expected else { break };
                if forward {
                    it.next();
                    expected = model
                        .range::<[u8], _>((Bound::Excluded(current.as_slice()), Bound::Unbounded))
                        .next()
                        .map(|(k, _)| k);
                } else {
                    it.prev();
                    expected = model
                        .range::<[u8], _>((Bound::Unbounded, Bound::Excluded(current.as_slice())))
                        .next_back()
                        .map(|(k, _)| k);
                }
            }
            let got = it.valid().then(|| (it.key().to_vec(), it.value().to_vec()));
            let want = expected.map(|k| (k.clone(), model[k].clone()));
            if got != want {
                panic!(
                    "step {step}: walk at {name} from seek {} after {i} moves: got {:?}, expected {:?}",
                    show(target),
                    got.as_ref().map(|(k, v)| (show(k), v.len())),
                    want.as_ref().map(|(k, v)| (show(k), v.len())),
                );
            }
        }
        it.status().unwrap_or_else(|e| panic!("step {step}: walk at {name}: {e}"));
    }

    fn take_snapshot(&mut self) {
        if self.snapshots.len() == MAX_SNAPSHOTS {
            self.snapshots.remove(0);
        }
        let snapshot = self.db().snapshot();
        self.snapshots.push((snapshot, self.model.clone()));
    }

    fn release_snapshot(&mut self, which: usize) {
        if !self.snapshots.is_empty() {
            let i = which % self.snapshots.len();
            self.snapshots.remove(i);
        }
    }

    fn flush(&self, step: usize, wait: bool) {
        self.db().flush(FlushOptions { wait }).unwrap_or_else(|e| panic!("step {step}: flush: {e}"));
    }

    fn compact(&self, step: usize, begin: Option<Vec<u8>>, end: Option<Vec<u8>>) {
        self.db()
            .compact_range(begin.as_deref(), end.as_deref())
            .unwrap_or_else(|e| panic!("step {step}: compact_range: {e}"));
    }

    /// Closes the database (releasing every snapshot) and opens it again;
    /// every acknowledged write must be there.
    fn reopen(&mut self, step: usize) {
        self.snapshots.clear();
        self.db = None;
        let db =
            Db::open(DB_DIR, self.options.clone()).unwrap_or_else(|e| panic!("step {step}: reopen: {e}"));
        self.db = Some(db);
        self.scan(step, View::Latest, false);
    }
}

/// The model of a range deletion: every key in [`begin`, `end`) goes.
fn remove_range(model: &mut Model, begin: &[u8], end: &[u8]) {
    let doomed: Vec<Vec<u8>> = model
        .range::<[u8], _>((Bound::Included(begin), Bound::Excluded(end)))
        .map(|(k, _)| k.clone())
        .collect();
    for key in doomed {
        model.remove(&key);
    }
}

/// The model of a string-append merge with `,`.
fn apply_merge(model: &mut Model, key: &[u8], operand: &[u8]) {
    let merged = match model.get(key) {
        Some(old) => [&old[..], b",", operand].concat(),
        None => operand.to_vec(),
    };
    model.insert(key.to_vec(), merged);
}

/// What one run did, so that tests can check that inputs reach flushes
/// and compactions.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RunSummary {
    /// Operations decoded and run.
    pub ops: usize,
    /// Tables on each level at the end (after the final reopen).
    pub tables_per_level: Vec<usize>,
}

/// Decodes `data` into operations, runs them against a database and the
/// model, and panics at the first read that differs from the model (or at
/// any error). A final reopen checks that everything written survives.
pub fn run(data: &[u8]) -> RunSummary {
    let Some((&config, ops)) = data.split_first() else {
        return RunSummary::default();
    };
    let mut input = ByteReader { data: ops };
    let mut harness = Harness::new(config);
    let mut step = 0;
    while !input.is_empty() && step < MAX_OPS {
        match input.byte() % 16 {
            2 if harness.options.merge_operator.is_some() => {
                let key = input.key();
                let len = input.value_len();
                harness.merge(step, key, len);
            }
            0..=2 => {
                let key = input.key();
                let len = input.value_len();
                harness.put(step, key, len);
            }
            3 if harness.options.range_deletions => {
                let a = input.target();
                let b = input.target();
                harness.delete_range(step, &a, &b);
            }
            3 => {
                let key = input.key();
                harness.delete(step, key);
            }
            4 => {
                let count = 1 + usize::from(input.byte()) % MAX_BATCH_OPS;
                // For range deletions: the end of a range that begins at key `i`.
                let mut range_ends = vec![Vec::new(); KEYS.len()];
                let ops: Vec<(usize, Option<usize>)> = (0..count)
                    .map(|_| {
                        let key = input.key();
                        let b = input.byte();
                        if b % 8 == 4 && harness.options.range_deletions {
                            range_ends[key] = input.target();
                            return (key, None);
                        }
                        (key, (b % 4 != 0).then(|| usize::from(b) * 8))
                    })
                    .collect();
                let range_ends: Vec<Vec<u8>> = range_ends
                    .into_iter()
                    .enumerate()
                    .map(|(i, end)| if end.is_empty() { KEYS[i].to_vec() } else { end })
                    .collect();
                harness.batch(step, &ops, &range_ends);
            }
            5 | 6 => {
                let key = input.key();
                let view = input.view();
                harness.get(step, key, view);
            }
            7 => {
                let view = input.view();
                harness.scan(step, view, false);
            }
            8 => {
                let view = input.view();
                harness.scan(step, view, true);
            }
            9 => {
                let view = input.view();
                let target = input.target();
                let bits = input.byte();
                let count = usize::from(input.byte()) % (MAX_WALK_MOVES + 1);
                let moves: Vec<bool> = (0..count).map(|i| bits.rotate_left(i as u32) & 1 != 0).collect();
                harness.walk(step, view, &target, &moves);
            }
            10 => harness.take_snapshot(),
            11 => {
                let which = usize::from(input.byte());
                harness.release_snapshot(which);
            }
            12 => {
                let wait = input.byte() & 1 != 0;
                harness.flush(step, wait);
            }
            13 => {
                let b = input.byte();
                let begin = (b & 1 != 0).then(|| input.target());
                let end = (b & 2 != 0).then(|| input.target());
                harness.compact(step, begin, end);
            }
            14 => harness.reopen(step),
            _ => {
                // A burst of large puts: fills the write buffer so that a
                // flush (and with it compactions) happens.
                let key = input.key();
                for i in 0..8 {
                    harness.put(step, (key + i * 5) % KEYS.len(), 4096);
                }
            }
        }
        step += 1;
    }
    harness.reopen(step);
    let tables_per_level = (0..7)
        .map(|level| {
            harness
                .db()
                .property(&format!("lsmkit.num-files-at-level{level}"))
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no table count for level {level}"))
        })
        .collect();
    RunSummary { ops: step, tables_per_level }
}
