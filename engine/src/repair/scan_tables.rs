//! Step 2 of the repair: every table scanned block by block with checksums
//! verified (`Table::scan_data_blocks`), to find its key and sequence
//! ranges. A table that does not open, or holds no readable entry, is set
//! aside as lost; one with damaged blocks or entries has its readable
//! entries copied into a new table, and the original is set aside.

use std::cmp::Ordering;
use std::path::PathBuf;
use std::sync::Arc;

use lsmkit_base::iterator::InternalIterator;
use lsmkit_base::key::{parse_internal_key, InternalKeyComparator, SequenceNumber, MAX_SEQUENCE_NUMBER};
use lsmkit_base::Result;
use lsmkit_sstable::{BlockHandle, ScannedBlock, Table, BLOCK_TRAILER_LEN};

use super::table_writer::TableWriter;
use super::{FoundTable, Repairer};

/// What a scan of one table found.
struct TableScan {
    entries: u64,
    damaged: bool,
    dropped_entries: u64,
    dropped_bytes: u64,
    smallest: Vec<u8>,
    largest: Vec<u8>,
    min_sequence: SequenceNumber,
    max_sequence: SequenceNumber,
}

impl Repairer<'_> {
    /// Scans table `number`: returns it as it is when it is intact, a copy
    /// of its readable entries when it is damaged, nothing when nothing in
    /// it is readable (it is then set aside as lost).
    pub(super) fn scan_table(&mut self, number: u64, path: PathBuf) -> Result<Option<FoundTable>> {
        let table = match Table::open_path(self.fs, &path, self.table_options.clone()) {
            Ok(table) => table,
            Err(e) if e.is_corruption() => {
                self.report.table_bytes_dropped += self.fs.file_size(&path)?;
                self.report.lost_tables.push(number);
                self.set_aside(&path)?;
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let mut scan = scan_entries(&self.icmp, &table, None)?;
        let tombstones = table.range_tombstones().cloned();
        if let Some(t) = &tombstones {
            // The table's range covers its tombstones too.
            let points = (scan.entries > 0).then(|| (scan.smallest.clone(), scan.largest.clone()));
            if let Some((smallest, largest)) =
                lsmkit_base::range_tombstone::table_bounds(&self.icmp, points, t)
            {
                (scan.smallest, scan.largest) = (smallest, largest);
            }
            for s in t.tombstones().map(|t| t.sequence) {
                scan.min_sequence = scan.min_sequence.min(s);
                scan.max_sequence = scan.max_sequence.max(s);
            }
        }
        if scan.entries == 0 && tombstones.is_none() {
            self.report.table_entries_dropped += scan.dropped_entries;
            self.report.table_bytes_dropped += table.file_size();
            self.report.lost_tables.push(number);
            drop(table);
            self.set_aside(&path)?;
            return Ok(None);
        }
        if !scan.damaged {
            return Ok(Some(FoundTable {
                number,
                file_size: table.file_size(),
                path,
                smallest: scan.smallest,
                largest: scan.largest,
                min_sequence: scan.min_sequence,
                max_sequence: scan.max_sequence,
                original: true,
            }));
        }
        self.report.table_entries_dropped += scan.dropped_entries;
        self.report.table_bytes_dropped += scan.dropped_bytes;
        let icmp = self.icmp.clone();
        let copy = self.write_table(|out| {
            if let Some(t) = &tombstones {
                out.add_range_tombstones(t);
            }
            scan_entries(&icmp, &table, Some(out)).map(|_| ())
        })?;
        drop(table);
        self.set_aside(&path)?;
        self.report.salvaged_tables.push(number);
        Ok(copy)
    }
}

/// Reads every data block of `table` with checksums verified and returns
/// what it holds; with `out`, also copies every readable entry there.
/// Damaged blocks, unparsable keys and keys out of order are skipped and
/// counted. Errors other than corruption are returned.
fn scan_entries(
    icmp: &InternalKeyComparator,
    table: &Table,
    mut out: Option<&mut TableWriter>,
) -> Result<TableScan> {
    let mut scan = TableScan {
        entries: 0,
        damaged: false,
        dropped_entries: 0,
        dropped_bytes: 0,
        smallest: Vec::new(),
        largest: Vec::new(),
        min_sequence: MAX_SEQUENCE_NUMBER,
        max_sequence: 0,
    };
    // The block and its trailer, as counted in `dropped_bytes` (the size
    // comes from the file: it may be anything).
    let stored_len = |handle: BlockHandle| handle.size.saturating_add(BLOCK_TRAILER_LEN as u64);
    table.scan_data_blocks(|scanned| {
        let (handle, block) = match scanned {
            ScannedBlock::Block { handle, block, .. } => (handle, block),
            ScannedBlock::Damaged { handle, .. } => {
                scan.damaged = true;
                scan.dropped_bytes = scan.dropped_bytes.saturating_add(handle.map_or(0, stored_len));
                return Ok(());
            }
        };
        let mut entries = block.iter(Arc::clone(&table.options().comparator));
        entries.seek_to_first();
        while entries.valid() {
            let key = entries.key();
            // Range tombstones never belong among a table's entries.
            let sequence = parse_internal_key(key)
                .ok()
                .filter(|parsed| parsed.kind != lsmkit_base::key::ValueKind::RangeDeletion)
                .map(|parsed| parsed.sequence);
            let in_order =
                scan.entries == 0 || icmp.compare_internal_keys(key, &scan.largest) == Ordering::Greater;
            match sequence {
                Some(sequence) if in_order => {
                    if let Some(out) = out.as_deref_mut() {
                        out.add(key, entries.value())?;
                    }
                    if scan.entries == 0 {
                        scan.smallest = key.to_vec();
                    }
                    scan.largest.clear();
                    scan.largest.extend_from_slice(key);
                    scan.min_sequence = scan.min_sequence.min(sequence);
                    scan.max_sequence = scan.max_sequence.max(sequence);
                    scan.entries += 1;
                }
                _ => {
                    scan.damaged = true;
                    scan.dropped_entries += 1;
                }
            }
            entries.next();
        }
        if entries.status().is_err() {
            scan.damaged = true;
            scan.dropped_bytes = scan.dropped_bytes.saturating_add(stored_len(handle));
        }
        Ok(())
    })?;
    Ok(scan)
}
