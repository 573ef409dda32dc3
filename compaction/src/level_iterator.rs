//! [`LevelIterator`]: the entries of a sorted, non-overlapping list of
//! tables (a level ≥ 1, or part of one) as one iterator, opening one table
//! at a time through the [`TableCache`] (LevelDB's concatenating iterator
//! over a level, docs/format.md §10.1 ordering).

use std::sync::Arc;

use lsmkit_base::iterator::{Bytes, InternalIterator};
use lsmkit_base::key::InternalKeyComparator;
use lsmkit_base::{Error, Result};
use lsmkit_sstable::{ReadOptions, TableCache, TableIterator};
use lsmkit_version::version::find_file;
use lsmkit_version::FileMetaData;

/// Iterates over `files` (sorted by key, disjoint) in both directions.
///
/// The first error (a table that cannot be opened, a damaged block) makes
/// the iterator invalid; [`status`](InternalIterator::status) reports it.
pub struct LevelIterator {
    table_cache: Arc<TableCache>,
    icmp: InternalKeyComparator,
    read_options: ReadOptions,
    files: Vec<Arc<FileMetaData>>,
    /// The index of the file `current` iterates over.
    index: usize,
    current: Option<TableIterator>,
    error: Option<Error>,
}

impl LevelIterator {
    /// An iterator over `files`, opened through `table_cache`. It is not
    /// positioned until a seek.
    pub fn new(
        table_cache: Arc<TableCache>,
        icmp: InternalKeyComparator,
        read_options: ReadOptions,
        files: Vec<Arc<FileMetaData>>,
    ) -> LevelIterator {
        LevelIterator {
            table_cache,
            icmp,
            read_options,
            index: files.len(),
            files,
            current: None,
            error: None,
        }
    }

    /// Opens file `index` as the current table; false (with the error
    /// recorded) if that fails or `index` is out of range.
    fn open(&mut self, index: usize) -> bool {
        self.current = None;
        self.index = index;
        let Some(file) = self.files.get(index) else {
            return false;
        };
        match self.table_cache.iter(self.read_options, file.number, file.file_size) {
            Ok(it) => {
                self.current = Some(it);
                true
            }
            Err(e) => {
                self.fail(e);
                false
            }
        }
    }

    fn fail(&mut self, error: Error) {
        self.current = None;
        if self.error.is_none() {
            self.error = Some(error);
        }
    }

    /// True when the current table stopped on an error (then recorded).
    fn current_failed(&mut self) -> bool {
        let error = match &self.current {
            Some(it) => it.status().err(),
            None => None,
        };
        match error {
            Some(e) => {
                self.fail(e);
                true
            }
            None => false,
        }
    }

    /// Moves forward past exhausted tables.
    fn skip_forward(&mut self) {
        while self.error.is_none() && self.current.as_ref().is_some_and(|it| !it.valid()) {
            if self.current_failed() || !self.open(self.index + 1) {
                return;
            }
            if let Some(it) = self.current.as_mut() {
                it.seek_to_first();
            }
        }
    }

    /// Moves backward past exhausted tables.
    fn skip_backward(&mut self) {
        while self.error.is_none() && self.current.as_ref().is_some_and(|it| !it.valid()) {
            if self.current_failed() || self.index == 0 {
                self.current = None;
                return;
            }
            if !self.open(self.index - 1) {
                return;
            }
            if let Some(it) = self.current.as_mut() {
                it.seek_to_last();
            }
        }
    }

    fn current(&self) -> &TableIterator {
        match &self.current {
            Some(it) => it,
            None => panic!("LevelIterator used while not valid"),
        }
    }
}

impl InternalIterator for LevelIterator {
    fn valid(&self) -> bool {
        self.error.is_none() && self.current.as_ref().is_some_and(|it| it.valid())
    }

    fn seek_to_first(&mut self) {
        if self.error.is_some() {
            return;
        }
        if self.open(0) {
            if let Some(it) = self.current.as_mut() {
                it.seek_to_first();
            }
            self.skip_forward();
        }
    }

    fn seek_to_last(&mut self) {
        if self.error.is_some() || self.files.is_empty() {
            self.current = None;
            return;
        }
        if self.open(self.files.len() - 1) {
            if let Some(it) = self.current.as_mut() {
                it.seek_to_last();
            }
            self.skip_backward();
        }
    }

    fn seek(&mut self, target: &[u8]) {
        if self.error.is_some() {
            return;
        }
        let index = find_file(&self.icmp, &self.files, target);
        if self.open(index) {
            if let Some(it) = self.current.as_mut() {
                it.seek(target);
            }
            self.skip_forward();
        }
    }

    fn next(&mut self) {
        if let Some(it) = self.current.as_mut() {
            it.next();
        }
        self.skip_forward();
    }

    fn prev(&mut self) {
        if let Some(it) = self.current.as_mut() {
            it.prev();
        }
        self.skip_backward();
    }

    fn key(&self) -> &[u8] {
        self.current().key()
    }

    fn value(&self) -> &[u8] {
        self.current().value()
    }

    fn key_bytes(&self) -> Bytes {
        self.current().key_bytes()
    }

    fn value_bytes(&self) -> Bytes {
        self.current().value_bytes()
    }

    fn status(&self) -> Result<()> {
        match (&self.error, &self.current) {
            (Some(e), _) => Err(e.clone()),
            (None, Some(it)) => it.status(),
            (None, None) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsmkit_base::comparator::BytewiseComparator;
    use lsmkit_base::filename::table_file_name;
    use lsmkit_base::fs::{FileSystem, MemFs, WriteMode};
    use lsmkit_base::key::{make_internal_key, ValueKind};
    use lsmkit_sstable::{TableBuilder, TableOptions};
    use std::path::Path;

    fn icmp() -> InternalKeyComparator {
        InternalKeyComparator::new(BytewiseComparator::shared())
    }

    /// Tables 1.. holding the given user keys (sequence 1, value = key).
    fn level(fs: &Arc<MemFs>, tables: &[&[&str]]) -> (Arc<TableCache>, Vec<Arc<FileMetaData>>) {
        let options = TableOptions::for_internal_keys(BytewiseComparator::shared(), None);
        let dir = Path::new("/db");
        fs.create_dir_all(dir).unwrap();
        let mut files = Vec::new();
        for (i, keys) in tables.iter().enumerate() {
            let number = i as u64 + 1;
            let file = fs.create_writable(&table_file_name(dir, number), WriteMode::Buffered).unwrap();
            let mut builder = TableBuilder::new(options.clone(), file);
            for k in keys.iter() {
                builder.add(&make_internal_key(k.as_bytes(), 1, ValueKind::Value), k.as_bytes()).unwrap();
            }
            let summary = builder.finish(true).unwrap();
            files.push(Arc::new(FileMetaData::new(
                number,
                summary.file_size,
                summary.smallest_key,
                summary.largest_key,
            )));
        }
        let fs: Arc<dyn FileSystem> = fs.clone();
        (Arc::new(TableCache::new(fs, dir, options, 10)), files)
    }

    fn ikey(k: &str) -> Vec<u8> {
        make_internal_key(k.as_bytes(), 1, ValueKind::Value)
    }

    fn forward(it: &mut LevelIterator) -> Vec<String> {
        let mut out = Vec::new();
        while it.valid() {
            out.push(String::from_utf8(it.value().to_vec()).unwrap());
            it.next();
        }
        out
    }

    #[test]
    fn walks_all_tables_both_ways() {
        let fs = Arc::new(MemFs::new());
        let (cache, files) = level(&fs, &[&["a", "b"], &["c"], &["d", "e", "f"]]);
        let mut it = LevelIterator::new(cache, icmp(), ReadOptions::default(), files);
        assert!(!it.valid());
        it.seek_to_first();
        assert_eq!(forward(&mut it), ["a", "b", "c", "d", "e", "f"]);
        it.seek_to_last();
        let mut backward = Vec::new();
        while it.valid() {
            backward.push(String::from_utf8(it.key()[..1].to_vec()).unwrap());
            it.prev();
        }
        assert_eq!(backward, ["f", "e", "d", "c", "b", "a"]);
        it.seek(&ikey("bb"));
        assert_eq!(forward(&mut it), ["c", "d", "e", "f"]);
        it.seek(&ikey("c"));
        assert_eq!(it.value(), b"c");
        it.prev();
        assert_eq!(it.value(), b"b");
        it.next();
        it.next();
        assert_eq!(it.value(), b"d");
        it.seek(&ikey("z"));
        assert!(!it.valid());
        assert!(it.status().is_ok());
    }

    #[test]
    fn key_and_value_bytes_match_and_values_are_not_copied() {
        let fs = Arc::new(MemFs::new());
        let (cache, files) = level(&fs, &[&["a", "b"], &["c"]]);
        let mut it = LevelIterator::new(cache, icmp(), ReadOptions::default(), files);
        it.seek_to_last();
        let mut seen = 0;
        while it.valid() {
            assert_eq!(&it.key_bytes()[..], it.key());
            let value = it.value_bytes();
            assert_eq!(&value[..], it.value());
            // A view of the block the iterator reads, not a copy.
            assert_eq!(value.as_ptr(), it.value().as_ptr());
            seen += 1;
            it.prev();
        }
        assert_eq!(seen, 3);
    }

    #[test]
    fn empty_level() {
        let fs = Arc::new(MemFs::new());
        let (cache, _) = level(&fs, &[]);
        let mut it = LevelIterator::new(cache, icmp(), ReadOptions::default(), Vec::new());
        it.seek_to_first();
        assert!(!it.valid());
        it.seek_to_last();
        assert!(!it.valid());
        it.seek(&ikey("a"));
        assert!(!it.valid());
        assert!(it.status().is_ok());
    }

    #[test]
    fn a_missing_table_stops_with_an_error() {
        let fs = Arc::new(MemFs::new());
        let (cache, files) = level(&fs, &[&["a"], &["b"], &["c"]]);
        fs.remove_file(&table_file_name(Path::new("/db"), 2)).unwrap();
        let mut it = LevelIterator::new(cache, icmp(), ReadOptions::default(), files);
        it.seek_to_first();
        assert_eq!(forward(&mut it), ["a"]);
        assert!(it.status().is_err());
        // The error sticks.
        it.seek_to_first();
        assert!(!it.valid());
        assert!(it.status().is_err());
    }
}
