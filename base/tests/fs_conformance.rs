//! One behaviour for every `FileSystem`: the same round trips run against
//! `StdFs` (in a temporary directory), `MemFs`, and `FaultFs` over each.

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

use std::path::{Path, PathBuf};
use std::sync::Arc;

use lsmkit_base::fs::{
    read_file_to_vec, write_file, FaultFs, FileSystem, MemFs, ReadMode, StdFs, WritableFile, WriteMode,
};
use lsmkit_base::Error;
use proptest::prelude::*;

/// A file system under test and the directory to work in.
struct Subject {
    name: &'static str,
    fs: Arc<dyn FileSystem>,
    root: PathBuf,
    _tempdir: Option<tempfile::TempDir>,
}

fn subjects() -> Vec<Subject> {
    let std_dir = tempfile::tempdir().unwrap();
    let fault_std_dir = tempfile::tempdir().unwrap();
    let mem = MemFs::new();
    mem.create_dir_all(Path::new("/db")).unwrap();
    let fault_mem = MemFs::new();
    fault_mem.create_dir_all(Path::new("/db")).unwrap();
    vec![
        Subject {
            name: "StdFs",
            fs: Arc::new(StdFs::new()),
            root: std_dir.path().to_path_buf(),
            _tempdir: Some(std_dir),
        },
        Subject { name: "MemFs", fs: Arc::new(mem), root: PathBuf::from("/db"), _tempdir: None },
        Subject {
            name: "FaultFs(StdFs)",
            fs: Arc::new(FaultFs::new(Arc::new(StdFs::new()))),
            root: fault_std_dir.path().to_path_buf(),
            _tempdir: Some(fault_std_dir),
        },
        Subject {
            name: "FaultFs(MemFs)",
            fs: Arc::new(FaultFs::new(Arc::new(fault_mem))),
            root: PathBuf::from("/db"),
            _tempdir: None,
        },
    ]
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(13).wrapping_add(seed)).collect()
}

#[test]
fn write_then_read_every_way() {
    for s in subjects() {
        let fs = s.fs.as_ref();
        for (i, mode) in [WriteMode::Buffered, WriteMode::Mmap { chunk_size: 4096 }].into_iter().enumerate() {
            let path = s.root.join(format!("file{i}"));
            let data = pattern(100_000, i as u8);
            let mut w = fs.create_writable(&path, mode).unwrap();
            for piece in data.chunks(7_000) {
                w.append(piece).unwrap();
            }
            w.sync().unwrap();
            w.close().unwrap();
            assert_eq!(fs.file_size(&path).unwrap(), data.len() as u64, "{} {mode:?}", s.name);
            assert_eq!(read_file_to_vec(fs, &path).unwrap(), data, "{} {mode:?}", s.name);
            for read_mode in [ReadMode::Positional, ReadMode::Mmap] {
                let r = fs.open_random_access(&path, read_mode).unwrap();
                assert_eq!(r.len(), data.len() as u64);
                assert_eq!(&r.read_at(12_345, 1_000).unwrap()[..], &data[12_345..13_345], "{}", s.name);
                assert_eq!(&r.read_at(99_990, 1_000).unwrap()[..], &data[99_990..], "{}", s.name);
                assert!(r.read_at(100_000, 10).unwrap().is_empty(), "{}", s.name);
            }
            let mut seq = fs.open_sequential(&path).unwrap();
            seq.skip(99_000).unwrap();
            let mut buf = vec![0u8; 5_000];
            let mut got = Vec::new();
            loop {
                let n = seq.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            assert_eq!(got, &data[99_000..], "{}", s.name);
        }
    }
}

#[test]
fn appendable_and_namespace_operations() {
    for s in subjects() {
        let fs = s.fs.as_ref();
        let a = s.root.join("a");
        write_file(fs, &a, b"head", true).unwrap();
        let mut w = fs.open_appendable(&a).unwrap();
        assert_eq!(w.len(), 4, "{}", s.name);
        w.append(b"-tail").unwrap();
        w.close().unwrap();
        assert_eq!(read_file_to_vec(fs, &a).unwrap(), b"head-tail", "{}", s.name);

        let sub = s.root.join("sub/deeper");
        fs.create_dir_all(&sub).unwrap();
        fs.sync_dir(&s.root).unwrap();
        let b = sub.join("b");
        fs.rename(&a, &b).unwrap();
        assert!(!fs.exists(&a) && fs.exists(&b), "{}", s.name);
        fs.hard_link(&b, &s.root.join("c")).unwrap();
        assert_eq!(read_file_to_vec(fs, &s.root.join("c")).unwrap(), b"head-tail", "{}", s.name);
        let mut names = fs.list_dir(&s.root).unwrap();
        names.sort();
        assert_eq!(names, ["c", "sub"], "{}", s.name);
        assert!(fs.remove_dir(&sub).is_err(), "{}: not empty", s.name);
        fs.remove_file(&b).unwrap();
        fs.remove_dir(&sub).unwrap();
        assert_eq!(fs.list_dir(&s.root.join("sub")).unwrap(), Vec::<String>::new(), "{}", s.name);
        assert!(fs.remove_file(&b).unwrap_err().is_not_found(), "{}", s.name);
        assert!(fs.open_sequential(&b).err().unwrap().is_not_found(), "{}", s.name);
        assert!(fs.open_random_access(&b, ReadMode::Mmap).err().unwrap().is_not_found(), "{}", s.name);
    }
}

#[test]
fn closed_files_refuse_further_calls() {
    for s in subjects() {
        let fs = s.fs.as_ref();
        for mode in [WriteMode::Buffered, WriteMode::Mmap { chunk_size: 512 }] {
            let mut w = fs.create_writable(&s.root.join("f"), mode).unwrap();
            w.append(b"x").unwrap();
            w.close().unwrap();
            assert!(w.append(b"y").is_err(), "{} {mode:?}", s.name);
            assert!(w.sync().is_err(), "{} {mode:?}", s.name);
            assert!(w.close().is_err(), "{} {mode:?}", s.name);
            assert_eq!(read_file_to_vec(fs, &s.root.join("f")).unwrap(), b"x", "{} {mode:?}", s.name);
        }
    }
}

#[test]
fn lock_is_exclusive_until_released() {
    for s in subjects() {
        let fs = s.fs.as_ref();
        let path = s.root.join("LOCK");
        let lock = fs.lock_file(&path).unwrap();
        match fs.lock_file(&path) {
            Err(Error::Busy(message)) => assert!(message.contains("LOCK"), "{}: {message}", s.name),
            other => panic!("{}: expected Busy, got {other:?}", s.name),
        }
        drop(lock);
        drop(fs.lock_file(&path).unwrap());
    }
}

/// One step of a random writer session.
#[derive(Debug, Clone)]
enum WriterStep {
    Append(Vec<u8>),
    Flush,
    Sync,
}

fn writer_step() -> impl Strategy<Value = WriterStep> {
    prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..3000).prop_map(WriterStep::Append),
        1 => Just(WriterStep::Flush),
        1 => Just(WriterStep::Sync),
    ]
}

fn run_session(w: &mut dyn WritableFile, steps: &[WriterStep], model: &mut Vec<u8>) {
    for step in steps {
        match step {
            WriterStep::Append(data) => {
                w.append(data).unwrap();
                model.extend_from_slice(data);
            }
            WriterStep::Flush => w.flush().unwrap(),
            WriterStep::Sync => w.sync().unwrap(),
        }
        assert_eq!(w.len(), model.len() as u64);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Every file system stores exactly the appended bytes, whatever the
    /// write mode and the mix of flushes and syncs, and `open_appendable`
    /// continues where the first session stopped.
    #[test]
    fn random_sessions_match_a_byte_vector(
        first in prop::collection::vec(writer_step(), 0..12),
        second in prop::collection::vec(writer_step(), 0..6),
        mmap in any::<bool>(),
        chunk_size in 1usize..6000,
    ) {
        let mode = if mmap { WriteMode::Mmap { chunk_size } } else { WriteMode::Buffered };
        for s in subjects() {
            let fs = s.fs.as_ref();
            let path = s.root.join("000007.log");
            let mut model = Vec::new();
            let mut w = fs.create_writable(&path, mode).unwrap();
            run_session(w.as_mut(), &first, &mut model);
            w.close().unwrap();
            let mut w = fs.open_appendable(&path).unwrap();
            run_session(w.as_mut(), &second, &mut model);
            drop(w); // Dropping without close must keep every byte as well.
            prop_assert_eq!(read_file_to_vec(fs, &path).unwrap(), model.clone(), "{}", s.name);
            let r = fs.open_random_access(&path, ReadMode::Mmap).unwrap();
            prop_assert_eq!(&r.read_at(0, model.len() + 1).unwrap()[..], &model[..], "{}", s.name);
        }
    }
}
