//! The keys `lsmkit-raft` stores in its two databases (docs/raft.md, "Key
//! layout").

/// Log database: prefix of entry keys; the index follows as a big-endian
/// `u64`, so keys sort in index order.
pub(crate) const ENTRY_PREFIX: u8 = b'e';
/// Log database: the vote (JSON `Vote`).
pub(crate) const VOTE_KEY: &[u8] = b"m/vote";
/// Log database: the last purged log id (JSON `LogId`).
pub(crate) const PURGED_KEY: &[u8] = b"m/purged";
/// Log database: the last committed log id (JSON `LogId`).
pub(crate) const COMMITTED_KEY: &[u8] = b"m/committed";

/// State-machine database: prefix of every application key.
pub(crate) const DATA_PREFIX: u8 = b'd';
/// State-machine database: the last applied log id (JSON `LogId`).
pub(crate) const APPLIED_KEY: &[u8] = b"m/applied";
/// State-machine database: the last membership (JSON `StoredMembership`).
pub(crate) const MEMBERSHIP_KEY: &[u8] = b"m/membership";

/// The key of the log entry at `index`.
pub(crate) fn entry_key(index: u64) -> [u8; 9] {
    let mut key = [0u8; 9];
    key[0] = ENTRY_PREFIX;
    key[1..].copy_from_slice(&index.to_be_bytes());
    key
}

/// The index an entry key names, or `None` for a key of another shape.
pub(crate) fn entry_index(key: &[u8]) -> Option<u64> {
    match key {
        [ENTRY_PREFIX, rest @ ..] => Some(u64::from_be_bytes(rest.try_into().ok()?)),
        _ => None,
    }
}

/// The stored key of application key `key`.
pub(crate) fn data_key(key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + 1);
    out.push(DATA_PREFIX);
    out.extend_from_slice(key);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_keys_sort_by_index_and_round_trip() {
        let indexes = [0u64, 1, 255, 256, 1 << 40, u64::MAX];
        for pair in indexes.windows(2) {
            assert!(entry_key(pair[0]) < entry_key(pair[1]));
        }
        for index in indexes {
            assert_eq!(entry_index(&entry_key(index)), Some(index));
        }
        assert_eq!(entry_index(b"e123"), None);
        assert_eq!(entry_index(VOTE_KEY), None);
    }
}
