//! The `FilterPolicy` trait: how a table builder turns a block's keys into a
//! filter and how a table reader asks that filter about one key (docs/format.md §7
//! stores the filters; §8 and docs/format-extensions.md define their bytes).

/// A way of summarising a set of keys in a few bytes so that most lookups of
/// absent keys can be answered without reading a data block.
///
/// A policy must never give a false negative: for every key passed to
/// [`create_filter`](FilterPolicy::create_filter), [`key_may_match`](FilterPolicy::key_may_match)
/// on the resulting filter returns `true`. False positives are allowed; their
/// rate is what a policy trades against its size.
///
/// The trait is object safe, so a table holds an `Arc<dyn FilterPolicy>`, and
/// `Send + Sync`, so that table may be shared between threads.
///
/// ```
/// use std::sync::Arc;
/// use lsmkit_bloom::{FilterPolicy, LevelDbBloom};
///
/// let policy: Arc<dyn FilterPolicy> = Arc::new(LevelDbBloom::new(10));
/// let mut filter = Vec::new();
/// policy.create_filter(&[b"apple", b"cherry"], &mut filter);
/// assert!(policy.key_may_match(b"apple", &filter));
/// assert!(policy.key_may_match(b"cherry", &filter));
/// ```
pub trait FilterPolicy: Send + Sync {
    /// The policy's name. A table records its filter block under the
    /// metaindex key `"filter." ++ name`, and a reader uses a filter only when
    /// that name is its own, so the name must change whenever the filter
    /// bytes would be read differently.
    fn name(&self) -> &str;

    /// Appends a filter summarising `keys` to `dst`, leaving the bytes already
    /// in `dst` untouched. `keys` may contain duplicates and may be empty.
    fn create_filter(&self, keys: &[&[u8]], dst: &mut Vec<u8>);

    /// Returns `false` only if `key` was certainly not among the keys that
    /// built `filter`. `filter` comes from disk and is untrusted: any bytes,
    /// including truncated or corrupted filters, give an answer and never a
    /// panic. The empty filter, which a filter block stores for a range of
    /// data with no keys (docs/format.md §7), matches nothing. Other bytes the
    /// policy cannot interpret should answer `true`, so that a damaged filter
    /// costs a read rather than hiding a key (a policy that reproduces an
    /// existing format follows that format's rules instead).
    fn key_may_match(&self, key: &[u8], filter: &[u8]) -> bool;
}
