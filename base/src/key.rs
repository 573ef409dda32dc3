//! Internal keys, lookup keys and the internal-key comparator
//! (docs/format.md §5 and the index-key shortening of §6.7).
//!
//! An internal key is `user_key ++ fixed64(sequence << 8 | kind)`; internal
//! keys order by user key ascending, then by that trailer descending, so the
//! newest version of a key comes first.

use std::cmp::Ordering;
use std::sync::Arc;

use crate::coding::{decode_fixed64, put_fixed64, put_varint32, varint_length};
use crate::comparator::{Comparator, KnownOrder};
use crate::error::{Error, Result};

/// A write's position in the database's history (56 bits are usable).
pub type SequenceNumber = u64;

/// The largest sequence number: 2^56 − 1.
pub const MAX_SEQUENCE_NUMBER: SequenceNumber = (1 << 56) - 1;

/// Length of the trailer that follows the user key in an internal key.
pub const INTERNAL_KEY_TRAILER_LEN: usize = 8;

/// What an entry records about its user key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum ValueKind {
    /// A deletion marker (tombstone).
    Deletion = 0,
    /// A value.
    Value = 1,
    /// A merge operand (an lsmkit extension, docs/format-extensions.md,
    /// "Merge operator"): combined with the older entries of its key by
    /// the database's merge operator. Only databases opened with a merge
    /// operator hold it; LevelDB 1.23 knows only kinds 0 and 1.
    Merge = 2,
    /// A range deletion (an lsmkit extension, docs/format-extensions.md,
    /// "Range deletions"; RocksDB's `kTypeRangeDeletion`): the internal key
    /// `begin@seq#15` of a range tombstone whose value is the exclusive end.
    /// It appears only in WriteBatches and in a table's `lsmkit.range_del`
    /// meta block, never in data blocks or the memtable's point entries;
    /// readers of those treat it as corruption.
    RangeDeletion = 15,
}

impl ValueKind {
    /// Decodes the kind byte; anything but 0, 1, 2 or 15 is `None`.
    pub fn from_byte(byte: u8) -> Option<ValueKind> {
        match byte {
            0 => Some(ValueKind::Deletion),
            1 => Some(ValueKind::Value),
            2 => Some(ValueKind::Merge),
            15 => Some(ValueKind::RangeDeletion),
            _ => None,
        }
    }
}

/// The kind used in seek keys: the largest kind byte of the entries that
/// data blocks and memtables hold, so the seek key sorts before every entry
/// of the same sequence and a seek at snapshot `s` lands on every entry with
/// sequence ≤ `s` (LevelDB uses 1, its largest kind; a merge operand at `s`
/// needs 2). Range tombstones (kind 15) live apart from those entries and
/// are never sought this way. Seek keys are never stored: the trailer
/// written into tables (shortened index keys) is [`MAX_TRAILER`], which
/// keeps LevelDB's kind 1.
pub const VALUE_KIND_FOR_SEEK: ValueKind = ValueKind::Merge;

/// The trailer `(sequence << 8) | kind`.
pub fn pack_sequence_and_kind(sequence: SequenceNumber, kind: ValueKind) -> u64 {
    debug_assert!(sequence <= MAX_SEQUENCE_NUMBER);
    (sequence << 8) | kind as u64
}

/// The largest trailer, `(MAX_SEQUENCE_NUMBER << 8) | Value`, used by shortened index keys.
pub const MAX_TRAILER: u64 = (MAX_SEQUENCE_NUMBER << 8) | ValueKind::Value as u64;

/// Appends the internal key for (`user_key`, `sequence`, `kind`) to `dst`.
pub fn append_internal_key(dst: &mut Vec<u8>, user_key: &[u8], sequence: SequenceNumber, kind: ValueKind) {
    dst.extend_from_slice(user_key);
    put_fixed64(dst, pack_sequence_and_kind(sequence, kind));
}

/// The internal key for (`user_key`, `sequence`, `kind`).
pub fn make_internal_key(user_key: &[u8], sequence: SequenceNumber, kind: ValueKind) -> Vec<u8> {
    let mut out = Vec::with_capacity(user_key.len() + INTERNAL_KEY_TRAILER_LEN);
    append_internal_key(&mut out, user_key, sequence, kind);
    out
}

/// An internal key split into its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedInternalKey<'a> {
    /// The key the user wrote.
    pub user_key: &'a [u8],
    /// The write's sequence number.
    pub sequence: SequenceNumber,
    /// Value, deletion or merge operand.
    pub kind: ValueKind,
}

/// Splits an internal key; a key shorter than 8 bytes or with an unknown
/// kind byte is `Corruption`.
pub fn parse_internal_key(internal_key: &[u8]) -> Result<ParsedInternalKey<'_>> {
    let n = internal_key.len();
    if n < INTERNAL_KEY_TRAILER_LEN {
        return Err(Error::corruption(format!("internal key too short ({n} bytes)")));
    }
    let trailer = decode_fixed64(&internal_key[n - INTERNAL_KEY_TRAILER_LEN..]);
    let kind = match ValueKind::from_byte((trailer & 0xff) as u8) {
        Some(kind) => kind,
        None => return Err(unknown_kind(trailer)),
    };
    Ok(ParsedInternalKey {
        user_key: &internal_key[..n - INTERNAL_KEY_TRAILER_LEN],
        sequence: trailer >> 8,
        kind,
    })
}

/// The error for a trailer whose kind byte is not a known kind (off the
/// path every decoded key takes).
#[cold]
#[inline(never)]
fn unknown_kind(trailer: u64) -> Error {
    Error::corruption(format!("unknown value kind {}", trailer & 0xff))
}

/// The user-key part of an internal key. A key shorter than the trailer
/// (corrupt) yields the empty slice; use [`parse_internal_key`] to detect it.
pub fn extract_user_key(internal_key: &[u8]) -> &[u8] {
    &internal_key[..internal_key.len().saturating_sub(INTERNAL_KEY_TRAILER_LEN)]
}

/// The trailer of an internal key (0 for a key shorter than 8 bytes).
pub fn extract_trailer(internal_key: &[u8]) -> u64 {
    let n = internal_key.len();
    if n < INTERNAL_KEY_TRAILER_LEN {
        return 0;
    }
    decode_fixed64(&internal_key[n - INTERNAL_KEY_TRAILER_LEN..])
}

/// Orders two internal keys whose user keys are ordered bytewise: user key
/// ascending, then trailer descending. Identical to
/// [`InternalKeyComparator::compare_internal_keys`] over the bytewise
/// comparator, including for malformed keys shorter than the trailer.
#[inline]
pub fn compare_internal_keys_bytewise(a: &[u8], b: &[u8]) -> Ordering {
    match extract_user_key(a).cmp(extract_user_key(b)) {
        Ordering::Equal => extract_trailer(b).cmp(&extract_trailer(a)),
        other => other,
    }
}

/// The key a memtable is probed with for "`user_key` as of `sequence`"
/// (docs/format.md §5.3): `varint32(ikey_len) ++ user_key ++ fixed64(seq << 8 | 2)` (LevelDB
/// uses kind 1; lsmkit seeks with [`VALUE_KIND_FOR_SEEK`], see there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupKey {
    bytes: Vec<u8>,
    internal_key_start: usize,
}

impl LookupKey {
    /// The lookup key for `user_key` visible at snapshot `sequence`.
    pub fn new(user_key: &[u8], sequence: SequenceNumber) -> LookupKey {
        let internal_len = user_key.len() + INTERNAL_KEY_TRAILER_LEN;
        let mut bytes = Vec::with_capacity(varint_length(internal_len as u64) + internal_len);
        put_varint32(&mut bytes, internal_len as u32);
        let internal_key_start = bytes.len();
        append_internal_key(&mut bytes, user_key, sequence, VALUE_KIND_FOR_SEEK);
        LookupKey { bytes, internal_key_start }
    }

    /// The whole encoding, length prefix included.
    pub fn memtable_key(&self) -> &[u8] {
        &self.bytes
    }

    /// The internal-key part.
    pub fn internal_key(&self) -> &[u8] {
        &self.bytes[self.internal_key_start..]
    }

    /// The user-key part.
    pub fn user_key(&self) -> &[u8] {
        &self.bytes[self.internal_key_start..self.bytes.len() - INTERNAL_KEY_TRAILER_LEN]
    }
}

/// Orders internal keys: user key ascending by the user comparator, then
/// trailer descending. Named `leveldb.InternalKeyComparator` (never stored).
///
/// With the bytewise user comparator, comparisons run on slices directly,
/// without a dynamic call.
#[derive(Clone)]
pub struct InternalKeyComparator {
    user: Arc<dyn Comparator>,
    user_is_bytewise: bool,
}

impl std::fmt::Debug for InternalKeyComparator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "InternalKeyComparator({})", self.user.name())
    }
}

impl InternalKeyComparator {
    /// Wraps a user comparator.
    pub fn new(user: Arc<dyn Comparator>) -> InternalKeyComparator {
        let user_is_bytewise = user.is_bytewise();
        InternalKeyComparator { user, user_is_bytewise }
    }

    /// The wrapped user comparator.
    pub fn user_comparator(&self) -> &Arc<dyn Comparator> {
        &self.user
    }

    /// Orders two user keys with the user comparator.
    #[inline]
    pub fn compare_user_keys(&self, a: &[u8], b: &[u8]) -> Ordering {
        if self.user_is_bytewise {
            a.cmp(b)
        } else {
            self.user.compare(a, b)
        }
    }

    /// Orders two internal keys.
    #[inline]
    pub fn compare_internal_keys(&self, a: &[u8], b: &[u8]) -> Ordering {
        if self.user_is_bytewise {
            return compare_internal_keys_bytewise(a, b);
        }
        match self.compare_user_keys(extract_user_key(a), extract_user_key(b)) {
            Ordering::Equal => extract_trailer(b).cmp(&extract_trailer(a)),
            other => other,
        }
    }

    fn shorten(&self, original: &[u8], shortened_user_key: Vec<u8>) -> Vec<u8> {
        let user_key = extract_user_key(original);
        if shortened_user_key.len() < user_key.len()
            && self.compare_user_keys(user_key, &shortened_user_key) == Ordering::Less
        {
            let mut out = shortened_user_key;
            put_fixed64(&mut out, MAX_TRAILER);
            debug_assert_eq!(self.compare_internal_keys(original, &out), Ordering::Less);
            out
        } else {
            original.to_vec()
        }
    }
}

impl Comparator for InternalKeyComparator {
    fn name(&self) -> &str {
        "leveldb.InternalKeyComparator"
    }

    fn compare(&self, a: &[u8], b: &[u8]) -> Ordering {
        self.compare_internal_keys(a, b)
    }

    fn known_order(&self) -> KnownOrder {
        if self.user_is_bytewise {
            KnownOrder::InternalBytewise
        } else {
            KnownOrder::Custom
        }
    }

    /// docs/format.md §6.7: shorten the user-key part; use the result with the
    /// maximal trailer only when it is strictly shorter and greater.
    fn shortest_separator(&self, start: &[u8], limit: &[u8]) -> Vec<u8> {
        let shortened = self.user.shortest_separator(extract_user_key(start), extract_user_key(limit));
        self.shorten(start, shortened)
    }

    fn short_successor(&self, key: &[u8]) -> Vec<u8> {
        let shortened = self.user.short_successor(extract_user_key(key));
        self.shorten(key, shortened)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::comparator::BytewiseComparator;
    use proptest::prelude::*;

    fn icmp() -> InternalKeyComparator {
        InternalKeyComparator::new(BytewiseComparator::shared())
    }

    fn ik(user_key: &[u8], sequence: u64, kind: ValueKind) -> Vec<u8> {
        make_internal_key(user_key, sequence, kind)
    }

    #[test]
    fn golden_internal_key() {
        assert_eq!(ik(b"k", 1, ValueKind::Value), [0x6b, 0x01, 0x01, 0, 0, 0, 0, 0, 0]);
        let mut max = Vec::new();
        put_fixed64(&mut max, MAX_TRAILER);
        assert_eq!(max, [0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(MAX_SEQUENCE_NUMBER, 72_057_594_037_927_935);
    }

    #[test]
    fn golden_lookup_key() {
        let lk = LookupKey::new(b"k", 5);
        // Kind 2 (the seek kind), so that a merge operand at sequence 5 is found.
        assert_eq!(lk.memtable_key(), [0x09, 0x6b, 0x02, 0x05, 0, 0, 0, 0, 0, 0]);
        assert_eq!(lk.internal_key(), &lk.memtable_key()[1..]);
        assert_eq!(lk.user_key(), b"k");
    }

    #[test]
    fn format_md_order() {
        let c = icmp();
        let keys = [
            ik(b"a", 5, ValueKind::Value),
            ik(b"a", 3, ValueKind::Value),
            ik(b"a", 3, ValueKind::Deletion),
            ik(b"b", 9, ValueKind::Value),
        ];
        for w in keys.windows(2) {
            assert_eq!(c.compare(&w[0], &w[1]), Ordering::Less);
        }
    }

    #[test]
    fn parse_rejects_short_and_unknown_kind() {
        assert!(parse_internal_key(b"short").unwrap_err().is_corruption());
        let mut bad = ik(b"k", 1, ValueKind::Value);
        bad[1] = 7;
        assert!(parse_internal_key(&bad).unwrap_err().is_corruption());
        for unknown in [3u8, 14, 16, 0xff] {
            bad[1] = unknown;
            assert!(parse_internal_key(&bad).unwrap_err().is_corruption(), "kind {unknown}");
        }
        bad[1] = 15;
        assert_eq!(parse_internal_key(&bad).unwrap().kind, ValueKind::RangeDeletion);
        let good = ik(b"key", 300, ValueKind::Deletion);
        let p = parse_internal_key(&good).unwrap();
        assert_eq!((p.user_key, p.sequence, p.kind), (&b"key"[..], 300, ValueKind::Deletion));
    }

    /// The index keys LevelDB 1.23 wrote, docs/format.md §6.7.
    #[test]
    fn format_md_index_key_shortening() {
        let c = icmp();
        let with_max = |u: &[u8]| {
            let mut v = u.to_vec();
            put_fixed64(&mut v, MAX_TRAILER);
            v
        };
        let v = ValueKind::Value;
        let sep = |a: Vec<u8>, b: Vec<u8>| c.shortest_separator(&a, &b);
        assert_eq!(sep(ik(b"apple", 1, v), ik(b"apricot", 2, v)), with_max(b"apq"));
        assert_eq!(sep(ik(b"apricot", 2, v), ik(b"cherry", 3, v)), with_max(b"b"));
        assert_eq!(sep(ik(b"cherry", 3, v), ik(b"zebra\xff", 4, v)), with_max(b"d"));
        assert_eq!(sep(ik(b"zebra\xff", 4, v), ik(b"\xff\xff", 5, v)), with_max(b"{"));
        assert_eq!(c.short_successor(&ik(b"\xff\xff", 5, v)), ik(b"\xff\xff", 5, v));
        assert_eq!(sep(ik(b"big", 305, v), ik(b"c", 304, v)), ik(b"big", 305, v));
        assert_eq!(sep(ik(b"key000035", 36, v), ik(b"key000036", 37, v)), ik(b"key000035", 36, v));
        assert_eq!(c.short_successor(&ik(b"key000299", 300, v)), with_max(b"l"));
        assert_eq!(c.short_successor(&ik(b"k", 1, v)), ik(b"k", 1, v));
    }

    /// Bytewise order that does not declare itself bytewise, so the
    /// comparator takes its general path.
    struct PlainBytes;

    impl Comparator for PlainBytes {
        fn name(&self) -> &str {
            "test.PlainBytes"
        }
        fn compare(&self, a: &[u8], b: &[u8]) -> Ordering {
            BytewiseComparator.compare(a, b)
        }
        fn shortest_separator(&self, start: &[u8], _limit: &[u8]) -> Vec<u8> {
            start.to_vec()
        }
        fn short_successor(&self, key: &[u8]) -> Vec<u8> {
            key.to_vec()
        }
    }

    fn arb_ikey() -> impl Strategy<Value = Vec<u8>> {
        (proptest::collection::vec(any::<u8>(), 0..6), 0..1000u64, any::<bool>())
            .prop_map(|(u, s, d)| ik(&u, s, if d { ValueKind::Deletion } else { ValueKind::Value }))
    }

    proptest! {
        #[test]
        fn shortening_keeps_the_index_invariant(a in arb_ikey(), b in arb_ikey()) {
            let c = icmp();
            let (start, limit) = if c.compare(&a, &b) != Ordering::Greater { (a, b) } else { (b, a) };
            let sep = c.shortest_separator(&start, &limit);
            prop_assert_ne!(c.compare(&start, &sep), Ordering::Greater);
            if c.compare(&start, &limit) == Ordering::Less {
                prop_assert_eq!(c.compare(&sep, &limit), Ordering::Less);
            }
            let succ = c.short_successor(&start);
            prop_assert_ne!(c.compare(&start, &succ), Ordering::Greater);
        }

        #[test]
        fn inline_fast_path_matches_the_dynamic_order(
            a in proptest::collection::vec(any::<u8>(), 0..14),
            b in proptest::collection::vec(any::<u8>(), 0..14),
        ) {
            // Any bytes, including keys shorter than the trailer.
            let slow = InternalKeyComparator::new(Arc::new(PlainBytes));
            let fast = crate::comparator::InlineComparator::new(Arc::new(icmp()));
            prop_assert_eq!(fast.order(), KnownOrder::InternalBytewise);
            prop_assert_eq!(slow.known_order(), KnownOrder::Custom);
            let expected = slow.compare(&a, &b);
            prop_assert_eq!(fast.compare(&a, &b), expected);
            prop_assert_eq!(compare_internal_keys_bytewise(&a, &b), expected);
            prop_assert_eq!(icmp().compare(&a, &b), expected);
        }

        #[test]
        fn order_matches_tuple_model(a in arb_ikey(), b in arb_ikey()) {
            let pa = parse_internal_key(&a).unwrap();
            let pb = parse_internal_key(&b).unwrap();
            let model = pa.user_key.cmp(pb.user_key)
                .then((pb.sequence, pb.kind).cmp(&(pa.sequence, pa.kind)));
            prop_assert_eq!(icmp().compare(&a, &b), model);
        }
    }
}
