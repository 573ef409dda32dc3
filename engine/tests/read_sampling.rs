//! Read sampling: iterating charges a seek, about once per megabyte read,
//! to the first of the files that may hold the key read, as LevelDB does;
//! a file whose seek budget runs out is compacted, so a range read over and
//! over gets its overlapping files merged without any `get`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lsmkit::{Compression, Db, FlushOptions, Options, ReadOptions};
use lsmkit_base::fs::{FileSystem, MemFs};

/// A bound on waiting for background work that must happen, so that a
/// broken engine fails the test instead of hanging it; not a measurement.
const PATIENCE: Duration = Duration::from_secs(60);

fn files_at(db: &Db, level: usize) -> usize {
    db.property(&format!("lsmkit.num-files-at-level{level}")).expect("property").parse().expect("number")
}

#[test]
fn scans_charge_seeks_and_compact_the_file_read_first() {
    let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    let options = Options {
        create_if_missing: true,
        fs,
        compression: Compression::None,
        // Level 0 is never compacted for its file count here.
        l0_compaction_trigger: 8,
        ..Options::default()
    };
    let db = Db::open("/db", options).expect("open");
    // Three tables of interleaved keys, each spanning the whole key range:
    // the first goes to level 2, the second to level 1, the third stays at
    // level 0, so every key read may be in all three.
    for part in 0..3u32 {
        for i in (part..3000).step_by(3) {
            db.put(format!("key{i:05}").as_bytes(), &[b'v'; 1000]).expect("put");
        }
        db.flush(FlushOptions { wait: true }).expect("flush");
    }
    assert_eq!((files_at(&db, 0), files_at(&db, 1), files_at(&db, 2)), (1, 1, 1));

    // About 3 MB per scan, about one sample per MB: the level-0 file's
    // budget of 100 seeks is spent within 70 scans.
    let started = Instant::now();
    let mut scans = 0;
    while files_at(&db, 0) != 0 {
        assert!(started.elapsed() < PATIENCE, "level 0 never compacted after {scans} scans");
        let mut it = db.iter(ReadOptions::new());
        it.seek_to_first();
        let mut entries = 0;
        while it.valid() {
            entries += 1;
            it.next();
        }
        it.status().expect("scan");
        assert_eq!(entries, 3000);
        scans += 1;
    }
    // Samples are at least half a megabyte apart: at most 7 per scan.
    assert!(scans >= 100 / 7, "the file was compacted after {scans} scans, before its budget could be spent");
}
