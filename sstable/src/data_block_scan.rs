//! [`Table::scan_data_blocks`]: every data block of a table, in index
//! order, read with its checksum verified and without going through the
//! block cache — for the tools that must look at each block on its own and
//! go on past a damaged one (the engine's repair, the CLI's `verify`).

use lsmkit_base::iterator::InternalIterator;
use lsmkit_base::{Error, Result};

use crate::block::Block;
use crate::block_handle::BlockHandle;
use crate::options::ReadOptions;
use crate::table::Table;

/// One index entry of a table, as [`Table::scan_data_blocks`] found it.
#[derive(Debug)]
pub enum ScannedBlock<'a> {
    /// The data block was read and its checksum matched.
    Block {
        /// Where the block is.
        handle: BlockHandle,
        /// The index entry's key: at or after every key of the block.
        index_key: &'a [u8],
        /// The block; its entries are still to be checked by the caller.
        block: Block,
    },
    /// The index entry's value is not a block handle (`handle` is `None`),
    /// or the block it points at cannot be read: out of bounds, checksum
    /// mismatch, unknown compression, bad restart array. `error` is
    /// `Error::Corruption` naming the file and offset.
    Damaged {
        /// Where the block is, when the handle decoded.
        handle: Option<BlockHandle>,
        /// The index entry's key.
        index_key: &'a [u8],
        /// What is wrong.
        error: Error,
    },
}

impl Table {
    /// Calls `visit` with every index entry of the table in order: the data
    /// block it points at, read with its checksum verified, or why that
    /// block is damaged. Damage does not stop the scan; an error of another
    /// kind (I/O) or one `visit` returns does. A damaged index block ends
    /// the scan with one last [`ScannedBlock::Damaged`] (no handle).
    ///
    /// ```
    /// use std::path::Path;
    /// use lsmkit_base::fs::{FileSystem, MemFs, WriteMode};
    /// use lsmkit_sstable::{ScannedBlock, Table, TableBuilder, TableOptions};
    ///
    /// let fs = MemFs::new();
    /// let path = Path::new("000005.ldb");
    /// let options = TableOptions { block_size: 64, ..TableOptions::default() };
    /// let mut builder = TableBuilder::new(options.clone(), fs.create_writable(path, WriteMode::Buffered)?);
    /// for i in 0..100u32 {
    ///     builder.add(format!("key{i:03}").as_bytes(), b"value")?;
    /// }
    /// builder.finish(true)?;
    /// let table = Table::open_path(&fs, path, options)?;
    /// let mut blocks = 0;
    /// table.scan_data_blocks(|scanned| {
    ///     assert!(matches!(scanned, ScannedBlock::Block { .. }));
    ///     blocks += 1;
    ///     Ok(())
    /// })?;
    /// assert!(blocks > 10);
    /// # Ok::<(), lsmkit_base::Error>(())
    /// ```
    pub fn scan_data_blocks(&self, mut visit: impl FnMut(ScannedBlock<'_>) -> Result<()>) -> Result<()> {
        let read = ReadOptions { verify_checksums: true, fill_cache: false };
        let mut index = self.index_iter();
        index.seek_to_first();
        while index.valid() {
            let index_key = index.key();
            let scanned = match self.decode_index_value(index.value()) {
                Err(error) => ScannedBlock::Damaged { handle: None, index_key, error },
                Ok(handle) => match self.read_data_block(&read, handle) {
                    Ok(block) => ScannedBlock::Block { handle, index_key, block },
                    Err(error) if error.is_corruption() => {
                        ScannedBlock::Damaged { handle: Some(handle), index_key, error }
                    }
                    Err(error) => return Err(error),
                },
            };
            visit(scanned)?;
            index.next();
        }
        if let Err(error) = index.status() {
            let error = self.locate(error, self.footer().index_handle.offset);
            visit(ScannedBlock::Damaged { handle: None, index_key: &[], error })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use lsmkit_base::fs::{read_file_to_vec, write_file, FileSystem, MemFs, WriteMode};

    use super::*;
    use crate::{TableBuilder, TableOptions};

    fn write_table(fs: &MemFs, path: &Path) -> Vec<BlockHandle> {
        let options = TableOptions { block_size: 64, ..TableOptions::default() };
        let mut builder =
            TableBuilder::new(options.clone(), fs.create_writable(path, WriteMode::Buffered).unwrap());
        for i in 0..60u32 {
            builder.add(format!("key{i:03}").as_bytes(), b"value").unwrap();
        }
        builder.finish(true).unwrap();
        let table = Table::open_path(fs, path, options).unwrap();
        let mut handles = Vec::new();
        table
            .scan_data_blocks(|scanned| match scanned {
                ScannedBlock::Block { handle, .. } => {
                    handles.push(handle);
                    Ok(())
                }
                ScannedBlock::Damaged { error, .. } => Err(error),
            })
            .unwrap();
        handles
    }

    #[test]
    fn a_damaged_block_is_reported_and_the_scan_goes_on() {
        let fs = MemFs::new();
        let path = Path::new("000005.ldb");
        let handles = write_table(&fs, path);
        assert!(handles.len() > 4, "{handles:?}");
        let mut bytes = read_file_to_vec(&fs, path).unwrap();
        bytes[handles[1].offset as usize] ^= 0x01;
        write_file(&fs, path, &bytes, false).unwrap();

        let table = Table::open_path(&fs, path, TableOptions::default()).unwrap();
        let mut seen = Vec::new();
        table
            .scan_data_blocks(|scanned| {
                seen.push(match scanned {
                    ScannedBlock::Block { handle, .. } => Ok(handle),
                    ScannedBlock::Damaged { handle, error, .. } => Err((handle, error)),
                });
                Ok(())
            })
            .unwrap();
        assert_eq!(seen.len(), handles.len());
        let (handle, error) = seen[1].as_ref().unwrap_err();
        assert_eq!(*handle, Some(handles[1]));
        assert!(error.is_corruption());
        assert!(error.to_string().contains(&format!("at offset {}", handles[1].offset)), "{error}");
        assert!(seen.iter().enumerate().all(|(i, s)| (i == 1) == s.is_err()));
    }
}
