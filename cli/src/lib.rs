//! `lsmkit-cli`: the `lsmkit` command-line tool, for people who must
//! inspect, check or edit a LevelDB 1.23 database (or an lsmkit one) —
//! familiar to users of RocksDB's `ldb` and LevelDB's `leveldbutil`.
//!
//! - data: `get`, `put`, `delete`, `batchput`, `scan` through [`lsmkit::Db`];
//! - files: `dump FILE` for a WAL, a table or a MANIFEST;
//! - checks and inspection: `manifest`, `verify`, `wal --since=SEQ` read the
//!   files directly and never change the database (they work while another
//!   process has it open); `stats`, `compact`, `approxsize` go through the
//!   engine;
//! - backup and recovery: `checkpoint DIR` ([`lsmkit::Db::checkpoint`]) and
//!   `repair` ([`lsmkit::Db::repair`]).
//!
//! The binary is a thin wrapper around [`run`], which takes the arguments
//! and two output streams and returns the exit code (see [`error`] for the
//! codes), so everything it does can be tested in-process too.
//!
//! ```
//! let dir = tempfile::tempdir()?;
//! let db = format!("--db={}", dir.path().display());
//! let (mut out, mut err) = (Vec::new(), Vec::new());
//!
//! let code = lsmkit_cli::run(["lsmkit", &db, "--create_if_missing", "put", "k", "v"], &mut out, &mut err);
//! assert_eq!((code, &out[..]), (0, &b"OK\n"[..]));
//!
//! out.clear();
//! assert_eq!(lsmkit_cli::run(["lsmkit", &db, "--hex", "scan"], &mut out, &mut err), 0);
//! assert_eq!(out, b"0x6B : 0x76\n");
//!
//! assert_eq!(lsmkit_cli::run(["lsmkit", &db, "get", "missing"], &mut out, &mut err), 1);
//! assert_eq!(err, b"lsmkit: NotFound: 'missing'\n");
//! # Ok::<(), std::io::Error>(())
//! ```

#![forbid(unsafe_code)]

pub mod args;
pub mod byte_format;
pub mod check_log;
pub mod check_table;
pub mod commands;
pub mod database;
pub mod describe;
pub mod error;
pub mod log_records;
pub mod manifest_replay;

use std::ffi::OsString;
use std::io::Write;

use clap::Parser;

use crate::args::Cli;
use crate::error::{EXIT_OK, EXIT_USAGE};

/// Parses `args` (the first is the program name), runs the command, writes
/// its output to `out` and any error to `err` as `lsmkit: MESSAGE`, and
/// returns the exit code.
pub fn run<I, T>(args: I, out: &mut dyn Write, err: &mut dyn Write) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let text = e.render().to_string();
            if !e.use_stderr() {
                // --help and --version.
                let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
                return EXIT_OK;
            }
            let text = text.strip_prefix("error: ").unwrap_or(&text);
            let _ = write!(err, "lsmkit: {text}");
            return EXIT_USAGE;
        }
    };
    let result = commands::run(&cli, out).and_then(|()| Ok(out.flush()?));
    match result {
        Ok(()) => EXIT_OK,
        Err(e) if e.is_broken_pipe() => EXIT_OK,
        Err(e) => {
            // Output written before the error stays in order with it.
            let _ = out.flush();
            let _ = writeln!(err, "lsmkit: {e}");
            e.exit_code()
        }
    }
}
