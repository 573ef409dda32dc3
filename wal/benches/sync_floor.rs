//! The cost of one synced 100-byte write on this machine's disk, and what
//! `WalWriter` pays for one (not a criterion benchmark: each case is a few
//! thousand `fdatasync` calls, timed as a whole).
//!
//! Raw cases (`pwrite` + `fdatasync`, no log format):
//! - `grow`: appends to a file that grows with every write (each sync also
//!   commits the new size);
//! - `zeros-written`: overwrites a file first filled with written zeros and
//!   synced (the floor: a data write only);
//! - `fallocate`: overwrites space reserved with `fallocate(0)` (size set,
//!   blocks allocated but unwritten: each sync converts an extent);
//! - `fallocate-keep-size`: appends into space reserved with
//!   `FALLOC_FL_KEEP_SIZE` (RocksDB's WAL preallocation; the size grows);
//! - `sparse`: overwrites a hole made by `ftruncate`.
//!
//! `WalWriter` cases: 100-byte records under `SyncPolicy::EveryWrite`,
//! buffered, with sync preallocation off and with several chunk sizes (the
//! chunk's own write is included in the average).
//!
//! Run with `cargo bench -p lsmkit-wal --bench sync_floor -- [WRITES] [DIR]`
//! (default 2000 writes per case, three rounds, in a temporary directory
//! under DIR or the system's). It is a bench target, so `cargo test` does
//! not run it.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use lsmkit_base::fs::StdFs;
use lsmkit_wal::{SyncPolicy, WalOptions, WalWriter};

const RECORD: usize = 100;

fn create(path: &Path) -> File {
    OpenOptions::new().read(true).write(true).create(true).truncate(true).open(path).expect("create")
}

fn fallocate(file: &File, mode: libc::c_int, len: u64) {
    // SAFETY: a plain system call on a descriptor `file` keeps open.
    let rc = unsafe { libc::fallocate(file.as_raw_fd(), mode, 0, len as libc::off_t) };
    assert_eq!(rc, 0, "fallocate: {}", std::io::Error::last_os_error());
}

/// Microseconds per `pwrite` + `fdatasync` of `RECORD` bytes at increasing
/// offsets, after `prepare` set the file up for `writes` records.
fn raw_case(path: &Path, writes: usize, prepare: impl FnOnce(&File, u64)) -> f64 {
    let file = create(path);
    prepare(&file, (writes * RECORD) as u64 + 4096);
    file.sync_all().expect("sync");
    let record = [0x5au8; RECORD];
    let started = Instant::now();
    for i in 0..writes {
        file.write_all_at(&record, (i * RECORD) as u64).expect("write");
        file.sync_data().expect("fdatasync");
    }
    let micros = started.elapsed().as_secs_f64() * 1e6 / writes as f64;
    drop(file);
    std::fs::remove_file(path).expect("remove");
    micros
}

/// Microseconds per `WalWriter::add_record` of `RECORD` bytes under
/// `SyncPolicy::EveryWrite` with sync preallocation `chunk` (0: off).
fn wal_case(path: &Path, writes: usize, chunk: u64) -> f64 {
    let options = WalOptions { sync_policy: SyncPolicy::EveryWrite, ..WalOptions::default() };
    let mut wal = WalWriter::create(&StdFs::new(), path, options).expect("create log");
    wal.set_sync_preallocation(chunk);
    let record = [0x5au8; RECORD];
    let started = Instant::now();
    for _ in 0..writes {
        wal.add_record(&record).expect("add_record");
    }
    let micros = started.elapsed().as_secs_f64() * 1e6 / writes as f64;
    wal.close().expect("close");
    std::fs::remove_file(path).expect("remove");
    micros
}

fn main() {
    // `cargo bench` passes `--bench`; the rest are ours.
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let writes: usize = args.first().map_or(2000, |a| a.parse().expect("WRITES is a number"));
    let parent = args.get(1).map_or_else(std::env::temp_dir, PathBuf::from);
    let dir = tempfile::tempdir_in(&parent).expect("tempdir");
    let path = dir.path().join("floor.log");

    type Case<'a> = (&'a str, Box<dyn Fn() -> f64 + 'a>);
    let cases: Vec<Case> = vec![
        ("grow", Box::new(|| raw_case(&path, writes, |_, _| {}))),
        (
            "zeros-written",
            Box::new(|| {
                raw_case(&path, writes, |f, len| f.write_all_at(&vec![0u8; len as usize], 0).expect("zeros"))
            }),
        ),
        ("fallocate", Box::new(|| raw_case(&path, writes, |f, len| fallocate(f, 0, len)))),
        (
            "fallocate-keep-size",
            Box::new(|| raw_case(&path, writes, |f, len| fallocate(f, libc::FALLOC_FL_KEEP_SIZE, len))),
        ),
        ("sparse", Box::new(|| raw_case(&path, writes, |f, len| f.set_len(len).expect("ftruncate")))),
        ("wal prealloc off", Box::new(|| wal_case(&path, writes, 0))),
        ("wal prealloc 64KiB", Box::new(|| wal_case(&path, writes, 64 << 10))),
        ("wal prealloc 256KiB", Box::new(|| wal_case(&path, writes, 256 << 10))),
        ("wal prealloc 1MiB", Box::new(|| wal_case(&path, writes, 1 << 20))),
        ("wal prealloc 4MiB", Box::new(|| wal_case(&path, writes, 4 << 20))),
    ];
    const ROUNDS: usize = 3;
    let mut results = vec![Vec::new(); cases.len()];
    // Rounds interleave the cases, so that noise from other processes
    // spreads over all of them.
    for _ in 0..ROUNDS {
        for (i, (_, run)) in cases.iter().enumerate() {
            results[i].push(run());
        }
    }
    println!("{writes} synced {RECORD}-byte writes per case, {ROUNDS} rounds, in {}", parent.display());
    println!("{:<22} {:>10} {:>10}   rounds", "case", "median us", "min us");
    for ((name, _), mut times) in cases.iter().zip(results) {
        let rounds = times.iter().map(|t| format!("{t:.1}")).collect::<Vec<_>>().join(" ");
        times.sort_by(f64::total_cmp);
        println!("{name:<22} {:>10.1} {:>10.1}   {rounds}", times[ROUNDS / 2], times[0]);
    }
}
