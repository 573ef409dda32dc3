//! The TTL value frame: how a database opened with entry expiry stores every
//! value — a one-byte tag, an optional fixed64 expiry time, then the user's
//! value. An lsmkit extension, not a LevelDB format: see "Entry expiry
//! (TTL)" in `docs/format-extensions.md` (fixed64 is docs/format.md §1).
//!
//! ```text
//! 0x00 | user value                         never expires
//! 0x01 | fixed64 expire_at | user value     expires when now >= expire_at
//! ```
//!
//! Times are milliseconds since the Unix epoch (1970-01-01 00:00:00 UTC).
//! Only the value bytes are framed; keys, the `WriteBatch` layout and the
//! table format are LevelDB's.
//!
//! ```
//! use lsmkit_wal::ttl_value::{encode_ttl_value, TtlValue};
//!
//! let mut stored = Vec::new();
//! encode_ttl_value(&mut stored, Some(1_000), b"v");
//! assert_eq!(stored, [1, 0xe8, 3, 0, 0, 0, 0, 0, 0, b'v']);
//! let decoded = TtlValue::decode(&stored)?;
//! assert_eq!((decoded.expire_at, decoded.value), (Some(1_000), &b"v"[..]));
//! assert!(!decoded.is_expired(999) && decoded.is_expired(1_000));
//! # Ok::<(), lsmkit_base::Error>(())
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lsmkit_base::coding::{decode_fixed64, put_fixed64, put_varint32};
use lsmkit_base::{Error, Result};

/// Tag of a value that never expires.
pub const TTL_TAG_NO_EXPIRY: u8 = 0x00;

/// Tag of a value followed by its fixed64 expiry time.
pub const TTL_TAG_EXPIRES: u8 = 0x01;

/// Bytes of the frame before the user value of a value that expires.
pub const TTL_EXPIRING_FRAME_LEN: usize = 9;

/// A stored value split into its expiry time and the user's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TtlValue<'a> {
    /// When the entry expires (milliseconds since the Unix epoch); `None`
    /// for a value that never expires.
    pub expire_at: Option<u64>,
    /// The value the user wrote.
    pub value: &'a [u8],
}

impl<'a> TtlValue<'a> {
    /// Splits a stored value. An empty value, an unknown tag or a truncated
    /// expiry time is `Error::Corruption`.
    pub fn decode(stored: &'a [u8]) -> Result<TtlValue<'a>> {
        let Some((&tag, rest)) = stored.split_first() else {
            return Err(Error::corruption("TTL value frame is empty (no tag byte)"));
        };
        match tag {
            TTL_TAG_NO_EXPIRY => Ok(TtlValue { expire_at: None, value: rest }),
            TTL_TAG_EXPIRES => {
                if rest.len() < 8 {
                    return Err(Error::corruption(format!(
                        "TTL value frame truncated: the expiry time needs 8 bytes, {} present",
                        rest.len()
                    )));
                }
                let (time, value) = rest.split_at(8);
                Ok(TtlValue { expire_at: Some(decode_fixed64(time)), value })
            }
            other => Err(Error::corruption(format!("unknown TTL value frame tag 0x{other:02x}"))),
        }
    }

    /// True when the entry has expired at `now` (milliseconds since the epoch).
    pub fn is_expired(&self, now: u64) -> bool {
        self.expire_at.is_some_and(|expire_at| now >= expire_at)
    }

    /// Bytes of the frame before the user value.
    pub fn frame_len(&self) -> usize {
        match self.expire_at {
            None => 1,
            Some(_) => TTL_EXPIRING_FRAME_LEN,
        }
    }
}

/// Appends the framed form of `value` (expiring at `expire_at`, or never).
pub fn encode_ttl_value(dst: &mut Vec<u8>, expire_at: Option<u64>, value: &[u8]) {
    match expire_at {
        None => dst.push(TTL_TAG_NO_EXPIRY),
        Some(time) => {
            dst.push(TTL_TAG_EXPIRES);
            put_fixed64(dst, time);
        }
    }
    dst.extend_from_slice(value);
}

/// Appends the framed form of `value` as a length-prefixed slice (varint32
/// length of the whole frame, then the frame), the way a `WriteBatch` stores
/// a value (docs/format.md §4).
pub fn put_length_prefixed_ttl_value(dst: &mut Vec<u8>, expire_at: Option<u64>, value: &[u8]) {
    let frame_len = if expire_at.is_some() { TTL_EXPIRING_FRAME_LEN } else { 1 };
    put_varint32(dst, (frame_len + value.len()) as u32);
    encode_ttl_value(dst, expire_at, value);
}

/// The current system time in milliseconds since the Unix epoch (0 for a
/// clock set before 1970).
pub fn system_time_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
}

/// The expiry time of an entry written at `now` to live for `ttl` (whole
/// milliseconds; saturates instead of overflowing).
pub fn expire_at_after(now: u64, ttl: Duration) -> u64 {
    now.saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsmkit_base::coding::get_length_prefixed_slice;

    #[test]
    fn frames_round_trip() {
        for expire_at in [None, Some(0), Some(1_700_000_000_000), Some(u64::MAX)] {
            for value in [&b""[..], b"v", &[0u8; 300]] {
                let mut stored = Vec::new();
                encode_ttl_value(&mut stored, expire_at, value);
                let decoded = TtlValue::decode(&stored).expect("a frame just written decodes");
                assert_eq!(decoded, TtlValue { expire_at, value });
                assert_eq!(decoded.frame_len() + value.len(), stored.len());

                let mut prefixed = Vec::new();
                put_length_prefixed_ttl_value(&mut prefixed, expire_at, value);
                let mut input = &prefixed[..];
                assert_eq!(get_length_prefixed_slice(&mut input).expect("length-prefixed"), &stored[..]);
                assert!(input.is_empty());
            }
        }
    }

    #[test]
    fn plain_frame_is_tag_then_value() {
        let mut stored = Vec::new();
        encode_ttl_value(&mut stored, None, b"abc");
        assert_eq!(stored, b"\x00abc");
    }

    #[test]
    fn documented_example_bytes() {
        // docs/format-extensions.md, "Entry expiry (TTL)".
        let mut stored = Vec::new();
        let expire_at = expire_at_after(1_700_000_000_000, Duration::from_secs(10));
        encode_ttl_value(&mut stored, Some(expire_at), b"v");
        assert_eq!(stored, [0x01, 0x10, 0x8f, 0xe5, 0xcf, 0x8b, 0x01, 0x00, 0x00, 0x76]);
    }

    #[test]
    fn expiry_is_inclusive_of_the_deadline() {
        let value = TtlValue { expire_at: Some(10), value: b"" };
        assert!(!value.is_expired(9));
        assert!(value.is_expired(10));
        assert!(value.is_expired(11));
        assert!(!TtlValue { expire_at: None, value: b"" }.is_expired(u64::MAX));
    }

    #[test]
    fn malformed_frames_are_corruption() {
        for stored in [&b""[..], b"\x02abc", b"\xff", b"\x01", b"\x01\x00\x00\x00\x00\x00\x00\x00"] {
            let err = TtlValue::decode(stored).expect_err("malformed frame");
            assert!(err.is_corruption(), "{stored:?}: {err}");
        }
    }

    fn ops(batch: &crate::WriteBatch) -> Vec<(u8, Vec<u8>, Vec<u8>)> {
        batch
            .ops()
            .map(|op| op.map(|op| (op.kind as u8, op.key.to_vec(), op.value.to_vec())))
            .collect::<Result<_>>()
            .expect("well-formed batch")
    }

    fn framed(expire_at: Option<u64>, value: &[u8]) -> Vec<u8> {
        let mut stored = Vec::new();
        encode_ttl_value(&mut stored, expire_at, value);
        stored
    }

    #[test]
    fn first_ttl_put_frames_earlier_puts_and_later_plain_puts() {
        let mut batch = crate::WriteBatch::new();
        batch.put(b"a", b"1");
        batch.delete(b"b");
        assert!(!batch.is_ttl_framed());
        batch.put_with_expiry(b"c", b"3", 77);
        batch.put(b"d", b"4");
        assert!(batch.is_ttl_framed());
        assert_eq!(batch.count(), 4);
        assert_eq!(
            ops(&batch),
            [
                (1, b"a".to_vec(), framed(None, b"1")),
                (0, b"b".to_vec(), Vec::new()),
                (1, b"c".to_vec(), framed(Some(77), b"3")),
                (1, b"d".to_vec(), framed(None, b"4")),
            ]
        );
        // Framing twice changes nothing; clearing makes the batch plain.
        let before = batch.clone();
        batch.frame_for_ttl();
        assert_eq!(batch, before);
        batch.clear();
        batch.put(b"e", b"5");
        assert!(!batch.is_ttl_framed());
        assert_eq!(ops(&batch), [(1, b"e".to_vec(), b"5".to_vec())]);
    }

    #[test]
    fn append_frames_the_plain_side() {
        let mut plain = crate::WriteBatch::new();
        plain.put(b"p", b"plain");
        let mut with_ttl = crate::WriteBatch::new();
        with_ttl.put_with_expiry(b"t", b"ttl", 5);

        let mut first_plain = plain.clone();
        first_plain.append(&with_ttl);
        let mut first_framed = with_ttl.clone();
        first_framed.append(&plain);
        for batch in [&first_plain, &first_framed] {
            assert!(batch.is_ttl_framed());
            assert_eq!(batch.count(), 2);
        }
        assert_eq!(
            ops(&first_plain),
            [(1, b"p".to_vec(), framed(None, b"plain")), (1, b"t".to_vec(), framed(Some(5), b"ttl"))]
        );
        assert_eq!(
            ops(&first_framed),
            [(1, b"t".to_vec(), framed(Some(5), b"ttl")), (1, b"p".to_vec(), framed(None, b"plain"))]
        );

        // Plain batches stay byte-for-byte LevelDB's.
        let mut both_plain = plain.clone();
        both_plain.append(&plain);
        assert!(!both_plain.is_ttl_framed());
        assert_eq!(
            ops(&both_plain),
            [(1, b"p".to_vec(), b"plain".to_vec()), (1, b"p".to_vec(), b"plain".to_vec())]
        );
    }

    #[test]
    fn framing_keeps_a_malformed_batch_malformed() {
        let mut data = crate::WriteBatch::new().into_data();
        data[8] = 2; // two operations declared
        data.extend_from_slice(b"\x01\x01k\x01v"); // put k v
        data.extend_from_slice(b"\x01\x05k"); // put with a truncated key
        let mut batch = crate::WriteBatch::from_data(data).expect("header is fine");
        batch.frame_for_ttl();
        let decoded: Vec<_> = batch.ops().collect();
        assert_eq!(decoded.len(), 2);
        let first = decoded[0].as_ref().expect("first op is fine");
        assert_eq!((first.key, first.value), (&b"k"[..], &framed(None, b"v")[..]));
        assert!(decoded[1].as_ref().expect_err("second op is malformed").is_corruption());
    }

    #[test]
    fn expire_at_after_saturates() {
        assert_eq!(expire_at_after(1_000, Duration::from_millis(1_500)), 2_500);
        assert_eq!(expire_at_after(1_000, Duration::from_micros(999)), 1_000);
        assert_eq!(expire_at_after(u64::MAX - 1, Duration::from_secs(10)), u64::MAX);
        assert_eq!(expire_at_after(5, Duration::MAX), u64::MAX);
    }
}
