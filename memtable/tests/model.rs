//! The memtable against a `BTreeMap` model, under the bytewise, a reverse and
//! a case-insensitive comparator: random adds (in shuffled sequence order,
//! as a concurrently applied write group delivers them), gets at random
//! snapshots, and an iterator that walks both ways while adds continue.

mod common;

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use common::{CaseInsensitiveComparator, ReverseComparator};
use lsmkit_base::comparator::{BytewiseComparator, Comparator};
use lsmkit_base::iterator::InternalIterator;
use lsmkit_base::key::{
    make_internal_key, pack_sequence_and_kind, InternalKeyComparator, ValueKind, VALUE_KIND_FOR_SEEK,
};
use lsmkit_memtable::{Memtable, MemtableGet};
use proptest::prelude::*;

#[derive(Debug, Clone, Copy)]
enum Order {
    Bytewise,
    Reverse,
    CaseInsensitive,
}

/// A user key as the model orders it; within one model every key uses the
/// same variant, so the derived order is the comparator's.
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

/// Model key: user key ascending under the comparator, then trailer descending.
type ModelKey = (ModelUserKey, Reverse<u64>);

#[derive(Debug, Clone)]
struct ModelEntry {
    internal_key: Vec<u8>,
    kind: ValueKind,
    value: Vec<u8>,
}

#[derive(Debug, Clone)]
enum Op {
    Add { user_key: Vec<u8>, kind: ValueKind, value: Vec<u8> },
    Get { user_key: KeyChoice, snapshot: proptest::sample::Index },
    SeekToFirst,
    SeekToLast,
    Seek { user_key: KeyChoice, sequence: proptest::sample::Index },
    Next,
    Prev,
    FullWalk,
}

fn user_key() -> impl Strategy<Value = Vec<u8>> {
    // A small alphabet with both cases, so keys collide, prefix each other
    // and (case-insensitively) alias each other.
    proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'A'), Just(b'b'), Just(b'B')], 0..4)
}

/// A key to read: one already added (most of the time), or any key.
#[derive(Debug, Clone)]
enum KeyChoice {
    Added(proptest::sample::Index),
    Any(Vec<u8>),
}

impl KeyChoice {
    fn resolve(&self, added: &[Vec<u8>]) -> Vec<u8> {
        match self {
            KeyChoice::Added(index) if !added.is_empty() => index.get(added).clone(),
            KeyChoice::Added(_) => Vec::new(),
            KeyChoice::Any(key) => key.clone(),
        }
    }
}

fn key_choice() -> impl Strategy<Value = KeyChoice> {
    prop_oneof![3 => any::<proptest::sample::Index>().prop_map(KeyChoice::Added), 1 => user_key().prop_map(KeyChoice::Any)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (user_key(), 0u8..3, proptest::collection::vec(any::<u8>(), 0..8)).prop_map(|(user_key, kind, value)| {
            Op::Add { user_key, kind: ValueKind::from_byte(kind).expect("kinds 0 to 2"), value }
        }),
        3 => (key_choice(), any::<proptest::sample::Index>())
            .prop_map(|(user_key, snapshot)| Op::Get { user_key, snapshot }),
        1 => Just(Op::SeekToFirst),
        1 => Just(Op::SeekToLast),
        2 => (key_choice(), any::<proptest::sample::Index>())
            .prop_map(|(user_key, sequence)| Op::Seek { user_key, sequence }),
        3 => Just(Op::Next),
        3 => Just(Op::Prev),
        1 => Just(Op::FullWalk),
    ]
}

/// Operations plus a shuffled list of distinct sequence numbers for the adds.
fn scenario() -> impl Strategy<Value = (Vec<Op>, Vec<u64>)> {
    proptest::collection::vec(op(), 1..200).prop_flat_map(|ops| {
        let sequences: Vec<u64> = (1..=ops.len() as u64).collect();
        (Just(ops), Just(sequences).prop_shuffle())
    })
}

fn check_position(
    it: &impl InternalIterator,
    cursor: &Option<ModelKey>,
    model: &BTreeMap<ModelKey, ModelEntry>,
) -> Result<(), TestCaseError> {
    match cursor {
        None => prop_assert!(!it.valid()),
        Some(position) => {
            prop_assert!(it.valid());
            let expected = &model[position];
            prop_assert_eq!(it.key(), &expected.internal_key[..]);
            prop_assert_eq!(it.value(), &expected.value[..]);
            prop_assert_eq!(&it.key_bytes()[..], &expected.internal_key[..]);
            prop_assert_eq!(&it.value_bytes()[..], &expected.value[..]);
        }
    }
    Ok(())
}

fn run(order: Order, ops: Vec<Op>, sequences: Vec<u64>) -> Result<(), TestCaseError> {
    let memtable = Memtable::new(InternalKeyComparator::new(order.comparator()));
    let mut model: BTreeMap<ModelKey, ModelEntry> = BTreeMap::new();
    let mut it = memtable.iter();
    let mut cursor: Option<ModelKey> = None;
    // Snapshots and seek sequences range over 0..=max+1 so they hit added
    // sequences, the gaps below them and "everything".
    let sequence_choices: Vec<u64> = (0..=sequences.len() as u64 + 1).collect();
    let mut next_sequence = sequences.into_iter();
    let mut added_keys: Vec<Vec<u8>> = Vec::new();

    for op in ops {
        match op {
            Op::Add { user_key, kind, value } => {
                let sequence = next_sequence.next().expect("one sequence per op");
                memtable.add(sequence, kind, &user_key, &value);
                added_keys.push(user_key.clone());
                let trailer = pack_sequence_and_kind(sequence, kind);
                let internal_key = make_internal_key(&user_key, sequence, kind);
                model.insert(
                    (order.model_user_key(&user_key), Reverse(trailer)),
                    ModelEntry { internal_key, kind, value },
                );
            }
            Op::Get { user_key, snapshot } => {
                let (user_key, snapshot) = (user_key.resolve(&added_keys), *snapshot.get(&sequence_choices));
                let model_user_key = order.model_user_key(&user_key);
                let from =
                    (model_user_key.clone(), Reverse(pack_sequence_and_kind(snapshot, VALUE_KIND_FOR_SEEK)));
                let expected = match model.range(from..).next() {
                    Some(((found, _), entry)) if *found == model_user_key => match entry.kind {
                        ValueKind::Value => MemtableGet::Found(entry.value.clone().into()),
                        ValueKind::Deletion => MemtableGet::Deleted,
                        ValueKind::Merge => MemtableGet::Merge,
                        ValueKind::RangeDeletion => unreachable!("the model holds point entries only"),
                    },
                    _ => MemtableGet::NotFound,
                };
                prop_assert_eq!(memtable.get(&user_key, snapshot), expected);
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
                let (user_key, sequence) = (user_key.resolve(&added_keys), *sequence.get(&sequence_choices));
                it.seek(&make_internal_key(&user_key, sequence, VALUE_KIND_FOR_SEEK));
                let target = (
                    order.model_user_key(&user_key),
                    Reverse(pack_sequence_and_kind(sequence, VALUE_KIND_FOR_SEEK)),
                );
                cursor = model.range(target..).next().map(|(k, _)| k.clone());
            }
            Op::Next => {
                if let Some(position) = &cursor {
                    it.next();
                    cursor = model
                        .range((Bound::Excluded(position), Bound::Unbounded))
                        .next()
                        .map(|(k, _)| k.clone());
                }
            }
            Op::Prev => {
                if let Some(position) = &cursor {
                    it.prev();
                    cursor = model.range(..position).next_back().map(|(k, _)| k.clone());
                }
            }
            Op::FullWalk => {
                let mut walker = memtable.iter();
                walker.seek_to_first();
                for entry in model.values() {
                    prop_assert!(walker.valid());
                    prop_assert_eq!(walker.key(), &entry.internal_key[..]);
                    prop_assert_eq!(walker.value(), &entry.value[..]);
                    walker.next();
                }
                prop_assert!(!walker.valid());
                walker.seek_to_last();
                for entry in model.values().rev() {
                    prop_assert!(walker.valid());
                    prop_assert_eq!(walker.key(), &entry.internal_key[..]);
                    walker.prev();
                }
                prop_assert!(!walker.valid());
            }
        }
        check_position(&it, &cursor, &model)?;
        prop_assert_eq!(memtable.len(), model.len());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn bytewise_matches_model((ops, sequences) in scenario()) {
        run(Order::Bytewise, ops, sequences)?;
    }

    #[test]
    fn reverse_comparator_matches_model((ops, sequences) in scenario()) {
        run(Order::Reverse, ops, sequences)?;
    }

    #[test]
    fn case_insensitive_comparator_matches_model((ops, sequences) in scenario()) {
        run(Order::CaseInsensitive, ops, sequences)?;
    }
}

/// Case-insensitive: differently cased spellings are one user key, so the
/// newest of them answers.
#[test]
fn case_insensitive_spellings_are_one_key() {
    let memtable = Memtable::new(InternalKeyComparator::new(Arc::new(CaseInsensitiveComparator)));
    memtable.add(1, ValueKind::Value, b"Key", b"first");
    memtable.add(2, ValueKind::Value, b"KEY", b"second");
    memtable.add(3, ValueKind::Deletion, b"key", b"");
    assert_eq!(memtable.get(b"kEy", 1), MemtableGet::Found("first".into()));
    assert_eq!(memtable.get(b"key", 2), MemtableGet::Found("second".into()));
    assert_eq!(memtable.get(b"KeY", 3), MemtableGet::Deleted);
    assert_eq!(memtable.get(b"keys", 3), MemtableGet::NotFound);
}

/// Reverse order: the iterator yields user keys from largest to smallest.
#[test]
fn reverse_comparator_iterates_descending() {
    let memtable = Memtable::new(InternalKeyComparator::new(Arc::new(ReverseComparator)));
    for (sequence, key) in [b"a".as_slice(), b"c", b"ab", b"b"].into_iter().enumerate() {
        memtable.add(sequence as u64 + 1, ValueKind::Value, key, b"");
    }
    let mut it = memtable.iter();
    it.seek_to_first();
    let mut keys = Vec::new();
    while it.valid() {
        keys.push(lsmkit_base::key::extract_user_key(it.key()).to_vec());
        it.next();
    }
    assert_eq!(keys, [b"c".as_slice(), b"b", b"ab", b"a"]);
    assert_eq!(memtable.get(b"ab", 10), MemtableGet::Found(bytes::Bytes::new()));
}
