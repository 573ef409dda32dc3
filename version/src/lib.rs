//! `lsmkit-version`: which table files make up a database, and the MANIFEST
//! that records it durably, byte-compatible with LevelDB 1.23 (docs/format.md §10).
//!
//! - [`FileMetaData`]: one table's number, size and key range;
//! - [`VersionEdit`]: one MANIFEST record, the change between two Versions;
//! - [`Version`]: the immutable, shared list of files per level, with the
//!   queries reads, flushes and compactions need (overlaps, the files a
//!   point lookup consults, memtable-output placement, compaction scores,
//!   seek accounting);
//! - [`VersionSet`]: the current Version, the file-number and sequence
//!   counters, recovery from `CURRENT` + MANIFEST, and
//!   [`log_and_apply`](VersionSet::log_and_apply);
//! - [`config`]: LevelDB's level constants and thresholds.
//!
//! This crate holds metadata only: it never opens a table.
//!
//! ```
//! use std::sync::Arc;
//! use lsmkit_base::comparator::BytewiseComparator;
//! use lsmkit_base::fs::{FileSystem, MemFs};
//! use lsmkit_base::key::{make_internal_key, InternalKeyComparator, ValueKind};
//! use lsmkit_version::{FileMetaData, VersionEdit, VersionSet, VersionSetOptions};
//!
//! let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
//! fs.create_dir_all("db".as_ref())?;
//! let icmp = InternalKeyComparator::new(BytewiseComparator::shared());
//! let mut versions = VersionSet::new("db", fs.clone(), icmp.clone(), VersionSetOptions::default());
//! versions.create_new_db()?; // MANIFEST-000001 and CURRENT
//! versions.recover()?;
//!
//! // A flush: table 4 holding "a".."k" goes to level 0, a new WAL is number 3.
//! let log_number = versions.new_file_number();
//! let table_number = versions.new_file_number();
//! let mut edit = VersionEdit::new();
//! edit.set_log_number(log_number);
//! edit.add_file(0, FileMetaData::new(
//!     table_number,
//!     4096,
//!     make_internal_key(b"a", 1, ValueKind::Value),
//!     make_internal_key(b"k", 9, ValueKind::Value),
//! ));
//! versions.set_last_sequence(9);
//! versions.log_and_apply(&mut edit)?; // writes MANIFEST-000002, switches CURRENT
//! assert_eq!(versions.current().num_level_files(0), 1);
//!
//! // Reopening finds the same state.
//! let mut reopened = VersionSet::new("db", fs, icmp, VersionSetOptions::default());
//! reopened.recover()?;
//! assert_eq!(*reopened.current(), *versions.current());
//! assert_eq!((reopened.last_sequence(), reopened.log_number()), (9, 3));
//! # Ok::<(), lsmkit_base::Error>(())
//! ```

#![forbid(unsafe_code)]

pub mod compact_pointers;
pub mod config;
pub mod current_file;
pub mod file_meta_data;
pub mod live_files;
mod manifest_completeness;
pub mod version;
pub mod version_builder;
pub mod version_edit;
pub mod version_set;

pub use compact_pointers::CompactPointers;
pub use config::{VersionSetOptions, NUM_LEVELS};
pub use file_meta_data::FileMetaData;
pub use live_files::ObsoleteFile;
pub use version::{FilesForGet, GetStats, Version};
pub use version_edit::VersionEdit;
pub use version_set::{PreparedEdit, VersionSet};
