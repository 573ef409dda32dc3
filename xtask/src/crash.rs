//! `cargo xtask crash --cycles N [--seed S]`: the process-crash test.
//!
//! Each cycle starts the `crash_writer` binary on one database, which
//! writes random batches of a deterministic history — puts, deletes,
//! merges into u64 counters and range deletions (of a few to a few hundred
//! keys, counters included); some synced, some not, some with
//! `disable_wal` and then a flush — and logs every
//! acknowledged step in a side file (synced when the step was durable).
//! The harness kills it with SIGKILL at a random moment (usually 50–500 ms
//! after its `Db::open` returned, sometimes during the open), sometimes
//! starts a second writer that only opens the database and kills that one
//! too (a crash during recovery), then opens the database itself and
//! checks it (see [`verify`]): it must equal the history cut at one batch
//! boundary, keep every acknowledged write, and reopen cleanly. The next
//! cycle's writer carries on from the recovered cut with other options
//! (see [`cycle_options`]). At the end the harness writes in-process,
//! closes cleanly, reopens, and checks nothing was lost.

pub mod cycle_options;
pub mod history;
pub mod plan;
pub mod rng;
pub mod side_file;
pub mod verify;
pub mod writer;

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use lsmkit::Db;

use cycle_options::CycleOptions;
use plan::Plan;
use rng::{mix, SplitMix64};
use side_file::{Record, SideFile};
use verify::{check_cycle, Contents, Model, RangeDeletionStats, Verdict};

/// The line the writer prints once `Db::open` has returned.
pub const OPENED_LINE: &str = "opened";

/// How long a writer may take to open the database before the run fails.
const OPEN_TIMEOUT: Duration = Duration::from_secs(180);

const KILL_SALT: u64 = 0x6b69_6c6c_5f61_7421;

/// How a crash run goes.
#[derive(Debug, Clone)]
pub struct CrashConfig {
    /// Kill-and-verify cycles.
    pub cycles: u64,
    /// Seed of the history, the options and the kill times.
    pub seed: u64,
    /// The `crash_writer` executable.
    pub writer: PathBuf,
    /// Milliseconds between the writer's open and the kill.
    pub kill_after_open_ms: std::ops::Range<u64>,
    /// Per mille of cycles killed 0–`early_kill_ms` ms after the writer
    /// starts, without waiting for its open (sometimes during the open).
    pub early_kill_permille: u64,
    /// Upper bound of an early kill's delay, in milliseconds.
    pub early_kill_ms: u64,
    /// Per mille of cycles followed by a recovery-only writer, killed at a
    /// random moment within 1.5 times the time such writers have been
    /// taking to open (`early_kill_ms` ms until one has opened).
    pub recovery_crash_permille: u64,
    /// Steps written in-process before the final clean close and reopen.
    pub final_steps: usize,
    /// Print a line per cycle.
    pub verbose: bool,
}

impl CrashConfig {
    /// The standard run: kills 50–500 ms after open, one cycle in eight
    /// killed early, one in four followed by a crash during recovery.
    pub fn new(cycles: u64, seed: u64, writer: PathBuf) -> CrashConfig {
        CrashConfig {
            cycles,
            seed,
            writer,
            kill_after_open_ms: 50..500,
            early_kill_permille: 125,
            early_kill_ms: 150,
            recovery_crash_permille: 250,
            final_steps: 300,
            verbose: true,
        }
    }
}

/// What a crash run did.
#[derive(Debug, Clone, Default)]
pub struct CrashSummary {
    /// Cycles run (each killed and verified).
    pub cycles: u64,
    /// Length of the history the database held at the end (all of it
    /// checked after every cycle, as the database's whole contents).
    pub history_ops: u64,
    /// Operations the cycles added to the recovered history.
    pub ops_verified: u64,
    /// Of those, merges into counters.
    pub merges_verified: u64,
    /// Of those, range deletions.
    pub range_deletions_verified: u64,
    /// Keys that held a value when one of those range deletions deleted
    /// them (each one checked absent after the kill, unless written again).
    pub range_deleted_keys: u64,
    /// Of those, counters.
    pub range_deleted_counters: u64,
    /// Batches acknowledged to the writers.
    pub acked_batches: u64,
    /// Acknowledgements that promised durability (synced writes, flushes).
    pub durable_acks: u64,
    /// Cycles whose writer was killed before its open returned.
    pub kills_before_open: u64,
    /// Cycles followed by a crash of a recovery-only writer.
    pub recovery_crashes: u64,
    /// Those whose recovery-only writer was killed before its open returned.
    pub recovery_crashes_mid_open: u64,
    /// Cycles whose recovered history kept the batch in flight at the kill.
    pub in_flight_kept: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
}

impl CrashSummary {
    fn add_range_deletions(&mut self, stats: RangeDeletionStats) {
        self.range_deletions_verified += stats.range_deletions;
        self.range_deleted_keys += stats.keys_deleted;
        self.range_deleted_counters += stats.counters_deleted;
    }
}

/// `cargo xtask crash`: finds (building if needed) the writer and runs
/// `cycles` cycles, printing a line per cycle and a summary.
pub fn run(cycles: u64, seed: Option<u64>) -> Result<(), String> {
    let seed = seed.unwrap_or_else(|| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        mix(now.as_secs(), u64::from(now.subsec_nanos())) % 1_000_000_000
    });
    let writer = locate_writer()?;
    println!("crash: {cycles} cycles, seed {seed} (rerun with --seed {seed}), writer {}", writer.display());
    let summary = run_cycles(&CrashConfig::new(cycles, seed, writer))?;
    println!(
        "crash: {} cycles passed in {:.1} s (seed {seed}): the recovered database matched a prefix of the \
         history after every kill; {} ops verified ({} acknowledged batches, {} durable acknowledgements, \
         history now {} ops; of the ops verified, {} were merges into counters and {} range deletions, which \
         deleted {} live keys, {} of them counters); {} writers killed before \
         their open returned, {} recovery-only writers killed ({} of them before their open returned), {} \
         batches in flight kept",
        summary.cycles,
        summary.elapsed.as_secs_f64(),
        summary.ops_verified,
        summary.acked_batches,
        summary.durable_acks,
        summary.history_ops,
        summary.merges_verified,
        summary.range_deletions_verified,
        summary.range_deleted_keys,
        summary.range_deleted_counters,
        summary.kills_before_open,
        summary.recovery_crashes,
        summary.recovery_crashes_mid_open,
        summary.in_flight_kept,
    );
    Ok(())
}

/// The `crash_writer` executable next to this one. When run by cargo it is
/// built first (a no-op when up to date), so it never lags behind the
/// harness's copy of the history code.
pub fn locate_writer() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the running executable: {e}"))?;
    let dir = exe.parent().ok_or_else(|| format!("{} has no directory", exe.display()))?;
    let writer = dir.join(format!("crash_writer{}", std::env::consts::EXE_SUFFIX));
    if let Some(cargo) = std::env::var_os("CARGO").or_else(|| (!writer.exists()).then(|| "cargo".into())) {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap_or(Path::new("."));
        let mut build = Command::new(cargo);
        build.current_dir(workspace).args(["build", "--package", "xtask", "--bin", "crash_writer"]);
        if !cfg!(debug_assertions) {
            build.arg("--release");
        }
        let status = build.status().map_err(|e| format!("cannot run cargo build: {e}"))?;
        if !status.success() {
            return Err(format!("building crash_writer failed: {status}"));
        }
    }
    if writer.exists() {
        Ok(writer)
    } else {
        Err(format!("{} not found after building it", writer.display()))
    }
}

/// Runs the cycles of `config` in a new temporary directory; fails at the
/// first violation, keeping the directory (database and side file) for
/// inspection.
pub fn run_cycles(config: &CrashConfig) -> Result<CrashSummary, String> {
    let temp = tempfile::Builder::new()
        .prefix("lsmkit-crash-")
        .tempdir()
        .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
    let work = temp.path().to_path_buf();
    let result = Harness { config, work: &work, db_dir: work.join("db") }.run();
    result.map_err(|e| format!("{e}\n(database and side files kept in {})", temp.keep().display()))
}

struct Harness<'a> {
    config: &'a CrashConfig,
    work: &'a Path,
    db_dir: PathBuf,
}

/// When the harness killed a writer.
enum KillPoint {
    /// This long after the process started, whether or not it had opened.
    AfterStart(Duration),
    /// This long after it reported its open.
    AfterOpen(Duration),
}

impl Harness<'_> {
    fn run(&self) -> Result<CrashSummary, String> {
        let started = Instant::now();
        let seed = self.config.seed;
        let mut summary = CrashSummary::default();
        let mut base = 0;
        let mut model = Model::new();
        let mut recovery_open_estimate = Duration::from_millis(self.config.early_kill_ms);
        for cycle in 0..self.config.cycles {
            let options = CycleOptions::for_cycle(seed, cycle);
            let side_path = self.work.join(format!("side-{cycle:05}"));
            let mut kill_rng = SplitMix64::new(mix(seed ^ KILL_SALT, cycle));
            let kill_point = if kill_rng.chance(self.config.early_kill_permille) {
                KillPoint::AfterStart(Duration::from_millis(kill_rng.below(self.config.early_kill_ms)))
            } else {
                let ms = &self.config.kill_after_open_ms;
                KillPoint::AfterOpen(Duration::from_millis(kill_rng.in_range(ms.start, ms.end)))
            };
            let label = format!("cycle {cycle} ({options}, base {base})");
            let fail = |e: String| format!("{label}: {e}");
            let mut args = self.writer_args(cycle, cycle);
            args.extend([
                "--side".into(),
                side_path.display().to_string(),
                "--base".into(),
                base.to_string(),
            ]);
            self.spawn_and_kill(&args, &kill_point).map_err(fail)?;

            let mut recovery_crash = None;
            if kill_rng.chance(self.config.recovery_crash_permille) {
                // Options of an unrelated cycle, so recovery runs with other ones.
                let mut args = self.writer_args(cycle, cycle.wrapping_add(1 << 32));
                args.push("--recover-only".into());
                // Mostly within the time such an open has been taking.
                let bound = recovery_open_estimate.as_micros() as u64 * 3 / 2;
                let delay = Duration::from_micros(kill_rng.below(bound));
                let opened = self.spawn_and_kill(&args, &KillPoint::AfterStart(delay)).map_err(fail)?;
                if let Some(open_time) = opened {
                    recovery_open_estimate = (recovery_open_estimate * 3 + open_time) / 4;
                }
                summary.recovery_crashes += 1;
                summary.recovery_crashes_mid_open += u64::from(opened.is_none());
                recovery_crash = Some(opened.is_some());
            }

            let records = side_file::read_records(&side_path).map_err(fail)?;
            let opened_at = Instant::now();
            let contents = self.open_and_read(&options).map_err(fail)?;
            let reopen = opened_at.elapsed();
            let verdict = check_cycle(seed, cycle, base, &model, &records, &contents).map_err(fail)?;
            if self.config.verbose {
                println!(
                    "{}",
                    cycle_line(cycle, &options, &kill_point, recovery_crash, base, &verdict, reopen)
                );
            }
            summary.cycles += 1;
            summary.ops_verified += verdict.cut - base;
            summary.merges_verified += history::merges_in(seed, base..verdict.cut);
            summary.add_range_deletions(verdict.range_deletions);
            summary.acked_batches += verdict.acked_batches;
            summary.durable_acks += verdict.durable_acks;
            summary.kills_before_open += u64::from(!verdict.opened);
            summary.in_flight_kept += u64::from(verdict.in_flight_applied);
            base = verdict.cut;
            model = verdict.model;
            remove_if_present(&side_path).map_err(fail)?;
        }
        let final_verdict = self.clean_shutdown_check(base, &model)?;
        summary.ops_verified += final_verdict.cut - base;
        summary.merges_verified += history::merges_in(seed, base..final_verdict.cut);
        summary.add_range_deletions(final_verdict.range_deletions);
        summary.acked_batches += final_verdict.acked_batches;
        summary.durable_acks += final_verdict.durable_acks;
        summary.history_ops = final_verdict.cut;
        summary.elapsed = started.elapsed();
        Ok(summary)
    }

    fn writer_args(&self, cycle: u64, options_cycle: u64) -> Vec<String> {
        vec![
            "--db".into(),
            self.db_dir.display().to_string(),
            "--seed".into(),
            self.config.seed.to_string(),
            "--cycle".into(),
            cycle.to_string(),
            "--options-cycle".into(),
            options_cycle.to_string(),
        ]
    }

    /// Starts the writer with `args`, kills it with SIGKILL at `kill_point`
    /// and reaps it; returns how long after its start its `Db::open`
    /// returned, if it did before the kill. Fails if it ended by itself (it
    /// never should).
    fn spawn_and_kill(&self, args: &[String], kill_point: &KillPoint) -> Result<Option<Duration>, String> {
        let started = Instant::now();
        let mut child = Command::new(&self.config.writer)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.config.writer.display()))?;
        let stdout = child.stdout.take().ok_or("the writer's stdout is not piped")?;
        let (opened_tx, opened_rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                match line {
                    Ok(line) if line == OPENED_LINE => {
                        let _ = opened_tx.send(started.elapsed());
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        });
        let mut opened = None;
        let waited = match kill_point {
            KillPoint::AfterStart(delay) => {
                std::thread::sleep(*delay);
                Ok(())
            }
            KillPoint::AfterOpen(delay) => match opened_rx.recv_timeout(OPEN_TIMEOUT) {
                Ok(open_time) => {
                    opened = Some(open_time);
                    std::thread::sleep(*delay);
                    Ok(())
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    Err(format!("the writer did not open the database within {OPEN_TIMEOUT:?}"))
                }
                // The writer closed its stdout: it ended; its status says why.
                Err(mpsc::RecvTimeoutError::Disconnected) => Ok(()),
            },
        };
        let ended_by_itself = child.try_wait().map_err(|e| format!("cannot poll the writer: {e}"))?;
        if ended_by_itself.is_none() {
            child.kill().map_err(|e| format!("cannot kill the writer: {e}"))?;
        }
        let status = child.wait().map_err(|e| format!("cannot reap the writer: {e}"))?;
        let _ = reader.join();
        waited?;
        if status.signal() != Some(SIGKILL) {
            return Err(format!("the writer ended by itself ({status}): {}", stderr_of(&mut child)));
        }
        Ok(opened.or_else(|| opened_rx.try_recv().ok()))
    }

    /// Opens the database in this process, reads all of it and closes it.
    fn open_and_read(&self, options: &CycleOptions) -> Result<Contents, String> {
        let db = Db::open(&self.db_dir, options.to_options()).map_err(|e| format!("reopen failed: {e}"))?;
        let contents = Contents::read(&db)?;
        if let Some(e) = db.background_error() {
            return Err(format!("background error after reopen: {e}"));
        }
        Ok(contents)
    }

    /// Writes `final_steps` steps in-process, closes the database cleanly,
    /// reopens it and checks that everything acknowledged is there.
    fn clean_shutdown_check(&self, base: u64, model: &Model) -> Result<Verdict, String> {
        let seed = self.config.seed;
        let cycle = self.config.cycles;
        let options = CycleOptions::for_cycle(seed, cycle);
        let fail = |e: String| format!("final clean-shutdown check ({options}, base {base}): {e}");
        let side_path = self.work.join("side-final");
        let mut side = SideFile::create(&side_path).map_err(fail)?;
        side.append(&Record::Begin { cycle, base }, false).map_err(fail)?;
        let db =
            Db::open(&self.db_dir, options.to_options()).map_err(|e| fail(format!("open failed: {e}")))?;
        side.append(&Record::Opened, false).map_err(fail)?;
        let mut plan = Plan::new(seed, cycle, base);
        writer::apply_steps(&db, seed, cycle, &mut plan, &mut side, Some(self.config.final_steps))
            .map_err(fail)?;
        drop(db);
        let records = side_file::read_records(&side_path).map_err(fail)?;
        let contents = self.open_and_read(&options).map_err(fail)?;
        let verdict = check_cycle(seed, cycle, base, model, &records, &contents).map_err(fail)?;
        if self.config.verbose {
            println!(
                "final: {options} | {} steps written in-process, closed cleanly, reopened: history {}..{} intact, {} keys live",
                self.config.final_steps,
                base,
                verdict.cut,
                verdict.model.live_keys()
            );
        }
        Ok(verdict)
    }
}

/// SIGKILL's number (9 on every Unix), what `Child::kill` sends.
const SIGKILL: i32 = 9;

/// Removes `path` unless it does not exist (a writer killed early never
/// created its side file).
fn remove_if_present(path: &Path) -> Result<(), String> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("cannot remove {}: {e}", path.display())),
    }
}

/// Whatever the writer printed to stderr.
fn stderr_of(child: &mut Child) -> String {
    let mut text = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        let _ = stderr.read_to_string(&mut text);
    }
    let text = text.trim();
    if text.is_empty() {
        "(no message)".to_string()
    } else {
        text.to_string()
    }
}

fn cycle_line(
    cycle: u64,
    options: &CycleOptions,
    kill_point: &KillPoint,
    recovery_crash: Option<bool>,
    base: u64,
    verdict: &Verdict,
    reopen: Duration,
) -> String {
    let kill = match kill_point {
        KillPoint::AfterStart(d) => format!("killed {} ms after start", d.as_millis()),
        KillPoint::AfterOpen(d) => format!("killed {} ms after open", d.as_millis()),
    };
    format!(
        "cycle {cycle:4}: {options} | {kill}{}{} | {} batches acked ({} durable) | history {base}..{} \
         (synced to {}, acked to {}{}) | {} range deletions ({} keys) | {} keys live | reopen {} ms",
        if verdict.opened { "" } else { " (before open)" },
        match recovery_crash {
            None => "",
            Some(true) => " + recovery-only writer killed after its open",
            Some(false) => " + recovery-only writer killed during its open",
        },
        verdict.acked_batches,
        verdict.durable_acks,
        verdict.cut,
        verdict.synced_mark,
        verdict.acked_mark,
        if verdict.in_flight_applied { ", +batch in flight" } else { "" },
        verdict.range_deletions.range_deletions,
        verdict.range_deletions.keys_deleted,
        verdict.model.live_keys(),
        reopen.as_millis(),
    )
}
