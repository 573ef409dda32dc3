//! `lsmkit-base`: the foundation every lsmkit crate stands on.
//!
//! - [`coding`]: varints, fixed-width integers and length-prefixed slices (docs/format.md §1);
//! - [`crc`]: CRC-32C with LevelDB's mask (docs/format.md §2);
//! - [`comparator`]: user-key ordering and the bytewise comparator (docs/format.md §9);
//! - [`key`]: internal keys, lookup keys and the internal-key comparator (docs/format.md §5, §6.7);
//! - [`merge_operator`]: the merge-operator trait and its built-ins (docs/format-extensions.md);
//! - [`filename`]: the names of the files in a database directory (docs/format.md §10.4);
//! - [`fs`]: the file-system trait with real, in-memory and fault-injecting implementations;
//! - [`iterator`] and [`merging_iterator`]: the internal iterator contract and the n-way merge;
//! - [`os`]: the open-file limit and background-thread priority;
//! - [`range_tombstone`]: range tombstones, fragmented, and the iterator that hides what they cover;
//! - [`Error`]: the one error type, with file and offset for corruption.
//!
//! ```
//! use lsmkit_base::coding::{get_varint32, put_varint32};
//! use lsmkit_base::key::{append_internal_key, parse_internal_key, ValueKind};
//!
//! let mut buf = Vec::new();
//! put_varint32(&mut buf, 300);
//! assert_eq!(buf, [0xac, 0x02]);
//! let mut input = &buf[..];
//! assert_eq!(get_varint32(&mut input).unwrap(), 300);
//!
//! let mut ikey = Vec::new();
//! append_internal_key(&mut ikey, b"k", 1, ValueKind::Value);
//! assert_eq!(ikey, [0x6b, 0x01, 0x01, 0, 0, 0, 0, 0, 0]);
//! let parsed = parse_internal_key(&ikey).unwrap();
//! assert_eq!((parsed.user_key, parsed.sequence), (&b"k"[..], 1));
//! ```

pub mod coding;
pub mod comparator;
pub mod crc;
pub mod error;
pub mod filename;
pub mod fs;
pub mod iterator;
pub mod key;
pub mod merge_operator;
pub mod merging_iterator;
pub mod os;
pub mod range_tombstone;

pub use error::{Error, Result};
