//! Opening and reading a table file (docs/format.md §6): the footer, the index,
//! the metaindex with the filter (§7) and properties blocks, point lookups
//! that ask the filter before reading a data block, and data blocks through
//! the shared [`BlockCache`](crate::BlockCache).
//!
//! Every `Corruption` a table reports names its file and the offset of the
//! block (or footer) that holds the bad bytes.
//!
//! ```text
//! open:   footer (last 48 bytes) -> index block, metaindex block
//!         metaindex "filter.<policy>" -> filter block; "lsmkit.properties";
//!         "lsmkit.range_del" -> range tombstones (never tolerated when damaged)
//! get:    index: first separator >= key -> BlockHandle of the one data block
//!         filter for that block's offset: "no match" skips the read
//!         data block (via the block cache): first entry >= key
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use lsmkit_base::comparator::{BytewiseComparator, InlineComparator};
use lsmkit_base::fs::{FileSystem, RandomAccessFile};
use lsmkit_base::iterator::InternalIterator;
use lsmkit_base::{Error, Result};

use crate::block::{Block, BlockIter};
use crate::block_handle::{BlockHandle, Footer, FOOTER_LEN};
use crate::block_read::{read_block, read_block_via};
use crate::filter_block::FilterBlockReader;
use crate::options::{ReadOptions, TableOptions};
use crate::properties::{TableProperties, PROPERTIES_BLOCK_NAME};
use crate::range_del_block::RANGE_DEL_BLOCK_NAME;
use crate::readahead::Readahead;
use crate::table_iterator::TableIterator;
use lsmkit_base::range_tombstone::FragmentedRangeTombstones;

/// An open, immutable table. Share it as `Arc<Table>`; every method takes
/// `&self` and may run on many threads at once.
pub struct Table {
    options: TableOptions,
    file: Arc<dyn RandomAccessFile>,
    path: PathBuf,
    file_size: u64,
    /// This table's key space in the block cache.
    cache_id: u64,
    /// The options' comparator with its order resolved once.
    comparator: InlineComparator,
    footer: Footer,
    index_block: Block,
    filter: Option<FilterBlockReader>,
    properties: Option<TableProperties>,
    range_tombstones: Option<Arc<FragmentedRangeTombstones>>,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("path", &self.path)
            .field("file_size", &self.file_size)
            .field("footer", &self.footer)
            .field("has_filter", &self.filter.is_some())
            .field("properties", &self.properties)
            .finish()
    }
}

impl Table {
    /// Opens the table in `file`, whose length is `file_size` (in a
    /// database, the size the MANIFEST records). `path` names the file in
    /// error messages.
    ///
    /// Reads the footer and the index block, and, when present, the filter
    /// block for the options' own filter policy and the properties block.
    /// The checksums of these blocks are always verified (they are read once
    /// per open). A damaged metaindex, filter or properties block is ignored
    /// (the table works without it, as in LevelDB) unless `paranoid_checks`
    /// is set, when it fails the open.
    pub fn open(
        options: TableOptions,
        file: Arc<dyn RandomAccessFile>,
        file_size: u64,
        path: impl Into<PathBuf>,
    ) -> Result<Table> {
        let path = path.into();
        if file_size < FOOTER_LEN as u64 {
            return Err(Error::corruption_at(&path, 0, "file is too short to be an sstable"));
        }
        let footer_offset = file_size - FOOTER_LEN as u64;
        let footer_bytes = file.read_at(footer_offset, FOOTER_LEN)?;
        if footer_bytes.len() != FOOTER_LEN {
            return Err(Error::corruption_at(&path, footer_offset, "truncated footer read"));
        }
        let footer = Footer::decode(&footer_bytes).map_err(|e| e.in_file(&path).at_offset(footer_offset))?;
        let reader = OpenReader { file: file.as_ref(), blocks_end: footer_offset, path: &path };
        let index_block = reader.block(footer.index_handle)?;

        // The metaindex, filter and properties blocks are optional: unless
        // the checks are paranoid, a damaged one is treated as absent.
        let paranoid = options.paranoid_checks;
        let mut filter = None;
        let mut properties = None;
        let mut range_tombstones = None;
        // In a database with range deletions the metaindex leads to the
        // tombstones: it may not be ignored.
        let needs_metaindex = paranoid
            || options
                .user_comparator
                .as_ref()
                .is_some_and(|c| c.name().starts_with(crate::range_del_block::RANGE_DEL_COMPARATOR_PREFIX));
        if let Some(metaindex) = tolerate(needs_metaindex, reader.block(footer.metaindex_handle).map(Some))? {
            let mut it = metaindex.iter(Arc::new(BytewiseComparator));
            let metaindex_offset = footer.metaindex_handle.offset;
            if let Some(policy) = &options.filter_policy {
                let name = format!("filter.{}", policy.name());
                filter =
                    tolerate(paranoid, reader.named_contents(&mut it, metaindex_offset, name.as_bytes()))?
                        .map(|(_, contents)| FilterBlockReader::new(Arc::clone(policy), contents));
            }
            let found = reader.named_contents(&mut it, metaindex_offset, PROPERTIES_BLOCK_NAME.as_bytes());
            properties = tolerate(
                paranoid,
                found.and_then(|found| match found {
                    Some((handle, contents)) => TableProperties::decode(contents)
                        .map(Some)
                        .map_err(|e| e.in_file(&path).at_offset(handle.offset)),
                    None => Ok(None),
                }),
            )?;
            // Range tombstones are never ignored: without them deleted keys
            // would come back.
            if let Some((handle, contents)) =
                reader.named_contents(&mut it, metaindex_offset, RANGE_DEL_BLOCK_NAME.as_bytes())?
            {
                let user = options.user_comparator.clone().unwrap_or_else(BytewiseComparator::shared);
                let list = crate::range_del_block::decode(contents, user)
                    .map_err(|e| Error::corruption_at(&path, handle.offset, e))?;
                range_tombstones = (!list.is_empty()).then(|| Arc::new(list));
            }
        }
        let cache_id = options.block_cache.as_ref().map_or(0, |cache| cache.new_id());
        let comparator = InlineComparator::new(Arc::clone(&options.comparator));
        Ok(Table {
            options,
            file,
            path,
            file_size,
            cache_id,
            comparator,
            footer,
            index_block,
            filter,
            properties,
            range_tombstones,
        })
    }

    /// Opens `path` through `fs` with the options' read mode, taking the
    /// size from the file system.
    pub fn open_path(fs: &dyn FileSystem, path: &Path, options: TableOptions) -> Result<Table> {
        let file = fs.open_random_access(path, options.read_mode)?;
        let file_size = file.len();
        Table::open(options, file, file_size, path)
    }

    /// Where the blocks end and the footer starts.
    fn blocks_end(&self) -> u64 {
        self.file_size - FOOTER_LEN as u64
    }

    /// Adds this file and `offset` to a corruption that lacks them.
    pub(crate) fn locate(&self, error: Error, offset: u64) -> Error {
        error.in_file(&self.path).at_offset(offset)
    }

    /// The options the table was opened with.
    pub fn options(&self) -> &TableOptions {
        &self.options
    }

    /// The file's path, as given at open.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file size the table was opened with.
    pub fn file_size(&self) -> u64 {
        self.file_size
    }

    /// The footer's metaindex and index handles.
    pub fn footer(&self) -> Footer {
        self.footer
    }

    /// True when a filter for the options' filter policy was found.
    pub fn has_filter(&self) -> bool {
        self.filter.is_some()
    }

    /// The table's range tombstones (its `lsmkit.range_del` block), when it
    /// has any.
    pub fn range_tombstones(&self) -> Option<&Arc<FragmentedRangeTombstones>> {
        self.range_tombstones.as_ref()
    }

    /// The `lsmkit.properties` block, when the table has one.
    pub fn properties(&self) -> Option<&TableProperties> {
        self.properties.as_ref()
    }

    /// An iterator over the index block: one entry per data block, its key
    /// at or after the block's last key, its value the block's encoded handle.
    pub fn index_iter(&self) -> BlockIter {
        self.index_block.iter_inline(&self.comparator)
    }

    /// The options' comparator, its order resolved once at open.
    pub fn inline_comparator(&self) -> &InlineComparator {
        &self.comparator
    }

    /// Reads the data block at `handle` through the block cache.
    /// Checksums are verified when `read_options.verify_checksums` or the
    /// table's `paranoid_checks` asks.
    pub fn read_data_block(&self, read_options: &ReadOptions, handle: BlockHandle) -> Result<Block> {
        self.read_data_block_with(read_options, handle, None)
    }

    /// [`read_data_block`](Self::read_data_block) for an iterator: a block
    /// missing from the cache is read through `readahead`, unless the file
    /// [reads in place](RandomAccessFile::reads_in_place) (a mapping: no
    /// system call to save).
    pub(crate) fn read_data_block_with(
        &self,
        read_options: &ReadOptions,
        handle: BlockHandle,
        readahead: Option<&mut Readahead>,
    ) -> Result<Block> {
        let cache = self.options.block_cache.as_ref();
        if let Some(block) = cache.and_then(|cache| cache.get(self.cache_id, handle.offset)) {
            return Ok(block);
        }
        let verify = read_options.verify_checksums || self.options.paranoid_checks;
        let blocks_end = self.blocks_end();
        let contents = match readahead {
            Some(readahead) if !self.file.reads_in_place() => {
                let file = self.file.as_ref();
                read_block_via(blocks_end, handle, verify, |offset, len| {
                    readahead.read(file, blocks_end, offset, len)
                })
                .map(|mut contents| {
                    if !contents.was_compressed {
                        // A view of the readahead buffer would keep all of it
                        // alive for as long as the block is cached.
                        contents.data = Bytes::copy_from_slice(&contents.data);
                    }
                    contents
                })
            }
            _ => read_block(self.file.as_ref(), blocks_end, handle, verify),
        }
        .map_err(|e| self.locate(e, handle.offset))?;
        // Every block owns its bytes, a mapped one too (a copy or a
        // decompression out of the mapping: a view could turn into zeros
        // if the file failed later), so every block may be cached.
        let block = Block::new(contents.data).map_err(|e| self.locate(e, handle.offset))?;
        if let Some(cache) = cache {
            if read_options.fill_cache {
                cache.insert(self.cache_id, handle.offset, block.clone());
            }
        }
        Ok(block)
    }

    /// The data block an index entry's value points at.
    pub(crate) fn decode_index_value(&self, value: &[u8]) -> Result<BlockHandle> {
        BlockHandle::decode(value).map_err(|e| self.locate(e, self.footer.index_handle.offset))
    }

    /// LevelDB's `InternalGet` on one table: finds the data block that may
    /// hold `key`, asks the filter, and returns the first entry `>= key` in
    /// that block. `None` when the filter rules the key out or no entry of
    /// the block is `>= key`. The caller checks whether the returned key is
    /// the one it wants (for internal keys: the same user key).
    pub fn get(&self, read_options: &ReadOptions, key: &[u8]) -> Result<Option<(Bytes, Bytes)>> {
        let mut index = self.index_iter();
        index.seek(key);
        if !index.valid() {
            index.status().map_err(|e| self.locate(e, self.footer.index_handle.offset))?;
            return Ok(None);
        }
        let handle = self.decode_index_value(index.value())?;
        if let Some(filter) = &self.filter {
            if !filter.key_may_match(handle.offset, key) {
                return Ok(None);
            }
        }
        let block = self.read_data_block(read_options, handle)?;
        let mut it = block.iter_inline(&self.comparator);
        it.seek(key);
        if it.valid() {
            return Ok(Some((it.key_bytes(), it.value_bytes())));
        }
        it.status().map_err(|e| self.locate(e, handle.offset))?;
        Ok(None)
    }

    /// An iterator over every entry, in both directions.
    pub fn iter(self: &Arc<Self>, read_options: ReadOptions) -> TableIterator {
        TableIterator::new(Arc::clone(self), read_options)
    }

    /// The approximate file offset where the data for `key` starts (the
    /// offset of its data block; the metaindex offset, near the end of the
    /// data, for keys past the last block).
    pub fn approximate_offset_of(&self, key: &[u8]) -> u64 {
        let mut index = self.index_iter();
        index.seek(key);
        if index.valid() {
            if let Ok(handle) = BlockHandle::decode(index.value()) {
                return handle.offset;
            }
        }
        self.footer.metaindex_handle.offset
    }
}

/// An optional block that failed to load counts as absent, unless `paranoid`.
fn tolerate<T>(paranoid: bool, result: Result<Option<T>>) -> Result<Option<T>> {
    match result {
        Err(_) if !paranoid => Ok(None),
        other => other,
    }
}

/// Reads the blocks a table needs at open, always verifying checksums.
struct OpenReader<'a> {
    file: &'a dyn RandomAccessFile,
    blocks_end: u64,
    path: &'a Path,
}

impl OpenReader<'_> {
    fn contents(&self, handle: BlockHandle) -> Result<Bytes> {
        read_block(self.file, self.blocks_end, handle, true)
            .map(|contents| contents.data)
            .map_err(|e| e.in_file(self.path).at_offset(handle.offset))
    }

    fn block(&self, handle: BlockHandle) -> Result<Block> {
        Block::new(self.contents(handle)?).map_err(|e| e.in_file(self.path).at_offset(handle.offset))
    }

    /// The contents of the meta block listed in the metaindex as `name`.
    fn named_contents(
        &self,
        metaindex: &mut BlockIter,
        metaindex_offset: u64,
        name: &[u8],
    ) -> Result<Option<(BlockHandle, Bytes)>> {
        let locate = |e: Error| e.in_file(self.path).at_offset(metaindex_offset);
        metaindex.seek(name);
        metaindex.status().map_err(locate)?;
        if !metaindex.valid() || metaindex.key() != name {
            return Ok(None);
        }
        let handle = BlockHandle::decode(metaindex.value()).map_err(locate)?;
        Ok(Some((handle, self.contents(handle)?)))
    }
}
