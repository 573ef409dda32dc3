//! The commands, one module each, and the dispatch from the parsed command line.

pub mod data;
pub mod dump;
pub mod maintenance;
pub mod manifest;
pub mod repair;
pub mod scan;
pub mod verify;
pub mod wal;

use std::io::Write;

use crate::args::{Cli, Command};
use crate::database::{required_dir, OpenOptions};
use crate::error::CliResult;

/// Runs the command `cli` names, writing its output to `out`.
pub fn run(cli: &Cli, out: &mut dyn Write) -> CliResult {
    let format = cli.byte_format();
    let db = cli.db.as_deref();
    // Only writes create a missing database.
    let existing = OpenOptions {
        create_if_missing: false,
        merge_operator: cli.merge_operator()?,
        range_deletions: cli.range_deletions,
    };
    let create = OpenOptions { create_if_missing: cli.create_if_missing, ..existing.clone() };
    let open = &existing;
    match &cli.command {
        Command::Get { key } => data::get(required_dir(db, "get")?, open, format, key, out),
        Command::Put { key, value } => data::put(required_dir(db, "put")?, &create, format, key, value, out),
        Command::Delete { key } => data::delete(required_dir(db, "delete")?, open, format, key, out),
        Command::Merge { key, operand } => {
            data::merge(required_dir(db, "merge")?, &create, format, key, operand, out)
        }
        Command::Deleterange { begin, end } => {
            data::delete_range(required_dir(db, "deleterange")?, &create, format, begin, end, out)
        }
        Command::Batchput { pairs } => {
            data::batchput(required_dir(db, "batchput")?, &create, format, pairs, out)
        }
        Command::Scan(args) => scan::scan(required_dir(db, "scan")?, open, format, args, out),
        Command::Dump { file } => dump::dump(file, format, out),
        Command::Manifest { verbose } => {
            manifest::manifest(required_dir(db, "manifest")?, format, *verbose, out)
        }
        Command::Verify => verify::verify(required_dir(db, "verify")?, out),
        Command::Stats => maintenance::stats(required_dir(db, "stats")?, open, out),
        Command::Compact { from, to } => {
            maintenance::compact(required_dir(db, "compact")?, open, format, from.as_ref(), to.as_ref(), out)
        }
        Command::Checkpoint { dir } => {
            maintenance::checkpoint(required_dir(db, "checkpoint")?, open, dir, out)
        }
        Command::Repair => repair::repair(required_dir(db, "repair")?, open, out),
        Command::Wal { since } => wal::wal(required_dir(db, "wal")?, format, *since, out),
        Command::Approxsize { from, to } => {
            maintenance::approxsize(required_dir(db, "approxsize")?, open, format, from, to, out)
        }
    }
}
