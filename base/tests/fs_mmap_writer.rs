//! `StdFs` with `WriteMode::Mmap`: while the file is open its length is a
//! whole number of chunks and everything after the written bytes is zero;
//! after close it holds exactly the bytes a buffered writer would have written.

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

use std::path::Path;

use lsmkit_base::fs::{FileSystem, StdFs, WriteMode};
use proptest::prelude::*;

fn write_all(fs: &StdFs, path: &Path, mode: WriteMode, appends: &[Vec<u8>], syncs: &[bool]) {
    let mut w = fs.create_writable(path, mode).unwrap();
    let mut written = 0usize;
    for (data, &sync) in appends.iter().zip(syncs) {
        w.append(data).unwrap();
        written += data.len();
        if sync {
            w.sync().unwrap();
        }
        if let WriteMode::Mmap { chunk_size } = mode {
            let on_disk = std::fs::read(path).unwrap();
            assert_eq!(on_disk.len() % chunk_size, 0, "length {} is not whole chunks", on_disk.len());
            assert!(on_disk.len() >= written);
            assert!(on_disk.len() < written + chunk_size, "grown by more than one chunk past the data");
            assert!(on_disk[written..].iter().all(|&b| b == 0), "tail after the data must be zero");
        }
    }
    w.close().unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn mmap_and_buffered_writers_produce_the_same_file(
        chunk_size in 16usize..9000,
        appends in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..20_000), 0..10),
        syncs in prop::collection::vec(any::<bool>(), 10),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let fs = StdFs::new();
        let mapped = dir.path().join("mapped");
        let buffered = dir.path().join("buffered");
        write_all(&fs, &mapped, WriteMode::Mmap { chunk_size }, &appends, &syncs);
        write_all(&fs, &buffered, WriteMode::Buffered, &appends, &syncs);
        let expected: Vec<u8> = appends.concat();
        prop_assert_eq!(std::fs::read(&buffered).unwrap(), expected.clone());
        prop_assert_eq!(std::fs::read(&mapped).unwrap(), expected);
    }
}

#[test]
fn append_larger_than_several_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let fs = StdFs::new();
    let path = dir.path().join("big");
    let data: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8 + 1).collect();
    let mut w = fs.create_writable(&path, WriteMode::Mmap { chunk_size: 4096 }).unwrap();
    w.append(&data).unwrap();
    assert_eq!(w.len(), 50_000);
    assert_eq!(fs.file_size(&path).unwrap(), 13 * 4096);
    w.sync().unwrap();
    w.append(b"").unwrap();
    w.close().unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), data);
}
