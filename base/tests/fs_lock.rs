//! `StdFs::lock_file` takes the same `fcntl` lock as LevelDB's env_posix, so
//! another process (here a Python child using `fcntl.lockf`, which issues
//! `fcntl(F_SETLK, F_WRLCK)` just like LevelDB) is kept out, and so is a
//! second lock from this process.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use lsmkit_base::fs::{FileSystem, StdFs};
use lsmkit_base::Error;

const PYTHON: &str = "/usr/bin/python3";

/// Asks a child process to take the lock without waiting; true if it could.
fn child_can_lock(path: &Path) -> bool {
    let script = "import fcntl, sys\n\
                  f = open(sys.argv[1], 'r+')\n\
                  try:\n    fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\n    print('acquired')\n\
                  except OSError:\n    print('busy')\n";
    let out = Command::new(PYTHON).arg("-c").arg(script).arg(path).output().expect("run /usr/bin/python3");
    assert!(out.status.success(), "python failed: {}", String::from_utf8_lossy(&out.stderr));
    match String::from_utf8_lossy(&out.stdout).trim() {
        "acquired" => true,
        "busy" => false,
        other => panic!("unexpected child output {other:?}"),
    }
}

#[test]
fn lock_excludes_other_processes_and_this_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("LOCK");
    let fs = StdFs::new();
    let lock = fs.lock_file(&path).unwrap();
    assert!(!child_can_lock(&path), "a child process must not get the lock");

    // A second attempt in this process is refused, and refusing it must not
    // drop the fcntl lock (closing any descriptor of the file would).
    assert!(matches!(fs.lock_file(&path), Err(Error::Busy(_))));
    assert!(!child_can_lock(&path), "the failed second attempt released the lock");

    drop(lock);
    assert!(child_can_lock(&path), "dropping the lock must release it");
}

#[test]
fn lock_held_by_another_process_gives_busy() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("LOCK");
    std::fs::write(&path, b"").unwrap();
    // The child takes the lock, says so, and holds it until its stdin closes.
    let script = "import fcntl, sys\n\
                  f = open(sys.argv[1], 'r+')\n\
                  fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\n\
                  print('locked', flush=True)\n\
                  sys.stdin.read()\n";
    let mut child = Command::new(PYTHON)
        .arg("-c")
        .arg(script)
        .arg(&path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run /usr/bin/python3");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "locked");

    let fs = StdFs::new();
    match fs.lock_file(&path) {
        Err(Error::Busy(message)) => assert!(message.contains(&*path.to_string_lossy()), "{message}"),
        other => panic!("expected Busy while the child holds the lock, got {other:?}"),
    }
    // The refused attempt must not leave the path marked as locked in-process.
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    drop(fs.lock_file(&path).unwrap());
}
