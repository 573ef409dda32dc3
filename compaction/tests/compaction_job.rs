//! The compaction job's behaviour on hand-built inputs: output cutting,
//! the drop rules at and above the base level, the filter, determinism,
//! and cleanup when something fails.

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

mod common;

use std::collections::BTreeSet;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use lsmkit_base::filename::{parse_file_name, table_file_name, FileType};
use lsmkit_base::fs::{read_file_to_vec, write_file, FileSystem, MemFs};
use lsmkit_base::fs::{FaultFs, FaultOp, FaultRule};
use lsmkit_base::key::{make_internal_key, parse_internal_key, ValueKind};
use lsmkit_base::Error;
use lsmkit_compaction::{
    Compaction, CompactionInputs, CompactionReason, FilterDecision, LeveledPicker, ManualCompaction, Picker,
};
use lsmkit_version::{CompactPointers, FileMetaData, VersionEdit};

use common::{assert_levels_disjoint, Entry, TestDb};

fn put(key: &str, seq: u64, value: &str) -> Entry {
    (make_internal_key(key.as_bytes(), seq, ValueKind::Value), value.as_bytes().to_vec())
}

/// `len` pseudo-random letters (incompressible enough that Snappy keeps them).
fn noise(seed: u64, len: usize) -> String {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'a' + (x % 26) as u8)
        })
        .collect()
}

fn del(key: &str, seq: u64) -> Entry {
    (make_internal_key(key.as_bytes(), seq, ValueKind::Deletion), Vec::new())
}

/// Adds one table per `(level, entries)` and installs them.
fn install(db: &mut TestDb, tables: &[(usize, Vec<Entry>)]) {
    let mut edit = VersionEdit::new();
    for (level, entries) in tables {
        let meta = db.write_table(entries);
        edit.add_file(*level, meta);
    }
    db.apply(&edit);
}

/// A compaction of every file of `level` and `level + 1` into `level + 1`.
fn whole_levels(db: &TestDb, level: usize, max_output_file_size: u64) -> Compaction {
    Compaction::new(
        Arc::clone(&db.version),
        CompactionReason::Manual,
        vec![
            CompactionInputs { level, files: db.version.files(level).to_vec() },
            CompactionInputs { level: level + 1, files: db.version.files(level + 1).to_vec() },
        ],
        level + 1,
        Vec::new(),
        max_output_file_size,
        None,
    )
}

/// (user key, sequence, kind) of every entry of the outputs, in order.
fn output_entries(db: &TestDb, edit: &VersionEdit) -> Vec<(String, u64, ValueKind, Vec<u8>)> {
    let mut out = Vec::new();
    for (_, file) in &edit.new_files {
        for (k, v) in db.table_entries(file) {
            let parsed = parse_internal_key(&k).unwrap();
            out.push((String::from_utf8(parsed.user_key.to_vec()).unwrap(), parsed.sequence, parsed.kind, v));
        }
    }
    out
}

fn table_numbers(fs: &dyn FileSystem) -> BTreeSet<u64> {
    fs.list_dir("/db".as_ref())
        .unwrap()
        .iter()
        .filter_map(|name| parse_file_name(name))
        .filter(|(_, t)| *t == FileType::Table)
        .map(|(n, _)| n)
        .collect()
}

#[test]
fn newest_versions_survive_and_deletions_drop_at_the_base_level() {
    let mut db = TestDb::new();
    install(
        &mut db,
        &[
            (0, vec![put("a", 10, "a10"), del("b", 11), del("c", 12)]),
            (1, vec![put("a", 5, "a5"), put("b", 6, "b6")]),
            // Level 3 holds "c": its deletion marker must stay.
            (3, vec![put("c", 1, "c1")]),
        ],
    );
    let mut c = whole_levels(&db, 0, 1 << 20);
    let outcome = db.run(&mut c, &[], None).unwrap();
    assert_eq!(
        output_entries(&db, &outcome.edit),
        [("a".into(), 10, ValueKind::Value, b"a10".to_vec()), ("c".into(), 12, ValueKind::Deletion, vec![])]
    );
    let stats = &outcome.stats;
    assert_eq!((stats.input_files, stats.input_entries, stats.output_entries), (2, 5, 2));
    assert_eq!((stats.shadowed_entries, stats.obsolete_deletions), (2, 1));
    assert_eq!(stats.output_files, 1);
    assert!(stats.input_bytes > 0 && stats.output_bytes > 0);
    assert_eq!(outcome.edit.deleted_files.len(), 2);
    assert!(outcome.edit.compact_pointers.is_empty());
}

#[test]
fn snapshots_keep_what_they_see() {
    let mut db = TestDb::new();
    install(
        &mut db,
        &[(0, vec![put("k", 9, "v9"), put("k", 7, "v7"), del("k", 5), put("k", 3, "v3"), put("k", 1, "v1")])],
    );
    // Snapshot 6 sees the deletion at 5; snapshot 3 sees v3; nothing sees v7 or v1.
    let mut c = whole_levels(&db, 0, 1 << 20);
    let outcome = db.run(&mut c, &[6, 3], None).unwrap();
    let seqs: Vec<(u64, ValueKind)> = output_entries(&db, &outcome.edit).iter().map(|e| (e.1, e.2)).collect();
    assert_eq!(seqs, [(9, ValueKind::Value), (5, ValueKind::Deletion), (3, ValueKind::Value)]);
}

#[test]
fn outputs_are_cut_at_the_target_size() {
    let mut db = TestDb::new();
    let entries: Vec<Entry> = (0..400).map(|i| put(&format!("key{i:04}"), 1000 + i, &noise(i, 50))).collect();
    install(&mut db, &[(0, entries[..200].to_vec()), (0, entries[200..].to_vec())]);
    let mut c = whole_levels(&db, 0, 4096);
    let outcome = db.run(&mut c, &[], None).unwrap();
    assert!(outcome.outputs.len() >= 5, "{} outputs", outcome.outputs.len());
    for output in &outcome.outputs[..outcome.outputs.len() - 1] {
        assert!(output.file_size >= 4096);
        // Closed as soon as it reached the target: one more block at most.
        assert!(output.file_size < 4096 + 1024, "{}", output.file_size);
    }
    assert_eq!(outcome.outputs.iter().map(|o| o.entries).sum::<u64>(), 400);
    db.apply(&outcome.edit);
    assert_levels_disjoint(&db.version);
    assert_eq!(db.version.num_level_files(1), outcome.outputs.len());
}

#[test]
fn outputs_are_cut_at_the_grandparent_limit() {
    let mut db = TestDb::new();
    let keys = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    let entries: Vec<Entry> = keys.iter().enumerate().map(|(i, k)| put(k, 100 + i as u64, k)).collect();
    install(&mut db, &[(1, entries)]);
    // Grandparents "b", "d", "f", "h" of 600 KB each; the limit is 10 × 100 KB.
    let grandparents: Vec<Arc<FileMetaData>> = ["b", "d", "f", "h"]
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let key = make_internal_key(k.as_bytes(), 1, ValueKind::Value);
            Arc::new(FileMetaData::new(900 + i as u64, 600_000, key.clone(), key))
        })
        .collect();
    let mut c = Compaction::new(
        Arc::clone(&db.version),
        CompactionReason::Size,
        vec![
            CompactionInputs { level: 1, files: db.version.files(1).to_vec() },
            CompactionInputs { level: 2, files: vec![] },
        ],
        2,
        grandparents,
        100_000,
        Some((1, db.version.files(1)[0].largest.clone())),
    );
    let outcome = db.run(&mut c, &[], None).unwrap();
    let ranges: Vec<(Vec<u8>, Vec<u8>)> = outcome
        .outputs
        .iter()
        .map(|o| {
            (
                parse_internal_key(&o.smallest).unwrap().user_key.to_vec(),
                parse_internal_key(&o.largest).unwrap().user_key.to_vec(),
            )
        })
        .collect();
    // "e" passes b and d (1.2 MB > 1 MB): cut; "i" passes f and h: cut.
    assert_eq!(
        ranges,
        [(b"a".to_vec(), b"d".to_vec()), (b"e".to_vec(), b"h".to_vec()), (b"i".to_vec(), b"i".to_vec())]
    );
    assert_eq!(outcome.edit.compact_pointers, [(1, db.version.files(1)[0].largest.clone())]);
}

#[test]
fn filter_sees_only_unprotected_newest_values() {
    let seen = std::sync::Mutex::new(Vec::new());
    let filter = |level: usize, key: &[u8], value: &[u8]| {
        seen.lock().unwrap().push((level, key.to_vec(), value.to_vec()));
        match value {
            b"drop" => FilterDecision::Remove,
            b"old" => FilterDecision::ChangeValue(b"new".to_vec()),
            _ => FilterDecision::Keep,
        }
    };
    let mut db = TestDb::new();
    install(
        &mut db,
        &[
            (
                1,
                vec![
                    put("a", 20, "drop"),
                    put("a", 4, "drop"),
                    put("b", 21, "old"),
                    put("c", 3, "drop"),
                    del("d", 22),
                ],
            ),
            // Level 3 holds "a": a removed "a" needs a deletion marker.
            (3, vec![put("a", 1, "deep")]),
        ],
    );
    let mut c = whole_levels(&db, 1, 1 << 20);
    // Snapshot 10 protects a@4 and c@3.
    let outcome = db.run(&mut c, &[10], Some(&filter)).unwrap();
    assert_eq!(
        output_entries(&db, &outcome.edit),
        [
            ("a".into(), 20, ValueKind::Deletion, vec![]),
            ("a".into(), 4, ValueKind::Value, b"drop".to_vec()),
            ("b".into(), 21, ValueKind::Value, b"new".to_vec()),
            ("c".into(), 3, ValueKind::Value, b"drop".to_vec()),
            ("d".into(), 22, ValueKind::Deletion, vec![]),
        ]
    );
    assert_eq!(
        *seen.lock().unwrap(),
        [(2, b"a".to_vec(), b"drop".to_vec()), (2, b"b".to_vec(), b"old".to_vec())]
    );
    assert_eq!((outcome.stats.filter_removed, outcome.stats.filter_changed), (1, 1));

    // Without snapshots, "c" at its base level disappears entirely; "a" keeps a marker.
    let mut db = TestDb::new();
    install(&mut db, &[(1, vec![put("a", 20, "drop"), put("c", 3, "drop")]), (3, vec![put("a", 1, "deep")])]);
    let mut c = whole_levels(&db, 1, 1 << 20);
    let outcome = db.run(&mut c, &[], Some(&filter)).unwrap();
    assert_eq!(output_entries(&db, &outcome.edit), [("a".into(), 20, ValueKind::Deletion, vec![])]);
    assert_eq!((outcome.stats.filter_removed, outcome.stats.obsolete_deletions), (2, 1));
}

#[test]
fn everything_dropped_gives_no_output() {
    let mut db = TestDb::new();
    install(&mut db, &[(0, vec![del("a", 5)]), (1, vec![put("a", 2, "x")])]);
    let mut c = whole_levels(&db, 0, 1 << 20);
    let outcome = db.run(&mut c, &[], None).unwrap();
    assert!(outcome.outputs.is_empty());
    assert!(outcome.edit.new_files.is_empty());
    assert_eq!(outcome.edit.deleted_files.len(), 2);
    db.apply(&outcome.edit);
    assert_eq!(db.version.level_summary(), "files[ 0 0 0 0 0 0 0 ]");
}

#[test]
fn the_job_is_deterministic() {
    let run_once = || {
        let mut db = TestDb::new();
        let entries: Vec<Entry> =
            (0..300).map(|i| put(&format!("k{:03}", i % 170), 1 + i, &format!("value{i}"))).collect();
        let mut sorted_a = entries[..150].to_vec();
        let mut sorted_b = entries[150..].to_vec();
        let icmp = common::icmp();
        sorted_a.sort_by(|x, y| icmp.compare_internal_keys(&x.0, &y.0));
        sorted_b.sort_by(|x, y| icmp.compare_internal_keys(&x.0, &y.0));
        install(&mut db, &[(0, sorted_a), (0, sorted_b)]);
        let mut c = whole_levels(&db, 0, 2000);
        let outcome = db.run(&mut c, &[100], None).unwrap();
        outcome
            .outputs
            .iter()
            .map(|o| read_file_to_vec(db.fs.as_ref(), &table_file_name(&db.dir, o.number)).unwrap())
            .collect::<Vec<_>>()
    };
    let first = run_once();
    assert!(first.len() > 1);
    assert_eq!(first, run_once());
}

#[test]
fn failed_writes_leave_no_output_behind() {
    for failing_op in [FaultOp::Create, FaultOp::Write, FaultOp::Sync, FaultOp::SyncDir] {
        let fault_fs = Arc::new(FaultFs::new(Arc::new(MemFs::new())));
        let mut db = TestDb::with_fs(fault_fs.clone());
        let entries: Vec<Entry> =
            (0..300).map(|i| put(&format!("key{i:04}"), 1 + i, &noise(i, 40))).collect();
        install(&mut db, &[(0, entries)]);
        let before = table_numbers(db.fs.as_ref());
        // Outputs are numbered from 2; fail the second output (or the dir sync).
        let rule = FaultRule::new(io::ErrorKind::Other).on_ops([failing_op]);
        let rule = if failing_op == FaultOp::SyncDir { rule } else { rule.on_path("000003.ldb") };
        fault_fs.add_rule(rule);
        let mut c = whole_levels(&db, 0, 2048);
        let error = db.run(&mut c, &[], None).unwrap_err();
        assert!(matches!(error, Error::Io { .. }), "{failing_op:?}: {error}");
        fault_fs.clear_faults();
        assert_eq!(table_numbers(db.fs.as_ref()), before, "{failing_op:?}");
    }
}

#[test]
fn damaged_inputs_are_corruption_and_leave_no_output() {
    let mut db = TestDb::new();
    let entries: Vec<Entry> = (0..300).map(|i| put(&format!("key{i:04}"), 1 + i, &noise(i, 40))).collect();
    install(&mut db, &[(0, entries[..150].to_vec()), (0, entries[150..].to_vec())]);
    let before = table_numbers(db.fs.as_ref());
    // Flip a byte inside the second table's first data block.
    let path = table_file_name(&db.dir, 2);
    let mut bytes = read_file_to_vec(db.fs.as_ref(), &path).unwrap();
    bytes[100] ^= 0x40;
    write_file(db.fs.as_ref(), &path, &bytes, true).unwrap();
    let mut c = whole_levels(&db, 0, 2048);
    let error = db.run(&mut c, &[], None).unwrap_err();
    assert!(error.is_corruption(), "{error}");
    assert_eq!(table_numbers(db.fs.as_ref()), before);

    // The same internal key in two inputs is damage too.
    let mut db = TestDb::new();
    install(&mut db, &[(0, vec![put("a", 1, "x"), put("b", 2, "y")]), (0, vec![put("b", 2, "y")])]);
    let mut c = whole_levels(&db, 0, 2048);
    let error = db.run(&mut c, &[], None).unwrap_err();
    assert!(error.is_corruption(), "{error}");
    assert!(error.to_string().contains("out of order"), "{error}");
}

#[test]
fn an_interrupt_stops_the_job() {
    let mut db = TestDb::new();
    let entries: Vec<Entry> = (0..300).map(|i| put(&format!("key{i:04}"), 1 + i, &noise(i, 40))).collect();
    install(&mut db, &[(0, entries)]);
    let before = table_numbers(db.fs.as_ref());
    let calls = AtomicU64::new(0);
    let interrupt = || {
        if calls.fetch_add(1, Ordering::Relaxed) == 250 {
            Err(Error::NotSupported("shutting down".into()))
        } else {
            Ok(())
        }
    };
    let mut c = whole_levels(&db, 0, 2048);
    let fs = Arc::clone(&db.fs);
    let mut next = 100;
    let job = lsmkit_compaction::CompactionJob::new(fs.as_ref(), &db.dir, &db.cache).interrupt(&interrupt);
    let error = job
        .run(&mut c, &mut || {
            next += 1;
            next
        })
        .unwrap_err();
    assert!(matches!(error, Error::NotSupported(_)));
    assert_eq!(calls.load(Ordering::Relaxed), 251);
    assert_eq!(table_numbers(db.fs.as_ref()), before);
}

#[test]
fn manual_compaction_runs_in_pieces_until_done() {
    let mut db = TestDb::new();
    // Six level-1 tables of ~1.3 KB, a level-2 table under two of them.
    let tables: Vec<(usize, Vec<Entry>)> = (0..6)
        .map(|t| {
            (
                1,
                (0..20)
                    .map(|i| put(&format!("k{t}{i:02}"), 100 + t * 20 + i, &noise(t * 100 + i, 40)))
                    .collect(),
            )
        })
        .chain(std::iter::once((2, vec![put("k105", 1, "old"), put("k210", 2, "old")])))
        .collect();
    install(&mut db, &tables);
    let picker = LeveledPicker::new(2500);
    let mut manual = ManualCompaction::new(1, Some(b"k1"), Some(b"k4"));
    let mut pieces = 0;
    while let Some(mut c) = manual.next_piece(&picker, &db.version.clone()) {
        pieces += 1;
        assert!(c.num_input_files(0) <= 2, "{c:?}");
        let outcome = db.run(&mut c, &[], None).unwrap();
        db.apply(&outcome.edit);
        assert_levels_disjoint(&db.version);
        assert!(pieces < 10);
    }
    assert!(manual.is_done());
    // Tables k1.., k2.. (one piece of ≥ 2500 bytes) and k3.. moved to level 2;
    // k4.. starts after "k4" and stays.
    assert_eq!(pieces, 2);
    let left: Vec<Vec<u8>> = db.version.files(1).iter().map(|f| f.smallest_user_key().to_vec()).collect();
    assert_eq!(left, [b"k000".to_vec(), b"k400".to_vec(), b"k500".to_vec()]);
    // The compaction pointer of level 1 followed the pieces.
    let pointer = db.pointers.get(1).map(|p| parse_internal_key(p).unwrap().user_key.to_vec());
    assert_eq!(pointer, Some(b"k319".to_vec()));
    // The old values under k105 and k210 were merged away.
    let all = db.all_entries();
    assert!(all.values().flatten().all(|(_, v)| v.as_slice() != b"old"));
    assert_eq!(all.values().map(Vec::len).sum::<usize>(), 120);
}

#[test]
fn picked_compactions_feed_the_job() {
    // Four level-0 files trigger a leveled compaction; its edit carries the pointer.
    let mut db = TestDb::new();
    let tables: Vec<(usize, Vec<Entry>)> =
        (0..4).map(|t| (0, (0..10).map(|i| put(&format!("k{i}"), 1 + t * 10 + i, "v")).collect())).collect();
    install(&mut db, &tables);
    let picker = LeveledPicker::new(1 << 20);
    let mut c = picker.pick(&db.version, &CompactPointers::default()).unwrap();
    assert_eq!(c.num_input_files(0), 4);
    let outcome = db.run(&mut c, &[], None).unwrap();
    assert_eq!(outcome.edit.compact_pointers.len(), 1);
    assert_eq!(outcome.stats.output_entries, 10);
    db.apply(&outcome.edit);
    assert!(!picker.needs_compaction(&db.version));
}
