//! Block handles and the table footer (docs/format.md §6.3 and §6.4).
//!
//! A [`BlockHandle`] is `varint64 offset ++ varint64 size` and points at a
//! block inside a table file (the size excludes the 5-byte trailer). The
//! [`Footer`] is the table's last 48 bytes: the metaindex and index handles,
//! zero padding, and the magic number.
//!
//! ```text
//! BlockHandle:  varint64 offset | varint64 size        (2..=20 bytes; size
//!                                                        excludes the trailer)
//! Block on disk: | block (size bytes) | type u8 | masked crc32c fixed32 |
//!
//! Footer (the last 48 bytes of a table):
//!  0                                          40                 48
//!  +-------------------+-------------------+---+-----------------+
//!  | metaindex handle  | index handle      | 0 | magic fixed64   |
//!  +-------------------+-------------------+---+-----------------+
//!                                              57 fb 80 8b 24 75 47 db
//! e.g. 31 2f | 65 16 | 36 × 00 | magic: metaindex (49, 47), index (101, 22)
//! ```

use lsmkit_base::coding::{decode_fixed64, get_varint64, put_varint64, MAX_VARINT64_LEN};
use lsmkit_base::{Error, Result};

/// Bytes that follow every block on disk: one compression-type byte and a
/// masked CRC-32C (docs/format.md §6.2).
pub const BLOCK_TRAILER_LEN: usize = 5;

/// Length of the footer at the end of every table file.
pub const FOOTER_LEN: usize = 48;

/// The magic number that ends every table file, `0xdb4775248b80fb57`.
pub const TABLE_MAGIC_NUMBER: u64 = 0xdb47_7524_8b80_fb57;

/// Where a block lives in a table file: its first byte and its stored length
/// (without the trailer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct BlockHandle {
    /// File offset of the block's first byte.
    pub offset: u64,
    /// Stored length of the block, excluding the 5-byte trailer.
    pub size: u64,
}

impl BlockHandle {
    /// The longest encoding of a handle: two 10-byte varints.
    pub const MAX_ENCODED_LEN: usize = 2 * MAX_VARINT64_LEN;

    /// A handle for `size` bytes at `offset`.
    pub fn new(offset: u64, size: u64) -> BlockHandle {
        BlockHandle { offset, size }
    }

    /// Appends `varint64 offset ++ varint64 size` to `dst`.
    pub fn encode_to(&self, dst: &mut Vec<u8>) {
        put_varint64(dst, self.offset);
        put_varint64(dst, self.size);
    }

    /// The encoded handle as a fresh vector.
    pub fn encoded(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::MAX_ENCODED_LEN);
        self.encode_to(&mut out);
        out
    }

    /// Reads a handle from the front of `input` and advances past it. Bytes
    /// after the handle are left for the caller (an index value may carry
    /// more, which LevelDB ignores).
    pub fn decode_from(input: &mut &[u8]) -> Result<BlockHandle> {
        let offset = get_varint64(input).map_err(|e| Error::corruption(format!("bad block handle: {e}")))?;
        let size = get_varint64(input).map_err(|e| Error::corruption(format!("bad block handle: {e}")))?;
        Ok(BlockHandle { offset, size })
    }

    /// Decodes a handle that starts `value` (extra bytes are ignored).
    pub fn decode(mut value: &[u8]) -> Result<BlockHandle> {
        Self::decode_from(&mut value)
    }
}

/// The 48 bytes at the end of a table: where its metaindex and index blocks are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Footer {
    /// Handle of the metaindex block (§6.8).
    pub metaindex_handle: BlockHandle,
    /// Handle of the index block (§6.7).
    pub index_handle: BlockHandle,
}

impl Footer {
    /// The footer's bytes: both handles from byte 0, zeros up to byte 40,
    /// then the magic number.
    pub fn encode(&self) -> [u8; FOOTER_LEN] {
        let mut handles = Vec::with_capacity(BlockHandle::MAX_ENCODED_LEN * 2);
        self.metaindex_handle.encode_to(&mut handles);
        self.index_handle.encode_to(&mut handles);
        let mut out = [0u8; FOOTER_LEN];
        out[..handles.len()].copy_from_slice(&handles);
        out[FOOTER_LEN - 8..].copy_from_slice(&TABLE_MAGIC_NUMBER.to_le_bytes());
        out
    }

    /// Decodes a footer, checking the magic number first and then the two
    /// handles, as LevelDB does. The padding's contents are not checked.
    pub fn decode(bytes: &[u8]) -> Result<Footer> {
        if bytes.len() < FOOTER_LEN {
            return Err(Error::corruption("file is too short to be an sstable"));
        }
        let bytes = &bytes[bytes.len() - FOOTER_LEN..];
        if decode_fixed64(&bytes[FOOTER_LEN - 8..]) != TABLE_MAGIC_NUMBER {
            return Err(Error::corruption("not an sstable (bad magic number)"));
        }
        let mut input = &bytes[..FOOTER_LEN - 8];
        let metaindex_handle = BlockHandle::decode_from(&mut input)?;
        let index_handle = BlockHandle::decode_from(&mut input)?;
        Ok(Footer { metaindex_handle, index_handle })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_md_footer_example() {
        // §6.10: metaindex at 49 (47 bytes), index at 101 (22 bytes).
        let footer =
            Footer { metaindex_handle: BlockHandle::new(49, 47), index_handle: BlockHandle::new(101, 22) };
        let bytes = footer.encode();
        assert_eq!(&bytes[..4], &[0x31, 0x2f, 0x65, 0x16]);
        assert!(bytes[4..40].iter().all(|&b| b == 0));
        assert_eq!(&bytes[40..], &[0x57, 0xfb, 0x80, 0x8b, 0x24, 0x75, 0x47, 0xdb]);
        assert_eq!(Footer::decode(&bytes).unwrap(), footer);
    }

    #[test]
    fn largest_handles_fit_the_footer() {
        let max = BlockHandle::new(u64::MAX, u64::MAX);
        let footer = Footer { metaindex_handle: max, index_handle: max };
        assert_eq!(Footer::decode(&footer.encode()).unwrap(), footer);
        assert_eq!(max.encoded().len(), BlockHandle::MAX_ENCODED_LEN);
    }

    #[test]
    fn bad_magic_and_short_input_are_corruption() {
        let mut bytes = Footer::default().encode();
        assert!(Footer::decode(&bytes[..47]).unwrap_err().is_corruption());
        bytes[47] ^= 1;
        let err = Footer::decode(&bytes).unwrap_err();
        assert!(err.to_string().contains("bad magic"), "{err}");
    }

    #[test]
    fn unterminated_handle_is_corruption() {
        let mut bytes = [0x80u8; FOOTER_LEN];
        bytes[40..].copy_from_slice(&TABLE_MAGIC_NUMBER.to_le_bytes());
        assert!(Footer::decode(&bytes).unwrap_err().is_corruption());
        assert!(BlockHandle::decode(&[0x05]).unwrap_err().is_corruption());
        assert_eq!(BlockHandle::decode(&[0x00, 0x15, 0xaa]).unwrap(), BlockHandle::new(0, 21));
    }
}
