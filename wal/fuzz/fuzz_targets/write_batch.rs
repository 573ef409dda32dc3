//! Fuzz target: arbitrary bytes decoded as a `WriteBatch` (docs/format.md §4),
//! through both the handler and the operation iterator. No input may panic,
//! both ways must agree, and a batch that decodes re-encodes to one that
//! decodes to the same operations.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lsmkit_base::key::ValueKind;
use lsmkit_wal::{WriteBatch, WriteBatchHandler};

#[derive(Default)]
struct Collect(Vec<(bool, Vec<u8>, Vec<u8>)>);

impl WriteBatchHandler for Collect {
    fn put(&mut self, key: &[u8], value: &[u8]) {
        self.0.push((true, key.to_vec(), value.to_vec()));
    }
    fn delete(&mut self, key: &[u8]) {
        self.0.push((false, key.to_vec(), Vec::new()));
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(batch) = WriteBatch::from_data(data.to_vec()) else {
        assert!(data.len() < 12);
        return;
    };
    let mut handled = Collect::default();
    let handler_result = batch.iterate(&mut handled);
    let mut iterated = Vec::new();
    let mut iterator_failed = false;
    for op in batch.ops() {
        match op {
            Ok(op) => iterated.push((op.kind == ValueKind::Value, op.key.to_vec(), op.value.to_vec())),
            Err(e) => {
                assert!(e.is_corruption());
                iterator_failed = true;
            }
        }
    }
    assert_eq!(handled.0, iterated);
    assert_eq!(handler_result.is_err(), iterator_failed);
    if handler_result.is_ok() {
        let mut rebuilt = WriteBatch::new();
        for (is_put, key, value) in &iterated {
            if *is_put {
                rebuilt.put(key, value);
            } else {
                rebuilt.delete(key);
            }
        }
        rebuilt.set_sequence(batch.sequence());
        let mut again = Collect::default();
        rebuilt.iterate(&mut again).unwrap();
        assert_eq!(again.0, iterated);
        assert_eq!(rebuilt.count(), batch.count());
    }
});
