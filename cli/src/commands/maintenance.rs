//! `stats`, `compact`, `approxsize` and `checkpoint`: the engine's
//! statistics, manual compaction, size estimates and consistent copies,
//! through [`lsmkit::Db`].

use std::ffi::OsString;
use std::io::Write;
use std::path::Path;

use crate::byte_format::ByteFormat;
use crate::database::{self, OpenOptions};
use crate::error::{CliError, CliResult};

/// `stats`: the `lsmkit.stats` property.
pub fn stats(dir: &Path, open: &OpenOptions, out: &mut dyn Write) -> CliResult {
    let db = database::open(dir, open)?;
    let stats = db
        .property("lsmkit.stats")
        .ok_or_else(|| CliError::Failed("the engine has no lsmkit.stats property".into()))?;
    out.write_all(stats.as_bytes())?;
    if !stats.ends_with('\n') {
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// `compact [--from K] [--to K]`: compacts the keys in `[from, to]`.
pub fn compact(
    dir: &Path,
    open: &OpenOptions,
    format: ByteFormat,
    from: Option<&OsString>,
    to: Option<&OsString>,
    out: &mut dyn Write,
) -> CliResult {
    let from = from.map(|k| format.parse_key(k)).transpose()?;
    let to = to.map(|k| format.parse_key(k)).transpose()?;
    let db = database::open(dir, open)?;
    db.compact_range(from.as_deref(), to.as_deref())?;
    writeln!(out, "OK")?;
    Ok(())
}

/// `approxsize --from K --to K`: approximate bytes on disk for `[from, to)`.
pub fn approxsize(
    dir: &Path,
    open: &OpenOptions,
    format: ByteFormat,
    from: &OsString,
    to: &OsString,
    out: &mut dyn Write,
) -> CliResult {
    let (from, to) = (format.parse_key(from)?, format.parse_key(to)?);
    let db = database::open(dir, open)?;
    let sizes = db.approximate_sizes(&[(&from, &to)]);
    let size = sizes.first().copied().unwrap_or(0);
    writeln!(out, "{size}")?;
    Ok(())
}

/// `checkpoint DIR`: an openable copy of the database in `target`.
pub fn checkpoint(dir: &Path, open: &OpenOptions, target: &Path, out: &mut dyn Write) -> CliResult {
    if target.exists() {
        return Err(CliError::Failed(format!(
            "{}: already exists (a checkpoint goes to a new directory)",
            target.display()
        )));
    }
    let db = database::open(dir, open)?;
    let sequence = db.checkpoint(target)?;
    writeln!(out, "checkpoint of {} at sequence {sequence} written to {}", dir.display(), target.display())?;
    Ok(())
}
