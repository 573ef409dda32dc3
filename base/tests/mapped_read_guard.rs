//! The `SIGBUS` guard of memory-mapped files (base/src/fs/mapped_read_guard.rs)
//! on real files: a mapped file truncated behind its reader gives errors, not
//! a crash, and keeps giving them; so does a file written through a mapping
//! (`WriteMode::Mmap`) truncated behind its writer; a fault outside every
//! registered mapping still reaches the handler that was there before, or
//! kills the process as it did without the guard (checked in child
//! processes: the test binary runs itself again with `GUARD_CHILD` set); a
//! full registry makes new files positional, for reading and for writing.
//!
//! The tests that count registered mappings hold [`SERIAL`]: the registry is
//! process-wide and the harness runs tests on several threads.

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

use std::fs::{File, OpenOptions};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use lsmkit_base::fs::{
    guarded_mappings, read_file_to_vec, write_file, FileSystem, RandomAccessFile, ReadMode, StdFs,
    WritableFile, WriteMode, MAX_GUARDED_MAPPINGS,
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

/// Maps one-byte files made in `dir` until the guard's registry is full;
/// the registry has a free slot again once one of them is dropped.
fn fill_registry(dir: &Path) -> Vec<Arc<dyn RandomAccessFile>> {
    let fs = StdFs::new();
    let mut held = Vec::new();
    while guarded_mappings() < MAX_GUARDED_MAPPINGS {
        let path = dir.join(format!("held{}", held.len()));
        write_file(&fs, &path, b"x", false).unwrap();
        held.push(mapped(&path));
    }
    held
}

/// A file created at `path` for writing through a mapping grown
/// `chunk_size` bytes at a time.
fn mapped_writer(path: &Path, chunk_size: usize) -> Box<dyn WritableFile> {
    StdFs::new().create_writable(path, WriteMode::Mmap { chunk_size }).unwrap()
}

/// The message of an `Error::Io` of operation `op` on `path`, or a panic.
fn io_message_of(err: Error, op: &str, path: &Path) -> String {
    match err {
        Error::Io { op: o, path: p, source } => {
            assert_eq!((o, p.as_path()), (op, path));
            source.to_string()
        }
        other => panic!("expected an I/O error, got {other:?}"),
    }
}

/// The message of a read's `Error::Io` for `path`, or a panic.
fn io_message(err: Error, path: &Path) -> String {
    io_message_of(err, "read", path)
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
    let mut held = fill_registry(dir.path());
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

#[test]
fn a_log_truncated_behind_its_mapped_writer_gives_errors_not_a_crash() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("000007.log");
    let before = guarded_mappings();
    let mut log = mapped_writer(&path, 64 << 10);
    let first = pattern(5000);
    log.append(&first).unwrap();
    assert_eq!(guarded_mappings(), before + 1, "the chunk's mapping is registered");
    log.sync().unwrap();
    assert_eq!(&read_file_to_vec(&StdFs::new(), &path).unwrap()[..5000], &first[..]);

    // Cut the file behind the writer: the next store, into the second page
    // of the mapping, has no page to land in.
    truncate(&path, 0);
    let err = log.append(&pattern(300)).unwrap_err();
    let message = io_message_of(err, "write", &path);
    assert!(message.contains("write at offset 5000"), "{message}");
    assert!(message.contains("offset 5000 could not be written"), "{message}");
    assert!(message.contains("SIGBUS"), "{message}");
    assert_eq!(log.len(), 5000, "the failed append is not counted");

    // The file stays failed: every later call says so, even an append that
    // would land in a page the file has again.
    truncate(&path, 64 << 10);
    let message = io_message_of(log.append(b"more").unwrap_err(), "write", &path);
    assert!(message.contains("offset 5000"), "{message}");
    io_message_of(log.flush().unwrap_err(), "flush", &path);
    io_message_of(log.sync().unwrap_err(), "sync", &path);
    io_message_of(log.close().unwrap_err(), "close", &path);
    assert_eq!(guarded_mappings(), before, "closing frees the chunk's slot");
    drop(log);
    // Closing a failed file leaves its length alone.
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 64 << 10);

    // The process goes on: a new mapped log works from end to end.
    let other = dir.path().join("000008.log");
    let mut log = mapped_writer(&other, 4096);
    let data = pattern(10_000);
    log.append(&data).unwrap();
    log.close().unwrap();
    assert_eq!(read_file_to_vec(&StdFs::new(), &other).unwrap(), data);
}

#[test]
fn a_store_failing_in_a_later_chunk_names_its_file_offset() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("000009.log");
    let mut log = mapped_writer(&path, 8192);
    // Two chunks and a bit: the third chunk is the mapped one.
    let data = pattern(2 * 8192 + 100);
    log.append(&data).unwrap();
    // Keep the first chunk and a page of the third; the append below
    // starts in that page (which stays) and runs into the next (gone).
    truncate(&path, 2 * 8192 + 4096);
    let err = log.append(&pattern(6000)).unwrap_err();
    let message = io_message_of(err, "write", &path);
    assert!(message.contains(&format!("write at offset {}", data.len())), "{message}");
    assert!(message.contains(&format!("offset {} could not be written", 2 * 8192 + 4096)), "{message}");
    assert!(log.append(b"x").is_err());
}

#[test]
fn a_full_registry_makes_new_log_chunks_positional() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let fs = StdFs::new();
    let mut held = fill_registry(dir.path());

    // Chunks made now are written with pwrite, in the same layout: whole
    // chunks with a zero tail until close cuts it off.
    let path = dir.path().join("positional.log");
    let mut log = mapped_writer(&path, 4096);
    let data = pattern(10_000);
    for piece in data.chunks(777) {
        log.append(piece).unwrap();
    }
    assert_eq!(guarded_mappings(), MAX_GUARDED_MAPPINGS, "no chunk was registered");
    assert_eq!(log.len(), 10_000);
    log.sync().unwrap();
    let on_disk = read_file_to_vec(&fs, &path).unwrap();
    assert_eq!(on_disk.len(), 3 * 4096);
    assert_eq!(&on_disk[..10_000], &data[..]);
    assert!(on_disk[10_000..].iter().all(|&b| b == 0), "the tail reads as zeros");
    log.append(b"end").unwrap();
    log.sync().unwrap();
    log.close().unwrap();
    let mut expected = data.clone();
    expected.extend_from_slice(b"end");
    assert_eq!(read_file_to_vec(&fs, &path).unwrap(), expected);

    // Not mapped, so a truncation behind the writer cannot fault: the
    // write simply lands at its offset.
    let cut = dir.path().join("cut.log");
    let mut log = mapped_writer(&cut, 4096);
    log.append(&data[..100]).unwrap();
    truncate(&cut, 0);
    log.append(&data[100..200]).unwrap();
    log.close().unwrap();
    let on_disk = read_file_to_vec(&fs, &cut).unwrap();
    assert_eq!(&on_disk[100..], &data[100..200]);

    // One slot freed: the next chunk is mapped (and guarded) again.
    held.pop();
    let again = dir.path().join("mapped.log");
    let mut log = mapped_writer(&again, 4096);
    log.append(&data[..100]).unwrap();
    assert_eq!(guarded_mappings(), MAX_GUARDED_MAPPINGS);
    truncate(&again, 0);
    io_message_of(log.append(&data[100..200]).unwrap_err(), "write", &again);
    drop(log);
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
    // And a store into a guarded writable mapping.
    let log = dir.path().join("guarded.log");
    let mut writer = mapped_writer(&log, 16 << 10);
    writer.append(b"first").unwrap();
    truncate(&log, 0);
    io_message_of(writer.append(b"second").unwrap_err(), "write", &log);
    eprintln!("child: guarded store became an error");

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
        assert!(stderr.contains("child: guarded store became an error"), "{mode}: {stderr}");
        assert!(!stderr.contains("survived"), "{mode}: {stderr}");
        assert_eq!(out.status.signal(), want_signal, "{mode}: {:?} {stderr}", out.status);
        assert_eq!(out.status.code(), want_code, "{mode}: {:?} {stderr}", out.status);
    }
}
