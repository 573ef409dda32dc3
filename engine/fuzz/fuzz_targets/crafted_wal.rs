//! Fuzz target: records with valid checksums but crafted contents (write
//! batches with extreme sequence numbers, counts and length varints,
//! unknown kinds, raw fragments, torn tails) appended to the WAL of a real
//! database, which is then read with the WAL iterator, optionally repaired,
//! reopened and read back. Nothing may panic; every error must be a
//! corruption. The input decoder and the checks live in
//! `engine/tests/fuzz_regressions/crafted_wal.rs`, shared with the test
//! that replays the saved inputs (`engine/tests/crafted_wal_fuzz.rs`).

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/fuzz_regressions/crafted_wal.rs"]
mod crafted_wal;

fuzz_target!(|data: &[u8]| {
    let _summary = crafted_wal::run(data);
});
