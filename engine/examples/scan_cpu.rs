//! Times full forward and backward scans of an existing database in the
//! thread's CPU time (issue 13), so that the figure stays meaningful on a
//! busy machine and can be set against LevelDB scanning the very same files.
//!
//! ```text
//! cargo run --release -p lsmkit --example scan_cpu -- DIR [RUNS]
//! ```

use lsmkit::{Db, Options, ReadOptions};

/// CPU time this thread has used, in nanoseconds (user + system).
fn thread_cpu_nanos() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 * 1e9 + ts.tv_nsec as f64
}

fn main() -> lsmkit::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = args.first().map_or("/tmp/lsmkit-scan", String::as_str);
    let runs: u32 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(3);
    let db = Db::open(dir, Options::default())?;
    for run in 0..runs {
        for backward in [false, true] {
            let mut it = db.iter(ReadOptions::new());
            let (mut entries, mut bytes) = (0u64, 0usize);
            let start = thread_cpu_nanos();
            if backward {
                it.seek_to_last();
            } else {
                it.seek_to_first();
            }
            while it.valid() {
                bytes += it.key().len() + it.value().len();
                entries += 1;
                if backward {
                    it.prev();
                } else {
                    it.next();
                }
            }
            it.status()?;
            let nanos = (thread_cpu_nanos() - start) / entries.max(1) as f64;
            let name = if backward { "readreverse" } else { "readseq" };
            println!("lsmkit run {run} {name}: {nanos:.1} ns/entry CPU ({entries} entries, {bytes} bytes)");
        }
    }
    Ok(())
}
