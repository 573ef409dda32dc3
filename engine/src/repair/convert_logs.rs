//! Step 1 of the repair: every log, oldest first, read as LevelDB's reader
//! does (damaged regions dropped, reading goes on); each record checked in
//! full as a write batch (`WriteBatch::from_log_record`), malformed ones
//! counted and dropped; the batches go through a memtable into level-0
//! tables, and the log is set aside.

use lsmkit_base::filename::log_file_name;
use lsmkit_base::iterator::InternalIterator;
use lsmkit_base::Result;
use lsmkit_memtable::Memtable;
use lsmkit_wal::{LogReader, RecoveryMode, WriteBatch};

use super::{FoundTable, Repairer};
use crate::write::insert_batch;

impl Repairer<'_> {
    /// Writes the readable write batches of log `number` to level-0 tables
    /// (one per `write_buffer_size` of memtable), then sets the log aside.
    pub(super) fn convert_log(&mut self, number: u64) -> Result<Vec<FoundTable>> {
        let path = log_file_name(self.dir, number);
        let file = self.fs.open_sequential(&path)?;
        let mut reader = LogReader::new(file, &path, RecoveryMode::SkipAnyCorruptedRecords);
        let mut mem = Memtable::new(self.icmp.clone());
        let mut tables = Vec::new();
        while let Some(record) = reader.read_record()? {
            let offset = reader.last_record_offset();
            let Ok(batch) = WriteBatch::from_log_record(record, &path, offset) else {
                self.report.log_records_dropped += 1;
                continue;
            };
            insert_batch(&mem, &batch, batch.sequence())?;
            if mem.write_buffer_charge() > self.write_buffer_size {
                let full = std::mem::replace(&mut mem, Memtable::new(self.icmp.clone()));
                tables.extend(self.write_memtable(&full)?);
            }
        }
        self.report.log_bytes_dropped += reader.dropped_bytes();
        tables.extend(self.write_memtable(&mem)?);
        drop(reader);
        self.set_aside(&path)?;
        self.report.converted_logs.push(number);
        Ok(tables)
    }

    fn write_memtable(&mut self, mem: &Memtable) -> Result<Option<FoundTable>> {
        if mem.is_empty() {
            return Ok(None);
        }
        self.write_table(|out| {
            if let Some(tombstones) = mem.range_tombstones() {
                out.add_range_tombstones(&tombstones);
            }
            let mut it = mem.iter();
            it.seek_to_first();
            while it.valid() {
                out.add(it.key(), it.value())?;
                it.next();
            }
            it.status()
        })
    }
}
