//! The process's open-file limit, used to bound the table cache so that a
//! low `ulimit -n` does not make reads fail with "too many open files"
//! (RocksDB caps `max_open_files` the same way). The limit is read by
//! `lsmkit_base::os`.

/// Descriptors kept free for the WAL, the MANIFEST, the LOCK, compaction
/// outputs and whatever else the process has open.
const RESERVED_DESCRIPTORS: u64 = 20;

/// The most tables the cache may keep open: `wanted`, lowered to fit the
/// soft `RLIMIT_NOFILE` minus a reserve (at least 8).
pub(crate) fn table_cache_capacity(wanted: usize) -> usize {
    let Some(limit) = lsmkit_base::os::open_file_limit() else {
        return wanted;
    };
    let fits = limit.saturating_sub(RESERVED_DESCRIPTORS).max(8);
    wanted.min(usize::try_from(fits).unwrap_or(usize::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_above_what_was_asked() {
        assert!(table_cache_capacity(64) <= 64);
        assert_eq!(table_cache_capacity(1), 1);
    }
}
