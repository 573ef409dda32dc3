//! Primitive encodings: fixed32/64 little-endian, varint32/64 and
//! length-prefixed slices (docs/format.md §1).
//!
//! Encoders append to a `Vec<u8>` and always emit the shortest form.
//! Decoders take a cursor (`&mut &[u8]`), advance it past what they read and
//! return a [`DecodeError`] on truncated or over-long input; none panics.
//!
//! ```text
//! fixed32 / fixed64      4 / 8 bytes, little-endian          17 -> 11 00 00 00
//! varint32 / varint64    7 bits per byte, low group first;   300 -> ac 02
//!                        top bit set = more bytes follow     (at most 5 / 10 bytes)
//! length-prefixed slice  varint32 len | len bytes            "k" -> 01 6b
//! ```

use std::fmt;

use crate::error::Error;

/// Why a primitive could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// The input ended in the middle of the value.
    Truncated,
    /// A varint ran past its maximum length (5 bytes for 32 bits, 10 for 64)
    /// without a terminating byte.
    Overlong,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated => f.write_str("truncated input"),
            DecodeError::Overlong => f.write_str("varint too long"),
        }
    }
}

impl std::error::Error for DecodeError {}

impl From<DecodeError> for Error {
    fn from(e: DecodeError) -> Error {
        Error::corruption(e.to_string())
    }
}

/// Maximum encoded length of a varint32.
pub const MAX_VARINT32_LEN: usize = 5;
/// Maximum encoded length of a varint64.
pub const MAX_VARINT64_LEN: usize = 10;

/// Appends `value` as 4 little-endian bytes.
pub fn put_fixed32(dst: &mut Vec<u8>, value: u32) {
    dst.extend_from_slice(&value.to_le_bytes());
}

/// Appends `value` as 8 little-endian bytes.
pub fn put_fixed64(dst: &mut Vec<u8>, value: u64) {
    dst.extend_from_slice(&value.to_le_bytes());
}

/// Writes `value` little-endian into the first 4 bytes of `dst` (which must hold 4).
pub fn encode_fixed32(dst: &mut [u8], value: u32) {
    dst[..4].copy_from_slice(&value.to_le_bytes());
}

/// Writes `value` little-endian into the first 8 bytes of `dst` (which must hold 8).
pub fn encode_fixed64(dst: &mut [u8], value: u64) {
    dst[..8].copy_from_slice(&value.to_le_bytes());
}

/// Reads a little-endian u32 from the first 4 bytes of `src`.
///
/// The caller has checked that `src` holds at least 4 bytes; for untrusted
/// input of unknown length use [`get_fixed32`].
pub fn decode_fixed32(src: &[u8]) -> u32 {
    u32::from_le_bytes([src[0], src[1], src[2], src[3]])
}

/// Reads a little-endian u64 from the first 8 bytes of `src` (which must hold 8).
pub fn decode_fixed64(src: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&src[..8]);
    u64::from_le_bytes(b)
}

/// Appends `value` as a varint (1–5 bytes).
pub fn put_varint32(dst: &mut Vec<u8>, value: u32) {
    put_varint64(dst, u64::from(value));
}

/// Appends `value` as a varint (1–10 bytes).
pub fn put_varint64(dst: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        dst.push((value as u8) | 0x80);
        value >>= 7;
    }
    dst.push(value as u8);
}

/// How many bytes `value` takes as a varint.
pub fn varint_length(mut value: u64) -> usize {
    let mut len = 1;
    while value >= 0x80 {
        value >>= 7;
        len += 1;
    }
    len
}

/// Appends `varint32(len) ++ data`.
pub fn put_length_prefixed_slice(dst: &mut Vec<u8>, data: &[u8]) {
    put_varint32(dst, data.len() as u32);
    dst.extend_from_slice(data);
}

/// Reads a fixed32 from the front of `input` and advances past it.
pub fn get_fixed32(input: &mut &[u8]) -> Result<u32, DecodeError> {
    if input.len() < 4 {
        return Err(DecodeError::Truncated);
    }
    let value = decode_fixed32(input);
    *input = &input[4..];
    Ok(value)
}

/// Reads a fixed64 from the front of `input` and advances past it.
pub fn get_fixed64(input: &mut &[u8]) -> Result<u64, DecodeError> {
    if input.len() < 8 {
        return Err(DecodeError::Truncated);
    }
    let value = decode_fixed64(input);
    *input = &input[8..];
    Ok(value)
}

fn get_varint(input: &mut &[u8], max_len: usize, bits: u32) -> Result<u64, DecodeError> {
    let mut result: u64 = 0;
    for (i, &byte) in input.iter().enumerate().take(max_len) {
        let shift = 7 * i as u32;
        // Bits beyond the value's width in the last byte are dropped, as LevelDB does.
        result |= u64::from(byte & 0x7f).checked_shl(shift).unwrap_or(0);
        if byte & 0x80 == 0 {
            *input = &input[i + 1..];
            if bits < 64 {
                result &= (1u64 << bits) - 1;
            }
            return Ok(result);
        }
    }
    if input.len() >= max_len {
        Err(DecodeError::Overlong)
    } else {
        Err(DecodeError::Truncated)
    }
}

/// Reads a varint32 (at most 5 bytes) from the front of `input` and advances past it.
pub fn get_varint32(input: &mut &[u8]) -> Result<u32, DecodeError> {
    get_varint(input, MAX_VARINT32_LEN, 32).map(|v| v as u32)
}

/// Reads a varint64 (at most 10 bytes) from the front of `input` and advances past it.
pub fn get_varint64(input: &mut &[u8]) -> Result<u64, DecodeError> {
    get_varint(input, MAX_VARINT64_LEN, 64)
}

/// Reads `varint32(len) ++ data` from the front of `input` and returns `data`.
pub fn get_length_prefixed_slice<'a>(input: &mut &'a [u8]) -> Result<&'a [u8], DecodeError> {
    let mut rest = *input;
    let len = get_varint32(&mut rest)? as usize;
    if rest.len() < len {
        return Err(DecodeError::Truncated);
    }
    let (data, after) = rest.split_at(len);
    *input = after;
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn varint64_bytes(v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        put_varint64(&mut out, v);
        out
    }

    #[test]
    fn golden_varints_from_format_md() {
        let cases: &[(u64, &[u8])] = &[
            (0, &[0x00]),
            (1, &[0x01]),
            (127, &[0x7f]),
            (128, &[0x80, 0x01]),
            (300, &[0xac, 0x02]),
            (16383, &[0xff, 0x7f]),
            (16384, &[0x80, 0x80, 0x01]),
            (1 << 21, &[0x80, 0x80, 0x80, 0x01]),
            (0xffff_ffff, &[0xff, 0xff, 0xff, 0xff, 0x0f]),
            (u64::MAX, &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
        ];
        for &(value, bytes) in cases {
            assert_eq!(varint64_bytes(value), bytes, "encoding {value}");
            assert_eq!(varint_length(value), bytes.len());
            let mut input = bytes;
            assert_eq!(get_varint64(&mut input), Ok(value));
            assert!(input.is_empty());
            if value <= u64::from(u32::MAX) {
                let mut small = Vec::new();
                put_varint32(&mut small, value as u32);
                assert_eq!(small, bytes);
                let mut input = bytes;
                assert_eq!(get_varint32(&mut input), Ok(value as u32));
            }
        }
    }

    #[test]
    fn golden_fixed32() {
        let mut out = Vec::new();
        put_fixed32(&mut out, 0x004d_5ae7);
        assert_eq!(out, [0xe7, 0x5a, 0x4d, 0x00]);
        put_fixed64(&mut out, 0x0102_0304_0506_0708);
        assert_eq!(&out[4..], [8, 7, 6, 5, 4, 3, 2, 1]);
        let mut input = &out[..];
        assert_eq!(get_fixed32(&mut input), Ok(0x004d_5ae7));
        assert_eq!(get_fixed64(&mut input), Ok(0x0102_0304_0506_0708));
        assert_eq!(get_fixed32(&mut input), Err(DecodeError::Truncated));
    }

    #[test]
    fn overlong_forms_are_accepted_within_the_limit() {
        let mut input: &[u8] = &[0x80, 0x00];
        assert_eq!(get_varint32(&mut input), Ok(0));
        // Fifth byte bits that do not fit in 32 bits are dropped.
        let mut input: &[u8] = &[0xff, 0xff, 0xff, 0xff, 0x7f];
        assert_eq!(get_varint32(&mut input), Ok(u32::MAX));
    }

    #[test]
    fn truncated_and_overlong_varints_fail() {
        let mut input: &[u8] = &[0x80, 0x80];
        assert_eq!(get_varint32(&mut input), Err(DecodeError::Truncated));
        assert_eq!(input.len(), 2, "a failed decode does not advance");
        let mut input: &[u8] = &[0x80; 5];
        assert_eq!(get_varint32(&mut input), Err(DecodeError::Overlong));
        let mut input: &[u8] = &[0xff; 11];
        assert_eq!(get_varint64(&mut input), Err(DecodeError::Overlong));
        let mut input: &[u8] = &[];
        assert_eq!(get_varint64(&mut input), Err(DecodeError::Truncated));
    }

    #[test]
    fn length_prefixed_slice_checks_length() {
        let mut out = Vec::new();
        put_length_prefixed_slice(&mut out, b"hello");
        assert_eq!(out, b"\x05hello");
        let mut input = &out[..];
        assert_eq!(get_length_prefixed_slice(&mut input), Ok(&b"hello"[..]));
        let mut short = &out[..4];
        assert_eq!(get_length_prefixed_slice(&mut short), Err(DecodeError::Truncated));
    }

    proptest! {
        #[test]
        fn varint64_round_trips(v in any::<u64>()) {
            let bytes = varint64_bytes(v);
            prop_assert_eq!(bytes.len(), varint_length(v));
            let mut input = &bytes[..];
            prop_assert_eq!(get_varint64(&mut input), Ok(v));
            prop_assert!(input.is_empty());
        }

        #[test]
        fn varint32_round_trips(v in any::<u32>()) {
            let mut bytes = Vec::new();
            put_varint32(&mut bytes, v);
            let mut input = &bytes[..];
            prop_assert_eq!(get_varint32(&mut input), Ok(v));
        }

        #[test]
        fn every_prefix_of_a_sequence_decodes_or_reports_truncation(
            values in proptest::collection::vec(any::<u64>(), 1..8),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut bytes = Vec::new();
            for v in &values {
                put_varint64(&mut bytes, *v);
                put_length_prefixed_slice(&mut bytes, &v.to_le_bytes());
            }
            let cut = cut.index(bytes.len());
            let mut input = &bytes[..cut];
            for v in &values {
                match get_varint64(&mut input) {
                    Ok(got) => prop_assert_eq!(got, *v),
                    Err(e) => { prop_assert_eq!(e, DecodeError::Truncated); break; }
                }
                match get_length_prefixed_slice(&mut input) {
                    Ok(got) => prop_assert_eq!(got, &v.to_le_bytes()[..]),
                    Err(e) => { prop_assert_eq!(e, DecodeError::Truncated); break; }
                }
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..32)) {
            let mut input = &bytes[..];
            while get_varint64(&mut input).is_ok() {}
            let mut input = &bytes[..];
            while get_length_prefixed_slice(&mut input).is_ok() {}
        }
    }
}
