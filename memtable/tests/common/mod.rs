//! Helpers shared by the memtable integration tests: the two non-bytewise
//! comparators the memtable must also honour.

#![allow(dead_code)]

use std::cmp::Ordering;

use lsmkit_base::comparator::Comparator;

/// Bytewise order reversed: `b` sorts before `a`, and `ab` before `a`.
pub struct ReverseComparator;

impl Comparator for ReverseComparator {
    fn name(&self) -> &str {
        "test.ReverseComparator"
    }
    fn compare(&self, a: &[u8], b: &[u8]) -> Ordering {
        b.cmp(a)
    }
    fn shortest_separator(&self, start: &[u8], _limit: &[u8]) -> Vec<u8> {
        start.to_vec()
    }
    fn short_successor(&self, key: &[u8]) -> Vec<u8> {
        key.to_vec()
    }
}

/// ASCII case-insensitive order: `Key` and `kEY` are the same user key.
pub struct CaseInsensitiveComparator;

impl Comparator for CaseInsensitiveComparator {
    fn name(&self) -> &str {
        "test.CaseInsensitiveComparator"
    }
    fn compare(&self, a: &[u8], b: &[u8]) -> Ordering {
        a.iter().map(u8::to_ascii_lowercase).cmp(b.iter().map(u8::to_ascii_lowercase))
    }
    fn shortest_separator(&self, start: &[u8], _limit: &[u8]) -> Vec<u8> {
        start.to_vec()
    }
    fn short_successor(&self, key: &[u8]) -> Vec<u8> {
        key.to_vec()
    }
}
