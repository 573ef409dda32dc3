//! The crash test's write history: operation `i` of a run is a pure
//! function of the run's seed and `i` (which key, put or delete, how long a
//! value), and a put's value spells out `i` and the cycle that wrote it, so
//! the harness can recompute any prefix of the history and name the write
//! behind every value it finds in the database.

use super::rng::{mix, SplitMix64};

/// Number of distinct keys. Small enough that keys are overwritten and
/// deleted many times per cycle (a resurrected old value or deleted key
/// shows up), large enough for several tables per level.
pub const KEY_SPACE: u32 = 2000;

/// Keys that take 30% of the operations, so some keys change very often.
const HOT_KEYS: u32 = 64;

/// Per mille of operations that are deletes.
const DELETE_PERMILLE: u64 = 250;

/// Length of the header that starts every value: `{index:016x}/{cycle:08x}/`.
const VALUE_HEADER_LEN: usize = 16 + 1 + 8 + 1;

/// A salt for the operation stream, distinct from the plan and options streams.
const OP_SALT: u64 = 0x6f70_735f_6b65_7973;

/// Put or delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// Sets the key to the operation's value.
    Put,
    /// Deletes the key.
    Delete,
}

/// One operation of the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Op {
    /// Its position in the run's history (0-based, across cycles).
    pub index: u64,
    /// Which key (`0..KEY_SPACE`).
    pub key: u32,
    /// Put or delete.
    pub kind: OpKind,
}

/// Operation `index` of the history of the run with `seed`.
pub fn op(seed: u64, index: u64) -> Op {
    let mut rng = SplitMix64::new(mix(seed ^ OP_SALT, index));
    let key = if rng.chance(300) { rng.below(u64::from(HOT_KEYS)) } else { rng.below(u64::from(KEY_SPACE)) };
    let kind = if rng.chance(DELETE_PERMILLE) { OpKind::Delete } else { OpKind::Put };
    Op { index, key: key as u32, kind }
}

/// The bytes of key number `key`.
pub fn key_bytes(key: u32) -> Vec<u8> {
    format!("crash-key-{key:05}").into_bytes()
}

/// The key number of `bytes`, if they are one of the history's keys.
pub fn parse_key(bytes: &[u8]) -> Option<u32> {
    let digits = bytes.strip_prefix(b"crash-key-")?;
    if digits.len() != 5 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let key: u32 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    (key < KEY_SPACE).then_some(key)
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
        assert!((350..650).contains(&deletes), "{deletes} deletes");
        assert!(ops.iter().all(|o| o.key < KEY_SPACE));
        let distinct: std::collections::BTreeSet<u32> = ops.iter().map(|o| o.key).collect();
        assert!(distinct.len() > 500, "{} distinct keys", distinct.len());
    }

    #[test]
    fn keys_round_trip_and_foreign_keys_are_rejected() {
        for key in [0, 1, 1999] {
            assert_eq!(parse_key(&key_bytes(key)), Some(key));
        }
        assert_eq!(parse_key(b"crash-key-02000"), None);
        assert_eq!(parse_key(b"crash-key-1"), None);
        assert_eq!(parse_key(b"other"), None);
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
