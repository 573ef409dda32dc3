//! `cargo xtask corrupt`: the full corruption sweep of the engine — every
//! byte of every file of a small database flipped, and every file cut at
//! every length, each followed by an open and a full read with
//! `paranoid_checks` (engine/tests/corruption_sweep.rs; CI runs a sample).
//! It runs that test binary in release mode with `LSMKIT_CORRUPTION_SWEEP=full`
//! and shows its per-file summary.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The variable that makes the corruption sweep run in full.
const FULL_SWEEP_VAR: &str = "LSMKIT_CORRUPTION_SWEEP";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// Runs the full sweep; fails if any case failed.
pub fn run() -> Result<(), String> {
    eprintln!("xtask: full corruption sweep (release build; this takes a few minutes)");
    let started = Instant::now();
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(workspace_root())
        .env(FULL_SWEEP_VAR, "full")
        .args(["test", "--release", "-p", "lsmkit", "--test", "corruption_sweep", "--", "--nocapture"])
        .status()
        .map_err(|e| format!("cannot run cargo test: {e}"))?;
    eprintln!("xtask: corruption sweep finished in {:.0} s", started.elapsed().as_secs_f64());
    if status.success() {
        Ok(())
    } else {
        Err("the corruption sweep found failing cases (listed above)".into())
    }
}
