//! Property tests: random sorted entry sets written with random options
//! (block size 1 B–64 KiB, restart interval 1/2/16/1024, compression on/off,
//! filter on/off, with or without a block cache) read back exactly: `get`,
//! full scans both ways and random seeks with steps, compared to a BTreeMap.

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

mod common;

use std::path::Path;
use std::sync::Arc;

use lsmkit_base::comparator::BytewiseComparator;
use lsmkit_base::fs::{FileSystem, MemFs};
use lsmkit_base::iterator::InternalIterator;
use lsmkit_base::key::{make_internal_key, parse_internal_key, ValueKind, MAX_SEQUENCE_NUMBER};
use lsmkit_bloom::{FilterPolicy, LevelDbBloom};
use lsmkit_sstable::{BlockCache, Compression, ReadOptions, TableOptions};
use proptest::prelude::*;

use common::{build_table, open_table, scan_backward, scan_forward, Entry};

#[derive(Debug, Clone)]
struct Layout {
    block_size: usize,
    restart_interval: usize,
    compression: Compression,
    filter: bool,
    cache: bool,
}

fn layout_strategy() -> impl Strategy<Value = Layout> {
    (
        prop_oneof![1usize..=256, 256usize..=4096, 4096usize..=65536],
        prop_oneof![Just(1usize), Just(2), Just(16), Just(1024)],
        prop_oneof![Just(Compression::None), Just(Compression::Snappy)],
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(block_size, restart_interval, compression, filter, cache)| Layout {
            block_size,
            restart_interval,
            compression,
            filter,
            cache,
        })
}

/// Keys from a small alphabet so that prefixes are shared; values that are
/// sometimes repetitive (compressible) and sometimes not.
fn key_strategy() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(b'c'), any::<u8>()], 0..24)
}

fn value_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..64),
        (any::<u8>(), 0usize..600).prop_map(|(b, n)| vec![b; n]),
    ]
}

fn apply_layout(
    mut options: TableOptions,
    layout: &Layout,
    policy: Option<Arc<dyn FilterPolicy>>,
) -> TableOptions {
    options.block_size = layout.block_size;
    options.restart_interval = layout.restart_interval;
    options.compression = layout.compression;
    if !layout.filter {
        options.filter_policy = None;
    } else if options.filter_policy.is_none() {
        options.filter_policy = policy;
    }
    options.block_cache = layout.cache.then(|| Arc::new(BlockCache::new(64 * 1024)));
    options
}

fn fs_with_dir() -> MemFs {
    let fs = MemFs::new();
    fs.create_dir_all(Path::new("/t")).unwrap();
    fs
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn bytewise_tables_read_back_like_a_btreemap(
        model in proptest::collection::btree_map(key_strategy(), value_strategy(), 0..300),
        layout in layout_strategy(),
        probes in proptest::collection::vec(key_strategy(), 1..40),
        steps in proptest::collection::vec(any::<bool>(), 0..12),
    ) {
        let options = apply_layout(TableOptions::default(), &layout, Some(Arc::new(LevelDbBloom::new(10))));
        let fs = fs_with_dir();
        let path = Path::new("/t/000001.ldb");
        let entries: Vec<Entry> = model.clone().into_iter().collect();
        let summary = build_table(&fs, path, &options, &entries);
        prop_assert_eq!(summary.entries, entries.len() as u64);
        prop_assert_eq!(summary.properties.entries, entries.len() as u64);
        if let (Some(first), Some(last)) = (entries.first(), entries.last()) {
            prop_assert_eq!(&summary.smallest_key, &first.0);
            prop_assert_eq!(&summary.largest_key, &last.0);
        }
        let table = open_table(&fs, path, &options).unwrap();
        prop_assert_eq!(table.has_filter(), layout.filter);
        prop_assert_eq!(table.properties(), Some(&summary.properties));
        let read = ReadOptions { verify_checksums: true, ..ReadOptions::default() };

        // Point lookups of every key, twice (the second may hit the cache).
        for _ in 0..2 {
            for (key, value) in &entries {
                let (k, v) = table.get(&read, key).unwrap().expect("present key found");
                prop_assert_eq!((&k[..], &v[..]), (&key[..], &value[..]));
            }
        }
        // Probes: a hit is always the first entry >= the probe.
        for probe in &probes {
            let got = table.get(&read, probe).unwrap();
            let expected = model.range(probe.clone()..).next();
            match (got, expected) {
                (Some((k, v)), Some((ek, ev))) => prop_assert_eq!((&k[..], &v[..]), (&ek[..], &ev[..])),
                (Some((k, _)), None) => prop_assert!(false, "found {:?} past the last key", k),
                (None, Some((ek, _))) => prop_assert!(ek != probe, "present key {:?} missed", ek),
                (None, None) => {}
            }
        }

        // Full scans both ways.
        let mut it = table.iter(read);
        let (forward, status) = scan_forward(&mut it, usize::MAX);
        status.unwrap();
        prop_assert_eq!(&forward, &entries);
        let (backward, status) = scan_backward(&mut it, usize::MAX);
        status.unwrap();
        prop_assert_eq!(&backward, &entries);

        // Random seeks, then steps in random directions.
        for probe in &probes {
            it.seek(probe);
            let mut position = entries.partition_point(|(k, _)| k < probe);
            for &forward in &steps {
                match entries.get(position) {
                    Some((k, v)) => {
                        prop_assert!(it.valid());
                        prop_assert_eq!(it.key(), &k[..]);
                        prop_assert_eq!(it.value(), &v[..]);
                        prop_assert_eq!(&it.value_bytes()[..], &v[..]);
                    }
                    None => { prop_assert!(!it.valid()); break; }
                }
                if forward {
                    it.next();
                    position += 1;
                } else {
                    it.prev();
                    if position == 0 { prop_assert!(!it.valid()); break; }
                    position -= 1;
                }
            }
            it.status().unwrap();
        }
    }

    #[test]
    fn internal_key_tables_answer_snapshot_reads(
        versions in proptest::collection::btree_map(
            (key_strategy(), 1u64..1000),
            proptest::option::of(value_strategy()),
            0..200,
        ),
        layout in layout_strategy(),
        probes in proptest::collection::vec((key_strategy(), 0u64..1100), 1..40),
    ) {
        // Internal keys: several versions per user key, some of them deletions.
        let mut options = TableOptions::for_internal_keys(
            BytewiseComparator::shared(),
            Some(Arc::new(LevelDbBloom::new(10))),
        );
        options = apply_layout(options, &layout, None);
        let mut entries: Vec<Entry> = versions
            .iter()
            .map(|((user_key, sequence), value)| match value {
                Some(v) => (make_internal_key(user_key, *sequence, ValueKind::Value), v.clone()),
                None => (make_internal_key(user_key, *sequence, ValueKind::Deletion), Vec::new()),
            })
            .collect();
        entries.sort_by(|a, b| options.comparator.compare(&a.0, &b.0));

        let fs = fs_with_dir();
        let path = Path::new("/t/000002.ldb");
        let summary = build_table(&fs, path, &options, &entries);
        let props = summary.properties;
        prop_assert_eq!(props.deletions, Some(versions.values().filter(|v| v.is_none()).count() as u64));
        prop_assert_eq!(props.smallest_sequence, versions.keys().map(|(_, s)| *s).min());
        prop_assert_eq!(props.largest_sequence, versions.keys().map(|(_, s)| *s).max());
        let table = open_table(&fs, path, &options).unwrap();
        prop_assert_eq!(table.properties(), Some(&props));

        // A read of user key u at snapshot s sees the newest version <= s.
        let all_probes = probes.iter().cloned().chain(versions.keys().map(|(k, _)| (k.clone(), MAX_SEQUENCE_NUMBER)));
        for (user_key, snapshot) in all_probes {
            let expected = versions
                .range((user_key.clone(), 0)..=(user_key.clone(), snapshot))
                .next_back()
                .map(|((_, seq), value)| (*seq, value.clone()));
            let lookup = make_internal_key(&user_key, snapshot, ValueKind::Value);
            let got = table.get(&ReadOptions::default(), &lookup).unwrap();
            let got = match got {
                Some((key, value)) => {
                    let parsed = parse_internal_key(&key).unwrap();
                    (parsed.user_key == &user_key[..]).then(|| {
                        (parsed.sequence, (parsed.kind == ValueKind::Value).then(|| value.to_vec()))
                    })
                }
                None => None,
            };
            prop_assert_eq!(got, expected, "user key {:?} at {}", user_key, snapshot);
        }

        let mut it = table.iter(ReadOptions::default());
        let (forward, status) = scan_forward(&mut it, usize::MAX);
        status.unwrap();
        prop_assert_eq!(&forward, &entries);
        let (backward, status) = scan_backward(&mut it, usize::MAX);
        status.unwrap();
        prop_assert_eq!(&backward, &entries);
    }
}

#[test]
fn out_of_order_and_non_internal_keys_are_rejected() {
    let fs = fs_with_dir();
    let file = fs.create_writable(Path::new("/t/x.ldb"), lsmkit_base::fs::WriteMode::Buffered).unwrap();
    let mut builder = lsmkit_sstable::TableBuilder::new(TableOptions::default(), file);
    builder.add(b"b", b"1").unwrap();
    assert!(matches!(builder.add(b"a", b"2"), Err(lsmkit_base::Error::InvalidArgument(_))));
    assert!(matches!(builder.add(b"b", b"2"), Err(lsmkit_base::Error::InvalidArgument(_))));
    builder.add(b"c", b"3").unwrap();
    assert_eq!(builder.entries(), 2);

    let options = TableOptions::for_internal_keys(BytewiseComparator::shared(), None);
    let file = fs.create_writable(Path::new("/t/y.ldb"), lsmkit_base::fs::WriteMode::Buffered).unwrap();
    let mut builder = lsmkit_sstable::TableBuilder::new(options, file);
    assert!(matches!(builder.add(b"short", b""), Err(lsmkit_base::Error::InvalidArgument(_))));
    let mut bad_kind = make_internal_key(b"k", 1, ValueKind::Value);
    bad_kind[1] = 7;
    assert!(matches!(builder.add(&bad_kind, b""), Err(lsmkit_base::Error::InvalidArgument(_))));
}

#[test]
fn empty_table_opens_and_iterates_nothing() {
    let fs = fs_with_dir();
    let path = Path::new("/t/empty.ldb");
    let options =
        TableOptions { filter_policy: Some(Arc::new(LevelDbBloom::new(10))), ..TableOptions::default() };
    let summary = build_table(&fs, path, &options, &[]);
    assert_eq!((summary.entries, summary.data_blocks), (0, 0));
    let table = open_table(&fs, path, &options).unwrap();
    assert_eq!(table.get(&ReadOptions::default(), b"a").unwrap(), None);
    let mut it = table.iter(ReadOptions::default());
    let (entries, status) = scan_forward(&mut it, 10);
    assert!(entries.is_empty());
    status.unwrap();
    it.seek(b"x");
    assert!(!it.valid());
}

/// The shrunk case of `internal_key_tables_answer_snapshot_reads`: a table
/// of internal keys without entries knows it has no deletions.
#[test]
fn an_empty_internal_key_table_counts_zero_deletions() {
    let options = TableOptions::for_internal_keys(BytewiseComparator::shared(), None);
    let fs = fs_with_dir();
    let path = Path::new("/t/000003.ldb");
    let props = build_table(&fs, path, &options, &[]).properties;
    assert_eq!((props.entries, props.deletions, props.smallest_sequence), (0, Some(0), None));
    let table = open_table(&fs, path, &options).unwrap();
    assert_eq!(table.properties(), Some(&props));
}
