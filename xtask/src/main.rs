//! `cargo xtask`: the project's tasks.
//!
//! - `cargo xtask demo`: the main job — a short db_bench-style run of the
//!   engine (fill, read, scan, compact) and a WAL demo (thousands of batches
//!   written and read back through the WAL iterator), with figures;
//! - `cargo xtask bench [--engines=lsmkit,leveldb,rocksdb,fjall] [db_bench
//!   flags]`: LevelDB's `db_bench` workloads against lsmkit and its peers,
//!   with ratios, latency percentiles, write amplification, peak RSS,
//!   `--json` and `--chart` (docs/benchmarks.md);
//! - `cargo xtask crash --cycles N [--seed S]`: kills a real writer process
//!   with SIGKILL at random moments and checks what survives;
//! - `cargo xtask fuzz CRATE|all [--seconds N]`: runs every cargo-fuzz target
//!   of a crate (installing cargo-fuzz if it is missing) and prints
//!   executions and coverage per target;
//! - `cargo xtask corrupt`: the full corruption sweep of the engine (CI runs
//!   a sample);
//! - `cargo xtask cluster --nodes 3 [--bench]`: a local lsmkit-raft cluster of
//!   `kv` example nodes (README.md, "Replicated key-value service"), or the
//!   replicated-write benchmark against one.

mod bench;
mod cluster;
mod corrupt;
mod db_bench;
mod demo;
mod fuzz;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "lsmkit project tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// A short db_bench-style run of the engine, then the WAL iterator demo.
    Demo {
        /// Entries for the engine workloads.
        #[arg(long, default_value_t = 200_000)]
        num: u64,
        /// Number of batches to write.
        #[arg(long, default_value_t = 5000)]
        batches: u64,
        /// Operations per batch.
        #[arg(long, default_value_t = 10)]
        ops_per_batch: u64,
        /// Use the mmap WAL I/O mode instead of buffered.
        #[arg(long)]
        mmap: bool,
    },
    /// LevelDB's db_bench workloads against lsmkit and peer engines.
    Bench(Box<bench::flags::BenchFlags>),
    /// Run the fuzz targets of a crate (wal, memtable, bloom, sstable, version, engine) or of all.
    Fuzz {
        /// Crate directory name, or `all`.
        krate: String,
        /// Seconds per target.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
    },
    /// Kill a writer process with SIGKILL at random moments and check what survives.
    Crash {
        /// Kill-and-verify cycles to run.
        #[arg(long, default_value_t = 200)]
        cycles: u64,
        /// Seed of the write history, options and kill times (default: from the clock).
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Flip every byte and cut every file of a small database at every length; open and read it.
    Corrupt,
    /// Start a local lsmkit-raft cluster of `kv` nodes (or benchmark one with --bench).
    Cluster(cluster::ClusterFlags),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Demo { num, batches, ops_per_batch, mmap } => {
            db_bench::run(num).and_then(|()| demo::run(batches, ops_per_batch, mmap))
        }
        Task::Bench(flags) => bench::run(*flags),
        Task::Fuzz { krate, seconds } => fuzz::run(&krate, seconds),
        Task::Corrupt => corrupt::run(),
        Task::Crash { cycles, seed } => xtask::crash::run(cycles, seed),
        Task::Cluster(flags) => cluster::run(flags),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}
