//! `approximate_memory_usage` against the bytes really allocated, measured
//! by a counting global allocator. The allocator is global to this test
//! binary, so this file holds this one test only.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use lsmkit_base::comparator::BytewiseComparator;
use lsmkit_base::key::{InternalKeyComparator, ValueKind};
use lsmkit_memtable::Memtable;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Passes every call to the system allocator and keeps the net bytes live.
struct CountingAllocator;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees hold; the counter has no effect on the
// memory handed out.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded unchanged; the caller upholds `alloc_zeroed`'s contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded unchanged; `ptr` came from this allocator, i.e. from `System`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded unchanged; `ptr` came from `System` with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

#[test]
fn estimate_is_within_25_percent_of_real_allocation() {
    const ENTRIES: usize = 200_000;
    let mut rng = StdRng::seed_from_u64(0x6d656d);
    // Generate the load first so its own buffers are not counted.
    let load: Vec<(Vec<u8>, Vec<u8>, ValueKind)> = (0..ENTRIES)
        .map(|_| {
            let key: Vec<u8> = (0..rng.random_range(1..48)).map(|_| rng.random()).collect();
            let deletion = rng.random_ratio(1, 10);
            let value_len = if deletion { 0 } else { rng.random_range(0..400) };
            let value: Vec<u8> = (0..value_len).map(|_| rng.random()).collect();
            (key, value, if deletion { ValueKind::Deletion } else { ValueKind::Value })
        })
        .collect();

    let before = LIVE_BYTES.load(Ordering::Relaxed);
    let memtable = Memtable::new(InternalKeyComparator::new(BytewiseComparator::shared()));
    for (sequence, (key, value, kind)) in load.iter().enumerate() {
        memtable.add(sequence as u64 + 1, *kind, key, value);
    }
    let allocated = (LIVE_BYTES.load(Ordering::Relaxed) - before) as f64;
    let estimate = memtable.approximate_memory_usage() as f64;
    let payload: usize = load.iter().map(|(k, v, _)| k.len() + 8 + v.len()).sum();
    println!(
        "entries {ENTRIES}: payload {payload} B, allocated {allocated} B, estimate {estimate} B, ratio {:.3}",
        estimate / allocated
    );
    assert_eq!(memtable.len(), ENTRIES);
    assert!(allocated > payload as f64, "allocated {allocated} less than the payload {payload}");
    assert!(
        (estimate - allocated).abs() <= 0.25 * allocated,
        "estimate {estimate} is not within 25% of the {allocated} bytes allocated"
    );
}
