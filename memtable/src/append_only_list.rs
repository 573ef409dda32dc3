//! [`AppendOnlyList`]: the concurrent skiplist under the memtable, used
//! append-only so that reading it needs no epoch pinning and no reference
//! counting (the entries it orders are docs/format.md §5 internal keys).
//!
//! crossbeam's `SkipMap` pins the epoch and takes a node reference count on
//! every lookup and every iterator step, because its nodes may be removed
//! and freed concurrently. The memtable never removes an entry: nodes are
//! linked once and freed only when the whole list is dropped. This wrapper
//! enforces that on crossbeam's lower-level `base::SkipList` — it offers no
//! removal, and an add whose key is already present keeps the existing node
//! instead of replacing (which would unlink and free the old one) — and, in
//! exchange, reads through crossbeam-epoch's unprotected guard: every node
//! reachable from the list stays allocated for as long as the list is
//! borrowed, so there is nothing for a pin to protect.

use std::ops::Bound;

use crossbeam_epoch::Guard;
use crossbeam_skiplist::base::{Entry, SkipList};

/// The guard every operation on an [`AppendOnlyList`] uses.
fn guard() -> &'static Guard {
    // SAFETY: `unprotected` is sound as long as no memory reachable through
    // the structure is freed while it is in use. An `AppendOnlyList` frees
    // nothing before it is dropped: it never removes a node, and its adds
    // never replace one (see `insert_if_absent`); the only node an add may
    // free is its own new node that lost a race and was never linked, so no
    // other thread can have seen it. The dummy guard holds no thread-local
    // state.
    unsafe { crossbeam_epoch::unprotected() }
}

/// A concurrent ordered set of `K` that only grows.
pub(crate) struct AppendOnlyList<K> {
    list: SkipList<K, ()>,
}

impl<K: Ord + Send + Sync + 'static> AppendOnlyList<K> {
    /// An empty list.
    pub(crate) fn new() -> AppendOnlyList<K> {
        AppendOnlyList { list: SkipList::new(crossbeam_epoch::default_collector().clone()) }
    }

    /// Adds `key` unless an equal key is present, in which case the list is
    /// left unchanged. Safe to call from several threads at once. Returns
    /// what `inspect` says about the key now in the list (`key` itself, or
    /// the equal one that was there first).
    pub(crate) fn insert_if_absent<R>(&self, key: K, inspect: impl FnOnce(&K) -> R) -> R {
        // Never replacing keeps every linked node alive until the list drops.
        let entry = self.list.compare_insert(key, (), |_| false, guard());
        let answer = inspect(entry.key());
        // The node is linked, so dropping this reference count never frees it.
        entry.release(guard());
        answer
    }

    /// The number of keys.
    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    /// The smallest key.
    pub(crate) fn front(&self) -> Option<Position<'_, K>> {
        self.list.front(guard()).map(Position)
    }

    /// The largest key.
    pub(crate) fn back(&self) -> Option<Position<'_, K>> {
        self.list.back(guard()).map(Position)
    }

    /// The smallest key `>= target`.
    pub(crate) fn lower_bound(&self, target: &K) -> Option<Position<'_, K>> {
        self.list.lower_bound(Bound::Included(target), guard()).map(Position)
    }
}

/// A node of an [`AppendOnlyList`], borrowed for `'a`. Copying or moving it
/// costs no atomic operation.
pub(crate) struct Position<'a, K>(Entry<'a, 'a, K, ()>);

// SAFETY: a position is a shared reference to the list and to one of its
// nodes (both `Sync` since `K: Sync`) plus a reference to the unprotected
// dummy guard, which has no thread-local state; using it from another thread,
// or from several at once, is the same as using the list there.
unsafe impl<K: Send + Sync> Send for Position<'_, K> {}
// SAFETY: as for `Send`.
unsafe impl<K: Send + Sync> Sync for Position<'_, K> {}

impl<'a, K: Ord + Send + Sync + 'static> Position<'a, K> {
    /// The key at this position.
    #[inline]
    pub(crate) fn key(&self) -> &'a K {
        self.0.key()
    }

    /// Moves to the next key; false (and unmoved) at the end.
    #[inline]
    pub(crate) fn move_next(&mut self) -> bool {
        self.0.move_next()
    }

    /// Moves to the previous key; false (and unmoved) at the start.
    #[inline]
    pub(crate) fn move_prev(&mut self) -> bool {
        self.0.move_prev()
    }
}
