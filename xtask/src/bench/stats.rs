//! Per-thread operation statistics of one workload, merged as `db_bench`
//! merges them (micros/op from the sum of the threads' times, MB/s from the
//! wall time), with a latency histogram for the p50/p99/p99.9 figures, and
//! the result line `db_bench` prints.

use std::time::Instant;

use hdrhistogram::Histogram;

/// Longest latency the histogram tells apart (one hour, in nanoseconds);
/// longer ones count as this.
const MAX_TRACKED_NANOS: u64 = 3_600_000_000_000;

/// A latency histogram in nanoseconds with 3 significant digits.
#[derive(Clone, Debug)]
pub struct Latencies {
    histogram: Histogram<u64>,
}

impl Default for Latencies {
    fn default() -> Latencies {
        Latencies::new()
    }
}

impl Latencies {
    /// An empty histogram.
    pub fn new() -> Latencies {
        // The bounds are constants that hdrhistogram accepts (low ≥ 1,
        // high ≥ 2 × low, 3 significant figures).
        let histogram = Histogram::new_with_bounds(1, MAX_TRACKED_NANOS, 3).expect("valid histogram bounds");
        Latencies { histogram }
    }

    /// Records `count` operations that took `nanos` each.
    pub fn record(&mut self, nanos: u64, count: u64) {
        self.histogram.saturating_record_n(nanos.clamp(1, MAX_TRACKED_NANOS), count);
    }

    /// Adds another histogram's samples.
    pub fn merge(&mut self, other: &Latencies) {
        // Both have the same bounds, so adding cannot fail.
        let _ = self.histogram.add(&other.histogram);
    }

    /// Operations recorded.
    #[cfg(test)]
    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// The latency in microseconds at or below which `percentile` percent of
    /// the operations fall (0 with no samples).
    pub fn percentile_micros(&self, percentile: f64) -> f64 {
        if self.histogram.is_empty() {
            return 0.0;
        }
        self.histogram.value_at_percentile(percentile) as f64 / 1000.0
    }
}

/// What one thread did in one workload.
#[derive(Clone, Debug)]
pub struct ThreadStats {
    /// When the thread started its operations.
    pub start: Instant,
    /// When it finished them.
    pub finish: Instant,
    last_op_finish: Instant,
    /// Operations done.
    pub done: u64,
    /// User bytes moved (keys and values written or read).
    pub bytes: u64,
    /// Latency of each operation.
    pub latencies: Latencies,
    /// A note for the result line, such as "(950 of 1000 found)".
    pub message: String,
}

impl ThreadStats {
    /// Statistics starting now.
    pub fn start() -> ThreadStats {
        let now = Instant::now();
        ThreadStats {
            start: now,
            finish: now,
            last_op_finish: now,
            done: 0,
            bytes: 0,
            latencies: Latencies::new(),
            message: String::new(),
        }
    }

    /// Counts `ops` operations that ended now; each is taken to have lasted
    /// an equal share of the time since the previous ones ended (as
    /// `db_bench --histogram=1` measures, one clock read per call).
    pub fn finished(&mut self, ops: u64) {
        if ops == 0 {
            return;
        }
        let now = Instant::now();
        let nanos = now.duration_since(self.last_op_finish).as_nanos();
        self.last_op_finish = now;
        self.latencies.record(u64::try_from(nanos / u128::from(ops)).unwrap_or(u64::MAX), ops);
        self.done += ops;
    }

    /// Marks the end of the thread's work.
    pub fn stop(&mut self) {
        self.finish = Instant::now();
    }

    /// Seconds between start and stop.
    pub fn seconds(&self) -> f64 {
        self.finish.duration_since(self.start).as_secs_f64()
    }
}

/// The merged statistics of all threads of a workload.
#[derive(Clone, Debug)]
pub struct MergedStats {
    /// Operations done by all threads (at least 1, as `db_bench` pretends).
    pub done: u64,
    /// Sum of the threads' times, in seconds.
    pub thread_seconds: f64,
    /// Wall time from the first start to the last finish, in seconds.
    pub elapsed_seconds: f64,
    /// User bytes moved by all threads.
    pub bytes: u64,
    /// All threads' latencies.
    pub latencies: Latencies,
    /// The first thread's non-empty message.
    pub message: String,
}

impl MergedStats {
    /// Merges the threads' statistics as `db_bench`'s `Stats::Merge` does.
    pub fn merge(threads: &[ThreadStats]) -> MergedStats {
        let mut merged = MergedStats {
            done: 0,
            thread_seconds: 0.0,
            elapsed_seconds: 0.0,
            bytes: 0,
            latencies: Latencies::new(),
            message: String::new(),
        };
        let (Some(start), Some(finish)) =
            (threads.iter().map(|t| t.start).min(), threads.iter().map(|t| t.finish).max())
        else {
            merged.done = 1;
            return merged;
        };
        for thread in threads {
            merged.done += thread.done;
            merged.thread_seconds += thread.seconds();
            merged.bytes += thread.bytes;
            merged.latencies.merge(&thread.latencies);
            if merged.message.is_empty() {
                merged.message.clone_from(&thread.message);
            }
        }
        merged.done = merged.done.max(1);
        merged.elapsed_seconds = finish.duration_since(start).as_secs_f64();
        merged
    }

    /// Microseconds per operation (`seconds × 10^6 / done`, as `db_bench`).
    pub fn micros_per_op(&self) -> f64 {
        self.thread_seconds * 1e6 / self.done as f64
    }

    /// MiB of user data per second of wall time, when bytes were moved.
    pub fn mb_per_s(&self) -> Option<f64> {
        (self.bytes > 0).then(|| self.bytes as f64 / 1_048_576.0 / self.elapsed_seconds.max(1e-9))
    }
}

/// `db_bench`'s result line: `name : X micros/op; Y MB/s message`.
pub fn db_bench_line(name: &str, micros_per_op: f64, mb_per_s: Option<f64>, message: &str) -> String {
    let mut extra = mb_per_s.map(|rate| format!("{rate:6.1} MB/s")).unwrap_or_default();
    if !message.is_empty() {
        if !extra.is_empty() {
            extra.push(' ');
        }
        extra.push_str(message);
    }
    let space = if extra.is_empty() { "" } else { " " };
    format!("{name:<12} : {micros_per_op:11.3} micros/op;{space}{extra}")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut latencies = Latencies::new();
        // 1..=1000 microseconds, once each.
        for micros in 1..=1000u64 {
            latencies.record(micros * 1000, 1);
        }
        assert_eq!(latencies.count(), 1000);
        let close = |got: f64, want: f64| (got - want).abs() <= want * 0.001 + 0.001;
        assert!(close(latencies.percentile_micros(50.0), 500.0), "{}", latencies.percentile_micros(50.0));
        assert!(close(latencies.percentile_micros(99.0), 990.0), "{}", latencies.percentile_micros(99.0));
        // 99.9 % of 1000 is 999 samples (hdrhistogram may round the rank up
        // by one in floating point).
        let p999 = latencies.percentile_micros(99.9);
        assert!(close(p999, 999.0) || close(p999, 1000.0), "{p999}");
        assert!(close(latencies.percentile_micros(100.0), 1000.0));
        assert_eq!(Latencies::new().percentile_micros(50.0), 0.0);
    }

    #[test]
    fn a_rare_slow_operation_shows_only_in_the_tail() {
        let mut latencies = Latencies::new();
        latencies.record(2_000, 9_990);
        latencies.record(5_000_000, 10);
        assert!((latencies.percentile_micros(50.0) - 2.0).abs() < 0.01);
        assert!((latencies.percentile_micros(99.0) - 2.0).abs() < 0.01);
        assert!((latencies.percentile_micros(99.95) - 5000.0).abs() < 5.0);
        let mut other = Latencies::new();
        other.record(7_000, 10_000);
        latencies.merge(&other);
        assert_eq!(latencies.count(), 20_000);
        assert!((latencies.percentile_micros(25.0) - 2.0).abs() < 0.01);
        assert!((latencies.percentile_micros(75.0) - 7.0).abs() < 0.01);
    }

    #[test]
    fn merge_follows_db_bench() {
        let base = Instant::now();
        let thread = |start_ms: u64, end_ms: u64, done: u64, bytes: u64, message: &str| ThreadStats {
            start: base + Duration::from_millis(start_ms),
            finish: base + Duration::from_millis(end_ms),
            last_op_finish: base,
            done,
            bytes,
            latencies: Latencies::new(),
            message: message.into(),
        };
        let merged =
            MergedStats::merge(&[thread(0, 1000, 500, 1 << 20, ""), thread(500, 2000, 500, 1 << 20, "(x)")]);
        assert_eq!(merged.done, 1000);
        assert!((merged.thread_seconds - 2.5).abs() < 1e-9);
        assert!((merged.elapsed_seconds - 2.0).abs() < 1e-9);
        assert!((merged.micros_per_op() - 2500.0).abs() < 1e-6);
        assert!((merged.mb_per_s().unwrap() - 1.0).abs() < 1e-9);
        assert_eq!(merged.message, "(x)");
        let idle = MergedStats::merge(&[thread(0, 10, 0, 0, "")]);
        assert_eq!(idle.done, 1);
        assert_eq!(idle.mb_per_s(), None);
    }

    #[test]
    fn finished_counts_operations() {
        let mut stats = ThreadStats::start();
        stats.finished(1);
        stats.finished(1000);
        stats.finished(0);
        stats.stop();
        assert_eq!(stats.done, 1001);
        assert_eq!(stats.latencies.count(), 1001);
    }

    #[test]
    fn result_lines_match_db_bench() {
        assert_eq!(
            db_bench_line("fillseq", 1.5, Some(75.24), ""),
            "fillseq      :       1.500 micros/op;   75.2 MB/s"
        );
        assert_eq!(
            db_bench_line("readrandom", 12.0, None, "(632 of 1000 found)"),
            "readrandom   :      12.000 micros/op; (632 of 1000 found)"
        );
        assert_eq!(db_bench_line("compact", 900000.0, None, ""), "compact      :  900000.000 micros/op;");
        assert_eq!(
            db_bench_line("fillsync", 2000.0, Some(0.1), "(1000 ops)"),
            "fillsync     :    2000.000 micros/op;    0.1 MB/s (1000 ops)"
        );
    }
}
