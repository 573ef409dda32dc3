//! The keys the memtable's skiplist holds, and their order (docs/format.md §5).
//!
//! Each entry lives in one shared buffer, `internal_key ++ value`, where the
//! internal key is `user_key ++ fixed64(sequence << 8 | kind)`. The skiplist
//! orders entries by internal key: user key ascending under the database's
//! comparator, then trailer descending, so the newest version comes first.
//! Sequence numbers are unique per entry, so two entries never compare equal.
//!
//! A skiplist needs a compile-time `Ord` while the user comparator is a
//! run-time value, so there are two key types:
//! - [`BytewiseKey`], for the bytewise comparator: it carries no comparator,
//!   and keeps the user key's first bytes and the trailer in the node, so
//!   most comparisons never leave it;
//! - [`ComparatorKey`], for any other comparator: it carries an `Arc` of the
//!   internal-key comparator (one pointer per entry) and calls it.

use std::cmp::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use lsmkit_base::key::{extract_trailer, extract_user_key, InternalKeyComparator};

/// One entry's bytes: the internal key followed by the value, in one shared
/// buffer (see `entry_arena`), so handing out either part is a
/// reference-count increment.
pub(crate) struct EntryBuffer {
    bytes: Bytes,
    internal_key_len: usize,
}

impl EntryBuffer {
    /// Wraps `bytes`, whose first `internal_key_len` bytes are the internal key.
    pub(crate) fn new(bytes: Bytes, internal_key_len: usize) -> EntryBuffer {
        debug_assert!(internal_key_len <= bytes.len());
        EntryBuffer { bytes, internal_key_len }
    }

    /// A buffer holding only an internal key (a search target).
    pub(crate) fn key_only(internal_key: Bytes) -> EntryBuffer {
        let internal_key_len = internal_key.len();
        EntryBuffer { bytes: internal_key, internal_key_len }
    }

    /// The internal key.
    #[inline]
    pub(crate) fn internal_key(&self) -> &[u8] {
        &self.bytes[..self.internal_key_len]
    }

    /// The value.
    #[inline]
    pub(crate) fn value(&self) -> &[u8] {
        &self.bytes[self.internal_key_len..]
    }

    /// The internal key, sharing this buffer.
    pub(crate) fn internal_key_bytes(&self) -> Bytes {
        self.bytes.slice(..self.internal_key_len)
    }

    /// The value, sharing this buffer.
    pub(crate) fn value_bytes(&self) -> Bytes {
        self.bytes.slice(self.internal_key_len..)
    }
}

/// What the memtable needs from a skiplist key, whichever order it uses.
pub(crate) trait SkiplistKey: Ord + Send + Sync + 'static {
    /// The entry this key holds.
    fn entry(&self) -> &EntryBuffer;
}

/// Orders two internal keys bytewise: user keys as byte strings ascending,
/// then trailers descending. A key shorter than a trailer (only possible for
/// a malformed search target) counts as an empty user key with trailer 0.
#[inline]
pub(crate) fn compare_bytewise_internal_keys(a: &[u8], b: &[u8]) -> Ordering {
    match extract_user_key(a).cmp(extract_user_key(b)) {
        Ordering::Equal => extract_trailer(b).cmp(&extract_trailer(a)),
        other => other,
    }
}

/// How many leading user-key bytes a [`BytewiseKey`] keeps inside the
/// skiplist node.
pub(crate) const INLINE_PREFIX_LEN: usize = 16;

/// A skiplist key ordered by the bytewise comparator.
///
/// Besides the entry it keeps, inside the node, the first
/// [`INLINE_PREFIX_LEN`] bytes of the user key (zero-padded, as two
/// big-endian integers) and the trailer. Most comparisons during a search
/// are decided by those alone, without following the pointer to the key's
/// buffer: a cache miss saved per step for the price of 24 bytes per entry.
pub(crate) struct BytewiseKey {
    prefix_high: u64,
    prefix_low: u64,
    trailer: u64,
    entry: EntryBuffer,
}

impl BytewiseKey {
    /// Wraps an entry (or a search target built with [`EntryBuffer::key_only`]).
    pub(crate) fn new(entry: EntryBuffer) -> BytewiseKey {
        let internal_key = entry.internal_key();
        let user_key = extract_user_key(internal_key);
        let mut prefix = [0u8; INLINE_PREFIX_LEN];
        let inline_len = user_key.len().min(INLINE_PREFIX_LEN);
        prefix[..inline_len].copy_from_slice(&user_key[..inline_len]);
        let prefix = u128::from_be_bytes(prefix);
        BytewiseKey {
            prefix_high: (prefix >> 64) as u64,
            prefix_low: prefix as u64,
            trailer: extract_trailer(internal_key),
            entry,
        }
    }

    fn user_key_len(&self) -> usize {
        extract_user_key(self.entry.internal_key()).len()
    }
}

impl Ord for BytewiseKey {
    /// Same order as [`compare_bytewise_internal_keys`]. The zero-padded
    /// prefixes differ only where the user keys differ or where one user key
    /// ends and the other goes on (so the shorter is a prefix of the longer
    /// and sorts first): either way the prefix order is the user-key order.
    /// Equal prefixes of two user keys that both fit inline mean the keys
    /// differ at most in length.
    ///
    /// The prefix comparison is inlined into the skiplist's search loop;
    /// the rest, reached only when the prefixes are equal, is not.
    #[inline(always)]
    fn cmp(&self, other: &Self) -> Ordering {
        if self.prefix_high != other.prefix_high {
            return self.prefix_high.cmp(&other.prefix_high);
        }
        if self.prefix_low != other.prefix_low {
            return self.prefix_low.cmp(&other.prefix_low);
        }
        self.cmp_past_prefix(other)
    }
}

impl BytewiseKey {
    /// The order of two keys whose inline prefixes are equal.
    #[inline(never)]
    fn cmp_past_prefix(&self, other: &Self) -> Ordering {
        let (own_len, other_len) = (self.user_key_len(), other.user_key_len());
        if own_len <= INLINE_PREFIX_LEN && other_len <= INLINE_PREFIX_LEN {
            own_len.cmp(&other_len).then_with(|| other.trailer.cmp(&self.trailer))
        } else {
            compare_bytewise_internal_keys(self.entry.internal_key(), other.entry.internal_key())
        }
    }
}

impl PartialOrd for BytewiseKey {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for BytewiseKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for BytewiseKey {}

impl SkiplistKey for BytewiseKey {
    #[inline]
    fn entry(&self) -> &EntryBuffer {
        &self.entry
    }
}

/// A skiplist key ordered by a user-supplied comparator.
pub(crate) struct ComparatorKey {
    entry: EntryBuffer,
    comparator: Arc<InternalKeyComparator>,
}

impl ComparatorKey {
    /// Wraps an entry ordered by `comparator`.
    pub(crate) fn new(entry: EntryBuffer, comparator: Arc<InternalKeyComparator>) -> ComparatorKey {
        ComparatorKey { entry, comparator }
    }
}

impl Ord for ComparatorKey {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        self.comparator.compare_internal_keys(self.entry.internal_key(), other.entry.internal_key())
    }
}

impl PartialOrd for ComparatorKey {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for ComparatorKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for ComparatorKey {}

impl SkiplistKey for ComparatorKey {
    #[inline]
    fn entry(&self) -> &EntryBuffer {
        &self.entry
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsmkit_base::key::{make_internal_key, ValueKind};
    use proptest::prelude::*;

    fn key(internal_key: &[u8]) -> BytewiseKey {
        BytewiseKey::new(EntryBuffer::key_only(Bytes::copy_from_slice(internal_key)))
    }

    /// User keys around the inline length, from a tiny alphabet with zero
    /// bytes, so prefixes tie, keys prefix each other and padding matters.
    fn user_key() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(prop_oneof![Just(0u8), Just(1u8), Just(0xff)], 0..INLINE_PREFIX_LEN + 4)
    }

    fn internal_key() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            8 => (user_key(), 0..4u64, any::<bool>()).prop_map(|(u, s, d)| {
                make_internal_key(&u, s, if d { ValueKind::Deletion } else { ValueKind::Value })
            }),
            // Malformed search targets shorter than a trailer.
            1 => proptest::collection::vec(any::<u8>(), 0..8),
        ]
    }

    proptest! {
        #[test]
        fn inline_prefix_order_matches_slice_order(a in internal_key(), b in internal_key()) {
            prop_assert_eq!(key(&a).cmp(&key(&b)), compare_bytewise_internal_keys(&a, &b));
        }
    }

    #[test]
    fn inline_prefix_edge_cases() {
        let ik = |u: &[u8], s| make_internal_key(u, s, ValueKind::Value);
        let long = [7u8; INLINE_PREFIX_LEN + 3];
        let cases: [(Vec<u8>, Vec<u8>); 6] = [
            (ik(b"ab", 1), ik(b"ab\0", 1)),
            (ik(b"ab", 2), ik(b"ab", 1)),
            (ik(&long[..INLINE_PREFIX_LEN], 1), ik(&long, 1)),
            (ik(&long, 9), ik(&long, 8)),
            (ik(&long[..INLINE_PREFIX_LEN + 1], 1), ik(&long[..INLINE_PREFIX_LEN + 2], 5)),
            (ik(b"", 1), ik(b"\0", 1)),
        ];
        for (smaller, larger) in cases {
            assert_eq!(key(&smaller).cmp(&key(&larger)), Ordering::Less);
            assert_eq!(key(&larger).cmp(&key(&smaller)), Ordering::Greater);
            assert_eq!(key(&larger).cmp(&key(&larger)), Ordering::Equal);
        }
    }

    #[test]
    fn bytewise_order_is_user_key_then_newest_first() {
        let keys = [
            make_internal_key(b"a", 5, ValueKind::Value),
            make_internal_key(b"a", 3, ValueKind::Value),
            make_internal_key(b"a", 3, ValueKind::Deletion),
            make_internal_key(b"ab", 9, ValueKind::Value),
            make_internal_key(b"b", 1, ValueKind::Deletion),
        ];
        for w in keys.windows(2) {
            assert_eq!(compare_bytewise_internal_keys(&w[0], &w[1]), Ordering::Less);
            assert_eq!(key(&w[1]).cmp(&key(&w[0])), Ordering::Greater);
        }
    }

    #[test]
    fn short_target_sorts_as_empty_user_key() {
        let short = b"abc";
        let empty = make_internal_key(b"", 0, ValueKind::Deletion);
        let a = make_internal_key(b"a", 1, ValueKind::Value);
        assert_eq!(compare_bytewise_internal_keys(short, &empty), Ordering::Equal);
        assert_eq!(compare_bytewise_internal_keys(short, &a), Ordering::Less);
    }

    #[test]
    fn entry_buffer_splits_key_and_value() {
        let mut bytes = make_internal_key(b"key", 7, ValueKind::Value);
        bytes.extend_from_slice(b"value");
        let entry = EntryBuffer::new(Bytes::from(bytes), 11);
        assert_eq!(extract_user_key(entry.internal_key()), b"key");
        assert_eq!(entry.value(), b"value");
        assert_eq!(entry.value_bytes(), &b"value"[..]);
        assert_eq!(entry.internal_key_bytes().len(), 11);
    }
}
