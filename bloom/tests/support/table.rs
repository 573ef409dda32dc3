//! Test-only reader (and filter-replacing rewriter) for uncompressed LevelDB
//! table files: footer (docs/format.md §6.4), block trailers (§6.2), block handles
//! (§6.3), block entries (§6.5), metaindex (§6.8) and the filter block (§7).
//! Just enough to check the filters of tables the real LevelDB wrote; the
//! real table code is lsmkit-sstable's, which depends on this crate.

use std::path::{Path, PathBuf};

use lsmkit_base::coding::{get_varint32, get_varint64, put_fixed32, put_fixed64, put_varint32, put_varint64};
use lsmkit_base::{crc, Error, Result};
use lsmkit_bloom::FilterPolicy;

use super::filter_block::FilterBlockBuilder;

pub const FOOTER_LEN: usize = 48;
pub const TABLE_MAGIC: u64 = 0xdb47_7524_8b80_fb57;
pub const BLOCK_TRAILER_LEN: usize = 5;

/// Where a block is in the file (its size excludes the 5-byte trailer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockHandle {
    pub offset: u64,
    pub size: u64,
}

impl BlockHandle {
    fn decode(input: &mut &[u8]) -> Result<BlockHandle> {
        Ok(BlockHandle { offset: get_varint64(input)?, size: get_varint64(input)? })
    }

    fn encode_to(&self, dst: &mut Vec<u8>) {
        put_varint64(dst, self.offset);
        put_varint64(dst, self.size);
    }
}

/// One data block: where it is and the user keys of its entries, in order.
pub struct DataBlock {
    pub handle: BlockHandle,
    pub user_keys: Vec<Vec<u8>>,
}

/// A table file read whole into memory.
pub struct Table {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    pub metaindex: BlockHandle,
    pub index: BlockHandle,
}

impl Table {
    pub fn open(path: &Path) -> Result<Table> {
        let bytes = std::fs::read(path).map_err(|e| Error::io("read", path, e))?;
        if bytes.len() < FOOTER_LEN {
            return Err(Error::corruption_at(path, 0, "file is too short to be an sstable"));
        }
        let footer_at = bytes.len() - FOOTER_LEN;
        let footer = &bytes[footer_at..];
        let magic = u64::from_le_bytes(footer[40..48].try_into().expect("8 bytes"));
        if magic != TABLE_MAGIC {
            return Err(Error::corruption_at(
                path,
                footer_at as u64 + 40,
                "not an sstable (bad magic number)",
            ));
        }
        let mut handles = &footer[..40];
        let metaindex = BlockHandle::decode(&mut handles).map_err(|e| e.in_file(path))?;
        let index = BlockHandle::decode(&mut handles).map_err(|e| e.in_file(path))?;
        Ok(Table { path: path.to_path_buf(), bytes, metaindex, index })
    }

    /// The contents of the block at `handle`, after checking its trailer:
    /// CRC and compression type 0 (these tests' tables are uncompressed).
    pub fn block(&self, handle: BlockHandle) -> Result<&[u8]> {
        let corrupt = |message: &str| Error::corruption_at(&self.path, handle.offset, message);
        let start = usize::try_from(handle.offset).map_err(|_| corrupt("block offset too large"))?;
        let size = usize::try_from(handle.size).map_err(|_| corrupt("block size too large"))?;
        let end = start
            .checked_add(size)
            .and_then(|end| end.checked_add(BLOCK_TRAILER_LEN))
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| corrupt("block runs past the end of the file"))?;
        let contents = &self.bytes[start..start + size];
        let trailer = &self.bytes[start + size..end];
        let stored_crc = u32::from_le_bytes(trailer[1..5].try_into().expect("4 bytes"));
        let actual_crc = crc::mask(crc::extend(crc::value(contents), &trailer[..1]));
        if stored_crc != actual_crc {
            return Err(corrupt("block checksum mismatch"));
        }
        if trailer[0] != 0 {
            return Err(corrupt("compressed block: the test tables must be written with compression=None"));
        }
        Ok(contents)
    }

    /// The handle the metaindex records for `filter.<policy_name>`, if any.
    pub fn filter_handle(&self, policy_name: &str) -> Result<Option<BlockHandle>> {
        let wanted = format!("filter.{policy_name}");
        for (key, value) in block_entries(self.block(self.metaindex)?).map_err(|e| e.in_file(&self.path))? {
            if key == wanted.as_bytes() {
                return Ok(Some(
                    BlockHandle::decode(&mut value.as_slice()).map_err(|e| e.in_file(&self.path))?,
                ));
            }
        }
        Ok(None)
    }

    /// Every data block named by the index block, in order, with the user
    /// keys (internal key minus its 8-byte tag) of its entries.
    pub fn data_blocks(&self) -> Result<Vec<DataBlock>> {
        let mut blocks = Vec::new();
        for (_, value) in block_entries(self.block(self.index)?).map_err(|e| e.in_file(&self.path))? {
            let handle = BlockHandle::decode(&mut value.as_slice()).map_err(|e| e.in_file(&self.path))?;
            let entries = block_entries(self.block(handle)?).map_err(|e| e.in_file(&self.path))?;
            let user_keys = entries
                .into_iter()
                .map(|(internal_key, _)| match internal_key.len().checked_sub(8) {
                    Some(user_len) => Ok(internal_key[..user_len].to_vec()),
                    None => Err(Error::corruption_at(
                        &self.path,
                        handle.offset,
                        "internal key shorter than 8 bytes",
                    )),
                })
                .collect::<Result<_>>()?;
            blocks.push(DataBlock { handle, user_keys });
        }
        Ok(blocks)
    }

    /// A copy of this table whose filter block is rebuilt with `policy` and
    /// recorded in the metaindex under `filter.<policy name>` (the only
    /// metaindex entry). Data blocks and the index block are copied byte for
    /// byte; the data blocks keep their offsets, so the index stays valid.
    pub fn with_filter(&self, policy: &dyn FilterPolicy) -> Result<Vec<u8>> {
        let data_blocks = self.data_blocks()?;
        let data_end = data_blocks
            .last()
            .map_or(0, |block| (block.handle.offset + block.handle.size) as usize + BLOCK_TRAILER_LEN);
        let mut out = self.bytes[..data_end].to_vec();

        let filter_handle = append_block(&mut out, &build_filter_block(policy, &data_blocks));

        let mut metaindex = Vec::new();
        let mut handle_bytes = Vec::new();
        filter_handle.encode_to(&mut handle_bytes);
        let key = format!("filter.{}", policy.name());
        put_varint32(&mut metaindex, 0);
        put_varint32(&mut metaindex, key.len() as u32);
        put_varint32(&mut metaindex, handle_bytes.len() as u32);
        metaindex.extend_from_slice(key.as_bytes());
        metaindex.extend_from_slice(&handle_bytes);
        put_fixed32(&mut metaindex, 0); // restart offset of the one entry
        put_fixed32(&mut metaindex, 1); // one restart
        let metaindex_handle = append_block(&mut out, &metaindex);

        let index_handle = append_block(&mut out, self.block(self.index)?);

        let footer_start = out.len();
        metaindex_handle.encode_to(&mut out);
        index_handle.encode_to(&mut out);
        out.resize(footer_start + 40, 0);
        put_fixed64(&mut out, TABLE_MAGIC);
        Ok(out)
    }
}

/// The filter block LevelDB's table builder would write for these data blocks.
pub fn build_filter_block(policy: &dyn FilterPolicy, data_blocks: &[DataBlock]) -> Vec<u8> {
    let mut builder = FilterBlockBuilder::new(policy);
    for block in data_blocks {
        for key in &block.user_keys {
            builder.add_key(key);
        }
        builder.start_block(block.handle.offset + block.handle.size + BLOCK_TRAILER_LEN as u64);
    }
    builder.finish()
}

/// Appends `contents` as an uncompressed block with its trailer.
fn append_block(out: &mut Vec<u8>, contents: &[u8]) -> BlockHandle {
    let handle = BlockHandle { offset: out.len() as u64, size: contents.len() as u64 };
    out.extend_from_slice(contents);
    out.push(0);
    let checksum = crc::mask(crc::extend(crc::value(contents), &[0]));
    put_fixed32(out, checksum);
    handle
}

/// Decodes every (key, value) of a block (docs/format.md §6.5), in order.
pub fn block_entries(block: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let bad = |message: &str| Error::corruption(format!("bad block: {message}"));
    let Some(count_at) = block.len().checked_sub(4) else {
        return Err(bad("shorter than 4 bytes"));
    };
    let num_restarts = u32::from_le_bytes(block[count_at..].try_into().expect("4 bytes")) as usize;
    let entries_end = num_restarts
        .checked_mul(4)
        .and_then(|restarts_len| count_at.checked_sub(restarts_len))
        .ok_or_else(|| bad("restart count too large"))?;
    let mut input = &block[..entries_end];
    let mut entries: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut previous_key: Vec<u8> = Vec::new();
    while !input.is_empty() {
        let shared = get_varint32(&mut input)? as usize;
        let non_shared = get_varint32(&mut input)? as usize;
        let value_len = get_varint32(&mut input)? as usize;
        if shared > previous_key.len() || non_shared.saturating_add(value_len) > input.len() {
            return Err(bad("entry lengths out of range"));
        }
        let mut key = previous_key[..shared].to_vec();
        key.extend_from_slice(&input[..non_shared]);
        let value = input[non_shared..non_shared + value_len].to_vec();
        input = &input[non_shared + value_len..];
        previous_key.clone_from(&key);
        entries.push((key, value));
    }
    Ok(entries)
}
