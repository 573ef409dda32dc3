//! The compaction job against a model: a random history of puts and
//! deletes is laid out over the levels as an LSM tree would hold it, then
//! compacted step by step with either picker (size, seek-free, manual and
//! trivial-move steps; the leveled one with either file priority and
//! either way of cutting outputs). After every step the read path must show, at every
//! live snapshot, exactly what the history says; the current state may only
//! change as the compaction filter asked. Every output must be a valid table
//! and levels ≥ 1 must not overlap.

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};

use lsmkit_base::key::{
    make_internal_key, parse_internal_key, LookupKey, SequenceNumber, ValueKind, MAX_SEQUENCE_NUMBER,
};
use lsmkit_compaction::{
    CompactionFilter, CompactionPriority, FilterDecision, LeveledPicker, ManualCompaction, Picker,
    PickerOptions, TieredOptions, TieredPicker,
};
use lsmkit_version::{VersionEdit, NUM_LEVELS};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use common::{assert_levels_disjoint, read_view_of, test_filter, Entry, FilterFn, TestDb};

/// One write of the history: key index, value (None = delete), sequence gap.
type Op = (u8, Option<Vec<u8>>, u64);

const KEYS: u8 = 30;

fn user_key(index: u8) -> Vec<u8> {
    format!("key{index:03}").into_bytes()
}

/// The state the history defines at `snapshot`.
fn model_view(
    history: &[(SequenceNumber, u8, Option<Vec<u8>>)],
    snapshot: SequenceNumber,
) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut view = BTreeMap::new();
    for (seq, key, value) in history {
        if *seq > snapshot {
            break;
        }
        match value {
            Some(v) => view.insert(user_key(*key), v.clone()),
            None => view.remove(&user_key(*key)),
        };
    }
    view
}

/// Splits `len` items into `parts` non-empty consecutive pieces at random.
fn random_cuts(rng: &mut StdRng, len: usize, parts: usize) -> Vec<std::ops::Range<usize>> {
    let parts = parts.clamp(1, len.max(1));
    let mut cuts: Vec<usize> = (1..len).collect();
    let mut chosen = Vec::new();
    for _ in 1..parts {
        let i = rng.random_range(0..cuts.len());
        chosen.push(cuts.swap_remove(i));
    }
    chosen.sort_unstable();
    let mut ranges = Vec::new();
    let mut start = 0;
    for cut in chosen.into_iter().chain(std::iter::once(len)) {
        ranges.push(start..cut);
        start = cut;
    }
    ranges
}

/// Lays the history out: the oldest chunks in random deeper levels (each
/// split into files at random entry boundaries, so one user key may span
/// two files), the newest chunks as level-0 files.
fn build_lsm(db: &mut TestDb, rng: &mut StdRng, entries: &[Entry]) {
    let deep_runs = rng.random_range(0..=3usize);
    let level0_files = rng.random_range(1..=5usize);
    let chunks = random_cuts(rng, entries.len(), deep_runs + level0_files);
    let deep_runs = chunks.len().saturating_sub(level0_files).min(deep_runs);
    let mut levels: Vec<usize> = (1..NUM_LEVELS).collect();
    while levels.len() > deep_runs {
        levels.swap_remove(rng.random_range(0..levels.len()));
    }
    levels.sort_unstable();
    let icmp = common::icmp();
    let mut edit = VersionEdit::new();
    for (i, chunk) in chunks.iter().enumerate() {
        let mut sorted: Vec<Entry> = entries[chunk.clone()].to_vec();
        sorted.sort_by(|a, b| icmp.compare_internal_keys(&a.0, &b.0));
        if i < deep_runs {
            // Older chunks go deeper.
            let level = levels[deep_runs - 1 - i];
            let files = rng.random_range(1..=4usize);
            for piece in random_cuts(rng, sorted.len(), files) {
                let meta = db.write_table(&sorted[piece]);
                edit.add_file(level, meta);
            }
        } else {
            let meta = db.write_table(&sorted);
            edit.add_file(0, meta);
        }
    }
    db.apply(&edit);
}

/// For each user key, the entry the read path finds at the current state:
/// (file number, sequence, kind).
fn newest_entries(
    db: &TestDb,
    entries: &HashMap<u64, Vec<Entry>>,
) -> HashMap<Vec<u8>, (u64, SequenceNumber, ValueKind)> {
    let mut out = HashMap::new();
    for index in 0..KEYS {
        let key = user_key(index);
        let lookup = LookupKey::new(&key, MAX_SEQUENCE_NUMBER);
        for (_, file) in db.version.files_for_get(lookup.internal_key()) {
            let found = entries[&file.number].iter().find_map(|(k, _)| {
                let parsed = parse_internal_key(k).unwrap();
                (parsed.user_key == key.as_slice()).then_some((parsed.sequence, parsed.kind))
            });
            if let Some((seq, kind)) = found {
                out.insert(key, (file.number, seq, kind));
                break;
            }
        }
    }
    out
}

struct Case {
    db: TestDb,
    history: Vec<(SequenceNumber, u8, Option<Vec<u8>>)>,
    snapshots: Vec<SequenceNumber>,
    /// The current state as the model expects it (the history, then the filter's edits).
    current: BTreeMap<Vec<u8>, Vec<u8>>,
    filter: Option<FilterFn>,
    keys: Vec<Vec<u8>>,
}

impl Case {
    fn check_views(&self, context: &str) {
        let entries = self.db.all_entries();
        for &snapshot in &self.snapshots {
            let seen = read_view_of(&self.db.version, &entries, &self.keys, snapshot);
            assert_eq!(seen, model_view(&self.history, snapshot), "snapshot {snapshot} after {context}");
        }
        let seen = read_view_of(&self.db.version, &entries, &self.keys, MAX_SEQUENCE_NUMBER);
        assert_eq!(seen, self.current, "current state after {context}");
    }

    /// Runs (or moves) one compaction and checks everything.
    fn step(&mut self, mut compaction: lsmkit_compaction::Compaction, context: &str) {
        if let Some(edit) = compaction.trivial_move_edit() {
            self.db.apply(&edit);
            assert_levels_disjoint(&self.db.version);
            self.check_views(context);
            return;
        }
        let before = self.db.all_entries();
        let inputs: HashSet<u64> = compaction.all_input_files().map(|(_, f)| f.number).collect();
        let input_entries: usize = inputs.iter().map(|n| before[n].len()).sum();
        // The filter's effect on the current state, as the model predicts it.
        let max_snapshot = self.snapshots.iter().copied().max().unwrap_or(0);
        let mut expected_current = self.current.clone();
        if let Some(filter) = self.filter {
            for (key, (file, seq, kind)) in newest_entries(&self.db, &before) {
                if kind == ValueKind::Value && seq > max_snapshot && inputs.contains(&file) {
                    let value = expected_current.get(&key).cloned().unwrap();
                    match filter(compaction.output_level(), &key, &value) {
                        FilterDecision::Keep => {}
                        FilterDecision::Remove => {
                            expected_current.remove(&key);
                        }
                        FilterDecision::ChangeValue(v) => {
                            expected_current.insert(key, v);
                        }
                    }
                }
            }
        }
        let filter = self.filter.as_ref().map(|f| f as &dyn CompactionFilter);
        let outcome = self.db.run(&mut compaction, &self.snapshots, filter).unwrap();
        let stats = &outcome.stats;
        assert_eq!(stats.input_entries, input_entries as u64, "{context}");
        assert_eq!(stats.input_entries, stats.output_entries + stats.dropped_entries(), "{context}");
        assert_eq!(stats.output_files, outcome.outputs.len());
        let mut written = 0;
        for output in &outcome.outputs {
            let meta = outcome.edit.new_files.iter().find(|(_, f)| f.number == output.number).unwrap();
            assert_eq!(meta.0, compaction.output_level());
            let entries = self.db.table_entries(&meta.1);
            assert_eq!(entries.len() as u64, output.entries);
            written += entries.len() as u64;
        }
        assert_eq!(written, stats.output_entries);
        assert_eq!(outcome.edit.deleted_files.len(), inputs.len());
        self.db.apply(&outcome.edit);
        assert_levels_disjoint(&self.db.version);
        self.current = expected_current;
        self.check_views(context);
    }
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let value =
        (prop::sample::select(vec![b'a', b'b', b'x', b'y']), prop::collection::vec(any::<u8>(), 0..40))
            .prop_map(|(first, rest)| {
                let mut v = vec![first];
                v.extend(rest);
                v
            });
    (0..KEYS, prop::option::weighted(0.75, value), 1u64..4)
}

fn run_case(ops: Vec<Op>, seed: u64, tiered: bool, use_filter: bool) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut db = TestDb::new();
    let mut history = Vec::new();
    let mut entries = Vec::new();
    let mut seq = 0;
    for (key, value, gap) in ops {
        seq += gap;
        let kind = if value.is_some() { ValueKind::Value } else { ValueKind::Deletion };
        entries.push((make_internal_key(&user_key(key), seq, kind), value.clone().unwrap_or_default()));
        history.push((seq, key, value));
    }
    build_lsm(&mut db, &mut rng, &entries);
    // Tables laid out here that no compaction ever rewrites (e.g. the whole
    // history placed in the last level, which a full compaction leaves
    // alone, as LevelDB's does) hold whatever the layout put there.
    let laid_out_tables: HashSet<u64> = db.all_entries().keys().copied().collect();
    let snapshot_count = rng.random_range(0..=3);
    let snapshots: Vec<SequenceNumber> = (0..snapshot_count).map(|_| rng.random_range(1..=seq)).collect();
    let keys: Vec<Vec<u8>> = (0..KEYS).map(user_key).collect();
    let mut case = Case {
        current: model_view(&history, MAX_SEQUENCE_NUMBER),
        db,
        history,
        snapshots,
        filter: if use_filter { Some(test_filter) } else { None },
        keys,
    };
    case.check_views("building the tree");

    let max_file_size = rng.random_range(600..3000u64);
    let picker: Box<dyn Picker> = if tiered {
        let options =
            TieredOptions { run_count_trigger: rng.random_range(2..=4), ..TieredOptions::default() };
        Box::new(TieredPicker::new(max_file_size, options))
    } else {
        // Either file priority, either way of cutting outputs.
        let priority = if rng.random_bool(0.5) {
            CompactionPriority::MinOverlappingRatio
        } else {
            CompactionPriority::RoundRobin
        };
        Box::new(LeveledPicker::with_options(PickerOptions {
            max_file_size,
            priority,
            aligned_output_cuts: rng.random_bool(0.5),
            ..PickerOptions::default()
        }))
    };
    for step in 0..8 {
        let compaction = match picker.pick(&case.db.version, &case.db.pointers) {
            Some(c) => Some(c),
            None => {
                let level = rng.random_range(0..NUM_LEVELS - 1);
                let a = user_key(rng.random_range(0..KEYS));
                let b = user_key(rng.random_range(0..KEYS));
                let (begin, end) = if a <= b { (a, b) } else { (b, a) };
                picker.pick_range(&case.db.version, level, Some(&begin), Some(&end))
            }
        };
        let Some(compaction) = compaction else { continue };
        let context = format!("step {step}: {compaction:?}");
        case.step(compaction, &context);
    }

    // Finally compact everything into the last level, as DB::CompactRange does.
    for level in 0..NUM_LEVELS - 1 {
        let mut manual = ManualCompaction::new(level, None, None);
        while let Some(compaction) = manual.next_piece(picker.as_ref(), &case.db.version.clone()) {
            let context = format!("full compaction: {compaction:?}");
            case.step(compaction, &context);
        }
        assert!(manual.is_done());
    }
    for level in 0..NUM_LEVELS - 1 {
        assert!(case.db.version.files(level).is_empty(), "level {level} not empty after a full compaction");
    }
    // Only what some reader can see is left: per key, at most one version
    // per stripe, and no deletion marker below every snapshot.
    let mut per_key: HashMap<Vec<u8>, usize> = HashMap::new();
    let oldest_snapshot = case.snapshots.iter().copied().min();
    for (number, table) in case.db.all_entries() {
        if laid_out_tables.contains(&number) {
            continue;
        }
        for (k, _) in &table {
            let parsed = parse_internal_key(k).unwrap();
            *per_key.entry(parsed.user_key.to_vec()).or_default() += 1;
            if parsed.kind == ValueKind::Deletion {
                assert!(
                    oldest_snapshot.is_some_and(|s| parsed.sequence > s),
                    "obsolete deletion marker {:?}",
                    k.escape_ascii().to_string()
                );
            }
        }
    }
    let stripes = case.snapshots.iter().collect::<HashSet<_>>().len() + 1;
    assert!(per_key.values().all(|&n| n <= stripes), "{per_key:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn every_snapshot_keeps_its_view(
        ops in prop::collection::vec(op_strategy(), 1..250),
        seed in any::<u64>(),
        tiered in any::<bool>(),
        use_filter in any::<bool>(),
    ) {
        run_case(ops, seed, tiered, use_filter);
    }
}
