//! Fuzz target: arbitrary bytes as a filter and a key, probed by both policies
//! (docs/format.md §8.3 and docs/format-extensions.md). A filter read from disk is
//! untrusted, so probing must never panic, and the answers for filters a
//! policy cannot interpret must follow its rules.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lsmkit_bloom::{BlockedBloom, FilterPolicy, LevelDbBloom};

fuzz_target!(|data: &[u8]| {
    // First byte: where the filter ends and the key begins.
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let (filter, key) = rest.split_at(rest.len() * usize::from(split) / 255);

    let leveldb = LevelDbBloom::new(10);
    let answer = leveldb.key_may_match(key, filter);
    if filter.len() < 2 {
        assert!(!answer, "LevelDB: a filter shorter than 2 bytes matches nothing");
    } else if filter[filter.len() - 1] > LevelDbBloom::MAX_PROBES {
        assert!(answer, "LevelDB: a reserved probe count matches everything");
    }

    let blocked = BlockedBloom::new(10);
    let answer = blocked.key_may_match(key, filter);
    if filter.is_empty() {
        assert!(!answer, "blocked: the empty filter matches nothing");
    } else if filter.len() < 2 || filter[filter.len() - 1] != 1 {
        assert!(answer, "blocked: an unknown layout matches everything");
    }

    // The same bytes as a key against each other's filters, through the trait object.
    let policies: [&dyn FilterPolicy; 2] = [&leveldb, &blocked];
    for policy in policies {
        let _ = policy.key_may_match(filter, key);
    }
});
