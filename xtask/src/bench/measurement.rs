//! The figures of one workload on one engine, and the one-line text record
//! a child process hands them to its parent in (tab-separated `name=value`
//! fields; the parent renders the JSON, chart and comparison).

use std::collections::HashMap;

/// How the message of a skipped workload starts.
pub const SKIPPED_PREFIX: &str = "(skipped: ";

/// Every figure of one workload on one engine.
#[derive(Clone, Debug, PartialEq)]
pub struct Measurement {
    /// Engine name (`lsmkit`, `leveldb`, …).
    pub engine: String,
    /// Workload name (`fillseq`, …).
    pub benchmark: String,
    /// Operations done (all threads).
    pub num: u64,
    /// `db_bench`'s micros/op.
    pub micros_per_op: f64,
    /// `db_bench`'s MB/s, for workloads that move user bytes.
    pub mb_per_s: Option<f64>,
    /// Median operation latency in microseconds.
    pub p50_us: f64,
    /// 99th percentile latency in microseconds.
    pub p99_us: f64,
    /// 99.9th percentile latency in microseconds.
    pub p999_us: f64,
    /// Bytes written to storage during the workload (`/proc/self/io`
    /// `write_bytes` delta), when known.
    pub disk_bytes_written: Option<u64>,
    /// `disk_bytes_written` ÷ user bytes written, for write workloads.
    pub write_amp: Option<f64>,
    /// Bytes written to storage from the start of a write workload until
    /// the engine went quiet after it (its flushes and compactions done:
    /// see `suite::wait_until_quiet`), when known.
    pub settled_disk_bytes_written: Option<u64>,
    /// `settled_disk_bytes_written` ÷ user bytes written: the write
    /// amplification including the compaction work the workload left
    /// behind, which `write_amp` counts only as far as it was done when the
    /// timed run ended.
    pub settled_write_amp: Option<f64>,
    /// Bytes of the files in the database directory after the workload.
    pub bytes_on_disk: u64,
    /// Peak resident set size of the engine's process over its whole run.
    pub peak_rss_bytes: Option<u64>,
    /// Table files per level after the workload (level 0 first), for the
    /// engines that report it: the tree the next workload starts from.
    pub files_per_level: Option<Vec<u64>>,
    /// `db_bench`'s note, e.g. "(632 of 1000 found)".
    pub message: String,
}

impl Measurement {
    /// The record of a workload `engine` did not run, and `why`.
    pub fn skipped(engine: &str, benchmark: &str, why: &str) -> Measurement {
        Measurement {
            engine: engine.to_string(),
            benchmark: benchmark.to_string(),
            num: 0,
            micros_per_op: 0.0,
            mb_per_s: None,
            p50_us: 0.0,
            p99_us: 0.0,
            p999_us: 0.0,
            disk_bytes_written: None,
            write_amp: None,
            settled_disk_bytes_written: None,
            settled_write_amp: None,
            bytes_on_disk: 0,
            peak_rss_bytes: None,
            files_per_level: None,
            message: format!("{SKIPPED_PREFIX}{why})"),
        }
    }

    /// Whether this is the record of a skipped workload.
    pub fn is_skipped(&self) -> bool {
        self.num == 0 && self.message.starts_with(SKIPPED_PREFIX)
    }

    /// Operations per second (from micros/op).
    pub fn ops_per_sec(&self) -> f64 {
        if self.micros_per_op > 0.0 {
            1e6 / self.micros_per_op
        } else {
            0.0
        }
    }

    /// The record line (no tabs or newlines inside fields: the names are
    /// fixed words and the message is sanitized).
    pub fn to_record(&self) -> String {
        let opt_f = |v: Option<f64>| v.map_or(String::from("-"), |v| v.to_string());
        let opt_u = |v: Option<u64>| v.map_or(String::from("-"), |v| v.to_string());
        let clean = |s: &str| s.replace(['\t', '\n', '\r'], " ");
        [
            format!("engine={}", clean(&self.engine)),
            format!("benchmark={}", clean(&self.benchmark)),
            format!("num={}", self.num),
            format!("micros_per_op={}", self.micros_per_op),
            format!("mb_per_s={}", opt_f(self.mb_per_s)),
            format!("p50_us={}", self.p50_us),
            format!("p99_us={}", self.p99_us),
            format!("p999_us={}", self.p999_us),
            format!("disk_bytes_written={}", opt_u(self.disk_bytes_written)),
            format!("write_amp={}", opt_f(self.write_amp)),
            format!("settled_disk_bytes_written={}", opt_u(self.settled_disk_bytes_written)),
            format!("settled_write_amp={}", opt_f(self.settled_write_amp)),
            format!("bytes_on_disk={}", self.bytes_on_disk),
            format!("peak_rss_bytes={}", opt_u(self.peak_rss_bytes)),
            format!("files_per_level={}", self.files_per_level.as_deref().map_or("-".into(), levels_text)),
            format!("message={}", clean(&self.message)),
        ]
        .join("\t")
    }

    /// Parses a line made by [`Measurement::to_record`].
    pub fn from_record(line: &str) -> Result<Measurement, String> {
        let fields: HashMap<&str, &str> = line.split('\t').filter_map(|f| f.split_once('=')).collect();
        let text =
            |name: &str| fields.get(name).copied().ok_or_else(|| format!("record lacks {name}: {line}"));
        let float = |name: &str| -> Result<f64, String> {
            text(name)?.parse().map_err(|e| format!("record field {name}: {e}"))
        };
        let int = |name: &str| -> Result<u64, String> {
            text(name)?.parse().map_err(|e| format!("record field {name}: {e}"))
        };
        let opt_float = |name: &str| -> Result<Option<f64>, String> {
            match text(name)? {
                "-" => Ok(None),
                v => v.parse().map(Some).map_err(|e| format!("record field {name}: {e}")),
            }
        };
        let opt_int = |name: &str| -> Result<Option<u64>, String> {
            match text(name)? {
                "-" => Ok(None),
                v => v.parse().map(Some).map_err(|e| format!("record field {name}: {e}")),
            }
        };
        Ok(Measurement {
            engine: text("engine")?.to_string(),
            benchmark: text("benchmark")?.to_string(),
            num: int("num")?,
            micros_per_op: float("micros_per_op")?,
            mb_per_s: opt_float("mb_per_s")?,
            p50_us: float("p50_us")?,
            p99_us: float("p99_us")?,
            p999_us: float("p999_us")?,
            disk_bytes_written: opt_int("disk_bytes_written")?,
            write_amp: opt_float("write_amp")?,
            settled_disk_bytes_written: opt_int("settled_disk_bytes_written")?,
            settled_write_amp: opt_float("settled_write_amp")?,
            bytes_on_disk: int("bytes_on_disk")?,
            peak_rss_bytes: opt_int("peak_rss_bytes")?,
            files_per_level: match text("files_per_level")? {
                "-" => None,
                v => Some(parse_levels(v).ok_or_else(|| format!("record field files_per_level: {v}"))?),
            },
            message: text("message")?.to_string(),
        })
    }
}

/// File counts per level as `4/6/29` (level 0 first).
pub fn levels_text(files: &[u64]) -> String {
    files.iter().map(u64::to_string).collect::<Vec<_>>().join("/")
}

/// Parses [`levels_text`]'s form.
fn parse_levels(text: &str) -> Option<Vec<u64>> {
    text.split('/').map(|n| n.parse().ok()).collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A measurement with every field set.
    pub(crate) fn sample(engine: &str, benchmark: &str, micros_per_op: f64) -> Measurement {
        Measurement {
            engine: engine.into(),
            benchmark: benchmark.into(),
            num: 1000,
            micros_per_op,
            mb_per_s: Some(12.5),
            p50_us: 1.25,
            p99_us: 9.5,
            p999_us: 40.0,
            disk_bytes_written: Some(300_000),
            write_amp: Some(2.5),
            settled_disk_bytes_written: Some(324_000),
            settled_write_amp: Some(2.7),
            bytes_on_disk: 123_456,
            peak_rss_bytes: Some(50 << 20),
            files_per_level: Some(vec![2, 5, 31]),
            message: "(632 of 1000 found)".into(),
        }
    }

    #[test]
    fn records_round_trip() {
        let full = sample("lsmkit", "fillseq", 3.75);
        assert_eq!(Measurement::from_record(&full.to_record()).unwrap(), full);
        let sparse = Measurement {
            mb_per_s: None,
            write_amp: None,
            disk_bytes_written: None,
            settled_write_amp: None,
            settled_disk_bytes_written: None,
            peak_rss_bytes: None,
            files_per_level: None,
            message: String::new(),
            ..sample("fjall", "compact", 1e6)
        };
        assert_eq!(Measurement::from_record(&sparse.to_record()).unwrap(), sparse);
        let tabbed = Measurement { message: "a\tb\nc".into(), ..sample("x", "y", 1.0) };
        assert_eq!(Measurement::from_record(&tabbed.to_record()).unwrap().message, "a b c");
    }

    #[test]
    fn bad_records_are_rejected() {
        assert!(Measurement::from_record("engine=x").is_err());
        let record = sample("x", "y", 1.0).to_record().replace("num=1000", "num=many");
        assert!(Measurement::from_record(&record).is_err());
        let record =
            sample("x", "y", 1.0).to_record().replace("files_per_level=2/5/31", "files_per_level=2/x");
        assert!(Measurement::from_record(&record).is_err());
    }

    #[test]
    fn ops_per_sec_inverts_micros_per_op() {
        assert_eq!(sample("x", "y", 4.0).ops_per_sec(), 250_000.0);
        assert_eq!(sample("x", "y", 0.0).ops_per_sec(), 0.0);
    }
}
