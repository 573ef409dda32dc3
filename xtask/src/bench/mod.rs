//! `cargo xtask bench`: LevelDB's `db_bench` workloads and flags against
//! lsmkit and, in the same run with the same parameters, against LevelDB,
//! RocksDB and fjall (`--engines`), with latency percentiles, write
//! amplification, bytes on disk and peak memory per engine, a comparison
//! table, `--json` and an SVG `--chart`.
//!
//! The parent process runs each engine's suite in a child process (this
//! binary again, with the hidden `--child FILE`), so engines do not share a
//! heap or page-cache warmth and each gets its own peak RSS; `--runs N`
//! repeats every suite and reports medians. Each peer runs with the settings
//! lsmkit gets, with its own defaults, or both (`--peer-settings`). Peer
//! engines are cargo features; when one is missing from this build, the bench
//! re-invokes cargo with it.

pub mod chart;
pub mod compare;
pub mod engine;
#[cfg(feature = "fjall")]
pub mod engine_fjall;
#[cfg(feature = "leveldb")]
pub mod engine_leveldb;
pub mod engine_lsmkit;
#[cfg(feature = "rocksdb")]
pub mod engine_rocksdb;
pub mod flags;
pub mod json;
pub mod keys;
pub mod measurement;
pub mod proc_stats;
pub mod progress;
pub mod stats;
pub mod suite;
pub mod system;
pub mod workloads;

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::Command;

use engine::EngineSpec;
use flags::BenchFlags;
use measurement::Measurement;

/// Runs `cargo xtask bench` with `flags`.
pub fn run(flags: BenchFlags) -> Result<(), String> {
    flags.validate()?;
    let engines = flags.engine_runs()?;
    if let Some(results_file) = &flags.child {
        return run_child(&flags, engines[0], results_file);
    }
    if engines.iter().any(|e| !e.engine.is_compiled_in()) {
        let mut names: Vec<engine::EngineName> = engines.iter().map(|e| e.engine).collect();
        names.dedup();
        return system::reinvoke_with_features(&names, std::env::args_os().skip(1).collect());
    }
    run_parent(&flags, &engines)
}

/// One engine's suite in this (child) process; its records go to `results_file`.
fn run_child(flags: &BenchFlags, engine: EngineSpec, results_file: &Path) -> Result<(), String> {
    let db_root = flags.db.as_ref().ok_or("--child needs --db")?;
    // LevelDB and RocksDB create the database directory but not its
    // parent: make sure the parent exists whichever engine runs first.
    std::fs::create_dir_all(db_root).map_err(|e| format!("cannot create {}: {e}", db_root.display()))?;
    let db_dir = db_root.join(engine.label());
    let progress = std::io::stderr().is_terminal();
    let mut stdout = std::io::stdout().lock();
    let mut measurements = suite::run_suite(engine, flags, &db_dir, &mut stdout, progress)?;
    let peak_rss = proc_stats::peak_rss_bytes();
    for m in &mut measurements {
        m.peak_rss_bytes = peak_rss;
    }
    let records: String = measurements.iter().map(|m| m.to_record() + "\n").collect();
    std::fs::write(results_file, records).map_err(|e| format!("cannot write {}: {e}", results_file.display()))
}

/// Runs every engine's suite `--runs` times in child processes, then prints
/// the comparison and writes the requested files.
fn run_parent(flags: &BenchFlags, engines: &[EngineSpec]) -> Result<(), String> {
    let scratch = tempfile::tempdir().map_err(|e| format!("cannot create a temporary directory: {e}"))?;
    let db_root: PathBuf = flags.db.clone().unwrap_or_else(|| scratch.path().join("db"));
    let settings = suite::engine_settings(flags);
    println!("{}", machine_description());
    println!("{}", suite::header(flags));
    println!("Threads:    {} (readwhilewriting adds a writer); reads {}", flags.threads, flags.reads());
    for engine in engines {
        println!("Engine:     {}", engine.describe(&settings));
    }
    println!("Databases:  {}", db_root.display());
    println!("------------------------------------------------");
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the bench binary: {e}"))?;
    let mut runs: Vec<Vec<Vec<Measurement>>> = vec![Vec::new(); engines.len()];
    for run in 1..=flags.runs {
        // Engines take turns within each run, so slow drifts of a shared
        // machine spread over all of them.
        for (e, &engine) in engines.iter().enumerate() {
            println!("== {engine} (run {run} of {})", flags.runs);
            let results_file = scratch.path().join(format!("{engine}-{run}.records"));
            let status = Command::new(&exe)
                .args(flags.child_args(engine, &db_root, &results_file))
                .status()
                .map_err(|e| format!("cannot start the {engine} run: {e}"))?;
            if !status.success() {
                return Err(format!("the {engine} run failed ({status})"));
            }
            runs[e].push(read_records(&results_file)?);
            // Free the space before the next engine writes its database.
            engine::destroy(&db_root.join(engine.label()))?;
        }
    }
    let per_engine: Vec<Vec<Measurement>> = runs.iter().map(|r| compare::median_runs(r)).collect();
    println!("------------------------------------------------");
    if flags.runs > 1 {
        println!("Medians of {} runs:", flags.runs);
    }
    print!("{}", compare::table(&per_engine));
    let all: Vec<Measurement> = per_engine.concat();
    if let Some(path) = &flags.json {
        std::fs::write(path, json::document(&all))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("JSON:       {}", path.display());
    }
    if let Some(path) = &flags.chart {
        let names: Vec<String> = engines.iter().map(|e| e.label()).collect();
        let svg = chart::render(&all, &chart::title(flags.num, &names));
        std::fs::write(path, svg).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("Chart:      {}", path.display());
    }
    Ok(())
}

/// Reads the records a child wrote.
fn read_records(path: &Path) -> Result<Vec<Measurement>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    std::io::BufReader::new(file)
        .lines()
        .map(|line| {
            Measurement::from_record(&line.map_err(|e| format!("cannot read {}: {e}", path.display()))?)
        })
        .collect()
}

/// CPU count and model, as `db_bench` prints them.
fn machine_description() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("CPU:        {cpus} * {model}")
}
