//! CRC-32C (Castagnoli) and LevelDB's mask (docs/format.md §2).
//!
//! Every CRC stored on disk is masked: a CRC computed over bytes that
//! themselves contain CRCs stays well distributed.
//!
//! ```text
//! mask(c)   = rotate_right(c, 15) + 0xa282ead8    (wrapping)
//! unmask(m) = rotate_left(m - 0xa282ead8, 15)
//! log record:  masked crc32c(type ++ payload)          in the 7-byte header
//! table block: masked crc32c(stored bytes ++ type)     in the 5-byte trailer
//! e.g. crc32c(01 ++ batch) = 0x3807aee5 -> stored 0x004d5ae7 -> e7 5a 4d 00
//! ```

const MASK_DELTA: u32 = 0xa282_ead8;

/// CRC-32C of `data`.
pub fn value(data: &[u8]) -> u32 {
    crc32c::crc32c(data)
}

/// CRC-32C of the concatenation of the bytes that produced `crc` and `data`.
pub fn extend(crc: u32, data: &[u8]) -> u32 {
    crc32c::crc32c_append(crc, data)
}

/// The stored form of `crc`: rotated right by 15 bits plus a constant.
pub fn mask(crc: u32) -> u32 {
    crc.rotate_right(15).wrapping_add(MASK_DELTA)
}

/// Inverse of [`mask`].
pub fn unmask(masked: u32) -> u32 {
    masked.wrapping_sub(MASK_DELTA).rotate_left(15)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn upstream_vectors() {
        assert_eq!(value(b"123456789"), 0xe306_9283);
        assert_eq!(value(&[0u8; 32]), 0x8a91_36aa);
        assert_eq!(value(&[0xffu8; 32]), 0x62a8_ab43);
        let ascending: Vec<u8> = (0..32).collect();
        assert_eq!(value(&ascending), 0x46dd_794e);
        let descending: Vec<u8> = (0..32).rev().collect();
        assert_eq!(value(&descending), 0x113f_db5c);
    }

    #[test]
    fn mask_vectors() {
        assert_eq!(mask(0), 0xa282_ead8);
        assert_eq!(value(b"foo"), 0xcfc4_ae1d);
        assert_eq!(mask(value(b"foo")), 0xfebe_8a61);
        // The log record of docs/format.md §3.4: crc32c(type ++ payload) and its stored form.
        assert_eq!(mask(0x3807_aee5), 0x004d_5ae7);
        assert_eq!(mask(value(&[0x02])), 0xe9d0_5164);
    }

    #[test]
    fn extend_matches_whole() {
        assert_eq!(extend(value(b"hello "), b"world"), value(b"hello world"));
    }

    proptest! {
        #[test]
        fn unmask_inverts_mask(c in any::<u32>()) {
            prop_assert_eq!(unmask(mask(c)), c);
            prop_assert_ne!(mask(c), c);
        }

        #[test]
        fn extend_is_concatenation(a in proptest::collection::vec(any::<u8>(), 0..64),
                                   b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut ab = a.clone();
            ab.extend_from_slice(&b);
            prop_assert_eq!(extend(value(&a), &b), value(&ab));
        }
    }
}
