//! The compaction filter hook: asked about values as a compaction rewrites
//! them, it may keep, remove or replace each one (the engine's TTL uses it
//! to drop expired entries).
//!
//! Which values are asked about (see [`CompactionJob`](crate::CompactionJob)):
//! only the newest version of a key, only when it is a value (not a
//! deletion), and only when it is newer than every live snapshot — an entry
//! a snapshot can see is never changed, so snapshot reads stay stable.
//!
//! What `Remove` does: the value becomes a deletion marker with the same
//! sequence number, so it still hides older versions of the key (which may
//! live in levels below the compaction). Under the usual rule for deletion
//! markers, that marker is dropped at once when no snapshot is live and no
//! level below the output holds the key.

/// What to do with one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterDecision {
    /// Write the entry unchanged.
    Keep,
    /// Delete the key (see the module documentation).
    Remove,
    /// Write this value instead, under the same key and sequence.
    ChangeValue(Vec<u8>),
}

/// Decides the fate of values during compactions. Called from the
/// compaction thread, possibly for millions of entries; keep it cheap.
pub trait CompactionFilter: Send + Sync {
    /// `level` is the level the entry is being written to.
    fn filter(&self, level: usize, user_key: &[u8], value: &[u8]) -> FilterDecision;

    /// A name for logs.
    fn name(&self) -> &str {
        "unnamed"
    }
}

/// Any `Fn(level, user_key, value) -> FilterDecision` closure is a filter.
impl<F> CompactionFilter for F
where
    F: Fn(usize, &[u8], &[u8]) -> FilterDecision + Send + Sync,
{
    fn filter(&self, level: usize, user_key: &[u8], value: &[u8]) -> FilterDecision {
        self(level, user_key, value)
    }

    fn name(&self) -> &str {
        "closure"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closures_are_filters() {
        let drop_empty = |_level: usize, _key: &[u8], value: &[u8]| {
            if value.is_empty() {
                FilterDecision::Remove
            } else {
                FilterDecision::ChangeValue(value.to_ascii_uppercase())
            }
        };
        let filter: &dyn CompactionFilter = &drop_empty;
        assert_eq!(filter.filter(1, b"k", b""), FilterDecision::Remove);
        assert_eq!(filter.filter(1, b"k", b"ab"), FilterDecision::ChangeValue(b"AB".to_vec()));
        assert_eq!(filter.name(), "closure");
    }
}
