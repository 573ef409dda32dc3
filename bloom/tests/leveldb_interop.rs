//! Interoperability with the real LevelDB 1.23 (Debian's python3-plyvel, via
//! interop/bloom_leveldb_tables.py): the filter blocks of tables LevelDB wrote
//! are reproduced byte for byte by `LevelDbBloom` and have no false negative
//! (docs/format.md §7, §8); and LevelDB still reads a table whose filter was
//! replaced by `BlockedBloom`, because it ignores a filter whose policy name
//! it does not know (docs/format-extensions.md).
//!
//! These tests fail, not skip, when plyvel is missing.

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

mod support {
    pub mod filter_block;
    pub mod table;
}

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use lsmkit_bloom::{BlockedBloom, LevelDbBloom};
use support::filter_block::FilterBlockReader;
use support::table::{build_filter_block, Table};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../interop/bloom_leveldb_tables.py");

/// Runs the interop script with Debian's python (the one with plyvel) and
/// returns its standard output; panics with its stderr if it fails.
fn run_script(args: &[&Path]) -> String {
    let output = Command::new("/usr/bin/python3")
        .arg(SCRIPT)
        .args(args)
        .output()
        .expect("cannot run /usr/bin/python3 (interop tests need Debian's python3 with python3-plyvel)");
    assert!(
        output.status.success(),
        "{SCRIPT} {args:?} failed ({}); is python3-plyvel installed?\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn read_keys_file(path: &Path) -> BTreeSet<Vec<u8>> {
    let text = std::fs::read_to_string(path).expect("keys file");
    text.lines().map(|line| decode_hex(line.trim())).collect()
}

fn decode_hex(hex: &str) -> Vec<u8> {
    assert!(hex.len() % 2 == 0, "odd hex length: {hex}");
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex digit")).collect()
}

fn table_files(db_dir: &Path) -> Vec<PathBuf> {
    let mut tables: Vec<PathBuf> = std::fs::read_dir(db_dir)
        .expect("database directory")
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "ldb"))
        .collect();
    tables.sort();
    tables
}

#[test]
fn filters_of_tables_written_by_leveldb_are_reproduced_and_have_no_false_negatives() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db_dir = dir.path().join("db");
    let keys_file = dir.path().join("keys.hex");
    run_script(&[Path::new("write-rich"), &db_dir, &keys_file]);
    let written = read_keys_file(&keys_file);
    assert!(written.len() >= 5000, "only {} keys written", written.len());

    let policy = LevelDbBloom::new(10);
    let tables = table_files(&db_dir);
    assert!(tables.len() >= 2, "expected several tables, found {tables:?}");
    let mut keys_in_tables = BTreeSet::new();
    let (mut entries_probed, mut empty_filters, mut shared_filters) = (0usize, 0usize, 0usize);
    for path in &tables {
        let table = Table::open(path).unwrap_or_else(|e| panic!("{e}"));
        let filter_handle =
            table.filter_handle(LevelDbBloom::NAME).unwrap_or_else(|e| panic!("{e}")).unwrap_or_else(|| {
                panic!("{}: no filter.{} in the metaindex", path.display(), LevelDbBloom::NAME)
            });
        let filter_block = table.block(filter_handle).unwrap_or_else(|e| panic!("{e}"));
        let data_blocks = table.data_blocks().unwrap_or_else(|e| panic!("{e}"));

        // Our policy, fed the same user keys in the same order, writes the
        // very same filter block.
        assert!(
            build_filter_block(&policy, &data_blocks) == filter_block,
            "{}: rebuilt filter block differs from LevelDB's",
            path.display()
        );

        let reader = FilterBlockReader::new(&policy, filter_block);
        let mut blocks_per_window = std::collections::BTreeMap::<u64, usize>::new();
        for block in &data_blocks {
            *blocks_per_window.entry(block.handle.offset >> 11).or_default() += 1;
            for key in &block.user_keys {
                assert!(
                    reader.key_may_match(block.handle.offset, key),
                    "{}: false negative for key {key:02x?} in the block at {}",
                    path.display(),
                    block.handle.offset
                );
                entries_probed += 1;
                keys_in_tables.insert(key.clone());
            }
        }
        empty_filters += reader.filter_count() - blocks_per_window.len();
        shared_filters += blocks_per_window.values().filter(|&&blocks| blocks > 1).count();
    }

    // Every table key was written, and (a snapshot kept every version and
    // deletion marker alive) every written key is in some table.
    assert_eq!(keys_in_tables, written, "user keys in the tables differ from the keys written");
    // The data set exercised what it was built for.
    assert!(entries_probed > written.len(), "no duplicate user keys: {entries_probed} entries");
    assert!(empty_filters > 0, "no 2 KiB window without a block start");
    assert!(shared_filters > 0, "no filter shared by several blocks");
    println!(
        "{} tables, {entries_probed} entries probed ({} distinct user keys), \
         {empty_filters} empty filters, {shared_filters} shared filters",
        tables.len(),
        written.len()
    );
}

#[test]
fn leveldb_reads_tables_whose_filter_is_a_blocked_bloom() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db_dir = dir.path().join("db");
    let keys_file = dir.path().join("keys.hex");
    run_script(&[Path::new("write-simple"), &db_dir, &keys_file]);
    let written = read_keys_file(&keys_file);

    let blocked = BlockedBloom::new(10);
    let tables = table_files(&db_dir);
    assert!(!tables.is_empty(), "LevelDB wrote no table");
    let mut rewritten = Vec::new();
    let mut keys_in_tables = BTreeSet::new();
    for path in &tables {
        let original = Table::open(path).unwrap_or_else(|e| panic!("{e}"));
        let bytes = original.with_filter(&blocked).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(path, &bytes).expect("rewrite table");

        // The rewritten table carries only our filter, and it has no false negative.
        let table = Table::open(path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(table.filter_handle(LevelDbBloom::NAME).unwrap_or_else(|e| panic!("{e}")), None);
        let handle = table
            .filter_handle(BlockedBloom::NAME)
            .unwrap_or_else(|e| panic!("{e}"))
            .expect("filter.lsmkit.BlockedBloom1 in the metaindex");
        let reader = FilterBlockReader::new(&blocked, table.block(handle).unwrap_or_else(|e| panic!("{e}")));
        for block in table.data_blocks().unwrap_or_else(|e| panic!("{e}")) {
            for key in block.user_keys {
                assert!(reader.key_may_match(block.handle.offset, &key), "false negative for {key:02x?}");
                keys_in_tables.insert(key);
            }
        }
        rewritten.push((path.clone(), bytes));
    }
    assert_eq!(keys_in_tables, written);

    // LevelDB, with its own bloom policy configured, repairs the MANIFEST
    // (the table sizes changed), then finds every key and no absent one.
    let stdout = run_script(&[Path::new("verify-simple"), &db_dir]);
    assert_eq!(stdout.trim(), format!("verified {} keys", written.len()));

    // And it read our tables, not copies: repair kept them as they were.
    assert_eq!(table_files(&db_dir), tables);
    for (path, bytes) in rewritten {
        assert!(std::fs::read(&path).expect("table") == bytes, "{} was changed by LevelDB", path.display());
    }
}
