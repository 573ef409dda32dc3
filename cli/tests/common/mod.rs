//! Helpers shared by the CLI's integration tests: running the built
//! `lsmkit` binary, running the plyvel (real LevelDB 1.23) helper script,
//! and reading `--hex scan` output.

#![allow(dead_code)] // Each test binary uses a different subset.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

/// The helper script that drives the real LevelDB through python3-plyvel.
pub const LEVELDB_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../interop/cli_leveldb.py");

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    /// The exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error, as text.
    pub stderr: String,
}

impl Run {
    /// Standard output as text (for output that is text).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Asserts success and returns standard output as text.
    pub fn ok(&self) -> String {
        assert_eq!(self.code, 0, "expected success: {self:?}\nstdout:\n{}", self.text());
        assert!(self.stderr.is_empty(), "stderr on success: {}", self.stderr);
        self.text()
    }

    /// Asserts a clean failure with `code`: the error is `lsmkit: ...` on
    /// stderr, no panic and no backtrace. Returns the error message.
    pub fn fails(&self, code: i32) -> String {
        assert_eq!(self.code, code, "unexpected exit code: {self:?}\nstdout:\n{}", self.text());
        assert!(self.stderr.starts_with("lsmkit: "), "stderr: {:?}", self.stderr);
        for bad in ["panicked", "backtrace", "RUST_BACKTRACE", "internal error"] {
            assert!(!self.stderr.contains(bad), "stderr: {}", self.stderr);
        }
        self.stderr.clone()
    }
}

/// Runs the `lsmkit` binary with `args`.
pub fn lsmkit<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let output = Command::new(env!("CARGO_BIN_EXE_lsmkit"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("the lsmkit binary runs");
    Run {
        code: output.status.code().expect("exited, not killed by a signal"),
        stdout: output.stdout,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// `--db=DIR`.
pub fn db_arg(dir: &Path) -> String {
    format!("--db={}", dir.display())
}

/// Runs `cli_leveldb.py COMMAND DIR` with `/usr/bin/python3` and returns its
/// stdout. Fails (does not skip) when python3-plyvel is missing.
pub fn leveldb(command: &str, dir: &Path) -> String {
    let output = Command::new("/usr/bin/python3")
        .arg(LEVELDB_SCRIPT)
        .arg(command)
        .arg(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run /usr/bin/python3: {e}"));
    assert!(
        output.status.success(),
        "cli_leveldb.py {command} failed (is python3-plyvel installed?):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("the script prints text")
}

/// Upper-case `0x…` hex, as `ldb` and the CLI print it.
pub fn hex(bytes: &[u8]) -> String {
    let digits: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
    format!("0x{digits}")
}

/// The entries of `--hex scan` output (`0xKEY : 0xVALUE` lines).
pub fn parse_hex_scan(text: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    let unhex = |s: &str| -> Vec<u8> {
        let digits = s.strip_prefix("0x").unwrap_or_else(|| panic!("not hex: {s:?}"));
        (0..digits.len()).step_by(2).map(|i| u8::from_str_radix(&digits[i..i + 2], 16).unwrap()).collect()
    };
    text.lines()
        .map(|line| {
            let (key, value) = line.split_once(" : ").unwrap_or_else(|| panic!("bad scan line {line:?}"));
            (unhex(key), unhex(value))
        })
        .collect()
}

/// `--hex scan` output for `entries`.
pub fn hex_scan_text(entries: &[(Vec<u8>, Vec<u8>)]) -> String {
    entries.iter().map(|(k, v)| format!("{} : {}\n", hex(k), hex(v))).collect()
}

/// The names of the files in `dir` that end with `suffix`, sorted.
pub fn files_ending(dir: &Path, suffix: &str) -> Vec<std::path::PathBuf> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.to_string_lossy().ends_with(suffix))
        .collect();
    names.sort();
    names
}
