//! `lsmkit-wal`: lsmkit's write-ahead log, byte-compatible with LevelDB 1.23.
//!
//! - [`log_format`]: blocks, physical record headers and types (docs/format.md §3.1);
//! - [`LogWriter`]: appends records in LevelDB's log format (docs/format.md §3.2);
//! - [`LogReader`]: reads them back, handling damage by [`RecoveryMode`] and
//!   reporting every [`DroppedRegion`] (docs/format.md §3.3); it can follow a file
//!   that is still being written;
//! - [`WriteBatch`]: the atomic group of puts and deletes that one WAL record
//!   carries (docs/format.md §4);
//! - [`ttl_value`]: the frame a database with entry expiry puts around every
//!   value (an lsmkit extension, `docs/format-extensions.md`);
//! - [`WalWriter`]: a log file with a [`SyncPolicy`] and a [`WalIoMode`]
//!   (buffered or mmap);
//! - [`WalIterator`]: the updates logged in a directory from a sequence
//!   number on, across log files, forward and backward, following the tail.
//!
//! The same log format is used for LevelDB's MANIFEST files, so the reader
//! and writer serve those too.
//!
//! ```
//! use std::path::Path;
//! use lsmkit_base::fs::{FileSystem, MemFs};
//! use lsmkit_wal::{LogReader, RecoveryMode, WalOptions, WalWriter, WriteBatch};
//!
//! let fs = MemFs::new();
//! let path = Path::new("000003.log");
//! let mut wal = WalWriter::create(&fs, path, WalOptions::default())?;
//! let mut batch = WriteBatch::new();
//! batch.set_sequence(1);
//! batch.put(b"k", b"v");
//! wal.add_batch(&batch)?;
//! wal.close()?;
//! // docs/format.md §3.4: one FULL record of 7 + 17 bytes.
//! assert_eq!(fs.file_size(path)?, 24);
//!
//! let mut reader = LogReader::new(fs.open_sequential(path)?, path, RecoveryMode::AbsoluteConsistency);
//! let record = reader.read_record()?.expect("one record");
//! let batch = WriteBatch::from_data(record)?;
//! let op = batch.ops().next().expect("one operation")?;
//! assert_eq!((batch.sequence(), op.key, op.value), (1, &b"k"[..], &b"v"[..]));
//! assert!(reader.read_record()?.is_none());
//! # Ok::<(), lsmkit_base::Error>(())
//! ```

#![forbid(unsafe_code)]

pub mod log_format;
pub mod log_reader;
pub mod log_writer;
pub mod recovery_mode;
pub mod ttl_value;
pub mod wal_iterator;
pub mod wal_writer;
pub mod write_batch;

pub use log_reader::{DropReason, DropReporter, DroppedRegion, LogReader};
pub use log_writer::LogWriter;
pub use recovery_mode::RecoveryMode;
pub use ttl_value::TtlValue;
pub use wal_iterator::{WalBatch, WalIterator, WalIteratorOptions, WalOp};
pub use wal_writer::{SyncPolicy, SyncPreallocation, WalIoMode, WalOptions, WalWriter};
pub use write_batch::{BatchOp, BatchOps, WriteBatch, WriteBatchHandler, WRITE_BATCH_HEADER_SIZE};
