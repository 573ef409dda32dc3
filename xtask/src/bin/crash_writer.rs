//! `crash_writer`: the process `cargo xtask crash` kills. It opens the
//! database with one cycle's options, prints `opened`, then applies the
//! cycle's plan forever, logging each acknowledged step in the side file,
//! until it is killed. With `--recover-only` it just opens the database (so
//! a kill can land in recovery) and waits. It exits if its stdin closes, so
//! it never outlives a harness that died.

#![forbid(unsafe_code)]

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use lsmkit::Db;
use xtask::crash::cycle_options::CycleOptions;
use xtask::crash::plan::Plan;
use xtask::crash::side_file::{Record, SideFile};
use xtask::crash::{writer, OPENED_LINE};

#[derive(Parser)]
#[command(name = "crash_writer", about = "The writer process of `cargo xtask crash`")]
struct Args {
    /// The database directory.
    #[arg(long)]
    db: PathBuf,
    /// Seed of the run.
    #[arg(long)]
    seed: u64,
    /// The cycle (its plan, and the tag in the values it writes).
    #[arg(long)]
    cycle: u64,
    /// The cycle whose database options to use (default: `--cycle`).
    #[arg(long)]
    options_cycle: Option<u64>,
    /// The side file (required unless `--recover-only`).
    #[arg(long)]
    side: Option<PathBuf>,
    /// The history index of the first operation to write.
    #[arg(long, default_value_t = 0)]
    base: u64,
    /// Only open the database, then wait to be killed.
    #[arg(long)]
    recover_only: bool,
}

fn run(args: &Args) -> Result<(), String> {
    let options = CycleOptions::for_cycle(args.seed, args.options_cycle.unwrap_or(args.cycle));
    let mut side = match (&args.side, args.recover_only) {
        (_, true) => None,
        (Some(path), false) => {
            let mut side = SideFile::create(path)?;
            side.append(&Record::Begin { cycle: args.cycle, base: args.base }, true)?;
            Some(side)
        }
        (None, false) => return Err("--side is required unless --recover-only".into()),
    };
    let db = Db::open(&args.db, options.to_options()).map_err(|e| format!("open failed: {e}"))?;
    if let Some(side) = side.as_mut() {
        side.append(&Record::Opened, false)?;
    }
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{OPENED_LINE}").and_then(|()| stdout.flush()).map_err(|e| format!("stdout: {e}"))?;
    match side.as_mut() {
        Some(side) => {
            let mut plan = Plan::new(args.seed, args.cycle, args.base);
            writer::apply_steps(&db, args.seed, args.cycle, &mut plan, side, None)?;
            Err("the plan ended (it is endless)".into())
        }
        None => loop {
            std::thread::park();
        },
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    // Exit when the harness goes away (its end of our stdin closes).
    std::thread::spawn(|| {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        std::process::exit(3);
    });
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("crash_writer: {message}");
            ExitCode::FAILURE
        }
    }
}
