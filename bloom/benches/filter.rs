//! Criterion benchmarks of both filter policies at 10 bits per key over
//! 1 000 000 keys: building one filter, then probing it with the 1M keys it
//! holds and with 1M keys it does not. Each iteration handles 1M keys, so the
//! reported time in milliseconds reads directly as nanoseconds per key.
//!
//! `cargo bench -p lsmkit-bloom`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_main, Criterion, Throughput};
use lsmkit_bloom::{BlockedBloom, FilterPolicy, LevelDbBloom};

const KEYS: usize = 1_000_000;
const BITS_PER_KEY: u32 = 10;

/// Width of every key: `user:` and a zero-padded counter.
const KEY_WIDTH: usize = 15;

/// `KEYS` keys `user:0000000042`, the way an application numbers its records,
/// stored back to back, counting from `first`.
fn key_arena(first: usize) -> Vec<u8> {
    let mut arena = Vec::with_capacity(KEYS * KEY_WIDTH);
    for i in first..first + KEYS {
        arena.extend_from_slice(format!("user:{i:010}").as_bytes());
    }
    arena
}

fn bench_policy(c: &mut Criterion, policy: &dyn FilterPolicy) {
    // Present keys count from 0, absent ones from 1M: same shape, disjoint.
    let present_arena = key_arena(0);
    let absent_arena = key_arena(KEYS);
    let present: Vec<&[u8]> = present_arena.chunks_exact(KEY_WIDTH).collect();
    let absent: Vec<&[u8]> = absent_arena.chunks_exact(KEY_WIDTH).collect();

    let mut group = c.benchmark_group(format!("{}/{BITS_PER_KEY}-bits-per-key/1M-keys", policy.name()));
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(KEYS as u64));

    let mut filter = Vec::new();
    group.bench_function("build", |b| {
        b.iter(|| {
            filter.clear();
            policy.create_filter(black_box(&present), &mut filter);
            filter.len()
        })
    });

    filter.clear();
    policy.create_filter(&present, &mut filter);
    group.bench_function("probe-present", |b| {
        b.iter(|| present.iter().filter(|key| policy.key_may_match(black_box(key), &filter)).count())
    });
    group.bench_function("probe-absent", |b| {
        b.iter(|| absent.iter().filter(|key| policy.key_may_match(black_box(key), &filter)).count())
    });
    group.finish();
}

fn filters(c: &mut Criterion) {
    bench_policy(c, &LevelDbBloom::new(BITS_PER_KEY));
    bench_policy(c, &BlockedBloom::new(BITS_PER_KEY));
}

/// Runs every benchmark of this file (what `criterion_group!` defines,
/// written out so that it can be documented).
fn benches() {
    let mut criterion = Criterion::default().configure_from_args();
    filters(&mut criterion);
}
criterion_main!(benches);
