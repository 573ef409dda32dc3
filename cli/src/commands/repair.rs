//! `repair`: rebuilds a damaged database's MANIFEST from the tables and
//! logs in its directory with [`lsmkit::Db::repair`] (LevelDB's `RepairDB`),
//! and prints what was kept, salvaged and set aside. Data lost to damage is
//! reported, not an error: the command fails only if the repair could not
//! run (no database files, the database is open elsewhere, an I/O error).

use std::io::Write;
use std::path::Path;

use lsmkit::{Db, Options, RepairReport, LOST_DIR_NAME};

use crate::error::{CliError, CliResult};

/// `repair`.
pub fn repair(dir: &Path, open: &crate::database::OpenOptions, out: &mut dyn Write) -> CliResult {
    if !dir.is_dir() {
        return Err(CliError::Failed(format!("{}: no such directory", dir.display())));
    }
    let report = Db::repair(
        dir,
        &Options {
            merge_operator: open.merge_operator.clone(),
            range_deletions: open.range_deletions,
            ..Options::default()
        },
    )?;
    write_report(dir, &report, out)?;
    Ok(())
}

fn numbers(list: &[u64]) -> String {
    if list.is_empty() {
        return "none".into();
    }
    list.iter().map(|n| format!("#{n}")).collect::<Vec<_>>().join(" ")
}

fn write_report(dir: &Path, report: &RepairReport, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "repaired {}: MANIFEST-{:06}, last sequence {}",
        dir.display(),
        report.manifest_number,
        report.last_sequence
    )?;
    writeln!(out, "tables (all at level 0): {}", numbers(&report.tables))?;
    writeln!(out, "logs converted to tables: {}", numbers(&report.converted_logs))?;
    writeln!(out, "damaged tables salvaged: {}", numbers(&report.salvaged_tables))?;
    writeln!(out, "unreadable tables lost: {}", numbers(&report.lost_tables))?;
    writeln!(out, "overlapping tables merged: {}", numbers(&report.merged_tables))?;
    writeln!(out, "tables renumbered: {}", numbers(&report.renumbered_tables))?;
    writeln!(
        out,
        "dropped: {} log records, {} log bytes, {} table entries, {} table bytes",
        report.log_records_dropped,
        report.log_bytes_dropped,
        report.table_entries_dropped,
        report.table_bytes_dropped
    )?;
    if report.set_aside.is_empty() {
        writeln!(out, "set aside in {LOST_DIR_NAME}/: nothing")
    } else {
        writeln!(out, "set aside in {LOST_DIR_NAME}/: {}", report.set_aside.join(" "))
    }
}
