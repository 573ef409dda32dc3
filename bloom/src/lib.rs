//! Filter policies for lsmkit tables: the summaries a table stores per data
//! block (docs/format.md §7) so that a lookup of an absent key can usually skip
//! reading the block.
//!
//! * [`FilterPolicy`] is the interface a table builder and reader use; tables
//!   hold an `Arc<dyn FilterPolicy>`.
//! * [`LevelDbBloom`] is LevelDB's `leveldb.BuiltinBloomFilter2` (docs/format.md §8),
//!   byte for byte, so tables stay readable by LevelDB and LevelDB's filters
//!   are readable here. [`leveldb_hash`] is its hash function.
//! * [`BlockedBloom`] (`lsmkit.BlockedBloom1`) is lsmkit's faster,
//!   cache-line-blocked bloom filter on xxh3, an lsmkit format extension
//!   described in `docs/format-extensions.md`.
//! * [`theory`] computes the false-positive rate each design should have.
//!
//! ```
//! use std::sync::Arc;
//! use lsmkit_bloom::{BlockedBloom, FilterPolicy, LevelDbBloom};
//!
//! let keys: Vec<Vec<u8>> = (0..1000u32).map(|i| format!("user{i:05}").into_bytes()).collect();
//! let key_refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
//!
//! let policies: [Arc<dyn FilterPolicy>; 2] = [Arc::new(LevelDbBloom::new(10)), Arc::new(BlockedBloom::new(10))];
//! for policy in policies {
//!     let mut filter = Vec::new();
//!     policy.create_filter(&key_refs, &mut filter);
//!     // Every key that went in is found; most keys that did not are rejected.
//!     assert!(key_refs.iter().all(|key| policy.key_may_match(key, &filter)));
//!     let false_positives =
//!         (0..1000u32).filter(|i| policy.key_may_match(format!("absent{i:05}").as_bytes(), &filter)).count();
//!     assert!(false_positives < 50, "{}: {false_positives}", policy.name());
//! }
//! ```

#![forbid(unsafe_code)]

mod blocked_bloom;
mod leveldb_bloom;
mod leveldb_hash;
mod policy;
pub mod theory;

pub use blocked_bloom::BlockedBloom;
pub use leveldb_bloom::LevelDbBloom;
pub use leveldb_hash::{leveldb_hash, BLOOM_HASH_SEED};
pub use policy::FilterPolicy;
