//! Step 4 of the repair: the new MANIFEST lists every table at level 0,
//! with log number 0, the next file number past every file seen and the
//! largest sequence found as last sequence; CURRENT points at it and the
//! older MANIFESTs are set aside.

use lsmkit_base::filename::manifest_file_name;
use lsmkit_base::fs::WriteMode;
use lsmkit_base::Result;
use lsmkit_version::current_file::set_current_file;
use lsmkit_version::{FileMetaData, VersionEdit};
use lsmkit_wal::LogWriter;

use super::{FoundTable, Repairer};

impl Repairer<'_> {
    /// Writes the new MANIFEST (every table at level 0), points CURRENT at
    /// it and sets the old MANIFESTs aside.
    pub(super) fn write_manifest(&mut self, tables: &[FoundTable], old_manifests: &[u64]) -> Result<()> {
        // The names of the tables written and renamed are durable before
        // the MANIFEST names them.
        self.fs.sync_dir(self.dir)?;
        let manifest_number = self.new_file_number();
        let last_sequence = tables.iter().map(|t| t.max_sequence).max().unwrap_or(0);
        let mut edit = VersionEdit::new();
        edit.set_comparator_name(self.icmp.user_comparator().name());
        edit.set_log_number(0);
        edit.set_prev_log_number(0);
        edit.set_next_file_number(self.next_file_number);
        edit.set_last_sequence(last_sequence);
        let mut numbers = Vec::with_capacity(tables.len());
        for table in tables {
            edit.add_file(
                0,
                FileMetaData::new(
                    table.number,
                    table.file_size,
                    table.smallest.clone(),
                    table.largest.clone(),
                ),
            );
            numbers.push(table.number);
        }
        let path = manifest_file_name(self.dir, manifest_number);
        let written = (|| {
            let mut writer = LogWriter::new(self.fs.create_writable(&path, WriteMode::Buffered)?);
            writer.add_record(&edit.encode())?;
            writer.sync()?;
            writer.close()?;
            self.fs.sync_dir(self.dir)
        })();
        if let Err(e) = written {
            let _ = self.fs.remove_file(&path);
            return Err(e);
        }
        set_current_file(self.fs, self.dir, manifest_number)?;
        for &number in old_manifests {
            self.set_aside(&manifest_file_name(self.dir, number))?;
        }
        numbers.sort_unstable();
        self.report.tables = numbers;
        self.report.last_sequence = last_sequence;
        self.report.manifest_number = manifest_number;
        Ok(())
    }
}
