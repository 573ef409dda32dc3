//! `cargo xtask fuzz CRATE|all [--seconds N]`: runs each cargo-fuzz target in
//! `CRATE/fuzz/` for N seconds with the nightly toolchain and reports, per
//! target, the executions, the final coverage and whether it crashed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Crates that carry a `fuzz/` folder, in build order.
const FUZZED_CRATES: &[&str] = &["wal", "memtable", "bloom", "sstable", "version", "engine"];

struct TargetReport {
    krate: String,
    target: String,
    executions: Option<u64>,
    coverage: Option<u64>,
    crashed: bool,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

fn ensure_cargo_fuzz() -> Result<(), String> {
    let installed = Command::new("cargo")
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if installed {
        return Ok(());
    }
    eprintln!("xtask: cargo-fuzz is missing; installing it (cargo install cargo-fuzz)");
    let status = Command::new("cargo")
        .args(["install", "cargo-fuzz", "--locked"])
        .status()
        .map_err(|e| format!("cannot run cargo install: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err("cargo install cargo-fuzz failed".into())
    }
}

fn list_targets(fuzz_dir: &Path) -> Result<Vec<String>, String> {
    let targets_dir = fuzz_dir.join("fuzz_targets");
    let mut targets: Vec<String> = std::fs::read_dir(&targets_dir)
        .map_err(|e| format!("cannot list {}: {e}", targets_dir.display()))?
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            name.strip_suffix(".rs").map(str::to_owned)
        })
        .collect();
    targets.sort();
    Ok(targets)
}

/// Pulls "Done N runs" and the last "cov: N" out of libFuzzer's output.
fn parse_libfuzzer_output(output: &str) -> (Option<u64>, Option<u64>) {
    let mut executions = None;
    let mut coverage = None;
    for line in output.lines() {
        if let Some(rest) = line.strip_prefix("Done ") {
            executions = rest.split_whitespace().next().and_then(|n| n.parse().ok());
        }
        if let Some(idx) = line.find("cov: ") {
            coverage = line[idx + 5..].split_whitespace().next().and_then(|n| n.parse().ok());
        }
        if executions.is_none() && line.starts_with('#') && line.contains("DONE") {
            executions = line[1..].split_whitespace().next().and_then(|n| n.parse().ok());
        }
    }
    (executions, coverage)
}

/// The committed seed corpus of `target`, if it has one: the folder
/// `tests/fuzz_regressions/<target>_inputs` of its crate, which the crate's
/// tests also replay (so CI runs every seed).
fn seed_corpus(crate_dir: &Path, target: &str) -> Option<PathBuf> {
    let dir = crate_dir.join("tests/fuzz_regressions").join(format!("{target}_inputs"));
    dir.is_dir().then_some(dir)
}

fn run_target(krate: &str, fuzz_dir: &Path, target: &str, seconds: u64) -> Result<TargetReport, String> {
    eprintln!("xtask: fuzzing {krate}/{target} for {seconds} s");
    let crate_dir = fuzz_dir.parent().unwrap_or(fuzz_dir);
    let mut args = vec!["+nightly".to_string(), "fuzz".into(), "run".into(), target.into()];
    if let Some(seeds) = seed_corpus(crate_dir, target) {
        // New inputs go to the (ignored) working corpus; the seeds are read only.
        let corpus = fuzz_dir.join("corpus").join(target);
        std::fs::create_dir_all(&corpus).map_err(|e| format!("cannot create {}: {e}", corpus.display()))?;
        args.push(corpus.display().to_string());
        args.push(seeds.display().to_string());
    }
    args.extend(["--".to_string(), format!("-max_total_time={seconds}")]);
    let output = Command::new("cargo")
        .current_dir(crate_dir)
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run cargo fuzz: {e}"))?;
    let text =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    let (executions, coverage) = parse_libfuzzer_output(&text);
    let crashed = !output.status.success();
    if crashed {
        let tail: Vec<&str> = text.lines().rev().take(40).collect();
        eprintln!("{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
    }
    Ok(TargetReport { krate: krate.into(), target: target.into(), executions, coverage, crashed })
}

/// Runs every target of `krate` (or of every fuzzed crate for `all`).
pub fn run(krate: &str, seconds: u64) -> Result<(), String> {
    let root = workspace_root();
    let crates: Vec<&str> = if krate == "all" {
        FUZZED_CRATES.iter().copied().filter(|c| root.join(c).join("fuzz").is_dir()).collect()
    } else {
        vec![krate]
    };
    ensure_cargo_fuzz()?;
    let mut reports = Vec::new();
    for krate in crates {
        let fuzz_dir = root.join(krate).join("fuzz");
        if !fuzz_dir.is_dir() {
            return Err(format!("{} has no fuzz/ folder", krate));
        }
        for target in list_targets(&fuzz_dir)? {
            reports.push(run_target(krate, &fuzz_dir, &target, seconds)?);
        }
    }
    println!("{:<10} {:<20} {:>14} {:>10}  result", "crate", "target", "executions", "coverage");
    for r in &reports {
        let show = |v: Option<u64>| v.map(|n| n.to_string()).unwrap_or_else(|| "?".into());
        println!(
            "{:<10} {:<20} {:>14} {:>10}  {}",
            r.krate,
            r.target,
            show(r.executions),
            show(r.coverage),
            if r.crashed { "CRASH (see above; input kept in fuzz/artifacts)" } else { "ok" }
        );
    }
    if reports.iter().any(|r| r.crashed) {
        Err("a fuzz target crashed".into())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::parse_libfuzzer_output;

    #[test]
    fn parses_done_line_and_coverage() {
        let out = "#2\tINITED cov: 10 ft: 11 corp: 1/1b\n#4096\tpulse  cov: 57 ft: 80\nDone 123456 runs in 31 second(s)\n";
        assert_eq!(parse_libfuzzer_output(out), (Some(123456), Some(57)));
        assert_eq!(parse_libfuzzer_output("nothing"), (None, None));
    }
}
