//! The crash test's write history: operation `i` of a run is a pure
//! function of the run's seed and `i` (which keys; put, delete, merge or
//! range deletion; how long a value), and a put's value spells out `i` and
//! the cycle that wrote it, so the harness can recompute any prefix of the
//! history and name the write behind every value it finds in the database.
//!
//! Two kinds of keys: plain keys (`crash-key-NNNNN`), put and deleted, and
//! counters (`crash-mrg-NNNNN`): 8-byte little-endian u64s that operations
//! add to with merges (`Db::merge` through the u64-add merge operator the
//! database is opened with), set with puts and reset with deletes. A
//! counter's value after a prefix of the history is the sum of the merges
//! since its last put or delete, so a recovered counter that is not some
//! prefix's value (an operand lost, applied twice, or applied to the wrong
//! base) shows up like a lost put.
//!
//! Range deletions (`Db::delete_range` / `WriteBatch::delete_range`, the
//! database is opened with `Options::range_deletions`) delete every key
//! number in `key..end`: a few to a few hundred plain keys, a stretch of
//! counters, or both across the boundary between them; half of them have
//! bounds that fall between keys (no key of the history), so tombstone ends
//! and table boundaries need not be keys. A counter merged
//! after a range deletion starts again from 0, so an operand that reads
//! through the tombstone (or a tombstone lost, or applied to a later
//! write) leaves a counter that no prefix gives.
//!
//! Adding an operation: a variant of [`OpKind`] drawn in [`op`] (with the
//! keys it covers), its effect in `verify::Model::apply` (which returns the
//! range of key numbers an operation changed, so an operation covering
//! several keys is checked like any other), its entry in
//! `writer::batch_for`, and any option it needs in
//! `cycle_options::CycleOptions::to_options`.

use super::rng::{mix, SplitMix64};

/// Number of plain keys. Small enough that keys are overwritten and
/// deleted many times per cycle (a resurrected old value or deleted key
/// shows up), large enough for several tables per level.
pub const PLAIN_KEYS: u32 = 2000;

/// Number of counters; their key numbers follow the plain keys'. Few, so
/// that every counter collects long chains of merge operands between its
/// puts and deletes, across memtables, flushes and compactions.
pub const COUNTERS: u32 = 48;

/// Number of key numbers: plain keys, then counters. Key numbers sort as
/// their keys do.
pub const KEY_SPACE: u32 = PLAIN_KEYS + COUNTERS;

/// Per mille of operations on counters.
const COUNTER_PERMILLE: u64 = 200;

/// Per mille of counter operations that are puts, and that are deletes
/// (the rest are merges).
const COUNTER_PUT_PERMILLE: u64 = 60;
const COUNTER_DELETE_PERMILLE: u64 = 60;

/// Keys that take 30% of the operations, so some keys change very often.
const HOT_KEYS: u32 = 64;

/// Per mille of operations that are deletes.
const DELETE_PERMILLE: u64 = 250;

/// Per mille of operations that are range deletions. Rare, because one
/// wipes up to a few hundred keys: the database must keep enough live keys
/// for lost puts and resurrected deletes to show.
const RANGE_DELETE_PERMILLE: u64 = 5;

/// Per mille of range deletions that start among (or just before) the
/// counters; the rest start at a uniformly drawn plain key.
const COUNTER_RANGE_PERMILLE: u64 = 300;

/// Length of the header that starts every value: `{index:016x}/{cycle:08x}/`.
const VALUE_HEADER_LEN: usize = 16 + 1 + 8 + 1;

/// A salt for the operation stream, distinct from the plan and options streams.
const OP_SALT: u64 = 0x6f70_735f_6b65_7973;

/// What an operation does to its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// Sets the key to the operation's value ([`put_value`]).
    Put,
    /// Deletes the key.
    Delete,
    /// Adds [`merge_operand`] to a counter (only counters are merged).
    Merge,
    /// Deletes every key number in `key..end` (`end` exclusive, at most
    /// [`KEY_SPACE`]); its bounds are [`range_bytes`].
    DeleteRange {
        /// First key number after the range.
        end: u32,
        /// The bounds lie between keys instead of at the first key of the
        /// range and the first key after it (same keys deleted, but the
        /// tombstone's ends are no key of the history).
        between_keys: bool,
    },
}

/// One operation of the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Op {
    /// Its position in the run's history (0-based, across cycles).
    pub index: u64,
    /// Which key (`0..KEY_SPACE`; counters from `PLAIN_KEYS` on); the
    /// first key of a range deletion.
    pub key: u32,
    /// Put, delete, merge or range deletion.
    pub kind: OpKind,
}

/// Operation `index` of the history of the run with `seed`.
pub fn op(seed: u64, index: u64) -> Op {
    let mut rng = SplitMix64::new(mix(seed ^ OP_SALT, index));
    if rng.chance(RANGE_DELETE_PERMILLE) {
        // Widths spread over two orders of magnitude: 2–7, 8–39 or 40–300 keys.
        let width = match rng.below(3) {
            0 => rng.in_range(2, 8),
            1 => rng.in_range(8, 40),
            _ => rng.in_range(40, 301),
        } as u32;
        let begin = if rng.chance(COUNTER_RANGE_PERMILLE) {
            // Among the counters, or a little before them (the range then
            // spans the last plain keys and the first counters).
            PLAIN_KEYS - 16 + rng.below(u64::from(COUNTERS + 16)) as u32
        } else {
            rng.below(u64::from(PLAIN_KEYS)) as u32
        };
        let end = (begin + width).min(KEY_SPACE);
        let between_keys = rng.chance(500);
        return Op { index, key: begin, kind: OpKind::DeleteRange { end, between_keys } };
    }
    if rng.chance(COUNTER_PERMILLE) {
        let key = PLAIN_KEYS + rng.below(u64::from(COUNTERS)) as u32;
        let roll = rng.below(1000);
        let kind = if roll < COUNTER_PUT_PERMILLE {
            OpKind::Put
        } else if roll < COUNTER_PUT_PERMILLE + COUNTER_DELETE_PERMILLE {
            OpKind::Delete
        } else {
            OpKind::Merge
        };
        return Op { index, key, kind };
    }
    let key = if rng.chance(300) { rng.below(u64::from(HOT_KEYS)) } else { rng.below(u64::from(PLAIN_KEYS)) };
    let kind = if rng.chance(DELETE_PERMILLE) { OpKind::Delete } else { OpKind::Put };
    Op { index, key: key as u32, kind }
}

/// Whether key number `key` is a counter.
pub fn is_counter(key: u32) -> bool {
    (PLAIN_KEYS..KEY_SPACE).contains(&key)
}

/// The bytes of key number `key`.
pub fn key_bytes(key: u32) -> Vec<u8> {
    if is_counter(key) {
        format!("crash-mrg-{:05}", key - PLAIN_KEYS).into_bytes()
    } else {
        format!("crash-key-{key:05}").into_bytes()
    }
}

/// The bytes that end a range deletion before key number `end`: the key's
/// bytes, or for `end == KEY_SPACE` the counter name one past the last
/// counter, which sorts after every key of the history (and is none).
pub fn range_bound(end: u32) -> Vec<u8> {
    if end == KEY_SPACE {
        format!("crash-mrg-{COUNTERS:05}").into_bytes()
    } else {
        key_bytes(end)
    }
}

/// The bounds (`begin`, `end`) a range deletion of key numbers
/// `first..end` is written with: the key `first` and [`range_bound`]`(end)`,
/// or, `between_keys`, bytes just after the key before `first` (the key
/// with `~` appended; `crash-key-` for key 0) and just after the key
/// `end - 1`. Both forms delete exactly the keys `first..end`.
pub fn range_bytes(first: u32, end: u32, between_keys: bool) -> (Vec<u8>, Vec<u8>) {
    if !between_keys {
        return (key_bytes(first), range_bound(end));
    }
    let after = |key: u32| {
        let mut bytes = key_bytes(key);
        bytes.push(b'~');
        bytes
    };
    let begin = if first == 0 { b"crash-key-".to_vec() } else { after(first - 1) };
    (begin, after(end - 1))
}

/// The key number of `bytes`, if they are one of the history's keys.
pub fn parse_key(bytes: &[u8]) -> Option<u32> {
    let number = |digits: &[u8]| -> Option<u32> {
        if digits.len() != 5 || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(digits).ok()?.parse().ok()
    };
    if let Some(digits) = bytes.strip_prefix(b"crash-mrg-") {
        let counter = number(digits)?;
        return (counter < COUNTERS).then_some(PLAIN_KEYS + counter);
    }
    let key = number(bytes.strip_prefix(b"crash-key-")?)?;
    (key < PLAIN_KEYS).then_some(key)
}

/// What merge `index` adds to its counter: 1 to 1000, so that the sums
/// of different prefixes differ.
pub fn merge_operand(seed: u64, index: u64) -> u64 {
    SplitMix64::new(mix(seed ^ OP_SALT ^ 0x6d65_7267_6573, index)).in_range(1, 1001)
}

/// What a put (`index`) of a counter sets it to: a large value, so that
/// the sums built on it tell which put they started from.
pub fn counter_put_value(seed: u64, index: u64) -> u64 {
    SplitMix64::new(mix(seed ^ OP_SALT ^ 0x7075_7473, index)).next_u64() >> 16
}

/// The bytes put `index` writes (to key number `key`) when cycle `cycle`
/// writes it: a counter's 8 bytes, or [`value_bytes`].
pub fn put_value(seed: u64, index: u64, key: u32, cycle: u64) -> Vec<u8> {
    if is_counter(key) {
        counter_put_value(seed, index).to_le_bytes().to_vec()
    } else {
        value_bytes(seed, index, cycle)
    }
}

/// The value that operation `index` (a put) writes when cycle `cycle` writes it:
/// a header naming both, then filler whose length and bytes depend on `index`.
/// Most values are 0–400 bytes; 1% are 2–16 KiB, so WAL records span blocks.
pub fn value_bytes(seed: u64, index: u64, cycle: u64) -> Vec<u8> {
    let mut rng = SplitMix64::new(mix(seed ^ OP_SALT ^ 0x7661_6c75_6573, index));
    let filler = if rng.chance(10) { rng.in_range(2 << 10, 16 << 10) } else { rng.below(400) } as usize;
    let mut value = format!("{index:016x}/{cycle:08x}/").into_bytes();
    let first = rng.next_u64();
    value.extend((0..filler).map(|j| b'a' + ((first as usize + j) % 26) as u8));
    value
}

/// How many of the operations `indexes` are merges.
pub fn merges_in(seed: u64, indexes: std::ops::Range<u64>) -> u64 {
    indexes.filter(|&i| op(seed, i).kind == OpKind::Merge).count() as u64
}

/// How many of the operations `indexes` are range deletions.
pub fn range_deletions_in(seed: u64, indexes: std::ops::Range<u64>) -> u64 {
    indexes.filter(|&i| matches!(op(seed, i).kind, OpKind::DeleteRange { .. })).count() as u64
}

/// For messages: a counter's value.
pub fn describe_counter(value: &[u8]) -> String {
    match <[u8; 8]>::try_from(value) {
        Ok(bytes) => format!("counter value {}", u64::from_le_bytes(bytes)),
        Err(_) => format!("malformed counter of {} bytes", value.len()),
    }
}

/// For messages: which write a value found in the database came from.
pub fn describe_value(value: &[u8]) -> String {
    let parsed = (value.len() >= VALUE_HEADER_LEN)
        .then(|| {
            let index = u64::from_str_radix(std::str::from_utf8(&value[..16]).ok()?, 16).ok()?;
            let cycle = u64::from_str_radix(std::str::from_utf8(&value[17..25]).ok()?, 16).ok()?;
            Some((index, cycle))
        })
        .flatten();
    match parsed {
        Some((index, cycle)) => {
            format!("value of op {index} written in cycle {cycle} ({} bytes)", value.len())
        }
        None => format!("unrecognised value of {} bytes", value.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_are_deterministic_and_varied() {
        let ops: Vec<Op> = (0..2000).map(|i| op(9, i)).collect();
        assert_eq!(ops, (0..2000).map(|i| op(9, i)).collect::<Vec<_>>());
        assert_ne!(ops, (0..2000).map(|i| op(10, i)).collect::<Vec<_>>());
        let deletes = ops.iter().filter(|o| o.kind == OpKind::Delete).count();
        assert!((300..600).contains(&deletes), "{deletes} deletes");
        assert!(ops.iter().all(|o| o.key < KEY_SPACE));
        let distinct: std::collections::BTreeSet<u32> = ops.iter().map(|o| o.key).collect();
        assert!(distinct.len() > 500, "{} distinct keys", distinct.len());
        // Merges go to counters only; counters are also put and deleted.
        let merges = ops.iter().filter(|o| o.kind == OpKind::Merge).count();
        assert!((250..450).contains(&merges), "{merges} merges");
        assert!(ops.iter().all(|o| (o.kind == OpKind::Merge) <= is_counter(o.key)));
        let counter_ops = |kind| ops.iter().filter(|o| is_counter(o.key) && o.kind == kind).count();
        assert!(counter_ops(OpKind::Put) > 5 && counter_ops(OpKind::Delete) > 5);
        let operands: Vec<u64> = (0..2000).map(|i| merge_operand(9, i)).collect();
        assert!(operands.iter().all(|&d| (1..=1000).contains(&d)));
        assert_eq!(merge_operand(9, 5), operands[5]);
    }

    #[test]
    fn range_deletions_cover_a_few_to_a_few_hundred_keys_and_reach_the_counters() {
        let ranges: Vec<(u32, u32)> = (0..200_000)
            .filter_map(|i| match op(4, i).kind {
                OpKind::DeleteRange { end, .. } => Some((op(4, i).key, end)),
                _ => None,
            })
            .collect();
        assert!((800..1200).contains(&ranges.len()), "{} range deletions", ranges.len());
        assert!(ranges.iter().all(|&(begin, end)| begin < end && end <= KEY_SPACE));
        let widths: Vec<u32> = ranges.iter().map(|&(begin, end)| end - begin).collect();
        assert!(widths.iter().all(|&w| (1..=300).contains(&w)));
        assert!(widths.iter().any(|&w| w <= 4) && widths.iter().any(|&w| w >= 250));
        // Some cover only plain keys, some counters, some both, some reach the end.
        let counters = |&(begin, end): &(u32, u32)| (begin..end).filter(|&k| is_counter(k)).count();
        assert!(ranges.iter().filter(|r| counters(r) == 0).count() > ranges.len() / 2);
        assert!(ranges.iter().any(|r| r.0 >= PLAIN_KEYS));
        assert!(ranges.iter().any(|r| r.0 < PLAIN_KEYS && counters(r) > 0));
        assert!(ranges.iter().any(|r| r.1 == KEY_SPACE));
        assert_eq!(range_deletions_in(4, 0..200_000), ranges.len() as u64);
    }

    #[test]
    fn keys_round_trip_and_foreign_keys_are_rejected() {
        for key in [0, 1, 1999, PLAIN_KEYS, KEY_SPACE - 1] {
            assert_eq!(parse_key(&key_bytes(key)), Some(key));
        }
        assert_eq!(key_bytes(PLAIN_KEYS + 3), b"crash-mrg-00003");
        assert_eq!(parse_key(b"crash-key-02000"), None);
        assert_eq!(parse_key(b"crash-mrg-00048"), None);
        assert_eq!(parse_key(b"crash-key-1"), None);
        assert_eq!(parse_key(b"other"), None);
        // Key numbers sort as their keys do (compactions take ranges of them).
        let keys: Vec<Vec<u8>> = (0..KEY_SPACE).map(key_bytes).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        // So do range bounds: the one past the last key sorts after every key.
        assert_eq!(range_bound(PLAIN_KEYS), key_bytes(PLAIN_KEYS));
        assert_eq!(range_bound(KEY_SPACE), b"crash-mrg-00048");
        assert!(keys.iter().all(|k| *k < range_bound(KEY_SPACE)));
        assert_eq!(parse_key(&range_bound(KEY_SPACE)), None);
        // Both forms of a range's bounds cover exactly its keys.
        for (first, end) in
            [(0, 1), (0, 5), (7, 300), (1995, 2010), (PLAIN_KEYS, KEY_SPACE), (KEY_SPACE - 1, KEY_SPACE)]
        {
            for between_keys in [false, true] {
                let (begin, stop) = range_bytes(first, end, between_keys);
                let covered: Vec<u32> =
                    (0..KEY_SPACE).filter(|&k| begin <= key_bytes(k) && key_bytes(k) < stop).collect();
                assert_eq!(covered, (first..end).collect::<Vec<_>>(), "{first}..{end} {between_keys}");
                assert_eq!(parse_key(&begin).is_some(), !between_keys);
                assert!(parse_key(&stop).is_none() || !between_keys);
            }
        }
        assert_eq!(put_value(1, 7, PLAIN_KEYS, 0), counter_put_value(1, 7).to_le_bytes());
        assert_eq!(put_value(1, 7, 5, 2), value_bytes(1, 7, 2));
        assert_eq!(describe_counter(&42u64.to_le_bytes()), "counter value 42");
    }

    #[test]
    fn values_name_their_op_and_cycle() {
        let v = value_bytes(1, 77, 3);
        assert_eq!(v, value_bytes(1, 77, 3));
        assert_ne!(v, value_bytes(1, 77, 4));
        assert!(describe_value(&v).starts_with("value of op 77 written in cycle 3"));
        assert_eq!(describe_value(b"zz"), "unrecognised value of 2 bytes");
        let big = (0..1000).filter(|&i| value_bytes(5, i, 0).len() > 2048).count();
        assert!((2..40).contains(&big), "{big} large values");
    }
}
