//! The engine's read-side iterators against simple models: `DbIterator`
//! over merged memtables, sorted vectors and levels of real tables, compared
//! with a `BTreeMap` of the writes seen at a snapshot; `DbRange` from both
//! ends; `LevelIterator` over tables on `MemFs`; and the error paths
//! (corrupt keys, a source failing mid-scan, missing or damaged tables).
//!
//! A unit-test module, not an integration test: it builds `DbIterator`s
//! over streams of its own, which only the crate can do.

use std::any::Any;
use std::cmp::Ordering;
use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use lsmkit_base::comparator::{BytewiseComparator, Comparator};
use lsmkit_base::filename::table_file_name;
use lsmkit_base::fs::{FaultFs, FaultOp, FaultRule, FileSystem, MemFs, WriteMode};
use lsmkit_base::iterator::{InternalIterator, VecIterator};
use lsmkit_base::key::{make_internal_key, parse_internal_key, InternalKeyComparator, ValueKind};
use lsmkit_base::merging_iterator::MergingIterator;
use lsmkit_base::{Error, Result};
use lsmkit_compaction::LevelIterator;
use lsmkit_memtable::Memtable;
use lsmkit_sstable::{Compression, ReadOptions, TableBuilder, TableCache, TableOptions};
use lsmkit_version::FileMetaData;
use proptest::prelude::*;

use crate::db_iterator::{DbIterator, ExpiryCheck, READ_BYTES_PERIOD};
use crate::range_iter::DbRange;

const DB_DIR: &str = "/db";

// ---------------------------------------------------------------------------
// Comparators

/// Bytewise order without the bytewise fast paths (`is_bytewise` is false).
struct SlowBytewise;

impl Comparator for SlowBytewise {
    fn name(&self) -> &str {
        "test.SlowBytewise"
    }
    fn compare(&self, a: &[u8], b: &[u8]) -> Ordering {
        a.cmp(b)
    }
    fn shortest_separator(&self, start: &[u8], _limit: &[u8]) -> Vec<u8> {
        start.to_vec()
    }
    fn short_successor(&self, key: &[u8]) -> Vec<u8> {
        key.to_vec()
    }
}

/// Reverse bytewise order.
struct ReverseBytewise;

impl Comparator for ReverseBytewise {
    fn name(&self) -> &str {
        "test.ReverseBytewise"
    }
    fn compare(&self, a: &[u8], b: &[u8]) -> Ordering {
        b.cmp(a)
    }
    fn shortest_separator(&self, start: &[u8], _limit: &[u8]) -> Vec<u8> {
        start.to_vec()
    }
    fn short_successor(&self, key: &[u8]) -> Vec<u8> {
        key.to_vec()
    }
}

fn comparator(choice: u8) -> Arc<dyn Comparator> {
    match choice {
        0 => BytewiseComparator::shared(),
        1 => Arc::new(SlowBytewise),
        _ => Arc::new(ReverseBytewise),
    }
}

// ---------------------------------------------------------------------------
// The model

/// One write: `value` is `None` for a deletion. Sequence numbers are the
/// write's position + 1.
#[derive(Debug, Clone)]
struct Write {
    key: Vec<u8>,
    value: Option<Vec<u8>>,
    source: usize,
}

/// Values starting with 0 count as expired when expiry is on.
fn is_expired_value(value: &[u8]) -> bool {
    value.first() == Some(&0)
}

/// The entries visible at `snapshot`, sorted by `cmp`.
fn model_view(
    writes: &[Write],
    snapshot: u64,
    cmp: &dyn Comparator,
    expiry: bool,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut newest: BTreeMap<Vec<u8>, Option<Vec<u8>>> = BTreeMap::new();
    for (i, write) in writes.iter().enumerate() {
        if (i as u64) < snapshot {
            newest.insert(write.key.clone(), write.value.clone());
        }
    }
    let mut view: Vec<(Vec<u8>, Vec<u8>)> = newest
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .filter(|(_, v)| !(expiry && is_expired_value(v)))
        .collect();
    view.sort_by(|a, b| cmp.compare(&a.0, &b.0));
    view
}

// ---------------------------------------------------------------------------
// Views built from the writes

/// Where one source's entries live.
enum Source {
    Sorted(Vec<(Vec<u8>, Vec<u8>)>),
    Memtable(Memtable),
    Level(Vec<Arc<FileMetaData>>),
}

/// Several sources over one set of writes, any number of cursors over them.
struct TestView {
    icmp: InternalKeyComparator,
    table_cache: Arc<TableCache>,
    sources: Vec<Source>,
}

fn table_options(user: Arc<dyn Comparator>) -> TableOptions {
    TableOptions {
        block_size: 48,
        restart_interval: 2,
        compression: Compression::None,
        ..TableOptions::for_internal_keys(user, None)
    }
}

/// Writes `entries` (sorted internal keys) as table `number`.
fn write_table(
    fs: &dyn FileSystem,
    options: &TableOptions,
    number: u64,
    entries: &[(Vec<u8>, Vec<u8>)],
) -> Arc<FileMetaData> {
    let path = table_file_name(Path::new(DB_DIR), number);
    let mut builder =
        TableBuilder::new(options.clone(), fs.create_writable(&path, WriteMode::Buffered).unwrap());
    for (k, v) in entries {
        builder.add(k, v).unwrap();
    }
    let summary = builder.finish(false).unwrap();
    Arc::new(FileMetaData::new(number, summary.file_size, summary.smallest_key, summary.largest_key))
}

fn new_fs() -> Arc<dyn FileSystem> {
    let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    fs.create_dir_all(Path::new(DB_DIR)).unwrap();
    fs
}

/// Source `i` is of kind `kinds[i] % 3`; level sources hold
/// `entries_per_file` entries per table.
fn build_view(
    writes: &[Write],
    user: Arc<dyn Comparator>,
    kinds: &[u8],
    entries_per_file: usize,
) -> TestView {
    let icmp = InternalKeyComparator::new(user.clone());
    let fs = new_fs();
    let options = table_options(user);
    let table_cache = Arc::new(TableCache::new(fs.clone(), DB_DIR, options.clone(), 100));
    let mut next_table_number = 1;
    let mut sources = Vec::new();
    for (source_index, kind) in kinds.iter().enumerate() {
        let mut entries: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        for (i, w) in writes.iter().enumerate().filter(|(_, w)| w.source == source_index) {
            let kind = if w.value.is_some() { ValueKind::Value } else { ValueKind::Deletion };
            entries
                .push((make_internal_key(&w.key, i as u64 + 1, kind), w.value.clone().unwrap_or_default()));
        }
        entries.sort_by(|a, b| icmp.compare_internal_keys(&a.0, &b.0));
        let source = match kind % 3 {
            0 => Source::Sorted(entries),
            1 => {
                let memtable = Memtable::new(icmp.clone());
                for (k, v) in &entries {
                    let parsed = parse_internal_key(k).unwrap();
                    memtable.add(parsed.sequence, parsed.kind, parsed.user_key, v);
                }
                Source::Memtable(memtable)
            }
            _ => {
                let files = entries
                    .chunks(entries_per_file.max(1))
                    .map(|chunk| {
                        next_table_number += 1;
                        write_table(&*fs, &options, next_table_number, chunk)
                    })
                    .collect();
                Source::Level(files)
            }
        };
        sources.push(source);
    }
    TestView { icmp, table_cache, sources }
}

impl TestView {
    fn merged(&self) -> Box<dyn InternalIterator> {
        let comparator: Arc<dyn Comparator> = Arc::new(self.icmp.clone());
        let children = self
            .sources
            .iter()
            .map(|source| -> Box<dyn InternalIterator> {
                match source {
                    Source::Sorted(entries) => {
                        Box::new(VecIterator::new(comparator.clone(), entries.clone()))
                    }
                    Source::Memtable(memtable) => Box::new(memtable.iter()),
                    Source::Level(files) => Box::new(LevelIterator::new(
                        self.table_cache.clone(),
                        self.icmp.clone(),
                        ReadOptions::default(),
                        files.clone(),
                    )),
                }
            })
            .collect();
        Box::new(MergingIterator::new(comparator, children))
    }

    fn cursor(&self, snapshot: u64, expiry: bool) -> DbIterator {
        let it = DbIterator::new(self.merged(), self.icmp.user_comparator().clone(), snapshot, Box::new(()));
        if expiry {
            let check: ExpiryCheck = Arc::new(is_expired_value);
            it.with_expiry(check)
        } else {
            it
        }
    }
}

// ---------------------------------------------------------------------------
// Strategies

fn arb_key() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(prop::sample::select(vec![0u8, 1, b'a', b'b', 0xff]), 0..3)
}

fn arb_writes(max_sources: usize) -> impl Strategy<Value = Vec<Write>> {
    let value = proptest::collection::vec(prop::sample::select(vec![0u8, 1, 2]), 0..3);
    proptest::collection::vec(
        (arb_key(), proptest::option::weighted(0.7, value), 0..max_sources)
            .prop_map(|(key, value, source)| Write { key, value, source }),
        0..40,
    )
}

#[derive(Debug, Clone)]
enum Op {
    SeekToFirst,
    SeekToLast,
    Seek(Vec<u8>),
    Next,
    Prev,
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => Just(Op::SeekToFirst),
        1 => Just(Op::SeekToLast),
        2 => arb_key().prop_map(Op::Seek),
        4 => Just(Op::Next),
        4 => Just(Op::Prev),
    ]
}

fn arb_bound() -> impl Strategy<Value = Bound<Vec<u8>>> {
    prop_oneof![
        1 => Just(Bound::Unbounded),
        2 => arb_key().prop_map(Bound::Included),
        2 => arb_key().prop_map(Bound::Excluded),
    ]
}

fn in_bounds(cmp: &dyn Comparator, key: &[u8], start: &Bound<Vec<u8>>, end: &Bound<Vec<u8>>) -> bool {
    let after_start = match start {
        Bound::Unbounded => true,
        Bound::Included(s) => cmp.compare(key, s) != Ordering::Less,
        Bound::Excluded(s) => cmp.compare(key, s) == Ordering::Greater,
    };
    let before_end = match end {
        Bound::Unbounded => true,
        Bound::Included(e) => cmp.compare(key, e) != Ordering::Greater,
        Bound::Excluded(e) => cmp.compare(key, e) == Ordering::Less,
    };
    after_start && before_end
}

/// Pulls from `range` as `pulls` says (true: front) and checks each result
/// against `expected`, taken from the matching end; then checks both ends
/// stay exhausted.
fn check_range_pulls(
    mut range: DbRange,
    expected: Vec<(Vec<u8>, Vec<u8>)>,
    pulls: &[bool],
) -> std::result::Result<(), TestCaseError> {
    let mut remaining: VecDeque<(Vec<u8>, Vec<u8>)> = expected.into();
    for &from_front in pulls {
        let (got, want) = if from_front {
            (range.next(), remaining.pop_front())
        } else {
            (range.next_back(), remaining.pop_back())
        };
        let got = got.map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap());
        prop_assert_eq!(got, want, "from_front={}", from_front);
    }
    // Drain alternately; whatever is left must come out exactly once.
    let mut toggle = pulls.len() % 2 == 0;
    loop {
        let (got, want) = if toggle {
            (range.next(), remaining.pop_front())
        } else {
            (range.next_back(), remaining.pop_back())
        };
        let done = got.is_none();
        let got = got.map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap());
        prop_assert_eq!(got, want);
        if done {
            break;
        }
        toggle = !toggle;
    }
    prop_assert!(range.next().is_none());
    prop_assert!(range.next_back().is_none());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Random moves on a DbIterator over a merged view match the model's
    /// view at the snapshot, in both directions and across switches.
    #[test]
    fn db_iterator_matches_model(
        writes in arb_writes(3),
        kinds in proptest::collection::vec(0u8..3, 3),
        entries_per_file in 1usize..5,
        snapshot_choice in 0u64..50,
        comparator_choice in 0u8..3,
        expiry in any::<bool>(),
        ops in proptest::collection::vec(arb_op(), 1..40),
    ) {
        let user = comparator(comparator_choice);
        let snapshot = snapshot_choice.min(writes.len() as u64 + 1);
        let view = build_view(&writes, user.clone(), &kinds, entries_per_file);
        let model = model_view(&writes, snapshot, &*user, expiry);
        let mut it = view.cursor(snapshot, expiry);
        let mut position: Option<usize> = None;
        for op in &ops {
            match op {
                Op::SeekToFirst => {
                    it.seek_to_first();
                    position = if model.is_empty() { None } else { Some(0) };
                }
                Op::SeekToLast => {
                    it.seek_to_last();
                    position = model.len().checked_sub(1);
                }
                Op::Seek(target) => {
                    it.seek(target);
                    let i = model.partition_point(|(k, _)| user.compare(k, target) == Ordering::Less);
                    position = (i < model.len()).then_some(i);
                }
                Op::Next => {
                    it.next();
                    position = position.and_then(|i| (i + 1 < model.len()).then_some(i + 1));
                }
                Op::Prev => {
                    it.prev();
                    position = position.and_then(|i| i.checked_sub(1));
                }
            }
            prop_assert!(it.status().is_ok());
            match position {
                None => prop_assert!(!it.valid(), "after {:?} expected invalid, at {:?}", op, it.key()),
                Some(i) => {
                    prop_assert!(it.valid(), "after {:?} expected {:?}", op, model[i]);
                    prop_assert_eq!(it.key(), &model[i].0[..], "after {:?}", op);
                    prop_assert_eq!(it.value(), &model[i].1[..]);
                    prop_assert_eq!(&it.key_bytes()[..], it.key());
                    prop_assert_eq!(&it.value_bytes()[..], it.value());
                }
            }
        }
    }

    /// A range read from both ends, in any interleaving, yields exactly the
    /// model's entries within the bounds, each once.
    #[test]
    fn range_matches_model(
        writes in arb_writes(3),
        kinds in proptest::collection::vec(0u8..3, 3),
        snapshot_choice in 0u64..50,
        comparator_choice in 0u8..3,
        start in arb_bound(),
        end in arb_bound(),
        pulls in proptest::collection::vec(any::<bool>(), 0..30),
    ) {
        let user = comparator(comparator_choice);
        let snapshot = snapshot_choice.min(writes.len() as u64 + 1);
        let view = build_view(&writes, user.clone(), &kinds, 3);
        let expected: Vec<_> = model_view(&writes, snapshot, &*user, false)
            .into_iter()
            .filter(|(k, _)| in_bounds(&*user, k, &start, &end))
            .collect();
        let range = DbRange::new(view.cursor(snapshot, false), view.cursor(snapshot, false), (start, end));
        check_range_pulls(range, expected, &pulls)?;
    }

    /// A prefix read from both ends yields exactly the model's keys with the
    /// prefix, with the bytewise comparator (successor bound) and with an
    /// equivalent non-bytewise one (prefix filter).
    #[test]
    fn prefix_matches_model(
        writes in arb_writes(2),
        kinds in proptest::collection::vec(0u8..3, 2),
        snapshot_choice in 0u64..50,
        bytewise in any::<bool>(),
        prefix in arb_key(),
        pulls in proptest::collection::vec(any::<bool>(), 0..30),
    ) {
        let user = comparator(if bytewise { 0 } else { 1 });
        let snapshot = snapshot_choice.min(writes.len() as u64 + 1);
        let view = build_view(&writes, user.clone(), &kinds, 2);
        let expected: Vec<_> = model_view(&writes, snapshot, &*user, false)
            .into_iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .collect();
        let range = DbRange::prefix(view.cursor(snapshot, false), view.cursor(snapshot, false), &prefix);
        check_range_pulls(range, expected, &pulls)?;
    }

    /// A LevelIterator over real tables behaves like a sorted vector of the
    /// same entries under random moves.
    #[test]
    fn level_iterator_matches_sorted_entries(
        keys in proptest::collection::btree_set((arb_key(), 1u64..20), 0..60),
        entries_per_file in 1usize..8,
        ops in proptest::collection::vec(
            prop_oneof![
                arb_op(),
                (arb_key(), 0u64..25).prop_map(|(k, s)| Op::Seek(make_internal_key(&k, s, ValueKind::Value))),
            ],
            1..40,
        ),
    ) {
        let icmp = InternalKeyComparator::new(BytewiseComparator::shared());
        let mut entries: Vec<(Vec<u8>, Vec<u8>)> = keys
            .iter()
            .map(|(k, s)| {
                let kind = if s % 3 == 0 { ValueKind::Deletion } else { ValueKind::Value };
                (make_internal_key(k, *s, kind), format!("{s}").into_bytes())
            })
            .collect();
        entries.sort_by(|a, b| icmp.compare_internal_keys(&a.0, &b.0));
        let fs = new_fs();
        let options = table_options(BytewiseComparator::shared());
        let files: Vec<_> = entries
            .chunks(entries_per_file)
            .enumerate()
            .map(|(i, chunk)| write_table(&*fs, &options, i as u64 + 10, chunk))
            .collect();
        let cache = Arc::new(TableCache::new(fs, DB_DIR, options, 3));
        let mut it = LevelIterator::new(cache, icmp.clone(), ReadOptions::default(), files);
        let mut position: Option<usize> = None;
        for op in &ops {
            match op {
                Op::SeekToFirst => {
                    it.seek_to_first();
                    position = if entries.is_empty() { None } else { Some(0) };
                }
                Op::SeekToLast => {
                    it.seek_to_last();
                    position = entries.len().checked_sub(1);
                }
                Op::Seek(target) => {
                    // Plain user keys from arb_op are too short to be
                    // internal keys; make them ones.
                    let target = if target.len() < 8 {
                        make_internal_key(target, 7, ValueKind::Value)
                    } else {
                        target.clone()
                    };
                    it.seek(&target);
                    let i = entries.partition_point(|(k, _)| icmp.compare_internal_keys(k, &target) == Ordering::Less);
                    position = (i < entries.len()).then_some(i);
                }
                Op::Next => {
                    it.next();
                    position = position.and_then(|i| (i + 1 < entries.len()).then_some(i + 1));
                }
                Op::Prev => {
                    it.prev();
                    position = position.and_then(|i| i.checked_sub(1));
                }
            }
            prop_assert!(it.status().is_ok());
            match position {
                None => prop_assert!(!it.valid()),
                Some(i) => {
                    prop_assert!(it.valid());
                    prop_assert_eq!(it.key(), &entries[i].0[..]);
                    prop_assert_eq!(it.value(), &entries[i].1[..]);
                    prop_assert_eq!(&it.value_bytes()[..], &entries[i].1[..]);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Fixed cases

fn sorted_entries(
    icmp: &InternalKeyComparator,
    mut entries: Vec<(Vec<u8>, Vec<u8>)>,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    entries.sort_by(|a, b| icmp.compare_internal_keys(&a.0, &b.0));
    entries
}

fn bytewise_icmp() -> InternalKeyComparator {
    InternalKeyComparator::new(BytewiseComparator::shared())
}

fn vec_cursor(entries: Vec<(Vec<u8>, Vec<u8>)>, snapshot: u64) -> DbIterator {
    let icmp = bytewise_icmp();
    let inner = VecIterator::new(Arc::new(icmp), entries);
    DbIterator::new(Box::new(inner), BytewiseComparator::shared(), snapshot, Box::new(()))
}

fn ik(user_key: &[u8], sequence: u64, kind: ValueKind) -> Vec<u8> {
    make_internal_key(user_key, sequence, kind)
}

fn collect_forward(it: &mut DbIterator) -> Vec<Vec<u8>> {
    let mut keys = Vec::new();
    it.seek_to_first();
    while it.valid() {
        keys.push(it.key().to_vec());
        it.next();
    }
    keys
}

#[test]
fn deletion_and_newer_entries_are_hidden() {
    let icmp = bytewise_icmp();
    let entries = sorted_entries(
        &icmp,
        vec![
            (ik(b"a", 1, ValueKind::Value), b"a1".to_vec()),
            (ik(b"a", 5, ValueKind::Value), b"a5".to_vec()),
            (ik(b"b", 2, ValueKind::Value), b"b2".to_vec()),
            (ik(b"b", 3, ValueKind::Deletion), vec![]),
            (ik(b"c", 9, ValueKind::Value), b"c9".to_vec()),
        ],
    );
    let mut at4 = vec_cursor(entries.clone(), 4);
    assert_eq!(collect_forward(&mut at4), [b"a".to_vec()]);
    at4.seek(b"a");
    assert_eq!(at4.value(), b"a1");
    let mut at2 = vec_cursor(entries.clone(), 2);
    assert_eq!(collect_forward(&mut at2), [b"a".to_vec(), b"b".to_vec()]);
    let mut at9 = vec_cursor(entries, 9);
    at9.seek_to_last();
    assert_eq!((at9.key(), at9.value()), (&b"c"[..], &b"c9"[..]));
    at9.prev();
    assert_eq!((at9.key(), at9.value()), (&b"a"[..], &b"a5"[..]));
    at9.prev();
    assert!(!at9.valid());
    assert!(at9.status().is_ok());
}

#[test]
fn corrupt_internal_key_stops_with_corruption() {
    let icmp = bytewise_icmp();
    let mut bad_kind = ik(b"b", 2, ValueKind::Value);
    let trailer_start = bad_kind.len() - 8;
    bad_kind[trailer_start] = 7; // unknown kind byte
    let entries = sorted_entries(
        &icmp,
        vec![
            (ik(b"a", 1, ValueKind::Value), b"a".to_vec()),
            (bad_kind, b"b".to_vec()),
            (ik(b"c", 3, ValueKind::Value), b"c".to_vec()),
        ],
    );
    // Forward: "a" is shown, then the bad key stops the iteration.
    let mut it = vec_cursor(entries.clone(), 10);
    it.seek_to_first();
    assert_eq!(it.key(), b"a");
    it.next();
    assert!(!it.valid());
    assert!(it.status().unwrap_err().is_corruption());
    // The error is sticky: no later move gets past it.
    it.seek_to_first();
    assert!(!it.valid());
    it.seek(b"c");
    assert!(!it.valid());
    assert!(it.status().unwrap_err().is_corruption());

    // Backward: "c" is found only after looking at the entry before it, the bad one.
    let mut it = vec_cursor(entries, 10);
    it.seek_to_last();
    assert!(!it.valid());
    assert!(it.status().unwrap_err().is_corruption());
}

#[test]
fn short_internal_key_is_corruption() {
    let entries = vec![(b"abc".to_vec(), b"v".to_vec())];
    let mut it = vec_cursor(entries, 10);
    it.seek_to_first();
    assert!(!it.valid());
    let err = it.status().unwrap_err();
    assert!(err.is_corruption(), "{err}");
    assert_eq!(it.key(), b"");
    assert_eq!(it.value(), b"");
}

/// An iterator that fails (becomes invalid with an error) after `moves`
/// successful `next`/`prev` calls.
struct FailingAfter {
    inner: VecIterator,
    moves_left: usize,
    error: Option<Error>,
}

impl InternalIterator for FailingAfter {
    fn valid(&self) -> bool {
        self.error.is_none() && self.inner.valid()
    }
    fn seek_to_first(&mut self) {
        self.inner.seek_to_first()
    }
    fn seek_to_last(&mut self) {
        self.inner.seek_to_last()
    }
    fn seek(&mut self, target: &[u8]) {
        self.inner.seek(target)
    }
    fn next(&mut self) {
        if self.moves_left == 0 {
            self.error = Some(Error::corruption("injected"));
        } else {
            self.moves_left -= 1;
            self.inner.next();
        }
    }
    fn prev(&mut self) {
        if self.moves_left == 0 {
            self.error = Some(Error::corruption("injected"));
        } else {
            self.moves_left -= 1;
            self.inner.prev();
        }
    }
    fn key(&self) -> &[u8] {
        self.inner.key()
    }
    fn value(&self) -> &[u8] {
        self.inner.value()
    }
    fn status(&self) -> Result<()> {
        self.error.clone().map_or(Ok(()), Err)
    }
}

/// A merged source that fails mid-scan must not make its entries silently
/// vanish: the iterator stops with the error instead of showing the other
/// sources' later keys (which might be older versions).
#[test]
fn failing_source_stops_the_iteration() {
    let icmp = bytewise_icmp();
    let cmp: Arc<dyn Comparator> = Arc::new(icmp.clone());
    let failing_entries: Vec<_> =
        (0..10u8).map(|i| (ik(&[b'a' + 2 * i], 100 + i as u64, ValueKind::Value), b"new".to_vec())).collect();
    let healthy_entries: Vec<_> =
        (0..20u8).map(|i| (ik(&[b'a' + i], 1 + i as u64, ValueKind::Value), b"old".to_vec())).collect();
    for direction_forward in [true, false] {
        let failing = FailingAfter {
            inner: VecIterator::new(cmp.clone(), failing_entries.clone()),
            moves_left: 3,
            error: None,
        };
        let healthy = VecIterator::new(cmp.clone(), healthy_entries.clone());
        let merged = MergingIterator::new(cmp.clone(), vec![Box::new(failing), Box::new(healthy)]);
        let mut it = DbIterator::new(Box::new(merged), BytewiseComparator::shared(), 1000, Box::new(()));
        let mut seen = Vec::new();
        if direction_forward {
            it.seek_to_first();
        } else {
            it.seek_to_last();
        }
        while it.valid() {
            seen.push((it.key().to_vec(), it.value().to_vec()));
            if direction_forward {
                it.next();
            } else {
                it.prev();
            }
        }
        assert!(it.status().is_err(), "forward={direction_forward}");
        // Every key shown whose newer version lives in the failing source
        // shows that newer version.
        for (k, v) in &seen {
            if (k[0] - b'a') % 2 == 0 {
                assert_eq!(v, b"new", "key {k:?} forward={direction_forward}");
            }
        }
        assert!(seen.len() < 20);
    }
}

#[test]
fn expired_value_hides_older_versions() {
    let icmp = bytewise_icmp();
    let entries = sorted_entries(
        &icmp,
        vec![
            (ik(b"a", 1, ValueKind::Value), b"\x01old".to_vec()),
            (ik(b"a", 2, ValueKind::Value), b"\x00expired".to_vec()),
            (ik(b"b", 3, ValueKind::Value), b"\x01live".to_vec()),
        ],
    );
    let check: ExpiryCheck = Arc::new(is_expired_value);
    let mut it = vec_cursor(entries.clone(), 10).with_expiry(check.clone());
    assert_eq!(collect_forward(&mut it), [b"b".to_vec()]);
    it.seek_to_last();
    it.prev();
    assert!(!it.valid());
    // Before the expiring write, the old value is visible.
    let mut it = vec_cursor(entries, 1).with_expiry(check);
    assert_eq!(collect_forward(&mut it), [b"a".to_vec()]);
}

#[test]
fn forward_keys_and_values_share_memtable_buffers() {
    let memtable = Memtable::new(bytewise_icmp());
    memtable.add(1, ValueKind::Value, b"key-a", b"value-a");
    memtable.add(2, ValueKind::Value, b"key-b", b"value-b");
    let mut it = DbIterator::new(Box::new(memtable.iter()), BytewiseComparator::shared(), 5, Box::new(()));
    it.seek(b"key-b");
    let key = it.key_bytes();
    let value = it.value_bytes();
    assert_eq!((&key[..], &value[..]), (&b"key-b"[..], &b"value-b"[..]));
    assert_eq!(key.as_ptr(), it.key().as_ptr());
    assert_eq!(value.as_ptr(), it.value().as_ptr());
    // In reverse mode the value is still the memtable's buffer, not a copy.
    it.seek_to_last();
    assert_eq!(it.key(), b"key-b");
    assert_eq!(it.value_bytes().as_ptr(), value.as_ptr());
    assert_eq!(&it.key_bytes()[..], b"key-b");
}

#[test]
fn pins_outlive_the_stream() {
    struct Pin(Arc<AtomicBool>);
    impl Drop for Pin {
        fn drop(&mut self) {
            self.0.store(true, AtomicOrdering::SeqCst);
        }
    }
    struct WatchingIterator {
        pin_dropped: Arc<AtomicBool>,
        saw_pin_alive_on_drop: Arc<AtomicBool>,
        inner: VecIterator,
    }
    impl Drop for WatchingIterator {
        fn drop(&mut self) {
            let alive = !self.pin_dropped.load(AtomicOrdering::SeqCst);
            self.saw_pin_alive_on_drop.store(alive, AtomicOrdering::SeqCst);
        }
    }
    impl InternalIterator for WatchingIterator {
        fn valid(&self) -> bool {
            self.inner.valid()
        }
        fn seek_to_first(&mut self) {
            self.inner.seek_to_first()
        }
        fn seek_to_last(&mut self) {
            self.inner.seek_to_last()
        }
        fn seek(&mut self, target: &[u8]) {
            self.inner.seek(target)
        }
        fn next(&mut self) {
            self.inner.next()
        }
        fn prev(&mut self) {
            self.inner.prev()
        }
        fn key(&self) -> &[u8] {
            self.inner.key()
        }
        fn value(&self) -> &[u8] {
            self.inner.value()
        }
        fn status(&self) -> Result<()> {
            self.inner.status()
        }
    }
    let pin_dropped = Arc::new(AtomicBool::new(false));
    let saw_pin_alive_on_drop = Arc::new(AtomicBool::new(false));
    let inner = WatchingIterator {
        pin_dropped: pin_dropped.clone(),
        saw_pin_alive_on_drop: saw_pin_alive_on_drop.clone(),
        inner: VecIterator::new(
            Arc::new(bytewise_icmp()),
            vec![(ik(b"k", 1, ValueKind::Value), b"v".to_vec())],
        ),
    };
    let pins: Box<dyn Any + Send> = Box::new(Pin(pin_dropped.clone()));
    let mut it = DbIterator::new(Box::new(inner), BytewiseComparator::shared(), 1, pins);
    assert!(it.pins().is::<Pin>());
    it.seek_to_first();
    assert_eq!(it.key(), b"k");
    drop(it);
    assert!(pin_dropped.load(AtomicOrdering::SeqCst));
    assert!(saw_pin_alive_on_drop.load(AtomicOrdering::SeqCst));
}

#[test]
fn read_sampling_fires_about_once_per_period() {
    let memtable = Memtable::new(bytewise_icmp());
    let value = vec![7u8; 64 * 1024];
    for i in 0..64u64 {
        memtable.add(i + 1, ValueKind::Value, format!("key{i:03}").as_bytes(), &value);
    }
    let entry_bytes = 6 + 8 + value.len();
    let total_bytes = (64 * entry_bytes) as u64;
    type Samples = Arc<Mutex<Vec<(Vec<u8>, usize)>>>;
    let samples: Samples = Arc::default();
    let sink = samples.clone();
    let mut it = DbIterator::new(Box::new(memtable.iter()), BytewiseComparator::shared(), 100, Box::new(()))
        .with_read_sampler(Box::new(move |key, bytes| sink.lock().unwrap().push((key.to_vec(), bytes))));
    assert_eq!(collect_forward(&mut it).len(), 64);
    let samples = samples.lock().unwrap();
    // Gaps lie in [PERIOD / 2, 3 * PERIOD / 2).
    let at_least = (total_bytes - 1) / (READ_BYTES_PERIOD * 3 / 2);
    let at_most = total_bytes.div_ceil(READ_BYTES_PERIOD / 2);
    assert!(
        (at_least..=at_most).contains(&(samples.len() as u64)),
        "{} samples for {total_bytes} bytes",
        samples.len()
    );
    for (key, bytes) in samples.iter() {
        let parsed = parse_internal_key(key).unwrap();
        assert!(parsed.user_key.starts_with(b"key"));
        assert_eq!(*bytes, entry_bytes);
    }
}

#[test]
fn next_and_prev_on_an_invalid_iterator_do_nothing() {
    let mut it = vec_cursor(vec![(ik(b"a", 1, ValueKind::Value), b"v".to_vec())], 5);
    assert!(!it.valid());
    it.next();
    it.prev();
    assert!(!it.valid());
    assert_eq!(it.key_bytes(), Bytes::new());
    it.seek(b"b");
    assert!(!it.valid());
    it.prev();
    assert!(!it.valid());
    it.seek(b"a");
    assert_eq!(it.key(), b"a");
}

#[test]
fn db_iterator_and_range_are_send() {
    fn assert_send<T: Send>() {}
    assert_send::<DbIterator>();
    assert_send::<DbRange>();
    assert_send::<LevelIterator>();
}

/// The range yields an error once, then nothing from either end.
#[test]
fn range_yields_an_error_once() {
    let icmp = bytewise_icmp();
    let mut bad = ik(b"c", 3, ValueKind::Value);
    let at = bad.len() - 8;
    bad[at] = 9;
    let entries =
        sorted_entries(&icmp, vec![(ik(b"a", 1, ValueKind::Value), b"a".to_vec()), (bad, b"c".to_vec())]);
    let mut range = DbRange::new(vec_cursor(entries.clone(), 10), vec_cursor(entries, 10), ..);
    assert_eq!(range.next().unwrap().unwrap().0, &b"a"[..]);
    assert!(range.next().unwrap().unwrap_err().is_corruption());
    assert!(range.next().is_none());
    assert!(range.next_back().is_none());
}

// ---------------------------------------------------------------------------
// LevelIterator with real tables

fn level_fixture(fs: &Arc<dyn FileSystem>) -> Vec<Arc<FileMetaData>> {
    let options = table_options(BytewiseComparator::shared());
    let entry = |k: &[u8], s| (ik(k, s, ValueKind::Value), k.to_vec());
    let empty_file = |number, around: &[u8]| {
        let meta = write_table(&**fs, &options, number, &[]);
        Arc::new(FileMetaData::new(
            meta.number,
            meta.file_size,
            ik(around, 50, ValueKind::Value),
            ik(around, 40, ValueKind::Value),
        ))
    };
    vec![
        empty_file(1, b"0"),
        write_table(&**fs, &options, 2, &[entry(b"a", 1), entry(b"b", 2)]),
        empty_file(3, b"c"),
        empty_file(4, b"d"),
        write_table(&**fs, &options, 5, &[entry(b"e", 3)]),
        empty_file(6, b"z"),
    ]
}

fn user_keys_forward(it: &mut LevelIterator) -> Vec<Vec<u8>> {
    let mut keys = Vec::new();
    while it.valid() {
        keys.push(parse_internal_key(it.key()).unwrap().user_key.to_vec());
        it.next();
    }
    keys
}

#[test]
fn level_iterator_skips_empty_files_both_ways() {
    let fs = new_fs();
    let files = level_fixture(&fs);
    let options = table_options(BytewiseComparator::shared());
    let cache = Arc::new(TableCache::new(fs, DB_DIR, options, 10));
    let mut it = LevelIterator::new(cache, bytewise_icmp(), ReadOptions::default(), files);
    it.seek_to_first();
    assert_eq!(user_keys_forward(&mut it), [b"a".to_vec(), b"b".to_vec(), b"e".to_vec()]);
    it.seek_to_last();
    let mut backward = Vec::new();
    while it.valid() {
        backward.push(parse_internal_key(it.key()).unwrap().user_key.to_vec());
        it.prev();
    }
    assert_eq!(backward, [b"e".to_vec(), b"b".to_vec(), b"a".to_vec()]);
    // A seek that lands in an empty file moves on to the next entry.
    it.seek(&ik(b"c", 45, ValueKind::Value));
    assert_eq!(parse_internal_key(it.key()).unwrap().user_key, b"e");
    assert_eq!(user_keys_forward(&mut it), [b"e".to_vec()]);
    it.seek(&ik(b"c", 45, ValueKind::Value));
    it.prev();
    assert_eq!(parse_internal_key(it.key()).unwrap().user_key, b"b");
    it.seek(&ik(b"y", 1, ValueKind::Value));
    assert!(!it.valid());
    assert!(it.status().is_ok());
}

#[test]
fn level_iterator_reports_a_missing_table() {
    let fs = new_fs();
    let mut files = level_fixture(&fs);
    files.insert(
        4,
        Arc::new(FileMetaData::new(99, 1000, ik(b"d1", 9, ValueKind::Value), ik(b"d2", 9, ValueKind::Value))),
    );
    let options = table_options(BytewiseComparator::shared());
    let cache = Arc::new(TableCache::new(fs, DB_DIR, options, 10));
    let mut it = LevelIterator::new(cache, bytewise_icmp(), ReadOptions::default(), files);
    it.seek_to_first();
    assert_eq!(user_keys_forward(&mut it), [b"a".to_vec(), b"b".to_vec()]);
    assert!(it.status().is_err());
    // Sticky: later seeks do not skip past the missing table.
    it.seek_to_last();
    assert!(!it.valid());
    assert!(it.status().is_err());
}

#[test]
fn level_iterator_reports_a_damaged_table_as_corruption() {
    let fs = new_fs();
    let path = table_file_name(Path::new(DB_DIR), 7);
    let mut file = fs.create_writable(&path, WriteMode::Buffered).unwrap();
    file.append(&[0x5a; 200]).unwrap();
    file.close().unwrap();
    let files = vec![Arc::new(FileMetaData::new(
        7,
        200,
        ik(b"a", 1, ValueKind::Value),
        ik(b"z", 1, ValueKind::Value),
    ))];
    let cache = Arc::new(TableCache::new(fs, DB_DIR, table_options(BytewiseComparator::shared()), 10));
    let mut it = LevelIterator::new(cache, bytewise_icmp(), ReadOptions::default(), files);
    it.seek(&ik(b"m", 5, ValueKind::Value));
    assert!(!it.valid());
    assert!(it.status().unwrap_err().is_corruption());
}

/// A data block of the level that fails to read mid-scan stops the merged
/// DbIterator with that error: the memtable's keys after it are not shown
/// as if the level had nothing there.
#[test]
fn level_read_error_mid_scan_reaches_the_db_iterator() {
    let memory = new_fs();
    let fault = Arc::new(FaultFs::new(memory));
    let fs: Arc<dyn FileSystem> = fault.clone();
    let options = table_options(BytewiseComparator::shared());
    let level_entries = |range: std::ops::Range<u32>| -> Vec<(Vec<u8>, Vec<u8>)> {
        range.map(|i| (ik(format!("k{i:03}").as_bytes(), 10, ValueKind::Value), b"table".to_vec())).collect()
    };
    let files = vec![
        write_table(&*fs, &options, 2, &level_entries(0..20)),
        write_table(&*fs, &options, 3, &level_entries(20..40)),
    ];
    let icmp = bytewise_icmp();
    let memtable = Arc::new(Memtable::new(icmp.clone()));
    for i in (0..40u32).step_by(5) {
        memtable.add(100 + i as u64, ValueKind::Value, format!("k{i:03}x").as_bytes(), b"mem");
    }
    let cache = Arc::new(TableCache::new(fs, DB_DIR, options, 10));
    let cursor = || {
        let comparator: Arc<dyn Comparator> = Arc::new(icmp.clone());
        let level = LevelIterator::new(cache.clone(), icmp.clone(), ReadOptions::default(), files.clone());
        let merged = MergingIterator::new(comparator, vec![Box::new(memtable.iter()), Box::new(level)]);
        DbIterator::new(Box::new(merged), BytewiseComparator::shared(), 1000, Box::new(memtable.clone()))
    };
    // Healthy: every key, and both tables are now open.
    let mut it = cursor();
    assert_eq!(collect_forward(&mut it).len(), 48);
    assert!(it.status().is_ok());
    drop(it);

    fault.add_rule(FaultRule::new(std::io::ErrorKind::Other).on_path("000003.ldb").on_ops([FaultOp::Read]));
    let mut it = cursor();
    let keys = collect_forward(&mut it);
    assert!(it.status().is_err());
    // Nothing at or after table 3's first key was shown.
    assert!(keys.iter().all(|k| k.as_slice() < b"k020".as_slice()), "{keys:?}");
    // Table 2's 20 keys and the memtable's 4 keys below "k020".
    assert_eq!(keys.len(), 24, "{keys:?}");
}
