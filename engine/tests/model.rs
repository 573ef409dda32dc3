//! Model test of the whole engine: random sequences of puts, deletes,
//! batches, snapshots, point reads, iterators (cursor walks, ranges and
//! prefixes, from both ends), flushes, compactions and reopens run against a
//! database on a `MemFs` and against a `BTreeMap` model that keeps a copy of
//! itself for every live snapshot and held iterator. Every read must match
//! the model of the view it reads.
//!
//! Case and step counts default to `MODEL_CASES` × `MODEL_STEPS`; set
//! `PROPTEST_CASES` and `LSMKIT_MODEL_STEPS` to run more.
//!
//! The random cases stay small (a few hundred KiB), so a second, seeded test
//! grows a database of several MiB — levels of several tables each, where
//! reads cross table boundaries — and checks it against the same kind of
//! model.

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

mod common;

use std::ops::Bound;
use std::sync::{Arc, LazyLock};

use common::{first_difference, read_backward, read_forward, show, small_options, Model, TestRng};
use lsmkit::{
    Db, DbIterator, DbRange, FlushOptions, Options, ReadOptions, Snapshot, WriteBatch, WriteOptions,
};
use lsmkit_base::fs::MemFs;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// Default number of random cases.
const MODEL_CASES: u32 = 256;
/// Default number of steps of the longest case (cases have half to all of it).
const MODEL_STEPS: usize = 300;
/// Live snapshots kept at most (the oldest is released first).
const MAX_SNAPSHOTS: usize = 6;
/// Iterators held open across later steps, at most.
const MAX_HELD_ITERATORS: usize = 3;

/// The key space: small, so writes collide; with the empty key, keys that
/// are prefixes of others (`a1` of `a10`), and `0xff` bytes (where a
/// prefix has no successor).
static KEYS: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| {
    let mut keys = vec![Vec::new()];
    for letter in ["a", "b", "c"] {
        for n in 0..14 {
            keys.push(format!("{letter}{n}").into_bytes());
        }
    }
    keys.extend([b"a\xff".to_vec(), b"\xff".to_vec(), b"\xff\x00".to_vec(), b"\xff\xff".to_vec()]);
    keys
});

/// Seek targets and range bounds: every key, plus strings between and
/// around them.
static TARGETS: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| {
    let mut targets = KEYS.clone();
    for extra in [&b"a"[..], b"b", b"c", b"d", b"b10x", b"a1\x00", b"\xfe", b"\xff\xff\xff"] {
        targets.push(extra.to_vec());
    }
    targets
});

/// Prefixes for prefix scans.
const PREFIXES: [&[u8]; 10] = [b"", b"a", b"a1", b"b", b"c1", b"c13", b"\xff", b"\xff\xff", b"a\xff", b"zz"];

/// Where a read looks.
#[derive(Debug, Clone, Copy)]
enum View {
    Latest,
    /// A live snapshot (index modulo their number; the latest state when none is live).
    Snapshot(usize),
}

/// Where a cursor walk starts.
#[derive(Debug, Clone)]
enum WalkStart {
    First,
    Last,
    /// `seek` to this key (one of `TARGETS` in random cases).
    Seek(Vec<u8>),
}

/// A read of many entries.
#[derive(Debug, Clone)]
enum Scan {
    /// Every entry, front to back.
    Forward,
    /// Every entry, back to front.
    Backward,
    /// A cursor positioned by `start`, then moved `next` (true) or `prev` (false).
    Walk { start: WalkStart, moves: Vec<bool> },
    /// A `DbRange` over `TARGETS` bounds, taking from the front (true) or back (false).
    Range { start: Bound<usize>, end: Bound<usize>, ends: Vec<bool> },
    /// A prefix `DbRange` over `PREFIXES[prefix]`.
    Prefix { prefix: usize, ends: Vec<bool> },
}

/// One step of a case. Keys are indexes into `KEYS`; value lengths are
/// the bytes of filler after a header naming the step and key.
#[derive(Debug, Clone)]
enum Op {
    Put {
        key: usize,
        len: usize,
        sync: bool,
    },
    Delete {
        key: usize,
    },
    /// Puts (`Some(len)`) and deletes (`None`) applied atomically; with
    /// `unlogged`, written with `disable_wal`.
    Batch {
        ops: Vec<(usize, Option<usize>)>,
        unlogged: bool,
    },
    TakeSnapshot,
    ReleaseSnapshot {
        which: usize,
    },
    Get {
        key: usize,
        view: View,
    },
    Scan {
        view: View,
        scan: Scan,
    },
    /// Opens an iterator on the latest state and keeps it across later steps.
    HoldIterator,
    /// Walks every held iterator through the view it was opened on.
    CheckHeldIterators,
    Flush {
        wait: bool,
    },
    Compact {
        begin: Option<usize>,
        end: Option<usize>,
    },
    /// Closes the database (dropping snapshots and iterators) and opens it again.
    Reopen,
}

fn key_index() -> impl Strategy<Value = usize> {
    0..KEYS.len()
}

fn value_len() -> impl Strategy<Value = usize> {
    prop_oneof![6 => 0..32usize, 3 => 32..600usize, 2 => 2000..16_000usize]
}

fn view() -> impl Strategy<Value = View> {
    prop_oneof![1 => Just(View::Latest), 2 => any::<usize>().prop_map(View::Snapshot)]
}

fn bound() -> impl Strategy<Value = Bound<usize>> {
    prop_oneof![
        1 => Just(Bound::Unbounded),
        3 => (0..TARGETS.len()).prop_map(Bound::Included),
        3 => (0..TARGETS.len()).prop_map(Bound::Excluded),
    ]
}

fn scan() -> impl Strategy<Value = Scan> {
    let moves = proptest::collection::vec(any::<bool>(), 0..24);
    let start = prop_oneof![
        Just(WalkStart::First),
        Just(WalkStart::Last),
        (0..TARGETS.len()).prop_map(|i| WalkStart::Seek(TARGETS[i].clone()))
    ];
    prop_oneof![
        1 => Just(Scan::Forward),
        1 => Just(Scan::Backward),
        3 => (start, moves.clone()).prop_map(|(start, moves)| Scan::Walk { start, moves }),
        3 => (bound(), bound(), moves.clone()).prop_map(|(start, end, ends)| Scan::Range { start, end, ends }),
        2 => (0..PREFIXES.len(), moves).prop_map(|(prefix, ends)| Scan::Prefix { prefix, ends }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        30 => (key_index(), value_len(), proptest::bool::weighted(0.1))
            .prop_map(|(key, len, sync)| Op::Put { key, len, sync }),
        10 => key_index().prop_map(|key| Op::Delete { key }),
        8 => (
            proptest::collection::vec((key_index(), proptest::option::weighted(0.7, value_len())), 0..8),
            proptest::bool::weighted(0.3),
        )
            .prop_map(|(ops, unlogged)| Op::Batch { ops, unlogged }),
        3 => Just(Op::TakeSnapshot),
        2 => any::<usize>().prop_map(|which| Op::ReleaseSnapshot { which }),
        14 => (key_index(), view()).prop_map(|(key, view)| Op::Get { key, view }),
        9 => (view(), scan()).prop_map(|(view, scan)| Op::Scan { view, scan }),
        1 => Just(Op::HoldIterator),
        2 => Just(Op::CheckHeldIterators),
        2 => any::<bool>().prop_map(|wait| Op::Flush { wait }),
        1 => (proptest::option::of(key_index()), proptest::option::of(key_index()))
            .prop_map(|(begin, end)| Op::Compact { begin, end }),
        1 => Just(Op::Reopen),
    ]
}

/// The value written at `step` for key `key`: a header that makes it unique,
/// then filler (empty when `len` is 0, to cover empty values).
fn make_value(step: usize, key: usize, len: usize) -> Vec<u8> {
    if len == 0 {
        return Vec::new();
    }
    let mut value = format!("s{step}k{key}:").into_bytes();
    let filler = (step as u8).wrapping_mul(31).wrapping_add(key as u8);
    while value.len() < len {
        value.push(filler.wrapping_add(value.len() as u8));
    }
    value
}

fn in_bounds(key: &[u8], start: &Bound<Vec<u8>>, end: &Bound<Vec<u8>>) -> bool {
    let after_start = match start {
        Bound::Unbounded => true,
        Bound::Included(s) => key >= s.as_slice(),
        Bound::Excluded(s) => key > s.as_slice(),
    };
    let before_end = match end {
        Bound::Unbounded => true,
        Bound::Included(e) => key <= e.as_slice(),
        Bound::Excluded(e) => key < e.as_slice(),
    };
    after_start && before_end
}

fn target_bound(bound: &Bound<usize>) -> Bound<Vec<u8>> {
    match bound {
        Bound::Unbounded => Bound::Unbounded,
        Bound::Included(i) => Bound::Included(TARGETS[*i].clone()),
        Bound::Excluded(i) => Bound::Excluded(TARGETS[*i].clone()),
    }
}

/// Takes entries from `range`'s front or back as `ends` says, then drains
/// it from the front, checking each against `expected` (the entries in the
/// range, in order).
fn check_range(mut range: DbRange, expected: Vec<(&Vec<u8>, &Vec<u8>)>, ends: &[bool]) -> Result<(), String> {
    let mut expected: std::collections::VecDeque<_> = expected.into();
    let mut take = |from_front: bool, range: &mut DbRange| -> Result<bool, String> {
        let got = if from_front { range.next() } else { range.next_back() };
        let want = if from_front { expected.pop_front() } else { expected.pop_back() };
        let got = got.transpose().map_err(|e| format!("range read failed: {e}"))?;
        match (got, want) {
            (None, None) => Ok(false),
            (Some((k, v)), Some((wk, wv))) if k == wk.as_slice() && v == wv.as_slice() => Ok(true),
            (got, want) => Err(format!(
                "range {} yielded {:?}, model has {:?}",
                if from_front { "front" } else { "back" },
                got.map(|(k, _)| show(&k)),
                want.map(|(k, _)| show(k))
            )),
        }
    };
    for &from_front in ends {
        if !take(from_front, &mut range)? {
            break;
        }
    }
    while take(true, &mut range)? {}
    // Exhausted at both ends, and it stays so.
    if range.next_back().is_some() || range.next().is_some() {
        return Err("range yielded an entry after it was exhausted".into());
    }
    Ok(())
}

/// Positions `it` as `start` says and moves it as `moves` says, comparing
/// each position with the same moves over the model's sorted entries.
fn check_walk(it: &mut DbIterator, model: &Model, start: &WalkStart, moves: &[bool]) -> Result<(), String> {
    let entries: Vec<(&Vec<u8>, &Vec<u8>)> = model.iter().collect();
    let mut position: Option<usize> = match start {
        WalkStart::First => {
            it.seek_to_first();
            (!entries.is_empty()).then_some(0)
        }
        WalkStart::Last => {
            it.seek_to_last();
            entries.len().checked_sub(1)
        }
        WalkStart::Seek(target) => {
            it.seek(target);
            let i = entries.partition_point(|(k, _)| k.as_slice() < target.as_slice());
            (i < entries.len()).then_some(i)
        }
    };
    let mut trail = match start {
        WalkStart::Seek(target) => format!("seek {}", show(target)),
        other => format!("{other:?}"),
    };
    for step in 0..=moves.len() {
        it.status().map_err(|e| format!("iterator failed after {trail}: {e}"))?;
        match position {
            None if it.valid() => {
                return Err(format!("after {trail}: iterator on {}, model exhausted", show(it.key())));
            }
            None => {}
            Some(i) => {
                let (k, v) = entries[i];
                if !it.valid() {
                    return Err(format!("after {trail}: iterator exhausted, model on {}", show(k)));
                }
                if it.key() != k.as_slice() || it.value() != v.as_slice() {
                    return Err(format!(
                        "after {trail}: iterator on {}, model on {}",
                        show(it.key()),
                        show(k)
                    ));
                }
            }
        }
        let Some(&forward) = moves.get(step) else { break };
        // Moving an exhausted iterator does nothing.
        if position.is_some() {
            if forward {
                it.next();
                position = position.map(|i| i + 1).filter(|&i| i < entries.len());
            } else {
                it.prev();
                position = position.and_then(|i| i.checked_sub(1));
            }
        }
        trail.push_str(if forward { " next" } else { " prev" });
    }
    Ok(())
}

/// Compares a full forward and backward read and a point read of every key
/// of the view `options` selects with `model`.
fn check_full(db: &Db, options: &ReadOptions, model: &Model, what: &str) -> Result<(), String> {
    let forward =
        read_forward(db, options.clone()).map_err(|e| format!("{what}: forward read failed: {e}"))?;
    if let Some(diff) = first_difference(&forward, model) {
        return Err(format!("{what}: forward iteration: {diff}"));
    }
    let backward =
        read_backward(db, options.clone()).map_err(|e| format!("{what}: backward read failed: {e}"))?;
    let expected: Vec<(Vec<u8>, Vec<u8>)> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    if backward != expected {
        let backward: Model = backward.into_iter().collect();
        return Err(format!(
            "{what}: backward iteration: {}",
            first_difference(&backward, model).unwrap_or_else(|| "duplicate or misordered keys".into())
        ));
    }
    for key in KEYS.iter() {
        let got = db.get_opt(options, key).map_err(|e| format!("{what}: get {} failed: {e}", show(key)))?;
        if got.as_deref() != model.get(key).map(Vec::as_slice) {
            return Err(format!(
                "{what}: get {}: {:?}, model {:?}",
                show(key),
                got.map(|v| show(&v[..v.len().min(24)])),
                model.get(key).map(|v| show(&v[..v.len().min(24)]))
            ));
        }
    }
    Ok(())
}

/// The database under test and its model.
struct Harness {
    /// Options of the database, on its own `MemFs`.
    options: Options,
    db: Option<Db>,
    model: Model,
    /// Live snapshots, oldest first, each with the model as of it.
    snapshots: Vec<(Snapshot, Model)>,
    /// Held iterators, each with the model of the view it was opened on.
    held: Vec<(DbIterator, Model)>,
    /// Unlogged writes were made since the last completed flush: they only
    /// survive a close once a flush completes.
    unlogged_since_flush: bool,
}

impl Harness {
    fn open(tiered: bool) -> Result<Harness, String> {
        let options = small_options(Arc::new(MemFs::new()), tiered);
        let db = Db::open("/db", options.clone()).map_err(|e| format!("open: {e}"))?;
        Ok(Harness {
            options,
            db: Some(db),
            model: Model::new(),
            snapshots: Vec::new(),
            held: Vec::new(),
            unlogged_since_flush: false,
        })
    }

    fn db(&self) -> &Db {
        self.db.as_ref().expect("the database is open between steps")
    }

    /// The read options and model of `view`.
    fn view(&self, view: View) -> (ReadOptions, &Model, String) {
        match view {
            View::Snapshot(i) if !self.snapshots.is_empty() => {
                let i = i % self.snapshots.len();
                let (snapshot, model) = &self.snapshots[i];
                let options = ReadOptions { snapshot: Some(snapshot.clone()), ..ReadOptions::new() };
                (options, model, format!("snapshot #{i} (sequence {})", snapshot.sequence()))
            }
            _ => (ReadOptions::new(), &self.model, "latest".to_string()),
        }
    }

    fn write(&mut self, batch: WriteBatch, options: WriteOptions) -> Result<(), String> {
        self.unlogged_since_flush |= options.disable_wal;
        self.db().write(options, batch).map_err(|e| format!("write: {e}"))
    }

    fn step(&mut self, step: usize, op: &Op) -> Result<(), String> {
        match op {
            Op::Put { key, len, sync } => {
                let value = make_value(step, *key, *len);
                let mut batch = WriteBatch::new();
                batch.put(&KEYS[*key], &value);
                self.write(batch, WriteOptions { sync: *sync, ..WriteOptions::default() })?;
                self.model.insert(KEYS[*key].clone(), value);
            }
            Op::Delete { key } => {
                self.db().delete(&KEYS[*key]).map_err(|e| format!("delete: {e}"))?;
                self.model.remove(&KEYS[*key]);
            }
            Op::Batch { ops, unlogged } => {
                let mut batch = WriteBatch::new();
                let mut after = self.model.clone();
                for &(key, len) in ops {
                    match len {
                        Some(len) => {
                            let value = make_value(step, key, len);
                            batch.put(&KEYS[key], &value);
                            after.insert(KEYS[key].clone(), value);
                        }
                        None => {
                            batch.delete(&KEYS[key]);
                            after.remove(&KEYS[key]);
                        }
                    }
                }
                self.write(batch, WriteOptions { disable_wal: *unlogged, ..WriteOptions::default() })?;
                self.model = after;
            }
            Op::TakeSnapshot => {
                if self.snapshots.len() == MAX_SNAPSHOTS {
                    self.snapshots.remove(0);
                }
                let snapshot = self.db().snapshot();
                self.snapshots.push((snapshot, self.model.clone()));
            }
            Op::ReleaseSnapshot { which } => {
                if !self.snapshots.is_empty() {
                    let i = which % self.snapshots.len();
                    self.snapshots.remove(i);
                }
            }
            Op::Get { key, view } => {
                let (options, model, what) = self.view(*view);
                let got = self.db().get_opt(&options, &KEYS[*key]).map_err(|e| format!("get: {e}"))?;
                if got.as_deref() != model.get(&KEYS[*key]).map(Vec::as_slice) {
                    return Err(format!(
                        "get {} at {what}: {:?}, model {:?}",
                        show(&KEYS[*key]),
                        got.map(|v| show(&v[..v.len().min(24)])),
                        model.get(&KEYS[*key]).map(|v| show(&v[..v.len().min(24)]))
                    ));
                }
            }
            Op::Scan { view, scan } => self.scan(*view, scan)?,
            Op::HoldIterator => {
                if self.held.len() == MAX_HELD_ITERATORS {
                    self.held.remove(0);
                }
                let it = self.db().iter(ReadOptions::new());
                self.held.push((it, self.model.clone()));
            }
            Op::CheckHeldIterators => {
                for (i, (it, model)) in self.held.iter_mut().enumerate() {
                    check_walk(it, model, &WalkStart::First, &vec![true; model.len()])
                        .and_then(|()| check_walk(it, model, &WalkStart::Last, &vec![false; model.len()]))
                        .map_err(|e| format!("held iterator #{i}: {e}"))?;
                }
            }
            Op::Flush { wait } => {
                self.db().flush(FlushOptions { wait: *wait }).map_err(|e| format!("flush: {e}"))?;
                self.unlogged_since_flush &= !*wait;
            }
            Op::Compact { begin, end } => {
                let begin = begin.map(|i| KEYS[i].as_slice());
                let end = end.map(|i| KEYS[i].as_slice());
                self.db().compact_range(begin, end).map_err(|e| format!("compact_range: {e}"))?;
                // It flushes first.
                self.unlogged_since_flush = false;
            }
            Op::Reopen => {
                if self.unlogged_since_flush {
                    // Unlogged writes are kept by a completed flush only.
                    self.db().flush(FlushOptions { wait: true }).map_err(|e| format!("flush: {e}"))?;
                    self.unlogged_since_flush = false;
                }
                self.held.clear();
                self.snapshots.clear();
                self.db = None;
                let db = Db::open("/db", self.options.clone()).map_err(|e| format!("reopen: {e}"))?;
                self.db = Some(db);
                check_full(self.db(), &ReadOptions::new(), &self.model, "after reopen")?;
            }
        }
        Ok(())
    }

    fn scan(&self, view: View, scan: &Scan) -> Result<(), String> {
        let (options, model, what) = self.view(view);
        let db = self.db();
        let at_latest = options.snapshot.is_none();
        let result = match scan {
            Scan::Forward => {
                let got = read_forward(db, options).map_err(|e| e.to_string())?;
                first_difference(&got, model).map_or(Ok(()), |d| Err(format!("forward: {d}")))
            }
            Scan::Backward => {
                let got = read_backward(db, options).map_err(|e| e.to_string())?;
                let want: Vec<(Vec<u8>, Vec<u8>)> =
                    model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                if got == want {
                    Ok(())
                } else {
                    let got: Model = got.into_iter().collect();
                    Err(format!("backward: {}", first_difference(&got, model).unwrap_or_default()))
                }
            }
            Scan::Walk { start, moves } => check_walk(&mut db.iter(options), model, start, moves),
            Scan::Range { start, end, ends } => {
                let (start, end) = (target_bound(start), target_bound(end));
                let expected = model.iter().filter(|(k, _)| in_bounds(k, &start, &end)).collect();
                let range = if at_latest {
                    db.range((start.clone(), end.clone()))
                } else {
                    DbRange::new(db.iter(options.clone()), db.iter(options), (start.clone(), end.clone()))
                };
                check_range(range, expected, ends).map_err(|e| {
                    format!("range ({:?}, {:?}): {e}", start.map(|k| show(&k)), end.map(|k| show(&k)))
                })
            }
            Scan::Prefix { prefix, ends } => {
                let prefix = PREFIXES[*prefix];
                let expected = model.iter().filter(|(k, _)| k.starts_with(prefix)).collect();
                let range = if at_latest {
                    db.prefix(prefix)
                } else {
                    DbRange::prefix(db.iter(options.clone()), db.iter(options), prefix)
                };
                check_range(range, expected, ends).map_err(|e| format!("prefix {}: {e}", show(prefix)))
            }
        };
        result.map_err(|e| format!("scan at {what}: {e}"))
    }

    /// Checks every view the harness knows of in full.
    fn check_everything(&mut self) -> Result<(), String> {
        check_full(self.db(), &ReadOptions::new(), &self.model, "latest")?;
        for (i, (snapshot, model)) in self.snapshots.iter().enumerate() {
            let options = ReadOptions { snapshot: Some(snapshot.clone()), ..ReadOptions::new() };
            check_full(self.db(), &options, model, &format!("snapshot #{i}"))?;
        }
        self.step(usize::MAX, &Op::CheckHeldIterators)?;
        if let Some(e) = self.db().background_error() {
            return Err(format!("background error: {e}"));
        }
        Ok(())
    }
}

fn run_case(tiered: bool, ops: &[Op]) -> Result<(), String> {
    let mut harness = Harness::open(tiered)?;
    for (step, op) in ops.iter().enumerate() {
        harness.step(step, op).map_err(|e| format!("step {step} ({op:?}): {e}"))?;
    }
    harness.check_everything().map_err(|e| format!("final check: {e}"))?;
    // Everything must also survive a final close and reopen.
    harness.step(ops.len(), &Op::Reopen).map_err(|e| format!("final reopen: {e}"))?;
    Ok(())
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(MODEL_CASES);
    ProptestConfig {
        cases,
        // Each case opens databases: keep shrinking bounded.
        max_shrink_iters: 2_000,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn steps() -> usize {
    std::env::var("LSMKIT_MODEL_STEPS").ok().and_then(|s| s.parse().ok()).unwrap_or(MODEL_STEPS)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn engine_matches_model(
        tiered in proptest::bool::weighted(0.25),
        ops in proptest::collection::vec(op(), steps() / 2..=steps()),
    ) {
        run_case(tiered, &ops).map_err(TestCaseError::fail)?;
    }
}

/// Seeds of the larger test (`LSMKIT_LARGE_MODEL_SEEDS` to run more).
const LARGE_MODEL_SEEDS: u64 = 2;
/// Writes per seed of the larger test.
const LARGE_MODEL_WRITES: usize = 6000;
/// Keys of the larger test.
const LARGE_KEY_SPACE: u64 = 20_000;

fn large_key(k: u64) -> Vec<u8> {
    format!("{k:08}").into_bytes()
}

/// Checks, at the latest state or a snapshot: point reads of random keys,
/// cursor walks from random keys, and a range from both ends.
fn spot_check(db: &Db, options: &ReadOptions, model: &Model, rng: &mut TestRng) -> Result<(), String> {
    for _ in 0..100 {
        let key = large_key(rng.below(LARGE_KEY_SPACE));
        let got = db.get_opt(options, &key).map_err(|e| e.to_string())?;
        if got.as_deref() != model.get(&key).map(Vec::as_slice) {
            return Err(format!("get {}: {:?}", show(&key), got.map(|v| v.len())));
        }
    }
    for _ in 0..4 {
        let start = WalkStart::Seek(large_key(rng.below(LARGE_KEY_SPACE)));
        let moves: Vec<bool> = (0..60).map(|_| rng.percent(60)).collect();
        check_walk(&mut db.iter(options.clone()), model, &start, &moves)?;
    }
    let a = large_key(rng.below(LARGE_KEY_SPACE));
    let b = large_key(rng.below(LARGE_KEY_SPACE));
    let bounds = (Bound::Included(a.min(b.clone())), Bound::Excluded(b.max(large_key(0))));
    let expected = model.iter().filter(|(k, _)| in_bounds(k, &bounds.0, &bounds.1)).collect();
    let range = DbRange::new(db.iter(options.clone()), db.iter(options.clone()), bounds);
    let ends: Vec<bool> = (0..200).map(|_| rng.percent(50)).collect();
    check_range(range, expected, &ends)
}

fn run_large(seed: u64) -> Result<(), String> {
    let mut rng = TestRng::new(seed);
    let options = small_options(Arc::new(MemFs::new()), seed % 2 == 1);
    let mut db = Db::open("/db", options.clone()).map_err(|e| e.to_string())?;
    let mut model = Model::new();
    let mut snapshots: Vec<(Snapshot, Model)> = Vec::new();
    for i in 0..LARGE_MODEL_WRITES {
        // Mostly batches of neighbouring keys, so tables cover narrow ranges.
        let mut batch = WriteBatch::new();
        let first = rng.below(LARGE_KEY_SPACE);
        for j in 0..1 + rng.below(12) {
            let key = large_key((first + j * (1 + rng.below(3))) % LARGE_KEY_SPACE);
            if rng.percent(20) {
                batch.delete(&key);
                model.remove(&key);
            } else {
                // Random bytes, so tables do not compress to nothing.
                let mut value = format!("w{i}:").into_bytes();
                let len = value.len() + 100 + rng.index(900);
                while value.len() < len {
                    value.extend_from_slice(&rng.next_u64().to_le_bytes());
                }
                batch.put(&key, &value);
                model.insert(key, value);
            }
        }
        db.write(WriteOptions::default(), batch).map_err(|e| format!("write {i}: {e}"))?;
        if rng.percent(1) {
            if snapshots.len() == 3 {
                snapshots.remove(rng.index(3));
            }
            snapshots.push((db.snapshot(), model.clone()));
        }
        if i % 500 == 499 {
            spot_check(&db, &ReadOptions::new(), &model, &mut rng)
                .map_err(|e| format!("write {i}: latest: {e}"))?;
            for (n, (snapshot, snapshot_model)) in snapshots.iter().enumerate() {
                let options = ReadOptions { snapshot: Some(snapshot.clone()), ..ReadOptions::new() };
                spot_check(&db, &options, snapshot_model, &mut rng)
                    .map_err(|e| format!("write {i}: snapshot #{n}: {e}"))?;
            }
        }
        if i % 2000 == 1999 {
            if rng.percent(50) {
                let a = large_key(rng.below(LARGE_KEY_SPACE));
                let b = large_key(rng.below(LARGE_KEY_SPACE));
                db.compact_range(Some(a.as_slice().min(&b)), Some(a.as_slice().max(&b)))
                    .map_err(|e| e.to_string())?;
            }
            check_full(&db, &ReadOptions::new(), &model, &format!("after write {i}"))?;
            for (n, (snapshot, snapshot_model)) in snapshots.iter().enumerate() {
                let options = ReadOptions { snapshot: Some(snapshot.clone()), ..ReadOptions::new() };
                let got = read_forward(&db, options).map_err(|e| e.to_string())?;
                if let Some(diff) = first_difference(&got, snapshot_model) {
                    return Err(format!("after write {i}: snapshot #{n}: {diff}"));
                }
            }
        }
    }
    let files: Vec<String> =
        (0..7).map(|l| db.property(&format!("lsmkit.num-files-at-level{l}")).unwrap_or_default()).collect();
    snapshots.clear();
    drop(db);
    db = Db::open("/db", options).map_err(|e| format!("reopen: {e}"))?;
    check_full(&db, &ReadOptions::new(), &model, "after reopen")?;
    db.compact_range(None, None).map_err(|e| e.to_string())?;
    check_full(&db, &ReadOptions::new(), &model, "after full compaction")?;
    // The point of this test: levels below 0 held several tables.
    let deeper_tables: u64 = files[1..].iter().filter_map(|n| n.parse::<u64>().ok()).max().unwrap_or(0);
    if deeper_tables < 2 {
        return Err(format!("the database stayed too small to test (tables per level: {files:?})"));
    }
    Ok(())
}

#[test]
fn larger_database_matches_model() {
    let seeds = std::env::var("LSMKIT_LARGE_MODEL_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(LARGE_MODEL_SEEDS);
    for seed in 0..seeds {
        if let Err(e) = run_large(seed) {
            panic!("seed {seed}: {e}");
        }
    }
}
