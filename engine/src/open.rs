//! Opening a database: the shared state built from the options
//! ([`DbShared::new`]), the recovered memtable and WAL installed in it, and
//! the background threads started (one flush thread, and one compaction
//! thread per further background job, at the configured priority).
//! `Db::open` runs these steps around recovery (engine/src/recovery.rs).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use arc_swap::ArcSwap;
use lsmkit_base::key::InternalKeyComparator;
use lsmkit_base::Result;
use lsmkit_compaction::{new_picker_with, BusyFiles, PickerOptions};
use lsmkit_memtable::Memtable;
use lsmkit_sstable::{BlockCache, TableCache, TableOptions};
use lsmkit_version::{VersionSet, VersionSetOptions};

use crate::options::Options;
use crate::recovery::Recovered;
use crate::snapshot::SnapshotList;
use crate::state::{DbShared, DbState, DbStats};
use crate::super_version::SuperVersion;
use crate::value_format::ValueFormat;

impl DbShared {
    /// The state of a database about to be opened in `dir`: table options
    /// and caches from `options` (already sanitized), an empty version set
    /// (recovery reads the MANIFEST into it) and an empty memtable.
    pub(crate) fn new(dir: PathBuf, options: Options) -> DbShared {
        let fs = options.fs.clone();
        let icmp = InternalKeyComparator::new(options.comparator.clone());
        let mut table_options =
            TableOptions::for_internal_keys(options.comparator.clone(), options.filter_policy.clone());
        table_options.block_size = options.block_size;
        table_options.restart_interval = options.block_restart_interval;
        table_options.compression = options.compression;
        table_options.paranoid_checks = options.paranoid_checks;
        table_options.read_mode = options.table_read_mode;
        table_options.block_cache = Some(Arc::new(BlockCache::new(options.block_cache_capacity)));
        let table_cache = Arc::new(TableCache::new(
            fs.clone(),
            &dir,
            table_options.clone(),
            crate::fd_limit::table_cache_capacity(options.max_open_files - 10),
        ));
        let versions = VersionSet::new(
            &dir,
            fs.clone(),
            icmp.clone(),
            VersionSetOptions {
                max_file_size: options.max_file_size,
                max_manifest_file_size: options.max_manifest_file_size,
                reuse_manifest: false,
                paranoid_checks: options.paranoid_checks,
            },
        );
        let picker = new_picker_with(
            &options.compaction_style,
            &PickerOptions {
                max_file_size: options.max_file_size,
                l0_compaction_trigger: options.l0_compaction_trigger,
                priority: options.compaction_priority,
                aligned_output_cuts: options.aligned_output_cuts,
            },
        );
        let value_format = ValueFormat::from_options(&options);
        let empty_view = SuperVersion::new(Memtable::new(icmp.clone()), Vec::new(), versions.current());
        let state = DbState {
            mem: Memtable::new(icmp.clone()),
            mem_log_number: 0,
            wal: None,
            unsynced_wals: Vec::new(),
            wal_dir_synced: true,
            imms: Default::default(),
            versions,
            bg_error: None,
            pending_outputs: Default::default(),
            running_compactions: Vec::new(),
            busy: BusyFiles::new(),
            next_compaction_id: 1,
            manifest_writing: false,
            writers: Default::default(),
            group_record: None,
            flush_cleanups: 0,
            manual: None,
            next_manual_id: 1,
            finished_manuals: Default::default(),
            stats: DbStats::default(),
            wal_archive: Default::default(),
        };
        DbShared {
            dir,
            options,
            fs,
            icmp,
            table_options,
            table_cache,
            picker,
            snapshots: Arc::new(SnapshotList::default()),
            state: Mutex::new(state),
            super_version: ArcSwap::from_pointee(empty_view),
            table_tombstones: Default::default(),
            last_sequence: AtomicU64::new(0),
            manifest_cv: Condvar::new(),
            work_cv: Condvar::new(),
            progress_cv: Condvar::new(),
            shutting_down: AtomicBool::new(false),
            value_format,
            _lock: Mutex::new(None),
        }
    }

    /// Makes what recovery produced the current memtable and WAL, and
    /// publishes the first read view.
    pub(crate) fn install_recovered(&self, recovered: Recovered) {
        let mut state = self.lock();
        state.mem = recovered.mem;
        state.mem_log_number = recovered.log_number;
        state.wal = Some(recovered.wal);
        let last = state.versions.last_sequence();
        self.last_sequence.store(last, Ordering::Release);
        self.publish_super_version(&state);
    }
}

/// Starts the flush thread and the compaction threads, adding each to
/// `threads` as it starts (so that the caller can stop those started when a
/// later one fails to).
pub(crate) fn start_background_threads(
    shared: &Arc<DbShared>,
    threads: &mut Vec<JoinHandle<()>>,
) -> Result<()> {
    let flusher = Arc::clone(shared);
    threads.push(
        std::thread::Builder::new()
            .name("lsmkit-flush".into())
            .spawn(move || flusher.flush_thread())
            .map_err(|e| lsmkit_base::Error::io("spawn", "lsmkit-flush", e))?,
    );
    // One thread flushes; every other background job compacts.
    for i in 0..shared.options.max_background_jobs - 1 {
        let compactor = Arc::clone(shared);
        let compaction_filter = shared.value_format.compaction_filter();
        let name = format!("lsmkit-compaction-{i}");
        let handle = std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                crate::thread_priority::lower_current_thread_priority(
                    compactor.options.compaction_thread_nice,
                );
                compactor.compaction_thread(compaction_filter)
            })
            .map_err(|e| lsmkit_base::Error::io("spawn", name, e))?;
        threads.push(handle);
    }
    Ok(())
}
