//! Subcompactions against the single-threaded merge: the same random
//! compaction run with `max_subcompactions` 1 and 4 must write exactly the
//! same entries in the same order (only the cut points between output
//! files may differ), with LevelDB's cuts or aligned ones, outputs must
//! never overlap, and a failing range must leave no output behind.

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

mod common;

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::sync::Arc;

use lsmkit_base::key::{make_internal_key, SequenceNumber, ValueKind};
use lsmkit_base::Error;
use lsmkit_compaction::{
    Compaction, CompactionFilter, CompactionInputs, CompactionJob, CompactionOutcome, CompactionReason,
    FilterDecision,
};
use lsmkit_version::{FileMetaData, VersionEdit};
use proptest::prelude::*;

use common::{icmp, test_filter, Entry, FilterFn, TestDb};

/// One write: key index, value (None = delete).
type Op = (u16, Option<Vec<u8>>);

/// Outputs are cut at this size, so a few KiB of input makes several.
const MAX_OUTPUT: u64 = 1500;

fn user_key(index: u16) -> Vec<u8> {
    format!("key{index:05}").into_bytes()
}

/// Sorted internal-key entries of `ops`, numbered from sequence `first`.
fn entries_of(ops: &[Op], first: SequenceNumber) -> Vec<Entry> {
    let icmp = icmp();
    let mut entries: Vec<Entry> = ops
        .iter()
        .enumerate()
        .map(|(i, (key, value))| {
            let sequence = first + i as u64;
            match value {
                Some(v) => (make_internal_key(&user_key(*key), sequence, ValueKind::Value), v.clone()),
                None => (make_internal_key(&user_key(*key), sequence, ValueKind::Deletion), Vec::new()),
            }
        })
        .collect();
    entries.sort_by(|a, b| icmp.compare_internal_keys(&a.0, &b.0));
    entries
}

/// Splits sorted entries into tables of about `per_table` entries, each cut
/// between user keys (so the tables of one level are disjoint).
fn disjoint_tables(entries: &[Entry], per_table: usize) -> Vec<Vec<Entry>> {
    let mut tables: Vec<Vec<Entry>> = Vec::new();
    let mut current: Vec<Entry> = Vec::new();
    for entry in entries {
        let new_user_key =
            current.last().is_none_or(|last| last.0[..last.0.len() - 8] != entry.0[..entry.0.len() - 8]);
        if current.len() >= per_table && new_user_key {
            tables.push(std::mem::take(&mut current));
        }
        current.push(entry.clone());
    }
    if !current.is_empty() {
        tables.push(current);
    }
    tables
}

/// A database holding `base` at level 2 (the grandparents), `middle` at
/// level 1 and each of `newest` as a level-0 file, the sequences growing in
/// that order; and the compaction of level 0 and level 1 into level 1,
/// cutting its outputs at grandparent boundaries too when `aligned`.
fn build(
    base: &[Op],
    middle: &[Op],
    newest: &[Vec<Op>],
    per_table: usize,
    aligned: bool,
) -> (TestDb, Compaction) {
    let mut db = TestDb::new();
    let mut edit = VersionEdit::new();
    let mut sequence = 1;
    for (level, ops) in [(2, base), (1, middle)] {
        for table in disjoint_tables(&entries_of(ops, sequence), per_table) {
            let meta = db.write_table(&table);
            edit.add_file(level, meta);
        }
        sequence += ops.len() as u64;
    }
    for ops in newest.iter().filter(|ops| !ops.is_empty()) {
        let meta = db.write_table(&entries_of(ops, sequence));
        edit.add_file(0, meta);
        sequence += ops.len() as u64;
    }
    db.apply(&edit);
    let v = Arc::clone(&db.version);
    let compaction = Compaction::new(
        Arc::clone(&v),
        CompactionReason::Manual,
        vec![
            CompactionInputs { level: 0, files: v.files(0).to_vec() },
            CompactionInputs { level: 1, files: v.files(1).to_vec() },
        ],
        1,
        v.files(2).to_vec(),
        MAX_OUTPUT,
        None,
    )
    .with_aligned_cuts(aligned);
    (db, compaction)
}

/// Runs `compaction` on `db` with `threads` subcompactions.
fn run(
    db: &mut TestDb,
    compaction: &mut Compaction,
    threads: usize,
    snapshots: &[SequenceNumber],
    filter: Option<&dyn CompactionFilter>,
) -> lsmkit_base::Result<CompactionOutcome> {
    let fs = Arc::clone(&db.fs);
    let cache = Arc::clone(&db.cache);
    let dir = db.dir.clone();
    let mut next = db.next_file_number;
    let job = CompactionJob::new(fs.as_ref(), &dir, &cache)
        .snapshots(snapshots)
        .filter(filter)
        .verify_checksums(true)
        .max_subcompactions(threads);
    let result = job.run(compaction, &mut || {
        next += 1;
        next - 1
    });
    db.next_file_number = next;
    result
}

/// Every entry of the outputs, in edit order, after checking that the
/// outputs are in key order without overlap and match their metadata.
fn output_entries(db: &TestDb, outcome: &CompactionOutcome) -> Vec<Entry> {
    let icmp = icmp();
    let files: Vec<FileMetaData> = outcome.edit.new_files.iter().map(|(_, f)| f.clone()).collect();
    assert_eq!(files.len(), outcome.outputs.len());
    for pair in files.windows(2) {
        assert_eq!(
            icmp.compare_internal_keys(&pair[0].largest, &pair[1].smallest),
            Ordering::Less,
            "outputs {} and {} overlap",
            pair[0].number,
            pair[1].number
        );
    }
    let numbers: BTreeSet<u64> = files.iter().map(|f| f.number).collect();
    assert_eq!(numbers.len(), files.len(), "file numbers reused");
    let mut entries = Vec::new();
    for f in &files {
        let table = db.table_entries(f);
        assert!(!table.is_empty());
        entries.extend(table);
    }
    assert_eq!(entries.len() as u64, outcome.stats.output_entries);
    entries
}

fn op_strategy(keys: u16) -> impl Strategy<Value = Op> {
    (
        0..keys,
        prop_oneof![
            3 => proptest::collection::vec(b'a'..=b'z', 0..40).prop_map(Some),
            1 => Just(None),
        ],
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn four_threads_write_what_one_writes(
        base in proptest::collection::vec(op_strategy(400), 0..300),
        middle in proptest::collection::vec(op_strategy(400), 0..400),
        newest in proptest::collection::vec(proptest::collection::vec(op_strategy(400), 0..200), 1..5),
        per_table in 20usize..120,
        snapshot_picks in proptest::collection::vec(0u64..1500, 0..3),
        use_filter in any::<bool>(),
        aligned in any::<bool>(),
    ) {
        let filter: Option<&dyn CompactionFilter> =
            if use_filter { Some(&(test_filter as FilterFn)) } else { None };
        let (mut one_db, mut one) = build(&base, &middle, &newest, per_table, aligned);
        let (mut four_db, mut four) = build(&base, &middle, &newest, per_table, aligned);
        let single = run(&mut one_db, &mut one, 1, &snapshot_picks, filter).unwrap();
        let parallel = run(&mut four_db, &mut four, 4, &snapshot_picks, filter).unwrap();

        let single_entries = output_entries(&one_db, &single);
        let parallel_entries = output_entries(&four_db, &parallel);
        prop_assert_eq!(&single_entries, &parallel_entries);
        prop_assert_eq!(&single.edit.deleted_files, &parallel.edit.deleted_files);
        prop_assert!(parallel.edit.new_files.iter().all(|(level, _)| *level == 1));
        let mut single_stats = single.stats.clone();
        let mut parallel_stats = parallel.stats.clone();
        single_stats.output_files = 0;
        single_stats.output_bytes = 0;
        parallel_stats.output_files = 0;
        parallel_stats.output_bytes = 0;
        prop_assert_eq!(single_stats, parallel_stats);

        // Installing either edit gives a valid Version with disjoint levels.
        four_db.apply(&parallel.edit);
        common::assert_levels_disjoint(&four_db.version);
    }
}

/// A compaction big enough to split: 8 level-0 files over the same 2000
/// keys on top of level-1 tables.
fn big_compaction() -> (TestDb, Compaction) {
    let middle: Vec<Op> = (0..2000u16).map(|k| (k, Some(format!("old{k}").into_bytes()))).collect();
    let newest: Vec<Vec<Op>> = (0..8u16)
        .map(|f| (0..250u16).map(|i| ((i * 8 + f) % 2000, Some(vec![b'a' + f as u8; 30]))).collect())
        .collect();
    build(&[], &middle, &newest, 100, false)
}

#[test]
fn a_big_compaction_is_split_and_uses_every_file_number_once() {
    let (mut one_db, mut one) = big_compaction();
    let (mut four_db, mut four) = big_compaction();
    let single = run(&mut one_db, &mut one, 1, &[], None).unwrap();
    let parallel = run(&mut four_db, &mut four, 4, &[], None).unwrap();
    assert_eq!(output_entries(&one_db, &single), output_entries(&four_db, &parallel));
    // Only the outputs' files were created besides the inputs.
    let numbers: BTreeSet<u64> = parallel.outputs.iter().map(|o| o.number).collect();
    let first_output = four_db.next_file_number - numbers.len() as u64;
    assert_eq!(numbers, (first_output..four_db.next_file_number).collect());
}

#[test]
fn the_filter_is_asked_once_per_newest_value_from_every_thread() {
    let (mut db, mut compaction) = big_compaction();
    let calls = AtomicUsize::new(0);
    let threads = std::sync::Mutex::new(std::collections::HashSet::new());
    let counting = |_level: usize, _key: &[u8], _value: &[u8]| {
        calls.fetch_add(1, AtomicOrdering::Relaxed);
        threads.lock().unwrap().insert(std::thread::current().id());
        FilterDecision::Keep
    };
    let outcome = run(&mut db, &mut compaction, 4, &[], Some(&counting)).unwrap();
    // 2000 distinct keys, each offered once (its newest version).
    assert_eq!(calls.load(AtomicOrdering::Relaxed), 2000);
    assert_eq!(outcome.stats.output_entries, 2000);
    assert!(threads.lock().unwrap().len() > 1, "the filter ran on one thread only");
}

#[test]
fn a_failing_range_removes_every_output_of_every_range() {
    let (mut db, mut compaction) = big_compaction();
    let before: BTreeSet<String> = db.fs.list_dir(&db.dir).unwrap().into_iter().collect();
    let checks = AtomicUsize::new(0);
    let interrupt = || -> lsmkit_base::Result<()> {
        if checks.fetch_add(1, AtomicOrdering::Relaxed) == 3000 {
            Err(Error::InvalidArgument("stop here".into()))
        } else {
            Ok(())
        }
    };
    let fs = Arc::clone(&db.fs);
    let cache = Arc::clone(&db.cache);
    let dir = db.dir.clone();
    let mut next = db.next_file_number;
    let job = CompactionJob::new(fs.as_ref(), &dir, &cache).interrupt(&interrupt).max_subcompactions(4);
    let err = job
        .run(&mut compaction, &mut || {
            next += 1;
            next - 1
        })
        .unwrap_err();
    assert!(err.to_string().contains("stop here"), "{err}");
    assert!(next > db.next_file_number, "no output was started before the failure");
    let after: BTreeSet<String> = db.fs.list_dir(&db.dir).unwrap().into_iter().collect();
    assert_eq!(before, after);
    db.next_file_number = next;
}
