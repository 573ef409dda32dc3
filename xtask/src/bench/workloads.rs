//! The `db_bench` workloads: what each thread of a workload does against an
//! [`Engine`], with `db_bench`'s key choice (sequential or LevelDB-random
//! below `num`), operation counts, per-thread seeds and thread start-up
//! (all threads start together), and the merged statistics.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Barrier;
use std::time::Instant;

use super::engine::{BatchOp, Direction, Engine, EngineResult};
use super::flags::Benchmark;
use super::keys::{format_key, missing_key, LevelDbRandom, ValueGenerator};
use super::progress::{Progress, ProgressCounter};
use super::stats::{MergedStats, ThreadStats};

/// The `db_bench` parameters a workload reads.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkloadParams {
    /// Keys are numbers below this; write workloads write this many.
    pub num: u64,
    /// Counters of the counter workloads (numbered below this).
    pub counter_keys: u64,
    /// Reads per reading thread.
    pub reads: u64,
    /// Threads (`readwhilewriting` adds one writer).
    pub threads: usize,
    /// Bytes per value.
    pub value_size: usize,
    /// Bytes per key.
    pub key_size: usize,
    /// Compressibility of values.
    pub compression_ratio: f64,
}

impl WorkloadParams {
    /// Operations per thread `benchmark` does (`db_bench`'s `num_` or `reads_`).
    pub fn ops_per_thread(&self, benchmark: Benchmark) -> u64 {
        match benchmark {
            Benchmark::FillSync => self.num / 1000,
            Benchmark::FillSeq
            | Benchmark::FillRandom
            | Benchmark::FillBatch
            | Benchmark::Overwrite
            | Benchmark::DeleteSeq
            | Benchmark::DeleteRandom
            | Benchmark::CounterMerge
            | Benchmark::CounterRmw => self.num,
            Benchmark::ReadRandom
            | Benchmark::ReadMissing
            | Benchmark::ReadSeq
            | Benchmark::ReadReverse
            | Benchmark::SeekRandom
            | Benchmark::ReadWhileWriting => self.reads,
            Benchmark::Compact => 1,
        }
    }

    /// Threads `benchmark` runs (`compact` runs in one).
    pub fn thread_count(&self, benchmark: Benchmark) -> usize {
        match benchmark {
            Benchmark::ReadWhileWriting => self.threads + 1,
            Benchmark::Compact => 1,
            _ => self.threads,
        }
    }
}

/// Runs `benchmark` on `engine`. `threads_started` counts the threads of the
/// whole run so far; thread `i` of the run is seeded with `1000 + i`, as in
/// `db_bench`.
pub fn run_benchmark(
    engine: &dyn Engine,
    benchmark: Benchmark,
    params: &WorkloadParams,
    threads_started: &mut u32,
    progress: &Progress,
) -> EngineResult<MergedStats> {
    let thread_count = params.thread_count(benchmark);
    let seeds: Vec<u32> = (0..thread_count)
        .map(|_| {
            *threads_started += 1;
            1000 + *threads_started
        })
        .collect();
    let barrier = Barrier::new(thread_count);
    let readers_done = AtomicUsize::new(0);
    let results: Vec<EngineResult<ThreadStats>> = std::thread::scope(|scope| {
        let handles: Vec<_> = seeds
            .iter()
            .enumerate()
            .map(|(tid, &seed)| {
                let context = ThreadContext {
                    engine,
                    params,
                    benchmark,
                    random: LevelDbRandom::new(seed),
                    barrier: &barrier,
                    readers_done: &readers_done,
                    readers: thread_count - 1,
                    progress,
                };
                scope.spawn(move || context.run(tid))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("a workload thread panicked".into())))
            .collect()
    });
    let stats: Vec<ThreadStats> = results.into_iter().collect::<EngineResult<_>>()?;
    Ok(MergedStats::merge(&stats))
}

/// What one thread of a workload works with.
struct ThreadContext<'a> {
    engine: &'a dyn Engine,
    params: &'a WorkloadParams,
    benchmark: Benchmark,
    random: LevelDbRandom,
    barrier: &'a Barrier,
    readers_done: &'a AtomicUsize,
    /// Reader threads of `readwhilewriting` (the others than thread 0).
    readers: usize,
    progress: &'a Progress,
}

/// Counts a reader of `readwhilewriting` as done when dropped, even on error.
struct ReaderDone<'a>(&'a AtomicUsize);

impl Drop for ReaderDone<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl ThreadContext<'_> {
    fn run(mut self, tid: usize) -> EngineResult<ThreadStats> {
        self.barrier.wait();
        let mut stats = ThreadStats::start();
        let num = self.params.ops_per_thread(self.benchmark);
        match self.benchmark {
            Benchmark::FillSeq => self.write(&mut stats, num, true, 1, false)?,
            Benchmark::FillBatch => self.write(&mut stats, num, true, 1000, false)?,
            Benchmark::FillRandom | Benchmark::Overwrite => self.write(&mut stats, num, false, 1, false)?,
            Benchmark::FillSync => self.write(&mut stats, num, false, 1, true)?,
            Benchmark::ReadRandom => self.read_random(&mut stats)?,
            Benchmark::ReadMissing => self.read_missing(&mut stats)?,
            Benchmark::ReadSeq => self.scan(&mut stats, Direction::Forward)?,
            Benchmark::ReadReverse => self.scan(&mut stats, Direction::Backward)?,
            Benchmark::SeekRandom => self.seek_random(&mut stats)?,
            Benchmark::DeleteSeq => self.delete(&mut stats, true, 1)?,
            Benchmark::DeleteRandom => self.delete(&mut stats, false, 1)?,
            Benchmark::ReadWhileWriting if tid == 0 => {
                self.write_until_readers_finish()?;
                // As db_bench: the writer's work is not counted.
                stats = ThreadStats::start();
            }
            Benchmark::ReadWhileWriting => {
                let _done = ReaderDone(self.readers_done);
                self.read_random(&mut stats)?;
            }
            Benchmark::Compact => {
                self.engine.compact()?;
                stats.finished(1);
            }
            Benchmark::CounterMerge => self.counters(&mut stats, tid, Increment::Merge)?,
            Benchmark::CounterRmw => self.counters(&mut stats, tid, Increment::ReadModifyWrite)?,
        }
        stats.stop();
        Ok(stats)
    }

    fn key_number(&mut self, i: u64, sequential: bool) -> u64 {
        if sequential {
            i
        } else {
            self.random.uniform(self.params.num)
        }
    }

    /// `db_bench`'s `DoWrite`: `num` puts, `per_batch` to a write.
    fn write(
        &mut self,
        stats: &mut ThreadStats,
        num: u64,
        sequential: bool,
        per_batch: u64,
        sync: bool,
    ) -> EngineResult<()> {
        if num != self.params.num {
            stats.message = format!("({num} ops)");
        }
        let value_size = self.params.value_size;
        let mut values = ValueGenerator::new(self.params.compression_ratio, value_size);
        let mut counter = ProgressCounter::new(self.progress);
        let mut key = Vec::new();
        let (mut batch_keys, mut batch_values): (Vec<Vec<u8>>, Vec<Vec<u8>>) = (Vec::new(), Vec::new());
        let mut i = 0;
        while i < num {
            let in_batch = per_batch.min(num - i);
            if per_batch == 1 {
                let k = self.key_number(i, sequential);
                format_key(k, self.params.key_size, &mut key);
                self.engine.put(&key, values.generate(value_size), sync)?;
                stats.bytes += (key.len() + value_size) as u64;
            } else {
                batch_keys.resize_with(in_batch as usize, Vec::new);
                batch_values.resize_with(in_batch as usize, Vec::new);
                for (j, (key, value)) in batch_keys.iter_mut().zip(batch_values.iter_mut()).enumerate() {
                    let k = self.key_number(i + j as u64, sequential);
                    format_key(k, self.params.key_size, key);
                    value.clear();
                    value.extend_from_slice(values.generate(value_size));
                    stats.bytes += (key.len() + value_size) as u64;
                }
                let ops: Vec<BatchOp<'_>> =
                    batch_keys.iter().zip(&batch_values).map(|(k, v)| BatchOp::Put(k, v)).collect();
                self.engine.write_batch(&ops, sync)?;
            }
            stats.finished(in_batch);
            counter.add(in_batch);
            i += in_batch;
        }
        Ok(())
    }

    /// `db_bench`'s `DoDelete`: `num` deletes, `per_batch` to a write.
    fn delete(&mut self, stats: &mut ThreadStats, sequential: bool, per_batch: u64) -> EngineResult<()> {
        let mut counter = ProgressCounter::new(self.progress);
        let mut key = Vec::new();
        let mut batch_keys: Vec<Vec<u8>> = Vec::new();
        let num = self.params.num;
        let mut i = 0;
        while i < num {
            let in_batch = per_batch.min(num - i);
            if per_batch == 1 {
                let k = self.key_number(i, sequential);
                format_key(k, self.params.key_size, &mut key);
                self.engine.delete(&key, false)?;
            } else {
                batch_keys.resize_with(in_batch as usize, Vec::new);
                for (j, key) in batch_keys.iter_mut().enumerate() {
                    let k = self.key_number(i + j as u64, sequential);
                    format_key(k, self.params.key_size, key);
                }
                let ops: Vec<BatchOp<'_>> = batch_keys.iter().map(|k| BatchOp::Delete(k)).collect();
                self.engine.write_batch(&ops, false)?;
            }
            stats.finished(in_batch);
            counter.add(in_batch);
            i += in_batch;
        }
        Ok(())
    }

    /// `reads` gets of random key numbers turned into keys by `make_key`;
    /// returns how many were found.
    fn random_gets(
        &mut self,
        stats: &mut ThreadStats,
        make_key: fn(u64, usize, &mut Vec<u8>),
    ) -> EngineResult<u64> {
        let mut counter = ProgressCounter::new(self.progress);
        let (mut key, mut value) = (Vec::new(), Vec::new());
        let mut found = 0u64;
        for _ in 0..self.params.reads {
            let k = self.random.uniform(self.params.num);
            make_key(k, self.params.key_size, &mut key);
            if self.engine.get(&key, &mut value)? {
                found += 1;
            }
            stats.finished(1);
            counter.add(1);
        }
        Ok(found)
    }

    fn read_random(&mut self, stats: &mut ThreadStats) -> EngineResult<()> {
        let found = self.random_gets(stats, format_key)?;
        stats.message = format!("({found} of {} found)", self.params.num);
        Ok(())
    }

    fn read_missing(&mut self, stats: &mut ThreadStats) -> EngineResult<()> {
        let found = self.random_gets(stats, missing_key)?;
        if found > 0 {
            return Err(format!("readmissing found {found} keys that were never written"));
        }
        Ok(())
    }

    fn scan(&mut self, stats: &mut ThreadStats, direction: Direction) -> EngineResult<()> {
        let mut counter = ProgressCounter::new(self.progress);
        let mut bytes = 0u64;
        let mut previous: Option<Vec<u8>> = None;
        let mut out_of_order = false;
        self.engine.scan(direction, self.params.reads, &mut |key, value| {
            bytes += (key.len() + value.len()) as u64;
            stats.finished(1);
            counter.add(1);
            // Cheap check that the engine really scans in order: compare with
            // the previous key, kept in a reused buffer.
            if let Some(previous) = previous.as_mut() {
                let in_order = match direction {
                    Direction::Forward => previous.as_slice() < key,
                    Direction::Backward => previous.as_slice() > key,
                };
                out_of_order |= !in_order;
                previous.clear();
                previous.extend_from_slice(key);
            } else {
                previous = Some(key.to_vec());
            }
        })?;
        if out_of_order {
            return Err(format!("the {direction:?} scan returned keys out of order"));
        }
        stats.bytes += bytes;
        Ok(())
    }

    fn seek_random(&mut self, stats: &mut ThreadStats) -> EngineResult<()> {
        let mut counter = ProgressCounter::new(self.progress);
        let (mut key, mut found_key) = (Vec::new(), Vec::new());
        let mut found = 0u64;
        for _ in 0..self.params.reads {
            let k = self.random.uniform(self.params.num);
            format_key(k, self.params.key_size, &mut key);
            if self.engine.seek(&key, &mut found_key)? && found_key == key {
                found += 1;
            }
            stats.finished(1);
            counter.add(1);
        }
        stats.message = format!("({found} of {} found)", self.params.num);
        Ok(())
    }

    /// The counter workloads: `num` increments (each of 1 to 100, at
    /// random) of counters chosen at random among this thread's share of
    /// `counter_keys` (counters `tid`, `tid + threads`, …: threads never
    /// increment the same counter, so read-modify-write loses nothing to a
    /// race), done as `how` says; then every counter of the share is read
    /// and compared with the sum of its increments. A counter that is
    /// wrong fails the workload.
    fn counters(&mut self, stats: &mut ThreadStats, tid: usize, how: Increment) -> EngineResult<()> {
        let threads = self.params.threads as u64;
        let owned: Vec<u64> = (tid as u64..self.params.counter_keys).step_by(threads as usize).collect();
        if owned.is_empty() {
            return Err(format!("thread {tid} has no counter: --counter_keys is below --threads"));
        }
        let mut expected = vec![0u64; owned.len()];
        let mut counter = ProgressCounter::new(self.progress);
        let (mut key, mut value) = (Vec::new(), Vec::new());
        for _ in 0..self.params.num {
            let slot = self.random.uniform(owned.len() as u64) as usize;
            let delta = u64::from(self.random.next_u32() % 100) + 1;
            format_key(owned[slot], self.params.key_size, &mut key);
            match how {
                Increment::Merge => self.engine.merge(&key, &delta.to_le_bytes(), false)?,
                Increment::ReadModifyWrite => {
                    let current =
                        if self.engine.get(&key, &mut value)? { decode_counter(&key, &value)? } else { 0 };
                    self.engine.put(&key, &current.wrapping_add(delta).to_le_bytes(), false)?;
                }
            }
            expected[slot] = expected[slot].wrapping_add(delta);
            stats.bytes += (key.len() + 8) as u64;
            stats.finished(1);
            counter.add(1);
        }
        // The final read is timed with the increments (it is where merges
        // pay: operands not yet combined are applied by the read).
        let read_started = Instant::now();
        for (&number, &want) in owned.iter().zip(&expected) {
            format_key(number, self.params.key_size, &mut key);
            let got =
                if self.engine.get(&key, &mut value)? { Some(decode_counter(&key, &value)?) } else { None };
            // A counter never incremented is absent.
            if got != (want > 0).then_some(want) {
                return Err(format!(
                    "counter {} reads {got:?} after {} increments summing to {want}",
                    String::from_utf8_lossy(&key),
                    self.params.num
                ));
            }
        }
        let read_micros = read_started.elapsed().as_secs_f64() * 1e6 / owned.len() as f64;
        stats.message = format!("({} counters right; final read {read_micros:.1} us/counter)", owned.len());
        Ok(())
    }

    /// The extra thread of `readwhilewriting`: random puts until every
    /// reader is done.
    fn write_until_readers_finish(&mut self) -> EngineResult<()> {
        let value_size = self.params.value_size;
        let mut values = ValueGenerator::new(self.params.compression_ratio, value_size);
        let mut key = Vec::new();
        while self.readers_done.load(Ordering::SeqCst) < self.readers {
            let k = self.random.uniform(self.params.num);
            format_key(k, self.params.key_size, &mut key);
            self.engine.put(&key, values.generate(value_size), false)?;
        }
        Ok(())
    }
}

/// How a counter workload increments a counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Increment {
    /// One merge operand (the engine's u64-add merge operator).
    Merge,
    /// A get, then a put of the sum.
    ReadModifyWrite,
}

/// A counter's value: 8 bytes, little-endian.
fn decode_counter(key: &[u8], value: &[u8]) -> EngineResult<u64> {
    let bytes: [u8; 8] = value.try_into().map_err(|_| {
        format!("counter {} holds {} bytes, not 8", String::from_utf8_lossy(key), value.len())
    })?;
    Ok(u64::from_le_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::engine::{EngineName, EngineSettings, EngineSpec};
    use std::sync::atomic::AtomicU64;

    fn open_lsmkit(dir: &std::path::Path, u64_add_merge: bool) -> Box<dyn Engine> {
        let settings = EngineSettings {
            write_buffer_size: 64 << 10,
            cache_size: 1 << 20,
            bloom_bits: Some(10),
            u64_add_merge,
            lsmkit_table_read_mode: None,
            lsmkit_wal_io_mode: None,
            lsmkit_compaction_priority: None,
            lsmkit_aligned_output_cuts: None,
            lsmkit_max_subcompactions: None,
        };
        EngineSpec::matched(EngineName::Lsmkit).open(dir, &settings).unwrap()
    }

    fn counter_params() -> WorkloadParams {
        WorkloadParams {
            num: 3000,
            counter_keys: 50,
            reads: 0,
            threads: 2,
            value_size: 100,
            key_size: 16,
            compression_ratio: 0.5,
        }
    }

    /// lsmkit with every `every`-th merge operand dropped (and counted).
    struct LosesMerges {
        inner: Box<dyn Engine>,
        every: u64,
        merges: AtomicU64,
    }

    impl Engine for LosesMerges {
        fn put(&self, key: &[u8], value: &[u8], sync: bool) -> EngineResult<()> {
            self.inner.put(key, value, sync)
        }
        fn write_batch(&self, ops: &[BatchOp<'_>], sync: bool) -> EngineResult<()> {
            self.inner.write_batch(ops, sync)
        }
        fn delete(&self, key: &[u8], sync: bool) -> EngineResult<()> {
            self.inner.delete(key, sync)
        }
        fn merge(&self, key: &[u8], operand: &[u8], sync: bool) -> EngineResult<()> {
            if self.merges.fetch_add(1, Ordering::SeqCst) % self.every == self.every - 1 {
                return Ok(());
            }
            self.inner.merge(key, operand, sync)
        }
        fn get(&self, key: &[u8], value: &mut Vec<u8>) -> EngineResult<bool> {
            self.inner.get(key, value)
        }
        fn scan(
            &self,
            direction: Direction,
            limit: u64,
            visit: &mut dyn FnMut(&[u8], &[u8]),
        ) -> EngineResult<u64> {
            self.inner.scan(direction, limit, visit)
        }
        fn seek(&self, key: &[u8], found: &mut Vec<u8>) -> EngineResult<bool> {
            self.inner.seek(key, found)
        }
        fn compact(&self) -> EngineResult<()> {
            self.inner.compact()
        }
    }

    /// Both counter workloads on lsmkit with two threads (through several
    /// flushes: 64 KiB memtables): every counter of each thread's share is
    /// read back right. An engine that loses one merge in 1000 fails the
    /// workload, naming the counter.
    #[test]
    fn counter_workloads_check_every_counter() {
        let dir = tempfile::tempdir().unwrap();
        let params = counter_params();
        let progress = Progress::new("test", 0, false);
        let mut threads_started = 0;
        for (name, benchmark, merge) in
            [("merge", Benchmark::CounterMerge, true), ("rmw", Benchmark::CounterRmw, false)]
        {
            let engine = open_lsmkit(&dir.path().join(name), merge);
            let stats =
                run_benchmark(engine.as_ref(), benchmark, &params, &mut threads_started, &progress).unwrap();
            assert_eq!(stats.done, 2 * 3000, "{name}");
            assert!(
                stats.message.starts_with("(25 counters right; final read "),
                "{name}: {}",
                stats.message
            );
            // Every one of the 50 counters exists and they add up to more
            // than the increments (each adds 1 to 100).
            let (mut total, mut value) = (0u64, Vec::new());
            let mut key = Vec::new();
            for k in 0..50 {
                format_key(k, 16, &mut key);
                assert!(engine.get(&key, &mut value).unwrap(), "{name}: counter {k}");
                total += u64::from_le_bytes(value[..].try_into().unwrap());
            }
            assert!((6000..=600_000).contains(&total), "{name}: {total}");
        }
        let lossy = LosesMerges {
            inner: open_lsmkit(&dir.path().join("lossy"), true),
            every: 1000,
            merges: 0.into(),
        };
        let err = run_benchmark(&lossy, Benchmark::CounterMerge, &params, &mut threads_started, &progress)
            .unwrap_err();
        assert!(err.starts_with("counter 0000000000000"), "{err}");
        assert!(err.contains("after 3000 increments summing to"), "{err}");
        // Without a merge operator the merge itself fails.
        let plain = open_lsmkit(&dir.path().join("plain"), false);
        assert!(run_benchmark(
            plain.as_ref(),
            Benchmark::CounterMerge,
            &params,
            &mut threads_started,
            &progress
        )
        .is_err());
    }

    /// `readwhilewriting` with four readers and a writer on one shared
    /// handle: only the readers' operations are counted and only their
    /// latencies go into the percentiles.
    #[test]
    fn readwhilewriting_counts_the_readers_only() {
        let dir = tempfile::tempdir().unwrap();
        let settings = EngineSettings {
            write_buffer_size: 64 << 10,
            cache_size: 1 << 20,
            bloom_bits: Some(10),
            u64_add_merge: false,
            lsmkit_table_read_mode: None,
            lsmkit_wal_io_mode: None,
            lsmkit_compaction_priority: None,
            lsmkit_aligned_output_cuts: None,
            lsmkit_max_subcompactions: None,
        };
        let engine = EngineSpec::matched(super::super::engine::EngineName::Lsmkit)
            .open(&dir.path().join("db"), &settings)
            .unwrap();
        let params = WorkloadParams {
            num: 500,
            counter_keys: 1000,
            reads: 300,
            threads: 4,
            value_size: 100,
            key_size: 16,
            compression_ratio: 0.5,
        };
        let progress = Progress::new("test", 0, false);
        let mut threads_started = 0;
        let fill =
            run_benchmark(engine.as_ref(), Benchmark::FillSeq, &params, &mut threads_started, &progress)
                .unwrap();
        assert_eq!(fill.done, 4 * 500);
        assert_eq!(fill.latencies.count(), 4 * 500);
        let stats = run_benchmark(
            engine.as_ref(),
            Benchmark::ReadWhileWriting,
            &params,
            &mut threads_started,
            &progress,
        )
        .unwrap();
        // Five threads ran (seeds 1001..=1009 so far); four read.
        assert_eq!(threads_started, 9);
        assert_eq!(stats.done, 4 * 300);
        assert_eq!(stats.latencies.count(), 4 * 300);
        assert_eq!(stats.message, "(300 of 500 found)");
        assert!(stats.latencies.percentile_micros(99.9) >= stats.latencies.percentile_micros(99.0));
    }
}
