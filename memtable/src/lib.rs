//! `lsmkit-memtable`: the in-memory write buffer of an LSM tree, a
//! concurrent skiplist of internal keys (docs/format.md §5) and values.
//!
//! - [`Memtable`]: `add` from several threads at once, `get` at a snapshot,
//!   `iter` for an ordered walk that stays valid while adds continue, and
//!   `approximate_memory_usage` for deciding when to flush;
//! - [`MemtableGet`]: what a lookup found (a value, a deletion, or nothing);
//! - [`MemtableIterator`]: the entries as an
//!   [`InternalIterator`](lsmkit_base::iterator::InternalIterator), handing
//!   out keys and values as shared [`Bytes`](bytes::Bytes) without copying.
//!
//! Entries are ordered by the database's internal-key comparator; with the
//! bytewise user comparator keys compare as plain slices.
//!
//! ```
//! use lsmkit_base::comparator::BytewiseComparator;
//! use lsmkit_base::iterator::InternalIterator;
//! use lsmkit_base::key::{extract_user_key, InternalKeyComparator, ValueKind};
//! use lsmkit_memtable::{Memtable, MemtableGet};
//!
//! let memtable = Memtable::new(InternalKeyComparator::new(BytewiseComparator::shared()));
//! memtable.add(1, ValueKind::Value, b"apple", b"red");
//! memtable.add(2, ValueKind::Value, b"banana", b"yellow");
//! memtable.add(3, ValueKind::Deletion, b"apple", b"");
//!
//! assert_eq!(memtable.get(b"apple", 2), MemtableGet::Found("red".into()));
//! assert_eq!(memtable.get(b"apple", 3), MemtableGet::Deleted);
//!
//! let mut it = memtable.iter();
//! it.seek_to_first();
//! let mut user_keys = Vec::new();
//! while it.valid() {
//!     user_keys.push(extract_user_key(it.key()).to_vec());
//!     it.next();
//! }
//! assert_eq!(user_keys, [&b"apple"[..], b"apple", b"banana"]);
//! ```

mod append_only_list;
mod entry_arena;
mod iterator;
mod memory_usage;
mod memtable;
mod skiplist_key;

pub use iterator::MemtableIterator;
pub use memtable::{Memtable, MemtableGet, LEVELDB_NODE_BYTES};
