//! Interoperability with the real LevelDB 1.23 (Debian's python3-plyvel,
//! driven by interop/sstable_leveldb.py through /usr/bin/python3):
//!
//! - tables LevelDB wrote (thousands of keys, Snappy, bloom 10 bits, a small
//!   write buffer so many `.ldb` files exist) read back exactly here;
//! - with compression off, rebuilding each of LevelDB's tables from its
//!   entries gives the same bytes;
//! - LevelDB opens and reads tables written here with the
//!   `lsmkit.properties` block (after `RepairDB` builds a MANIFEST for them).
//!
//! These tests fail, never skip, when plyvel is missing.

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use lsmkit_base::comparator::BytewiseComparator;
use lsmkit_base::filename::{parse_file_name, table_file_name, FileType};
use lsmkit_base::fs::{read_file_to_vec, FileSystem, MemFs, StdFs};
use lsmkit_base::key::{
    make_internal_key, parse_internal_key, SequenceNumber, ValueKind, MAX_SEQUENCE_NUMBER,
};
use lsmkit_bloom::LevelDbBloom;
use lsmkit_sstable::{BlockHandle, Compression, ReadOptions, Table, TableOptions, SNAPPY_COMPRESSION};

use common::{build_table, scan_backward, scan_forward, table_bytes, Entry};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../interop/sstable_leveldb.py");

fn run_script(args: &[&str]) {
    let output =
        Command::new("/usr/bin/python3").arg(SCRIPT).args(args).output().expect("run /usr/bin/python3");
    assert!(
        output.status.success(),
        "{SCRIPT} {args:?} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn decode_hex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex")).collect()
}

fn read_dump(path: &Path) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let text = std::fs::read_to_string(path).expect("read dump");
    text.lines()
        .map(|line| {
            let (key, value) = line.split_once(' ').expect("two fields");
            (decode_hex(key), decode_hex(value))
        })
        .collect()
}

fn leveldb_options() -> TableOptions {
    TableOptions {
        paranoid_checks: true,
        ..TableOptions::for_internal_keys(BytewiseComparator::shared(), Some(Arc::new(LevelDbBloom::new(10))))
    }
}

fn table_files(dir: &Path) -> Vec<(u64, PathBuf)> {
    let mut tables: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .expect("list db")
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            match parse_file_name(&name) {
                Some((number, FileType::Table)) => Some((number, dir.join(name))),
                _ => None,
            }
        })
        .collect();
    tables.sort();
    tables
}

/// Everything in one table, checked for internal consistency on the way.
fn read_leveldb_table(path: &Path) -> (Arc<Table>, Vec<Entry>) {
    let table =
        Arc::new(Table::open_path(&StdFs::new(), path, leveldb_options()).expect("open LevelDB table"));
    assert!(table.has_filter(), "{}: LevelDB's bloom filter not found", path.display());
    assert!(table.properties().is_none());
    let read = ReadOptions { verify_checksums: true, ..ReadOptions::default() };
    let (forward, status) = scan_forward(&mut table.iter(read), usize::MAX);
    status.expect("forward scan");
    let (backward, status) = scan_backward(&mut table.iter(read), usize::MAX);
    status.expect("backward scan");
    assert_eq!(forward, backward);
    assert!(!forward.is_empty());
    let icmp = &table.options().comparator;
    assert!(forward.windows(2).all(|w| icmp.compare(&w[0].0, &w[1].0).is_lt()));
    for (key, value) in &forward {
        let (k, v) = table.get(&read, key).expect("get").expect("LevelDB entry found through the filter");
        assert_eq!((&k[..], &v[..]), (&key[..], &value[..]));
        // A lookup of the newest version lands on this user key too.
        let parsed = parse_internal_key(key).expect("internal key");
        let lookup = make_internal_key(parsed.user_key, MAX_SEQUENCE_NUMBER, ValueKind::Value);
        let (k, _) = table.get(&read, &lookup).expect("get").expect("found");
        assert_eq!(parse_internal_key(&k).unwrap().user_key, parsed.user_key);
    }
    (table, forward)
}

/// Bytes of each block's trailer type, by walking the index.
fn compressed_data_blocks(table: &Table, file_bytes: &[u8]) -> usize {
    use lsmkit_base::iterator::InternalIterator;
    let mut index = table.index_iter();
    index.seek_to_first();
    let mut compressed = 0;
    while index.valid() {
        let handle = BlockHandle::decode(index.value()).unwrap();
        if file_bytes[(handle.offset + handle.size) as usize] == SNAPPY_COMPRESSION {
            compressed += 1;
        }
        index.next();
    }
    compressed
}

/// The newest version of every user key across `entries`, deletions removed.
fn visible(entries: impl IntoIterator<Item = Entry>) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut newest: BTreeMap<Vec<u8>, (SequenceNumber, ValueKind, Vec<u8>)> = BTreeMap::new();
    for (key, value) in entries {
        let parsed = parse_internal_key(&key).expect("internal key");
        let slot = newest.entry(parsed.user_key.to_vec()).or_insert((0, ValueKind::Deletion, Vec::new()));
        if parsed.sequence >= slot.0 {
            *slot = (parsed.sequence, parsed.kind, value);
        }
    }
    newest
        .into_iter()
        .filter(|(_, (_, kind, _))| *kind == ValueKind::Value)
        .map(|(k, (_, _, v))| (k, v))
        .collect()
}

#[test]
fn tables_written_by_leveldb_read_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let dump = dir.path().join("dump.txt");
    run_script(&["write", db.to_str().unwrap(), dump.to_str().unwrap(), "snappy"]);
    let expected = read_dump(&dump);
    assert!(expected.len() > 5000);

    let tables = table_files(&db);
    assert!(tables.len() >= 3, "only {} tables", tables.len());
    let mut all = Vec::new();
    let mut compressed = 0;
    let mut deletions = 0;
    for (_, path) in &tables {
        let (table, entries) = read_leveldb_table(path);
        compressed += compressed_data_blocks(&table, &std::fs::read(path).unwrap());
        deletions += entries
            .iter()
            .filter(|(k, _)| parse_internal_key(k).unwrap().kind == ValueKind::Deletion)
            .count();
        all.extend(entries);
    }
    assert!(compressed > 0, "LevelDB wrote no Snappy block");
    assert!(deletions > 0, "no deletion markers in the tables");
    assert_eq!(visible(all), expected);
}

#[test]
fn uncompressed_tables_are_byte_identical_to_leveldb() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let dump = dir.path().join("dump.txt");
    run_script(&["write", db.to_str().unwrap(), dump.to_str().unwrap(), "none"]);
    let options =
        TableOptions { compression: Compression::None, write_properties: false, ..leveldb_options() };
    let fs = MemFs::new();
    fs.create_dir_all(Path::new("/copy")).unwrap();
    let tables = table_files(&db);
    assert!(tables.len() >= 3, "only {} tables", tables.len());
    let mut all = Vec::new();
    for (number, path) in &tables {
        let (_, entries) = read_leveldb_table(path);
        let ours = table_bytes(&fs, &table_file_name(Path::new("/copy"), *number), &options, &entries);
        let theirs = std::fs::read(path).unwrap();
        assert!(
            ours == theirs,
            "{}: {} bytes here, {} from LevelDB",
            path.display(),
            ours.len(),
            theirs.len()
        );
        all.extend(entries);
    }
    assert_eq!(visible(all), read_dump(&dump));
}

#[test]
fn leveldb_reads_tables_with_the_properties_block() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let dump = dir.path().join("dump.txt");
    let fs = StdFs::new();
    fs.create_dir_all(&db).unwrap();
    let options = TableOptions { paranoid_checks: false, ..leveldb_options() };
    assert!(options.write_properties, "properties are written by default");

    // Three overlapping tables; a higher file number holds newer sequences,
    // as LevelDB expects of level-0 files.
    let mut all: Vec<Entry> = Vec::new();
    let mut sequence = 0u64;
    for (number, stride) in [(5u64, 1usize), (6, 3), (7, 7)] {
        let mut entries: Vec<Entry> = (0..3000usize)
            .step_by(stride)
            .map(|i| {
                sequence += 1;
                let user_key = format!("user{i:05}");
                if number == 7 && i % 2 == 0 {
                    (make_internal_key(user_key.as_bytes(), sequence, ValueKind::Deletion), Vec::new())
                } else {
                    let value = format!("table{number}-{i}-{}", "v".repeat(i % 90));
                    (make_internal_key(user_key.as_bytes(), sequence, ValueKind::Value), value.into_bytes())
                }
            })
            .collect();
        entries.sort_by(|a, b| options.comparator.compare(&a.0, &b.0));
        let path = table_file_name(&db, number);
        let summary = build_table(&fs, &path, &options, &entries);
        let table = Table::open_path(&fs, &path, options.clone()).unwrap();
        assert_eq!(table.properties(), Some(&summary.properties));
        let bytes = read_file_to_vec(&fs, &path).unwrap();
        assert!(compressed_data_blocks(&table, &bytes) > 0);
        all.extend(entries);
    }
    run_script(&["repair-and-dump", db.to_str().unwrap(), dump.to_str().unwrap()]);
    let expected = visible(all);
    assert!(expected.len() > 1000);
    assert_eq!(read_dump(&dump), expected);
}
