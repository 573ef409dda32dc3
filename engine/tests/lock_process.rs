//! A database open in this process is locked against other processes: a
//! second lsmkit process (this test binary, run again as a child) and the
//! real LevelDB 1.23 (through Debian's python3-plyvel) both fail to open it
//! while it is open, and both succeed once it is closed.

use std::path::Path;
use std::process::Command;

use lsmkit::{Db, Options};

/// Set in the child process to the directory it must try to open.
const CHILD_DIR_VAR: &str = "LSMKIT_LOCK_TEST_CHILD_DIR";
/// What the child prints, followed by `busy`, `opened` or `error`.
const CHILD_MARK: &str = "lock-child-result:";

fn options() -> Options {
    Options { create_if_missing: true, ..Options::default() }
}

/// Runs this test binary again, as a child that tries to open `dir`, and
/// returns what it reported.
fn open_in_child_process(dir: &Path) -> String {
    let exe = std::env::current_exe().expect("test binary path");
    let output = Command::new(exe)
        .args(["--exact", "second_process_cannot_open_a_locked_database", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR_VAR, dir)
        .output()
        .expect("run the child process");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "child failed: {}\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|line| line.split_once(CHILD_MARK).map(|(_, rest)| rest.trim().to_string()))
        .unwrap_or_else(|| panic!("the child reported nothing; stdout:\n{stdout}"));
    line
}

/// The child's side: try to open the directory and report how it went.
fn child(dir: &str) {
    let outcome = match Db::open(dir, options()) {
        Ok(_db) => "opened".to_string(),
        Err(lsmkit::Error::Busy(message)) => format!("busy {message}"),
        Err(e) => format!("error {e}"),
    };
    println!("{CHILD_MARK} {outcome}");
}

#[test]
fn second_process_cannot_open_a_locked_database() {
    if let Ok(dir) = std::env::var(CHILD_DIR_VAR) {
        child(&dir);
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), options()).expect("open");
    db.put(b"key", b"value").expect("put");
    let result = open_in_child_process(dir.path());
    assert!(result.starts_with("busy"), "a second process opened a locked database: {result}");
    drop(db);
    let result = open_in_child_process(dir.path());
    assert_eq!(result, "opened", "a second process cannot open a closed database");
}

/// Tries to open `dir` with LevelDB through plyvel; returns `opened` or the
/// error LevelDB gave.
fn open_with_leveldb(dir: &Path) -> String {
    const SCRIPT: &str = r#"
import sys
import plyvel
try:
    db = plyvel.DB(sys.argv[1])
except plyvel.IOError as e:
    print("io-error", e)
except plyvel.Error as e:
    print("other-error", e)
else:
    print("opened", db.get(b"key"))
    db.close()
"#;
    let output = Command::new("/usr/bin/python3")
        .args(["-c", SCRIPT])
        .arg(dir)
        .output()
        .expect("run /usr/bin/python3 (python3-plyvel is needed)");
    let stdout = String::from_utf8_lossy(&output.stdout).trim().to_string();
    assert!(
        output.status.success(),
        "python3 with plyvel failed (is python3-plyvel installed?): {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn leveldb_cannot_open_a_database_lsmkit_holds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), options()).expect("open");
    db.put(b"key", b"value").expect("put");
    let result = open_with_leveldb(dir.path());
    assert!(
        result.starts_with("io-error") && result.contains("lock"),
        "LevelDB opened a database lsmkit holds: {result}"
    );
    drop(db);
    let result = open_with_leveldb(dir.path());
    assert_eq!(result, "opened b'value'", "LevelDB cannot open the closed database");
}
