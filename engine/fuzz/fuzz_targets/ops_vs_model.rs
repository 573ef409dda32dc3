//! Fuzz target: a sequence of whole-engine operations (puts, deletes,
//! merges with a string-append merge operator, batches, reads, scans and seeks, snapshots, flushes, compactions,
//! reopens) on an in-memory database, every read checked against a
//! `BTreeMap` model. The decoder and the checks live in
//! `engine/tests/fuzz_regressions/ops_vs_model.rs`, shared with the test
//! that replays saved crashing inputs (`engine/tests/fuzz_regressions.rs`).

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/fuzz_regressions/ops_vs_model.rs"]
mod ops_vs_model;

fuzz_target!(|data: &[u8]| {
    let _summary = ops_vs_model::run(data);
});
