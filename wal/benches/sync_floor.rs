//! The cost of one synced 100-byte write on this machine's disk, and what
//! `WalWriter` pays for one (not a criterion benchmark: each case is a few
//! thousand `fdatasync` calls, timed as a whole).
//!
//! Raw cases (`pwrite` + `fdatasync`, no log format):
//! - `grow`: appends to a file that grows with every write (each sync also
//!   commits the new size);
//! - `zeros-written`: overwrites a file first filled with written zeros
//!   (one 4 KiB page per write) and synced (the floor: a data write only);
//! - `zeros-in-1MiB-writes`: the same zeros written in one call, which on
//!   Linux 6.x ext4 makes large page-cache folios: each sync then writes a
//!   whole folio back (see the disk bytes column);
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
//! Besides microseconds per write, each case reports the bytes the process
//! caused to be written to storage per write (`write_bytes` of
//! `/proc/self/io`): 4 KiB, one page, is the least a synced append costs.
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
use lsmkit_wal::{SyncPolicy, SyncPreallocation, WalOptions, WalWriter};

const RECORD: usize = 100;

fn create(path: &Path) -> File {
    OpenOptions::new().read(true).write(true).create(true).truncate(true).open(path).expect("create")
}

fn fallocate(file: &File, mode: libc::c_int, len: u64) {
    // SAFETY: a plain system call on a descriptor `file` keeps open.
    let rc = unsafe { libc::fallocate(file.as_raw_fd(), mode, 0, len as libc::off_t) };
    assert_eq!(rc, 0, "fallocate: {}", std::io::Error::last_os_error());
}

/// Bytes this process caused to be written to storage so far.
fn write_bytes() -> u64 {
    let io = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
    io.lines().find_map(|l| l.strip_prefix("write_bytes:")).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

/// What one case measured: microseconds and storage bytes per write.
#[derive(Clone, Copy)]
struct Sample {
    micros: f64,
    disk_bytes: f64,
}

/// Times `writes` calls of `write(i)`.
fn timed(writes: usize, mut write: impl FnMut(usize)) -> Sample {
    let bytes_before = write_bytes();
    let started = Instant::now();
    for i in 0..writes {
        write(i);
    }
    let micros = started.elapsed().as_secs_f64() * 1e6 / writes as f64;
    let disk_bytes = write_bytes().saturating_sub(bytes_before) as f64 / writes as f64;
    Sample { micros, disk_bytes }
}

/// `pwrite` + `fdatasync` of `RECORD` bytes at increasing offsets, after
/// `prepare` set the file up for `writes` records.
fn raw_case(path: &Path, writes: usize, prepare: impl FnOnce(&File, u64)) -> Sample {
    let file = create(path);
    prepare(&file, (writes * RECORD) as u64 + 4096);
    file.sync_all().expect("sync");
    let record = [0x5au8; RECORD];
    let sample = timed(writes, |i| {
        file.write_all_at(&record, (i * RECORD) as u64).expect("write");
        file.sync_data().expect("fdatasync");
    });
    drop(file);
    std::fs::remove_file(path).expect("remove");
    sample
}

/// Fills `[0, len)` with zeros, `piece` bytes per write.
fn write_zeros(file: &File, len: u64, piece: usize) {
    let zeros = vec![0u8; piece];
    let mut at = 0;
    while at < len {
        let n = (len - at).min(piece as u64) as usize;
        file.write_all_at(&zeros[..n], at).expect("zeros");
        at += n as u64;
    }
}

/// `WalWriter::add_record` of `RECORD` bytes under `SyncPolicy::EveryWrite`
/// with sync preallocation `preallocation`.
fn wal_case(path: &Path, writes: usize, preallocation: SyncPreallocation) -> Sample {
    let options = WalOptions { sync_policy: SyncPolicy::EveryWrite, ..WalOptions::default() };
    let mut wal = WalWriter::create(&StdFs::new(), path, options).expect("create log");
    wal.set_sync_preallocation(preallocation);
    let record = [0x5au8; RECORD];
    let sample = timed(writes, |_| wal.add_record(&record).expect("add_record"));
    wal.close().expect("close");
    std::fs::remove_file(path).expect("remove");
    sample
}

fn main() {
    // `cargo bench` passes `--bench`; the rest are ours.
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let writes: usize = args.first().map_or(2000, |a| a.parse().expect("WRITES is a number"));
    let parent = args.get(1).map_or_else(std::env::temp_dir, PathBuf::from);
    let dir = tempfile::tempdir_in(&parent).expect("tempdir");
    let path = dir.path().join("floor.log");

    type Case<'a> = (&'a str, Box<dyn Fn() -> Sample + 'a>);
    let cases: Vec<Case> = vec![
        ("grow", Box::new(|| raw_case(&path, writes, |_, _| {}))),
        ("zeros-written", Box::new(|| raw_case(&path, writes, |f, len| write_zeros(f, len, 4096)))),
        ("zeros-in-1MiB-writes", Box::new(|| raw_case(&path, writes, |f, len| write_zeros(f, len, 1 << 20)))),
        ("fallocate", Box::new(|| raw_case(&path, writes, |f, len| fallocate(f, 0, len)))),
        (
            "fallocate-keep-size",
            Box::new(|| raw_case(&path, writes, |f, len| fallocate(f, libc::FALLOC_FL_KEEP_SIZE, len))),
        ),
        ("sparse", Box::new(|| raw_case(&path, writes, |f, len| f.set_len(len).expect("ftruncate")))),
        ("wal prealloc off", Box::new(|| wal_case(&path, writes, SyncPreallocation::Off))),
        ("wal prealloc page tail", Box::new(|| wal_case(&path, writes, SyncPreallocation::PageTail))),
        ("wal prealloc 64KiB", Box::new(|| wal_case(&path, writes, SyncPreallocation::Chunk(64 << 10)))),
        ("wal prealloc 256KiB", Box::new(|| wal_case(&path, writes, SyncPreallocation::Chunk(256 << 10)))),
        ("wal prealloc 1MiB", Box::new(|| wal_case(&path, writes, SyncPreallocation::Chunk(1 << 20)))),
        ("wal prealloc 4MiB", Box::new(|| wal_case(&path, writes, SyncPreallocation::Chunk(4 << 20)))),
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
    println!("{:<22} {:>10} {:>10} {:>14}   rounds (us)", "case", "median us", "min us", "disk B/write");
    for ((name, _), samples) in cases.iter().zip(results) {
        let rounds = samples.iter().map(|s| format!("{:.1}", s.micros)).collect::<Vec<_>>().join(" ");
        let mut times: Vec<f64> = samples.iter().map(|s| s.micros).collect();
        times.sort_by(f64::total_cmp);
        let mut disk: Vec<f64> = samples.iter().map(|s| s.disk_bytes).collect();
        disk.sort_by(f64::total_cmp);
        println!(
            "{name:<22} {:>10.1} {:>10.1} {:>14.0}   {rounds}",
            times[ROUNDS / 2],
            times[0],
            disk[ROUNDS / 2]
        );
    }
}
