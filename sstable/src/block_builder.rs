//! Builds one block in the format of docs/format.md §6.5: prefix-compressed
//! entries, a restart point every `restart_interval` entries, then the
//! restart array and its length.
//!
//! ```text
//! +---------+---------+-----+-----------+-------------------+----------+
//! | entry 0 | entry 1 | ... | entry n-1 | restarts: fixed32 | count:   |
//! |         |         |     |           | × count           | fixed32  |
//! +---------+---------+-----+-----------+-------------------+----------+
//!
//! entry = varint32 shared | varint32 non_shared | varint32 value_len
//!         | key[shared..] (non_shared bytes) | value (value_len bytes)
//!
//! Entries 0, R, 2R, … (R = restart_interval) are restart points: shared = 0,
//! and their offsets form the restart array. "apple"=1 then "apply"=2, R = 16:
//!   00 05 01 'apple' '1' | 04 01 01 'y' '2' | 00 00 00 00 | 01 00 00 00
//! ```

use lsmkit_base::coding::{put_fixed32, put_varint32};

/// Accumulates sorted entries into the bytes of one block.
///
/// Keys must be added in strictly increasing order of the block's comparator;
/// the builder itself only compares bytes for prefix sharing, so the caller
/// ([`TableBuilder`](crate::TableBuilder)) enforces the order.
///
/// ```
/// use lsmkit_sstable::BlockBuilder;
/// let mut builder = BlockBuilder::new(16);
/// builder.add(b"apple", b"red");
/// builder.add(b"apricot", b"orange");
/// let bytes = builder.finish().to_vec();
/// // "apricot" shares "ap" with "apple": shared 2, non-shared 5, value 6.
/// assert_eq!(&bytes[11..14], &[2, 5, 6]);
/// ```
#[derive(Debug, Clone)]
pub struct BlockBuilder {
    restart_interval: usize,
    buffer: Vec<u8>,
    restarts: Vec<u32>,
    /// Entries added since the last restart point.
    entries_since_restart: usize,
    finished: bool,
    last_key: Vec<u8>,
}

impl BlockBuilder {
    /// A builder that starts a restart point every `restart_interval`
    /// entries (0 is treated as 1).
    pub fn new(restart_interval: usize) -> BlockBuilder {
        BlockBuilder {
            restart_interval: restart_interval.max(1),
            buffer: Vec::new(),
            restarts: vec![0],
            entries_since_restart: 0,
            finished: false,
            last_key: Vec::new(),
        }
    }

    /// Forgets everything added, keeping the allocated buffers.
    pub fn reset(&mut self) {
        self.buffer.clear();
        self.restarts.clear();
        self.restarts.push(0);
        self.entries_since_restart = 0;
        self.finished = false;
        self.last_key.clear();
    }

    /// Appends an entry. `key` must sort after every key added since the
    /// last reset; `finish` must not have been called.
    pub fn add(&mut self, key: &[u8], value: &[u8]) {
        debug_assert!(!self.finished, "add after finish");
        let shared = if self.entries_since_restart < self.restart_interval {
            shared_prefix_len(&self.last_key, key)
        } else {
            self.restarts.push(self.buffer.len() as u32);
            self.entries_since_restart = 0;
            0
        };
        let non_shared = key.len() - shared;
        put_varint32(&mut self.buffer, shared as u32);
        put_varint32(&mut self.buffer, non_shared as u32);
        put_varint32(&mut self.buffer, value.len() as u32);
        self.buffer.extend_from_slice(&key[shared..]);
        self.buffer.extend_from_slice(value);
        self.last_key.truncate(shared);
        self.last_key.extend_from_slice(&key[shared..]);
        self.entries_since_restart += 1;
    }

    /// Appends the restart array and returns the finished block. The bytes
    /// stay valid until the next `reset`.
    pub fn finish(&mut self) -> &[u8] {
        if !self.finished {
            for &restart in &self.restarts {
                put_fixed32(&mut self.buffer, restart);
            }
            put_fixed32(&mut self.buffer, self.restarts.len() as u32);
            self.finished = true;
        }
        &self.buffer
    }

    /// The size the block would have if finished now (LevelDB's
    /// `CurrentSizeEstimate`: entries + 4 per restart + 4).
    pub fn current_size_estimate(&self) -> usize {
        if self.finished {
            self.buffer.len()
        } else {
            self.buffer.len() + self.restarts.len() * 4 + 4
        }
    }

    /// True when no entry was added since the last reset.
    pub fn is_empty(&self) -> bool {
        self.buffer.is_empty()
    }

    /// The last key added (empty when none was).
    pub fn last_key(&self) -> &[u8] {
        &self.last_key
    }
}

/// Length of the common prefix of `a` and `b`, compared eight bytes at a
/// time (keys share long prefixes: the common start of nearby user keys).
fn shared_prefix_len(a: &[u8], b: &[u8]) -> usize {
    let limit = a.len().min(b.len());
    let mut n = 0;
    while n + 8 <= limit {
        let x = u64::from_le_bytes(a[n..n + 8].try_into().expect("8 bytes"));
        let y = u64::from_le_bytes(b[n..n + 8].try_into().expect("8 bytes"));
        let diff = x ^ y;
        if diff != 0 {
            // Little-endian: the lowest set bit is in the first differing byte.
            return n + (diff.trailing_zeros() / 8) as usize;
        }
        n += 8;
    }
    while n < limit && a[n] == b[n] {
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_block_is_one_restart_at_zero() {
        let mut b = BlockBuilder::new(16);
        assert!(b.is_empty());
        assert_eq!(b.current_size_estimate(), 8);
        assert_eq!(b.finish(), &[0, 0, 0, 0, 1, 0, 0, 0]);
    }

    #[test]
    fn format_md_data_block_example() {
        // §6.10: "k"@1 -> "v".
        let mut b = BlockBuilder::new(16);
        b.add(&[0x6b, 0x01, 0x01, 0, 0, 0, 0, 0, 0], b"v");
        assert_eq!(
            b.finish(),
            &[0x00, 0x09, 0x01, 0x6b, 0x01, 0x01, 0, 0, 0, 0, 0, 0, 0x76, 0, 0, 0, 0, 1, 0, 0, 0]
        );
    }

    #[test]
    fn restart_points_every_interval() {
        let mut b = BlockBuilder::new(2);
        for key in [&b"aa"[..], b"ab", b"ac", b"ad", b"ae"] {
            b.add(key, b"");
        }
        let estimate = b.current_size_estimate();
        let bytes = b.finish().to_vec();
        assert_eq!(bytes.len(), estimate);
        // Entries: "aa" 5 bytes, "ab" 4 bytes (shared 1), "ac" 5, "ad" 4, "ae" 5.
        let restarts: Vec<u32> = bytes[bytes.len() - 16..bytes.len() - 4]
            .chunks(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert_eq!(restarts, [0, 9, 18]);
        assert_eq!(&bytes[9..12], &[0, 2, 0]);
        assert_eq!(&bytes[5..8], &[1, 1, 0]);
    }

    #[test]
    fn shared_prefix_matches_the_bytewise_definition() {
        let keys: [&[u8]; 9] = [
            b"",
            b"a",
            b"abcdefgh",
            b"abcdefgi",
            b"abcdefghijklmnopq",
            b"abcdefghijklmnopr",
            b"abcdefghijklmnop",
            b"xbcdefghijklmnop",
            b"abcdefghijkXmnopq",
        ];
        for a in keys {
            for b in keys {
                let expected = a.iter().zip(b).take_while(|(x, y)| x == y).count();
                assert_eq!(shared_prefix_len(a, b), expected, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn reset_starts_over() {
        let mut b = BlockBuilder::new(1);
        b.add(b"x", b"y");
        b.finish();
        b.reset();
        assert!(b.is_empty());
        assert_eq!(b.last_key(), b"");
        b.add(b"a", b"b");
        assert_eq!(b.finish(), &[0, 1, 1, b'a', b'b', 0, 0, 0, 0, 1, 0, 0, 0]);
    }
}
