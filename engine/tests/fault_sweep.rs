//! Fault sweep: a scripted workload (open, writes — some synced —, reads,
//! a flush, compactions, a reopen, a close) runs on a `FaultFs` over a
//! `MemFs`, once to count its file-system operations, then once per
//! operation index `i` in two ways:
//!
//! - **error**: operation `i` returns an I/O error (`FaultFs::fail_nth`);
//!   the workload stops at the first error the database returns and the
//!   database is closed normally;
//! - **crash**: the power goes right after operation `i` (every later
//!   operation fails, then `FaultFs::crash` drops whatever was not durable).
//!
//! Every run must end in success or a returned error — never a panic, in
//! any thread — and live reads must see the writes acknowledged so far.
//! Afterwards the database, reopened on a healthy file system, must open
//! and hold the state after some prefix of the attempted writes: after an
//! error (no crash) every acknowledged write is there; after a crash every
//! write acknowledged as durable is (a synced write, or one a completed
//! flush, compaction or reopen made durable). It must then take writes.
//!
//! The whole sweep runs in CI: about 1 400 operations, so 2 × 1 400 cases,
//! in about 12 s (debug build, 2 cores). `LSMKIT_FAULT_SWEEP_STRIDE=N` runs
//! only every N-th operation index, for a quicker look.

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

mod common;
mod sweep_common;

use common::TestRng;

use std::io::ErrorKind;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use lsmkit::{Db, FlushOptions, Options, ReadOptions, WriteOptions};
use lsmkit_base::fs::{FaultFs, FileSystem, MemFs};
use sweep_common::{
    apply, batch_of, count_panics, panic_message, panics_so_far, read_everything, show, History, Model,
    PowerCutFs, Watchdog, Write,
};

/// Where the database lives on the in-memory file system.
const DIR: &str = "/db";
/// Distinct keys the workload writes.
const KEY_SPACE: u64 = 40;
/// Writes in the workload.
const WRITES: usize = 200;

/// One step of the scripted workload.
#[derive(Debug, Clone)]
enum Step {
    /// A write, synced or not.
    Write { write: Write, sync: bool },
    /// A point read, checked against the acknowledged writes.
    Get(Vec<u8>),
    /// A full forward scan, checked against the acknowledged writes.
    Scan,
    /// `flush` and wait for it.
    Flush,
    /// `compact_range` over everything.
    Compact,
    /// Close the database and open it again.
    Reopen,
}

fn key(n: u64) -> Vec<u8> {
    format!("key{n:03}").into_bytes()
}

/// The workload: 200 writes of about 1 KiB (so the 64 KiB write buffer
/// fills a few times and background flushes and compactions run), one in
/// seven synced, with reads between them, an explicit flush, two manual
/// compactions and a reopen.
fn workload() -> Vec<Step> {
    let mut rng = TestRng::new(7);
    let mut steps = Vec::new();
    for i in 0..WRITES {
        match i {
            60 => steps.push(Step::Flush),
            90 | 180 => steps.push(Step::Scan),
            120 => steps.push(Step::Compact),
            160 => steps.push(Step::Reopen),
            _ => {}
        }
        let ops = if rng.percent(80) { 1 } else { 2 + rng.below(3) };
        let write: Write = (0..ops)
            .map(|op| {
                let k = key(rng.below(KEY_SPACE));
                if rng.percent(15) {
                    return (k, None);
                }
                let mut value = format!("w{i}o{op}:").into_bytes();
                let len = 600 + rng.below(900) as usize;
                while value.len() < len {
                    value.push(b'a' + (rng.below(26) as u8));
                }
                (k, Some(value))
            })
            .collect();
        steps.push(Step::Write { write, sync: i % 7 == 6 });
        if i % 5 == 4 {
            steps.push(Step::Get(key(rng.below(KEY_SPACE))));
        }
    }
    steps.push(Step::Compact);
    steps.push(Step::Scan);
    steps
}

fn options(fs: Arc<dyn FileSystem>) -> Options {
    Options {
        create_if_missing: true,
        fs,
        write_buffer_size: 64 << 10,
        l0_compaction_trigger: 2,
        block_cache_capacity: 64 << 10,
        ..Options::default()
    }
}

/// How one run of the workload ended.
struct RunLog {
    history: History,
    /// The first error the database returned, and the step it came from.
    error: Option<(usize, lsmkit::Error)>,
}

/// Runs the workload on `fs` until it ends or the database returns an
/// error. `Err` is a violation: a live read that disagrees with the
/// acknowledged writes.
fn run_workload(steps: &[Step], fs: Arc<dyn FileSystem>) -> Result<RunLog, String> {
    let options = options(fs);
    let mut history = History::default();
    let mut latest = Model::new();
    let mut db = match Db::open(DIR, options.clone()) {
        Ok(db) => Some(db),
        Err(e) => return Ok(RunLog { history, error: Some((0, e)) }),
    };
    for (index, step) in steps.iter().enumerate() {
        let Some(open) = db.as_ref() else { break };
        let outcome: lsmkit::Result<()> = match step {
            Step::Write { write, sync } => {
                history.attempted.push(write.clone());
                let result =
                    open.write(WriteOptions { sync: *sync, ..WriteOptions::default() }, batch_of(write));
                if result.is_ok() {
                    apply(&mut latest, write);
                    history.acked = history.attempted.len();
                    if *sync {
                        history.durable = history.acked;
                    }
                }
                result
            }
            Step::Get(k) => match open.get(k) {
                Ok(got) if got.as_deref() != latest.get(k).map(Vec::as_slice) => {
                    return Err(format!(
                        "step {index}: get {} returned {:?}, expected {:?}",
                        show(k),
                        got.as_deref().map(show),
                        latest.get(k).map(|v| show(v))
                    ));
                }
                other => other.map(drop),
            },
            Step::Scan => match read_everything(open, &ReadOptions::new(), &[])? {
                Ok(seen) if seen != latest => {
                    return Err(format!(
                        "step {index}: a scan differs from the acknowledged writes: {}",
                        sweep_common::first_difference(&seen, &latest).unwrap_or_default()
                    ));
                }
                other => other.map(drop),
            },
            Step::Flush => open.flush(FlushOptions { wait: true }).map(|()| history.durable = history.acked),
            Step::Compact => open.compact_range(None, None).map(|()| history.durable = history.acked),
            Step::Reopen => {
                db = None;
                Db::open(DIR, options.clone()).map(|reopened| {
                    db = Some(reopened);
                    history.durable = history.acked;
                })
            }
        };
        if let Err(e) = outcome {
            return Ok(RunLog { history, error: Some((index, e)) });
        }
    }
    Ok(RunLog { history, error: None })
}

/// How a case disturbs the workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Nothing: the baseline run that counts operations.
    None,
    /// Operation `i` returns an I/O error.
    Error(u64),
    /// The power goes right after operation `i`.
    Crash(u64),
}

/// What a case showed, for the sweep's summary.
struct CaseReport {
    /// Operations the run performed (for the baseline: the count to sweep).
    ops: u64,
    /// The workload ended with an error from the database.
    failed: bool,
    /// Writes the recovered database holds, out of those attempted.
    recovered_prefix: usize,
}

/// Runs one case and checks everything the file's comment promises.
fn run_case(steps: &[Step], fault: Fault) -> Result<CaseReport, String> {
    let mem = MemFs::new();
    let fault_fs = FaultFs::new(Arc::new(mem.clone()));
    let power_cut = match fault {
        Fault::Crash(i) => Some(PowerCutFs::new(fault_fs.clone(), i)),
        _ => None,
    };
    let fs: Arc<dyn FileSystem> = match (&power_cut, fault) {
        (Some(p), _) => Arc::new(p.clone()),
        (None, Fault::Error(i)) => {
            fault_fs.fail_nth(i, ErrorKind::Other);
            Arc::new(fault_fs.clone())
        }
        (None, _) => Arc::new(fault_fs.clone()),
    };
    let panics_before = panics_so_far();
    let log = std::panic::catch_unwind(AssertUnwindSafe(|| run_workload(steps, fs)))
        .map_err(|payload| format!("the workload panicked: {}", panic_message(&*payload)))??;
    // Every handle is closed by now: the workload dropped the database.
    let ops = fault_fs.op_count();
    if let Some(p) = &power_cut {
        p.cut_now();
    }
    if fault == Fault::None {
        if let Some((step, e)) = &log.error {
            return Err(format!("the fault-free run failed at step {step}: {e}"));
        }
    }
    let at_least = if power_cut.is_some() { log.history.durable } else { log.history.acked };

    // Reopen on a healthy file system.
    let healthy: Arc<dyn FileSystem> = Arc::new(mem.clone());
    let db = Db::open(DIR, options(healthy)).map_err(|e| format!("reopen failed: {e}"))?;
    let probe: Vec<Vec<u8>> = (0..KEY_SPACE).map(key).collect();
    let recovered = read_everything(&db, &ReadOptions::new(), &probe)?
        .map_err(|e| format!("reading the reopened database failed: {e}"))?;
    let prefix = log.history.matching_prefix(&recovered, at_least)?;
    // The recovered database takes writes.
    db.put(b"after-recovery", b"ok").map_err(|e| format!("a write after reopening failed: {e}"))?;
    db.flush(FlushOptions { wait: true }).map_err(|e| format!("a flush after reopening failed: {e}"))?;
    match db.get(b"after-recovery") {
        Ok(Some(v)) if v.as_ref() == b"ok" => {}
        other => return Err(format!("a read after reopening gave {other:?}")),
    }
    drop(db);
    let panics = panics_so_far() - panics_before;
    if panics > 0 {
        return Err(format!("{panics} panic(s) in the database's threads (see the output above)"));
    }
    Ok(CaseReport { ops, failed: log.error.is_some(), recovered_prefix: prefix })
}

/// Every operation index is swept unless `LSMKIT_FAULT_SWEEP_STRIDE=N` asks
/// for every N-th only.
fn stride() -> u64 {
    std::env::var("LSMKIT_FAULT_SWEEP_STRIDE")
        .ok()
        .and_then(|n| n.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(1)
}

/// The baseline: runs the fault-free workload three times (background
/// threads make the count vary a little) and returns the largest count.
fn count_operations(steps: &[Step]) -> u64 {
    let counts: Vec<u64> = (0..3)
        .map(|_| run_case(steps, Fault::None).unwrap_or_else(|e| panic!("fault-free run: {e}")).ops)
        .collect();
    eprintln!("fault sweep: the workload performs {counts:?} file-system operations");
    counts.into_iter().max().unwrap_or(0)
}

/// Sweeps `make_fault(i)` over the operation indexes; panics listing every
/// failed case.
fn sweep(name: &str, make_fault: impl Fn(u64) -> Fault) {
    count_panics();
    let steps = workload();
    let total = count_operations(&steps);
    let stride = stride();
    let watchdog = Watchdog::start();
    let started = Instant::now();
    let mut failures = Vec::new();
    let (mut cases, mut failed_runs, mut recovered_all) = (0u64, 0u64, 0u64);
    // One past the count too: the power cut after the very last operation.
    let mut i = 0;
    while i <= total {
        let fault = make_fault(i);
        watchdog.case(format!("{fault:?}"));
        cases += 1;
        match run_case(&steps, fault) {
            Ok(report) => {
                failed_runs += u64::from(report.failed);
                let writes = steps.iter().filter(|s| matches!(s, Step::Write { .. })).count();
                recovered_all += u64::from(report.recovered_prefix == writes);
            }
            Err(e) => failures.push(format!("{fault:?}: {e}")),
        }
        i += stride;
    }
    drop(watchdog);
    eprintln!(
        "fault sweep ({name}): {cases} cases (stride {stride}, operations 0..={total}) in {:.1} s; \
         {failed_runs} runs ended with an error, {recovered_all} recovered every write",
        started.elapsed().as_secs_f64()
    );
    assert!(failures.is_empty(), "{} of {cases} cases failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn every_failed_operation_leaves_a_recoverable_database() {
    sweep("error", Fault::Error);
}

#[test]
fn a_power_cut_after_every_operation_leaves_a_recoverable_database() {
    sweep("crash", Fault::Crash);
}

/// The sweep's own machinery: a power cut after operation `i` keeps
/// exactly what was durable then, so a run cut after the last operation
/// recovers every acknowledged write, and one cut before the database
/// existed recovers nothing.
#[test]
fn the_power_cut_keeps_what_was_durable_at_that_operation() {
    count_panics();
    let steps = workload();
    let writes = steps.iter().filter(|s| matches!(s, Step::Write { .. })).count();
    let total = count_operations(&steps);
    let all = run_case(&steps, Fault::Crash(total + 10)).unwrap_or_else(|e| panic!("{e}"));
    assert!(!all.failed, "a power cut after the workload does not disturb it");
    assert_eq!(all.recovered_prefix, writes, "a clean close makes every write durable");
    let none = run_case(&steps, Fault::Crash(0)).unwrap_or_else(|e| panic!("{e}"));
    assert!(none.failed, "the power went at the first operation of the open");
    assert_eq!(none.recovered_prefix, 0);
    // The workload's 7th write is its first synced one: a power cut right
    // after it was acknowledged keeps all seven.
    let first_writes: Vec<(Write, bool)> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Write { write, sync } => Some((write.clone(), *sync)),
            _ => None,
        })
        .take(7)
        .collect();
    assert!(first_writes[6].1 && !first_writes[..6].iter().any(|(_, sync)| *sync));
    let mem = MemFs::new();
    let fault_fs = FaultFs::new(Arc::new(mem.clone()));
    let db = Db::open(DIR, options(Arc::new(fault_fs.clone()))).expect("open");
    let mut history = History::default();
    for (write, sync) in &first_writes {
        db.write(WriteOptions { sync: *sync, ..WriteOptions::default() }, batch_of(write)).expect("write");
        history.attempted.push(write.clone());
    }
    let cut = PowerCutFs::new(fault_fs.clone(), fault_fs.op_count() - 1);
    cut.cut_now();
    assert!(cut.was_cut());
    drop(db);
    let db = Db::open(DIR, options(Arc::new(mem.clone()))).expect("reopen");
    let recovered = read_everything(&db, &ReadOptions::new(), &[]).expect("consistent").expect("read");
    assert_eq!(history.matching_prefix(&recovered, 7), Ok(7));
}
