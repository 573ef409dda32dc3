//! `WriteBatch` (docs/format.md §4): building, appending, decoding through the
//! handler and the operation iterator, and every decode error §4 lists.

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

use lsmkit_base::key::ValueKind;
use lsmkit_base::Error;
use lsmkit_wal::{BatchOp, WriteBatch, WriteBatchHandler, WRITE_BATCH_HEADER_SIZE};
use proptest::prelude::*;

/// A model operation: `Some(value)` for a put, `None` for a delete.
type ModelOp = (Vec<u8>, Option<Vec<u8>>);

#[derive(Default)]
struct Recorder {
    ops: Vec<ModelOp>,
}

impl WriteBatchHandler for Recorder {
    fn put(&mut self, key: &[u8], value: &[u8]) {
        self.ops.push((key.to_vec(), Some(value.to_vec())));
    }
    fn delete(&mut self, key: &[u8]) {
        self.ops.push((key.to_vec(), None));
    }
}

fn build(ops: &[ModelOp]) -> WriteBatch {
    let mut batch = WriteBatch::new();
    for (key, value) in ops {
        match value {
            Some(value) => batch.put(key, value),
            None => batch.delete(key),
        }
    }
    batch
}

fn decode(batch: &WriteBatch) -> Result<Vec<ModelOp>, Error> {
    let mut recorder = Recorder::default();
    batch.iterate(&mut recorder)?;
    Ok(recorder.ops)
}

fn corruption_message(result: Result<impl std::fmt::Debug, Error>) -> String {
    match result {
        Err(Error::Corruption { message, .. }) => message,
        other => panic!("expected a corruption, got {other:?}"),
    }
}

fn model_op() -> impl Strategy<Value = ModelOp> {
    let bytes = proptest::collection::vec(any::<u8>(), 0..40);
    (bytes.clone(), proptest::option::of(bytes))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn batch_round_trips_through_its_bytes(ops in proptest::collection::vec(model_op(), 0..30), seq in any::<u64>()) {
        let mut batch = build(&ops);
        batch.set_sequence(seq);
        prop_assert_eq!(batch.count() as usize, ops.len());
        prop_assert_eq!(batch.approximate_size(), batch.data().len());
        let decoded = WriteBatch::from_data(batch.data().to_vec()).unwrap();
        prop_assert_eq!(decoded.sequence(), seq);
        prop_assert_eq!(&decode(&decoded).unwrap(), &ops);
        let via_iter: Vec<ModelOp> = decoded
            .ops()
            .map(|op| {
                let op = op.unwrap();
                (op.key.to_vec(), (op.kind == ValueKind::Value).then(|| op.value.to_vec()))
            })
            .collect();
        prop_assert_eq!(via_iter, ops);
    }

    #[test]
    fn append_concatenates(a in proptest::collection::vec(model_op(), 0..10), b in proptest::collection::vec(model_op(), 0..10)) {
        let mut first = build(&a);
        first.set_sequence(77);
        let mut second = build(&b);
        second.set_sequence(5);
        first.append(&second);
        prop_assert_eq!(first.sequence(), 77);
        prop_assert_eq!(first.count() as usize, a.len() + b.len());
        let all: Vec<ModelOp> = a.iter().chain(&b).cloned().collect();
        prop_assert_eq!(decode(&first).unwrap(), all);
    }

    /// Any bytes: decoding never panics, and ends in success or a corruption.
    #[test]
    fn arbitrary_bytes_decode_or_fail_cleanly(data in proptest::collection::vec(any::<u8>(), 0..64)) {
        match WriteBatch::from_data(data) {
            Ok(batch) => {
                let result = decode(&batch);
                prop_assert!(result.is_ok() || result.unwrap_err().is_corruption());
            }
            Err(e) => prop_assert!(e.is_corruption()),
        }
    }
}

#[test]
fn new_batch_is_an_empty_header() {
    let batch = WriteBatch::new();
    assert_eq!(batch.data(), [0u8; WRITE_BATCH_HEADER_SIZE]);
    assert_eq!((batch.count(), batch.sequence(), batch.approximate_size()), (0, 0, 12));
    assert!(batch.is_empty());
    assert_eq!(decode(&batch).unwrap(), vec![]);
}

#[test]
fn clear_resets_everything() {
    let mut batch = build(&[(b"k".to_vec(), Some(b"v".to_vec())), (b"d".to_vec(), None)]);
    batch.set_sequence(9);
    batch.clear();
    assert_eq!(batch, WriteBatch::new());
}

#[test]
fn ops_yield_kind_key_and_value() {
    let batch = build(&[(b"a".to_vec(), Some(b"1".to_vec())), (b"b".to_vec(), None)]);
    let ops: Vec<BatchOp<'_>> = batch.ops().collect::<Result<_, _>>().unwrap();
    assert_eq!(
        ops,
        vec![
            BatchOp { kind: ValueKind::Value, key: b"a", value: b"1" },
            BatchOp { kind: ValueKind::Deletion, key: b"b", value: b"" },
        ]
    );
}

#[test]
fn too_small_batch_is_rejected() {
    assert_eq!(corruption_message(WriteBatch::from_data(vec![0; 11])), "malformed WriteBatch (too small)");
    assert!(WriteBatch::from_data(vec![0; 12]).is_ok());
}

/// A batch header declaring `count` operations, followed by `body`.
fn raw(count: u32, body: &[u8]) -> WriteBatch {
    let mut data = vec![0u8; 8];
    data.extend_from_slice(&count.to_le_bytes());
    data.extend_from_slice(body);
    WriteBatch::from_data(data).unwrap()
}

#[test]
fn decode_errors_name_the_problem() {
    assert_eq!(corruption_message(decode(&raw(1, &[3, 1, b'k']))), "unknown WriteBatch tag");
    // Merge (tag 2): operand missing.
    assert_eq!(corruption_message(decode(&raw(1, &[2, 1, b'k']))), "bad WriteBatch Merge");
    // Put: key shorter than its length; value missing; value too short.
    assert_eq!(corruption_message(decode(&raw(1, &[1, 5, b'k']))), "bad WriteBatch Put");
    assert_eq!(corruption_message(decode(&raw(1, &[1, 1, b'k']))), "bad WriteBatch Put");
    assert_eq!(corruption_message(decode(&raw(1, &[1, 1, b'k', 3, b'v']))), "bad WriteBatch Put");
    // Delete: no key length; key too short; an over-long varint length.
    assert_eq!(corruption_message(decode(&raw(1, &[0]))), "bad WriteBatch Delete");
    assert_eq!(corruption_message(decode(&raw(1, &[0, 2, b'k']))), "bad WriteBatch Delete");
    assert_eq!(
        corruption_message(decode(&raw(1, &[0, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]))),
        "bad WriteBatch Delete"
    );
    // Count: more declared than present, and fewer.
    assert_eq!(corruption_message(decode(&raw(2, &[0, 1, b'k']))), "WriteBatch has wrong count");
    assert_eq!(corruption_message(decode(&raw(0, &[0, 1, b'k']))), "WriteBatch has wrong count");
}

#[test]
fn operations_before_an_error_are_delivered() {
    // As in LevelDB: the handler has seen the good operations when the
    // error comes back.
    let mut recorder = Recorder::default();
    let result = raw(3, &[1, 1, b'a', 1, b'1', 0, 1, b'b', 7]).iterate(&mut recorder);
    assert_eq!(corruption_message(result), "unknown WriteBatch tag");
    assert_eq!(recorder.ops, vec![(b"a".to_vec(), Some(b"1".to_vec())), (b"b".to_vec(), None)]);
    // The iterator stops after its error.
    let batch = raw(3, &[9]);
    let mut ops = batch.ops();
    assert!(ops.next().unwrap().is_err());
    assert!(ops.next().is_none());
}

#[test]
fn merge_operands_round_trip_with_tag_2() {
    let mut batch = WriteBatch::new();
    batch.set_sequence(9);
    batch.merge(b"n", &5u64.to_le_bytes());
    // docs/format-extensions.md, "Merge operator".
    assert_eq!(batch.data(), [9, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 1, b'n', 8, 5, 0, 0, 0, 0, 0, 0, 0]);
    batch.validate().unwrap();
    assert!(batch.has_merge());
    let op = batch.ops().next().unwrap().unwrap();
    assert_eq!((op.kind, op.key, op.value), (ValueKind::Merge, &b"n"[..], &5u64.to_le_bytes()[..]));
    // Framing for TTL leaves operands alone.
    let mut framed = batch.clone();
    framed.put(b"p", b"v");
    framed.frame_for_ttl();
    let ops: Vec<_> = framed.ops().map(Result::unwrap).collect();
    assert_eq!((ops[0].kind, ops[0].value), (ValueKind::Merge, &5u64.to_le_bytes()[..]));
    assert_eq!((ops[1].kind, ops[1].value), (ValueKind::Value, &b"\x00v"[..]));
    // A handler that does not take operands reports corruption.
    struct PutsOnly;
    impl lsmkit_wal::WriteBatchHandler for PutsOnly {
        fn put(&mut self, _key: &[u8], _value: &[u8]) {}
        fn delete(&mut self, _key: &[u8]) {}
    }
    assert!(batch.iterate(&mut PutsOnly).unwrap_err().is_corruption());
    let mut plain = WriteBatch::new();
    plain.put(b"k", b"v");
    assert!(!plain.has_merge());
}
