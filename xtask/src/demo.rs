//! The second half of `cargo xtask demo` (the first is the engine run of
//! `db_bench.rs`): the WAL demo. Writes a WAL of thousands of batches
//! (rolling to a new log file every 4 MiB) in a temporary directory with
//! the `WalWriter`, buffered or mmap, reads every operation back through
//! the `WalIterator`, checks each one against what was written, and prints
//! what it did and how fast.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use lsmkit_base::filename::log_file_name;
use lsmkit_base::fs::{FileSystem, StdFs};
use lsmkit_base::key::ValueKind;
use lsmkit_wal::{SyncPolicy, WalIoMode, WalIterator, WalIteratorOptions, WalOptions, WalWriter, WriteBatch};

const LOG_FILE_BYTES: u64 = 4 << 20;

fn key_of(sequence: u64) -> Vec<u8> {
    format!("user{:012}", sequence.wrapping_mul(0x9e37_79b9_7f4a_7c15) % 1_000_000_007).into_bytes()
}

fn value_of(sequence: u64) -> Vec<u8> {
    let len = 50 + (sequence % 200) as usize;
    (0..len).map(|i| b'a' + ((sequence as usize + i) % 26) as u8).collect()
}

/// Runs the demo; returns a message on failure.
pub fn run(batches: u64, ops_per_batch: u64, mmap: bool) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| format!("cannot create a temporary directory: {e}"))?;
    let fs: Arc<dyn FileSystem> = Arc::new(StdFs::new());
    let io_mode = if mmap { WalIoMode::mmap() } else { WalIoMode::Buffered };
    let options = WalOptions { sync_policy: SyncPolicy::Os, io_mode };
    let err = |e: lsmkit_base::Error| e.to_string();

    // Write.
    let started = Instant::now();
    let mut log_number = 1;
    let mut writer = WalWriter::create(&*fs, &log_file_name(dir.path(), log_number), options).map_err(err)?;
    let mut sequence = 1u64;
    let mut user_bytes = 0u64;
    let mut file_bytes = 0u64;
    for b in 0..batches {
        let mut batch = WriteBatch::new();
        batch.set_sequence(sequence);
        for i in 0..ops_per_batch {
            let s = sequence + i;
            let key = key_of(s);
            if s % 10 == 0 {
                batch.delete(&key);
                user_bytes += key.len() as u64;
            } else {
                let value = value_of(s);
                batch.put(&key, &value);
                user_bytes += (key.len() + value.len()) as u64;
            }
        }
        writer.add_batch(&batch).map_err(err)?;
        sequence += ops_per_batch;
        if writer.file_len() >= LOG_FILE_BYTES && b + 1 < batches {
            file_bytes += writer.file_len();
            writer.sync().map_err(err)?;
            writer.close().map_err(err)?;
            log_number += 1;
            writer = WalWriter::create(&*fs, &log_file_name(dir.path(), log_number), options).map_err(err)?;
        }
    }
    file_bytes += writer.file_len();
    writer.sync().map_err(err)?;
    let write_time = started.elapsed();
    let last_sequence = sequence - 1;

    // Read everything back through the WAL iterator and check it.
    let started = Instant::now();
    let mut updates =
        WalIterator::new(fs.clone(), dir.path(), 1, WalIteratorOptions::default()).map_err(err)?;
    let mut expected = 1u64;
    while let Some(op) = updates.next_op() {
        let op = op.map_err(err)?;
        let (kind, value) = if expected % 10 == 0 {
            (ValueKind::Deletion, Vec::new())
        } else {
            (ValueKind::Value, value_of(expected))
        };
        if op.sequence != expected
            || op.kind != kind
            || op.key[..] != key_of(expected)[..]
            || op.value[..] != value[..]
        {
            return Err(format!("operation {expected} read back wrong: {op:?}"));
        }
        expected += 1;
    }
    let read_time = started.elapsed();
    if expected != last_sequence + 1 {
        return Err(format!("read {} operations, wrote {last_sequence}", expected - 1));
    }

    // Catch up from the middle, as a replica that has applied half would.
    let middle = last_sequence / 2;
    let started = Instant::now();
    let mut catch_up =
        WalIterator::new(fs.clone(), dir.path(), middle, WalIteratorOptions::default()).map_err(err)?;
    let mut caught_up_batches = 0u64;
    while let Some(batch) = catch_up.next_batch() {
        batch.map_err(err)?;
        caught_up_batches += 1;
    }
    let catch_up_time = started.elapsed();
    writer.close().map_err(err)?;

    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    let rate = |bytes: u64, secs: f64| mib(bytes) / secs.max(1e-9);
    println!("lsmkit WAL demo in {}", show(dir.path()));
    println!(
        "  wrote   {batches} batches x {ops_per_batch} ops = {last_sequence} ops, {:.1} MiB of user data, \
         {:.1} MiB in {log_number} log files ({} I/O, sync policy Os, one sync per file)",
        mib(user_bytes),
        mib(file_bytes),
        if mmap { "mmap" } else { "buffered" }
    );
    println!(
        "          {:.1} ms, {:.0} batches/s, {:.1} MiB/s",
        write_time.as_secs_f64() * 1e3,
        batches as f64 / write_time.as_secs_f64().max(1e-9),
        rate(file_bytes, write_time.as_secs_f64())
    );
    println!(
        "  read    {last_sequence} ops back through WalIterator from sequence 1, all verified: {:.1} ms, {:.0} ops/s, {:.1} MiB/s",
        read_time.as_secs_f64() * 1e3,
        last_sequence as f64 / read_time.as_secs_f64().max(1e-9),
        rate(file_bytes, read_time.as_secs_f64())
    );
    println!(
        "  caught up from sequence {middle}: {caught_up_batches} whole batches in {:.1} ms",
        catch_up_time.as_secs_f64() * 1e3
    );
    Ok(())
}

fn show(path: &Path) -> String {
    path.display().to_string()
}
