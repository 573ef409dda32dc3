//! Writes a table file (docs/format.md §6): data blocks cut at `block_size`, the
//! filter block (§7), the optional `lsmkit.properties` block, the metaindex
//! (§6.8), the index with shortened keys (§6.7) and the footer (§6.4).
//!
//! With compression off and properties off, the bytes are identical to what
//! LevelDB 1.23's `TableBuilder` writes for the same entries and options.
//!
//! ```text
//! | data block | trailer | data block | trailer | ...      entries in key order
//! | filter block | trailer |                               with a filter policy
//! | properties block | trailer |                           with write_properties
//! | range_del block | trailer |                             with range tombstones
//! | metaindex block | trailer |                            name -> BlockHandle
//! | index block | trailer |                                separator -> BlockHandle
//! | footer: metaindex handle, index handle, zeros, magic | the last 48 bytes
//! trailer = compression type u8 | masked crc32c(stored block ++ type) fixed32
//! ```

use std::cmp::Ordering;

use lsmkit_base::crc;
use lsmkit_base::fs::WritableFile;
use lsmkit_base::key::parse_internal_key;
use lsmkit_base::{Error, Result};

use crate::block_builder::BlockBuilder;
use crate::block_handle::{BlockHandle, Footer};
use crate::compression::{compress_block, Compression, NO_COMPRESSION};
use crate::filter_block::FilterBlockBuilder;
use crate::options::TableOptions;
use crate::properties::{TableProperties, PROPERTIES_BLOCK_NAME};
use crate::range_del_block::{self, RANGE_DEL_BLOCK_NAME};
use lsmkit_base::range_tombstone::FragmentedRangeTombstones;

/// What a finished table holds and how big its parts are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSummary {
    /// Length of the table file in bytes.
    pub file_size: u64,
    /// Number of entries.
    pub entries: u64,
    /// Number of data blocks.
    pub data_blocks: u64,
    /// Bytes of data blocks as stored, trailers included.
    pub data_bytes: u64,
    /// Bytes of the filter block and its trailer (0 without a filter policy).
    pub filter_bytes: u64,
    /// Bytes of the index block as stored, trailer included.
    pub index_bytes: u64,
    /// The first key added (empty for a table without entries).
    pub smallest_key: Vec<u8>,
    /// The last key added (empty for a table without entries).
    pub largest_key: Vec<u8>,
    /// The statistics also written to the properties block.
    pub properties: TableProperties,
    /// Number of range tombstone entries in the `lsmkit.range_del` block
    /// (0: the table has no such block).
    pub range_tombstones: u64,
}

/// Builds one table, appending to a [`WritableFile`].
///
/// Keys must be added in strictly increasing order of the options'
/// comparator. After an I/O error every later call returns that error.
pub struct TableBuilder {
    options: TableOptions,
    writer: BlockWriter,
    data_block: BlockBuilder,
    index_block: BlockBuilder,
    filter_block: Option<FilterBlockBuilder>,
    last_key: Vec<u8>,
    smallest_key: Option<Vec<u8>>,
    /// The handle of the last data block, waiting for the first key of the
    /// next block to choose its index key.
    pending_index_handle: Option<BlockHandle>,
    properties: TableProperties,
    data_blocks: u64,
    data_bytes: u64,
    /// The `lsmkit.range_del` block to write, and its number of entries.
    range_del_block: Option<(Vec<u8>, u64)>,
}

impl TableBuilder {
    /// A builder writing to `file` (normally empty; offsets in the table
    /// count from the file's current length).
    pub fn new(options: TableOptions, file: Box<dyn WritableFile>) -> TableBuilder {
        let mut filter_block = options.filter_policy.clone().map(FilterBlockBuilder::new);
        if let Some(filter) = filter_block.as_mut() {
            filter.start_block(0);
        }
        TableBuilder {
            data_block: BlockBuilder::new(options.restart_interval),
            index_block: BlockBuilder::new(1),
            writer: BlockWriter {
                offset: file.len(),
                file,
                compression: options.compression,
                encoder: snap::raw::Encoder::new(),
                scratch: Vec::new(),
                error: None,
            },
            // A table of internal keys counts its deletions from zero, so an
            // empty one says `Some(0)`, not "unknown".
            properties: TableProperties {
                deletions: options.internal_keys.then_some(0),
                ..TableProperties::default()
            },
            options,
            filter_block,
            last_key: Vec::new(),
            smallest_key: None,
            pending_index_handle: None,
            data_blocks: 0,
            data_bytes: 0,
            range_del_block: None,
        }
    }

    /// Gives the table the range tombstones `list` (docs/format-extensions.md,
    /// "Range deletions"), written at [`finish`](Self::finish) as the
    /// `lsmkit.range_del` meta block; an empty list writes no block (the
    /// table is then exactly as without this call). A later call replaces
    /// the list.
    pub fn set_range_tombstones(&mut self, list: &FragmentedRangeTombstones) {
        self.range_del_block = if list.is_empty() {
            None
        } else {
            let count = list.fragments().iter().map(|f| f.sequences.len() as u64).sum();
            Some((range_del_block::encode(list), count))
        };
    }

    /// Adds an entry. `key` must sort after every key added before (else
    /// `InvalidArgument`); with `internal_keys` it must parse as an internal key.
    pub fn add(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.writer.check_ok()?;
        if self.smallest_key.is_some()
            && self.options.comparator.compare(key, &self.last_key) != Ordering::Greater
        {
            return Err(Error::InvalidArgument(
                "table keys must be added in strictly increasing order".into(),
            ));
        }
        if self.options.internal_keys {
            parse_internal_key(key)
                .map_err(|e| Error::InvalidArgument(format!("table key is not an internal key: {e}")))?;
        }
        if let Some(handle) = self.pending_index_handle.take() {
            let separator = self.options.comparator.shortest_separator(&self.last_key, key);
            self.index_block.add(&separator, &handle.encoded());
        }
        if let Some(filter) = self.filter_block.as_mut() {
            filter.add_key(key);
        }
        if self.smallest_key.is_none() {
            self.smallest_key = Some(key.to_vec());
        }
        self.last_key.clear();
        self.last_key.extend_from_slice(key);
        self.properties.record(key, value, self.options.internal_keys);
        self.data_block.add(key, value);
        if self.data_block.current_size_estimate() >= self.options.block_size {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the current data block now (it would otherwise be written once
    /// it reaches `block_size`). Does nothing when the block is empty.
    pub fn flush(&mut self) -> Result<()> {
        self.writer.check_ok()?;
        if self.data_block.is_empty() {
            return Ok(());
        }
        debug_assert!(self.pending_index_handle.is_none());
        let start = self.writer.offset;
        let handle = self.writer.write_block(self.data_block.finish())?;
        self.data_block.reset();
        self.data_blocks += 1;
        self.data_bytes += self.writer.offset - start;
        self.pending_index_handle = Some(handle);
        // No `WritableFile::flush` here (LevelDB flushes after every data
        // block): nobody reads a table before it is finished, and letting
        // the file's buffer fill first turns one write system call per
        // ~4 KiB block into one per buffer.
        if let Some(filter) = self.filter_block.as_mut() {
            filter.start_block(self.writer.offset);
        }
        Ok(())
    }

    /// Number of entries added so far.
    pub fn entries(&self) -> u64 {
        self.properties.entries
    }

    /// Bytes written to the file so far; the finished table is at least this
    /// long (a compaction closes its output once this passes a target).
    pub fn file_size(&self) -> u64 {
        self.writer.offset
    }

    /// Writes the rest of the table (last data block, filter, properties,
    /// metaindex, index, footer), syncs the file if asked, closes it and
    /// reports what was written.
    pub fn finish(mut self, sync: bool) -> Result<TableSummary> {
        self.flush()?;
        let mut filter_bytes = 0;
        let mut meta_entries: Vec<(String, BlockHandle)> = Vec::new();
        if let Some(mut filter) = self.filter_block.take() {
            let start = self.writer.offset;
            let handle = self.writer.write_raw_block(filter.finish(), NO_COMPRESSION)?;
            filter_bytes = self.writer.offset - start;
            let name = self.options.filter_policy.as_ref().map_or("", |p| p.name());
            meta_entries.push((format!("filter.{name}"), handle));
        }
        if self.options.write_properties {
            let handle = self.writer.write_block(&self.properties.encode())?;
            meta_entries.push((PROPERTIES_BLOCK_NAME.to_owned(), handle));
        }
        let mut range_tombstones = 0;
        if let Some((block, count)) = self.range_del_block.take() {
            let handle = self.writer.write_block(&block)?;
            meta_entries.push((RANGE_DEL_BLOCK_NAME.to_owned(), handle));
            range_tombstones = count;
        }
        meta_entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut metaindex = BlockBuilder::new(self.options.restart_interval);
        for (name, handle) in &meta_entries {
            metaindex.add(name.as_bytes(), &handle.encoded());
        }
        let metaindex_handle = self.writer.write_block(metaindex.finish())?;

        if let Some(handle) = self.pending_index_handle.take() {
            let successor = self.options.comparator.short_successor(&self.last_key);
            self.index_block.add(&successor, &handle.encoded());
        }
        let index_start = self.writer.offset;
        let index_handle = self.writer.write_block(self.index_block.finish())?;
        let index_bytes = self.writer.offset - index_start;

        self.writer.append(&Footer { metaindex_handle, index_handle }.encode())?;
        self.writer.close(sync)?;
        Ok(TableSummary {
            file_size: self.writer.offset,
            entries: self.properties.entries,
            data_blocks: self.data_blocks,
            data_bytes: self.data_bytes,
            filter_bytes,
            index_bytes,
            smallest_key: self.smallest_key.unwrap_or_default(),
            largest_key: self.last_key,
            properties: self.properties,
            range_tombstones,
        })
    }

    /// Gives up on the table: nothing more is written and the file is
    /// closed. The caller removes it.
    pub fn abandon(mut self) -> Result<()> {
        self.writer.file.close()
    }
}

/// Appends blocks with their trailers and tracks the write offset; the
/// first I/O error sticks.
struct BlockWriter {
    file: Box<dyn WritableFile>,
    /// Bytes written so far (where the next block starts).
    offset: u64,
    compression: Compression,
    encoder: snap::raw::Encoder,
    scratch: Vec<u8>,
    error: Option<Error>,
}

impl BlockWriter {
    fn check_ok(&self) -> Result<()> {
        match &self.error {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    fn sticky(&mut self, result: Result<()>) -> Result<()> {
        if let Err(e) = &result {
            self.error = Some(e.clone());
        }
        result
    }

    fn append(&mut self, data: &[u8]) -> Result<()> {
        let result = self.file.append(data);
        self.sticky(result)?;
        self.offset += data.len() as u64;
        Ok(())
    }

    fn close(&mut self, sync: bool) -> Result<()> {
        let result = if sync { self.file.sync().and_then(|()| self.file.close()) } else { self.file.close() };
        self.sticky(result)
    }

    /// Writes `raw`, compressed when that saves at least 12.5%.
    fn write_block(&mut self, raw: &[u8]) -> Result<BlockHandle> {
        let mut scratch = std::mem::take(&mut self.scratch);
        let (stored, kind) = compress_block(self.compression, &mut self.encoder, raw, &mut scratch);
        let result = self.write_raw_block(stored, kind);
        self.scratch = scratch;
        result
    }

    /// Writes `contents` and its trailer: the type byte and the masked CRC
    /// of contents ++ type.
    fn write_raw_block(&mut self, contents: &[u8], kind: u8) -> Result<BlockHandle> {
        let handle = BlockHandle::new(self.offset, contents.len() as u64);
        self.append(contents)?;
        let mut trailer = [kind, 0, 0, 0, 0];
        let checksum = crc::mask(crc::extend(crc::value(contents), &[kind]));
        trailer[1..].copy_from_slice(&checksum.to_le_bytes());
        self.append(&trailer)?;
        Ok(handle)
    }
}
