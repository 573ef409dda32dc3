//! The writer side of the crash test: applies a cycle's [`Plan`] to an open
//! database, appending to the side file after every acknowledged step. The
//! `crash_writer` binary runs it until the harness kills it; the harness
//! runs a bounded number of steps in-process for its clean-shutdown check.

use lsmkit::{Db, FlushOptions, WriteBatch, WriteOptions};

use super::history::{key_bytes, merge_operand, op, put_value, range_bytes, OpKind};
use super::plan::{Plan, Step};
use super::side_file::{Record, SideFile};

/// The batch of the history's operations `ops`, as cycle `cycle` writes them.
pub fn batch_for(seed: u64, cycle: u64, ops: std::ops::Range<u64>) -> WriteBatch {
    let mut batch = WriteBatch::new();
    for index in ops {
        let op = op(seed, index);
        match op.kind {
            OpKind::Put => batch.put(&key_bytes(op.key), &put_value(seed, index, op.key, cycle)),
            OpKind::Delete => batch.delete(&key_bytes(op.key)),
            OpKind::Merge => batch.merge(&key_bytes(op.key), &merge_operand(seed, index).to_le_bytes()),
            OpKind::DeleteRange { end, between_keys } => {
                let (begin, end) = range_bytes(op.key, end, between_keys);
                batch.delete_range(&begin, &end)
            }
        }
    }
    batch
}

/// Writes the history's operations `ops` with `options`: a batch of one
/// range deletion through `Db::delete_range_opt`, anything else as the
/// batch [`batch_for`] builds.
fn write_ops(
    db: &Db,
    options: WriteOptions,
    seed: u64,
    cycle: u64,
    ops: std::ops::Range<u64>,
) -> lsmkit::Result<()> {
    if ops.end - ops.start == 1 {
        let op = op(seed, ops.start);
        if let OpKind::DeleteRange { end, between_keys } = op.kind {
            let (begin, end) = range_bytes(op.key, end, between_keys);
            return db.delete_range_opt(options, &begin, &end);
        }
    }
    db.write(options, batch_for(seed, cycle, ops))
}

/// Applies one step to `db` and records it in `side` once the database has
/// acknowledged it; the record is synced when the step made writes durable.
pub fn apply_step(db: &Db, seed: u64, cycle: u64, step: &Step, side: &mut SideFile) -> Result<(), String> {
    let engine = |what: &str, e: lsmkit::Error| format!("{what} failed: {e}");
    match step {
        Step::Write { ops, sync } => {
            let options = WriteOptions { sync: *sync, disable_wal: false };
            write_ops(db, options, seed, cycle, ops.clone()).map_err(|e| engine("write", e))?;
            side.append(&Record::Write { start: ops.start, end: ops.end, synced: *sync }, *sync)
        }
        Step::Unlogged { ops } => {
            let options = WriteOptions { sync: false, disable_wal: true };
            write_ops(db, options, seed, cycle, ops.clone()).map_err(|e| engine("unlogged write", e))?;
            side.append(&Record::Unlogged { start: ops.start, end: ops.end }, false)?;
            db.flush(FlushOptions { wait: true }).map_err(|e| engine("flush", e))?;
            side.append(&Record::Flushed { through: ops.end }, true)
        }
        Step::Flush { through } => {
            db.flush(FlushOptions { wait: true }).map_err(|e| engine("flush", e))?;
            side.append(&Record::Flushed { through: *through }, true)
        }
        Step::Compact { begin, end } => {
            db.compact_range(Some(&key_bytes(*begin)), Some(&key_bytes(*end)))
                .map_err(|e| engine("compact_range", e))?;
            side.append(&Record::Compacted, false)
        }
    }
}

/// Applies the next `steps` steps of `plan` (all of them, forever, with `None`).
pub fn apply_steps(
    db: &Db,
    seed: u64,
    cycle: u64,
    plan: &mut Plan,
    side: &mut SideFile,
    steps: Option<usize>,
) -> Result<(), String> {
    for step in plan.by_ref().take(steps.unwrap_or(usize::MAX)) {
        apply_step(db, seed, cycle, &step, side)?;
    }
    Ok(())
}
