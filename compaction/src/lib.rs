//! `lsmkit-compaction`: deciding what to compact, and compacting it
//! (docs/format.md §11 for LevelDB's rules and thresholds, §10 for the
//! resulting MANIFEST edit).
//!
//! - [`Picker`]: chooses a [`Compaction`] from a Version.
//!   [`LeveledPicker`] makes LevelDB 1.23's choices (size scores with
//!   round-robin compaction pointers, seek compactions, manual range
//!   compactions in pieces, input expansion, grandparent tracking, trivial
//!   moves); [`TieredPicker`] is a size-tiered picker for write-heavy use.
//!   [`CompactionStyle`] selects one; [`PickerOptions`] tunes it, including
//!   two departures from LevelDB's choices that write less
//!   ([`CompactionPriority::MinOverlappingRatio`] and aligned output cuts).
//! - [`Compaction`]: the inputs, the output level and the per-compaction
//!   rules (trivial move, base level for a key, grandparent cut, and with
//!   [`Compaction::with_aligned_cuts`] cuts at grandparent boundaries).
//! - [`CompactionJob`]: merges the inputs into new tables, dropping what no
//!   reader can see, and returns the [`VersionEdit`](lsmkit_version::VersionEdit)
//!   to install.
//! - [`CompactionFilter`]: a hook that may keep, remove or rewrite values.
//! - [`FlushCombiner`]: writes a memtable for a flush, combining merge
//!   operands with the same code the compaction job uses
//!   ([`merge_chain`]).
//!
//! ```
//! use std::path::Path;
//! use std::sync::Arc;
//! use lsmkit_base::comparator::BytewiseComparator;
//! use lsmkit_base::filename::table_file_name;
//! use lsmkit_base::fs::{FileSystem, MemFs, WriteMode};
//! use lsmkit_base::key::{make_internal_key, InternalKeyComparator, ValueKind};
//! use lsmkit_compaction::{CompactionJob, LeveledPicker, Picker};
//! use lsmkit_sstable::{TableBuilder, TableCache, TableOptions};
//! use lsmkit_version::version_builder::VersionBuilder;
//! use lsmkit_version::{CompactPointers, FileMetaData, Version, VersionEdit};
//!
//! let fs = Arc::new(MemFs::new());
//! let dir = Path::new("/db");
//! fs.create_dir_all(dir)?;
//! let options = TableOptions::for_internal_keys(BytewiseComparator::shared(), None);
//!
//! // Four level-0 tables, each overwriting key "k" (sequences 1..=4).
//! let mut edit = VersionEdit::new();
//! for seq in 1..=4u64 {
//!     let file = fs.create_writable(&table_file_name(dir, seq), WriteMode::Buffered)?;
//!     let mut builder = TableBuilder::new(options.clone(), file);
//!     builder.add(&make_internal_key(b"k", seq, ValueKind::Value), format!("v{seq}").as_bytes())?;
//!     let t = builder.finish(true)?;
//!     edit.add_file(0, FileMetaData::new(seq, t.file_size, t.smallest_key, t.largest_key));
//! }
//! let icmp = InternalKeyComparator::new(BytewiseComparator::shared());
//! let mut builder = VersionBuilder::new(icmp.clone(), Arc::new(Version::empty(icmp)));
//! builder.apply(&edit);
//! let version = Arc::new(builder.build().expect("valid"));
//!
//! // Four level-0 files trigger a compaction into level 1.
//! let picker = LeveledPicker::new(2 << 20);
//! let mut compaction = picker.pick(&version, &CompactPointers::default()).expect("due");
//! assert_eq!((compaction.level(), compaction.output_level()), (0, 1));
//!
//! let fs_dyn: Arc<dyn FileSystem> = fs.clone();
//! let cache = Arc::new(TableCache::new(fs_dyn, dir, options, 100));
//! let mut next_number = 5;
//! let outcome = CompactionJob::new(fs.as_ref(), dir, &cache).run(&mut compaction, &mut || {
//!     next_number += 1;
//!     next_number - 1
//! })?;
//! // Only the newest "k" survives (no snapshot needs the others).
//! assert_eq!((outcome.stats.input_entries, outcome.stats.output_entries), (4, 1));
//! assert_eq!(outcome.edit.deleted_files.len(), 4);
//! assert_eq!(outcome.edit.new_files[0].0, 1);
//! # Ok::<(), lsmkit_base::Error>(())
//! ```

#![forbid(unsafe_code)]

pub mod compaction;
pub mod compaction_filter;
pub mod compaction_job;
pub mod key_ranges;
pub mod level_iterator;
pub mod leveled_picker;
pub mod merge_chain;
pub mod picker;
mod retention;
pub mod tiered_picker;

#[cfg(test)]
mod test_versions;

pub use compaction::{Compaction, CompactionInputs, CompactionReason};
pub use compaction_filter::{CompactionFilter, FilterDecision};
pub use compaction_job::{CompactionJob, CompactionOutcome, CompactionOutput, CompactionStats};
pub use level_iterator::LevelIterator;
pub use leveled_picker::LeveledPicker;
pub use merge_chain::FlushCombiner;
pub use picker::{
    new_picker, new_picker_with, BusyFiles, CompactionPriority, CompactionStyle, ManualCompaction, Picker,
    PickerOptions,
};
pub use tiered_picker::{sorted_runs, SortedRun, TieredOptions, TieredPicker};
