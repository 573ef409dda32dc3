//! Writing the repair's tables (from a memtable in step 1, salvaged
//! entries in step 2, merged tables in step 3), each with the sequence
//! range of what went in.

use std::cmp::Ordering;

use lsmkit_base::filename::table_file_name;
use lsmkit_base::fs::WriteMode;
use lsmkit_base::key::{parse_internal_key, InternalKeyComparator, SequenceNumber, MAX_SEQUENCE_NUMBER};
use lsmkit_base::range_tombstone::{table_bounds, FragmentedRangeTombstones, RangeTombstone};
use lsmkit_base::Result;
use lsmkit_sstable::TableBuilder;

use super::{FoundTable, Repairer};

impl Repairer<'_> {
    /// Writes a new table with the entries `fill` adds; `None` (and no
    /// file) when it adds none. On error the file is removed.
    pub(super) fn write_table(
        &mut self,
        fill: impl FnOnce(&mut TableWriter) -> Result<()>,
    ) -> Result<Option<FoundTable>> {
        let number = self.new_file_number();
        let path = table_file_name(self.dir, number);
        let file = self.fs.create_writable(&path, WriteMode::Buffered)?;
        let mut out = TableWriter {
            icmp: self.icmp.clone(),
            builder: TableBuilder::new(self.table_options.clone(), file),
            entries: 0,
            last_key: Vec::new(),
            min_sequence: MAX_SEQUENCE_NUMBER,
            max_sequence: 0,
            tombstones: Vec::new(),
        };
        if let Err(e) = fill(&mut out) {
            let _ = out.builder.abandon();
            let _ = self.fs.remove_file(&path);
            return Err(e);
        }
        if out.entries == 0 && out.tombstones.is_empty() {
            let _ = out.builder.abandon();
            self.fs.remove_file(&path)?;
            return Ok(None);
        }
        let tombstones = FragmentedRangeTombstones::new(
            out.tombstones,
            std::sync::Arc::clone(self.icmp.user_comparator()),
        );
        out.builder.set_range_tombstones(&tombstones);
        match out.builder.finish(true) {
            Ok(summary) => {
                let points = (summary.entries > 0).then_some((summary.smallest_key, summary.largest_key));
                let (smallest, largest) =
                    table_bounds(&self.icmp, points, &tombstones).expect("entries or tombstones");
                Ok(Some(FoundTable {
                    number,
                    path,
                    file_size: summary.file_size,
                    smallest,
                    largest,
                    min_sequence: out.min_sequence,
                    max_sequence: out.max_sequence,
                    original: false,
                }))
            }
            Err(e) => {
                let _ = self.fs.remove_file(&path);
                Err(e)
            }
        }
    }
}

/// A table being written by the repair, with its sequence range.
pub(super) struct TableWriter {
    icmp: InternalKeyComparator,
    builder: TableBuilder,
    entries: u64,
    last_key: Vec<u8>,
    min_sequence: SequenceNumber,
    max_sequence: SequenceNumber,
    /// Range tombstones for the table's `lsmkit.range_del` block.
    tombstones: Vec<RangeTombstone>,
}

impl TableWriter {
    /// Adds the range tombstones of `list` (fragmented again with any
    /// added before when the table is finished).
    pub(super) fn add_range_tombstones(&mut self, list: &FragmentedRangeTombstones) {
        for t in list.tombstones() {
            self.min_sequence = self.min_sequence.min(t.sequence);
            self.max_sequence = self.max_sequence.max(t.sequence);
            self.tombstones.push(t);
        }
    }

    /// Adds an entry; one that is not after the last one added (an exact
    /// duplicate from a merge) is skipped.
    pub(super) fn add(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        let sequence = parse_internal_key(key)?.sequence;
        if self.entries > 0 && self.icmp.compare_internal_keys(key, &self.last_key) != Ordering::Greater {
            return Ok(());
        }
        self.builder.add(key, value)?;
        self.entries += 1;
        self.last_key.clear();
        self.last_key.extend_from_slice(key);
        self.min_sequence = self.min_sequence.min(sequence);
        self.max_sequence = self.max_sequence.max(sequence);
        Ok(())
    }
}
