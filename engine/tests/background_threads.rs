//! `max_background_jobs` starts one flush thread and `max_background_jobs - 1`
//! compaction threads (at least one). Alone in its test binary, so that no
//! other database's threads are counted.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lsmkit::{Db, Options};
use lsmkit_base::fs::{FileSystem, MemFs};

/// Threads of this process whose name starts with `prefix`.
fn threads_named(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with(prefix))
        .count()
}

#[test]
fn max_background_jobs_sets_the_number_of_compaction_threads() {
    for (jobs, compaction_threads) in [(1, 1), (2, 1), (3, 2), (5, 4)] {
        let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
        let options =
            Options { create_if_missing: true, fs, max_background_jobs: jobs, ..Options::default() };
        let db = Db::open("/db", options).expect("open");
        // A new thread names itself once it runs: give it that moment.
        let started = Instant::now();
        let counts = || (threads_named("lsmkit-compact"), threads_named("lsmkit-flush"));
        while counts() != (compaction_threads, 1) && started.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(counts(), (compaction_threads, 1), "max_background_jobs {jobs}");
        drop(db);
        // Joined threads may stay listed for a moment while the kernel reaps them.
        let closed = Instant::now();
        while threads_named("lsmkit-") != 0 && closed.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(threads_named("lsmkit-"), 0, "threads left running after close");
    }
}
