//! `max_background_jobs` starts one flush thread and `max_background_jobs - 1`
//! compaction threads (at least one), and `compaction_thread_nice` lowers
//! the compaction threads' priority. Alone in its test binary, so that no
//! other database's threads are counted.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lsmkit::{Db, Options};
use lsmkit_base::fs::{FileSystem, MemFs};

/// The tests of this file count threads of the whole process: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

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
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
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

/// The nice value of each of this process's threads named `prefix*`.
fn nice_values(prefix: &str) -> Vec<i64> {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|task| {
            let path = task.ok()?.path();
            let name = std::fs::read_to_string(path.join("comm")).ok()?;
            if !name.starts_with(prefix) {
                return None;
            }
            let stat = std::fs::read_to_string(path.join("stat")).ok()?;
            // Fields after the parenthesised name start at field 3; nice is field 19.
            stat.rsplit_once(')')?.1.split_whitespace().nth(16)?.parse().ok()
        })
        .collect()
}

#[test]
fn compaction_threads_run_at_a_lower_priority() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    for (increase, expected) in [(0, 0), (7, 7)] {
        let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
        let options = Options {
            create_if_missing: true,
            fs,
            max_background_jobs: 3,
            compaction_thread_nice: increase,
            ..Options::default()
        };
        let db = Db::open("/db", options).expect("open");
        let started = Instant::now();
        let lowered = || {
            let flush = nice_values("lsmkit-flush");
            let compaction = nice_values("lsmkit-compact");
            flush.len() == 1
                && compaction.len() == 2
                && compaction.iter().all(|&nice| nice == flush[0] + expected)
        };
        while !lowered() && started.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(
            lowered(),
            "compaction_thread_nice {increase}: flush {:?}, compaction {:?}",
            nice_values("lsmkit-flush"),
            nice_values("lsmkit-compact")
        );
        drop(db);
        let closed = Instant::now();
        while threads_named("lsmkit-") != 0 && closed.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
