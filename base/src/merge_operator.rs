//! The merge operator (an lsmkit extension, docs/format-extensions.md,
//! "Merge operator"): a write may record an *operand* for a key instead of
//! a whole value ([`ValueKind::Merge`](crate::key::ValueKind::Merge)); a
//! read combines the operands with the key's older value through a
//! [`MergeOperator`]. Three operators are built in: [`U64AddOperator`]
//! (counters), [`StringAppendOperator`] and [`MaxOperator`].
//!
//! The result of a read is always what applying the operands, oldest
//! first, to the value below them gives ([`MergeOperator::full_merge`]).
//! Flushes and compactions may combine neighbouring operands first with
//! [`MergeOperator::partial_merge`], which must not change that result.

/// Combines merge operands with the value below them.
///
/// Implementations must be deterministic: the same arguments give the
/// same answer every time, on every thread.
pub trait MergeOperator: Send + Sync {
    /// A name for logs and error messages.
    fn name(&self) -> &str;

    /// The value of `key` after applying `operands` (oldest first, at
    /// least one) to `existing` (`None`: the key had no value, or was
    /// deleted). `None` means the operands cannot be applied (for example
    /// a malformed operand); a read then fails with `Error::Corruption`.
    fn full_merge(&self, key: &[u8], existing: Option<&[u8]>, operands: &[&[u8]]) -> Option<Vec<u8>>;

    /// One operand equivalent to `operands` (oldest first, at least two)
    /// applied in order, whatever the value below them: for every
    /// `existing`, `full_merge(key, existing, [result])` must equal
    /// `full_merge(key, existing, operands)`. `None` (the default) means
    /// they cannot be combined without the value below; compactions then
    /// keep them apart.
    fn partial_merge(&self, key: &[u8], operands: &[&[u8]]) -> Option<Vec<u8>> {
        let _ = (key, operands);
        None
    }
}

/// Little-endian u64 addition with wrap-around: an operand and the value
/// are 8 bytes each; a missing value counts as 0. Any other length is a
/// malformed operand (the merge fails).
///
/// ```
/// use lsmkit_base::merge_operator::{MergeOperator, U64AddOperator};
///
/// let add = U64AddOperator;
/// let merged = add.full_merge(b"k", Some(&5u64.to_le_bytes()), &[&3u64.to_le_bytes(), &4u64.to_le_bytes()]);
/// assert_eq!(merged, Some(12u64.to_le_bytes().to_vec()));
/// assert_eq!(add.full_merge(b"k", None, &[b"bad"]), None);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct U64AddOperator;

fn decode_u64(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.try_into().ok()?))
}

fn sum_u64(start: u64, operands: &[&[u8]]) -> Option<u64> {
    operands.iter().try_fold(start, |sum, op| Some(sum.wrapping_add(decode_u64(op)?)))
}

impl MergeOperator for U64AddOperator {
    fn name(&self) -> &str {
        "lsmkit.U64Add"
    }

    fn full_merge(&self, _key: &[u8], existing: Option<&[u8]>, operands: &[&[u8]]) -> Option<Vec<u8>> {
        let start = match existing {
            Some(value) => decode_u64(value)?,
            None => 0,
        };
        Some(sum_u64(start, operands)?.to_le_bytes().to_vec())
    }

    fn partial_merge(&self, _key: &[u8], operands: &[&[u8]]) -> Option<Vec<u8>> {
        Some(sum_u64(0, operands)?.to_le_bytes().to_vec())
    }
}

/// String append: the value followed by each operand, oldest first, with
/// `delimiter` between any two parts (a missing value adds no part).
///
/// ```
/// use lsmkit_base::merge_operator::{MergeOperator, StringAppendOperator};
///
/// let append = StringAppendOperator::new(b",");
/// assert_eq!(append.full_merge(b"k", Some(b"a"), &[b"b", b"c"]), Some(b"a,b,c".to_vec()));
/// assert_eq!(append.full_merge(b"k", None, &[b"b"]), Some(b"b".to_vec()));
/// ```
#[derive(Debug, Clone, Default)]
pub struct StringAppendOperator {
    delimiter: Vec<u8>,
}

impl StringAppendOperator {
    /// Appends with `delimiter` (may be empty) between parts.
    pub fn new(delimiter: &[u8]) -> StringAppendOperator {
        StringAppendOperator { delimiter: delimiter.to_vec() }
    }

    fn join<'a>(&self, parts: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, part) in parts.enumerate() {
            if i > 0 {
                out.extend_from_slice(&self.delimiter);
            }
            out.extend_from_slice(part);
        }
        out
    }
}

impl MergeOperator for StringAppendOperator {
    fn name(&self) -> &str {
        "lsmkit.StringAppend"
    }

    fn full_merge(&self, _key: &[u8], existing: Option<&[u8]>, operands: &[&[u8]]) -> Option<Vec<u8>> {
        Some(self.join(existing.into_iter().chain(operands.iter().copied())))
    }

    fn partial_merge(&self, _key: &[u8], operands: &[&[u8]]) -> Option<Vec<u8>> {
        Some(self.join(operands.iter().copied()))
    }
}

/// The bytewise largest of the value and the operands.
///
/// ```
/// use lsmkit_base::merge_operator::{MaxOperator, MergeOperator};
///
/// assert_eq!(MaxOperator.full_merge(b"k", Some(b"m"), &[b"c", b"x", b"a"]), Some(b"x".to_vec()));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct MaxOperator;

impl MergeOperator for MaxOperator {
    fn name(&self) -> &str {
        "lsmkit.Max"
    }

    fn full_merge(&self, _key: &[u8], existing: Option<&[u8]>, operands: &[&[u8]]) -> Option<Vec<u8>> {
        existing.into_iter().chain(operands.iter().copied()).max().map(<[u8]>::to_vec)
    }

    fn partial_merge(&self, _key: &[u8], operands: &[&[u8]]) -> Option<Vec<u8>> {
        operands.iter().copied().max().map(<[u8]>::to_vec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check_partial_is_full(
        op: &dyn MergeOperator,
        existing: Option<&[u8]>,
        operands: &[Vec<u8>],
        split: usize,
    ) {
        let all: Vec<&[u8]> = operands.iter().map(Vec::as_slice).collect();
        let expected = op.full_merge(b"k", existing, &all);
        let split = split.min(all.len());
        // Combine a run of operands in the middle, then merge the rest.
        if all.len() - split >= 2 {
            let combined = op.partial_merge(b"k", &all[split..]).unwrap();
            let mut shortened: Vec<&[u8]> = all[..split].to_vec();
            shortened.push(&combined);
            assert_eq!(op.full_merge(b"k", existing, &shortened), expected);
        }
    }

    proptest! {
        #[test]
        fn partial_merges_agree_with_full_merges(
            base in proptest::option::of(any::<u64>()),
            adds in proptest::collection::vec(any::<u64>(), 2..6),
            strings in proptest::collection::vec(proptest::collection::vec(0u8..4, 0..3), 2..6),
            split in 0usize..4,
        ) {
            let base_bytes = base.map(|b| b.to_le_bytes().to_vec());
            let add_ops: Vec<Vec<u8>> = adds.iter().map(|a| a.to_le_bytes().to_vec()).collect();
            check_partial_is_full(&U64AddOperator, base_bytes.as_deref(), &add_ops, split);
            let expected = adds.iter().fold(base.unwrap_or(0), |s, a| s.wrapping_add(*a));
            let all: Vec<&[u8]> = add_ops.iter().map(Vec::as_slice).collect();
            prop_assert_eq!(U64AddOperator.full_merge(b"k", base_bytes.as_deref(), &all), Some(expected.to_le_bytes().to_vec()));
            check_partial_is_full(&StringAppendOperator::new(b"--"), Some(b"x"), &strings, split);
            check_partial_is_full(&StringAppendOperator::new(b""), None, &strings, split);
            check_partial_is_full(&MaxOperator, None, &strings, split);
            check_partial_is_full(&MaxOperator, Some(b"\x01"), &strings, split);
        }
    }

    #[test]
    fn malformed_counters_fail_and_names_differ() {
        assert_eq!(U64AddOperator.full_merge(b"k", Some(b"1234567"), &[&1u64.to_le_bytes()]), None);
        assert_eq!(U64AddOperator.partial_merge(b"k", &[&1u64.to_le_bytes(), b"x"]), None);
        assert_eq!(
            U64AddOperator.full_merge(b"k", Some(&u64::MAX.to_le_bytes()), &[&2u64.to_le_bytes()]),
            Some(1u64.to_le_bytes().to_vec())
        );
        let appended = StringAppendOperator::new(b",").full_merge(b"k", Some(b""), &[b"a"]);
        assert_eq!(appended, Some(b",a".to_vec()));
        let append = StringAppendOperator::default();
        let names = [U64AddOperator.name(), append.name(), MaxOperator.name()];
        assert!(names[0] != names[1] && names[1] != names[2] && names[0] != names[2]);
    }
}
