//! The flags of `cargo xtask bench`: LevelDB `db_bench`'s names and defaults
//! (`--benchmarks=…`, `--num`, `--reads`, `--value_size`, …), plus the
//! engine list, the report files and the internal `--child` switch used when
//! the bench re-executes itself once per engine.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use clap::{Args, ValueEnum};

use super::engine::{EngineSpec, Tuning};

/// The workloads run when `--benchmarks` is not given, in this order (the
/// reads run on the database left by `overwrite`; the deletes come last but
/// one so the reads still find keys; `compact` then compacts the tombstones).
pub const DEFAULT_BENCHMARKS: &str = "fillseq,fillsync,fillrandom,overwrite,readrandom,readmissing,readseq,\
readreverse,seekrandom,readwhilewriting,deleteseq,deleterandom,compact";

/// One `db_bench` workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Benchmark {
    /// `num` puts in key order into a fresh database.
    FillSeq,
    /// `num / 1000` synced puts in random order into a fresh database.
    FillSync,
    /// `num` puts in random order into a fresh database.
    FillRandom,
    /// `num` puts in key order, 1000 per write batch, into a fresh database.
    FillBatch,
    /// `num` puts in random order into the existing database.
    Overwrite,
    /// `reads` point reads of random existing keys.
    ReadRandom,
    /// `reads` point reads of random keys that do not exist.
    ReadMissing,
    /// A forward scan of up to `reads` entries.
    ReadSeq,
    /// A backward scan of up to `reads` entries.
    ReadReverse,
    /// `reads` seeks, each on a new iterator, to random keys.
    SeekRandom,
    /// `num` deletes in key order.
    DeleteSeq,
    /// `num` deletes in random order.
    DeleteRandom,
    /// `threads` readers doing `reads` random reads each while one more
    /// thread writes random keys until they finish.
    ReadWhileWriting,
    /// A manual compaction of the whole key range.
    Compact,
    /// `num` increments of counters (8-byte little-endian u64s) chosen at
    /// random among `counter_keys`, each a merge operand of the engine's
    /// u64-add merge operator, into a fresh database; then every counter
    /// is read and checked. Engines without a merge operator skip it.
    CounterMerge,
    /// The same increments as `CounterMerge`, each a get then a put.
    CounterRmw,
}

impl Benchmark {
    /// Every workload, in `db_bench` naming.
    pub const ALL: [Benchmark; 16] = [
        Benchmark::FillSeq,
        Benchmark::FillSync,
        Benchmark::FillRandom,
        Benchmark::FillBatch,
        Benchmark::Overwrite,
        Benchmark::ReadRandom,
        Benchmark::ReadMissing,
        Benchmark::ReadSeq,
        Benchmark::ReadReverse,
        Benchmark::SeekRandom,
        Benchmark::DeleteSeq,
        Benchmark::DeleteRandom,
        Benchmark::ReadWhileWriting,
        Benchmark::Compact,
        Benchmark::CounterMerge,
        Benchmark::CounterRmw,
    ];

    /// The `db_bench` name.
    pub fn name(self) -> &'static str {
        match self {
            Benchmark::FillSeq => "fillseq",
            Benchmark::FillSync => "fillsync",
            Benchmark::FillRandom => "fillrandom",
            Benchmark::FillBatch => "fillbatch",
            Benchmark::Overwrite => "overwrite",
            Benchmark::ReadRandom => "readrandom",
            Benchmark::ReadMissing => "readmissing",
            Benchmark::ReadSeq => "readseq",
            Benchmark::ReadReverse => "readreverse",
            Benchmark::SeekRandom => "seekrandom",
            Benchmark::DeleteSeq => "deleteseq",
            Benchmark::DeleteRandom => "deleterandom",
            Benchmark::ReadWhileWriting => "readwhilewriting",
            Benchmark::Compact => "compact",
            Benchmark::CounterMerge => "countermerge",
            Benchmark::CounterRmw => "counterrmw",
        }
    }

    /// Whether `db_bench` destroys the database and opens a new one first
    /// (the counter workloads too: they check totals counted from zero).
    pub fn wants_fresh_db(self) -> bool {
        matches!(
            self,
            Benchmark::FillSeq
                | Benchmark::FillSync
                | Benchmark::FillRandom
                | Benchmark::FillBatch
                | Benchmark::CounterMerge
                | Benchmark::CounterRmw
        )
    }

    /// Whether the engine must be opened with its u64-add merge operator.
    pub fn needs_merge_operator(self) -> bool {
        self == Benchmark::CounterMerge
    }

    /// Whether the workload writes user data (and so has a write amplification).
    pub fn writes(self) -> bool {
        matches!(
            self,
            Benchmark::FillSeq
                | Benchmark::FillSync
                | Benchmark::FillRandom
                | Benchmark::FillBatch
                | Benchmark::Overwrite
                | Benchmark::DeleteSeq
                | Benchmark::DeleteRandom
                | Benchmark::CounterMerge
                | Benchmark::CounterRmw
        )
    }
}

impl fmt::Display for Benchmark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Benchmark {
    type Err = String;

    fn from_str(name: &str) -> Result<Benchmark, String> {
        Benchmark::ALL.into_iter().find(|b| b.name() == name).ok_or_else(|| {
            let known: Vec<&str> = Benchmark::ALL.iter().map(|b| b.name()).collect();
            format!("unknown benchmark '{name}' (known: {})", known.join(","))
        })
    }
}

/// Parses a comma-separated workload list; empty items are skipped, as
/// `db_bench` does.
pub fn parse_benchmarks(list: &str) -> Result<Vec<Benchmark>, String> {
    let benchmarks: Vec<Benchmark> =
        list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::parse).collect::<Result<_, _>>()?;
    if benchmarks.is_empty() {
        return Err("--benchmarks names no workload".into());
    }
    Ok(benchmarks)
}

/// Which configurations of the peer engines (every engine but lsmkit) a
/// bench runs (`--peer-settings`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PeerSettings {
    /// The settings lsmkit runs with, mapped onto the peer's options.
    Matched,
    /// The peer's own defaults, untuned.
    Defaults,
    /// Both, the matched run first.
    Both,
}

impl PeerSettings {
    /// The tunings a peer named without a suffix runs with.
    fn tunings(self) -> &'static [Tuning] {
        match self {
            PeerSettings::Matched => &[Tuning::Matched],
            PeerSettings::Defaults => &[Tuning::Defaults],
            PeerSettings::Both => &[Tuning::Matched, Tuning::Defaults],
        }
    }

    /// The flag's value.
    pub fn name(self) -> &'static str {
        match self {
            PeerSettings::Matched => "matched",
            PeerSettings::Defaults => "defaults",
            PeerSettings::Both => "both",
        }
    }
}

/// Parses a comma-separated engine list into the engine runs, rejecting
/// repeats. A peer's plain name (`leveldb`) stands for the runs `peers`
/// asks for; a label with `-defaults` (`leveldb-defaults`) for that run
/// alone; `lsmkit` always runs with the matched settings. A run that two
/// names stand for is run once, where it first appears.
pub fn parse_engines(list: &str, peers: PeerSettings) -> Result<Vec<EngineSpec>, String> {
    let mut named: Vec<&str> = Vec::new();
    let mut specs: Vec<EngineSpec> = Vec::new();
    for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if named.contains(&name) {
            return Err(format!("engine '{name}' is named twice in --engines"));
        }
        named.push(name);
        let spec: EngineSpec = name.parse()?;
        let expanded: Vec<EngineSpec> = if spec.engine.is_peer() && spec.tuning == Tuning::Matched {
            peers.tunings().iter().map(|&tuning| EngineSpec { engine: spec.engine, tuning }).collect()
        } else {
            vec![spec]
        };
        for spec in expanded {
            if !specs.contains(&spec) {
                specs.push(spec);
            }
        }
    }
    if specs.is_empty() {
        return Err("--engines names no engine".into());
    }
    Ok(specs)
}

/// How lsmkit reads its table files in a bench run
/// (`--lsmkit_table_read_mode`; lsmkit's `Options::table_read_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LsmkitTableReadMode {
    /// `pread` for every block read.
    Positional,
    /// Read-only mappings guarded against `SIGBUS`.
    Mmap,
}

impl LsmkitTableReadMode {
    /// The flag's value.
    pub fn name(self) -> &'static str {
        match self {
            LsmkitTableReadMode::Positional => "positional",
            LsmkitTableReadMode::Mmap => "mmap",
        }
    }

    /// lsmkit's read mode.
    pub fn read_mode(self) -> lsmkit_base::fs::ReadMode {
        match self {
            LsmkitTableReadMode::Positional => lsmkit_base::fs::ReadMode::Positional,
            LsmkitTableReadMode::Mmap => lsmkit_base::fs::ReadMode::Mmap,
        }
    }
}

/// How lsmkit writes its WAL in a bench run (`--lsmkit_wal_io_mode`;
/// lsmkit's `Options::wal_io_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LsmkitWalIoMode {
    /// One `write(2)` per record through a user-space buffer.
    Buffered,
    /// Copies into a shared mapping grown 4 MiB at a time.
    Mmap,
}

impl LsmkitWalIoMode {
    /// The flag's value.
    pub fn name(self) -> &'static str {
        match self {
            LsmkitWalIoMode::Buffered => "buffered",
            LsmkitWalIoMode::Mmap => "mmap",
        }
    }

    /// lsmkit's WAL I/O mode.
    pub fn io_mode(self) -> lsmkit_wal::WalIoMode {
        match self {
            LsmkitWalIoMode::Buffered => lsmkit_wal::WalIoMode::Buffered,
            LsmkitWalIoMode::Mmap => lsmkit_wal::WalIoMode::mmap(),
        }
    }
}

/// Which file of a level lsmkit's leveled compactions move down first in a
/// bench run (`--lsmkit_compaction_priority`; lsmkit's
/// `Options::compaction_priority`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LsmkitCompactionPriority {
    /// LevelDB's rule: round robin from the level's compaction pointer.
    RoundRobin,
    /// The file overlapping the least of the next level for its size.
    MinOverlappingRatio,
}

impl LsmkitCompactionPriority {
    /// The flag's value.
    pub fn name(self) -> &'static str {
        match self {
            LsmkitCompactionPriority::RoundRobin => "round-robin",
            LsmkitCompactionPriority::MinOverlappingRatio => "min-overlapping-ratio",
        }
    }

    /// lsmkit's compaction priority.
    pub fn priority(self) -> lsmkit::CompactionPriority {
        match self {
            LsmkitCompactionPriority::RoundRobin => lsmkit::CompactionPriority::RoundRobin,
            LsmkitCompactionPriority::MinOverlappingRatio => lsmkit::CompactionPriority::MinOverlappingRatio,
        }
    }
}

/// `cargo xtask bench` flags (names as in LevelDB's `db_bench`).
#[derive(Args, Clone, Debug, PartialEq)]
pub struct BenchFlags {
    /// Comma-separated workloads, run in order.
    #[arg(long, default_value = DEFAULT_BENCHMARKS)]
    pub benchmarks: String,
    /// Comma-separated engines: lsmkit, leveldb, rocksdb, fjall; a peer's
    /// name with `-defaults` (`leveldb-defaults`) is that peer with its own
    /// defaults.
    #[arg(long, default_value = "lsmkit")]
    pub engines: String,
    /// How the peers named without `-defaults` are configured: with the
    /// settings lsmkit gets (`matched`), with their own defaults
    /// (`defaults`), or each both ways (`both`).
    #[arg(long = "peer-settings", value_enum, default_value_t = PeerSettings::Both)]
    pub peer_settings: PeerSettings,
    /// Number of key/value pairs to place in the database.
    #[arg(long, default_value_t = 1_000_000)]
    pub num: u64,
    /// Read operations per reading thread (default: `num`).
    #[arg(long)]
    pub reads: Option<u64>,
    /// Counters the `countermerge` and `counterrmw` workloads increment
    /// (each thread its own share of them).
    #[arg(long = "counter_keys", default_value_t = 1000)]
    pub counter_keys: u64,
    /// Concurrent threads per workload (`readwhilewriting` adds a writer).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Bytes per value.
    #[arg(long = "value_size", default_value_t = 100)]
    pub value_size: usize,
    /// Bytes per key: the key number, zero-padded decimal of this width.
    #[arg(long = "key_size", default_value_t = 16)]
    pub key_size: usize,
    /// Values shrink to this fraction of their size when compressed.
    #[arg(long = "compression_ratio", default_value_t = 0.5)]
    pub compression_ratio: f64,
    /// Bytes of writes buffered in a memtable before it is flushed.
    #[arg(long = "write_buffer_size", default_value_t = 4 << 20)]
    pub write_buffer_size: usize,
    /// Bytes of block cache.
    #[arg(long = "cache_size", default_value_t = 8 << 20)]
    pub cache_size: usize,
    /// Bloom filter bits per key; negative for no filter.
    #[arg(long = "bloom_bits", default_value_t = 10, allow_hyphen_values = true)]
    pub bloom_bits: i32,
    /// After each write workload, outside its timed run, wait until the
    /// engine's process has written nothing to storage for this many
    /// milliseconds (its flushes and compactions done; 2 minutes at most)
    /// and report the settled write amplification, which includes the
    /// compaction work the workload left behind. The next workload then
    /// starts on a quiet database, for every engine alike. 0: no wait, no
    /// settled figure.
    #[arg(long = "settle_quiet_ms", default_value_t = 2000)]
    pub settle_quiet_ms: u64,
    /// How lsmkit reads table files (default: lsmkit's default,
    /// `Options::table_read_mode`). The peers are not affected.
    #[arg(long = "lsmkit_table_read_mode", value_enum)]
    pub lsmkit_table_read_mode: Option<LsmkitTableReadMode>,
    /// How lsmkit writes its WAL (default: lsmkit's default,
    /// `Options::wal_io_mode`). The peers are not affected.
    #[arg(long = "lsmkit_wal_io_mode", value_enum)]
    pub lsmkit_wal_io_mode: Option<LsmkitWalIoMode>,
    /// Which file of a level lsmkit's compactions move down first (default:
    /// lsmkit's default, `Options::compaction_priority`). The peers are not
    /// affected.
    #[arg(long = "lsmkit_compaction_priority", value_enum)]
    pub lsmkit_compaction_priority: Option<LsmkitCompactionPriority>,
    /// Whether lsmkit cuts compaction outputs at the boundaries of the
    /// files below (`true`/`false`; default: lsmkit's default,
    /// `Options::aligned_output_cuts`). The peers are not affected.
    #[arg(long = "lsmkit_aligned_output_cuts")]
    pub lsmkit_aligned_output_cuts: Option<bool>,
    /// Threads one lsmkit compaction may use (default: lsmkit's default,
    /// `Options::max_subcompactions`). The peers are not affected.
    #[arg(long = "lsmkit_max_subcompactions")]
    pub lsmkit_max_subcompactions: Option<usize>,
    /// Directory for the databases (one subdirectory per engine; default a
    /// fresh temporary directory, removed afterwards).
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// Write every figure as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Draw ops/s per workload and engine as an SVG bar chart to this file.
    #[arg(long)]
    pub chart: Option<PathBuf>,
    /// Runs of each engine's suite; every figure reported is the median.
    #[arg(long, default_value_t = 1)]
    pub runs: usize,
    /// Internal: run one engine in this process and append its results to
    /// this file (the parent process starts one child per engine).
    #[arg(long, hide = true)]
    pub child: Option<PathBuf>,
}

impl BenchFlags {
    /// Reads per reading thread (`--reads`, or `--num` when not given).
    pub fn reads(&self) -> u64 {
        self.reads.unwrap_or(self.num)
    }

    /// Checks the values that parse but make no sense.
    pub fn validate(&self) -> Result<(), String> {
        if self.num == 0 {
            return Err("--num must be at least 1".into());
        }
        if self.runs == 0 {
            return Err("--runs must be at least 1".into());
        }
        if self.threads == 0 {
            return Err("--threads must be at least 1".into());
        }
        if !(self.compression_ratio > 0.0 && self.compression_ratio <= 1.0) {
            return Err("--compression_ratio must be in (0, 1]".into());
        }
        if self.value_size > 1 << 20 {
            return Err("--value_size must be at most 1 MiB".into());
        }
        let digits = (self.num - 1).to_string().len();
        if self.key_size < digits {
            return Err(format!(
                "--key_size {} cannot hold key numbers below --num ({digits} digits)",
                self.key_size
            ));
        }
        if self.counter_keys < self.threads as u64 {
            return Err("--counter_keys must be at least --threads (each thread has its own counters)".into());
        }
        let counter_digits = (self.counter_keys - 1).to_string().len();
        if self.key_size < counter_digits {
            return Err(format!(
                "--key_size {} cannot hold counter numbers below --counter_keys ({counter_digits} digits)",
                self.key_size
            ));
        }
        parse_benchmarks(&self.benchmarks)?;
        self.engine_runs()?;
        Ok(())
    }

    /// The engine runs `--engines` and `--peer-settings` ask for, in order.
    pub fn engine_runs(&self) -> Result<Vec<EngineSpec>, String> {
        parse_engines(&self.engines, self.peer_settings)
    }

    /// The arguments that make a child process run `engine` with these
    /// settings and append its results to `results_file`.
    pub fn child_args(
        &self,
        engine: EngineSpec,
        db_dir: &std::path::Path,
        results_file: &std::path::Path,
    ) -> Vec<String> {
        let mut args = vec![
            "bench".to_string(),
            format!("--benchmarks={}", self.benchmarks),
            format!("--engines={}", engine.label()),
            // The label says how the engine is configured: one run exactly.
            format!("--peer-settings={}", PeerSettings::Matched.name()),
            format!("--num={}", self.num),
            format!("--counter_keys={}", self.counter_keys),
            format!("--threads={}", self.threads),
            format!("--value_size={}", self.value_size),
            format!("--key_size={}", self.key_size),
            format!("--compression_ratio={}", self.compression_ratio),
            format!("--write_buffer_size={}", self.write_buffer_size),
            format!("--cache_size={}", self.cache_size),
            format!("--bloom_bits={}", self.bloom_bits),
            format!("--settle_quiet_ms={}", self.settle_quiet_ms),
            format!("--db={}", db_dir.display()),
            format!("--child={}", results_file.display()),
        ];
        if let Some(reads) = self.reads {
            args.push(format!("--reads={reads}"));
        }
        if let Some(mode) = self.lsmkit_table_read_mode {
            args.push(format!("--lsmkit_table_read_mode={}", mode.name()));
        }
        if let Some(mode) = self.lsmkit_wal_io_mode {
            args.push(format!("--lsmkit_wal_io_mode={}", mode.name()));
        }
        if let Some(priority) = self.lsmkit_compaction_priority {
            args.push(format!("--lsmkit_compaction_priority={}", priority.name()));
        }
        if let Some(aligned) = self.lsmkit_aligned_output_cuts {
            args.push(format!("--lsmkit_aligned_output_cuts={aligned}"));
        }
        if let Some(threads) = self.lsmkit_max_subcompactions {
            args.push(format!("--lsmkit_max_subcompactions={threads}"));
        }
        args
    }
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

    fn parse(args: &[&str]) -> Result<BenchFlags, clap::Error> {
        Wrapper::try_parse_from(std::iter::once("bench").chain(args.iter().copied())).map(|w| w.flags)
    }

    #[test]
    fn defaults_are_db_bench_defaults() {
        let flags = parse(&[]).unwrap();
        assert_eq!(flags.num, 1_000_000);
        assert_eq!(flags.reads(), 1_000_000);
        assert_eq!(flags.value_size, 100);
        assert_eq!(flags.key_size, 16);
        assert_eq!(flags.compression_ratio, 0.5);
        assert_eq!(flags.threads, 1);
        assert_eq!(flags.write_buffer_size, 4 << 20);
        assert_eq!(flags.peer_settings, PeerSettings::Both);
        assert_eq!(flags.engine_runs().unwrap(), vec![EngineSpec::matched(EngineName::Lsmkit)]);
        assert_eq!(parse_benchmarks(&flags.benchmarks).unwrap().len(), 13);
        flags.validate().unwrap();
    }

    #[test]
    fn db_bench_style_flags_parse() {
        let flags = parse(&[
            "--benchmarks=fillseq,readrandom,",
            "--num=2000",
            "--reads=500",
            "--value_size=64",
            "--key_size=20",
            "--compression_ratio=0.25",
            "--threads=3",
            "--bloom_bits=-1",
            "--cache_size=1024",
            "--write_buffer_size",
            "65536",
            "--engines=lsmkit,leveldb",
        ])
        .unwrap();
        assert_eq!(
            parse_benchmarks(&flags.benchmarks).unwrap(),
            vec![Benchmark::FillSeq, Benchmark::ReadRandom]
        );
        assert_eq!((flags.num, flags.reads(), flags.value_size, flags.key_size), (2000, 500, 64, 20));
        assert_eq!((flags.threads, flags.bloom_bits, flags.cache_size), (3, -1, 1024));
        assert_eq!(flags.write_buffer_size, 65536);
        assert_eq!(flags.compression_ratio, 0.25);
        assert_eq!(
            flags.engine_runs().unwrap(),
            vec![
                EngineSpec::matched(EngineName::Lsmkit),
                EngineSpec::matched(EngineName::Leveldb),
                EngineSpec::defaults(EngineName::Leveldb)
            ]
        );
    }

    #[test]
    fn peer_settings_choose_the_peer_runs() {
        use EngineName::{Fjall, Leveldb, Lsmkit, Rocksdb};
        let runs = |args: &[&str]| parse(args).unwrap().engine_runs().unwrap();
        let all = "--engines=lsmkit,leveldb,rocksdb,fjall";
        assert_eq!(
            runs(&[all, "--peer-settings=matched"]),
            vec![
                EngineSpec::matched(Lsmkit),
                EngineSpec::matched(Leveldb),
                EngineSpec::matched(Rocksdb),
                EngineSpec::matched(Fjall)
            ]
        );
        // lsmkit has one configuration whatever the flag says.
        assert_eq!(
            runs(&[all, "--peer-settings", "defaults"]),
            vec![
                EngineSpec::matched(Lsmkit),
                EngineSpec::defaults(Leveldb),
                EngineSpec::defaults(Rocksdb),
                EngineSpec::defaults(Fjall)
            ]
        );
        assert_eq!(
            runs(&["--engines=fjall,lsmkit", "--peer-settings=both"]),
            vec![EngineSpec::matched(Fjall), EngineSpec::defaults(Fjall), EngineSpec::matched(Lsmkit)]
        );
        // A -defaults label is that run alone, whatever --peer-settings says,
        // and a run two names stand for runs once.
        assert_eq!(
            runs(&["--engines=lsmkit,rocksdb-defaults", "--peer-settings=matched"]),
            vec![EngineSpec::matched(Lsmkit), EngineSpec::defaults(Rocksdb)]
        );
        assert_eq!(
            runs(&["--engines=leveldb-defaults,leveldb"]),
            vec![EngineSpec::defaults(Leveldb), EngineSpec::matched(Leveldb)]
        );
        assert!(parse(&["--peer-settings=tuned"]).is_err());
        assert!(parse(&["--engines=lsmkit-defaults"]).unwrap().validate().is_err());
        assert!(parse(&["--engines=fjall,fjall-defaults,fjall"]).unwrap().validate().is_err());
    }

    #[test]
    fn bad_values_are_rejected() {
        assert!(parse(&["--num=abc"]).is_err());
        assert!(parse_benchmarks("fillseq,nosuch").unwrap_err().contains("nosuch"));
        assert!(parse_benchmarks(",,").is_err());
        assert!(parse_engines("lsmkit,lsmkit", PeerSettings::Both).is_err());
        assert!(parse_engines("sqlite", PeerSettings::Both).is_err());
        assert!(parse_engines(" , ", PeerSettings::Both).is_err());
        assert!(parse(&["--num=0"]).unwrap().validate().is_err());
        assert!(parse(&["--num=1000", "--key_size=3"]).unwrap().validate().is_ok());
        assert!(parse(&["--num=1001", "--key_size=3"]).unwrap().validate().is_err());
        assert!(parse(&["--compression_ratio=0"]).unwrap().validate().is_err());
        assert!(parse(&["--threads=0"]).unwrap().validate().is_err());
        assert!(parse(&["--counter_keys=3", "--threads=4"]).unwrap().validate().is_err());
        assert!(parse(&["--counter_keys=4", "--threads=4"]).unwrap().validate().is_ok());
        assert!(parse(&["--counter_keys=1001", "--key_size=3", "--num=10"]).unwrap().validate().is_err());
    }

    #[test]
    fn child_args_round_trip() {
        let plain = parse(&[
            "--num=123",
            "--reads=7",
            "--bloom_bits=-1",
            "--engines=lsmkit,fjall",
            "--counter_keys=17",
        ])
        .unwrap();
        let mapped = parse(&[
            "--engines=lsmkit,leveldb",
            "--lsmkit_table_read_mode=mmap",
            "--lsmkit_wal_io_mode=buffered",
            "--lsmkit_compaction_priority=min-overlapping-ratio",
            "--lsmkit_aligned_output_cuts=false",
            "--lsmkit_max_subcompactions=2",
        ])
        .unwrap();
        assert_eq!(mapped.lsmkit_max_subcompactions, Some(2));
        assert_eq!(plain.lsmkit_max_subcompactions, None);
        assert_eq!(mapped.lsmkit_compaction_priority, Some(LsmkitCompactionPriority::MinOverlappingRatio));
        assert_eq!(mapped.lsmkit_aligned_output_cuts, Some(false));
        assert_eq!(plain.lsmkit_compaction_priority, None);
        assert_eq!(plain.lsmkit_aligned_output_cuts, None);
        assert_eq!(mapped.lsmkit_table_read_mode, Some(LsmkitTableReadMode::Mmap));
        assert_eq!(mapped.lsmkit_wal_io_mode, Some(LsmkitWalIoMode::Buffered));
        assert_eq!(plain.lsmkit_table_read_mode, None);
        assert_eq!(plain.lsmkit_wal_io_mode, None);
        for (flags, spec) in [plain, mapped]
            .into_iter()
            .flat_map(|flags| flags.engine_runs().unwrap().into_iter().map(move |spec| (flags.clone(), spec)))
        {
            let args = flags.child_args(spec, std::path::Path::new("/d"), std::path::Path::new("/r"));
            let child = Wrapper::try_parse_from(args).unwrap().flags;
            // The child runs exactly the one engine run it is given.
            assert_eq!(child.engine_runs().unwrap(), vec![spec]);
            assert_eq!(child.child, Some(PathBuf::from("/r")));
            assert_eq!(child.db, Some(PathBuf::from("/d")));
            let normalized = BenchFlags {
                engines: flags.engines.clone(),
                peer_settings: flags.peer_settings,
                child: None,
                db: flags.db.clone(),
                ..child
            };
            assert_eq!(normalized, flags);
        }
    }

    #[test]
    fn every_benchmark_name_round_trips() {
        for benchmark in Benchmark::ALL {
            assert_eq!(benchmark.name().parse::<Benchmark>().unwrap(), benchmark);
        }
    }
}
