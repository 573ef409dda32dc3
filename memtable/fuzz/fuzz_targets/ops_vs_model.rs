//! Fuzz target: replays an arbitrary sequence of memtable operations (adds in
//! any sequence order, gets at any snapshot, iterator seeks and steps in both
//! directions, fresh iterators) on a `Memtable` and on a `BTreeMap` model,
//! under the bytewise, a reverse or a case-insensitive comparator, and
//! asserts after every step that the two agree. Keys are docs/format.md §5
//! internal keys.

#![no_main]

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, HashSet};
use std::ops::Bound;
use std::sync::Arc;

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use lsmkit_base::comparator::{BytewiseComparator, Comparator};
use lsmkit_base::iterator::InternalIterator;
use lsmkit_base::key::{
    make_internal_key, pack_sequence_and_kind, InternalKeyComparator, ValueKind, VALUE_KIND_FOR_SEEK,
};
use lsmkit_memtable::{Memtable, MemtableGet, MemtableIterator};

/// Longest user key the target uses; short keys collide and prefix each other.
const MAX_KEY_LEN: usize = 4;

/// The bytes user keys are made of: few, so keys collide; with both cases
/// (aliases under the case-insensitive comparator) and the extreme bytes.
const KEY_ALPHABET: [u8; 6] = [0x00, b'a', b'A', b'b', b'B', 0xff];

struct ReverseComparator;

impl Comparator for ReverseComparator {
    fn name(&self) -> &str {
        "fuzz.ReverseComparator"
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

struct CaseInsensitiveComparator;

impl Comparator for CaseInsensitiveComparator {
    fn name(&self) -> &str {
        "fuzz.CaseInsensitiveComparator"
    }
    fn compare(&self, a: &[u8], b: &[u8]) -> Ordering {
        a.iter().map(u8::to_ascii_lowercase).cmp(b.iter().map(u8::to_ascii_lowercase))
    }
    fn shortest_separator(&self, start: &[u8], _limit: &[u8]) -> Vec<u8> {
        start.to_vec()
    }
    fn short_successor(&self, key: &[u8]) -> Vec<u8> {
        key.to_vec()
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Order {
    Bytewise,
    Reverse,
    CaseInsensitive,
}

/// A user key as the model orders it (one variant per model).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum ModelUserKey {
    Ascending(Vec<u8>),
    Descending(Reverse<Vec<u8>>),
}

impl Order {
    fn comparator(self) -> Arc<dyn Comparator> {
        match self {
            Order::Bytewise => BytewiseComparator::shared(),
            Order::Reverse => Arc::new(ReverseComparator),
            Order::CaseInsensitive => Arc::new(CaseInsensitiveComparator),
        }
    }

    fn model_user_key(self, user_key: &[u8]) -> ModelUserKey {
        match self {
            Order::Bytewise => ModelUserKey::Ascending(user_key.to_vec()),
            Order::Reverse => ModelUserKey::Descending(Reverse(user_key.to_vec())),
            Order::CaseInsensitive => ModelUserKey::Ascending(user_key.to_ascii_lowercase()),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    Add {
        user_key: Vec<u8>,
        sequence: u16,
        deletion: bool,
        value: Vec<u8>,
    },
    Get {
        user_key: Vec<u8>,
        snapshot: u16,
    },
    SeekToFirst,
    SeekToLast,
    Seek {
        user_key: Vec<u8>,
        sequence: u16,
    },
    Next,
    Prev,
    /// Replaces the iterator with a fresh, unpositioned one.
    NewIterator,
}

#[derive(Arbitrary, Debug)]
struct Input {
    order: Order,
    ops: Vec<Op>,
}

type ModelKey = (ModelUserKey, Reverse<u64>);

struct ModelEntry {
    internal_key: Vec<u8>,
    kind: ValueKind,
    value: Vec<u8>,
}

/// Maps arbitrary bytes to a short key over [`KEY_ALPHABET`].
fn short(key: Vec<u8>) -> Vec<u8> {
    key.iter().take(MAX_KEY_LEN).map(|&b| KEY_ALPHABET[usize::from(b) % KEY_ALPHABET.len()]).collect()
}

fn check_position(it: &MemtableIterator, cursor: &Option<ModelKey>, model: &BTreeMap<ModelKey, ModelEntry>) {
    match cursor {
        None => assert!(!it.valid(), "memtable iterator valid, model exhausted"),
        Some(position) => {
            assert!(it.valid(), "memtable iterator exhausted, model at {position:?}");
            let expected = &model[position];
            assert_eq!(it.key(), &expected.internal_key[..]);
            assert_eq!(it.value(), &expected.value[..]);
            assert_eq!(&it.key_bytes()[..], &expected.internal_key[..]);
            assert_eq!(&it.value_bytes()[..], &expected.value[..]);
        }
    }
}

fuzz_target!(|input: Input| {
    let order = input.order;
    let memtable = Memtable::new(InternalKeyComparator::new(order.comparator()));
    let mut model: BTreeMap<ModelKey, ModelEntry> = BTreeMap::new();
    let mut used_sequences = HashSet::new();
    let mut it = memtable.iter();
    let mut cursor: Option<ModelKey> = None;

    for op in input.ops {
        match op {
            Op::Add { user_key, sequence, deletion, value } => {
                let sequence = u64::from(sequence);
                // The engine never reuses a sequence number.
                if !used_sequences.insert(sequence) {
                    continue;
                }
                let user_key = short(user_key);
                let kind = if deletion { ValueKind::Deletion } else { ValueKind::Value };
                memtable.add(sequence, kind, &user_key, &value);
                model.insert(
                    (order.model_user_key(&user_key), Reverse(pack_sequence_and_kind(sequence, kind))),
                    ModelEntry { internal_key: make_internal_key(&user_key, sequence, kind), kind, value },
                );
            }
            Op::Get { user_key, snapshot } => {
                let user_key = short(user_key);
                let snapshot = u64::from(snapshot);
                let model_user_key = order.model_user_key(&user_key);
                let from =
                    (model_user_key.clone(), Reverse(pack_sequence_and_kind(snapshot, VALUE_KIND_FOR_SEEK)));
                let expected = match model.range(from..).next() {
                    Some(((found, _), entry)) if *found == model_user_key => match entry.kind {
                        ValueKind::Value => MemtableGet::Found(entry.value.clone().into()),
                        ValueKind::Deletion => MemtableGet::Deleted,
                        ValueKind::Merge => MemtableGet::Merge,
                        // Range tombstones are not point entries; the model holds none.
                        ValueKind::RangeDeletion => MemtableGet::NotFound,
                    },
                    _ => MemtableGet::NotFound,
                };
                assert_eq!(memtable.get(&user_key, snapshot), expected);
            }
            Op::SeekToFirst => {
                it.seek_to_first();
                cursor = model.keys().next().cloned();
            }
            Op::SeekToLast => {
                it.seek_to_last();
                cursor = model.keys().next_back().cloned();
            }
            Op::Seek { user_key, sequence } => {
                let user_key = short(user_key);
                let sequence = u64::from(sequence);
                it.seek(&make_internal_key(&user_key, sequence, VALUE_KIND_FOR_SEEK));
                let target = (
                    order.model_user_key(&user_key),
                    Reverse(pack_sequence_and_kind(sequence, VALUE_KIND_FOR_SEEK)),
                );
                cursor = model.range(target..).next().map(|(k, _)| k.clone());
            }
            Op::Next => {
                it.next();
                cursor = cursor.and_then(|position| {
                    model.range((Bound::Excluded(position), Bound::Unbounded)).next().map(|(k, _)| k.clone())
                });
            }
            Op::Prev => {
                it.prev();
                cursor =
                    cursor.and_then(|position| model.range(..position).next_back().map(|(k, _)| k.clone()));
            }
            Op::NewIterator => {
                it = memtable.iter();
                cursor = None;
            }
        }
        check_position(&it, &cursor, &model);
        assert_eq!(memtable.len(), model.len());
    }
});
