//! The memtable under concurrency: 4 threads × 100k adds followed by a full
//! verification, and iterators walking while other threads keep adding.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use common::ReverseComparator;
use lsmkit_base::comparator::{BytewiseComparator, Comparator};
use lsmkit_base::iterator::InternalIterator;
use lsmkit_base::key::{parse_internal_key, InternalKeyComparator, ValueKind, MAX_SEQUENCE_NUMBER};
use lsmkit_memtable::{Memtable, MemtableGet};

const THREADS: u64 = 4;

/// One version of a user key: sequence, kind, value.
type Version = (u64, ValueKind, Vec<u8>);

/// The entry thread `thread` adds as its `i`-th: user keys overlap between
/// threads, sequences are unique, every 7th entry is a deletion.
fn entry(thread: u64, i: u64, distinct_keys: u64) -> (u64, ValueKind, Vec<u8>, Vec<u8>) {
    let sequence = i * THREADS + thread + 1;
    let user_key = format!("key{:07}", (i * 7 + thread * 13) % distinct_keys).into_bytes();
    let kind = if sequence % 7 == 0 { ValueKind::Deletion } else { ValueKind::Value };
    let value = if kind == ValueKind::Value { format!("value-{sequence}").into_bytes() } else { Vec::new() };
    (sequence, kind, user_key, value)
}

/// Adds `per_thread` entries from each of 4 threads at once, then checks the
/// count, a full scan in both directions, and a get per user key at the
/// newest snapshot and at a few older ones.
fn load_and_verify(comparator: Arc<dyn Comparator>, per_thread: u64) {
    let icmp = InternalKeyComparator::new(comparator);
    let memtable = Memtable::new(icmp.clone());
    let distinct_keys = per_thread * THREADS * 3 / 8;
    let start = Barrier::new(THREADS as usize);
    thread::scope(|scope| {
        for thread in 0..THREADS {
            let (memtable, start) = (&memtable, &start);
            scope.spawn(move || {
                start.wait();
                for i in 0..per_thread {
                    let (sequence, kind, user_key, value) = entry(thread, i, distinct_keys);
                    memtable.add(sequence, kind, &user_key, &value);
                }
            });
        }
    });

    let total = (per_thread * THREADS) as usize;
    assert_eq!(memtable.len(), total);

    // Model: every version of every user key, newest first.
    let mut versions: HashMap<Vec<u8>, Vec<Version>> = HashMap::new();
    for thread in 0..THREADS {
        for i in 0..per_thread {
            let (sequence, kind, user_key, value) = entry(thread, i, distinct_keys);
            versions.entry(user_key).or_default().push((sequence, kind, value));
        }
    }
    for list in versions.values_mut() {
        list.sort_by_key(|version| std::cmp::Reverse(version.0));
    }

    // Full scan forward: strictly ordered, complete, values intact.
    let mut it = memtable.iter();
    it.seek_to_first();
    let mut previous: Option<Vec<u8>> = None;
    let mut seen = 0usize;
    while it.valid() {
        let key = it.key().to_vec();
        if let Some(previous) = &previous {
            assert_eq!(icmp.compare_internal_keys(previous, &key), std::cmp::Ordering::Less);
        }
        let parsed = parse_internal_key(&key).expect("well-formed key");
        let list = &versions[parsed.user_key];
        let version = list.iter().find(|v| v.0 == parsed.sequence).expect("added entry");
        assert_eq!((parsed.kind, it.value()), (version.1, &version.2[..]));
        previous = Some(key);
        seen += 1;
        it.next();
    }
    assert_eq!(seen, total);

    // Full scan backward sees the same number of entries.
    it.seek_to_last();
    let mut seen_backward = 0usize;
    while it.valid() {
        seen_backward += 1;
        it.prev();
    }
    assert_eq!(seen_backward, total);

    // Gets at the newest snapshot and at each key's older versions.
    for (user_key, list) in &versions {
        let expected = |version: &Version| match version.1 {
            ValueKind::Value => MemtableGet::Found(version.2.clone().into()),
            ValueKind::Deletion => MemtableGet::Deleted,
            ValueKind::Merge => MemtableGet::Merge,
            ValueKind::RangeDeletion => unreachable!("the test adds point entries only"),
        };
        assert_eq!(memtable.get(user_key, MAX_SEQUENCE_NUMBER), expected(&list[0]));
        for (index, version) in list.iter().enumerate().take(3) {
            assert_eq!(memtable.get(user_key, version.0), expected(version));
            let older = list.get(index + 1).map_or(MemtableGet::NotFound, expected);
            assert_eq!(memtable.get(user_key, version.0 - 1), older);
        }
    }
}

#[test]
fn four_threads_add_100k_each_bytewise() {
    load_and_verify(BytewiseComparator::shared(), 100_000);
}

#[test]
fn four_threads_add_concurrently_with_a_user_comparator() {
    load_and_verify(Arc::new(ReverseComparator), 20_000);
}

/// Iterators opened and walked while two threads add: each walk is strictly
/// ordered (so duplicate-free) in both directions and contains every entry
/// that was present before it was opened.
#[test]
fn iterators_during_a_load_see_an_ordered_duplicate_free_stream() {
    let icmp = InternalKeyComparator::new(BytewiseComparator::shared());
    let memtable = Memtable::new(icmp.clone());
    let prefill = 5_000u64;
    for i in 0..prefill {
        memtable.add(i + 1, ValueKind::Value, format!("key{:07}", i * 10).as_bytes(), b"prefill");
    }
    let writers_done = AtomicBool::new(false);
    let per_writer = 40_000u64;
    let mut walks = 0;
    thread::scope(|scope| {
        let writers: Vec<_> = (0..2u64)
            .map(|writer| {
                let memtable = &memtable;
                scope.spawn(move || {
                    for i in 0..per_writer {
                        let sequence = prefill + 1 + i * 2 + writer;
                        // Keys land between, before and after the prefilled ones.
                        let user_key = format!("key{:07}", (i * 7919 + writer * 31) % (prefill * 10 + 1000));
                        memtable.add(sequence, ValueKind::Value, user_key.as_bytes(), b"load");
                    }
                })
            })
            .collect();
        let done = &writers_done;
        scope.spawn(move || {
            for writer in writers {
                writer.join().expect("writer thread");
            }
            done.store(true, Ordering::Release);
        });

        while walks < 3 || !writers_done.load(Ordering::Acquire) {
            walks += 1;
            let present_before = memtable.len();
            let mut it = memtable.iter();
            let forward = walks % 2 == 1;
            if forward {
                it.seek_to_first();
            } else {
                it.seek_to_last();
            }
            let mut previous: Option<bytes::Bytes> = None;
            let mut prefilled_seen = 0u64;
            let mut count = 0usize;
            while it.valid() {
                let key = it.key_bytes();
                if let Some(previous) = &previous {
                    let expected =
                        if forward { std::cmp::Ordering::Less } else { std::cmp::Ordering::Greater };
                    assert_eq!(icmp.compare_internal_keys(previous, &key), expected);
                }
                if it.value() == b"prefill" {
                    prefilled_seen += 1;
                }
                count += 1;
                previous = Some(key);
                if forward {
                    it.next();
                } else {
                    it.prev();
                }
            }
            assert_eq!(prefilled_seen, prefill);
            // `len()` may already count an add that a writer has not linked
            // into the skiplist yet: at most one in flight per writer thread.
            let in_flight = 2;
            assert!(
                count + in_flight >= present_before,
                "walk saw {count} entries, {present_before} existed before"
            );
        }
    });
    assert_eq!(memtable.len() as u64, prefill + 2 * per_writer);
}

/// One iterator kept open across a load, stepping a little between batches
/// of adds, never goes backwards or repeats.
#[test]
fn a_long_lived_iterator_advances_monotonically_through_a_load() {
    let icmp = InternalKeyComparator::new(BytewiseComparator::shared());
    let memtable = Memtable::new(icmp.clone());
    memtable.add(1, ValueKind::Value, b"key0000000", b"");
    let mut it = memtable.iter();
    it.seek_to_first();
    let mut previous = it.key_bytes();
    let adder = memtable.clone();
    let handle = thread::spawn(move || {
        for i in 0..50_000u64 {
            let user_key = format!("key{:07}", (i * 7919) % 100_000);
            adder.add(i + 2, ValueKind::Value, user_key.as_bytes(), b"");
        }
    });
    let mut steps = 0;
    while !handle.is_finished() || it.valid() {
        if it.valid() {
            it.next();
            if it.valid() {
                let key = it.key_bytes();
                assert_eq!(icmp.compare_internal_keys(&previous, &key), std::cmp::Ordering::Less);
                previous = key;
                steps += 1;
            }
        } else {
            // Reached the end while adds continue: resume after the last key.
            it.seek(&previous);
            assert_eq!(it.key(), &previous[..]);
        }
    }
    handle.join().expect("adder thread");
    assert!(steps > 0);
}
