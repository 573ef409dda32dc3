//! Criterion benchmarks of both filter policies at 10 bits per key over
//! 1 000 000 keys: building one filter, then probing it with the 1M keys it
//! holds and with 1M keys it does not. Each iteration handles 1M keys, so the
//! reported time in milliseconds reads directly as nanoseconds per key.
//!
//! `cargo bench -p lsmkit-bloom`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lsmkit_bloom::{BlockedBloom, FilterPolicy, LevelDbBloom};

const KEYS: usize = 1_000_000;
const BITS_PER_KEY: u32 = 10;

/// Fixed-width keys stored back to back: `user:0000000042` (present) and
/// `user:0000000042/x` (absent), the way an application numbers its records.
fn key_arena(suffix: &str) -> (Vec<u8>, usize) {
    let width = format!("user:{:010}{suffix}", 0).len();
    let mut arena = Vec::with_capacity(KEYS * width);
    for i in 0..KEYS {
        arena.extend_from_slice(format!("user:{i:010}{suffix}").as_bytes());
    }
    (arena, width)
}

fn bench_policy(c: &mut Criterion, policy: &dyn FilterPolicy) {
    let (present_arena, present_width) = key_arena("");
    let (absent_arena, absent_width) = key_arena("/x");
    let present: Vec<&[u8]> = present_arena.chunks_exact(present_width).collect();
    let absent: Vec<&[u8]> = absent_arena.chunks_exact(absent_width).collect();

    let mut group = c.benchmark_group(format!("{}/{BITS_PER_KEY}-bits-per-key/1M-keys", policy.name()));
    group.sample_size(10).measurement_time(Duration::from_secs(4)).throughput(Throughput::Elements(KEYS as u64));

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

criterion_group!(benches, filters);
criterion_main!(benches);
