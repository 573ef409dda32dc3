//! Corruption sweep: a small database — a WAL holding the latest writes,
//! tables on several levels, a MANIFEST, CURRENT — is built on a `MemFs`;
//! then, on a fresh copy each time, one byte of one file is flipped (all its
//! bits inverted), or one file is cut short, and the database is opened
//! with `paranoid_checks` and read entirely (forward and backward iteration
//! and a point read of every key ever written).
//!
//! The result must be the right data or an `Error::Corruption` that names
//! the damaged file (in its `file` field or its message) — never a panic,
//! another kind of error, or a wrong value. "The right data" is the state
//! the database was built to, except for damage to the WAL: with
//! `paranoid_checks` a WAL is read with `TolerateCorruptedTailRecords`, so a
//! damaged or cut final record is dropped, and a WAL cut short loses its
//! tail. There the right data is the state after some prefix of the writes
//! that includes every write already in a table (a state the database
//! really passed through), as after a crash.
//!
//! That includes a MANIFEST that loses whole records at its end — cut
//! after its first record, or with a record's length field damaged so that
//! the record seems to run past the end of the file. Its bytes alone look
//! like a MANIFEST whose last write was torn by a crash (which LevelDB 1.23
//! reads leniently, silently losing acknowledged writes), but with
//! `paranoid_checks` recovery also checks the directory: the lost edits
//! had deleted the WAL or the tables the older state needs, so opening
//! fails with a `Corruption` naming the MANIFEST before anything is
//! deleted. Lost edits that deleted nothing (a trivial move) leave the
//! same data, which must then read intact.
//!
//! CI sweeps a sample: every byte of CURRENT, the MANIFEST and each table's
//! footer, and every `CI_STRIDE`-th byte and length elsewhere (with an
//! offset that differs per file). `LSMKIT_CORRUPTION_SWEEP=full` (which
//! `cargo xtask corrupt` sets) sweeps every byte and every length.

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

mod common;
mod sweep_common;

use common::TestRng;

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use lsmkit::{Db, FlushOptions, Options, ReadOptions, WriteOptions};
use lsmkit_base::filename::{parse_file_name, FileType};
use lsmkit_base::fs::{read_file_to_vec, write_file, FileSystem, MemFs};
use sweep_common::{
    apply, batch_of, count_panics, panic_message, panics_so_far, read_everything, History, Model, Watchdog,
    Write,
};

/// Where the database lives on the in-memory file system.
const DIR: &str = "/db";
/// In CI, one byte (and one length) in this many is swept, outside the
/// parts swept in full.
const CI_STRIDE: usize = 64;
/// A table's footer: the last 48 bytes (docs/format.md §6.4).
const FOOTER_LEN: usize = 48;

/// The pristine database and what it holds.
struct Image {
    /// Every file of the database directory: name and contents.
    files: Vec<(String, Vec<u8>)>,
    /// Every write made, in order; the database holds the state after all.
    history: History,
    /// `history.attempted[..in_tables]` are in tables; the rest only in the WAL.
    in_tables: usize,
    /// Every key ever written.
    probe_keys: Vec<Vec<u8>>,
    /// Tables on each level when the database was closed.
    tables_per_level: Vec<usize>,
}

fn options(fs: Arc<dyn FileSystem>) -> Options {
    Options {
        create_if_missing: true,
        paranoid_checks: true,
        fs,
        block_size: 1024,
        // Large enough that the last batch stays in the WAL (over several
        // 32 KiB log blocks, so damage can be followed by intact records).
        write_buffer_size: 1 << 20,
        block_cache_capacity: 64 << 10,
        ..Options::default()
    }
}

/// Builds the database: two batches of keys flushed and then compacted
/// together onto a deeper level, two more batches flushed over them (they
/// overlap, so they stay on higher levels), and a last batch left in the
/// WAL; some writes overwrite or delete older keys, some are
/// multi-operation batches.
fn build_image() -> Image {
    let mem = MemFs::new();
    let db = Db::open(DIR, options(Arc::new(mem.clone()))).expect("open");
    let mut rng = TestRng::new(11);
    let mut history = History::default();
    let mut probe_keys = std::collections::BTreeSet::new();
    let mut write_some =
        |db: &Db, history: &mut History, count: usize, keys: std::ops::Range<u64>, size: u64| {
            for i in 0..count {
                let ops = if rng.percent(75) { 1 } else { 2 + rng.below(3) };
                let write: Write = (0..ops)
                    .map(|op| {
                        let key =
                            format!("key{:04}", keys.start + rng.below(keys.end - keys.start)).into_bytes();
                        probe_keys.insert(key.clone());
                        if rng.percent(12) {
                            return (key, None);
                        }
                        let mut value = format!("{}-{i}-{op}:", history.attempted.len()).into_bytes();
                        let len = (size / 2 + rng.below(size)) as usize;
                        while value.len() < len {
                            value.push(b'a' + (rng.below(4) as u8));
                        }
                        (key, Some(value))
                    })
                    .collect();
                db.write(WriteOptions::default(), batch_of(&write)).expect("write");
                history.attempted.push(write);
            }
        };
    write_some(&db, &mut history, 50, 0..100, 50);
    db.flush(FlushOptions { wait: true }).expect("flush");
    write_some(&db, &mut history, 50, 50..150, 50);
    db.flush(FlushOptions { wait: true }).expect("flush");
    // Merges the two tables into one on a deeper level and deletes them.
    db.compact_range(None, None).expect("compact");
    write_some(&db, &mut history, 40, 40..160, 50);
    db.flush(FlushOptions { wait: true }).expect("flush");
    write_some(&db, &mut history, 40, 100..200, 50);
    db.flush(FlushOptions { wait: true }).expect("flush");
    let in_tables = history.attempted.len();
    // About 70 KiB of log: three 32 KiB blocks.
    write_some(&db, &mut history, 400, 0..200, 120);
    history.acked = history.attempted.len();
    history.durable = history.acked;
    let tables_per_level = (0..7)
        .map(|level| {
            db.property(&format!("lsmkit.num-files-at-level{level}"))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        })
        .collect();
    drop(db);

    let mut names = mem.list_dir(Path::new(DIR)).expect("list");
    names.sort();
    let files = names
        .into_iter()
        .map(|name| {
            let bytes = read_file_to_vec(&mem, &Path::new(DIR).join(&name)).expect("read");
            (name, bytes)
        })
        .collect();
    Image { files, history, in_tables, probe_keys: probe_keys.into_iter().collect(), tables_per_level }
}

/// One way to damage one file.
#[derive(Debug, Clone, Copy)]
enum Damage {
    /// Every bit of the byte at this offset inverted.
    Flip(usize),
    /// The file cut to this length.
    Truncate(usize),
}

/// What a damaged database gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// All the data, right.
    Intact,
    /// The state after a shorter prefix of the writes (WAL damage only).
    Prefix,
    /// A `Corruption` error naming the file.
    Corruption,
}

fn is_log(name: &str) -> bool {
    matches!(parse_file_name(name), Some((_, FileType::Log)))
}

fn is_table(name: &str) -> bool {
    matches!(parse_file_name(name), Some((_, FileType::Table)))
}

/// True if `error` is a `Corruption` that names the file `name`.
fn names_file(error: &lsmkit::Error, name: &str) -> bool {
    match error {
        lsmkit::Error::Corruption { message, file, .. } => {
            file.as_deref().and_then(Path::file_name).is_some_and(|f| f == name) || message.contains(name)
        }
        _ => false,
    }
}

/// Opens a copy of the image with `damage` done to file `target` and reads
/// everything; checks the result against the promise in the file's comment.
fn check_case(image: &Image, target: usize, damage: Damage) -> Result<Outcome, String> {
    let mem = MemFs::new();
    let dir = PathBuf::from(DIR);
    mem.create_dir_all(&dir).map_err(|e| e.to_string())?;
    for (i, (name, bytes)) in image.files.iter().enumerate() {
        let mut bytes = bytes.clone();
        if i == target {
            match damage {
                Damage::Flip(offset) => bytes[offset] ^= 0xff,
                Damage::Truncate(len) => bytes.truncate(len),
            }
        }
        write_file(&mem, &dir.join(name), &bytes, false).map_err(|e| e.to_string())?;
    }
    let name = image.files[target].0.as_str();
    let result = (|| -> Result<lsmkit::Result<Model>, String> {
        let db = match Db::open(DIR, options(Arc::new(mem.clone()))) {
            Ok(db) => db,
            Err(e) => return Ok(Err(e)),
        };
        read_everything(&db, &ReadOptions::new(), &image.probe_keys)
    })()?;
    let corruption_named = |e: &lsmkit::Error| names_file(e, name);
    match &result {
        Ok(state) => {
            let all = image.history.attempted.len();
            if is_log(name) {
                let n = image.history.matching_prefix(state, image.in_tables)?;
                Ok(if n == all { Outcome::Intact } else { Outcome::Prefix })
            } else {
                image
                    .history
                    .matching_prefix(state, all)
                    .map(|_| Outcome::Intact)
                    .map_err(|e| format!("read without error, wrong data: {e}"))
            }
        }
        Err(e) if corruption_named(e) => Ok(Outcome::Corruption),
        Err(e) => Err(format!("an error that is not a Corruption naming {name}: {e:?}")),
    }
}

/// True if `LSMKIT_CORRUPTION_SWEEP=full`.
fn full_sweep() -> bool {
    std::env::var("LSMKIT_CORRUPTION_SWEEP").is_ok_and(|v| v == "full")
}

/// The positions swept in `file` (offsets to flip, or lengths to cut to):
/// all in a full sweep; in CI every `CI_STRIDE`-th from a per-file offset,
/// plus all of CURRENT and the MANIFEST and all of a table's footer.
fn positions(index: usize, name: &str, len: usize, full: bool) -> Vec<usize> {
    let small = !is_log(name) && !is_table(name);
    let footer_start = if is_table(name) { len.saturating_sub(FOOTER_LEN) } else { len };
    (0..len).filter(|&p| full || small || p >= footer_start || p % CI_STRIDE == index % CI_STRIDE).collect()
}

/// Counts of outcomes per file and damage kind, for the summary.
#[derive(Default)]
struct Tally {
    intact: usize,
    prefix: usize,
    corruption: usize,
}

/// Runs `damage_at(position)` on every swept position of every file.
fn sweep(kind: &str, damage_at: fn(usize) -> Damage) {
    count_panics();
    let image = build_image();
    let full = full_sweep();
    let watchdog = Watchdog::start();
    let started = Instant::now();
    let mut failures = Vec::new();
    let mut cases = 0;
    let mut lines = Vec::new();
    for (index, (name, bytes)) in image.files.iter().enumerate() {
        let mut tally = Tally::default();
        let swept = positions(index, name, bytes.len(), full);
        for &position in &swept {
            let damage = damage_at(position);
            watchdog.case(format!("{name} {damage:?}"));
            cases += 1;
            let panics_before = panics_so_far();
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| check_case(&image, index, damage)))
                .unwrap_or_else(|payload| Err(format!("panicked: {}", panic_message(&*payload))));
            let outcome = match outcome {
                Ok(_) if panics_so_far() != panics_before => Err("a database thread panicked".to_string()),
                other => other,
            };
            match outcome {
                Ok(Outcome::Intact) => tally.intact += 1,
                Ok(Outcome::Prefix) => tally.prefix += 1,
                Ok(Outcome::Corruption) => tally.corruption += 1,
                Err(e) => failures.push(format!("{name} ({} bytes) {damage:?}: {e}", bytes.len())),
            }
        }
        lines.push(format!(
            "  {name}: {} bytes, {} swept: {} intact, {} earlier state, {} corruption errors",
            bytes.len(),
            swept.len(),
            tally.intact,
            tally.prefix,
            tally.corruption
        ));
    }
    drop(watchdog);
    eprintln!(
        "corruption sweep ({kind}, {}): {cases} cases in {:.1} s\n{}",
        if full { "full" } else { "CI sample" },
        started.elapsed().as_secs_f64(),
        lines.join("\n")
    );
    assert!(failures.is_empty(), "{} of {cases} cases failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn every_flipped_byte_gives_the_right_data_or_a_corruption_error() {
    sweep("flipped bytes", Damage::Flip);
}

#[test]
fn every_truncation_gives_the_right_data_or_a_corruption_error() {
    sweep("truncations", Damage::Truncate);
}

/// The image has what the sweep promises to damage: CURRENT, a MANIFEST, a
/// WAL with writes not in any table, and tables on more than one level.
#[test]
fn the_swept_database_has_a_log_several_tables_and_a_manifest() {
    let image = build_image();
    let names: Vec<&str> = image.files.iter().map(|(n, _)| n.as_str()).collect();
    let kinds: Vec<Option<FileType>> = names.iter().map(|n| parse_file_name(n).map(|(_, t)| t)).collect();
    assert!(names.contains(&"CURRENT"), "{names:?}");
    assert_eq!(kinds.iter().filter(|k| **k == Some(FileType::Manifest)).count(), 1, "{names:?}");
    assert_eq!(kinds.iter().filter(|k| **k == Some(FileType::Log)).count(), 1, "{names:?}");
    assert!(kinds.iter().filter(|k| **k == Some(FileType::Table)).count() >= 3, "{names:?}");
    assert!(image.in_tables < image.history.attempted.len());
    let mem = MemFs::new();
    mem.create_dir_all(Path::new(DIR)).expect("mkdir");
    for (name, bytes) in &image.files {
        write_file(&mem, &Path::new(DIR).join(name), bytes, false).expect("copy");
    }
    let db = Db::open(DIR, options(Arc::new(mem))).expect("open the undamaged copy");
    let levels = &image.tables_per_level;
    assert!(levels[0] > 0 && levels[1..].iter().any(|&n| n > 0), "tables per level: {levels:?}");
    let log_len = image.files.iter().find(|(n, _)| is_log(n)).map_or(0, |(_, b)| b.len());
    assert!(log_len > 2 * 32 * 1024, "the WAL spans {log_len} bytes, less than three blocks");
    let state =
        read_everything(&db, &ReadOptions::new(), &image.probe_keys).expect("consistent").expect("read");
    let mut expected = Model::new();
    for write in &image.history.attempted {
        apply(&mut expected, write);
    }
    assert_eq!(state, expected);
}
