//! The database options of one crash-test cycle, drawn from the run's seed
//! and the cycle number: write buffer size, buffered or mmap WAL (and its
//! chunk size), WAL sync policy, leveled or size-tiered compaction, bloom
//! filter on or off. The writer process and the harness derive the same
//! options from the same numbers. Every cycle opens the database with the
//! u64-add merge operator the history's counters need and with
//! `Options::range_deletions` for its range deletions (the database is
//! marked by both from its creation in cycle 0 and cannot be opened
//! without either).

use std::fmt;

use std::sync::Arc;

use lsmkit::{CompactionStyle, Options, SyncPolicy, TieredOptions, U64AddOperator, WalIoMode};

use super::rng::{mix, SplitMix64};

const OPTIONS_SALT: u64 = 0x6f70_7469_6f6e_7300;

/// Write buffer sizes drawn from; 64 KiB (the engine's minimum) makes a
/// flush every few hundred operations.
const WRITE_BUFFER_SIZES: [usize; 4] = [64 << 10, 256 << 10, 1 << 20, 4 << 20];
/// Mmap WAL chunk sizes drawn from, one of them not a multiple of the page size.
const MMAP_CHUNK_SIZES: [usize; 4] = [4096, 10_000, 64 << 10, 4 << 20];

/// The options that vary between cycles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CycleOptions {
    /// `Options::write_buffer_size`.
    pub write_buffer_size: usize,
    /// `Options::wal_io_mode`.
    pub wal_io_mode: WalIoMode,
    /// `Options::wal_sync_policy`.
    pub wal_sync_policy: SyncPolicy,
    /// Size-tiered compaction (with a low run trigger) instead of leveled.
    pub tiered: bool,
    /// LevelDB's bloom filter in new tables, or no filter.
    pub bloom: bool,
}

impl CycleOptions {
    /// The options of cycle `cycle` of the run with `seed`.
    pub fn for_cycle(seed: u64, cycle: u64) -> CycleOptions {
        let mut rng = SplitMix64::new(mix(seed ^ OPTIONS_SALT, cycle));
        let write_buffer_size = rng.pick(&WRITE_BUFFER_SIZES);
        let wal_io_mode = if rng.chance(500) {
            WalIoMode::Mmap { chunk_size: rng.pick(&MMAP_CHUNK_SIZES) }
        } else {
            WalIoMode::Buffered
        };
        let wal_sync_policy = match rng.below(3) {
            0 => SyncPolicy::Os,
            1 => SyncPolicy::EveryWrite,
            _ => SyncPolicy::EveryBytes(32 << 10),
        };
        let tiered = rng.chance(500);
        let bloom = rng.chance(500);
        CycleOptions { write_buffer_size, wal_io_mode, wal_sync_policy, tiered, bloom }
    }

    /// Engine options for these choices; everything else is the default.
    pub fn to_options(&self) -> Options {
        let defaults = Options::default();
        // The default filter policy is LevelDB's bloom filter: reuse it for "on".
        let filter_policy = if self.bloom { defaults.filter_policy.clone() } else { None };
        let compaction_style = if self.tiered {
            CompactionStyle::Tiered(TieredOptions { run_count_trigger: 4, ..TieredOptions::default() })
        } else {
            CompactionStyle::Leveled
        };
        Options {
            create_if_missing: true,
            write_buffer_size: self.write_buffer_size,
            wal_io_mode: self.wal_io_mode,
            wal_sync_policy: self.wal_sync_policy,
            compaction_style,
            filter_policy,
            merge_operator: Some(Arc::new(U64AddOperator)),
            range_deletions: true,
            ..defaults
        }
    }
}

impl fmt::Display for CycleOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "wb={}K wal=", self.write_buffer_size >> 10)?;
        match self.wal_io_mode {
            WalIoMode::Buffered => write!(f, "buffered")?,
            WalIoMode::Mmap { chunk_size } => write!(f, "mmap/{chunk_size}")?,
        }
        match self.wal_sync_policy {
            SyncPolicy::Os => write!(f, " sync=os")?,
            SyncPolicy::EveryWrite => write!(f, " sync=every-write")?,
            SyncPolicy::EveryBytes(n) => write!(f, " sync=every-{}K", n >> 10)?,
        }
        write!(
            f,
            " picker={} bloom={}",
            if self.tiered { "tiered" } else { "leveled" },
            if self.bloom { "on" } else { "off" }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_deterministic_and_cover_every_choice() {
        let all: Vec<CycleOptions> = (0..64).map(|c| CycleOptions::for_cycle(3, c)).collect();
        assert_eq!(all, (0..64).map(|c| CycleOptions::for_cycle(3, c)).collect::<Vec<_>>());
        assert!(all.iter().any(|o| o.tiered) && all.iter().any(|o| !o.tiered));
        assert!(all.iter().any(|o| o.bloom) && all.iter().any(|o| !o.bloom));
        assert!(all.iter().any(|o| matches!(o.wal_io_mode, WalIoMode::Mmap { .. })));
        assert!(all.iter().any(|o| o.wal_io_mode == WalIoMode::Buffered));
        for policy in [SyncPolicy::Os, SyncPolicy::EveryWrite, SyncPolicy::EveryBytes(32 << 10)] {
            assert!(all.iter().any(|o| o.wal_sync_policy == policy), "{policy:?} never drawn");
        }
        for size in WRITE_BUFFER_SIZES {
            assert!(all.iter().any(|o| o.write_buffer_size == size), "{size} never drawn");
        }
    }

    #[test]
    fn engine_options_follow_the_choices() {
        let choice = CycleOptions {
            write_buffer_size: 64 << 10,
            wal_io_mode: WalIoMode::Mmap { chunk_size: 4096 },
            wal_sync_policy: SyncPolicy::EveryWrite,
            tiered: true,
            bloom: false,
        };
        let options = choice.to_options();
        assert!(options.create_if_missing);
        assert_eq!(options.write_buffer_size, 64 << 10);
        assert_eq!(options.wal_io_mode, WalIoMode::Mmap { chunk_size: 4096 });
        assert_eq!(options.wal_sync_policy, SyncPolicy::EveryWrite);
        assert!(matches!(options.compaction_style, CompactionStyle::Tiered(_)));
        assert!(options.filter_policy.is_none());
        assert_eq!(
            options.merge_operator.as_ref().map(|m| m.name().to_string()).as_deref(),
            Some("lsmkit.U64Add")
        );
        assert!(options.range_deletions);
        assert!(CycleOptions { bloom: true, ..choice.clone() }.to_options().filter_policy.is_some());
        assert_eq!(choice.to_string(), "wb=64K wal=mmap/4096 sync=every-write picker=tiered bloom=off");
    }
}
