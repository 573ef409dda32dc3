//! Interoperability of whole databases with the real LevelDB 1.23 (Debian's
//! python3-plyvel, driven by interop/engine_leveldb.py through
//! /usr/bin/python3), in both directions:
//!
//! - LevelDB writes a database (Snappy, 10-bit bloom, 200 000 binary keys
//!   with 0x00 and 0xff bytes, overwrites, deletes, values of 0 B to 100 KiB,
//!   `compact_range` so three levels hold tables) and dies by SIGKILL with
//!   its last batch only in the WAL. lsmkit opens it and sees exactly what
//!   LevelDB itself recovers (checked by the script on a copy), then writes,
//!   deletes, compacts and closes with writes in its own WAL; LevelDB opens
//!   that and sees exactly lsmkit's view; lsmkit opens LevelDB's result.
//! - The same starting from a database lsmkit creates, whose tables carry
//!   the `lsmkit.properties` block (docs/format.md §13) that LevelDB ignores.
//! - Both sides writing with 1 KiB blocks and a restart interval of 4.
//!
//! Together these exercise every LevelDB file format in docs/format.md as the
//! other side writes it: WAL and write batches (§3, §4), tables with
//! filters (§6–§8), MANIFEST and CURRENT (§10).
//!
//! The two sides exchange the expected view as a state file (see
//! [`State`]). "Sees exactly" means: equal full scans forwards and
//! backwards, a `get` of every live key, and no value for a sample of
//! deleted and never-written keys. These tests fail, never skip, when plyvel
//! is missing.

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use lsmkit::{Db, Options, ReadOptions, WriteBatch, WriteOptions};
use lsmkit_base::comparator::BytewiseComparator;
use lsmkit_base::filename::{parse_file_name, FileType};
use lsmkit_base::fs::StdFs;
use lsmkit_bloom::LevelDbBloom;
use lsmkit_sstable::{Table, TableOptions};

use common::{first_difference, read_backward, read_forward, show, Model, TestRng};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../interop/engine_leveldb.py");

/// The largest value written (100 KiB).
const MAX_VALUE: usize = 100 << 10;

/// lsmkit's write buffer in these tests: as the script's LevelDB side.
const WRITE_BUFFER_SIZE: usize = 256 << 10;

/// Bytes a memtable entry takes beyond its key and value, roughly.
const MEMTABLE_ENTRY_OVERHEAD: usize = 32;

/// Operations per write batch.
const BATCH_SIZE: usize = 64;

/// Keys around the edges of the byte order.
const EDGE_KEYS: [&[u8]; 8] =
    [b"", b"\x00", b"\x00\x00", b"\x00\xff", b"\xff", b"\xff\x00", b"\xff\xff\xff\xff", &[0xff; 40]];

/// A database's expected view, as exchanged with the script: every live key
/// with its value, and keys that must not be found.
///
/// File format: records of `u8` tag (1 live, 0 absent), `u32` LE key length,
/// the key, and for a live key `u32` LE value length and the value.
#[derive(Default)]
struct State {
    live: Model,
    absent: BTreeSet<Vec<u8>>,
}

impl State {
    fn read(path: &Path) -> State {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let mut rest = &data[..];
        let mut state = State::default();
        while let Some((&tag, tail)) = rest.split_first() {
            rest = tail;
            let key = take_length_prefixed(&mut rest, path);
            match tag {
                1 => {
                    let value = take_length_prefixed(&mut rest, path);
                    state.live.insert(key, value);
                }
                0 => {
                    state.absent.insert(key);
                }
                _ => panic!("{}: bad tag {tag}", path.display()),
            }
        }
        state
    }

    fn write(&self, path: &Path) {
        let mut out = Vec::new();
        for (key, value) in &self.live {
            out.push(1);
            out.extend_from_slice(&(key.len() as u32).to_le_bytes());
            out.extend_from_slice(key);
            out.extend_from_slice(&(value.len() as u32).to_le_bytes());
            out.extend_from_slice(value);
        }
        for key in &self.absent {
            out.push(0);
            out.extend_from_slice(&(key.len() as u32).to_le_bytes());
            out.extend_from_slice(key);
        }
        std::fs::write(path, out).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
}

/// Takes a `u32` LE length and that many bytes off the front of `rest`.
fn take_length_prefixed(rest: &mut &[u8], path: &Path) -> Vec<u8> {
    let truncated = || panic!("{}: truncated state file", path.display());
    let Some((len, tail)) = rest.split_first_chunk::<4>() else { truncated() };
    let len = u32::from_le_bytes(*len) as usize;
    let Some((bytes, tail)) = (len <= tail.len()).then(|| tail.split_at(len)) else { truncated() };
    *rest = tail;
    bytes.to_vec()
}

/// Runs the script; panics with its output unless it succeeds. Returns its stdout.
fn run_script(args: &[&str]) -> String {
    let output =
        Command::new("/usr/bin/python3").arg(SCRIPT).args(args).output().expect("run /usr/bin/python3");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{SCRIPT} {args:?} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("engine_leveldb.py {}: {}", args[0], stdout.trim());
    stdout
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 temp path")
}

fn options(block_size: usize, restart_interval: usize) -> Options {
    Options {
        create_if_missing: true,
        write_buffer_size: WRITE_BUFFER_SIZE,
        block_size,
        block_restart_interval: restart_interval,
        ..Options::default()
    }
}

/// Checks that `db` shows exactly `expected`: scans both ways, gets of every
/// live and absent key, and bounded scans (both ways) of a few key prefixes.
fn verify(db: &Db, expected: &State, what: &str) {
    let forward =
        read_forward(db, ReadOptions::new()).unwrap_or_else(|e| panic!("{what}: forward scan: {e}"));
    if let Some(difference) = first_difference(&forward, &expected.live) {
        panic!(
            "{what}: forward scan: {difference} ({} keys, expected {})",
            forward.len(),
            expected.live.len()
        );
    }
    let backward =
        read_backward(db, ReadOptions::new()).unwrap_or_else(|e| panic!("{what}: backward scan: {e}"));
    assert_eq!(backward.len(), expected.live.len(), "{what}: backward scan length");
    for ((key, value), (expected_key, expected_value)) in backward.iter().zip(&expected.live) {
        assert!(
            key == expected_key && value == expected_value,
            "{what}: backward scan has {} where {} was expected",
            show(key),
            show(expected_key)
        );
    }
    for (key, value) in &expected.live {
        let got = db.get(key).unwrap_or_else(|e| panic!("{what}: get {}: {e}", show(key)));
        assert!(
            got.as_deref() == Some(&value[..]),
            "{what}: get {} gave {:?} bytes",
            show(key),
            got.map(|v| v.len())
        );
    }
    for key in &expected.absent {
        assert!(!expected.live.contains_key(key), "{what}: {} is both live and absent", show(key));
        let got = db.get(key).unwrap_or_else(|e| panic!("{what}: get {}: {e}", show(key)));
        assert!(
            got.is_none(),
            "{what}: get of absent key {} found {} bytes",
            show(key),
            got.map_or(0, |v| v.len())
        );
    }
    for prefix in [&b"\x00"[..], b"\x7f", b"\xff\xff"] {
        let expected_keys: Vec<&Vec<u8>> = expected
            .live
            .range(prefix.to_vec()..)
            .map(|(k, _)| k)
            .take_while(|k| k.starts_with(prefix))
            .collect();
        let keys: Vec<Vec<u8>> = db
            .prefix(prefix)
            .map(|entry| entry.map(|(k, _)| k.to_vec()))
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{what}: prefix scan: {e}"));
        assert!(keys.iter().eq(expected_keys.iter().copied()), "{what}: prefix scan of {}", show(prefix));
        let mut reversed: Vec<Vec<u8>> = db
            .prefix(prefix)
            .rev()
            .map(|entry| entry.map(|(k, _)| k.to_vec()))
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{what}: reverse prefix scan: {e}"));
        reversed.reverse();
        assert_eq!(reversed, keys, "{what}: reverse prefix scan of {}", show(prefix));
    }
}

/// Writes to lsmkit and to the expected state at once; makes keys and values.
struct Writer<'a> {
    db: &'a Db,
    state: &'a mut State,
    rng: TestRng,
    /// Candidates for overwrites and deletes (may hold deleted keys).
    keys: Vec<Vec<u8>>,
    next_number: u32,
    /// Roughly what the writes take in a memtable.
    bytes_written: usize,
}

impl<'a> Writer<'a> {
    fn new(db: &'a Db, state: &'a mut State, seed: u64) -> Writer<'a> {
        let keys = state.live.keys().cloned().collect();
        // Key numbers of different seeds are far apart.
        Writer {
            db,
            state,
            rng: TestRng::new(seed),
            keys,
            next_number: (seed as u32) << 20,
            bytes_written: 0,
        }
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.rng.next_u64() as u8).collect()
    }

    /// Mostly small values; 5% empty, 2% up to 1000 bytes, 0.01% 10 KiB to
    /// 100 KiB; half random bytes, half a compressible pattern.
    fn value(&mut self) -> Vec<u8> {
        let r = self.rng.below(10_000);
        let len = match r {
            0..500 => 0,
            500..9_800 => 1 + self.rng.index(60),
            9_800..9_999 => 61 + self.rng.index(940),
            _ => 10_000 + self.rng.index(MAX_VALUE - 10_000 + 1),
        };
        if self.rng.percent(50) {
            self.bytes(len)
        } else {
            let pattern = format!("{:x}:", self.rng.below(1 << 20)).into_bytes();
            pattern.iter().copied().cycle().take(len).collect()
        }
    }

    /// A distinct binary key per number, with 0x00 and 0xff bytes about
    /// (the script's scheme, so the two sides' keys interleave).
    fn numbered_key(&mut self, number: u32) -> Vec<u8> {
        const HEADS: [&[u8]; 8] =
            [b"\x00", b"\x01", b"\x7f", b"\x80", b"\xfe", b"\xff", b"\xff\xff", b"\x00\x00"];
        let mut key = HEADS[self.rng.index(HEADS.len())].to_vec();
        key.extend_from_slice(&number.to_be_bytes());
        for _ in 0..self.rng.index(7) {
            key.push([0x00, 0xff, self.rng.next_u64() as u8][self.rng.index(3)]);
        }
        key
    }

    fn new_key(&mut self) -> Vec<u8> {
        self.next_number += 1;
        self.numbered_key(self.next_number)
    }

    fn some_key(&mut self) -> Vec<u8> {
        self.keys[self.rng.index(self.keys.len())].clone()
    }

    /// Applies `ops` (`None` = delete) as one batch, to lsmkit and the state.
    fn apply(&mut self, ops: Vec<(Vec<u8>, Option<Vec<u8>>)>) {
        let mut batch = WriteBatch::new();
        for (key, value) in &ops {
            match value {
                Some(value) => batch.put(key, value),
                None => batch.delete(key),
            }
        }
        self.db.write(WriteOptions::default(), batch).expect("lsmkit write");
        for (key, value) in ops {
            self.bytes_written += key.len() + MEMTABLE_ENTRY_OVERHEAD;
            match value {
                Some(value) => {
                    self.bytes_written += value.len();
                    self.state.absent.remove(&key);
                    self.state.live.insert(key.clone(), value);
                    self.keys.push(key);
                }
                None => {
                    self.state.live.remove(&key);
                    self.state.absent.insert(key);
                }
            }
        }
    }

    /// Batches of puts (new keys and overwrites), deletes of live keys and
    /// deletes of missing keys, until about `budget` more bytes are written.
    fn churn(&mut self, budget: usize, put_percent: u64) {
        let stop = self.bytes_written + budget;
        while self.bytes_written < stop {
            let mut ops = Vec::with_capacity(BATCH_SIZE);
            for _ in 0..BATCH_SIZE {
                let r = self.rng.below(100);
                if r < put_percent || self.keys.is_empty() {
                    let key = if self.keys.is_empty() || self.rng.percent(30) {
                        self.new_key()
                    } else {
                        self.some_key()
                    };
                    ops.push((key, Some(self.value())));
                } else if r < 97 {
                    ops.push((self.some_key(), None));
                } else {
                    ops.push((self.new_key(), None));
                }
            }
            self.apply(ops);
        }
    }

    /// Fills an empty database: a table spanning the key space (flushed
    /// into an empty database it goes as deep as a flush can), `count`
    /// keys in random order, two of the largest values, all compacted.
    fn create(&mut self, count: u32) {
        let edges = EDGE_KEYS.iter().map(|k| (k.to_vec(), Some(self.value()))).collect();
        self.apply(edges);
        self.db.compact_range(None, None).expect("compact_range");
        let mut order: Vec<u32> = (0..count).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, self.rng.index(i + 1));
        }
        for chunk in order.chunks(BATCH_SIZE) {
            let ops = chunk.iter().map(|&n| (self.numbered_key(n), Some(self.value()))).collect();
            self.apply(ops);
        }
        self.apply(vec![
            (b"\xff\xff\xff\x00\x00".to_vec(), Some(vec![0; MAX_VALUE])),
            (b"\x00\x00\x00".to_vec(), Some(vec![0xff; MAX_VALUE])),
        ]);
        self.db.compact_range(None, None).expect("compact_range");
    }

    /// Changes whatever the database holds: churn of a fifth of its size,
    /// compactions of parts of the key space, churn until flushed tables
    /// make three levels non-empty and half a write buffer more, and a last
    /// batch (with a 100 KiB value) that stays in the WAL. Returns the files
    /// per level seen once three levels were non-empty.
    fn modify(&mut self) -> Vec<usize> {
        let size: usize = self.state.live.iter().map(|(k, v)| k.len() + v.len()).sum();
        self.churn(size.max(self.bytes_written) / 5, 60);
        self.db.compact_range(Some(b"\x00"), Some(b"\x80")).expect("compact_range");
        self.db.compact_range(Some(b"\xfe"), Some(b"\xff\x7f")).expect("compact_range");
        let stop = self.bytes_written + 8 * WRITE_BUFFER_SIZE;
        let mut levels = files_per_level(self.db);
        while levels.iter().filter(|&&n| n > 0).count() < 3 && self.bytes_written < stop {
            self.churn(WRITE_BUFFER_SIZE / 16, 50);
            levels = files_per_level(self.db);
        }
        self.churn(WRITE_BUFFER_SIZE / 2, 50);
        for _ in 0..10 {
            // A 0x42 byte after the head byte never occurs there in numbered keys.
            let mut key = vec![[0x00, 0x7f, 0xff][self.rng.index(3)], 0x42];
            key.extend_from_slice(&(self.rng.next_u64() as u32).to_be_bytes());
            self.state.absent.insert(key);
        }
        let mut last: Vec<_> = (0..20).map(|_| (self.new_key(), Some(self.value()))).collect();
        let big = self.bytes(MAX_VALUE);
        last.push((self.new_key(), Some(big)));
        for i in 0..10 {
            last.push((self.some_key(), Some(format!("lsmkit last batch {i}").into_bytes())));
        }
        for _ in 0..10 {
            last.push((self.some_key(), None));
        }
        last.push((Vec::new(), Some(b"empty key, lsmkit's last batch".to_vec())));
        self.apply(last);
        levels
    }
}

/// Files per level, from lsmkit's properties.
fn files_per_level(db: &Db) -> Vec<usize> {
    (0..7)
        .map(|level| {
            db.property(&format!("leveldb.num-files-at-level{level}"))
                .and_then(|n| n.parse().ok())
                .expect("num-files-at-level property")
        })
        .collect()
}

/// Asserts that `dir` holds a non-empty WAL (writes not yet in any table).
fn assert_wal_not_empty(dir: &Path) {
    let names: Vec<String> = std::fs::read_dir(dir)
        .expect("list db")
        .map(|e| e.expect("dir entry").file_name().into_string().expect("UTF-8"))
        .collect();
    let wal_bytes: u64 = names
        .iter()
        .filter(|name| matches!(parse_file_name(name), Some((_, FileType::Log))))
        .map(|name| std::fs::metadata(dir.join(name)).expect("stat").len())
        .sum();
    assert!(wal_bytes > 0, "no non-empty WAL in {}: {names:?}", dir.display());
}

/// Opens every table in `dir`; returns (tables, tables with a bloom filter,
/// tables with an `lsmkit.properties` block).
fn table_census(dir: &Path) -> (usize, usize, usize) {
    let options =
        TableOptions::for_internal_keys(BytewiseComparator::shared(), Some(Arc::new(LevelDbBloom::new(10))));
    let mut census = (0, 0, 0);
    for entry in std::fs::read_dir(dir).expect("list db") {
        let name = entry.expect("dir entry").file_name().into_string().expect("UTF-8");
        if let Some((_, FileType::Table)) = parse_file_name(&name) {
            let table = Table::open_path(&StdFs::new(), &dir.join(&name), options.clone())
                .unwrap_or_else(|e| panic!("open table {name}: {e}"));
            census.0 += 1;
            census.1 += usize::from(table.has_filter());
            census.2 += usize::from(table.properties().is_some());
        }
    }
    census
}

/// lsmkit opens LevelDB's database, checks it, changes it and closes it;
/// returns lsmkit's view. Asserts lsmkit left writes in its WAL.
fn lsmkit_round(dir: &Path, options: Options, expected: &State, seed: u64, what: &str) -> State {
    let db = Db::open(dir, options).unwrap_or_else(|e| panic!("{what}: open: {e}"));
    verify(&db, expected, what);
    let mut state = State { live: expected.live.clone(), absent: expected.absent.clone() };
    let levels = Writer::new(&db, &mut state, seed).modify();
    eprintln!("{what}: files per level {levels:?}");
    assert!(levels.iter().filter(|&&n| n > 0).count() >= 3, "{what}: files per level {levels:?}");
    verify(&db, &state, &format!("{what}, after lsmkit's changes"));
    drop(db);
    assert_wal_not_empty(dir);
    state
}

#[test]
fn leveldb_database_with_200k_keys_round_trips_through_lsmkit() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let dir = scratch.path().join("db");
    let (leveldb_state, lsmkit_state) =
        (scratch.path().join("leveldb.state"), scratch.path().join("lsmkit.state"));
    run_script(&["session", path_str(&dir), path_str(&leveldb_state), "--seed", "1", "--create", "200000"]);
    let expected = State::read(&leveldb_state);
    assert!(expected.live.len() > 150_000, "{} live keys", expected.live.len());
    let state = lsmkit_round(&dir, options(4096, 16), &expected, 11, "lsmkit opening LevelDB's database");
    state.write(&lsmkit_state);
    run_script(&["check", path_str(&dir), path_str(&lsmkit_state)]);
    // LevelDB has turned lsmkit's WAL into a table of its own.
    let db = Db::open(&dir, options(4096, 16)).expect("reopen");
    let forward = read_forward(&db, ReadOptions::new()).expect("scan");
    assert_eq!(first_difference(&forward, &state.live), None, "lsmkit reopening after LevelDB");
}

#[test]
fn lsmkit_database_round_trips_through_leveldb() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let dir = scratch.path().join("db");
    let (lsmkit_state, leveldb_state) =
        (scratch.path().join("lsmkit.state"), scratch.path().join("leveldb.state"));
    let mut state = State::default();
    {
        let db = Db::open(&dir, options(4096, 16)).expect("create");
        let mut writer = Writer::new(&db, &mut state, 2);
        writer.create(30_000);
        let levels = writer.modify();
        eprintln!("lsmkit creating a database: files per level {levels:?}");
        assert!(levels.iter().filter(|&&n| n > 0).count() >= 3, "files per level {levels:?}");
        verify(&db, &state, "lsmkit's own database");
    }
    assert_wal_not_empty(&dir);
    let (tables, with_filter, with_properties) = table_census(&dir);
    assert!(
        // Reads during `verify` may trigger seek compactions that merge the
        // levels checked above, and obsolete inputs are deleted at once: at
        // least one table, every one with a filter and a properties block.
        tables >= 1 && with_filter == tables && with_properties == tables,
        "{tables} tables, {with_filter} with a filter, {with_properties} with properties"
    );
    state.write(&lsmkit_state);
    run_script(&[
        "session",
        path_str(&dir),
        path_str(&leveldb_state),
        "--seed",
        "3",
        "--check",
        path_str(&lsmkit_state),
    ]);
    let expected = State::read(&leveldb_state);
    let db = Db::open(&dir, options(4096, 16)).expect("open after LevelDB");
    verify(&db, &expected, "lsmkit opening its database after LevelDB's changes");
}

#[test]
fn small_blocks_and_restart_interval_4_round_trip() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let dir = scratch.path().join("db");
    let states: Vec<_> = (1..=3).map(|i| scratch.path().join(format!("{i}.state"))).collect();
    let layout = ["--block-size", "1024", "--restart", "4"];
    let mut args = vec!["session", path_str(&dir), path_str(&states[0]), "--seed", "4", "--create", "20000"];
    args.extend(layout);
    run_script(&args);
    let expected = State::read(&states[0]);
    let state =
        lsmkit_round(&dir, options(1024, 4), &expected, 12, "lsmkit opening LevelDB's small-block database");
    state.write(&states[1]);
    let mut args =
        vec!["session", path_str(&dir), path_str(&states[2]), "--seed", "5", "--check", path_str(&states[1])];
    args.extend(layout);
    run_script(&args);
    let expected = State::read(&states[2]);
    let db = Db::open(&dir, options(1024, 4)).expect("open after LevelDB");
    verify(&db, &expected, "lsmkit opening the small-block database after LevelDB's changes");
}
