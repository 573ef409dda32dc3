//! `get`, `put`, `delete`, `merge`, `deleterange` and `batchput`: reading and writing single keys
//! through [`lsmkit::Db`], as `ldb` does.

use std::ffi::OsString;
use std::io::Write;
use std::path::Path;

use lsmkit::{WriteBatch, WriteOptions};

use crate::byte_format::ByteFormat;
use crate::database::{self, OpenOptions};
use crate::error::{CliError, CliResult};

/// Writes are synced: each run is one short-lived process, and `OK` means durable.
const SYNCED: WriteOptions = WriteOptions { sync: true, disable_wal: false };

/// `get KEY`: prints the value, or fails with `NotFound`.
pub fn get(
    dir: &Path,
    open: &OpenOptions,
    format: ByteFormat,
    key: &OsString,
    out: &mut dyn Write,
) -> CliResult {
    let key = format.parse_key(key)?;
    let db = database::open(dir, open)?;
    match db.get_opt(&database::read_options(), &key)? {
        Some(value) => {
            format.write_value(out, &value)?;
            out.write_all(b"\n")?;
            Ok(())
        }
        None => Err(CliError::NotFound(format.show_key(&key))),
    }
}

/// `put KEY VALUE`.
pub fn put(
    dir: &Path,
    open: &OpenOptions,
    format: ByteFormat,
    key: &OsString,
    value: &OsString,
    out: &mut dyn Write,
) -> CliResult {
    let (key, value) = (format.parse_key(key)?, format.parse_value(value)?);
    let db = database::open(dir, open)?;
    db.put_opt(SYNCED, &key, &value)?;
    writeln!(out, "OK")?;
    Ok(())
}

/// `delete KEY`.
pub fn delete(
    dir: &Path,
    open: &OpenOptions,
    format: ByteFormat,
    key: &OsString,
    out: &mut dyn Write,
) -> CliResult {
    let key = format.parse_key(key)?;
    let db = database::open(dir, open)?;
    db.delete_opt(SYNCED, &key)?;
    writeln!(out, "OK")?;
    Ok(())
}

/// `merge KEY OPERAND`: needs `--merge_operator` (the database refuses
/// merges without one).
pub fn merge(
    dir: &Path,
    open: &OpenOptions,
    format: ByteFormat,
    key: &OsString,
    operand: &OsString,
    out: &mut dyn Write,
) -> CliResult {
    if open.merge_operator.is_none() {
        return Err(CliError::Usage("`merge` needs --merge_operator=NAME".into()));
    }
    let (key, operand) = (format.parse_key(key)?, format.parse_value(operand)?);
    let db = database::open(dir, open)?;
    db.merge_opt(SYNCED, &key, &operand)?;
    writeln!(out, "OK")?;
    Ok(())
}

/// `deleterange BEGIN END`: needs `--range_deletions` (the database
/// refuses range deletions without it).
pub fn delete_range(
    dir: &Path,
    open: &OpenOptions,
    format: ByteFormat,
    begin: &OsString,
    end: &OsString,
    out: &mut dyn Write,
) -> CliResult {
    if !open.range_deletions {
        return Err(CliError::Usage("`deleterange` needs --range_deletions".into()));
    }
    let (begin, end) = (format.parse_key(begin)?, format.parse_key(end)?);
    let db = database::open(dir, open)?;
    db.delete_range_opt(SYNCED, &begin, &end)?;
    writeln!(out, "OK")?;
    Ok(())
}

/// `batchput K1 V1 [K2 V2 …]`: one atomic batch.
pub fn batchput(
    dir: &Path,
    open: &OpenOptions,
    format: ByteFormat,
    pairs: &[OsString],
    out: &mut dyn Write,
) -> CliResult {
    if pairs.len() % 2 != 0 {
        return Err(CliError::Usage(format!(
            "batchput takes keys and values in pairs; got {} arguments",
            pairs.len()
        )));
    }
    let mut batch = WriteBatch::new();
    for pair in pairs.chunks_exact(2) {
        batch.put(&format.parse_key(&pair[0])?, &format.parse_value(&pair[1])?);
    }
    let db = database::open(dir, open)?;
    db.write(SYNCED, batch)?;
    writeln!(out, "OK")?;
    Ok(())
}
