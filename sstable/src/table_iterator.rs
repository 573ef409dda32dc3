//! The two-level iterator over a table (LevelDB's `TwoLevelIterator`): an
//! iterator over the index block picks the data block, an iterator over that
//! block yields the entries. Seeks and both directions are supported.
//!
//! The first error (an unreadable block, a bad entry) stops the iteration:
//! the iterator becomes invalid and stays so, and `status` reports the error
//! with the table's file and the block's offset. It never skips a damaged
//! block and goes on, so a scan either yields every entry or reports why not.

use std::sync::Arc;

use bytes::Bytes;
use lsmkit_base::iterator::InternalIterator;
use lsmkit_base::{Error, Result};

use crate::block::BlockIter;
use crate::block_handle::BlockHandle;
use crate::options::ReadOptions;
use crate::readahead::Readahead;
use crate::table::Table;

/// An iterator over all entries of a [`Table`], keeping the table open.
pub struct TableIterator {
    table: Arc<Table>,
    read_options: ReadOptions,
    index: BlockIter,
    /// The current data block's handle and iterator.
    data: Option<(BlockHandle, BlockIter)>,
    error: Option<Error>,
    /// Larger reads for blocks read one after the other (scans).
    readahead: Readahead,
}

impl TableIterator {
    pub(crate) fn new(table: Arc<Table>, read_options: ReadOptions) -> TableIterator {
        let index = table.index_iter();
        TableIterator { table, read_options, index, data: None, error: None, readahead: Readahead::default() }
    }

    /// The table being iterated.
    pub fn table(&self) -> &Arc<Table> {
        &self.table
    }

    fn fail(&mut self, error: Error) {
        self.data = None;
        if self.error.is_none() {
            self.error = Some(error);
        }
    }

    /// Records an error of the index iterator, if any; true when it had one.
    fn index_failed(&mut self) -> bool {
        if let Err(e) = self.index.status() {
            let e = self.table.locate(e, self.table.footer().index_handle.offset);
            self.fail(e);
            return true;
        }
        false
    }

    /// Records an error of the data iterator, if any; true when it had one.
    fn data_failed(&mut self) -> bool {
        let Some((handle, data)) = &self.data else {
            return false;
        };
        if let Err(e) = data.status() {
            let e = self.table.locate(e, handle.offset);
            self.fail(e);
            return true;
        }
        false
    }

    /// Points `data` at the block the index iterator is on (keeping the
    /// current one when it is the same block). False on error.
    fn init_data_block(&mut self) -> bool {
        if !self.index.valid() {
            self.data = None;
            return !self.index_failed();
        }
        let handle = match self.table.decode_index_value(self.index.value()) {
            Ok(handle) => handle,
            Err(e) => {
                self.fail(e);
                return false;
            }
        };
        if matches!(&self.data, Some((current, _)) if *current == handle) {
            return true;
        }
        match self.table.read_data_block_with(&self.read_options, handle, Some(&mut self.readahead)) {
            Ok(block) => {
                self.data = Some((handle, block.iter_inline(self.table.inline_comparator())));
                true
            }
            Err(e) => {
                self.fail(e);
                false
            }
        }
    }

    fn data_valid(&self) -> bool {
        self.data.as_ref().is_some_and(|(_, it)| it.valid())
    }

    /// Moves forward past data blocks with no (more) entries.
    fn skip_empty_blocks_forward(&mut self) {
        while self.error.is_none() && !self.data_valid() {
            if self.data_failed() {
                return;
            }
            if !self.index.valid() {
                self.data = None;
                return;
            }
            self.index.next();
            if !self.init_data_block() {
                return;
            }
            if let Some((_, data)) = self.data.as_mut() {
                data.seek_to_first();
            }
        }
        self.data_failed();
    }

    /// Moves backward past data blocks with no (more) entries.
    fn skip_empty_blocks_backward(&mut self) {
        while self.error.is_none() && !self.data_valid() {
            if self.data_failed() {
                return;
            }
            if !self.index.valid() {
                self.data = None;
                return;
            }
            self.index.prev();
            if !self.init_data_block() {
                return;
            }
            if let Some((_, data)) = self.data.as_mut() {
                data.seek_to_last();
            }
        }
        self.data_failed();
    }
}

impl InternalIterator for TableIterator {
    fn valid(&self) -> bool {
        self.error.is_none() && self.data_valid()
    }

    fn seek_to_first(&mut self) {
        if self.error.is_some() {
            return;
        }
        self.index.seek_to_first();
        if self.init_data_block() {
            if let Some((_, data)) = self.data.as_mut() {
                data.seek_to_first();
            }
            self.skip_empty_blocks_forward();
        }
    }

    fn seek_to_last(&mut self) {
        if self.error.is_some() {
            return;
        }
        self.index.seek_to_last();
        if self.init_data_block() {
            if let Some((_, data)) = self.data.as_mut() {
                data.seek_to_last();
            }
            self.skip_empty_blocks_backward();
        }
    }

    fn seek(&mut self, target: &[u8]) {
        if self.error.is_some() {
            return;
        }
        self.index.seek(target);
        if self.init_data_block() {
            if let Some((_, data)) = self.data.as_mut() {
                data.seek(target);
            }
            self.skip_empty_blocks_forward();
        }
    }

    fn next(&mut self) {
        if !self.valid() {
            return;
        }
        if let Some((_, data)) = self.data.as_mut() {
            data.next();
        }
        self.skip_empty_blocks_forward();
    }

    fn prev(&mut self) {
        if !self.valid() {
            return;
        }
        if let Some((_, data)) = self.data.as_mut() {
            data.prev();
        }
        self.skip_empty_blocks_backward();
    }

    fn key(&self) -> &[u8] {
        self.data.as_ref().map_or(&[], |(_, it)| it.key())
    }

    fn value(&self) -> &[u8] {
        self.data.as_ref().map_or(&[], |(_, it)| it.value())
    }

    fn status(&self) -> Result<()> {
        match &self.error {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    fn value_bytes(&self) -> Bytes {
        self.data.as_ref().map_or_else(Bytes::new, |(_, it)| it.value_bytes())
    }
}
