//! Replays the saved inputs of the `ops_vs_model` fuzz target
//! (`engine/fuzz/`): every file under `tests/fuzz_regressions/inputs/` — the
//! inputs that once crashed it, and a few seeds from its corpus — runs
//! through the same decoder and model check as the fuzz target, so a bug
//! it found stays fixed.

#[path = "fuzz_regressions/ops_vs_model.rs"]
mod ops_vs_model;

use std::path::Path;

#[test]
fn saved_fuzz_inputs_match_the_model() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions/inputs");
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "no saved inputs in {}", dir.display());
    let mut deepest_level = 0;
    for path in inputs {
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let summary = ops_vs_model::run(&data);
        eprintln!("replayed {} ({} bytes): {summary:?}", path.display(), data.len());
        assert!(summary.ops > 0, "{}: no operation decoded", path.display());
        if let Some(level) = summary.tables_per_level.iter().rposition(|&n| n > 0) {
            deepest_level = deepest_level.max(level);
        }
    }
    // The seeds are meant to reach flushes and compactions, not just memtables.
    assert!(deepest_level >= 1, "no saved input left a table below level 0");
}

/// The decoder stops at `MAX_OPS` operations: a long input of cheap
/// operations runs, and the model check still holds at its end.
#[test]
fn long_inputs_are_cut_at_max_ops() {
    // Config 0, then alternating puts (opcode 0) and backward scans (opcode 8).
    let mut data = vec![0u8];
    for i in 0..(ops_vs_model::MAX_OPS as u8) {
        data.extend_from_slice(&[0, i, i]);
        data.extend_from_slice(&[8, 0]);
    }
    let summary = ops_vs_model::run(&data);
    assert_eq!(summary.ops, ops_vs_model::MAX_OPS);
}

/// Random inputs with range deletions on (configuration bit 4, with and
/// without the merge operator and size-tiered compaction): the fuzz check's
/// model must hold for each. Deterministic (a fixed xorshift seed).
#[test]
fn random_inputs_with_range_deletions_match_the_model() {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for case in 0..40u64 {
        let config = 16 | (case as u8 & 0b1101);
        let len = 64 + (next() % 400) as usize;
        let mut data = vec![config];
        data.extend((0..len).map(|_| next() as u8));
        let summary = ops_vs_model::run(&data);
        assert!(summary.ops > 0);
    }
}
