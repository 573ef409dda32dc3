//! Fuzz target: block decoding (docs/format.md §6.5).
//!
//! Two modes, chosen by the first byte:
//! - even: the rest is a block's bytes; every operation of the block
//!   iterator must finish without a panic, whatever the bytes;
//! - odd: the rest is cut into key/value pairs that are sorted, built into
//!   a block with a restart interval from the input, and decoded again; the
//!   decoded entries, scans both ways and seeks must match exactly.

#![no_main]

use std::collections::BTreeMap;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use lsmkit_base::comparator::BytewiseComparator;
use lsmkit_base::iterator::InternalIterator;
use lsmkit_sstable::{Block, BlockBuilder};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode % 2 == 0 {
        decode_arbitrary(rest);
    } else {
        round_trip(mode, rest);
    }
});

fn decode_arbitrary(bytes: &[u8]) {
    let Ok(block) = Block::new(Bytes::copy_from_slice(bytes)) else { return };
    let mut it = block.iter(BytewiseComparator::shared());
    let limit = bytes.len() + 1;
    let mut steps = 0;
    it.seek_to_first();
    while it.valid() && steps < limit {
        let _ = (it.key(), it.value(), it.value_bytes());
        it.next();
        steps += 1;
    }
    it.seek_to_last();
    steps = 0;
    while it.valid() && steps < limit {
        it.prev();
        steps += 1;
    }
    for window in bytes.chunks(7).take(8) {
        it.seek(window);
        if it.valid() {
            it.prev();
            if it.valid() {
                it.next();
            }
        }
    }
    let _ = it.status();
}

fn round_trip(mode: u8, bytes: &[u8]) {
    let restart_interval = [1usize, 2, 3, 16][(mode as usize >> 1) % 4];
    // Pairs: a length byte for the key and one for the value, then the bytes.
    let mut model = BTreeMap::new();
    let mut input = bytes;
    while let [key_len, value_len, tail @ ..] = input {
        let (key_len, value_len) = (*key_len as usize % 16, *value_len as usize % 32);
        if tail.len() < key_len + value_len {
            break;
        }
        model.insert(tail[..key_len].to_vec(), tail[key_len..key_len + value_len].to_vec());
        input = &tail[key_len + value_len..];
    }
    let mut builder = BlockBuilder::new(restart_interval);
    for (key, value) in &model {
        builder.add(key, value);
    }
    let block = Block::new(Bytes::copy_from_slice(builder.finish())).expect("a built block decodes");
    let mut it = block.iter(BytewiseComparator::shared());
    let mut forward = Vec::new();
    it.seek_to_first();
    while it.valid() {
        forward.push((it.key().to_vec(), it.value().to_vec()));
        it.next();
    }
    assert!(it.status().is_ok());
    let expected: Vec<(Vec<u8>, Vec<u8>)> = model.clone().into_iter().collect();
    assert_eq!(forward, expected);
    let mut backward = Vec::new();
    it.seek_to_last();
    while it.valid() {
        backward.push((it.key().to_vec(), it.value().to_vec()));
        it.prev();
    }
    backward.reverse();
    assert_eq!(backward, expected);
    for target in bytes.chunks(3).take(16) {
        it.seek(target);
        match model.range(target.to_vec()..).next() {
            Some((k, v)) => {
                assert!(it.valid());
                assert_eq!((it.key(), it.value()), (&k[..], &v[..]));
            }
            None => assert!(!it.valid()),
        }
    }
}
