//! User-key ordering: the [`Comparator`] trait and LevelDB's bytewise
//! comparator (docs/format.md §9).
//!
//! A comparator's name is stored in the MANIFEST and must match on open, so a
//! database is always reopened with the ordering it was written with.

use std::cmp::Ordering;
use std::sync::Arc;

/// A total order over user keys, plus the two key-shortening functions that
/// tables use to keep index blocks small.
///
/// Implementations must be consistent: `compare` is a total order, and the
/// shortening functions never break the rules documented on each method.
pub trait Comparator: Send + Sync {
    /// The name stored in the MANIFEST (e.g. `leveldb.BytewiseComparator`).
    fn name(&self) -> &str;

    /// Orders two keys.
    fn compare(&self, a: &[u8], b: &[u8]) -> Ordering;

    /// A key `s` with `start <= s < limit` (when `start < limit`), as short as
    /// cheaply possible. Returning `start` unchanged is always correct.
    fn shortest_separator(&self, start: &[u8], limit: &[u8]) -> Vec<u8>;

    /// A key `s >= key`, as short as cheaply possible. Returning `key`
    /// unchanged is always correct.
    fn short_successor(&self, key: &[u8]) -> Vec<u8>;

    /// True only for an ordering identical to plain byte comparison; callers
    /// may then compare slices directly and skip the dynamic call.
    fn is_bytewise(&self) -> bool {
        false
    }

    /// Which well-known order this is, so hot loops can compare inline
    /// instead of through a dynamic call (see [`InlineComparator`]). The
    /// default derives it from [`is_bytewise`](Self::is_bytewise).
    fn known_order(&self) -> KnownOrder {
        if self.is_bytewise() {
            KnownOrder::Bytewise
        } else {
            KnownOrder::Custom
        }
    }
}

/// The orders [`InlineComparator`] can evaluate without a dynamic call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KnownOrder {
    /// Plain lexicographic byte order.
    Bytewise,
    /// The internal-key order (user key ascending, trailer descending) over
    /// the bytewise user order: what
    /// [`InternalKeyComparator`](crate::key::InternalKeyComparator) gives
    /// for the bytewise comparator.
    InternalBytewise,
    /// Any other order: only [`Comparator::compare`] knows it.
    Custom,
}

/// A comparator plus its [`KnownOrder`], for loops that compare on every
/// step (block scans, merges): the two well-known orders are evaluated
/// inline, anything else goes through the comparator.
///
/// ```
/// use lsmkit_base::comparator::{BytewiseComparator, InlineComparator, KnownOrder};
/// use lsmkit_base::key::{make_internal_key, InternalKeyComparator, ValueKind};
/// use std::cmp::Ordering;
/// use std::sync::Arc;
///
/// let icmp = InlineComparator::new(Arc::new(InternalKeyComparator::new(BytewiseComparator::shared())));
/// assert_eq!(icmp.order(), KnownOrder::InternalBytewise);
/// let newer = make_internal_key(b"k", 2, ValueKind::Value);
/// let older = make_internal_key(b"k", 1, ValueKind::Value);
/// assert_eq!(icmp.compare(&newer, &older), Ordering::Less);
/// ```
#[derive(Clone)]
pub struct InlineComparator {
    comparator: Arc<dyn Comparator>,
    order: KnownOrder,
}

impl InlineComparator {
    /// Wraps `comparator`, asking it once for its known order.
    pub fn new(comparator: Arc<dyn Comparator>) -> InlineComparator {
        let order = comparator.known_order();
        InlineComparator { comparator, order }
    }

    /// Orders `a` and `b` exactly as the wrapped comparator does.
    #[inline]
    pub fn compare(&self, a: &[u8], b: &[u8]) -> Ordering {
        match self.order {
            KnownOrder::Bytewise => a.cmp(b),
            KnownOrder::InternalBytewise => crate::key::compare_internal_keys_bytewise(a, b),
            KnownOrder::Custom => self.comparator.compare(a, b),
        }
    }

    /// The order detected at construction.
    pub fn order(&self) -> KnownOrder {
        self.order
    }

    /// The wrapped comparator.
    pub fn comparator(&self) -> &Arc<dyn Comparator> {
        &self.comparator
    }
}

impl std::fmt::Debug for InlineComparator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "InlineComparator({}, {:?})", self.comparator.name(), self.order)
    }
}

/// Lexicographic order over unsigned bytes, named `leveldb.BytewiseComparator`.
///
/// ```
/// use lsmkit_base::comparator::{BytewiseComparator, Comparator};
/// let cmp = BytewiseComparator;
/// assert_eq!(cmp.shortest_separator(b"abc", b"abe"), b"abd");
/// assert_eq!(cmp.short_successor(b"ab\xff"), b"b");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct BytewiseComparator;

/// The name LevelDB stores for [`BytewiseComparator`].
pub const BYTEWISE_COMPARATOR_NAME: &str = "leveldb.BytewiseComparator";

impl BytewiseComparator {
    /// A shared handle, the form most APIs take.
    pub fn shared() -> Arc<dyn Comparator> {
        Arc::new(BytewiseComparator)
    }
}

impl Comparator for BytewiseComparator {
    fn name(&self) -> &str {
        BYTEWISE_COMPARATOR_NAME
    }

    fn compare(&self, a: &[u8], b: &[u8]) -> Ordering {
        a.cmp(b)
    }

    fn shortest_separator(&self, start: &[u8], limit: &[u8]) -> Vec<u8> {
        let min_len = start.len().min(limit.len());
        let diff = start.iter().zip(limit).take_while(|(a, b)| a == b).count();
        if diff < min_len {
            let byte = start[diff];
            if byte < 0xff && byte + 1 < limit[diff] {
                let mut out = start[..=diff].to_vec();
                out[diff] += 1;
                return out;
            }
        }
        start.to_vec()
    }

    fn short_successor(&self, key: &[u8]) -> Vec<u8> {
        match key.iter().position(|&b| b != 0xff) {
            Some(i) => {
                let mut out = key[..=i].to_vec();
                out[i] += 1;
                out
            }
            None => key.to_vec(),
        }
    }

    fn is_bytewise(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn format_md_examples() {
        let c = BytewiseComparator;
        assert_eq!(c.shortest_separator(b"abc", b"abe"), b"abd");
        assert_eq!(c.shortest_separator(b"abc", b"abd"), b"abc");
        assert_eq!(c.shortest_separator(b"ab", b"abc"), b"ab");
        assert_eq!(c.shortest_separator(b"a1", b"c"), b"b");
        assert_eq!(c.short_successor(b"ab\xff"), b"b");
        assert_eq!(c.short_successor(b"\xff\xffa"), b"\xff\xffb");
        assert_eq!(c.short_successor(b"\xff\xff"), b"\xff\xff");
        assert_eq!(c.short_successor(b""), b"");
        assert_eq!(c.name(), "leveldb.BytewiseComparator");
    }

    #[test]
    fn prefix_sorts_first() {
        assert_eq!(BytewiseComparator.compare(b"ab", b"abc"), Ordering::Less);
        assert_eq!(BytewiseComparator.compare(b"\xff", b"a"), Ordering::Greater);
    }

    proptest! {
        #[test]
        fn separator_lies_between(a in proptest::collection::vec(any::<u8>(), 0..12),
                                  b in proptest::collection::vec(any::<u8>(), 0..12)) {
            let (start, limit) = if a <= b { (a, b) } else { (b, a) };
            let sep = BytewiseComparator.shortest_separator(&start, &limit);
            prop_assert!(start <= sep);
            if start < limit {
                prop_assert!(sep < limit);
            }
            prop_assert!(sep.len() <= start.len());
        }

        #[test]
        fn successor_is_not_smaller(key in proptest::collection::vec(any::<u8>(), 0..12)) {
            let succ = BytewiseComparator.short_successor(&key);
            prop_assert!(key <= succ);
            prop_assert!(succ.len() <= key.len());
        }
    }
}
