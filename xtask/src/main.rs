//! `cargo xtask`: the project's tasks.
//!
//! - `cargo xtask demo`: the main job for now — writes a WAL of a few
//!   thousand batches, reads it back through the WAL iterator, prints what it
//!   did and how fast;
//! - `cargo xtask fuzz CRATE|all [--seconds N]`: runs every cargo-fuzz target
//!   of a crate (installing cargo-fuzz if it is missing) and prints
//!   executions and coverage per target.

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
    /// Write a WAL with thousands of batches and read it back through the WAL iterator.
    Demo {
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
    /// Run the fuzz targets of a crate (wal, memtable, bloom, sstable) or of all.
    Fuzz {
        /// Crate directory name, or `all`.
        krate: String,
        /// Seconds per target.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Demo { batches, ops_per_batch, mmap } => demo::run(batches, ops_per_batch, mmap),
        Task::Fuzz { krate, seconds } => fuzz::run(&krate, seconds),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}
