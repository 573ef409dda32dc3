//! Finding and opening the database a command names with `--db`, with
//! clear messages for a missing option, a missing directory and a directory
//! that holds no database.

use std::path::Path;
use std::sync::Arc;

use lsmkit::{Db, MergeOperator, Options, ReadOptions};
use lsmkit_base::filename::current_file_name;

use crate::error::{CliError, CliResult};

/// The `--db` directory, which the command needs (a usage error without it).
pub fn required_dir<'a>(db: Option<&'a Path>, command: &str) -> CliResult<&'a Path> {
    db.ok_or_else(|| CliError::Usage(format!("`{command}` needs --db=DIR")))
}

/// Fails unless `dir` holds a database (a `CURRENT` file).
pub fn check_exists(dir: &Path) -> CliResult<()> {
    if !dir.exists() {
        return Err(CliError::Failed(format!(
            "{}: no such directory (use --create_if_missing to create a database)",
            dir.display()
        )));
    }
    if !dir.is_dir() {
        return Err(CliError::Failed(format!("{}: not a directory", dir.display())));
    }
    if !current_file_name(dir).exists() {
        return Err(CliError::Failed(format!(
            "{}: not a database (no CURRENT file; use --create_if_missing to create one)",
            dir.display()
        )));
    }
    Ok(())
}

/// How the commands open a database: `--create_if_missing`,
/// `--merge_operator` and `--range_deletions`.
#[derive(Clone, Default)]
pub struct OpenOptions {
    /// Create the database if it is missing.
    pub create_if_missing: bool,
    /// The merge operator to open it with.
    pub merge_operator: Option<Arc<dyn MergeOperator>>,
    /// Open it with range deletions.
    pub range_deletions: bool,
}

/// Opens the database in `dir` read-write (as LevelDB does, opening writes
/// a new MANIFEST and WAL), creating it if asked to.
pub fn open(dir: &Path, options: &OpenOptions) -> CliResult<Db> {
    if !options.create_if_missing {
        check_exists(dir)?;
    }
    let merge_operator = options.merge_operator.clone();
    Ok(Db::open(
        dir,
        Options {
            create_if_missing: options.create_if_missing,
            merge_operator,
            range_deletions: options.range_deletions,
            ..Options::default()
        },
    )?)
}

/// The read options every CLI read uses: checksums verified, so a damaged
/// block is reported instead of being decoded.
pub fn read_options() -> ReadOptions {
    ReadOptions { verify_checksums: true, ..ReadOptions::new() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_option_is_a_usage_error() {
        assert_eq!(required_dir(None, "get").unwrap_err().exit_code(), crate::error::EXIT_USAGE);
    }

    #[test]
    fn missing_and_empty_directories_are_explained() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let message = |result: CliResult<Db>| result.err().map(|e| e.to_string()).unwrap_or_default();
        let existing = OpenOptions::default();
        assert!(message(open(&missing, &existing)).contains("no such directory"));
        assert!(message(open(dir.path(), &existing)).contains("not a database"));
        assert!(!dir.path().join("CURRENT").exists(), "a failed open must not create anything");
        drop(open(&missing, &OpenOptions { create_if_missing: true, ..OpenOptions::default() }).unwrap());
        check_exists(&missing).unwrap();
    }
}
