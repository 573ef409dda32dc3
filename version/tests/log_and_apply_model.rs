//! Property test: a random series of flushes, compactions, trivial moves,
//! reopenings and held Versions, applied through `log_and_apply`, is checked
//! after every step against a model (a map of files per level), and
//! recovering from disk at any point yields exactly the same Version,
//! counters and compaction pointers. Garbage collection runs after every
//! step and must never delete a file some live Version or the live MANIFEST
//! needs.

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use lsmkit_base::comparator::BytewiseComparator;
use lsmkit_base::filename::{current_file_name, parse_file_name, table_file_name, FileType};
use lsmkit_base::fs::{read_file_to_vec, write_file, FileSystem, MemFs};
use lsmkit_base::key::{make_internal_key, InternalKeyComparator, ValueKind};
use lsmkit_version::{FileMetaData, Version, VersionEdit, VersionSet, VersionSetOptions, NUM_LEVELS};
use proptest::prelude::*;
use proptest::sample::Index;

const DIR: &str = "db";

#[derive(Debug, Clone)]
enum Op {
    /// A memtable flush to level 0 covering keys `lo..=lo+span`.
    Flush { lo: u8, span: u8, writes: u8 },
    /// A compaction of one file of `level` (and what it overlaps) into `level + 1`.
    Compact { level: usize, pick: Index, split: bool },
    /// One file of `level` moved to `level + 1` if that level has room.
    TrivialMove { level: usize, pick: Index },
    /// Keep the current Version alive (as an iterator would).
    Hold,
    /// Drop every held Version.
    Release,
    /// Close and recover, as a database restart does.
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<u8>(), 0u8..40, 1u8..20).prop_map(|(lo, span, writes)| Op::Flush { lo, span, writes }),
        3 => (0..NUM_LEVELS - 1, any::<Index>(), any::<bool>()).prop_map(|(level, pick, split)| Op::Compact { level, pick, split }),
        2 => (0..NUM_LEVELS - 1, any::<Index>()).prop_map(|(level, pick)| Op::TrivialMove { level, pick }),
        1 => Just(Op::Hold),
        1 => Just(Op::Release),
        1 => Just(Op::Reopen),
    ]
}

fn user_key(k: u8) -> Vec<u8> {
    format!("k{k:03}").into_bytes()
}

fn ik(k: u8, sequence: u64) -> Vec<u8> {
    make_internal_key(&user_key(k), sequence, ValueKind::Value)
}

fn key_byte(user_key: &[u8]) -> u8 {
    std::str::from_utf8(&user_key[1..]).unwrap().parse().unwrap()
}

struct Harness {
    fs: Arc<dyn FileSystem>,
    options: VersionSetOptions,
    versions: VersionSet,
    /// The model: per level, number → file.
    model: Vec<BTreeMap<u64, FileMetaData>>,
    pointers: BTreeMap<usize, Vec<u8>>,
    held: Vec<Arc<Version>>,
    /// The next-file counter recorded by the last durable edit.
    recorded_next_file: u64,
}

impl Harness {
    fn new(options: VersionSetOptions) -> Harness {
        let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
        fs.create_dir_all(Path::new(DIR)).unwrap();
        let versions = VersionSet::new(DIR, fs.clone(), icmp(), options.clone());
        versions.create_new_db().unwrap();
        let mut harness = Harness {
            fs,
            options,
            versions,
            model: vec![BTreeMap::new(); NUM_LEVELS],
            pointers: BTreeMap::new(),
            held: Vec::new(),
            recorded_next_file: 2,
        };
        harness.reopen();
        harness
    }

    fn open(&self) -> VersionSet {
        let mut versions = VersionSet::new(DIR, self.fs.clone(), icmp(), self.options.clone());
        versions.recover().unwrap();
        versions
    }

    fn reopen(&mut self) {
        let recovered = self.open();
        self.held.clear();
        self.check_recovered(&recovered);
        self.versions = recovered;
    }

    /// A fresh recovery from disk matches the running VersionSet.
    fn check_recovered(&self, recovered: &VersionSet) {
        assert_eq!(*recovered.current(), *self.versions.current());
        assert_eq!(recovered.last_sequence(), self.versions.last_sequence());
        assert_eq!(recovered.log_number(), self.versions.log_number());
        assert_eq!(recovered.prev_log_number(), self.versions.prev_log_number());
        assert_eq!(recovered.compact_pointers(), self.versions.compact_pointers());
        // One number is reserved for the MANIFEST the next log_and_apply writes.
        assert_eq!(recovered.next_file_number(), self.recorded_next_file + 1);
    }

    fn apply(&mut self, mut edit: VersionEdit) {
        self.versions.log_and_apply(&mut edit).unwrap();
        self.recorded_next_file = edit.next_file_number.unwrap();
        for &(level, number) in &edit.deleted_files {
            self.model[level].remove(&number);
        }
        for (level, file) in &edit.new_files {
            self.model[*level].insert(file.number, file.clone());
            // Tables exist on disk (empty: this crate never reads them).
            write_file(self.fs.as_ref(), &table_file_name(Path::new(DIR), file.number), b"", false).unwrap();
        }
        for (level, key) in &edit.compact_pointers {
            self.pointers.insert(*level, key.clone());
        }
    }

    fn new_table(&mut self, smallest: Vec<u8>, largest: Vec<u8>) -> FileMetaData {
        let number = self.versions.new_file_number();
        FileMetaData::new(number, number * 1000 + smallest.len() as u64, smallest, largest)
    }

    fn run(&mut self, op: &Op) {
        let current = self.versions.current();
        match op {
            Op::Flush { lo, span, writes } => {
                let hi = lo.saturating_add(*span);
                let first_sequence = self.versions.last_sequence() + 1;
                let last_sequence = first_sequence + u64::from(*writes) - 1;
                self.versions.set_last_sequence(last_sequence);
                let file = self.new_table(ik(*lo, last_sequence), ik(hi, first_sequence));
                let mut edit = VersionEdit::new();
                edit.set_log_number(self.versions.new_file_number());
                edit.add_file(0, file);
                self.apply(edit);
            }
            Op::Compact { level, pick, split } => {
                let files = current.files(*level);
                if files.is_empty() {
                    return;
                }
                let picked = &files[pick.index(files.len())];
                let inputs = if *level == 0 {
                    current.overlapping_inputs(
                        0,
                        Some(picked.smallest_user_key()),
                        Some(picked.largest_user_key()),
                    )
                } else {
                    vec![picked.clone()]
                };
                let lo = inputs.iter().map(|f| key_byte(f.smallest_user_key())).min().unwrap();
                let hi = inputs.iter().map(|f| key_byte(f.largest_user_key())).max().unwrap();
                let next_inputs =
                    current.overlapping_inputs(level + 1, Some(&user_key(lo)), Some(&user_key(hi)));
                let lo = next_inputs.iter().map(|f| key_byte(f.smallest_user_key())).fold(lo, u8::min);
                let hi = next_inputs.iter().map(|f| key_byte(f.largest_user_key())).fold(hi, u8::max);
                let pointer = inputs
                    .iter()
                    .map(|f| f.largest.clone())
                    .max_by(|a, b| icmp().compare_internal_keys(a, b))
                    .unwrap();
                let sequence = self.versions.last_sequence();
                let mut edit = VersionEdit::new();
                for f in &inputs {
                    edit.remove_file(*level, f.number);
                }
                for f in &next_inputs {
                    edit.remove_file(level + 1, f.number);
                }
                let ranges = if *split && lo < hi {
                    let mid = lo + (hi - lo) / 2;
                    vec![(lo, mid), (mid + 1, hi)]
                } else {
                    vec![(lo, hi)]
                };
                for (a, b) in ranges {
                    let file = self.new_table(ik(a, sequence), ik(b, sequence));
                    edit.add_file(level + 1, file);
                }
                edit.set_compact_pointer(*level, &pointer);
                self.versions.set_compact_pointer(*level, &pointer);
                self.apply(edit);
            }
            Op::TrivialMove { level, pick } => {
                let files = current.files(*level);
                if files.is_empty() {
                    return;
                }
                let f = &files[pick.index(files.len())];
                if current.overlap_in_level(
                    level + 1,
                    Some(f.smallest_user_key()),
                    Some(f.largest_user_key()),
                ) {
                    return;
                }
                let mut edit = VersionEdit::new();
                edit.remove_file(*level, f.number);
                edit.add_file(level + 1, FileMetaData::clone(f));
                self.apply(edit);
            }
            Op::Hold => self.held.push(current),
            Op::Release => self.held.clear(),
            Op::Reopen => self.reopen(),
        }
    }

    /// The running Version equals the model, and levels are in order.
    fn check_model(&self) {
        let current = self.versions.current();
        for level in 0..NUM_LEVELS {
            let files = current.files(level);
            let actual: BTreeMap<u64, FileMetaData> =
                files.iter().map(|f| (f.number, FileMetaData::clone(f))).collect();
            assert_eq!(actual, self.model[level], "level {level}");
            for pair in files.windows(2) {
                let order = icmp().compare_internal_keys(&pair[0].smallest, &pair[1].smallest);
                assert!(order.is_le(), "level {level} not sorted");
                if level > 0 {
                    assert!(icmp().compare_internal_keys(&pair[0].largest, &pair[1].smallest).is_lt());
                }
            }
        }
        for level in 0..NUM_LEVELS {
            assert_eq!(self.versions.compact_pointer(level), self.pointers.get(&level).map(Vec::as_slice));
        }
    }

    /// Garbage collection as the engine runs it, then checks that nothing
    /// needed was deleted and nothing unneeded was kept.
    fn collect_garbage(&self) {
        let dir = Path::new(DIR);
        let names = self.fs.list_dir(dir).unwrap();
        for obsolete in self.versions.obsolete_files(&names, &BTreeSet::new()) {
            self.fs.remove_file(&dir.join(&obsolete.name)).unwrap();
        }
        let mut tables = BTreeSet::new();
        let mut manifests = BTreeSet::new();
        for name in self.fs.list_dir(dir).unwrap() {
            match parse_file_name(&name) {
                Some((number, FileType::Table)) => {
                    tables.insert(number);
                }
                Some((number, FileType::Manifest)) => {
                    manifests.insert(number);
                }
                _ => {}
            }
        }
        let mut needed: BTreeSet<u64> = self.versions.current().table_numbers().collect();
        for version in &self.held {
            needed.extend(version.table_numbers());
        }
        assert_eq!(tables, needed);
        assert_eq!(self.versions.live_files(), needed);
        let current = read_file_to_vec(self.fs.as_ref(), &current_file_name(dir)).unwrap();
        let named = format!("MANIFEST-{:06}\n", self.versions.manifest_file_number());
        assert_eq!(String::from_utf8(current).unwrap(), named);
        assert_eq!(manifests.into_iter().collect::<Vec<_>>(), [self.versions.manifest_file_number()]);
    }
}

fn icmp() -> InternalKeyComparator {
    InternalKeyComparator::new(BytewiseComparator::shared())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn recovery_reproduces_every_state(
        ops in proptest::collection::vec(op(), 1..40),
        max_manifest_file_size in prop_oneof![Just(0u64), Just(300), Just(2000), Just(1 << 20)],
        reuse_manifest in any::<bool>(),
    ) {
        let options = VersionSetOptions { max_manifest_file_size, reuse_manifest, ..VersionSetOptions::default() };
        let mut harness = Harness::new(options);
        for op in &ops {
            harness.run(op);
            harness.check_model();
            harness.collect_garbage();
        }
        let recovered = harness.open();
        harness.check_recovered(&recovered);
    }
}

#[test]
fn small_manifest_limit_rolls_over_and_old_manifests_become_obsolete() {
    let options = VersionSetOptions { max_manifest_file_size: 200, ..VersionSetOptions::default() };
    let mut harness = Harness::new(options);
    let mut manifests = BTreeSet::new();
    for i in 0..30u8 {
        harness.run(&Op::Flush { lo: i * 8, span: 3, writes: 2 });
        manifests.insert(harness.versions.manifest_file_number());
        harness.check_model();
        harness.collect_garbage();
    }
    // Each MANIFEST holds a snapshot plus edits until it passes 200 bytes.
    assert!(manifests.len() >= 5, "{manifests:?}");
    let recovered = harness.open();
    harness.check_recovered(&recovered);
}
