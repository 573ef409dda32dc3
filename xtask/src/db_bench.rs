//! A short db_bench-style run of the `lsmkit` engine: LevelDB's `db_bench`
//! workloads and output lines (`name : X micros/op; Y MB/s`) on a
//! temporary directory, with db_bench's default key (16 B) and value
//! (100 B, compressible to half) sizes.

use std::time::Instant;

use lsmkit::{Db, FlushOptions, Options, ReadOptions, WriteBatch, WriteOptions};

const KEY_SIZE: usize = 16;
const VALUE_SIZE: usize = 100;

/// A small deterministic generator (xorshift64*), so runs are repeatable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn key(i: u64) -> [u8; KEY_SIZE] {
    let mut k = [0u8; KEY_SIZE];
    let digits = format!("{i:016}");
    k.copy_from_slice(digits.as_bytes());
    k
}

/// Values that compress to about half their size, like db_bench's.
fn value(rng: &mut Rng) -> Vec<u8> {
    let half = VALUE_SIZE / 2;
    let mut v: Vec<u8> = (0..half).map(|_| b' ' + (rng.next() % 95) as u8).collect();
    let copy = v.clone();
    v.extend_from_slice(&copy[..VALUE_SIZE - half]);
    v
}

fn report(name: &str, ops: u64, bytes: u64, started: Instant, extra: &str) {
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    let micros = secs * 1e6 / ops.max(1) as f64;
    let rate =
        if bytes > 0 { format!("{:7.1} MB/s", bytes as f64 / 1_048_576.0 / secs) } else { String::new() };
    println!("{name:<12} : {micros:11.3} micros/op;{rate}{extra}");
}

/// Runs the workloads with `num` entries; returns a message on failure.
pub fn run(num: u64) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| format!("cannot create a temporary directory: {e}"))?;
    let err = |e: lsmkit::Error| e.to_string();
    let options = Options { create_if_missing: true, ..Options::default() };
    println!("lsmkit {} db_bench-style run in {}", env!("CARGO_PKG_VERSION"), dir.path().display());
    println!("Keys: {KEY_SIZE} bytes each; Values: {VALUE_SIZE} bytes each (50 bytes after compression); Entries: {num}");
    println!("Options: write buffer 4 MiB, Snappy, bloom 10 bits/key, 8 MiB block cache, WAL sync off");
    println!("------------------------------------------------");
    let entry_bytes = (KEY_SIZE + VALUE_SIZE) as u64;
    let mut rng = Rng(0x1234_5678_9abc_def1);

    let db = Db::open(dir.path().join("seq"), options.clone()).map_err(err)?;
    let started = Instant::now();
    for i in 0..num {
        db.put(&key(i), &value(&mut rng)).map_err(err)?;
    }
    report("fillseq", num, num * entry_bytes, started, "");
    drop(db);

    let db = Db::open(dir.path().join("random"), options.clone()).map_err(err)?;
    let started = Instant::now();
    for _ in 0..num {
        let k = key(rng.next() % num);
        db.put(&k, &value(&mut rng)).map_err(err)?;
    }
    report("fillrandom", num, num * entry_bytes, started, "");

    let started = Instant::now();
    let batches = num / 1000;
    for _ in 0..batches {
        let mut batch = WriteBatch::new();
        for _ in 0..1000 {
            batch.put(&key(rng.next() % num), &value(&mut rng));
        }
        db.write(WriteOptions::default(), batch).map_err(err)?;
    }
    report("fillbatch", batches * 1000, batches * 1000 * entry_bytes, started, "");

    let syncs = (num / 100).max(1);
    let started = Instant::now();
    for _ in 0..syncs {
        db.put_opt(WriteOptions { sync: true, disable_wal: false }, &key(rng.next() % num), &value(&mut rng))
            .map_err(err)?;
    }
    report("fillsync", syncs, syncs * entry_bytes, started, &format!(" ({syncs} ops)"));

    db.flush(FlushOptions::default()).map_err(err)?;
    let started = Instant::now();
    let mut found = 0u64;
    for _ in 0..num {
        if db.get(&key(rng.next() % num)).map_err(err)?.is_some() {
            found += 1;
        }
    }
    report("readrandom", num, 0, started, &format!(" ({found} of {num} found)"));

    let started = Instant::now();
    for i in 0..num {
        let mut k = key(i).to_vec();
        k.push(b'.');
        if db.get(&k).map_err(err)?.is_some() {
            return Err("readmissing found a key that was never written".into());
        }
    }
    report("readmissing", num, 0, started, "");

    let started = Instant::now();
    let mut it = db.iter(ReadOptions::new());
    it.seek_to_first();
    let (mut n, mut bytes) = (0u64, 0u64);
    while it.valid() {
        bytes += (it.key().len() + it.value().len()) as u64;
        n += 1;
        it.next();
    }
    it.status().map_err(err)?;
    report("readseq", n, bytes, started, "");

    let started = Instant::now();
    it.seek_to_last();
    let (mut n, mut bytes) = (0u64, 0u64);
    while it.valid() {
        bytes += (it.key().len() + it.value().len()) as u64;
        n += 1;
        it.prev();
    }
    it.status().map_err(err)?;
    drop(it);
    report("readreverse", n, bytes, started, "");

    let started = Instant::now();
    db.compact_range(None, None).map_err(err)?;
    report("compact", 1, 0, started, "");
    let files: Vec<String> =
        (0..7).map(|l| db.property(&format!("lsmkit.num-files-at-level{l}")).unwrap_or_default()).collect();
    println!("------------------------------------------------");
    println!("files per level after compact: {}", files.join(" "));
    if let Some(stats) = db.property("lsmkit.stats") {
        print!("{stats}");
    }
    Ok(())
}
