//! openraft's own storage conformance suite (`openraft::testing::Suite`)
//! run against `LogStore` and `StateMachineStore`, each case on fresh
//! stores in a temporary directory.

use lsmkit_raft::{open_stores, LogStore, StateMachineStore, TypeConfig};
use openraft::testing::{StoreBuilder, Suite};
use openraft::{AnyError, StorageError, StorageIOError};

/// Builds fresh stores in a new temporary directory; the directory is the
/// guard the suite keeps until a case ends.
struct LsmkitBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachineStore, tempfile::TempDir> for LsmkitBuilder {
    async fn build(&self) -> Result<(tempfile::TempDir, LogStore, StateMachineStore), StorageError<u64>> {
        // On tmpfs where there is one: the suite checks behaviour, not
        // durability, and syncs to a real disk only make it slow.
        let dir = tempfile::tempdir_in("/dev/shm")
            .or_else(|_| tempfile::tempdir())
            .map_err(|e| StorageIOError::write(AnyError::new(&e)))?;
        let (log, sm) = open_stores(dir.path()).map_err(|e| StorageIOError::write(AnyError::new(&e)))?;
        Ok((dir, log, sm))
    }
}

/// All 35 cases of openraft 0.9.25's suite (log state, vote, reads,
/// purge, truncate, apply, membership recovery, snapshot build and
/// transfer); each case panics or returns an error on a failed check.
#[test]
fn openraft_storage_suite() {
    if let Err(e) = Suite::test_all(LsmkitBuilder) {
        panic!("openraft storage suite failed: {e}");
    }
}
