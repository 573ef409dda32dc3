//! Interoperability with the real LevelDB 1.23 (Debian's python3-plyvel,
//! through `interop/wal_leveldb.py`): a log LevelDB wrote is read back with
//! `LogReader` + `WriteBatch`, and LevelDB recovers the writes of a log that
//! `LogWriter` wrote, also when a crash left a `WalWriter`'s preallocated
//! zero tail behind it. These tests fail (they do not skip) when plyvel is missing.

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use lsmkit_base::fs::{FileSystem, StdFs, WriteMode};
use lsmkit_base::key::ValueKind;
use lsmkit_wal::log_format::{BLOCK_SIZE, HEADER_SIZE};
use lsmkit_wal::{
    LogReader, LogWriter, RecoveryMode, SyncPolicy, SyncPreallocation, WalIoMode, WalOptions, WalWriter,
    WriteBatch,
};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../interop/wal_leveldb.py");

/// Runs the helper script with `/usr/bin/python3` and returns its stdout.
fn run_script(args: &[&str]) -> String {
    let output =
        Command::new("/usr/bin/python3").arg(SCRIPT).args(args).output().expect("run /usr/bin/python3");
    assert!(
        output.status.success(),
        "{SCRIPT} {args:?} failed ({}); is python3-plyvel installed?\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 output")
}

fn unhex(text: &str) -> Vec<u8> {
    assert!(text.len() % 2 == 0, "odd hex length");
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex digit")).collect()
}

/// The only `.log` file in `dir`.
fn log_file(dir: &Path) -> PathBuf {
    let logs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "log"))
        .collect();
    assert_eq!(logs.len(), 1, "expected one log in {}: {logs:?}", dir.display());
    logs.into_iter().next().unwrap()
}

type Op = (ValueKind, Vec<u8>, Vec<u8>);

/// Parses the script's "B n" / "P key value" / "D key" lines.
fn parse_batches(text: &str) -> Vec<Vec<Op>> {
    let mut batches: Vec<Vec<Op>> = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        match fields.as_slice() {
            ["B", _] => batches.push(Vec::new()),
            ["P", key, value] => {
                batches.last_mut().unwrap().push((ValueKind::Value, unhex(key), unhex(value)))
            }
            ["D", key] => batches.last_mut().unwrap().push((ValueKind::Deletion, unhex(key), Vec::new())),
            _ => panic!("unexpected line {line:?}"),
        }
    }
    batches
}

#[test]
fn log_written_by_leveldb_is_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let expected = parse_batches(&run_script(&["write-log", db.to_str().unwrap(), "300"]));
    assert_eq!(expected.len(), 300);

    let fs = StdFs::new();
    let path = log_file(&db);
    let mut reader =
        LogReader::new(fs.open_sequential(&path).unwrap(), &path, RecoveryMode::AbsoluteConsistency);
    let mut next_sequence = 1;
    let mut fragmented = 0;
    for (i, expected_ops) in expected.iter().enumerate() {
        let record = reader.read_record().unwrap().unwrap_or_else(|| panic!("log ends before batch {i}"));
        if record.len() > BLOCK_SIZE - HEADER_SIZE {
            fragmented += 1;
        }
        let batch = WriteBatch::from_data(record).unwrap();
        assert_eq!(batch.sequence(), next_sequence, "batch {i}");
        assert_eq!(batch.count() as usize, expected_ops.len(), "batch {i}");
        let ops: Vec<Op> = batch
            .ops()
            .map(|op| {
                let op = op.unwrap();
                (op.kind, op.key.to_vec(), op.value.to_vec())
            })
            .collect();
        assert_eq!(&ops, expected_ops, "batch {i}");
        next_sequence += u64::from(batch.count());
    }
    assert_eq!(reader.read_record().unwrap(), None);
    assert!(reader.dropped_regions().is_empty());
    assert!(fragmented >= 5, "the script writes big values every 50 batches");
}

/// A batch with one put whose encoded size is exactly `size` bytes.
fn batch_of_size(size: usize, key: &[u8]) -> WriteBatch {
    // 12 header + tag + key length + key + value length + value.
    for value_len_bytes in 1..=3 {
        let Some(value_len) = size.checked_sub(12 + 1 + 1 + key.len() + value_len_bytes) else { continue };
        let mut batch = WriteBatch::new();
        batch.put(key, &vec![b'f'; value_len]);
        if batch.approximate_size() == size {
            return batch;
        }
    }
    panic!("no batch of {size} bytes");
}

#[test]
fn leveldb_recovers_a_log_written_by_log_writer() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    run_script(&["prepare", db.to_str().unwrap()]);
    let path = log_file(&db);

    // Replace LevelDB's log with ours. LevelDB's MANIFEST says its last
    // sequence is 0, so any higher sequence is new to it.
    let fs = StdFs::new();
    let mut writer = LogWriter::new(fs.create_writable(&path, WriteMode::Buffered).unwrap());
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut sequence = 1000u64;
    let mut saw_empty_first = false;
    for i in 0..400u32 {
        if i == 200 {
            // A record that leaves exactly 7 bytes in its block, so that the
            // next one starts with a zero-length FIRST (docs/format.md §3.2).
            let room = BLOCK_SIZE - writer.block_offset() - HEADER_SIZE;
            let size = if room >= 40 { room - HEADER_SIZE } else { room + BLOCK_SIZE - HEADER_SIZE };
            let key = b"filler-key".to_vec();
            let mut filler = batch_of_size(size, &key);
            model.insert(key, filler.ops().next().unwrap().unwrap().value.to_vec());
            filler.set_sequence(sequence);
            sequence += 1;
            writer.add_record(filler.data()).unwrap();
            assert_eq!(writer.block_offset(), BLOCK_SIZE - HEADER_SIZE);
            saw_empty_first = true;
        }
        let mut batch = WriteBatch::new();
        for j in 0..(i % 5 + 1) {
            let key = [&[0u8, 0xff][..], &(i * 7 + j).to_be_bytes()[..], &[(i % 13) as u8]].concat();
            if (i + j) % 4 == 3 {
                batch.delete(&key);
                model.remove(&key);
            } else {
                let value_len = if i % 37 == 0 { 100_000 } else { (i as usize * 13 + j as usize) % 300 };
                let value: Vec<u8> = (0..value_len).map(|k| (k as u32 ^ i) as u8).collect();
                batch.put(&key, &value);
                model.insert(key, value);
            }
        }
        // Deleting a key from an earlier batch.
        if i % 9 == 8 {
            let old = [&[0u8, 0xff][..], &((i - 8) * 7).to_be_bytes()[..], &[((i - 8) % 13) as u8]].concat();
            batch.delete(&old);
            model.remove(&old);
        }
        batch.set_sequence(sequence);
        sequence += u64::from(batch.count());
        writer.add_record(batch.data()).unwrap();
    }
    writer.sync().unwrap();
    writer.close().unwrap();
    assert!(saw_empty_first);

    let dump = run_script(&["dump", db.to_str().unwrap()]);
    let found: BTreeMap<Vec<u8>, Vec<u8>> = dump
        .lines()
        .map(|line| {
            let (key, value) = line.split_once(' ').expect("key value");
            (unhex(key), unhex(value))
        })
        .collect();
    assert_eq!(found.len(), model.len());
    assert!(found == model, "LevelDB's contents differ from what the log holds");
}

#[test]
fn leveldb_recovers_a_log_with_a_zero_chunk_left_by_a_crash() {
    leveldb_recovers_a_preallocated_log_left_by_a_crash(
        SyncPreallocation::Chunk(64 << 10),
        WalIoMode::Buffered,
    );
}

#[test]
fn leveldb_recovers_a_log_with_a_zero_page_tail_left_by_a_crash() {
    leveldb_recovers_a_preallocated_log_left_by_a_crash(SyncPreallocation::PageTail, WalIoMode::Buffered);
}

/// The engine's default WAL mode: the file is a whole number of mapped
/// chunks, zeros after the last record.
#[test]
fn leveldb_recovers_a_mapped_log_with_its_zero_chunk_tail_left_by_a_crash() {
    leveldb_recovers_a_preallocated_log_left_by_a_crash(
        SyncPreallocation::Off,
        WalIoMode::Mmap { chunk_size: 1 << 20 },
    );
}

fn leveldb_recovers_a_preallocated_log_left_by_a_crash(preallocation: SyncPreallocation, io_mode: WalIoMode) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    run_script(&["prepare", db.to_str().unwrap()]);
    let path = log_file(&db);

    // Replace LevelDB's log with one written by a `WalWriter` syncing every
    // record, so that zeros are preallocated ahead of it (in mmap mode the
    // file grows a zeroed chunk at a time whatever the syncs).
    let fs = StdFs::new();
    let options = WalOptions { sync_policy: SyncPolicy::EveryWrite, io_mode };
    let mut wal = WalWriter::create(&fs, &path, options).unwrap();
    wal.set_sync_preallocation(preallocation);
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    for i in 0..600u32 {
        let mut batch = WriteBatch::new();
        let key = format!("key{:05}", i % 450).into_bytes();
        if i % 11 == 10 {
            batch.delete(&key);
            model.remove(&key);
        } else {
            let len = if i % 97 == 0 { 40_000 } else { (i as usize * 37) % 400 };
            let value: Vec<u8> = (0..len).map(|k| (k as u32 ^ i) as u8).collect();
            batch.put(&key, &value);
            model.insert(key, value);
        }
        batch.set_sequence(1000 + u64::from(i));
        wal.add_batch(&batch).unwrap();
    }
    // The crash: the file as it is now, zero tail included, is what LevelDB finds.
    let crashed = std::fs::read(&path).unwrap();
    assert!(crashed.len() as u64 > wal.file_len(), "the log has a preallocated zero tail");
    assert!(crashed[wal.file_len() as usize..].iter().all(|&b| b == 0));
    drop(wal);
    std::fs::write(&path, &crashed).unwrap();

    // Paranoid checks: any dropped byte would fail the open.
    let dump = run_script(&["dump", db.to_str().unwrap()]);
    let found: BTreeMap<Vec<u8>, Vec<u8>> = dump
        .lines()
        .map(|line| {
            let (key, value) = line.split_once(' ').expect("key value");
            (unhex(key), unhex(value))
        })
        .collect();
    assert_eq!(found.len(), model.len());
    assert!(found == model, "LevelDB's contents differ from what the log holds");
}
