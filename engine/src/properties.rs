//! Database properties, like LevelDB's `GetProperty`: file counts per
//! level, compaction and stall statistics, the table list, memory use, and
//! (as RocksDB names them) pending and running compactions.

use std::fmt::Write as _;

use lsmkit_version::NUM_LEVELS;

use crate::state::DbShared;

/// The value of property `name` (`lsmkit.` or `leveldb.` prefix), or `None`.
pub(crate) fn property(shared: &DbShared, name: &str) -> Option<String> {
    let name = name.strip_prefix("lsmkit.").or_else(|| name.strip_prefix("leveldb."))?;
    let state = shared.lock();
    if let Some(level) = name.strip_prefix("num-files-at-level") {
        let level: usize = level.parse().ok()?;
        return (level < NUM_LEVELS).then(|| state.versions.num_level_files(level).to_string());
    }
    match name {
        "stats" => {
            let stats = &state.stats;
            let mut out = String::new();
            let _ = writeln!(out, "                               Compactions");
            let _ = writeln!(out, "Level  Files Size(MB) Compactions Read(MB) Write(MB)");
            let _ = writeln!(out, "----------------------------------------------------");
            let mb = |b: u64| b as f64 / 1_048_576.0;
            let mut compaction_written = 0u64;
            for level in 0..NUM_LEVELS {
                let files = state.versions.num_level_files(level);
                let bytes = state.versions.num_level_bytes(level);
                compaction_written += stats.level_bytes_written[level];
                if files > 0 || stats.level_compactions[level] > 0 || stats.level_bytes_written[level] > 0 {
                    let _ = writeln!(
                        out,
                        "{level:>5} {files:>6} {:>8.1} {:>11} {:>8.1} {:>9.1}",
                        mb(bytes),
                        stats.level_compactions[level],
                        mb(stats.level_bytes_read[level]),
                        mb(stats.level_bytes_written[level])
                    );
                }
            }
            let user = stats.user_bytes_written.max(1);
            let written = compaction_written + stats.wal_bytes_written;
            let _ = writeln!(
                out,
                "User writes: {:.1} MB; WAL: {:.1} MB; flushes: {} ({:.1} MB); trivial moves: {}",
                mb(stats.user_bytes_written),
                mb(stats.wal_bytes_written),
                stats.flushes,
                mb(stats.flush_bytes_written),
                stats.trivial_moves
            );
            let _ = writeln!(
                out,
                "Write amplification: {:.2} (WAL + table bytes written / user bytes)",
                written as f64 / user as f64
            );
            let _ = writeln!(out, "Live snapshots: {}", shared.snapshots.count());
            let _ = writeln!(
                out,
                "Stalls: {} slowdowns, {} stops, {:.3} s",
                stats.slowdowns,
                stats.stops,
                stats.stall_micros as f64 / 1e6
            );
            Some(out)
        }
        "sstables" => Some(format!("{:?}", state.versions.current())),
        // RocksDB's names: whether the picker wants a compaction of the
        // current Version, and how many compactions are running now.
        "compaction-pending" => {
            Some(u8::from(shared.picker.needs_compaction(&state.versions.current())).to_string())
        }
        "num-running-compactions" => Some(state.running_compactions.len().to_string()),
        "approximate-memory-usage" => {
            let mut total = state.mem.approximate_memory_usage();
            for imm in &state.imms {
                total += imm.mem.approximate_memory_usage();
            }
            if let Some(cache) = &shared.table_options.block_cache {
                total += cache.used_bytes() as usize;
            }
            Some(total.to_string())
        }
        _ => None,
    }
}
