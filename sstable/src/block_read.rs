//! Reading one block from a table file (docs/format.md §6.2 and §6.3): bounds
//! checks on the handle, the 5-byte trailer, the optional checksum check and
//! Snappy decompression.

use bytes::Bytes;
use lsmkit_base::coding::decode_fixed32;
use lsmkit_base::crc;
use lsmkit_base::fs::{RandomAccessFile, ReadView};
use lsmkit_base::{Error, Result};

use crate::block_handle::{BlockHandle, BLOCK_TRAILER_LEN};
use crate::compression::{snappy_decompress, NO_COMPRESSION, SNAPPY_COMPRESSION};

/// The stored contents of one block, trailer removed and decompressed.
#[derive(Debug)]
pub(crate) struct BlockContents {
    /// The block's bytes: a view of the buffer the file returned when
    /// stored uncompressed and the file handed over a buffer of its own
    /// (positional reads), a copy when it lent its bytes (a mapping), a
    /// fresh buffer when decompressed.
    pub data: Bytes,
    /// True when the block was stored Snappy-compressed.
    pub was_compressed: bool,
}

/// Reads the block `handle` points at. `blocks_end` is where the blocks of
/// the file end (the footer's offset): a handle reaching past it is refused
/// before anything is read or allocated. Errors carry no location; the
/// caller adds the file and the block offset.
///
/// The bytes are decoded where the file has them
/// ([`RandomAccessFile::read_with`]): a memory-mapped file's Snappy block is
/// decompressed straight out of the mapping, with no copy in between.
pub(crate) fn read_block(
    file: &dyn RandomAccessFile,
    blocks_end: u64,
    handle: BlockHandle,
    verify_checksum: bool,
) -> Result<BlockContents> {
    let size = checked_size(blocks_end, handle)?;
    let mut contents = None;
    file.read_with(handle.offset, size + BLOCK_TRAILER_LEN, &mut |view| {
        contents = Some(decode_block(view, size, verify_checksum)?);
        Ok(())
    })?;
    contents.ok_or_else(|| Error::corruption("block read returned nothing"))
}

/// [`read_block`] with the block's bytes (`len` bytes at `offset`, trailer
/// included) fetched by `read` (a readahead buffer, say). A stored
/// uncompressed block is a view of what `read` returned.
pub(crate) fn read_block_via(
    blocks_end: u64,
    handle: BlockHandle,
    verify_checksum: bool,
    read: impl FnOnce(u64, usize) -> Result<Bytes>,
) -> Result<BlockContents> {
    let size = checked_size(blocks_end, handle)?;
    let bytes = read(handle.offset, size + BLOCK_TRAILER_LEN)?;
    decode_block(ReadView::Owned(bytes), size, verify_checksum)
}

/// The block's size when `handle` lies inside the blocks (which end at
/// `blocks_end`), trailer included.
fn checked_size(blocks_end: u64, handle: BlockHandle) -> Result<usize> {
    let end = handle.offset.checked_add(handle.size).and_then(|e| e.checked_add(BLOCK_TRAILER_LEN as u64));
    let (Some(end), Ok(size)) = (end, usize::try_from(handle.size)) else {
        return Err(Error::corruption(format!("block handle out of range: {handle:?}")));
    };
    if end > blocks_end {
        return Err(Error::corruption(format!(
            "block handle {}+{} runs past the end of the blocks at {blocks_end}",
            handle.offset, handle.size
        )));
    }
    Ok(size)
}

/// Checks and decodes the stored block in `view` (`size` bytes and the
/// trailer).
fn decode_block(view: ReadView<'_>, size: usize, verify_checksum: bool) -> Result<BlockContents> {
    let bytes = view.as_slice();
    if bytes.len() != size + BLOCK_TRAILER_LEN {
        return Err(Error::corruption(format!(
            "truncated block read: wanted {} bytes, got {}",
            size + BLOCK_TRAILER_LEN,
            bytes.len()
        )));
    }
    let kind = bytes[size];
    if verify_checksum {
        let stored = crc::unmask(decode_fixed32(&bytes[size + 1..]));
        let actual = crc::value(&bytes[..size + 1]);
        if stored != actual {
            return Err(Error::corruption("block checksum mismatch"));
        }
    }
    match kind {
        NO_COMPRESSION => Ok(BlockContents { data: view.to_bytes(0..size), was_compressed: false }),
        SNAPPY_COMPRESSION => {
            let raw = snappy_decompress(&bytes[..size])?;
            Ok(BlockContents { data: Bytes::from(raw), was_compressed: true })
        }
        other => Err(Error::corruption(format!("bad block type {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A file over a vector, for reads at offsets.
    struct VecFile(Bytes);

    impl RandomAccessFile for VecFile {
        fn read_at(&self, offset: u64, len: usize) -> Result<Bytes> {
            let start = (offset as usize).min(self.0.len());
            let end = start.saturating_add(len).min(self.0.len());
            Ok(self.0.slice(start..end))
        }
        fn len(&self) -> u64 {
            self.0.len() as u64
        }
    }

    fn stored(contents: &[u8], kind: u8) -> Vec<u8> {
        let mut out = contents.to_vec();
        out.push(kind);
        out.extend_from_slice(&crc::mask(crc::extend(crc::value(contents), &[kind])).to_le_bytes());
        out
    }

    #[test]
    fn reads_raw_and_snappy_blocks() {
        let raw = b"hello hello hello hello hello hello".to_vec();
        let compressed = snap::raw::Encoder::new().compress_vec(&raw).unwrap();
        let mut file = stored(&raw, NO_COMPRESSION);
        let second = file.len() as u64;
        file.extend(stored(&compressed, SNAPPY_COMPRESSION));
        let len = file.len() as u64;
        let file = Arc::new(VecFile(Bytes::from(file)));
        let a = read_block(file.as_ref(), len, BlockHandle::new(0, raw.len() as u64), true).unwrap();
        assert_eq!((&a.data[..], a.was_compressed), (&raw[..], false));
        let b =
            read_block(file.as_ref(), len, BlockHandle::new(second, compressed.len() as u64), true).unwrap();
        assert_eq!((&b.data[..], b.was_compressed), (&raw[..], true));
    }

    #[test]
    fn checksum_mismatch_only_when_verifying() {
        let mut file = stored(b"abcdef", NO_COMPRESSION);
        file[2] ^= 0x10;
        let file = VecFile(Bytes::from(file));
        let handle = BlockHandle::new(0, 6);
        assert!(read_block(&file, 11, handle, true).unwrap_err().to_string().contains("checksum"));
        assert_eq!(&read_block(&file, 11, handle, false).unwrap().data[..], b"absdef");
    }

    #[test]
    fn bad_type_and_bad_handles_are_corruption() {
        let file = VecFile(Bytes::from(stored(b"abcdef", 7)));
        assert!(read_block(&file, 11, BlockHandle::new(0, 6), true)
            .unwrap_err()
            .to_string()
            .contains("bad block type"));
        for handle in [BlockHandle::new(0, 7), BlockHandle::new(u64::MAX, 1), BlockHandle::new(1, u64::MAX)] {
            assert!(read_block(&file, 11, handle, false).unwrap_err().is_corruption(), "{handle:?}");
        }
        // The handle fits the claimed bounds but the file is shorter.
        assert!(read_block(&file, 100, BlockHandle::new(10, 20), false).unwrap_err().is_corruption());
    }
}
