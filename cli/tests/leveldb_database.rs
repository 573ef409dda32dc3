//! The `lsmkit` binary against a database written by the real LevelDB 1.23
//! (Debian's python3-plyvel through `/usr/bin/python3`; these tests fail if
//! it is missing): read-only inspection leaves the directory untouched,
//! reads agree with LevelDB, and LevelDB reads what the CLI writes.

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{db_arg, files_ending, hex, hex_scan_text, leveldb, lsmkit, parse_hex_scan};

/// `cli_leveldb.py`'s keys: `\0k` + a big-endian u32.
fn key(i: u32) -> Vec<u8> {
    let mut key = b"\x00k".to_vec();
    key.extend_from_slice(&i.to_be_bytes());
    key
}

/// Every file of `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            (entry.file_name().to_string_lossy().into_owned(), std::fs::read(entry.path()).unwrap())
        })
        .collect()
}

/// Makes the LevelDB database; returns the sequence of its first logged write.
fn make_leveldb(dir: &Path) -> u64 {
    leveldb("make", dir).trim().parse().expect("the script prints a sequence number")
}

#[test]
fn inspection_commands_read_leveldb_files_without_changing_them() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let first_logged = make_leveldb(&dir);
    let before = snapshot(&dir);
    let db = db_arg(&dir);

    // verify: every live file is checked and passes.
    let report = lsmkit([&db, "verify"]).ok();
    assert!(report.ends_with(": 0 problems\n"), "{report}");
    let tables = files_ending(&dir, ".ldb");
    assert!(tables.len() >= 2, "{tables:?}");
    for table in &tables {
        assert!(report.contains(&format!("ok: {} (level ", table.display())), "{table:?} in {report}");
    }
    let logs = files_ending(&dir, ".log");
    assert_eq!(logs.len(), 1);
    assert!(report.contains(&format!("ok: {} (3 records, 4 operations)", logs[0].display())), "{report}");
    let entries: u64 = report
        .lines()
        .last()
        .and_then(|line| line.split_once(" tables ("))
        .and_then(|(_, rest)| rest.split_once(' '))
        .and_then(|(n, _)| n.parse().ok())
        .expect("summary line with the entry count");

    // dump of every table: one line per entry, with internal-key parts.
    let mut dumped = 0;
    for table in &tables {
        let text = lsmkit([Path::new("dump"), table]).ok();
        assert!(text.starts_with(&format!("# {}: ", table.display())), "{text}");
        for line in text.lines().skip(1) {
            assert!(line.contains(" @ ") && line.contains(" => "), "{line}");
            assert!(line.contains(" : put => ") || line.contains(" : del => ''"), "{line}");
        }
        dumped += text.lines().count() as u64 - 1;
    }
    assert_eq!(dumped, entries);

    // dump of the WAL and of the MANIFEST.
    let f = first_logged;
    let log = lsmkit([Path::new("dump"), &logs[0]]).ok();
    assert_eq!(
        log,
        format!(
            "--- offset 0; sequence {f}; count 1\n  {f} put 'wal-1' => 'one'\n\
             --- offset 30; sequence {}; count 2\n  {} put 'wal-2' => '\\x00two'\n  {} del '\\x00k\\x00\\x00\\x00\\x05'\n\
             --- offset 69; sequence {}; count 1\n  {} put '\\x00k\\x00\\x00\\x00\\x01' => 'overwritten'\n",
            f + 1,
            f + 1,
            f + 2,
            f + 3,
            f + 3
        )
    );
    let manifests = files_ending(&dir, "");
    let manifest_file = manifests.iter().find(|p| p.to_string_lossy().contains("MANIFEST-")).unwrap();
    let text = lsmkit([Path::new("dump"), manifest_file]).ok();
    assert!(text.starts_with("--- offset 0\n  comparator 'leveldb.BytewiseComparator'\n"), "{text}");
    assert!(text.matches("  add file level ").count() >= tables.len(), "{text}");

    // manifest: the recovered version lists exactly the tables on disk.
    let text = lsmkit([&db, "manifest"]).ok();
    assert!(text.contains("comparator: 'leveldb.BytewiseComparator'\n"), "{text}");
    assert!(text.contains(&format!("last sequence: {}\n", f - 1)), "{text}");
    let log_number: u64 = logs[0].file_stem().unwrap().to_str().unwrap().parse().unwrap();
    assert!(text.contains(&format!("log number: {log_number}\n")), "{text}");
    assert!(text.contains(&format!("total: {} files, ", tables.len())), "{text}");
    let verbose = lsmkit([&db, "manifest", "--verbose", "--key_hex"]).ok();
    assert!(verbose.starts_with("--- edit at offset 0\n"), "{verbose}");
    assert!(verbose.contains(&format!("[{} @ ", hex(&key(0)))), "{verbose}");

    // wal --since: the updates from a sequence on, through the WAL iterator.
    let wal = lsmkit([&db, "wal", &format!("--since={}", f + 2)]).ok();
    assert_eq!(
        wal,
        format!(
            "{} del '\\x00k\\x00\\x00\\x00\\x05'\n{} put '\\x00k\\x00\\x00\\x00\\x01' => 'overwritten'\n",
            f + 2,
            f + 3
        )
    );
    let wal = lsmkit([&db, "--hex", "wal", &format!("--since={f}")]).ok();
    assert_eq!(wal.lines().next(), Some(format!("{f} put {} => {}", hex(b"wal-1"), hex(b"one")).as_str()));
    assert_eq!(wal.lines().count(), 4);
    let message = lsmkit([&db, "wal", &format!("--since={}", f - 1)]).fails(1);
    assert!(message.contains("no longer in the WAL"), "{message}");

    assert_eq!(snapshot(&dir), before, "read-only commands changed the directory");
}

#[test]
fn data_commands_agree_with_leveldb() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    make_leveldb(&dir);
    let expected = leveldb("dump", &dir);
    let db = db_arg(&dir);

    // A full scan prints exactly what LevelDB iterates.
    let scan = lsmkit([&db, "--hex", "scan"]).ok();
    assert_eq!(scan, expected);
    let model = parse_hex_scan(&expected);
    assert!(model.iter().any(|(k, _)| k.is_empty()), "the empty key is there");

    // Ranges: --from inclusive, --to exclusive, --prefix, --reverse, --limit.
    let (from, to) = (key(100), key(200));
    let in_range: Vec<_> = model.iter().filter(|(k, _)| *k >= from && *k < to).cloned().collect();
    assert_eq!(in_range.len(), 90, "keys 100..200 less every tenth");
    let text =
        lsmkit([&db, "--hex", "scan", &format!("--from={}", hex(&from)), &format!("--to={}", hex(&to))]).ok();
    assert_eq!(text, hex_scan_text(&in_range));
    let mut reversed = in_range.clone();
    reversed.reverse();
    reversed.truncate(7);
    let args = [
        &db,
        "--hex",
        "scan",
        &format!("--from={}", hex(&from)),
        &format!("--to={}", hex(&to)),
        "--reverse",
        "--limit=7",
    ];
    assert_eq!(lsmkit(args).ok(), hex_scan_text(&reversed));
    assert_eq!(lsmkit([&db, "scan", "--prefix=prefix-"]).ok(), "prefix-1 : p1\nprefix-2 : p2\n");
    assert_eq!(lsmkit([&db, "scan", "--prefix=prefix-", "--reverse", "--limit=1"]).ok(), "prefix-2 : p2\n");
    assert_eq!(lsmkit([&db, "scan", "--prefix=prefix-", "--from=prefix-2"]).ok(), "prefix-2 : p2\n");
    let last: Vec<_> = model.iter().rev().take(3).cloned().collect();
    assert_eq!(lsmkit([&db, "--hex", "scan", "--reverse", "--limit=3"]).ok(), hex_scan_text(&last));

    // get: binary keys and values, raw and hex.
    let value_of_3 = [21u8, 22, 23, b'\n', b':', 0xff];
    let out = lsmkit([&db, "--key_hex", "get", &hex(&key(3))]);
    assert_eq!((out.code, &out.stdout[..]), (0, &[&value_of_3[..], b"\n"].concat()[..]));
    assert_eq!(lsmkit([&db, "--hex", "get", &hex(&key(3))]).ok(), format!("{}\n", hex(&value_of_3)));
    assert_eq!(lsmkit([&db, "--key_hex", "get", &hex(&key(1))]).ok(), "overwritten\n");
    for deleted in [key(5), key(10)] {
        let message = lsmkit([&db, "--key_hex", "get", &hex(&deleted)]).fails(1);
        assert_eq!(message, format!("lsmkit: NotFound: {}\n", hex(&deleted)));
    }

    // approxsize: the tables hold the keys; an empty range holds nothing.
    let size: u64 =
        lsmkit([&db, "--hex", "approxsize", "--from=0x00", "--to=0xFF"]).ok().trim().parse().unwrap();
    assert!(size > 10_000, "{size}");
    assert_eq!(lsmkit([&db, "--hex", "approxsize", "--from=0xFF", "--to=0xFF"]).ok(), "0\n");
    assert!(lsmkit([&db, "stats"]).ok().contains("Level  Files"));

    // Writes through the CLI, then LevelDB reads them.
    assert_eq!(lsmkit([&db, "put", "new-key", "new value"]).ok(), "OK\n");
    assert_eq!(lsmkit([&db, "--hex", "put", "0x00FF", "0x0000"]).ok(), "OK\n");
    assert_eq!(lsmkit([&db, "--key_hex", "delete", &hex(&key(3))]).ok(), "OK\n");
    assert_eq!(lsmkit([&db, "batchput", "b1", "v1", "prefix-2", "replaced"]).ok(), "OK\n");
    assert_eq!(lsmkit([&db, "compact", "--from=a", "--to=z"]).ok(), "OK\n");
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = model.into_iter().collect();
    model.insert(b"new-key".to_vec(), b"new value".to_vec());
    model.insert(vec![0x00, 0xff], vec![0, 0]);
    model.remove(&key(3));
    model.insert(b"b1".to_vec(), b"v1".to_vec());
    model.insert(b"prefix-2".to_vec(), b"replaced".to_vec());
    let model: Vec<_> = model.into_iter().collect();
    assert_eq!(leveldb("dump", &dir), hex_scan_text(&model), "LevelDB reads what the CLI wrote");
    assert_eq!(lsmkit([&db, "compact"]).ok(), "OK\n");
    assert_eq!(leveldb("dump", &dir), hex_scan_text(&model));
    assert!(lsmkit([&db, "verify"]).ok().ends_with(": 0 problems\n"));
}

#[test]
fn checkpoint_and_repair_keep_every_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    make_leveldb(&dir);
    let expected = leveldb("dump", &dir);
    let db = db_arg(&dir);

    // A checkpoint is a database LevelDB opens, with the same entries.
    let copy = tmp.path().join("copy");
    let text = lsmkit([Path::new(&db), Path::new("checkpoint"), &copy]).ok();
    assert!(text.starts_with("checkpoint of ") && text.contains(" at sequence "), "{text}");
    assert_eq!(leveldb("dump", &copy), expected);
    assert!(lsmkit([&db_arg(&copy), "verify"]).ok().ends_with(": 0 problems\n"));
    let message = lsmkit([Path::new(&db), Path::new("checkpoint"), &copy]).fails(1);
    assert!(message.contains("already exists"), "{message}");

    // Without its MANIFEST and CURRENT the database does not open; repair
    // rebuilds them from the tables and the log.
    for file in std::fs::read_dir(&dir).unwrap() {
        let path = file.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name == "CURRENT" || name.starts_with("MANIFEST-") {
            std::fs::remove_file(path).unwrap();
        }
    }
    assert!(lsmkit([&db, "scan"]).fails(1).contains("not a database"));
    let report = lsmkit([&db, "repair"]).ok();
    assert!(report.contains("logs converted to tables: #"), "{report}");
    assert!(report.contains("unreadable tables lost: none"), "{report}");
    assert_eq!(leveldb("dump", &dir), expected, "LevelDB opens the repaired database");
    assert_eq!(lsmkit([&db, "--hex", "scan"]).ok(), expected);
}

#[test]
fn a_database_leveldb_has_open_is_locked() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    make_leveldb(&dir);
    let mut holder = Command::new("/usr/bin/python3")
        .arg(common::LEVELDB_SCRIPT)
        .arg("hold")
        .arg(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run /usr/bin/python3");
    let mut line = String::new();
    BufReader::new(holder.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line, "locked\n", "cli_leveldb.py hold failed (is python3-plyvel installed?)");

    let db = db_arg(&dir);
    let message = lsmkit([&db, "get", "wal-1"]).fails(1);
    assert!(message.starts_with("lsmkit: database is locked"), "{message}");
    // Read-only commands do not need the lock.
    assert!(lsmkit([&db, "verify"]).ok().ends_with(": 0 problems\n"));

    drop(holder.stdin.take());
    assert!(holder.wait().unwrap().success());
    assert_eq!(lsmkit([&db, "get", "wal-1"]).ok(), "one\n");
}
