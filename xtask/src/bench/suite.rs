//! One engine's run of the chosen workloads in this process, as `db_bench`
//! runs them: the database directory is destroyed first, workloads that
//! want a fresh database destroy and reopen it, the others use what the
//! previous ones left. Prints `db_bench`'s result line and the extra
//! figures (latency percentiles, write amplification, bytes on disk) for each.
//!
//! Write amplification is counted twice: over the timed run (`write_amp`),
//! and until the engine has gone quiet after it (`settled_write_amp`, see
//! [`wait_until_quiet`]). The first depends on how much compaction work
//! each engine happens to have finished when the run ends; an engine that
//! leaves more of it pending (LevelDB's single background thread often
//! ends a run with level-0 files still to compact) looks better than it is.
//! The settled figure counts that work too.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use super::engine::{bytes_on_disk, destroy, Engine, EngineResult, EngineSettings, EngineSpec};
use super::flags::{parse_benchmarks, BenchFlags, Benchmark};
use super::measurement::{levels_text, Measurement};
use super::proc_stats;
use super::progress::Progress;
use super::stats::db_bench_line;
use super::workloads::{run_benchmark, WorkloadParams};

/// The engine settings the flags ask for.
pub fn engine_settings(flags: &BenchFlags) -> EngineSettings {
    EngineSettings {
        write_buffer_size: flags.write_buffer_size,
        cache_size: flags.cache_size,
        bloom_bits: u32::try_from(flags.bloom_bits).ok(),
        u64_add_merge: false,
        lsmkit_table_read_mode: flags.lsmkit_table_read_mode.map(|mode| mode.read_mode()),
        lsmkit_wal_io_mode: flags.lsmkit_wal_io_mode.map(|mode| mode.io_mode()),
        lsmkit_compaction_priority: flags.lsmkit_compaction_priority.map(|p| p.priority()),
        lsmkit_aligned_output_cuts: flags.lsmkit_aligned_output_cuts,
        lsmkit_max_subcompactions: flags.lsmkit_max_subcompactions,
    }
}

/// The workload parameters the flags ask for.
pub fn workload_params(flags: &BenchFlags) -> WorkloadParams {
    WorkloadParams {
        num: flags.num,
        counter_keys: flags.counter_keys,
        reads: flags.reads(),
        threads: flags.threads,
        value_size: flags.value_size,
        key_size: flags.key_size,
        compression_ratio: flags.compression_ratio,
    }
}

/// `db_bench`'s header: key and value sizes, entries, estimated sizes.
pub fn header(flags: &BenchFlags) -> String {
    let entry = (flags.key_size + flags.value_size) as f64;
    let compressed = flags.key_size as f64 + flags.value_size as f64 * flags.compression_ratio;
    format!(
        "Keys:       {} bytes each\nValues:     {} bytes each ({} bytes after compression)\nEntries:    {}\n\
         RawSize:    {:.1} MB (estimated)\nFileSize:   {:.1} MB (estimated)",
        flags.key_size,
        flags.value_size,
        (flags.value_size as f64 * flags.compression_ratio + 0.5) as u64,
        flags.num,
        entry * flags.num as f64 / 1_048_576.0,
        compressed * flags.num as f64 / 1_048_576.0,
    )
}

/// Runs `flags`' workloads on the engine run `spec` in `db_dir`, printing one result
/// line (and one line of extra figures) per workload to `out`; `progress`
/// shows bars on stderr.
pub fn run_suite(
    spec: EngineSpec,
    flags: &BenchFlags,
    db_dir: &Path,
    out: &mut dyn Write,
    progress: bool,
) -> EngineResult<Vec<Measurement>> {
    let benchmarks = parse_benchmarks(&flags.benchmarks)?;
    let settings = engine_settings(flags);
    let params = workload_params(flags);
    let io = |e: std::io::Error| format!("cannot write the results: {e}");
    destroy(db_dir)?;
    let mut engine: Option<Box<dyn Engine>> = None;
    let mut threads_started = 0u32;
    let mut measurements = Vec::with_capacity(benchmarks.len());
    for benchmark in benchmarks {
        if benchmark.needs_merge_operator() && !spec.engine.has_merge_operator() {
            let why = format!("{} has no merge operator", spec.engine);
            writeln!(out, "{:<12} : skipped ({why})", benchmark.name()).map_err(io)?;
            measurements.push(Measurement::skipped(&spec.label(), benchmark.name(), &why));
            continue;
        }
        if benchmark.wants_fresh_db() {
            drop(engine.take());
            destroy(db_dir)?;
        }
        let db = match engine.take() {
            Some(db) => db,
            // The workloads that merge open a fresh database with the operator.
            None => spec.open(
                db_dir,
                &EngineSettings { u64_add_merge: benchmark.needs_merge_operator(), ..settings.clone() },
            )?,
        };
        let total = params.ops_per_thread(benchmark) * params.threads as u64;
        let bar_total = if benchmark == Benchmark::Compact { 0 } else { total };
        let bar = Progress::new(&format!("{spec} {benchmark}"), bar_total, progress);
        let written_before = proc_stats::write_bytes();
        let result = run_benchmark(db.as_ref(), benchmark, &params, &mut threads_started, &bar);
        let written_after = proc_stats::write_bytes();
        bar.finish();
        let stats = result.map_err(|e| format!("{spec} {benchmark}: {e}"))?;
        let disk_bytes_written =
            written_before.zip(written_after).map(|(before, after)| after.saturating_sub(before));
        let user_bytes = match benchmark {
            Benchmark::DeleteSeq | Benchmark::DeleteRandom => stats.done * params.key_size as u64,
            b if b.writes() => stats.bytes,
            _ => 0,
        };
        let per_user_byte =
            |disk: Option<u64>| disk.filter(|_| user_bytes > 0).map(|d| d as f64 / user_bytes as f64);
        let settled_disk_bytes_written = match written_before {
            Some(before) if user_bytes > 0 && flags.settle_quiet_ms > 0 => {
                wait_until_quiet(Duration::from_millis(flags.settle_quiet_ms))
                    .map(|w| w.saturating_sub(before))
            }
            _ => None,
        };
        let measurement = Measurement {
            engine: spec.label(),
            benchmark: benchmark.name().to_string(),
            num: stats.done,
            micros_per_op: stats.micros_per_op(),
            mb_per_s: stats.mb_per_s(),
            p50_us: stats.latencies.percentile_micros(50.0),
            p99_us: stats.latencies.percentile_micros(99.0),
            p999_us: stats.latencies.percentile_micros(99.9),
            disk_bytes_written,
            write_amp: per_user_byte(disk_bytes_written),
            settled_disk_bytes_written,
            settled_write_amp: per_user_byte(settled_disk_bytes_written),
            bytes_on_disk: bytes_on_disk(db_dir),
            peak_rss_bytes: None,
            files_per_level: db.files_per_level(),
            message: stats.message.clone(),
        };
        writeln!(
            out,
            "{}",
            db_bench_line(
                benchmark.name(),
                measurement.micros_per_op,
                measurement.mb_per_s,
                &measurement.message
            )
        )
        .map_err(io)?;
        writeln!(out, "{}", extra_line(&measurement)).map_err(io)?;
        out.flush().map_err(io)?;
        measurements.push(measurement);
        engine = Some(db);
    }
    drop(engine);
    Ok(measurements)
}

/// How often [`wait_until_quiet`] reads the process's write counter.
const QUIET_POLL: Duration = Duration::from_millis(50);

/// The longest [`wait_until_quiet`] waits.
const SETTLE_LIMIT: Duration = Duration::from_secs(120);

/// Waits until this process (the engine's: each engine run has a process of
/// its own) has written nothing to storage for `quiet`, which after a write
/// workload means its background flushes and compactions are done, or
/// until [`SETTLE_LIMIT`]; returns the process's `write_bytes` then. The
/// counter moves when a page is dirtied, so a compaction still running
/// moves it at least once per output block.
pub fn wait_until_quiet(quiet: Duration) -> Option<u64> {
    let started = Instant::now();
    let mut last = proc_stats::write_bytes()?;
    let mut last_change = Instant::now();
    while last_change.elapsed() < quiet && started.elapsed() < SETTLE_LIMIT {
        std::thread::sleep(QUIET_POLL);
        let now = proc_stats::write_bytes()?;
        if now != last {
            last = now;
            last_change = Instant::now();
        }
    }
    Some(last)
}

/// The figures `db_bench` does not print, on an indented line under its own.
pub fn extra_line(m: &Measurement) -> String {
    let mut line =
        format!("{:15}p50 {:.2} us, p99 {:.2} us, p99.9 {:.2} us", "", m.p50_us, m.p99_us, m.p999_us);
    if let Some(write_amp) = m.write_amp {
        line.push_str(&format!("; write amp {write_amp:.2}"));
    }
    if let Some(settled) = m.settled_write_amp {
        line.push_str(&format!(" ({settled:.2} settled)"));
    }
    line.push_str(&format!("; {:.1} MB on disk", m.bytes_on_disk as f64 / 1_048_576.0));
    if let Some(files) = &m.files_per_level {
        line.push_str(&format!("; files per level {}", levels_text(files)));
    }
    line
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::bench::engine::EngineName;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        flags: BenchFlags,
    }

    /// Every workload on lsmkit with 2000 entries, checked for what the
    /// workloads must find (no timing is checked).
    #[test]
    fn lsmkit_runs_every_workload() {
        let flags = Wrapper::parse_from([
            "bench",
            "--num=2000",
            "--threads=2",
            "--benchmarks=fillseq,fillsync,fillrandom,fillbatch,overwrite,readrandom,readmissing,readseq,\
             readreverse,seekrandom,readwhilewriting,compact,deleteseq,deleterandom,readseq",
            "--write_buffer_size=65536",
            "--settle_quiet_ms=100",
        ])
        .flags;
        let dir = tempfile::tempdir().unwrap();
        let db_dir = dir.path().join("lsmkit");
        let mut out = Vec::new();
        let measurements =
            run_suite(EngineSpec::matched(EngineName::Lsmkit), &flags, &db_dir, &mut out, false).unwrap();
        let out = String::from_utf8(out).unwrap();
        let by_name = |name: &str| measurements.iter().find(|m| m.benchmark == name).unwrap();
        assert_eq!(measurements.len(), 15);
        assert_eq!(out.lines().count(), 30);
        assert!(out.lines().next().unwrap().starts_with("fillseq      : "));
        assert!(out.contains(" micros/op;"));
        // Two threads each write 2000 entries, or read 2000 times.
        assert_eq!(by_name("fillseq").num, 4000);
        assert_eq!(by_name("fillsync").num, 4);
        assert_eq!(by_name("fillsync").message, "(2 ops)");
        assert_eq!(by_name("readrandom").num, 4000);
        // After fillbatch (every key) and overwrite, every read finds its key.
        assert_eq!(by_name("readrandom").message, "(2000 of 2000 found)");
        assert_eq!(by_name("seekrandom").message, "(2000 of 2000 found)");
        // Each of the two scanning threads sees all 2000 keys.
        assert_eq!(measurements[7].num, 4000);
        assert_eq!(by_name("readreverse").num, 4000);
        assert!(by_name("readseq").mb_per_s.is_some());
        // The writer of readwhilewriting is not counted.
        assert_eq!(by_name("readwhilewriting").num, 4000);
        assert_eq!(by_name("compact").num, 1);
        // After deleteseq nothing is left to scan.
        assert_eq!(measurements[14].num, 1);
        assert_eq!(measurements[14].mb_per_s, None);
        for m in &measurements {
            assert!(m.micros_per_op >= 0.0 && m.p50_us <= m.p99_us && m.p99_us <= m.p999_us, "{m:?}");
            assert_eq!(
                m.write_amp.is_some(),
                m.benchmark.parse::<Benchmark>().unwrap().writes() && m.disk_bytes_written.is_some()
            );
            // The settled count runs on from the timed run's: never less.
            assert_eq!(m.settled_write_amp.is_some(), m.write_amp.is_some(), "{m:?}");
            if let (Some(settled), Some(timed)) = (m.settled_disk_bytes_written, m.disk_bytes_written) {
                assert!(settled >= timed, "{m:?}");
            }
        }
        assert!(by_name("overwrite").bytes_on_disk > 0);
    }

    /// `fillrandom`, `readrandom` and `readwhilewriting` with four threads
    /// sharing one handle, on every engine run this build has (both ways for
    /// the peers): the counts and found keys are what `db_bench` reports.
    #[test]
    fn every_engine_runs_four_threads() {
        let flags = Wrapper::parse_from([
            "bench",
            "--num=3000",
            "--reads=400",
            "--threads=4",
            "--benchmarks=fillrandom,readrandom,readwhilewriting",
            "--write_buffer_size=65536",
            "--engines=lsmkit,leveldb,rocksdb,fjall",
            "--peer-settings=both",
            "--settle_quiet_ms=100",
        ])
        .flags;
        let dir = tempfile::tempdir().unwrap();
        let specs: Vec<EngineSpec> =
            flags.engine_runs().unwrap().into_iter().filter(|s| s.engine.is_compiled_in()).collect();
        assert!(specs.contains(&EngineSpec::matched(EngineName::Lsmkit)));
        for spec in specs {
            let mut out = Vec::new();
            let measurements =
                run_suite(spec, &flags, &dir.path().join(spec.label()), &mut out, false).unwrap();
            let [fill, read, read_while_writing] = measurements.as_slice() else {
                panic!("{spec}: {measurements:?}")
            };
            assert_eq!(fill.num, 4 * 3000, "{spec}");
            assert_eq!(read.num, 4 * 400, "{spec}");
            assert_eq!(read_while_writing.num, 4 * 400, "{spec}");
            // Four writers of 3000 random keys below 3000 leave most keys
            // present (1 - e^-4 ≈ 98 %), and every reader finds most.
            for m in [read, read_while_writing] {
                let found: u64 =
                    m.message.trim_start_matches('(').split(' ').next().unwrap().parse().unwrap();
                assert!((300..=400).contains(&found), "{spec} {}: {}", m.benchmark, m.message);
                assert!(m.p50_us <= m.p99_us && m.p99_us <= m.p999_us && m.p999_us > 0.0, "{spec} {m:?}");
                assert_eq!(m.engine, spec.label());
            }
        }
    }

    /// The counter workloads: lsmkit runs both; an engine without a merge
    /// operator skips `countermerge` (without opening a database) and says
    /// so in its result line and record.
    #[test]
    fn counter_workloads_run_or_are_skipped() {
        let flags = Wrapper::parse_from([
            "bench",
            "--num=2000",
            "--counter_keys=100",
            "--benchmarks=countermerge,counterrmw",
            "--write_buffer_size=65536",
            "--settle_quiet_ms=0",
        ])
        .flags;
        let dir = tempfile::tempdir().unwrap();
        let mut out = Vec::new();
        let measurements = run_suite(
            EngineSpec::matched(EngineName::Lsmkit),
            &flags,
            &dir.path().join("lsmkit"),
            &mut out,
            false,
        )
        .unwrap();
        assert_eq!(measurements.len(), 2);
        for m in &measurements {
            assert_eq!(m.num, 2000, "{m:?}");
            assert!(m.message.starts_with("(100 counters right"), "{m:?}");
            assert!(!m.is_skipped() && m.write_amp.is_some() == m.disk_bytes_written.is_some());
            // No wait, no settled figure.
            assert_eq!(m.settled_write_amp, None);
        }
        let flags = Wrapper::parse_from(["bench", "--num=2000", "--benchmarks=countermerge"]).flags;
        let mut out = Vec::new();
        let skipped = run_suite(
            EngineSpec::defaults(EngineName::Leveldb),
            &flags,
            &dir.path().join("leveldb"),
            &mut out,
            false,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "countermerge : skipped (leveldb has no merge operator)\n"
        );
        assert!(skipped[0].is_skipped() && skipped[0].engine == "leveldb-defaults", "{skipped:?}");
        assert!(!dir.path().join("leveldb").exists(), "no database was made for a skipped workload");
    }

    #[test]
    fn header_estimates_sizes() {
        let flags = Wrapper::parse_from(["bench", "--num=1048576"]).flags;
        let header = header(&flags);
        assert!(header.contains("Values:     100 bytes each (50 bytes after compression)"));
        assert!(header.contains("RawSize:    116.0 MB"));
        assert!(header.contains("FileSize:   66.0 MB"));
    }

    #[test]
    fn negative_bloom_bits_mean_no_filter() {
        let flags = Wrapper::parse_from(["bench", "--bloom_bits=-1"]).flags;
        assert_eq!(engine_settings(&flags).bloom_bits, None);
        let flags = Wrapper::parse_from(["bench"]).flags;
        assert_eq!(engine_settings(&flags).bloom_bits, Some(10));
    }
}
