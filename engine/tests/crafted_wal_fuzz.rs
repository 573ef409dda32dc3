//! Replays the saved inputs of the `crafted_wal` fuzz target
//! (`engine/fuzz/`): every file under
//! `tests/fuzz_regressions/crafted_wal_inputs/` — its seed corpus and every
//! input that once made it fail — runs through the same decoder and checks
//! as the fuzz target, so CI keeps hostile WAL records from panicking.

#[path = "fuzz_regressions/crafted_wal.rs"]
mod crafted_wal;

use std::path::Path;

#[test]
fn saved_crafted_wal_inputs_never_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions/crafted_wal_inputs");
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "no saved inputs in {}", dir.display());
    let (mut opened, mut refused, mut repaired) = (0, 0, 0);
    for path in inputs {
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let summary = crafted_wal::run(&data);
        eprintln!("replayed {} ({} bytes): {summary:?}", path.display(), data.len());
        assert!(summary.records > 0, "{}: no record crafted", path.display());
        if summary.opened {
            opened += 1;
        } else {
            refused += 1;
        }
        repaired += usize::from(summary.repaired);
    }
    // The seeds cover both outcomes of the open, and the repair.
    assert!(
        opened > 0 && refused > 0 && repaired > 0,
        "opened {opened}, refused {refused}, repaired {repaired}"
    );
}
