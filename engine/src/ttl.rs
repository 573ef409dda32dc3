//! Entry expiry (TTL, LotusDB's `ExpiredAt`): with [`Options::enable_ttl`]
//! every value is stored in the TTL frame of [`lsmkit_wal::ttl_value`], an
//! entry written by [`Db::put_with_ttl`] (or [`WriteBatch::put_with_ttl`])
//! disappears from gets and iterators once its time has come, and
//! compactions turn it into a deletion through the compaction-filter hook.
//!
//! The database is marked as using the extension by the comparator name in
//! its MANIFEST (docs/format.md §10.1, VersionEdit tag 1): `lsmkit.ttl.` followed
//! by the user comparator's name, with the same ordering. LevelDB — and an
//! lsmkit opening without `enable_ttl` — refuses such a database with a
//! comparator mismatch instead of returning framed values, and an lsmkit with
//! `enable_ttl` refuses a database created without it. The frame and the mark
//! are documented in `docs/format-extensions.md`, "Entry expiry (TTL)".

use std::cmp::Ordering;
use std::sync::Arc;
use std::time::Duration;

use lsmkit_base::comparator::Comparator;
use lsmkit_base::Result;
use lsmkit_compaction::{CompactionFilter, FilterDecision};
use lsmkit_wal::ttl_value::{expire_at_after, system_time_millis, TtlValue};
use lsmkit_wal::WriteBatch;

use crate::db::Db;
use crate::options::WriteOptions;

#[cfg(doc)]
use crate::options::Options;

/// The current time in milliseconds since the Unix epoch, as a database
/// with entry expiry sees it (see [`Options::clock`]).
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// What the MANIFEST's comparator name of a database with entry expiry
/// starts with; the user comparator's own name follows.
pub const TTL_COMPARATOR_PREFIX: &str = "lsmkit.ttl.";

/// A user comparator under a name that marks a database as using an
/// extension (entry expiry, the merge operator); it orders keys exactly as
/// the comparator it wraps.
pub(crate) struct MarkedComparator {
    inner: Arc<dyn Comparator>,
    name: String,
}

impl Comparator for MarkedComparator {
    fn name(&self) -> &str {
        &self.name
    }

    fn compare(&self, a: &[u8], b: &[u8]) -> Ordering {
        self.inner.compare(a, b)
    }

    fn shortest_separator(&self, start: &[u8], limit: &[u8]) -> Vec<u8> {
        self.inner.shortest_separator(start, limit)
    }

    fn short_successor(&self, key: &[u8]) -> Vec<u8> {
        self.inner.short_successor(key)
    }

    fn is_bytewise(&self) -> bool {
        self.inner.is_bytewise()
    }
}

/// `comparator` under the name marking a database with entry expiry
/// (unchanged if it already carries the mark).
pub(crate) fn mark_comparator_for_ttl(comparator: Arc<dyn Comparator>) -> Arc<dyn Comparator> {
    mark_comparator(comparator, TTL_COMPARATOR_PREFIX)
}

/// `comparator` under its name prefixed with `prefix` (unchanged if it
/// already carries it).
pub(crate) fn mark_comparator(comparator: Arc<dyn Comparator>, prefix: &str) -> Arc<dyn Comparator> {
    if comparator.name().starts_with(prefix) {
        return comparator;
    }
    let name = format!("{prefix}{}", comparator.name());
    Arc::new(MarkedComparator { inner: comparator, name })
}

/// The compaction filter of a database with entry expiry: expired values
/// are removed (they become deletion markers, see
/// [`lsmkit_compaction::compaction_filter`]). A value whose frame is
/// malformed is kept, so that reads report the corruption.
pub(crate) struct ExpiredValueFilter {
    pub(crate) clock: Option<Clock>,
}

impl CompactionFilter for ExpiredValueFilter {
    fn filter(&self, _level: usize, _user_key: &[u8], value: &[u8]) -> FilterDecision {
        match TtlValue::decode(value) {
            Ok(framed) if framed.expire_at.is_some() && framed.is_expired(now_millis(&self.clock)) => {
                FilterDecision::Remove
            }
            _ => FilterDecision::Keep,
        }
    }

    fn name(&self) -> &str {
        "lsmkit.ttl.ExpiredValueFilter"
    }
}

/// The time `clock` gives, or the system's.
pub(crate) fn now_millis(clock: &Option<Clock>) -> u64 {
    clock.as_ref().map_or_else(system_time_millis, |clock| clock())
}

impl Db {
    /// Sets `key` to `value` for `ttl` (whole milliseconds): from then on
    /// gets and iterators no longer see the entry (nor any older value of
    /// `key`), and compactions delete it. Needs [`Options::enable_ttl`];
    /// otherwise fails with `Error::InvalidArgument`.
    pub fn put_with_ttl(&self, key: &[u8], value: &[u8], ttl: Duration) -> Result<()> {
        self.put_with_ttl_opt(WriteOptions::default(), key, value, ttl)
    }

    /// [`put_with_ttl`](Self::put_with_ttl) with write options.
    pub fn put_with_ttl_opt(
        &self,
        options: WriteOptions,
        key: &[u8],
        value: &[u8],
        ttl: Duration,
    ) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.put_with_expiry(key, value, expire_at_after(self.now_millis(), ttl));
        self.write(options, batch)
    }

    /// The database's clock: [`Options::clock`] if set, else the system
    /// time, in milliseconds since the Unix epoch. Use it with
    /// [`WriteBatch::put_with_expiry`] for batches that follow that clock.
    pub fn now_millis(&self) -> u64 {
        now_millis(&self.shared().options.clock)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsmkit_base::comparator::BytewiseComparator;
    use lsmkit_wal::ttl_value::encode_ttl_value;

    #[test]
    fn marked_comparator_keeps_the_order_and_marks_once() {
        let marked = mark_comparator_for_ttl(BytewiseComparator::shared());
        assert_eq!(marked.name(), "lsmkit.ttl.leveldb.BytewiseComparator");
        assert!(marked.is_bytewise());
        assert_eq!(marked.compare(b"a", b"b"), Ordering::Less);
        assert_eq!(marked.shortest_separator(b"abc", b"abe"), b"abd");
        assert_eq!(marked.short_successor(b"ab\xff"), b"b");
        let again = mark_comparator_for_ttl(marked);
        assert_eq!(again.name(), "lsmkit.ttl.leveldb.BytewiseComparator");
    }

    #[test]
    fn filter_removes_only_expired_values() {
        let clock: Clock = Arc::new(|| 100);
        let filter = ExpiredValueFilter { clock: Some(clock) };
        let stored = |expire_at| {
            let mut v = Vec::new();
            encode_ttl_value(&mut v, expire_at, b"v");
            v
        };
        assert_eq!(filter.filter(1, b"k", &stored(Some(100))), FilterDecision::Remove);
        assert_eq!(filter.filter(1, b"k", &stored(Some(101))), FilterDecision::Keep);
        assert_eq!(filter.filter(1, b"k", &stored(None)), FilterDecision::Keep);
        assert_eq!(filter.filter(1, b"k", b"\x07garbage"), FilterDecision::Keep);
    }
}
