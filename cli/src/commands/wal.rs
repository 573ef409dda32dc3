//! `wal --since=SEQ`: the updates logged in a database's write-ahead logs
//! from sequence number SEQ on, read with [`WalIterator`] straight from the
//! directory (docs/format.md §3, §4) — read-only, so it works on a database
//! another process has open. One line per operation:
//! `SEQUENCE put KEY => VALUE` or `SEQUENCE del KEY`.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use lsmkit_base::fs::{FileSystem, StdFs};
use lsmkit_base::key::{SequenceNumber, ValueKind};
use lsmkit_wal::{RecoveryMode, WalIterator, WalIteratorOptions};

use crate::byte_format::ByteFormat;
use crate::database;
use crate::describe::kind_name;
use crate::error::CliResult;

/// `wal --since=SEQ`.
pub fn wal(dir: &Path, format: ByteFormat, since: SequenceNumber, out: &mut dyn Write) -> CliResult {
    database::check_exists(dir)?;
    let fs: Arc<dyn FileSystem> = Arc::new(StdFs::new());
    let options =
        WalIteratorOptions { recovery_mode: RecoveryMode::TolerateCorruptedTailRecords, follow_tail: false };
    let mut updates = WalIterator::new(fs, dir, since, options)?;
    while let Some(op) = updates.next_op() {
        let op = op?;
        // The iterator starts at the batch holding `since`; its earlier
        // operations are not asked for.
        if op.sequence < since {
            continue;
        }
        write!(out, "{} {} {}", op.sequence, kind_name(op.kind), format.show_key(&op.key))?;
        match op.kind {
            ValueKind::Deletion => {}
            ValueKind::RangeDeletion => write!(out, " .. {}", format.show_key(&op.value))?,
            _ => write!(out, " => {}", format.show_value(&op.value))?,
        }
        writeln!(out)?;
    }
    Ok(())
}
