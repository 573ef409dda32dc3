//! The `crafted_wal` fuzz check, shared by the cargo-fuzz target
//! (`engine/fuzz/fuzz_targets/crafted_wal.rs`) and the test that replays
//! its saved inputs (`engine/tests/crafted_wal_fuzz.rs`).
//!
//! A real database is made on a `MemFs` (a few keys in its WAL, or flushed
//! to a table), then records crafted from the input are appended to its
//! newest log, with **valid** checksums: write batches with extreme
//! sequence numbers and counts, unknown operation kinds, overlong,
//! truncated and huge length varints, trailing bytes; raw payloads; raw
//! physical records of any type byte (fragments out of order included);
//! filler records that push later ones across 32 KiB block boundaries; and
//! torn tails. Then the logs are read with the `WalIterator`, the database
//! is optionally repaired, and it is reopened and read back (forward,
//! backward, point lookups).
//!
//! Nothing may panic, and every error must be `Error::Corruption` (a gap in
//! the sequence numbers is `InvalidArgument` for the WAL iterator). When
//! the open succeeds, a second open (of a database whose logs the first one
//! turned into tables) succeeds and shows the same entries, and, as long as
//! every crafted record that can be applied has fresh sequence numbers,
//! lookups agree with the scan. (A reused sequence number can give one user
//! key two entries with the same internal key in different tables; which
//! one a lookup and a scan see is then unspecified, in LevelDB as here.)
//! After a repair the open must succeed.
//!
//! Input layout: byte 0 is the configuration — bits 0-1 the WAL recovery
//! mode (index into `RecoveryMode::ALL`), bit 2 `paranoid_checks`, bit 3
//! flush the initial keys to a table first, bit 4 entry expiry (TTL), bit 5
//! repair before opening. Then each crafted record is an opcode byte and
//! its argument bytes (see [`append_crafted`]); missing bytes read as zero,
//! and at most [`MAX_RECORDS`] records are appended.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use lsmkit::{Db, Error, FlushOptions, Options, ReadOptions, RecoveryMode, WalIterator, WalIteratorOptions};
use lsmkit_base::crc;
use lsmkit_base::filename::{log_file_name, parse_file_name, FileType};
use lsmkit_base::fs::{FileSystem, MemFs};
use lsmkit_base::key::MAX_SEQUENCE_NUMBER;
use lsmkit_wal::LogWriter;

/// Records appended to the log, at most.
pub const MAX_RECORDS: usize = 24;
/// Operations in one crafted batch, at most.
const MAX_BATCH_OPS: usize = 8;
/// Where the database lives on the in-memory file system.
const DB_DIR: &str = "/crafted";
/// Bytes in one log block.
const BLOCK_SIZE: usize = 32 * 1024;

/// The user keys crafted batches use (the initial keys are among them).
const KEYS: [&[u8]; 8] = [b"a", b"b", b"c", b"k", b"", b"\xff", b"a\x00", b"zz"];

/// What one run did, for the replay test to report.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Crafted records appended.
    pub records: usize,
    /// The open succeeded.
    pub opened: bool,
    /// Entries the reopened database holds (when the scan succeeded).
    pub entries: Option<usize>,
    /// Operations the WAL iterator returned before it ended or failed.
    pub wal_ops: usize,
    /// The repair ran (and the open after it succeeded).
    pub repaired: bool,
}

/// The state of the crafting: the sequence number a well-formed batch
/// would take next, and whether every record that may be applied used
/// fresh sequence numbers (see the module comment).
struct Crafting {
    next_sequence: u64,
    fresh_sequences: bool,
}

/// Reads input bytes one at a time; past the end it yields zeros.
struct ByteReader<'a> {
    data: &'a [u8],
}

impl ByteReader<'_> {
    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.byte()).collect()
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }

    fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | (u64::from(self.u32()) << 32)
    }
}

/// The configuration byte.
#[derive(Debug, Clone, Copy)]
struct Config {
    mode: RecoveryMode,
    paranoid: bool,
    flush_first: bool,
    ttl: bool,
    repair: bool,
}

impl Config {
    fn from_byte(b: u8) -> Config {
        Config {
            mode: RecoveryMode::ALL[usize::from(b & 3)],
            paranoid: b & 4 != 0,
            flush_first: b & 8 != 0,
            ttl: b & 16 != 0,
            repair: b & 32 != 0,
        }
    }

    fn options(&self, fs: &Arc<MemFs>) -> Options {
        Options {
            create_if_missing: true,
            paranoid_checks: self.paranoid,
            wal_recovery_mode: self.mode,
            enable_ttl: self.ttl,
            fs: fs.clone(),
            ..Options::default()
        }
    }
}

/// Runs one input; panics on any violation (the fuzz failure).
pub fn run(data: &[u8]) -> Summary {
    let mut input = ByteReader { data };
    let config = Config::from_byte(input.byte());
    let fs = Arc::new(MemFs::new());
    let dir = Path::new(DB_DIR);
    let mut crafting = Crafting { next_sequence: make_database(&fs, config), fresh_sequences: true };
    let mut summary = Summary::default();
    let log = newest_log(&fs, dir);
    while !input.is_empty() && summary.records < MAX_RECORDS {
        append_crafted(&fs, &log, &mut input, &mut crafting);
        summary.records += 1;
    }
    let compare_lookups = crafting.fresh_sequences;

    summary.wal_ops = read_wal(&fs, dir, config.mode);
    if config.repair {
        let report = Db::repair(dir, &config.options(&fs));
        if let Err(e) = report {
            panic!("repair failed: {e}");
        }
    }
    let db = match Db::open(dir, config.options(&fs)) {
        Ok(db) => db,
        Err(e) => {
            assert!(e.is_corruption(), "the open failed with a non-corruption error: {e}");
            assert!(!config.repair, "the open after a repair failed: {e}");
            return summary;
        }
    };
    summary.opened = true;
    summary.repaired = config.repair;
    let first = read_back(&db, compare_lookups);
    drop(db);
    // The first open turned the logs into tables: a second one must succeed.
    let db = match Db::open(dir, config.options(&fs)) {
        Ok(db) => db,
        Err(e) => panic!("the second open failed: {e}"),
    };
    let second = read_back(&db, compare_lookups);
    if let (Some(first), Some(second)) = (&first, &second) {
        assert_eq!(first, second, "the second open shows other entries");
    }
    summary.entries = second.map(|entries| entries.len());
    summary
}

/// Creates the database with `a`, `b`, `c` (sequences 1 to 3), flushed to
/// a table when the configuration says so, and closes it. Returns the next
/// sequence number.
fn make_database(fs: &Arc<MemFs>, config: Config) -> u64 {
    let db = match Db::open(DB_DIR, config.options(fs)) {
        Ok(db) => db,
        Err(e) => panic!("creating the database: {e}"),
    };
    for key in [&b"a"[..], b"b", b"c"] {
        if let Err(e) = db.put(key, b"initial") {
            panic!("initial put: {e}");
        }
    }
    if config.flush_first {
        if let Err(e) = db.flush(FlushOptions { wait: true }) {
            panic!("initial flush: {e}");
        }
    }
    4
}

/// The newest log of the database.
fn newest_log(fs: &MemFs, dir: &Path) -> PathBuf {
    let names = match fs.list_dir(dir) {
        Ok(names) => names,
        Err(e) => panic!("listing {}: {e}", dir.display()),
    };
    let newest = names
        .iter()
        .filter_map(|name| match parse_file_name(name) {
            Some((number, FileType::Log)) => Some(number),
            _ => None,
        })
        .max();
    match newest {
        Some(number) => log_file_name(dir, number),
        None => panic!("the database has no log"),
    }
}

/// Appends one crafted record (or edit of the log) chosen by the next
/// input bytes:
///
/// - `0`: a crafted batch (see [`crafted_batch`]) as one logical record;
/// - `1`: a crafted batch cut into 1 to 4 physical records whose type
///   bytes come from the input (FIRST/MIDDLE/LAST in order, or not);
/// - `2`: a raw payload of up to 255 input bytes as one logical record;
/// - `3`: one raw physical record: type byte, length, payload, valid CRC;
/// - `4`: a valid filler batch of up to 32 KiB, to move later records
///   across block boundaries;
/// - `5`: a torn tail: the last 1 to 256 bytes of the log are cut.
fn append_crafted(fs: &MemFs, log: &Path, input: &mut ByteReader<'_>, crafting: &mut Crafting) {
    match input.byte() % 6 {
        0 => {
            let batch = crafted_batch(input, crafting);
            append_logical(fs, log, &batch);
        }
        1 => {
            let batch = crafted_batch(input, crafting);
            let pieces = usize::from(input.byte() % 4) + 1;
            let size = batch.len().div_ceil(pieces).max(1);
            for (i, chunk) in batch.chunks(size).enumerate() {
                let type_byte = input.byte();
                // Mostly the right type for the position, sometimes any byte.
                let type_byte = if type_byte < 128 {
                    fragment_type(i, batch.len().div_ceil(size))
                } else {
                    // A piece may now be read as a record of its own.
                    crafting.fresh_sequences = false;
                    type_byte % 8
                };
                append_physical(fs, log, type_byte, chunk);
            }
        }
        2 => {
            let len = usize::from(input.byte());
            let payload = input.bytes(len);
            crafting.fresh_sequences = false;
            append_logical(fs, log, &payload);
        }
        3 => {
            let type_byte = input.byte();
            let len = usize::from(input.byte());
            let payload = input.bytes(len);
            crafting.fresh_sequences = false;
            append_physical(fs, log, type_byte, &payload);
        }
        4 => {
            let len = usize::from(input.byte()) * 128;
            let mut batch = lsmkit::WriteBatch::new();
            batch.set_sequence(crafting.next_sequence);
            batch.put(b"filler", &vec![b'f'; len]);
            crafting.next_sequence = crafting.next_sequence.saturating_add(1);
            append_logical(fs, log, batch.data());
        }
        _ => {
            let cut = u64::from(input.byte()) + 1;
            let bytes = read(fs, log);
            let keep = (bytes.len() as u64).saturating_sub(cut) as usize;
            write(fs, log, &bytes[..keep]);
        }
    }
}

/// FULL (1) for a single piece, else FIRST (2), MIDDLE (3) ..., LAST (4).
fn fragment_type(index: usize, pieces: usize) -> u8 {
    match (index, pieces) {
        (_, 1) => 1,
        (0, _) => 2,
        (i, n) if i + 1 == n => 4,
        _ => 3,
    }
}

/// A write batch built from the input bytes: a sequence number chosen
/// among the extremes (or the next one, or raw), up to 8 operations of
/// which some have unknown kinds or malformed length varints, a count that
/// may disagree with them, and possibly trailing bytes.
fn crafted_batch(input: &mut ByteReader<'_>, crafting: &mut Crafting) -> Vec<u8> {
    let selector = input.byte() % 12;
    let next_sequence = crafting.next_sequence;
    let sequence = match selector {
        0 => next_sequence,
        1 => 0,
        2 => 1,
        3 => MAX_SEQUENCE_NUMBER - 1,
        4 => MAX_SEQUENCE_NUMBER,
        5 => MAX_SEQUENCE_NUMBER + 1,
        6 => 1 << 63,
        7 => u64::MAX - 1,
        8 => u64::MAX,
        9 => next_sequence.saturating_sub(1),
        10 => MAX_SEQUENCE_NUMBER - u64::from(input.byte()),
        _ => input.u64(),
    };
    let ops = usize::from(input.byte()) % (MAX_BATCH_OPS + 1);
    let mut body = Vec::new();
    for _ in 0..ops {
        let selector = input.byte();
        let key = KEYS[usize::from(input.byte()) % KEYS.len()];
        let value_len = usize::from(input.byte() % 16);
        match selector % 8 {
            0..=3 => {
                body.push(1);
                push_varint(&mut body, key.len() as u64);
                body.extend_from_slice(key);
                push_varint(&mut body, value_len as u64);
                body.extend(std::iter::repeat_n(b'v', value_len));
            }
            4 | 5 => {
                body.push(0);
                push_varint(&mut body, key.len() as u64);
                body.extend_from_slice(key);
            }
            6 => {
                // Any kind byte, followed by a well-formed key and value.
                body.push(input.byte());
                push_varint(&mut body, key.len() as u64);
                body.extend_from_slice(key);
                push_varint(&mut body, value_len as u64);
                body.extend(std::iter::repeat_n(b'v', value_len));
            }
            _ => {
                // A put whose key length is written in an unusual way.
                body.push(1);
                match input.byte() % 5 {
                    // Padded with continuation bytes: still valid (5 bytes).
                    0 => {
                        let len = key.len() as u8;
                        body.extend_from_slice(&[len | 0x80, 0x80, 0x80, 0x80, 0x00]);
                        body.extend_from_slice(key);
                    }
                    // Never ends: the record stops inside the varint.
                    1 => body.extend_from_slice(&[0x80, 0x80]),
                    // Too long for 32 bits.
                    2 => body.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
                    // The largest length: far past the record.
                    3 => body.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]),
                    // A length one past what follows.
                    _ => {
                        push_varint(&mut body, key.len() as u64 + 1);
                        body.extend_from_slice(key);
                    }
                }
                push_varint(&mut body, value_len as u64);
                body.extend(std::iter::repeat_n(b'v', value_len));
            }
        }
    }
    let count = match input.byte() % 6 {
        0 | 1 => ops as u32,
        2 => ops as u32 + 1,
        3 => (ops as u32).wrapping_sub(1),
        4 => u32::MAX,
        _ => input.u32(),
    };
    let trailing = input.byte();
    if trailing % 4 == 3 {
        let extra = input.bytes(usize::from(trailing >> 2) % 8 + 1);
        body.extend_from_slice(&extra);
    }
    if selector != 0 {
        crafting.fresh_sequences = false;
    }
    crafting.next_sequence = sequence.saturating_add(u64::from(count));
    let mut batch = Vec::with_capacity(12 + body.len());
    batch.extend_from_slice(&sequence.to_le_bytes());
    batch.extend_from_slice(&count.to_le_bytes());
    batch.extend_from_slice(&body);
    batch
}

fn push_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn read(fs: &MemFs, path: &Path) -> Vec<u8> {
    match lsmkit_base::fs::read_file_to_vec(fs, path) {
        Ok(bytes) => bytes,
        Err(e) => panic!("reading {}: {e}", path.display()),
    }
}

fn write(fs: &MemFs, path: &Path, bytes: &[u8]) {
    if let Err(e) = lsmkit_base::fs::write_file(fs, path, bytes, false) {
        panic!("writing {}: {e}", path.display());
    }
}

/// Appends `payload` as one logical record, as the log writer splits it.
fn append_logical(fs: &MemFs, log: &Path, payload: &[u8]) {
    let len = read(fs, log).len() as u64;
    let file = match fs.open_appendable(log) {
        Ok(file) => file,
        Err(e) => panic!("appending to {}: {e}", log.display()),
    };
    let mut writer = LogWriter::new_with_offset(file, len);
    if let Err(e) = writer.add_record(payload).and_then(|()| writer.close()) {
        panic!("appending to {}: {e}", log.display());
    }
}

/// Appends one physical record with a valid checksum over `type_byte` and
/// `payload`, after zero-filling the block's trailer if fewer than 7 bytes
/// are left in it. The record may run past the end of its block.
fn append_physical(fs: &MemFs, log: &Path, type_byte: u8, payload: &[u8]) {
    let mut bytes = read(fs, log);
    let left = BLOCK_SIZE - bytes.len() % BLOCK_SIZE;
    if left < 7 {
        bytes.resize(bytes.len() + left, 0);
    }
    let checksum = crc::mask(crc::extend(crc::value(&[type_byte]), payload));
    bytes.extend_from_slice(&checksum.to_le_bytes());
    bytes.extend_from_slice(&(payload.len() as u16).to_le_bytes());
    bytes.push(type_byte);
    bytes.extend_from_slice(payload);
    write(fs, log, &bytes);
}

/// Reads every logged operation with the WAL iterator; returns how many
/// came back before the end or an error (which must be a corruption, or a
/// gap reported as `InvalidArgument`).
fn read_wal(fs: &Arc<MemFs>, dir: &Path, mode: RecoveryMode) -> usize {
    let options = WalIteratorOptions { recovery_mode: mode, follow_tail: false };
    let check = |e: &Error| {
        assert!(
            e.is_corruption() || matches!(e, Error::InvalidArgument(_)),
            "the WAL iterator failed with {e}"
        );
    };
    let fs: Arc<dyn FileSystem> = fs.clone();
    let mut updates = match WalIterator::new(fs, dir, 1, options) {
        Ok(updates) => updates,
        Err(e) => {
            check(&e);
            return 0;
        }
    };
    let mut ops = 0;
    while let Some(op) = updates.next_op() {
        match op {
            Ok(op) => {
                assert!(op.sequence <= MAX_SEQUENCE_NUMBER, "sequence {} from the WAL iterator", op.sequence);
                ops += 1;
            }
            Err(e) => {
                check(&e);
                break;
            }
        }
    }
    // Stepping back over what was read must not fail on anything new.
    while let Some(op) = updates.prev_op() {
        if let Err(e) = op {
            check(&e);
            break;
        }
    }
    ops
}

/// Scans the database forward and backward and looks every key up (and
/// checks the lookups against the scan when `compare_lookups`); returns the
/// entries when the reads succeed. Reads may fail only with a corruption.
fn read_back(db: &Db, compare_lookups: bool) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut forward = Vec::new();
    let mut it = db.iter(ReadOptions::default());
    it.seek_to_first();
    while it.valid() {
        forward.push((it.key().to_vec(), it.value().to_vec()));
        it.next();
    }
    if let Err(e) = it.status() {
        assert!(e.is_corruption(), "a forward scan failed with {e}");
        return None;
    }
    let mut backward = Vec::new();
    it.seek_to_last();
    while it.valid() {
        backward.push((it.key().to_vec(), it.value().to_vec()));
        it.prev();
    }
    if let Err(e) = it.status() {
        assert!(e.is_corruption(), "a backward scan failed with {e}");
        return None;
    }
    backward.reverse();
    assert_eq!(forward, backward, "forward and backward scans differ");
    for key in KEYS.iter().chain([&&b"filler"[..]]) {
        match db.get(key) {
            Ok(found) if compare_lookups => {
                let scanned = forward.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_slice());
                assert_eq!(found.as_deref(), scanned, "get and scan disagree on {:?}", key.escape_ascii());
            }
            Ok(_) => {}
            Err(e) => assert!(e.is_corruption(), "get failed with {e}"),
        }
    }
    Some(forward)
}
