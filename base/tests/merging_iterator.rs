//! Property test: MergingIterator against a sorted Vec model, with seeks,
//! both directions and direction switches, including equal keys in
//! different children.

use std::sync::Arc;

use lsmkit_base::comparator::{BytewiseComparator, Comparator};
use lsmkit_base::iterator::{EmptyIterator, InternalIterator, VecIterator};
use lsmkit_base::merging_iterator::MergingIterator;
use lsmkit_base::Error;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    SeekToFirst,
    SeekToLast,
    Seek(Vec<u8>),
    Next,
    Prev,
}

fn arb_key() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(0u8..6, 0..3)
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::SeekToFirst),
        Just(Op::SeekToLast),
        arb_key().prop_map(Op::Seek),
        Just(Op::Next),
        Just(Op::Next),
        Just(Op::Prev),
        Just(Op::Prev),
    ]
}

/// Model entry: (key, child index); the value records the child.
type ModelEntry = (Vec<u8>, usize);

fn build(children_keys: &[Vec<Vec<u8>>]) -> (MergingIterator, Vec<ModelEntry>) {
    let cmp = BytewiseComparator::shared();
    let mut model = Vec::new();
    let mut children: Vec<Box<dyn InternalIterator>> = Vec::new();
    for (child, keys) in children_keys.iter().enumerate() {
        let mut keys = keys.clone();
        keys.sort();
        keys.dedup();
        for k in &keys {
            model.push((k.clone(), child));
        }
        let entries = keys.into_iter().map(|k| (k, vec![child as u8])).collect();
        children.push(Box::new(VecIterator::new(cmp.clone(), entries)));
    }
    model.sort();
    (MergingIterator::new(cmp, children), model)
}

fn check(it: &MergingIterator, model: &[ModelEntry], pos: Option<usize>) -> Result<(), TestCaseError> {
    match pos {
        None => prop_assert!(!it.valid()),
        Some(p) => {
            prop_assert!(it.valid());
            prop_assert_eq!(it.key(), &model[p].0[..]);
            prop_assert_eq!(it.value(), &[model[p].1 as u8][..]);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn merging_matches_sorted_model(
        children_keys in proptest::collection::vec(proptest::collection::vec(arb_key(), 0..8), 0..5),
        ops in proptest::collection::vec(arb_op(), 1..40),
    ) {
        let (mut it, model) = build(&children_keys);
        let mut pos: Option<usize> = None;
        for op in ops {
            match op {
                Op::SeekToFirst => {
                    it.seek_to_first();
                    pos = if model.is_empty() { None } else { Some(0) };
                }
                Op::SeekToLast => {
                    it.seek_to_last();
                    pos = model.len().checked_sub(1);
                }
                Op::Seek(target) => {
                    it.seek(&target);
                    let p = model.partition_point(|(k, _)| k < &target);
                    pos = if p < model.len() { Some(p) } else { None };
                }
                Op::Next => {
                    if let Some(p) = pos {
                        it.next();
                        pos = if p + 1 < model.len() { Some(p + 1) } else { None };
                    }
                }
                Op::Prev => {
                    if let Some(p) = pos {
                        it.prev();
                        pos = p.checked_sub(1);
                    }
                }
            }
            check(&it, &model, pos)?;
        }
        prop_assert!(it.status().is_ok());
    }
}

#[test]
fn full_walks_both_ways() {
    let (mut it, model) = build(&[
        vec![b"a".to_vec(), b"d".to_vec(), b"e".to_vec()],
        vec![b"b".to_vec(), b"d".to_vec()],
        vec![],
        vec![b"c".to_vec(), b"f".to_vec()],
    ]);
    let mut forward = Vec::new();
    it.seek_to_first();
    while it.valid() {
        forward.push((it.key().to_vec(), it.value()[0] as usize));
        it.next();
    }
    assert_eq!(forward, model);
    let mut backward = Vec::new();
    it.seek_to_last();
    while it.valid() {
        backward.push((it.key().to_vec(), it.value()[0] as usize));
        it.prev();
    }
    backward.reverse();
    assert_eq!(backward, model);
}

#[test]
fn child_error_is_reported() {
    let cmp: Arc<dyn Comparator> = BytewiseComparator::shared();
    let good = VecIterator::new(cmp.clone(), vec![(b"a".to_vec(), vec![])]);
    let bad = EmptyIterator::with_error(Error::corruption("bad block"));
    let mut it = MergingIterator::new(cmp, vec![Box::new(good), Box::new(bad)]);
    it.seek_to_first();
    assert!(it.valid());
    assert!(it.status().unwrap_err().is_corruption());
}
