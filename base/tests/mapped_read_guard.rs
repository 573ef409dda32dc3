//! The `SIGBUS` guard of memory-mapped reads (base/src/fs/mapped_read_guard.rs)
//! on real files: a mapped file truncated behind its reader gives errors, not
//! a crash, and keeps giving them; a fault outside every registered mapping
//! still reaches the handler that was there before, or kills the process as
//! it did without the guard (checked in child processes: the test binary
//! runs itself again with `GUARD_CHILD` set); a full registry makes new
//! files positional.
//!
//! The tests that count registered mappings hold [`SERIAL`]: the registry is
//! process-wide and the harness runs tests on several threads.

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

use std::fs::{File, OpenOptions};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use lsmkit_base::fs::{
    guarded_mappings, write_file, FileSystem, RandomAccessFile, ReadMode, StdFs, MAX_GUARDED_MAPPINGS,
};
use lsmkit_base::Error;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 253) as u8 + 1).collect()
}

fn truncate(path: &Path, len: u64) {
    OpenOptions::new().write(true).open(path).unwrap().set_len(len).unwrap();
}

fn mapped(path: &Path) -> Arc<dyn RandomAccessFile> {
    StdFs::new().open_random_access(path, ReadMode::Mmap).unwrap()
}

/// The message of an `Error::Io` for `path`, or a panic.
fn io_message(err: Error, path: &Path) -> String {
    match err {
        Error::Io { op, path: p, source } => {
            assert_eq!((op, p.as_path()), ("read", path));
            source.to_string()
        }
        other => panic!("expected an I/O error, got {other:?}"),
    }
}

#[test]
fn a_truncated_mapped_file_gives_errors_not_a_crash() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("000005.ldb");
    let data = pattern(64 << 10);
    write_file(&StdFs::new(), &path, &data, true).unwrap();
    let before = guarded_mappings();
    let file = mapped(&path);
    assert_eq!(guarded_mappings(), before + 1, "the mapping is registered");
    assert_eq!(&file.read_at(40_000, 100).unwrap()[..], &data[40_000..40_100]);

    // Cut the file to two pages behind the mapping's back: the pages past
    // the new end can no longer be read.
    truncate(&path, 8192);
    let err = file.read_at(40_000, 100).unwrap_err();
    let message = io_message(err, &path);
    assert!(message.contains("offset 40000"), "{message}");
    assert!(message.contains("SIGBUS"), "{message}");

    // Every later read fails too, even of a page that is still in the file,
    // and the in-place reader gets the error whatever its consumer said.
    assert!(file.read_at(0, 10).is_err(), "a failed mapping stays failed");
    let mut consumed = 0;
    let err = file
        .read_with(50_000, 4096, &mut |view| {
            consumed = view.as_slice().len();
            Ok(())
        })
        .unwrap_err();
    io_message(err, &path);
    assert_eq!(consumed, 4096, "the consumer ran (on zeros) before the check");

    // The process goes on: the file opened again reads what is left of it.
    let again = mapped(&path);
    assert_eq!(again.len(), 8192);
    assert_eq!(&again.read_at(8000, 1000).unwrap()[..], &data[8000..8192]);
    drop(file);
    drop(again);
    assert_eq!(guarded_mappings(), before, "dropping a file frees its slot");
}

#[test]
fn a_block_decoded_in_place_fails_when_its_page_fails() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    let data = pattern(32 << 10);
    write_file(&StdFs::new(), &path, &data, true).unwrap();
    let file = mapped(&path);
    truncate(&path, 0);
    // The consumer sees a full-length view (zeros) and accepts it; the read
    // still fails.
    let mut zeros = false;
    let err = file
        .read_with(4096, 8192, &mut |view| {
            zeros = view.as_slice().iter().all(|&b| b == 0);
            Ok(())
        })
        .unwrap_err();
    io_message(err, &path);
    assert!(zeros, "a failed page reads as zeros inside the call");
}

#[test]
fn a_full_registry_makes_new_files_positional() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let fs = StdFs::new();
    let mut held = Vec::new();
    let mut i = 0;
    while guarded_mappings() < MAX_GUARDED_MAPPINGS {
        let path = dir.path().join(format!("held{i}"));
        write_file(&fs, &path, b"x", false).unwrap();
        held.push(mapped(&path));
        i += 1;
    }
    assert_eq!(guarded_mappings(), MAX_GUARDED_MAPPINGS);

    // A file opened now is read with pread: after a truncation it reads
    // short (the end of the file) instead of failing.
    let path = dir.path().join("extra");
    let data = pattern(16 << 10);
    write_file(&fs, &path, &data, false).unwrap();
    let extra = mapped(&path);
    assert_eq!(guarded_mappings(), MAX_GUARDED_MAPPINGS);
    assert!(!extra.reads_in_place(), "the file beyond the limit is read with pread");
    assert_eq!(&extra.read_at(100, 10).unwrap()[..], &data[100..110]);
    truncate(&path, 4096);
    assert!(extra.read_at(8192, 100).unwrap().is_empty(), "a positional read stops at the end");
    drop(extra);

    // One slot freed: the next file is mapped (and guarded) again.
    held.pop();
    write_file(&fs, &path, &data, false).unwrap();
    let extra = mapped(&path);
    assert_eq!(guarded_mappings(), MAX_GUARDED_MAPPINGS);
    assert!(extra.reads_in_place());
    truncate(&path, 4096);
    io_message(extra.read_at(8192, 100).unwrap_err(), &path);
    drop(extra);
    drop(held);
}

/// What a child run does, from `GUARD_CHILD`: `None` in the parent.
fn child_mode() -> Option<String> {
    std::env::var("GUARD_CHILD").ok()
}

/// Runs this test binary's test `name` alone with `GUARD_CHILD=mode` and
/// returns how it ended.
fn run_child(name: &str, mode: &str) -> std::process::Output {
    let exe = std::env::current_exe().unwrap();
    Command::new(exe)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env("GUARD_CHILD", mode)
        .output()
        .unwrap()
}

/// Exit code of the SA_SIGINFO handler a child installs before the guard.
const PREVIOUS_HANDLER_EXIT: i32 = 42;

extern "C" fn previous_handler(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: _exit is async-signal-safe and ends the process.
    unsafe { libc::_exit(PREVIOUS_HANDLER_EXIT) }
}

/// Sets `SIGBUS`'s action in a child before the guard installs its own.
fn set_sigbus_action(handler: libc::sighandler_t, flags: libc::c_int) {
    // SAFETY: sigaction is plain old data; all-zero is a valid value.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = handler;
    action.sa_flags = flags;
    // SAFETY: `action` is fully initialised; a handler given with
    // SA_SIGINFO has the three-argument signature.
    let rc = unsafe {
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut())
    };
    assert_eq!(rc, 0);
}

/// The child's part: install the `mode`'s previous action, register a
/// guarded mapping and fail it (the guard answers), then fault on a
/// mapping the guard does not know. Returns only if that fault was
/// survived, which no mode should allow.
fn fault_outside_the_guard(mode: &str) {
    // No core file for the deaths this child is meant to die.
    let no_core = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `no_core` is a valid rlimit for the call to read.
    unsafe { libc::setrlimit(libc::RLIMIT_CORE, &no_core) };
    let dir = tempfile::tempdir().unwrap();
    match mode {
        "rust-runtime" => {} // The handler Rust's runtime installed at start.
        "default" => set_sigbus_action(libc::SIG_DFL, 0),
        "ignore" => set_sigbus_action(libc::SIG_IGN, 0),
        "handler" => {
            let handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                previous_handler;
            set_sigbus_action(handler as *const () as usize, libc::SA_SIGINFO)
        }
        other => panic!("unknown child mode {other}"),
    }
    // The guard installs itself with the first mapping, and handles a
    // fault inside it without calling the previous action.
    let guarded = dir.path().join("guarded");
    write_file(&StdFs::new(), &guarded, &pattern(16 << 10), false).unwrap();
    let file = mapped(&guarded);
    truncate(&guarded, 0);
    io_message(file.read_at(8192, 10).unwrap_err(), &guarded);
    eprintln!("child: guarded fault became an error");

    // A mapping made without the guard (memmap2 directly).
    let path = dir.path().join("unguarded");
    std::fs::write(&path, pattern(16 << 10)).unwrap();
    let handle = File::open(&path).unwrap();
    // SAFETY: this test truncates the file below on purpose; the read of
    // the mapping after that is the fault under test.
    let map = unsafe { memmap2::Mmap::map(&handle) }.unwrap();
    truncate(&path, 0);
    // SAFETY: `map` is a live mapping at least 8193 bytes long; the read
    // is expected to raise SIGBUS.
    let byte = unsafe { std::ptr::read_volatile(map.as_ptr().add(8192)) };
    eprintln!("child: survived an unguarded fault (read {byte})");
}

#[test]
fn a_fault_outside_guarded_mappings_goes_where_it_went_before() {
    const NAME: &str = "a_fault_outside_guarded_mappings_goes_where_it_went_before";
    if let Some(mode) = child_mode() {
        fault_outside_the_guard(&mode);
        return;
    }
    use std::os::unix::process::ExitStatusExt;
    for (mode, want_signal, want_code) in [
        ("rust-runtime", Some(libc::SIGBUS), None),
        ("default", Some(libc::SIGBUS), None),
        ("ignore", Some(libc::SIGBUS), None),
        ("handler", None, Some(PREVIOUS_HANDLER_EXIT)),
    ] {
        let out = run_child(NAME, mode);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("child: guarded fault became an error"), "{mode}: {stderr}");
        assert!(!stderr.contains("survived"), "{mode}: {stderr}");
        assert_eq!(out.status.signal(), want_signal, "{mode}: {:?} {stderr}", out.status);
        assert_eq!(out.status.code(), want_code, "{mode}: {:?} {stderr}", out.status);
    }
}
