//! Builds the database `cargo xtask bench`'s `compact` workload meets (1M
//! random puts, 1M random overwrites, every key deleted in order, then 1M
//! random deletes), or times a full `compact_range` of such a database, so
//! that the manual compaction can be profiled on its own (issue 13):
//!
//! ```text
//! cargo run --release -p lsmkit --example compact_cpu -- prepare DIR [NUM]
//! cp -a DIR COPY && perf record -g target/release/examples/compact_cpu compact COPY [MAX_SUBCOMPACTIONS]
//! ```
//!
//! Values are 100 bytes that Snappy compresses to about half, as
//! `db_bench`'s are; keys are 16-digit decimal numbers.

use std::time::Instant;

use lsmkit::{Db, Options};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// 100 bytes: 50 random letters, then the same 50 again.
fn value(rng: &mut StdRng) -> Vec<u8> {
    let half: Vec<u8> = (0..50).map(|_| rng.random_range(b'a'..=b'z')).collect();
    [half.as_slice(), half.as_slice()].concat()
}

fn key(i: u64) -> Vec<u8> {
    format!("{i:016}").into_bytes()
}

/// Waits until the database has no compaction pending or running.
fn wait_quiet(db: &Db) {
    while db.property("lsmkit.compaction-pending").as_deref() != Some("0")
        || db.property("lsmkit.num-running-compactions").as_deref() != Some("0")
    {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn main() -> lsmkit::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(mode), Some(dir)) = (args.first(), args.get(1)) else {
        eprintln!("usage: compact_cpu prepare DIR [NUM] | compact DIR [MAX_SUBCOMPACTIONS]");
        std::process::exit(2);
    };
    match mode.as_str() {
        "prepare" => {
            let num: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
            let db = Db::open(dir, Options { create_if_missing: true, ..Options::default() })?;
            let mut rng = StdRng::seed_from_u64(0x9e37_79b9_7f4a_7c15);
            for _round in 0..2 {
                for _ in 0..num {
                    db.put(&key(rng.random_range(0..num)), &value(&mut rng))?;
                }
                wait_quiet(&db);
            }
            for i in 0..num {
                db.delete(&key(i))?;
            }
            wait_quiet(&db);
            for _ in 0..num {
                db.delete(&key(rng.random_range(0..num)))?;
            }
            wait_quiet(&db);
            println!("{}", db.property("lsmkit.stats").unwrap_or_default());
        }
        "compact" => {
            let defaults = Options::default();
            let max_subcompactions =
                args.get(2).and_then(|a| a.parse().ok()).unwrap_or(defaults.max_subcompactions);
            let db = Db::open(dir, Options { max_subcompactions, ..defaults })?;
            let start = Instant::now();
            db.compact_range(None, None)?;
            println!("compact_range: {:.1} ms", start.elapsed().as_secs_f64() * 1e3);
            println!("{}", db.property("lsmkit.stats").unwrap_or_default());
        }
        other => {
            eprintln!("unknown mode {other}: prepare or compact");
            std::process::exit(2);
        }
    }
    Ok(())
}
