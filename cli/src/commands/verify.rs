//! `verify`: checks every checksum of every live file of a database without
//! opening it (so without changing anything, and while another process
//! may have it open): the MANIFEST `CURRENT` names, every table it lists
//! ([`check_table`]) and every live WAL ([`check_log`]). Each file gets an
//! `ok:` or `problem:` line; any problem makes the command exit 1.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use lsmkit_base::filename::{legacy_table_file_name, parse_file_name, table_file_name, FileType};
use lsmkit_base::fs::{FileSystem, StdFs};
use lsmkit_version::NUM_LEVELS;

use crate::check_log::check_log;
use crate::check_table::check_table;
use crate::commands::manifest::recover_versions;
use crate::database;
use crate::error::{CliError, CliResult};
use crate::manifest_replay::replay;

/// Counts what was checked and what was wrong.
#[derive(Default)]
struct Tally {
    tables: u64,
    entries: u64,
    logs: u64,
    records: u64,
    problems: u64,
}

impl Tally {
    fn report(&mut self, out: &mut dyn Write, file: &Path, problems: &[String]) -> std::io::Result<()> {
        for problem in problems {
            self.problems += 1;
            writeln!(out, "problem: {}: {problem}", file.display())?;
        }
        Ok(())
    }

    fn finish(&self, out: &mut dyn Write, dir: &Path) -> CliResult {
        writeln!(
            out,
            "verified {} tables ({} entries) and {} logs ({} records): {} problems",
            self.tables, self.entries, self.logs, self.records, self.problems
        )?;
        if self.problems > 0 {
            return Err(CliError::Failed(format!(
                "verify found {} problem(s) in {}",
                self.problems,
                dir.display()
            )));
        }
        Ok(())
    }
}

/// `verify`.
pub fn verify(dir: &Path, out: &mut dyn Write) -> CliResult {
    database::check_exists(dir)?;
    let fs: Arc<dyn FileSystem> = Arc::new(StdFs::new());
    let mut tally = Tally::default();

    let replayed = replay(fs.as_ref(), dir)?;
    tally.report(out, &replayed.path, &replayed.problems)?;
    let versions = match recover_versions(Arc::clone(&fs), dir) {
        Ok(versions) => versions,
        Err(e) => {
            tally.report(out, &replayed.path, &[e.to_string()])?;
            return tally.finish(out, dir);
        }
    };
    if replayed.problems.is_empty() {
        writeln!(out, "ok: {} ({} edits)", replayed.path.display(), replayed.edits.len())?;
    }

    let version = versions.current();
    for level in 0..NUM_LEVELS {
        for meta in version.files(level) {
            tally.tables += 1;
            let mut path = table_file_name(dir, meta.number);
            if !fs.exists(&path) && fs.exists(&legacy_table_file_name(dir, meta.number)) {
                path = legacy_table_file_name(dir, meta.number);
            }
            let check = check_table(fs.as_ref(), &path, meta);
            tally.entries += check.entries;
            if check.problems.is_empty() {
                writeln!(
                    out,
                    "ok: {} (level {level}, {} entries, {} data blocks, {} other blocks)",
                    path.display(),
                    check.entries,
                    check.data_blocks,
                    check.other_blocks
                )?;
            }
            tally.report(out, &path, &check.problems)?;
        }
    }

    // The logs recovery would replay (docs/format.md §10.4), oldest first.
    let (log_number, prev_log_number) = (versions.log_number(), versions.prev_log_number());
    let mut logs: Vec<u64> = fs
        .list_dir(dir)?
        .iter()
        .filter_map(|name| match parse_file_name(name) {
            Some((number, FileType::Log))
                if number >= log_number || (prev_log_number != 0 && number == prev_log_number) =>
            {
                Some(number)
            }
            _ => None,
        })
        .collect();
    logs.sort_unstable();
    let mut last_sequence = None;
    for number in logs {
        tally.logs += 1;
        let path = lsmkit_base::filename::log_file_name(dir, number);
        let check = check_log(fs.as_ref(), &path, &mut last_sequence);
        tally.records += check.records;
        if check.problems.is_empty() {
            writeln!(
                out,
                "ok: {} ({} records, {} operations)",
                path.display(),
                check.records,
                check.operations
            )?;
        }
        tally.report(out, &path, &check.problems)?;
    }
    tally.finish(out, dir)
}
