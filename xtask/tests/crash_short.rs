//! The short form of `cargo xtask crash` that CI runs: 20 cycles of a real
//! `crash_writer` process killed with SIGKILL, each followed by a reopen and
//! a check that the database is a prefix of the write history keeping every
//! acknowledged write, merges into counters and range deletions included
//! (see `xtask::crash`).

use std::path::PathBuf;

use xtask::crash::{run_cycles, CrashConfig};

#[test]
fn twenty_kills_lose_no_acknowledged_write() {
    let writer = PathBuf::from(env!("CARGO_BIN_EXE_crash_writer"));
    let mut config = CrashConfig::new(20, 20_240_607, writer);
    // Kills a little sooner than the full run, to keep debug-mode CI quick.
    config.kill_after_open_ms = 50..300;
    config.final_steps = 150;
    let summary = run_cycles(&config).unwrap_or_else(|e| panic!("crash test failed: {e}"));
    assert_eq!(summary.cycles, 20);
    // The run did write and check something: batches were acknowledged
    // (some durably) and the recovered history grew.
    assert!(summary.acked_batches > 0, "{summary:?}");
    assert!(summary.durable_acks > 0, "{summary:?}");
    assert!(summary.history_ops >= summary.ops_verified && summary.ops_verified > 0, "{summary:?}");
    // Counters were merged into, and their recovered sums checked.
    assert!(summary.merges_verified > 0, "{summary:?}");
    // Range deletions were written and recovered, and deleted live keys
    // (counters among them) that the checks then found absent.
    assert!(summary.range_deletions_verified > 0, "{summary:?}");
    assert!(summary.range_deleted_keys > 0, "{summary:?}");
    assert!(summary.range_deleted_counters > 0, "{summary:?}");
}
